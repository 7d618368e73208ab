//! The NEN 7513 audit trail: one `AuditEvent` per request that touches a record, refused ones
//! included, saying who (person, organisation, role), for whom (every patient whose data was
//! touched or returned), what (interaction, resource type and ids), when, from where, with
//! what outcome, and whether it was emergency access with its reason.
//!
//! AuditEvents are written here only, inside the request's own database transaction for
//! writes, and before the answer is sent for reads; no interaction may change or delete them.
//! Every write also gets a `Provenance` naming its author.

use serde_json::{json, Map, Value};

use crate::auth::policy::patients_of;
use crate::auth::{Principal, Role, BSN, URA, UZI};
use crate::error::FhirError;
use crate::store::{Appended, Change, Rendered, Store, Tx, Version};

/// What a request did, collected while it runs.
#[derive(Clone, Debug, Default)]
pub struct Event {
    /// The FHIR restful interaction (`read`, `search-type`, `create`, `transaction`, ...).
    pub interaction: &'static str,
    pub res_type: Option<String>,
    /// The query of a search, as sent.
    pub query: Option<String>,
    /// `Type/id/_history/n` of every resource read or written.
    pub resources: Vec<String>,
    /// Every patient whose record was touched.
    pub patients: Vec<String>,
}

impl Event {
    pub fn new(interaction: &'static str, res_type: Option<&str>) -> Event {
        Event {
            interaction,
            res_type: res_type.map(str::to_string),
            ..Event::default()
        }
    }

    /// An event about one resource, named before it is known whether the caller may see it.
    pub fn about(interaction: &'static str, res_type: &str, id: &str) -> Event {
        Event {
            resources: vec![format!("{res_type}/{id}")],
            ..Event::new(interaction, Some(res_type))
        }
    }

    /// Notes a version read or written and the patients it belongs to.
    pub fn touched(&mut self, v: &Version) {
        self.saw(v, v.resource().ok().as_ref());
    }

    /// [`Self::touched`] for a version whose resource the caller has already read.
    pub fn saw(&mut self, v: &Version, resource: Option<&Value>) {
        let what = format!("{}/{}/_history/{}", v.res_type, v.res_id, v.version);
        let plain = format!("{}/{}", v.res_type, v.res_id);
        self.resources.retain(|r| *r != plain);
        if !self.resources.contains(&what) {
            self.resources.push(what);
        }
        if let Some(resource) = resource {
            self.patients_of(resource);
        }
    }

    /// Notes the patients a resource belongs to.
    pub fn patients_of(&mut self, resource: &Value) {
        for p in crate::auth::policy::patients_of(resource) {
            if !self.patients.contains(&p) {
                self.patients.push(p);
            }
        }
    }

    fn action(&self) -> &'static str {
        match self.interaction {
            "create" => "C",
            "read" | "vread" | "history-instance" | "history-type" | "history-system" => "R",
            "update" | "patch" => "U",
            "delete" => "D",
            _ => "E",
        }
    }
}

/// Writes the AuditEvent of `event` for `who` inside a write's own transaction, so that the
/// change and its trace commit together; `failure` is the error the request was answered
/// with, if it failed.
pub fn record_in(
    tx: &mut Tx,
    who: &Principal,
    event: &Event,
    failure: Option<&FhirError>,
) -> Result<(), FhirError> {
    let id = uuid::Uuid::now_v7().to_string();
    write_server_resource(tx, "AuditEvent", &id, &audit_event(who, event, failure))?;
    if let Some(ura) = &who.ura {
        tx.recorded_by("AuditEvent", &id, ura)?;
    }
    Ok(())
}

/// [`record_in`] for a request that wrote nothing (a read, a search, a refusal): the event
/// goes into the store's next group commit, and this returns once it is durable, so that no
/// answer leaves the server before its trace is stored.
pub fn record(
    store: &Store,
    who: &Principal,
    event: &Event,
    failure: Option<&FhirError>,
) -> Result<(), FhirError> {
    let body = audit_event(who, event, failure);
    let id = uuid::Uuid::now_v7().to_string();
    let render_id = id.clone();
    store
        .append(Appended {
            res_type: "AuditEvent",
            id,
            render: Box::new(move |_, version, last_updated| {
                Ok(server_version(&body, &render_id, version, last_updated))
            }),
            recorded_by: who.ura.clone(),
        })
        .map_err(|e| {
            FhirError::new(
                crate::error::ErrorKind::Unavailable,
                "transient",
                format!(
                    "the access could not be recorded in the audit trail, so it is refused: {e}"
                ),
            )
        })
}

/// Writes the Provenance of the versions one request wrote: who (person, role, organisation),
/// what (the versions) and when, so that every later reader can see who last changed what.
/// One Provenance per kind of change (create, update, delete) and patient record: a
/// transaction of a hundred resources adds a few, not a hundred, and whoever may read one
/// sees only targets in a record they may see.
pub fn provenance(
    tx: &mut Tx,
    who: &Principal,
    written: &[(Version, String)],
) -> Result<(), FhirError> {
    let mut groups: std::collections::BTreeMap<(&str, &str), Vec<&Version>> = Default::default();
    for (v, whose) in written {
        groups.entry((activity_of(v).0, whose)).or_default().push(v);
    }
    for ((_, _), versions) in groups {
        let activity = activity_of(versions[0]);
        let Some(recorded) = versions.iter().map(|v| v.last_updated).max() else {
            continue;
        };
        let targets: Vec<Value> = versions
            .iter()
            .map(|v| json!({"reference": format!("{}/{}/_history/{}", v.res_type, v.res_id, v.version)}))
            .collect();
        let body = json!({
            "resourceType": "Provenance",
            "target": targets,
            "recorded": crate::interaction::format_instant(recorded),
            "activity": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                                     "code": activity.0, "display": activity.1}]},
            "agent": [author(who)],
        });
        let id = uuid::Uuid::now_v7().to_string();
        write_server_resource(tx, "Provenance", &id, &body)?;
        if let Some(ura) = &who.ura {
            tx.recorded_by("Provenance", &id, ura)?;
        }
    }
    Ok(())
}

fn activity_of(v: &Version) -> (&'static str, &'static str) {
    match (v.deleted, v.version) {
        (true, _) => ("DELETE", "delete"),
        (false, 1) => ("CREATE", "create"),
        (false, _) => ("UPDATE", "revise"),
    }
}

/// The Provenance agent for `who`: the person (UZI) on behalf of the organisation (URA), the
/// patient (BSN), or the organisation's system.
fn author(who: &Principal) -> Value {
    let mut agent = json!({
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                             "code": "author", "display": "Author"}]},
        "role": [{"text": who.role.code()}],
    });
    let identifier = |system: &str, value: &str| json!({"system": system, "value": value});
    let organization = who.ura.as_deref().map(|ura| {
        let mut org = json!({"identifier": identifier(URA, ura)});
        if let Some(n) = &who.organization_name {
            org["display"] = json!(n);
        }
        org
    });
    match (&who.uzi, &who.bsn) {
        (Some(uzi), _) => {
            agent["who"] = json!({"identifier": identifier(UZI, uzi)});
            if let Some(n) = &who.name {
                agent["who"]["display"] = json!(n);
            }
            if let Some(org) = organization {
                agent["onBehalfOf"] = org;
            }
        }
        (None, Some(bsn)) => agent["who"] = json!({"identifier": identifier(BSN, bsn)}),
        (None, None) => {
            agent["who"] = organization.unwrap_or_else(|| json!({"display": "pzp-fhir"}))
        }
    }
    agent
}

/// Stores a resource the server itself writes (no validation, no access check).
fn write_server_resource(
    tx: &mut Tx,
    res_type: &str,
    id: &str,
    body: &Value,
) -> Result<(), FhirError> {
    let render = |_: Option<&str>, version: i64, last_updated: i64| {
        Ok::<_, FhirError>(server_version(body, id, version, last_updated))
    };
    tx.write(Change::Create, res_type, id, None, &render)?;
    Ok(())
}

/// `body` as the stored version `version` of `id`, with its search index.
fn server_version(body: &Value, id: &str, version: i64, last_updated: i64) -> Rendered {
    let mut resource = body.clone();
    resource["id"] = json!(id);
    resource["meta"] = json!({
        "versionId": version.to_string(),
        "lastUpdated": crate::interaction::format_instant(last_updated),
    });
    Rendered {
        index: crate::search::extract(&resource),
        content: resource.to_string(),
    }
}

fn audit_event(who: &Principal, event: &Event, failure: Option<&FhirError>) -> Value {
    let identifier = |system: &str, value: &str| json!({"system": system, "value": value});
    let person = match (who.role, &who.uzi, &who.bsn, &who.ura) {
        (Role::Patient, _, Some(bsn), _) => Some(identifier(BSN, bsn)),
        (_, Some(uzi), _, _) => Some(identifier(UZI, uzi)),
        (Role::System, _, _, Some(ura)) => Some(identifier(URA, ura)),
        _ => None,
    };
    let mut requestor = json!({
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                             "code": "humanuser", "display": "human user"}]},
        "role": [{"text": who.role.code()}],
        "requestor": true,
    });
    if who.role == Role::System {
        requestor["type"] = json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                                               "code": "datacollector", "display": "data collector"}]});
    }
    let mut who_ref = Map::new();
    if let Some(i) = person {
        who_ref.insert("identifier".into(), i);
    }
    if let Some(n) = &who.name {
        who_ref.insert("display".into(), json!(n));
    }
    requestor["who"] = Value::Object(who_ref);
    if let Some(address) = &who.address {
        requestor["network"] = json!({"address": address, "type": "2"});
    }
    let mut agents = vec![requestor];
    if let (Some(ura), true) = (&who.ura, who.role != Role::System) {
        let mut org = json!({
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleClass",
                                 "code": "PROV", "display": "healthcare provider"}]},
            "who": {"identifier": identifier(URA, ura)},
            "requestor": false,
        });
        if let Some(n) = &who.organization_name {
            org["who"]["display"] = json!(n);
        }
        agents.push(org);
    }
    let mut entities: Vec<Value> = event
        .patients
        .iter()
        .map(|p| {
            json!({
                "what": {"reference": format!("Patient/{p}")},
                "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person"},
                "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"},
            })
        })
        .collect();
    entities.extend(event.resources.iter().map(|r| {
        json!({
            "what": {"reference": r},
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object"},
        })
    }));
    if let Some(q) = &event.query {
        use base64::Engine;
        entities.push(json!({
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object"},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "24", "display": "Query"},
            "description": format!("{}?{q}", event.res_type.as_deref().unwrap_or_default()),
            "query": base64::engine::general_purpose::STANDARD.encode(q),
        }));
    }
    let (outcome, description) = match failure {
        None => ("0", None),
        Some(e) if e.kind.status() >= 500 => ("8", Some(e.to_string())),
        Some(e) => ("4", Some(e.to_string())),
    };
    let mut event_json = json!({
        "resourceType": "AuditEvent",
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful Operation"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": event.interaction}],
        "action": event.action(),
        "recorded": crate::interaction::format_instant(chrono::Utc::now().timestamp_micros()),
        "outcome": outcome,
        "agent": agents,
        "source": {
            "site": "pzp-fhir",
            "observer": {"display": "pzp-fhir"},
            "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4", "display": "Application Server"}],
        },
    });
    if let Some(d) = description {
        event_json["outcomeDesc"] = json!(d);
    }
    if let Some(reason) = &who.emergency {
        event_json["purposeOfEvent"] = json!([{
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "ETREAT", "display": "Emergency Treatment"}],
            "text": reason,
        }]);
    }
    if !entities.is_empty() {
        event_json["entity"] = Value::Array(entities);
    }
    event_json
}

/// The search parameters a patient may use on their own audit trail: time and kind of access.
/// Parameters that name other resources or agents would tell whether an event involving the
/// patient also involved someone else.
pub const PATIENT_PARAMS: &[&str] = &[
    "patient",
    "date",
    "_lastUpdated",
    "action",
    "subtype",
    "outcome",
    "_id",
];

/// An AuditEvent as the patient with the Patient ids `own` may see it: who accessed their
/// record, when, how and with what outcome, and only the parts that concern them. Other
/// patients, resources of other records (looked up where an event spans several patients),
/// and the query text and failure message of a request the patient did not make themselves
/// are removed.
pub fn shown_to_patient(
    tx: &mut Tx,
    event: &mut Value,
    own: &[String],
    bsn: Option<&str>,
) -> Result<(), FhirError> {
    let mine = |r: &str| {
        r.strip_prefix("Patient/")
            .is_some_and(|id| own.iter().any(|o| o == id))
    };
    let entities = event
        .get("entity")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let patients: Vec<&str> = entities
        .iter()
        .filter_map(|e| e.pointer("/what/reference").and_then(Value::as_str))
        .filter(|r| r.starts_with("Patient/"))
        .collect();
    let only_mine = patients.iter().all(|r| mine(r));
    let by_patient = event
        .get("agent")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|a| a.get("requestor") == Some(&Value::Bool(true)))
        .any(|a| {
            a.pointer("/who/identifier/system").and_then(Value::as_str) == Some(BSN)
                && a.pointer("/who/identifier/value").and_then(Value::as_str) == bsn
        });
    let mut kept = Vec::new();
    for entity in entities {
        let keep = match entity.pointer("/what/reference").and_then(Value::as_str) {
            Some(r) if r.starts_with("Patient/") => mine(r),
            Some(r) => only_mine || belongs_to(tx, r, own)?,
            None => by_patient,
        };
        if keep {
            kept.push(entity);
        }
    }
    let Some(map) = event.as_object_mut() else {
        return Ok(());
    };
    if !(only_mine && by_patient) {
        map.remove("outcomeDesc");
    }
    match kept.is_empty() {
        true => map.remove("entity"),
        false => map.insert("entity".into(), Value::Array(kept)),
    };
    Ok(())
}

/// Whether the resource `Type/id[/_history/n]` is, in its current version, in the record of
/// one of `own` and of no other patient.
fn belongs_to(tx: &mut Tx, reference: &str, own: &[String]) -> Result<bool, FhirError> {
    let mut parts = reference.split('/');
    let (Some(res_type), Some(id)) = (parts.next(), parts.next()) else {
        return Ok(false);
    };
    let Some(current) = tx.current(res_type, id)?.filter(|v| !v.deleted) else {
        return Ok(false);
    };
    let patients = patients_of(&current.resource()?);
    Ok(!patients.is_empty() && patients.iter().all(|p| own.contains(p)))
}
