//! The PZP domain rules that span resources.
//!
//! The *centrale zorgverlener* (central care provider) is the one named contact and
//! coordinator of a patient's palliative care: a CareTeam participant with role
//! `centrale-zorgverlener`. Per patient, at any moment, at most one such participant may be
//! active, across all of the patient's care teams; earlier ones stay recorded with a closed
//! period, which is how "who was it before, since when" is answered. An EpisodeOfCare (the
//! *markering*, the recorded start of the palliative phase) that names a `careManager` must
//! name the current one.

use serde_json::Value;

use crate::error::{ErrorKind, FhirError};
use crate::search::date_range;
use crate::store::{CareLink, Condition, RefMatch, SearchQuery, Tx, Version};

pub mod bsn;
mod representative;
pub mod summary;

pub use representative::warnings;

pub const CARE_TEAM_ROLE: &str = "https://pzp-fhir.nl/fhir/CodeSystem/care-team-role";
pub const CENTRAL: &str = "centrale-zorgverlener";
pub(crate) const SNOMED: &str = "http://snomed.info/sct";

/// Checks the cross-resource rules for a version just written in `tx`; an error rolls the
/// write back.
pub fn check(tx: &mut Tx, written: &Version) -> Result<(), FhirError> {
    let res_type = written.res_type.as_str();
    if written.content.is_none() {
        return Ok(());
    }
    if !matches!(res_type, "CareTeam" | "EpisodeOfCare") {
        return Ok(());
    }
    let resource = written.resource()?;
    match res_type {
        "CareTeam" => check_care_team(tx, &written.res_id, &resource),
        _ => check_episode(tx, &resource),
    }
}

/// A centrale zorgverlener: who, since when, until when, in which care team.
#[derive(Clone, Debug, PartialEq)]
pub struct Central {
    pub member: String,
    pub display: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub care_team: String,
    /// The period as instants: start (or the beginning of time) to end (or never).
    from: i64,
    until: i64,
}

impl Central {
    fn describe(&self) -> String {
        let who = match &self.display {
            Some(d) => format!("{} ({d})", self.member),
            None => self.member.clone(),
        };
        match &self.start {
            Some(s) => format!("{who}, since {s}, in CareTeam/{}", self.care_team),
            None => format!("{who}, in CareTeam/{}", self.care_team),
        }
    }

    fn overlaps(&self, other: &Central) -> bool {
        self.from < other.until && other.from < self.until
    }
}

/// The centrale-zorgverlener participants of a CareTeam.
pub fn centrals(care_team_id: &str, team: &Value) -> Vec<Central> {
    let text = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    team.get("participant")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|p| {
            p.get("role")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .flat_map(|r| {
                    r.get("coding")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                })
                .any(|c| {
                    c.get("system").and_then(Value::as_str) == Some(CARE_TEAM_ROLE)
                        && c.get("code").and_then(Value::as_str) == Some(CENTRAL)
                })
        })
        .map(|p| {
            let start = text(p, "/period/start");
            let end = text(p, "/period/end");
            // Periods compare by their first instants, so a handover on one day is no overlap.
            let instant =
                |d: &Option<String>| d.as_deref().and_then(date_range).map(|(low, _)| low);
            Central {
                member: text(p, "/member/reference").unwrap_or_default(),
                display: text(p, "/member/display"),
                from: instant(&start).unwrap_or(i64::MIN),
                until: instant(&end).unwrap_or(i64::MAX),
                start,
                end,
                care_team: care_team_id.to_string(),
            }
        })
        .collect()
}

/// Every centrale zorgverlener ever recorded for a patient, in all its current care teams.
fn recorded(tx: &mut Tx, patient: &str) -> Result<Vec<Central>, FhirError> {
    let teams = of_patient(tx, "CareTeam", "subject", patient, None)?;
    Ok(teams
        .iter()
        .flat_map(|t| centrals(t.get("id").and_then(Value::as_str).unwrap_or_default(), t))
        .collect())
}

/// The patient id of a `Patient/x` reference element's text.
fn reference_id(reference: Option<&Value>) -> Option<String> {
    crate::search::patient_id(reference?.as_str()?)
}

/// The current resources of `res_type` whose `param` refers to the patient, optionally only
/// those with a SNOMED `code`.
fn of_patient(
    tx: &mut Tx,
    res_type: &str,
    param: &str,
    patient: &str,
    code: Option<&str>,
) -> Result<Vec<Value>, FhirError> {
    let mut conditions = vec![Condition::Reference {
        param: param.into(),
        values: vec![RefMatch::Id {
            target_type: Some("Patient".into()),
            id: patient.to_string(),
        }],
    }];
    if let Some(code) = code {
        conditions.push(Condition::token("code", Some(SNOMED), code));
    }
    Ok(tx.search_resources(&SearchQuery::unsorted(res_type, conditions, 10_000))?)
}

/// The care links a resource states: for a CareTeam that is not inactive, each participant
/// with its period; for a current EpisodeOfCare, its careManager and managing organisation
/// (open-ended). Other resources state none.
pub fn care_links(resource: &Value) -> Vec<CareLink> {
    let res_type = resource.get("resourceType").and_then(Value::as_str);
    let status = resource.get("status").and_then(Value::as_str);
    let day = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(|d| d.chars().take(10).collect())
    };
    let member = |r: &Value| -> Option<RefMatch> {
        if let Some(text) = r.get("reference").and_then(Value::as_str) {
            let (target_type, id) = crate::search::type_and_id(text)?;
            return Some(RefMatch::Id {
                target_type: Some(target_type.to_string()),
                id: id.to_string(),
            });
        }
        let i = r.get("identifier")?;
        Some(RefMatch::Identifier {
            system: i.get("system").and_then(Value::as_str).map(str::to_string),
            value: i.get("value").and_then(Value::as_str)?.to_string(),
        })
    };
    let link = |patient: &str, m: Option<RefMatch>, period: Option<&Value>| {
        Some(CareLink {
            patient: patient.to_string(),
            member: m?,
            start_day: day(period.and_then(|p| p.get("start"))),
            end_day: day(period.and_then(|p| p.get("end"))),
        })
    };
    match res_type {
        Some("CareTeam")
            if !matches!(status, Some("inactive" | "entered-in-error" | "suspended")) =>
        {
            let Some(patient) = reference_id(resource.pointer("/subject/reference")) else {
                return Vec::new();
            };
            resource
                .get("participant")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| link(&patient, p.get("member").and_then(member), p.get("period")))
                .collect()
        }
        Some("EpisodeOfCare")
            if matches!(status, Some("active" | "waitlist" | "planned" | "onhold")) =>
        {
            let Some(patient) = reference_id(resource.pointer("/patient/reference")) else {
                return Vec::new();
            };
            ["careManager", "managingOrganization"]
                .iter()
                .filter_map(|k| link(&patient, resource.get(*k).and_then(member), None))
                .collect()
        }
        _ => Vec::new(),
    }
}

/// The sharing decision an active Consent with scope patient-privacy records: the patient
/// and `permit` or `deny`.
pub fn sharing(resource: &Value) -> Option<(String, &'static str)> {
    if resource.get("resourceType").and_then(Value::as_str) != Some("Consent")
        || resource.get("status").and_then(Value::as_str) != Some("active")
    {
        return None;
    }
    let privacy = resource
        .pointer("/scope/coding")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c.get("code").and_then(Value::as_str) == Some("patient-privacy"));
    if !privacy {
        return None;
    }
    let patient = reference_id(resource.pointer("/patient/reference"))?;
    match resource.pointer("/provision/type").and_then(Value::as_str) {
        Some("permit") => Some((patient, "permit")),
        Some("deny") => Some((patient, "deny")),
        _ => None,
    }
}

/// The name of the lock that writes concerning one patient's centrale zorgverlener share.
fn lock_name(patient: &str) -> String {
    format!("centrale-zorgverlener Patient/{patient}")
}

fn check_care_team(tx: &mut Tx, id: &str, team: &Value) -> Result<(), FhirError> {
    let mine = centrals(id, team);
    if mine.is_empty() {
        return Ok(());
    }
    let Some(patient) = reference_id(team.pointer("/subject/reference")) else {
        return Ok(());
    };
    // Two care teams of one patient written at once: the second waits here, then sees the
    // first.
    tx.lock(&lock_name(&patient))?;
    let others: Vec<Central> = recorded(tx, &patient)?
        .into_iter()
        .filter(|c| c.care_team != id)
        .collect();
    for (n, a) in mine.iter().enumerate() {
        let clash = mine[n + 1..].iter().chain(&others).find(|b| a.overlaps(b));
        if let Some(b) = clash {
            // Name the one already recorded elsewhere, or else the longest-standing.
            let current = others
                .iter()
                .find(|c| c.end.is_none())
                .unwrap_or(if a.from <= b.from { a } else { b });
            return Err(FhirError::new(
                ErrorKind::Conflict,
                "business-rule",
                format!(
                    "Patient/{patient} can have only one centrale zorgverlener at a time; the current one is {}. To change it, end that participant's period in the same update that adds the new one",
                    current.describe()
                ),
            )
            .at("CareTeam.participant"));
        }
    }
    Ok(())
}

fn check_episode(tx: &mut Tx, episode: &Value) -> Result<(), FhirError> {
    let Some(manager) = episode
        .pointer("/careManager/reference")
        .and_then(Value::as_str)
    else {
        return Ok(());
    };
    let Some(patient) = reference_id(episode.pointer("/patient/reference")) else {
        return Ok(());
    };
    tx.lock(&lock_name(&patient))?;
    let now = chrono::Utc::now().timestamp_micros();
    let current: Vec<Central> = recorded(tx, &patient)?
        .into_iter()
        .filter(|c| c.from <= now && now < c.until)
        .collect();
    if current.iter().any(|c| c.member == manager) {
        return Ok(());
    }
    let text = match current.first() {
        Some(c) => format!(
            "careManager must be the centrale zorgverlener of Patient/{patient}; the current one is {}, not {manager}",
            c.describe()
        ),
        None => format!(
            "careManager names {manager}, but no care team of Patient/{patient} has a current centrale zorgverlener; record one in the CareTeam first"
        ),
    };
    Err(FhirError::new(ErrorKind::Conflict, "business-rule", text).at("EpisodeOfCare.careManager"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn participant(member: &str, start: &str, end: Option<&str>) -> Value {
        let mut period = json!({"start": start});
        if let Some(e) = end {
            period["end"] = json!(e);
        }
        json!({"role": [{"coding": [{"system": CARE_TEAM_ROLE, "code": CENTRAL}]}],
               "member": {"reference": member}, "period": period})
    }

    #[test]
    fn a_handover_on_one_day_does_not_overlap() {
        let team = json!({"participant": [
            participant("PractitionerRole/a", "2025-01-01", Some("2025-11-15")),
            participant("PractitionerRole/b", "2025-11-15", None),
        ]});
        let c = centrals("t", &team);
        assert_eq!(c.len(), 2);
        assert!(!c[0].overlaps(&c[1]));
        let team = json!({"participant": [
            participant("PractitionerRole/a", "2025-01-01", None),
            participant("PractitionerRole/b", "2025-11-15", None),
        ]});
        let c = centrals("t", &team);
        assert!(c[0].overlaps(&c[1]));
    }

    #[test]
    fn patient_ids_from_relative_and_absolute_references() {
        let id = |r: &str| reference_id(Some(&json!(r)));
        assert_eq!(id("Patient/p1").as_deref(), Some("p1"));
        assert_eq!(id("http://h/fhir/Patient/p1").as_deref(), Some("p1"));
        assert_eq!(id("Group/g"), None);
    }
}
