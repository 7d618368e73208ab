//! Diesel table definitions, shared by both backends (see `migrations/`).

diesel::table! {
    resources (res_type, res_id) {
        res_type -> Text,
        res_id -> Text,
        version -> BigInt,
        last_updated -> BigInt,
        deleted -> Bool,
        content -> Nullable<Binary>,
    }
}

diesel::table! {
    resource_versions (seq) {
        seq -> BigInt,
        res_type -> Text,
        res_id -> Text,
        version -> BigInt,
        last_updated -> BigInt,
        method -> Text,
        deleted -> Bool,
        content -> Nullable<Binary>,
    }
}

// The search tables have no primary key of their own; diesel needs one named, so the
// (non-unique) owner columns stand in for it. Rows are only ever filtered, never found by key.

diesel::table! {
    search_token (res_type, res_id, param) {
        res_type -> Text,
        res_id -> Text,
        param -> Text,
        system -> Nullable<Text>,
        code -> Nullable<Text>,
        display -> Nullable<Text>,
    }
}

diesel::table! {
    search_string (res_type, res_id, param) {
        res_type -> Text,
        res_id -> Text,
        param -> Text,
        normalized -> Text,
        exact -> Text,
    }
}

diesel::table! {
    search_reference (res_type, res_id, param) {
        res_type -> Text,
        res_id -> Text,
        param -> Text,
        target_type -> Nullable<Text>,
        target_id -> Nullable<Text>,
        version -> Nullable<Text>,
        url -> Nullable<Text>,
        identifier_system -> Nullable<Text>,
        identifier_value -> Nullable<Text>,
    }
}

diesel::table! {
    search_date (res_type, res_id, param) {
        res_type -> Text,
        res_id -> Text,
        param -> Text,
        low -> BigInt,
        high -> BigInt,
    }
}

diesel::table! {
    search_number (res_type, res_id, param) {
        res_type -> Text,
        res_id -> Text,
        param -> Text,
        value -> Double,
        system -> Nullable<Text>,
        code -> Nullable<Text>,
        unit -> Nullable<Text>,
    }
}

diesel::table! {
    search_uri (res_type, res_id, param) {
        res_type -> Text,
        res_id -> Text,
        param -> Text,
        value -> Text,
    }
}

diesel::table! {
    recorded_by (res_type, organization, res_id) {
        res_type -> Text,
        res_id -> Text,
        organization -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(resource_versions, recorded_by);
diesel::allow_tables_to_appear_in_same_query!(resources, search_token);

diesel::table! {
    patient_bsn (bsn) {
        bsn -> Text,
        res_id -> Text,
    }
}
