//! Diesel table definitions, shared by both backends (see `migrations/`).

diesel::table! {
    resources (res_type, res_id) {
        res_type -> Text,
        res_id -> Text,
        version -> BigInt,
        last_updated -> BigInt,
        deleted -> Bool,
        content -> Nullable<Text>,
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
        content -> Nullable<Text>,
    }
}
