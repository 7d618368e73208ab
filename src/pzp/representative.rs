//! IKNL invariant ACP-Patient-1: a patient who is not legally capable (wilsonbekwaam) of
//! decisions about medical treatment has a legal representative (a contact person with role
//! 24, wettelijk vertegenwoordiger). The guide makes this a warning, not a rejection: the
//! representative is often recorded later, by someone else, and the plan must not wait for it.

use fhir_format::{Issue, Severity};
use serde_json::Value;

use super::{of_patient, reference_id, SNOMED};
use crate::error::{issue, FhirError};
use crate::store::Tx;

/// SNOMED: legally able to make decisions about medical treatment (ACP-LegallyCapable).
const LEGALLY_CAPABLE: &str = "665671000146101";
/// The zib ContactPerson role code list (RolCodelijst).
const ROLE_SYSTEM: &str = "urn:oid:2.16.840.1.113883.2.4.3.11.22.472";
/// Wettelijke vertegenwoordiger (legal representative).
const LEGAL_REPRESENTATIVE: &str = "24";

/// The ACP-Patient-1 warning for the patient `resource` concerns, judged on what the store
/// holds with `resource` in place of its stored version (so `$validate` judges a resource as
/// if it were written). Only Patients, LegallyCapable Observations and RelatedPersons concern
/// it; anything else has no warnings.
pub fn warnings(tx: &mut Tx, resource: &Value) -> Result<Vec<Issue>, FhirError> {
    let res_type = resource.get("resourceType").and_then(Value::as_str);
    let id = resource.get("id").and_then(Value::as_str);
    let patient = match res_type {
        Some("Patient") => id.map(str::to_string),
        Some("Observation") if is_legally_capable(resource) => {
            reference_id(resource.pointer("/subject/reference"))
        }
        Some("RelatedPerson") => reference_id(resource.pointer("/patient/reference")),
        _ => None,
    };
    let Some(patient) = patient else {
        return Ok(Vec::new());
    };
    let mut observations = of_patient(
        tx,
        "Observation",
        "subject",
        &patient,
        Some(LEGALLY_CAPABLE),
    )?;
    if res_type == Some("Observation") {
        observations.retain(|o| o.get("id").and_then(Value::as_str) != id);
        observations.push(resource.clone());
    }
    let Some(latest) = observations.iter().max_by_key(|o| effective(o)) else {
        return Ok(Vec::new());
    };
    if latest.get("valueBoolean").and_then(Value::as_bool) != Some(false) {
        return Ok(Vec::new());
    }
    let mut people = of_patient(tx, "RelatedPerson", "patient", &patient, None)?;
    if res_type == Some("RelatedPerson") {
        people.retain(|p| p.get("id").and_then(Value::as_str) != id);
        people.push(resource.clone());
    }
    if people.iter().any(is_legal_representative) {
        return Ok(Vec::new());
    }
    let observation = latest
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("(this one)");
    let at = match res_type {
        Some("Patient") => "Patient",
        Some("Observation") => "Observation.valueBoolean",
        _ => "RelatedPerson.relationship",
    };
    Ok(vec![issue(
        Severity::Warning,
        "business-rule",
        format!(
            "ACP-Patient-1: Patient/{patient} is recorded as not legally capable of decisions about medical treatment (Observation/{observation}), but no RelatedPerson of this patient has relationship {LEGAL_REPRESENTATIVE} (wettelijk vertegenwoordiger, {ROLE_SYSTEM}); record the legal representative"
        ),
        Some(at.to_string()),
    )])
}

fn is_legally_capable(observation: &Value) -> bool {
    codings(observation.get("code")).any(|(s, c)| s == Some(SNOMED) && c == Some(LEGALLY_CAPABLE))
}

fn is_legal_representative(person: &Value) -> bool {
    person
        .get("relationship")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|r| codings(Some(r)))
        .any(|(s, c)| s == Some(ROLE_SYSTEM) && c == Some(LEGAL_REPRESENTATIVE))
}

fn codings(concept: Option<&Value>) -> impl Iterator<Item = (Option<&str>, Option<&str>)> {
    concept
        .and_then(|c| c.get("coding"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c.get("system").and_then(Value::as_str),
                c.get("code").and_then(Value::as_str),
            )
        })
}

/// When an observation holds: its effective time, else when it was recorded. FHIR dateTimes
/// of one precision order as text, which is all ordering a patient's few observations needs.
fn effective(observation: &Value) -> String {
    [
        "/effectiveDateTime",
        "/effectivePeriod/start",
        "/issued",
        "/meta/lastUpdated",
    ]
    .iter()
    .find_map(|p| observation.pointer(p).and_then(Value::as_str))
    .unwrap_or_default()
    .to_string()
}
