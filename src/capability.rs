//! What this server supports, in one place: the resource types and interactions the HTTP routes
//! accept and the CapabilityStatement at `/metadata` describes, so the two cannot drift apart.

use serde_json::{json, Value};

use crate::search::{self, ParamType};

/// The resource types the service stores: the PZP/ACP model, the care network around it, and the
/// conformance resources it publishes. Any other R4 type is answered with 404.
pub const RESOURCE_TYPES: &[&str] = &[
    "AuditEvent",
    "Bundle",
    "CarePlan",
    "CareTeam",
    "CodeSystem",
    "Communication",
    "CommunicationRequest",
    "Composition",
    "Condition",
    "Consent",
    "Device",
    "DeviceUseStatement",
    "DocumentReference",
    "Encounter",
    "EpisodeOfCare",
    "Flag",
    "Goal",
    "Observation",
    "OperationDefinition",
    "Organization",
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "Procedure",
    "Provenance",
    "Questionnaire",
    "QuestionnaireResponse",
    "RelatedPerson",
    "SearchParameter",
    "StructureDefinition",
    "Subscription",
    "Task",
    "ValueSet",
];

/// Instance- and type-level interactions offered on every type above.
pub const TYPE_INTERACTIONS: &[&str] = &[
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
];

/// System-level interactions.
pub const SYSTEM_INTERACTIONS: &[&str] = &["transaction", "batch", "history-system"];

/// Media types accepted and produced.
pub const FORMATS: &[&str] = &[
    "application/fhir+json",
    "application/fhir+xml",
    "json",
    "xml",
];

pub fn is_supported_type(name: &str) -> bool {
    RESOURCE_TYPES.binary_search(&name).is_ok()
}

fn param_type(kind: ParamType) -> &'static str {
    match kind {
        ParamType::Token => "token",
        ParamType::String => "string",
        ParamType::Reference => "reference",
        ParamType::Date => "date",
        ParamType::Number => "number",
        ParamType::Quantity => "quantity",
        ParamType::Uri => "uri",
        ParamType::Composite => "composite",
        ParamType::Special => "special",
    }
}

/// The CapabilityStatement generated from the tables above.
pub fn capability_statement(base_url: &str, date: &str) -> Value {
    let interactions =
        |codes: &[&str]| -> Vec<Value> { codes.iter().map(|c| json!({ "code": c })).collect() };
    let resources: Vec<Value> = RESOURCE_TYPES
        .iter()
        .map(|t| {
            let mut search_params: Vec<Value> = search::params(t)
                .filter(|p| p.is_indexed())
                .map(|p| json!({ "name": p.code, "type": param_type(p.kind) }))
                .collect();
            search_params.push(json!({
                "name": "_has",
                "type": "special",
                "documentation": "Reverse chaining: _has:Type:reference:parameter=value, nestable",
            }));
            let references = |p: &&search::SearchParam| p.kind == ParamType::Reference;
            let includes: Vec<String> = search::params(t)
                .filter(references)
                .map(|p| format!("{t}:{}", p.code))
                .collect();
            let revincludes: Vec<String> = RESOURCE_TYPES
                .iter()
                .flat_map(|s| search::params(s))
                .filter(references)
                .filter(|p| p.targets.contains(t))
                .map(|p| format!("{}:{}", p.resource_type, p.code))
                .collect();
            let mut resource = json!({
                "type": t,
                "interaction": interactions(TYPE_INTERACTIONS),
                "versioning": "versioned-update",
                "readHistory": true,
                "updateCreate": true,
                "conditionalRead": "full-support",
                "conditionalCreate": true,
                "conditionalUpdate": true,
                "conditionalDelete": "single",
            });
            let profiles: Vec<String> = crate::validation::package()
                .profiles_of(t)
                .map(|p| p.url.clone())
                .collect();
            // FHIR JSON has no empty arrays.
            for (key, list) in [
                ("supportedProfile", profiles),
                ("searchInclude", includes),
                ("searchRevInclude", revincludes),
            ] {
                if !list.is_empty() {
                    resource[key] = json!(list);
                }
            }
            if !search_params.is_empty() {
                resource["searchParam"] = json!(search_params);
            }
            if *t == "Patient" {
                resource["operation"] = json!([{
                    "name": "pzp-summary",
                    "definition": "https://pzp-fhir.nl/fhir/OperationDefinition/pzp-summary",
                    "documentation": "GET [base]/Patient/$pzp-summary?identifier=http://fhir.nl/fhir/NamingSystem/bsn|[BSN] or GET [base]/Patient/[id]/$pzp-summary: the current plan as a document Bundle; _format=html for the printable plan",
                }]);
            }
            resource
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "pzp-fhir",
        "kind": "instance",
        "software": { "name": "pzp-fhir", "version": env!("CARGO_PKG_VERSION") },
        "implementation": {
            "description": "Proactieve zorgplanning (advance care planning) record",
            "url": base_url,
        },
        "fhirVersion": "4.0.1",
        "format": FORMATS,
        "rest": [{
            "mode": "server",
            "security": {
                "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                         "code": "SMART-on-FHIR"}]}],
                "description": "Every request needs a bearer JWT (RS256/ES256) naming the person (UZI), organisation (URA), pzp_role and SMART scopes; access follows the care relationship, the patient's consent, or emergency access (ETREAT with a reason). Every access is recorded as an AuditEvent.",
            },
            "resource": resources,
            "interaction": interactions(SYSTEM_INTERACTIONS),
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_types_are_sorted_known_r4_types() {
        let mut sorted = RESOURCE_TYPES.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, RESOURCE_TYPES, "binary search needs a sorted list");
        for t in RESOURCE_TYPES {
            assert!(
                fhir_format::is_resource_type(t),
                "{t} is not an R4 resource type"
            );
        }
    }
}
