//! `$pzp-summary`: one patient's current plan in one call, by id or by BSN, read under the
//! caller's access (an ambulance crew in emergency mode sees the plan, a sociaal werker only
//! the wishes) and audited like any read.

use std::collections::HashMap;

use serde_json::Value;

use super::{audited_read, read_in, Request};
use crate::audit::Event;
use crate::auth::scope::Permission;
use crate::auth::{Principal, BSN};
use crate::error::{ErrorKind, FhirError};
use crate::pzp::summary::{compose, name_of, Recorded, Sources, Summary};
use crate::store::{Condition, RefMatch, SearchQuery, Store, Tx, Version};

/// Which patient: by logical id, or by BSN.
pub enum Target {
    Id(String),
    Bsn(String),
}

/// The types the summary reads, with the parameter that names the patient.
const PARTS: &[(&str, &str)] = &[
    ("Consent", "patient"),
    ("Observation", "subject"),
    ("Goal", "subject"),
    ("EpisodeOfCare", "patient"),
    ("CareTeam", "subject"),
    ("RelatedPerson", "patient"),
    ("DeviceUseStatement", "subject"),
    ("CarePlan", "subject"),
];

pub fn pzp_summary(store: &Store, who: &Principal, target: &Target) -> Result<Summary, FhirError> {
    let event = match target {
        Target::Id(id) => Event::about("operation", "Patient", id),
        Target::Bsn(_) => Event::new("operation", Some("Patient")),
    };
    audited_read(store, who, event, |tx, rq| {
        let patient = match target {
            Target::Id(id) => read_in(tx, rq, "Patient", id)?,
            Target::Bsn(bsn) => by_bsn(tx, rq, bsn)?,
        };
        let patient_id = patient.res_id.clone();
        let mut sources = Sources {
            patient: patient.resource()?,
            ..Sources::default()
        };
        let mut versions: Vec<Version> = Vec::new();
        for (res_type, param) in PARTS {
            if rq.access.require(res_type, Permission::Search).is_err() {
                continue;
            }
            let mut conditions = vec![Condition::Reference {
                param: param.to_string(),
                values: vec![RefMatch::Id {
                    target_type: Some("Patient".into()),
                    id: patient_id.clone(),
                }],
            }];
            conditions.extend(rq.access.visible(res_type));
            let found = tx.search(&SearchQuery::unsorted(res_type, conditions, 10_000))?;
            let list = found
                .iter()
                .map(Version::resource)
                .collect::<Result<_, _>>()?;
            sources.by_type.insert(res_type.to_string(), list);
            versions.extend(found);
        }
        // What the care team, devices and MDO conclusions point at.
        let mut wanted: HashMap<String, Vec<String>> = HashMap::new();
        let want = |wanted: &mut HashMap<String, Vec<String>>, reference: Option<&str>| {
            if let Some((t, id)) = reference.and_then(crate::search::type_and_id) {
                wanted
                    .entry(t.to_string())
                    .or_default()
                    .push(id.to_string());
            }
        };
        let text = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
        for list in sources.by_type.values() {
            for r in list {
                for p in r
                    .get("participant")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    want(&mut wanted, text(p, "/member/reference").as_deref());
                }
                want(&mut wanted, text(r, "/device/reference").as_deref());
                want(&mut wanted, text(r, "/encounter/reference").as_deref());
            }
        }
        for round in 0..2 {
            let mut next: Vec<String> = Vec::new();
            for (t, ids) in std::mem::take(&mut wanted) {
                for v in super::search::visible_many(tx, &rq.access, &t, &ids)? {
                    let r = v.resource()?;
                    if round == 0 {
                        next.extend(text(&r, "/practitioner/reference"));
                        next.extend(text(&r, "/organization/reference"));
                    }
                    sources
                        .referenced
                        .insert(format!("{}/{}", v.res_type, v.res_id), r);
                    versions.push(v);
                }
            }
            for r in next {
                want(&mut wanted, Some(&r));
            }
        }
        // Who recorded each item of the plan; the directory (practitioners, organisations) it
        // points at is not part of the plan.
        let items: Vec<&Version> = versions
            .iter()
            .filter(|v| !crate::auth::policy::is_directory(&v.res_type))
            .collect();
        sources.recorded = last_writers(tx, rq, &items)?;
        let summary = compose(&sources);
        rq.event.patients_of(&sources.patient);
        for v in versions
            .iter()
            .filter(|v| summary.resources.iter().any(|r| same(r, v)))
        {
            rq.event.touched(v);
        }
        Ok(summary)
    })
}

fn same(r: &Value, v: &Version) -> bool {
    r.get("resourceType").and_then(Value::as_str) == Some(v.res_type.as_str())
        && r.get("id").and_then(Value::as_str) == Some(v.res_id.as_str())
}

/// The one Patient with this BSN that the caller may see.
fn by_bsn(tx: &mut Tx, rq: &mut Request, bsn: &str) -> Result<Version, FhirError> {
    rq.access.require("Patient", Permission::Search)?;
    let mut conditions = vec![Condition::token("identifier", Some(BSN), bsn)];
    conditions.extend(rq.access.visible("Patient"));
    let mut found = tx.search(&SearchQuery::unsorted("Patient", conditions, 2))?;
    match found.len() {
        0 => Err(FhirError::not_found(format!(
            "no patient with BSN {bsn} is known to you"
        ))),
        1 => {
            let v = found.remove(0);
            rq.event.touched(&v);
            Ok(v)
        }
        _ => Err(FhirError::new(
            ErrorKind::PreconditionFailed,
            "multiple-matches",
            format!("more than one patient has BSN {bsn}; read the plan by id"),
        )),
    }
}

/// A Dutch identifier as text: "UZI 123", "URA 456".
fn identifier_text(i: &Value) -> Option<String> {
    let value = i.get("value").and_then(Value::as_str)?;
    let kind = match i.get("system").and_then(Value::as_str) {
        Some(crate::auth::UZI) => "UZI",
        Some(crate::auth::URA) => "URA",
        Some(BSN) => "BSN",
        _ => "id",
    };
    Some(format!("{kind} {value}"))
}

/// Who last wrote each resource, from the Provenance the server records with every write.
fn last_writers(
    tx: &mut Tx,
    rq: &mut Request,
    versions: &[&Version],
) -> Result<HashMap<String, Recorded>, FhirError> {
    let mut out: HashMap<String, Recorded> = versions
        .iter()
        .map(|v| {
            let at = super::format_instant(v.last_updated);
            (
                format!("{}/{}", v.res_type, v.res_id),
                Recorded {
                    by: None,
                    at: Some(at),
                },
            )
        })
        .collect();
    if versions.is_empty() || rq.access.require("Provenance", Permission::Search).is_err() {
        return Ok(out);
    }
    let found = tx.search_resources(&SearchQuery::unsorted(
        "Provenance",
        vec![Condition::Reference {
            param: "target".into(),
            values: versions
                .iter()
                .map(|v| RefMatch::Id {
                    target_type: Some(v.res_type.clone()),
                    id: v.res_id.clone(),
                })
                .collect(),
        }],
        100_000,
    ))?;
    // For each resource of the summary, the newest Provenance that names it (by index into
    // `found`: a Provenance of a large transaction names many resources).
    let mut newest: HashMap<String, (&str, usize)> = HashMap::new();
    for (n, p) in found.iter().enumerate() {
        let recorded = p
            .get("recorded")
            .and_then(Value::as_str)
            .unwrap_or_default();
        for t in p
            .get("target")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(r) = t.get("reference").and_then(Value::as_str) else {
                continue;
            };
            let Some((t, id)) = crate::search::type_and_id(r) else {
                continue;
            };
            let key = format!("{t}/{id}");
            if !out.contains_key(&key) {
                continue;
            }
            if newest.get(&key).is_none_or(|(at, _)| *at < recorded) {
                newest.insert(key, (recorded, n));
            }
        }
    }
    for (key, (at, n)) in newest {
        let p = &found[n];
        let agent = p.pointer("/agent/0").cloned().unwrap_or_default();
        let person = agent
            .pointer("/who/display")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| agent.pointer("/who/identifier").and_then(identifier_text));
        let role = agent.pointer("/role/0/text").and_then(Value::as_str);
        let org = agent
            .pointer("/onBehalfOf/display")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| {
                agent
                    .pointer("/onBehalfOf/identifier")
                    .and_then(identifier_text)
            });
        let by = [person, role.map(str::to_string), org]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
        out.insert(
            key,
            Recorded {
                by: (!by.is_empty()).then_some(by).or_else(|| name_of(&agent)),
                at: Some(at.to_string()),
            },
        );
    }
    Ok(out)
}
