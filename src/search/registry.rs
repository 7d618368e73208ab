//! The search parameters per resource type: the official R4 definitions plus the IKNL PZP
//! additions, generated into `generated.rs` by `codegen/generate.py`.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::generated::PARAMS;

/// The kind of a search parameter, which decides the index table and the matching rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamType {
    Token,
    String,
    Reference,
    Date,
    Number,
    Quantity,
    Uri,
    Composite,
    Special,
}

/// One search parameter of one resource type.
#[derive(Debug)]
pub struct SearchParam {
    pub resource_type: &'static str,
    pub code: &'static str,
    pub kind: ParamType,
    /// The FHIRPath expression, restricted to this resource type; empty when the parameter is
    /// not indexed (composites).
    pub expression: &'static str,
    /// The resource types a reference parameter may point to.
    pub targets: &'static [&'static str],
}

/// AuditEvent parameters this server does not index. Every request stores an AuditEvent, and
/// each indexed value is a row written with it; these hold the same value on every event the
/// server writes (`type` rest, `site` and `source` this server, `entity-type` and
/// `entity-role` follow from the entity) or a free-text role (`agent-role`). An audit trail
/// is searched by patient, agent, entity, date, outcome, action and subtype.
const AUDIT_NOT_INDEXED: &[&str] = &[
    "agent-role",
    "entity-role",
    "entity-type",
    "site",
    "source",
    "type",
];

impl SearchParam {
    /// Whether the parameter can be searched: its values are in an index table (see
    /// [`SearchParam::has_rows`]) or in the `resources` row.
    pub fn is_indexed(&self) -> bool {
        let left_out = self.resource_type == "AuditEvent" && AUDIT_NOT_INDEXED.contains(&self.code);
        !self.expression.is_empty()
            && !matches!(self.kind, ParamType::Composite | ParamType::Special)
            && !left_out
    }

    /// Whether the parameter is answered from the `resources` row itself (`_id` from its key,
    /// `_lastUpdated` from its timestamp) instead of index rows: every resource has exactly
    /// one value for them, so rows would repeat what that table already holds.
    pub fn is_resource_column(&self) -> bool {
        matches!(self.code, "_id" | "_lastUpdated")
    }

    /// The parameter whose index rows this one searches: the first of its type with the same
    /// kind and expression (R4 defines `phonetic` as `name` on Patient, Practitioner and
    /// RelatedPerson; this server does no phonetic matching), or itself. Reference parameters
    /// keep rows of their own: includes, chains and compartments name them by code.
    pub fn rows_of(&'static self) -> &'static SearchParam {
        if self.kind == ParamType::Reference {
            return self;
        }
        params(self.resource_type)
            .find(|p| p.kind == self.kind && p.expression == self.expression)
            .unwrap_or(self)
    }

    /// Whether writes put index rows for this parameter into an index table.
    pub fn has_rows(&'static self) -> bool {
        self.is_indexed() && !self.is_resource_column() && std::ptr::eq(self.rows_of(), self)
    }
}

/// The parameters of each type that writes store index rows for, worked out once: every
/// write asks for them.
static WITH_ROWS: LazyLock<HashMap<&'static str, Vec<&'static SearchParam>>> =
    LazyLock::new(|| {
        let mut by_type: HashMap<_, Vec<_>> = HashMap::new();
        for p in PARAMS.iter().filter(|p| p.has_rows()) {
            by_type.entry(p.resource_type).or_default().push(p);
        }
        by_type
    });

/// The parameters of `resource_type` that have index rows of their own, sorted by code.
pub fn params_with_rows(resource_type: &str) -> &'static [&'static SearchParam] {
    WITH_ROWS.get(resource_type).map_or(&[], Vec::as_slice)
}

/// The parameter `code` of `resource_type`, if the server knows it.
pub fn param(resource_type: &str, code: &str) -> Option<&'static SearchParam> {
    PARAMS
        .binary_search_by(|p| (p.resource_type, p.code).cmp(&(resource_type, code)))
        .ok()
        .map(|i| &PARAMS[i])
}

/// All parameters of `resource_type`, sorted by code; none for an unknown type.
pub fn params(resource_type: &str) -> impl Iterator<Item = &'static SearchParam> {
    let start = PARAMS.partition_point(|p| p.resource_type < resource_type);
    let end = PARAMS.partition_point(|p| p.resource_type <= resource_type);
    PARAMS[start..end].iter()
}

/// Every parameter of every type, sorted by resource type and code.
pub fn all() -> &'static [SearchParam] {
    PARAMS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_unique() {
        assert!(PARAMS
            .windows(2)
            .all(|w| (w[0].resource_type, w[0].code) < (w[1].resource_type, w[1].code)));
    }

    #[test]
    fn lookups() {
        let p = param("Patient", "birthdate").unwrap();
        assert_eq!(p.kind, ParamType::Date);
        assert_eq!(p.expression, "Patient.birthDate");
        let p = param("Observation", "patient").unwrap();
        assert_eq!(
            p.expression,
            "Observation.subject.where(resolve() is Patient)"
        );
        assert_eq!(p.targets, ["Patient"]);
        assert_eq!(
            param("Observation", "code-value-quantity").unwrap().kind,
            ParamType::Composite
        );
        assert!(!param("Observation", "code-value-quantity")
            .unwrap()
            .is_indexed());
        assert!(param("Patient", "nope").is_none());
        assert!(param("Nope", "_id").is_none());
    }

    #[test]
    fn common_params_on_every_type() {
        for rt in ["Patient", "Bundle", "Goal", "SearchParameter"] {
            for code in [
                "_id",
                "_lastUpdated",
                "_profile",
                "_tag",
                "_security",
                "_source",
            ] {
                assert!(param(rt, code).is_some(), "{rt} {code}");
            }
        }
        assert!(param("Patient", "_text").is_none());
    }

    #[test]
    fn only_parameters_with_values_of_their_own_get_index_rows() {
        let rows = |rt: &str, code: &str| param(rt, code).unwrap().has_rows();
        assert!(!rows("Patient", "_id") && !rows("Consent", "_lastUpdated"));
        assert!(rows("Patient", "_profile") && rows("Patient", "name"));
        assert!(!rows("Patient", "phonetic") && !rows("RelatedPerson", "phonetic"));
        assert_eq!(param("Patient", "phonetic").unwrap().rows_of().code, "name");
        // Organization's name also covers its aliases, so its phonetic keeps rows of its own.
        assert!(rows("Organization", "phonetic"));
        assert!(param("Patient", "_id").unwrap().is_indexed());
        let listed: Vec<_> = params_with_rows("Patient").iter().map(|p| p.code).collect();
        let expected: Vec<_> = params("Patient")
            .filter(|p| p.has_rows())
            .map(|p| p.code)
            .collect();
        assert_eq!(listed, expected);
    }

    #[test]
    fn pzp_additions() {
        let p = param("Goal", "description").unwrap();
        assert_eq!(
            (p.kind, p.expression),
            (ParamType::Token, "Goal.description")
        );
        for rt in ["Communication", "CommunicationRequest"] {
            let p = param(rt, "reason-code").unwrap();
            assert_eq!(p.kind, ParamType::Token);
            assert_eq!(p.expression, format!("{rt}.reasonCode"));
        }
    }

    #[test]
    fn params_per_type_sorted() {
        let codes: Vec<_> = params("Flag").map(|p| p.code).collect();
        assert!(codes.windows(2).all(|w| w[0] < w[1]));
        assert!(codes.contains(&"patient") && codes.contains(&"_id"));
        assert!(params("Nope").next().is_none());
        let types: std::collections::BTreeSet<_> = all().iter().map(|p| p.resource_type).collect();
        assert_eq!(types.len(), 32);
    }
}
