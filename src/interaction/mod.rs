//! The FHIR REST interactions (create, read, vread, update, delete, history) over the store:
//! preconditions, ids, `meta`, and history Bundles. Formats and headers belong to `http`.

mod bundle;
mod conformance;
mod history;
mod patch;
mod search;
mod summary;
mod valueset;

use serde_json::{Map, Value};

use crate::audit::{self, Event};
use crate::auth::policy::{is_directory, patients_of};
use crate::auth::scope::Permission;
use crate::auth::{Access, Principal};
use crate::capability;
use crate::error::{ErrorKind, FhirError};
use crate::store::{Change, Condition, Rendered, SearchQuery, Store, Tx, Version, Written};
use fhir_format::Issue;

pub use bundle::bundle;
pub use conformance::publish;
pub use history::{history, HistoryParams};
pub use patch::patch;
pub use search::search;
pub use summary::{pzp_summary, Target as SummaryTarget};

/// Parses a query string (`a=1&b=2`) into percent-decoded pairs in order. A `+` stays a `+`:
/// FHIR clients send instants such as `_since=2026-01-01T00:00:00+01:00` unencoded.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Decodes `%XX` escapes; anything else is kept as it is.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A validated resource type from a URL.
pub fn check_type(res_type: &str) -> Result<(), FhirError> {
    if capability::is_supported_type(res_type) {
        Ok(())
    } else if fhir_format::is_resource_type(res_type) {
        Err(FhirError::not_found(format!(
            "resource type '{res_type}' is not supported by this server"
        )))
    } else {
        Err(FhirError::not_found(format!(
            "unknown resource type '{res_type}'"
        )))
    }
}

/// FHIR ids: 1 to 64 of `A-Z a-z 0-9 - .`.
pub fn is_valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn check_id(id: &str) -> Result<(), FhirError> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(FhirError::bad_request(
            "value",
            format!(
                "'{id}' is not a valid resource id (1-64 characters of A-Z, a-z, 0-9, '-', '.')"
            ),
        ))
    }
}

/// `$validate`: the issues `body` (a resource, or Parameters with `resource` and `profile`)
/// has against the profiles that apply to it, and against `profile` when one is named, as an
/// OperationOutcome, with the warnings writing it would raise. Nothing is stored.
pub fn validate(
    store: &Store,
    who: &Principal,
    res_type: &str,
    id: Option<&str>,
    body: &Value,
    profile: Option<&str>,
) -> Result<Value, FhirError> {
    check_type(res_type)?;
    let (resource, named) = match body.get("resourceType").and_then(Value::as_str) {
        Some("Parameters") if res_type != "Parameters" => {
            let params: Vec<&Value> = body
                .get("parameter")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .collect();
            let find = |n: &str| {
                params
                    .iter()
                    .find(|p| p.get("name").and_then(Value::as_str) == Some(n))
            };
            let resource = find("resource")
                .and_then(|p| p.get("resource"))
                .ok_or_else(|| {
                    FhirError::bad_request(
                        "required",
                        "the Parameters have no 'resource' parameter",
                    )
                })?;
            let named = find("profile").and_then(|p| {
                p.get("valueUri")
                    .or_else(|| p.get("valueCanonical"))
                    .and_then(Value::as_str)
            });
            (resource, named)
        }
        _ => (body, None),
    };
    let body = body_of_type(res_type, resource)?;
    if let (Some(id), Some(body_id)) = (id, body.get("id").and_then(Value::as_str)) {
        if id != body_id {
            return Err(FhirError::bad_request(
                "invalid",
                format!("the id in the body ('{body_id}') differs from the id in the URL ('{id}')"),
            ));
        }
    }
    let package = crate::validation::package();
    let resource = Value::Object(body);
    let mut issues = match profile.or(named) {
        Some(url) => {
            let p = package.profile(url).ok_or_else(|| {
                FhirError::bad_request(
                    "not-supported",
                    format!("the profile '{url}' is not held by this server"),
                )
                .at("profile")
            })?;
            package.validate_against(&resource, p)
        }
        None => package.validate(&resource),
    };
    // The warnings look at the patient's other records, so only for a record the caller works on.
    let event = Event::new("operation", Some(res_type));
    issues.extend(audited_read(store, who, event, |tx, rq| {
        rq.access.require(res_type, Permission::Read)?;
        let patients = patients_of(&resource);
        let id = resource
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let may_write = rq
            .access
            .may_write(tx, res_type, id, &[], &patients, false)
            .is_ok();
        if !may_write || !all_visible(tx, &rq.access, &patients)? {
            return Ok(Vec::new());
        }
        rq.event.patients = patients;
        crate::pzp::warnings(tx, &resource)
    })?);
    Ok(match issues.is_empty() {
        true => crate::error::information("no issues found"),
        false => crate::error::operation_outcome(&issues),
    })
}

/// Whether every one of `patients` is a Patient the caller may see: the rules that read a
/// patient's other records report only on records the caller may read.
fn all_visible(tx: &mut Tx, access: &Access, patients: &[String]) -> Result<bool, FhirError> {
    if patients.is_empty() {
        return Ok(true);
    }
    let mut conditions = vec![Condition::Id(patients.to_vec())];
    conditions.extend(access.visible("Patient"));
    let seen = tx.search(&SearchQuery::unsorted(
        "Patient",
        conditions,
        patients.len() as i64,
    ))?;
    Ok(seen.len() == patients.len())
}

/// One request inside its database transaction: the caller's access, and the audit event it
/// fills in as it goes.
pub(crate) struct Request<'a> {
    pub access: Access<'a>,
    pub event: Event,
    /// The versions written so far (without content) and whose record each is in (patient
    /// ids, joined), for their Provenance.
    pub written: Vec<(Version, String)>,
}

impl<'a> Request<'a> {
    /// A request by `who`, its access worked out on `tx`, nothing recorded yet.
    fn start(tx: &mut Tx, who: &'a Principal, event: &Event) -> Result<Request<'a>, FhirError> {
        Ok(Request {
            access: Access::load(tx, who)?,
            event: event.clone(),
            written: Vec::new(),
        })
    }
}

/// Runs `work` in one transaction with the caller's access worked out, and writes its audit
/// event and the Provenance of what it wrote in that same transaction, so that nothing is
/// changed without a trace. A request that fails is recorded afterwards on its own, with the
/// error.
pub(crate) fn audited<T>(
    store: &Store,
    who: &Principal,
    event: Event,
    work: impl Fn(&mut Tx, &mut Request) -> Result<T, FhirError>,
) -> Result<T, FhirError> {
    let result = store.transaction(|tx| {
        let mut rq = Request::start(tx, who, &event)?;
        let out = work(tx, &mut rq)?;
        audit::provenance(tx, who, &rq.written)?;
        if !is_quiet(&rq.event) {
            audit::record_in(tx, who, &rq.event, None)?;
        }
        Ok(out)
    });
    if let Err(e) = &result {
        record_failure(store, who, &event, e);
    }
    result
}

/// [`audited`] for `work` that only reads: it runs in a read transaction, and its audit event
/// joins the store's next group commit; the answer waits until that is durable.
pub(crate) fn audited_read<T>(
    store: &Store,
    who: &Principal,
    event: Event,
    work: impl FnOnce(&mut Tx, &mut Request) -> Result<T, FhirError>,
) -> Result<T, FhirError> {
    let result = store.read(|tx| {
        let mut rq = Request::start(tx, who, &event)?;
        Ok::<_, FhirError>(work(tx, &mut rq).map(|out| (out, rq.event)))
    });
    match result.and_then(|r| r) {
        Ok((out, done)) => {
            if !is_quiet(&done) {
                audit::record(store, who, &done, None)?;
            }
            Ok(out)
        }
        Err(e) => {
            record_failure(store, who, &event, &e);
            Err(e)
        }
    }
}

/// Requests that only touched directory resources (practitioners, conformance) are not audited.
fn is_quiet(e: &Event) -> bool {
    e.patients.is_empty() && e.res_type.as_deref().is_some_and(is_directory)
}

fn record_failure(store: &Store, who: &Principal, event: &Event, error: &FhirError) {
    if let Err(failed) = audit::record(store, who, event, Some(error)) {
        tracing::error!(error = %failed, "could not record the audit event of a failed request");
    }
}

/// The current version of `res_type/id` (possibly a deletion), or `None` when it never
/// existed; 404 when it exists but the caller may not see it.
pub(crate) fn visible_current(
    tx: &mut Tx,
    access: &Access,
    res_type: &str,
    id: &str,
) -> Result<Option<Version>, FhirError> {
    let current = tx.current(res_type, id)?;
    if let Some(v) = &current {
        require_visible(tx, access, v)?;
    }
    Ok(current)
}

/// 404 unless the caller may see this version's resource. A deleted resource is seen by the
/// organisations that recorded it.
pub(crate) fn require_visible(tx: &mut Tx, access: &Access, v: &Version) -> Result<(), FhirError> {
    let Some(condition) = access.visible(&v.res_type) else {
        return Ok(());
    };
    let seen = match &access.who.ura {
        _ if !v.deleted => !tx
            .search(&SearchQuery::unsorted(
                &v.res_type,
                vec![Condition::Id(vec![v.res_id.clone()]), condition],
                1,
            ))?
            .is_empty(),
        Some(ura) => tx.is_recorded_by(&v.res_type, &v.res_id, ura)?,
        None => false,
    };
    if seen {
        Ok(())
    } else {
        Err(FhirError::not_found(format!(
            "{}/{} does not exist",
            v.res_type, v.res_id
        )))
    }
}

/// Renders a stored timestamp (microseconds since the epoch) as a FHIR instant.
pub fn format_instant(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// The current version of a resource; 410 when it was deleted, 404 when it never existed.
pub fn read(
    store: &Store,
    who: &Principal,
    res_type: &str,
    id: &str,
) -> Result<Version, FhirError> {
    let event = Event::about("read", res_type, id);
    audited_read(store, who, event, |tx, rq| read_in(tx, rq, res_type, id))
}

/// [`read`] on a connection the caller holds.
pub(crate) fn read_in(
    tx: &mut Tx,
    rq: &mut Request,
    res_type: &str,
    id: &str,
) -> Result<Version, FhirError> {
    check_type(res_type)?;
    check_id(id)?;
    rq.access.require(res_type, Permission::Read)?;
    match visible_current(tx, &rq.access, res_type, id)? {
        Some(v) if v.deleted => Err(gone(&v)),
        Some(v) => {
            rq.event.touched(&v);
            shown(tx, &rq.access, v)
        }
        None => Err(FhirError::not_found(format!(
            "{res_type}/{id} does not exist"
        ))),
    }
}

/// A version as the caller may see it: a patient sees their audit trail without what
/// concerns others (see [`audit::shown_to_patient`]).
pub(crate) fn shown(tx: &mut Tx, access: &Access, mut v: Version) -> Result<Version, FhirError> {
    if let (Some(own), "AuditEvent", false) =
        (access.own_patients(), v.res_type.as_str(), v.deleted)
    {
        let mut resource = v.resource()?;
        audit::shown_to_patient(tx, &mut resource, own, access.who.bsn.as_deref())?;
        v.content = Some(resource.to_string());
    }
    Ok(v)
}

/// One version of a resource.
pub fn vread(
    store: &Store,
    who: &Principal,
    res_type: &str,
    id: &str,
    vid: &str,
) -> Result<Version, FhirError> {
    let event = Event::about("vread", res_type, id);
    audited_read(store, who, event, |tx, rq| {
        vread_in(tx, rq, res_type, id, vid)
    })
}

/// [`vread`] on a connection the caller holds.
pub(crate) fn vread_in(
    tx: &mut Tx,
    rq: &mut Request,
    res_type: &str,
    id: &str,
    vid: &str,
) -> Result<Version, FhirError> {
    check_type(res_type)?;
    check_id(id)?;
    rq.access.require(res_type, Permission::Read)?;
    if visible_current(tx, &rq.access, res_type, id)?.is_none() {
        return Err(FhirError::not_found(format!(
            "{res_type}/{id} does not exist"
        )));
    }
    let version: i64 = vid.parse().ok().filter(|v| *v > 0).ok_or_else(|| {
        FhirError::bad_request(
            "value",
            format!("'{vid}' is not a version id of this server"),
        )
    })?;
    match tx.version(res_type, id, version)? {
        Some(v) if v.deleted => Err(gone(&v)),
        Some(v) => {
            rq.event.touched(&v);
            shown(tx, &rq.access, v)
        }
        None => Err(FhirError::not_found(format!(
            "{res_type}/{id} has no version {version}"
        ))),
    }
}

fn gone(v: &Version) -> FhirError {
    FhirError::new(
        ErrorKind::Gone,
        "deleted",
        format!(
            "{}/{} was deleted (version {})",
            v.res_type, v.res_id, v.version
        ),
    )
}

/// Creates a resource under a new server-assigned id (an id in the body is ignored, as the
/// spec requires). With `if_none_exist` (conditional create) nothing is written when exactly
/// one resource already matches that query; the match is returned with `created == false`.
pub fn create(
    store: &Store,
    who: &Principal,
    res_type: &str,
    resource: &Value,
    if_none_exist: Option<&[(String, String)]>,
    base_url: &str,
) -> Result<Written, FhirError> {
    check_type(res_type)?;
    let body = body_of_type(res_type, resource)?;
    let id = new_id();
    let event = Event::new("create", Some(res_type));
    audited(store, who, event, |tx, rq| {
        create_in(tx, rq, res_type, &body, &id, if_none_exist, base_url)
    })
}

/// The checks of a written version that need other resources: the PZP rules, and a
/// QuestionnaireResponse against the Questionnaire it answers when the server holds that
/// (same version, if it names one). An error rolls the write back.
pub(crate) fn checks_across(tx: &mut Tx, written: &Version) -> Result<(), FhirError> {
    if written.res_type != "QuestionnaireResponse" {
        return crate::pzp::check(tx, written);
    }
    let Some(response) = written
        .content
        .as_deref()
        .and_then(|c| serde_json::from_str::<Value>(c).ok())
    else {
        return Ok(());
    };
    let Some(canonical) = response.get("questionnaire").and_then(Value::as_str) else {
        return Ok(());
    };
    let found = by_canonical(tx, "Questionnaire", canonical)?;
    let Some(questionnaire) =
        found.and_then(|q| serde_json::from_str::<Value>(q.content.as_deref()?).ok())
    else {
        return Ok(());
    };
    let issues = crate::validation::questionnaire::check(&response, &questionnaire);
    if issues.is_empty() {
        return Ok(());
    }
    Err(FhirError {
        kind: ErrorKind::Unprocessable,
        issues,
    })
}

/// The warnings a written version raises: rules the guide wants reported, not enforced
/// (ACP-Patient-1), judged on the committed state.
pub fn warnings(store: &Store, written: &Version) -> Result<Vec<Issue>, FhirError> {
    store.read(|tx| warnings_in(tx, written))
}

/// [`warnings`] on a connection the caller holds.
pub(crate) fn warnings_in(tx: &mut Tx, written: &Version) -> Result<Vec<Issue>, FhirError> {
    match written.content {
        Some(_) => crate::pzp::warnings(tx, &written.resource()?),
        None => Ok(Vec::new()),
    }
}

/// The current resource of `res_type` with this canonical URL (`url`, or `url|version` for
/// that version only).
pub(crate) fn by_canonical(
    tx: &mut Tx,
    res_type: &str,
    canonical: &str,
) -> Result<Option<Version>, FhirError> {
    let (url, version) = match canonical.split_once('|') {
        Some((u, v)) => (u, Some(v)),
        None => (canonical, None),
    };
    let mut conditions = vec![Condition::Uri {
        param: "url".into(),
        values: vec![url.to_string()],
    }];
    if let Some(v) = version {
        conditions.push(Condition::token("version", None, v));
    }
    let found = tx.search(&SearchQuery::unsorted(res_type, conditions, 1))?;
    Ok(found.into_iter().next())
}

/// A fresh server-assigned id.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// [`create`] inside the caller's transaction, under the id the caller chose.
pub(crate) fn create_in(
    tx: &mut Tx,
    rq: &mut Request,
    res_type: &str,
    body: &Map<String, Value>,
    id: &str,
    if_none_exist: Option<&[(String, String)]>,
    base_url: &str,
) -> Result<Written, FhirError> {
    if let Some(query) = if_none_exist {
        if let Some(existing) = single_match(tx, rq, res_type, query, base_url)? {
            rq.event.touched(&existing);
            return Ok(Written {
                version: existing,
                created: false,
                unchanged: true,
            });
        }
    }
    let render =
        |_: Option<&str>, version, last_updated| with_meta(body, id, version, last_updated);
    write_checked(tx, rq, Change::Create, res_type, id, None, &render)
}

/// The one resource a conditional query selects, `None` when there is none, 412 when there
/// are several. It first takes a lock per resource type, so that two conditional writes of
/// the same type cannot both find nothing and both create.
fn single_match(
    tx: &mut Tx,
    rq: &mut Request,
    res_type: &str,
    query: &[(String, String)],
    base_url: &str,
) -> Result<Option<Version>, FhirError> {
    // A conditional write to the audit trail is refused before anything is looked up.
    conformance::writable_type(res_type)?;
    tx.lock(&conditional_lock(res_type))?;
    let mut found = search::matching(tx, &rq.access, res_type, query, base_url, 2)?;
    if found.len() > 1 {
        return Err(FhirError::new(
            ErrorKind::PreconditionFailed,
            "multiple-matches",
            format!("the conditions select more than one {res_type}; make them more specific"),
        ));
    }
    Ok(found.pop())
}

/// The name of the lock that conditional writes of one resource type share.
pub(crate) fn conditional_lock(res_type: &str) -> String {
    format!("conditional {res_type}")
}

/// Updates (or, with a new id, creates) the resource at `res_type/id`.
pub fn update(
    store: &Store,
    who: &Principal,
    res_type: &str,
    id: &str,
    resource: &Value,
    if_match: Option<i64>,
) -> Result<Written, FhirError> {
    check_type(res_type)?;
    check_id(id)?;
    let body = body_of_type(res_type, resource)?;
    body_id_is(res_type, &body, Some(id))?;
    let event = Event::about("update", res_type, id);
    audited(store, who, event, |tx, rq| {
        update_in(tx, rq, res_type, id, &body, if_match)
    })
}

/// [`update`] inside the caller's transaction; the body's id is already checked.
pub(crate) fn update_in(
    tx: &mut Tx,
    rq: &mut Request,
    res_type: &str,
    id: &str,
    body: &Map<String, Value>,
    if_match: Option<i64>,
) -> Result<Written, FhirError> {
    let render =
        |_: Option<&str>, version, last_updated| with_meta(body, id, version, last_updated);
    write_checked(tx, rq, Change::Update, res_type, id, if_match, &render)
}

/// Every write goes through here: the conformance package and the audit trail stay
/// read-only; the caller must see what they change and have the right to write for every
/// patient the old and the new version belong to; the writing organisation is noted; and the
/// rules that need other resources run on the written version inside the same transaction.
pub(crate) fn write_checked(
    tx: &mut Tx,
    rq: &mut Request,
    change: Change,
    res_type: &str,
    id: &str,
    if_match: Option<i64>,
    render: &crate::store::Render<'_, FhirError>,
) -> Result<Written, FhirError> {
    conformance::writable(res_type, id)?;
    may_write_type(&rq.access, change, res_type)?;
    let current = match change {
        Change::Create => None,
        _ => tx.current(res_type, id)?,
    };
    if let Some(v) = &current {
        if require_visible(tx, &rq.access, v).is_err() {
            return as_if_absent(change, res_type, id, if_match);
        }
    }
    let before = current.filter(|v| !v.deleted);
    let permission = match (change, &before) {
        (Change::Delete, _) => Permission::Delete,
        (_, Some(_)) => Permission::Update,
        (_, None) => Permission::Create,
    };
    rq.access.require(res_type, permission)?;
    let written = tx.write(change, res_type, id, if_match, render)?;
    if written.unchanged {
        return Ok(written);
    }
    let before_patients = match &before {
        Some(v) => patients_of(&v.resource()?),
        None => Vec::new(),
    };
    let content = match written.version.content {
        Some(_) => Some(written.version.resource()?),
        None => None,
    };
    let after_patients = match &content {
        Some(r) => patients_of(r),
        None => before_patients.clone(),
    };
    rq.access.may_write(
        tx,
        res_type,
        id,
        &before_patients,
        &after_patients,
        before.is_some(),
    )?;
    // Only now, after the check, do the links this version states count for access.
    if matches!(res_type, "CareTeam" | "EpisodeOfCare") {
        let links = content
            .as_ref()
            .map(crate::pzp::care_links)
            .unwrap_or_default();
        tx.set_care_links(res_type, id, &links, written.created)?;
    }
    if res_type == "Patient" {
        crate::pzp::bsn::claim(tx, id, content.as_ref())?;
    }
    if res_type == "Consent" {
        let decision = content.as_ref().and_then(crate::pzp::sharing);
        tx.set_sharing(
            id,
            decision.as_ref().map(|(p, d)| (p.as_str(), *d)),
            written.created,
        )?;
    }
    if let Some(ura) = &rq.access.who.ura {
        tx.recorded_by(res_type, id, ura)?;
    }
    let mut whose = after_patients.clone();
    whose.sort();
    rq.written.push((
        Version {
            content: None,
            ..written.version.clone()
        },
        whose.join(","),
    ));
    rq.event.saw(&written.version, content.as_ref());
    for p in before_patients {
        if !rq.event.patients.contains(&p) {
            rq.event.patients.push(p);
        }
    }
    checks_across(tx, &written.version)?;
    Ok(written)
}

/// 403 before anything is looked up when the caller's role and scopes allow no write of this
/// kind on `res_type` at all, so that the answer cannot depend on whether the id exists.
fn may_write_type(access: &Access, change: Change, res_type: &str) -> Result<(), FhirError> {
    match change {
        Change::Delete => access.require(res_type, Permission::Delete),
        Change::Edit => access.require(res_type, Permission::Update),
        Change::Create => access.require(res_type, Permission::Create),
        Change::Update => access
            .require(res_type, Permission::Update)
            .or_else(|_| access.require(res_type, Permission::Create)),
    }
}

/// The answer to a write of a resource the caller may not see: what the same write of an id
/// that never existed answers. A delete changes nothing and a patch finds nothing; an update
/// cannot create under an id that is taken, so it says only that the id is not available
/// (README, "Hidden and absent").
fn as_if_absent(
    change: Change,
    res_type: &str,
    id: &str,
    if_match: Option<i64>,
) -> Result<Written, FhirError> {
    if if_match.is_some() {
        return Err(crate::store::StoreError::VersionConflict { current: None }.into());
    }
    match change {
        Change::Delete => Ok(Written {
            version: Version {
                res_type: res_type.to_string(),
                res_id: id.to_string(),
                version: 0,
                last_updated: 0,
                deleted: true,
                content: None,
            },
            created: false,
            unchanged: true,
        }),
        Change::Edit => Err(crate::store::StoreError::NotFound.into()),
        Change::Create | Change::Update => Err(id_taken(res_type, id)),
    }
}

/// 409 for a write under an id that another resource of this type holds.
pub(crate) fn id_taken(res_type: &str, id: &str) -> FhirError {
    FhirError::new(
        ErrorKind::Conflict,
        "conflict",
        format!("the id {res_type}/{id} is not available; create the resource with POST to get a new id"),
    )
}

/// Checks the id in an update's body: it must be `expected`, or, when `expected` is `None`
/// (conditional update), any valid id or none.
fn body_id_is(
    res_type: &str,
    body: &Map<String, Value>,
    expected: Option<&str>,
) -> Result<(), FhirError> {
    match (body.get("id").and_then(Value::as_str), expected) {
        (None, Some(id)) => Err(FhirError::bad_request(
            "required",
            format!("the resource has no id; an update of {res_type}/{id} must carry id '{id}'"),
        )
        .at(format!("{res_type}.id"))),
        (Some(body_id), Some(id)) if body_id != id => Err(FhirError::bad_request(
            "invalid",
            format!("the id in the body ('{body_id}') differs from the id in the URL ('{id}')"),
        )
        .at(format!("{res_type}.id"))),
        (Some(body_id), None) => check_id(body_id),
        _ => Ok(()),
    }
}

/// Conditional update (`PUT [type]?query`): updates the one match, creates when there is
/// none, 412 when there are several. An id in the body must be the match's.
pub fn update_conditional(
    store: &Store,
    who: &Principal,
    res_type: &str,
    query: &[(String, String)],
    resource: &Value,
    base_url: &str,
) -> Result<Written, FhirError> {
    check_type(res_type)?;
    let body = body_of_type(res_type, resource)?;
    body_id_is(res_type, &body, None)?;
    let fresh = new_id();
    let event = Event::new("update", Some(res_type));
    audited(store, who, event, |tx, rq| {
        update_conditional_in(tx, rq, res_type, query, &body, &fresh, base_url)
    })
}

/// [`update_conditional`] inside the caller's transaction; `fresh` is the id for a create.
fn update_conditional_in(
    tx: &mut Tx,
    rq: &mut Request,
    res_type: &str,
    query: &[(String, String)],
    body: &Map<String, Value>,
    fresh: &str,
    base_url: &str,
) -> Result<Written, FhirError> {
    let id = conditional_target(tx, rq, res_type, query, body, fresh, base_url)?;
    let mut body = body.clone();
    body.insert("id".into(), Value::String(id.clone()));
    update_in(tx, rq, res_type, &id, &body, None)
}

/// The id a conditional update writes: the one match, else the body's id (when it is not
/// taken by a resource that does not match), else `fresh`.
pub(crate) fn conditional_target(
    tx: &mut Tx,
    rq: &mut Request,
    res_type: &str,
    query: &[(String, String)],
    body: &Map<String, Value>,
    fresh: &str,
    base_url: &str,
) -> Result<String, FhirError> {
    let body_id = body.get("id").and_then(Value::as_str);
    match (single_match(tx, rq, res_type, query, base_url)?, body_id) {
        (Some(found), Some(body_id)) if found.res_id != body_id => Err(FhirError::bad_request(
            "invalid",
            format!(
                "the conditions select {res_type}/{}, but the body has id '{body_id}'",
                found.res_id
            ),
        )
        .at(format!("{res_type}.id"))),
        (Some(found), _) => Ok(found.res_id),
        (None, Some(body_id)) => {
            let taken = tx.current(res_type, body_id)?;
            if let Some(v) = &taken {
                if require_visible(tx, &rq.access, v).is_err() {
                    return Err(id_taken(res_type, body_id));
                }
            }
            if taken.is_some_and(|v| !v.deleted) {
                return Err(FhirError::new(
                    ErrorKind::Conflict,
                    "conflict",
                    format!(
                        "{res_type}/{body_id} exists but does not meet the conditions; nothing was changed"
                    ),
                ));
            }
            Ok(body_id.to_string())
        }
        (None, None) => Ok(fresh.to_string()),
    }
}

/// Deletes a resource logically: later reads answer 410 and the history keeps every version.
pub fn delete(
    store: &Store,
    who: &Principal,
    res_type: &str,
    id: &str,
    if_match: Option<i64>,
) -> Result<Written, FhirError> {
    check_type(res_type)?;
    check_id(id)?;
    let event = Event::about("delete", res_type, id);
    audited(store, who, event, |tx, rq| {
        delete_in(tx, rq, res_type, id, if_match)
    })
}

/// [`delete`] inside the caller's transaction.
pub(crate) fn delete_in(
    tx: &mut Tx,
    rq: &mut Request,
    res_type: &str,
    id: &str,
    if_match: Option<i64>,
) -> Result<Written, FhirError> {
    let nothing = |_: Option<&str>, _, _| {
        Ok::<_, FhirError>(Rendered {
            content: String::new(),
            index: Vec::new(),
        })
    };
    write_checked(tx, rq, Change::Delete, res_type, id, if_match, &nothing)
}

/// Conditional delete (`DELETE [type]?query`): deletes the one match; `None` when nothing
/// matches, 412 when several do.
pub fn delete_conditional(
    store: &Store,
    who: &Principal,
    res_type: &str,
    query: &[(String, String)],
    base_url: &str,
) -> Result<Option<Written>, FhirError> {
    check_type(res_type)?;
    let event = Event::new("delete", Some(res_type));
    audited(store, who, event, |tx, rq| {
        delete_conditional_in(tx, rq, res_type, query, base_url)
    })
}

/// [`delete_conditional`] inside the caller's transaction.
pub(crate) fn delete_conditional_in(
    tx: &mut Tx,
    rq: &mut Request,
    res_type: &str,
    query: &[(String, String)],
    base_url: &str,
) -> Result<Option<Written>, FhirError> {
    match single_match(tx, rq, res_type, query, base_url)? {
        Some(found) => delete_in(tx, rq, res_type, &found.res_id, None).map(Some),
        None => Ok(None),
    }
}

fn body_of_type(res_type: &str, resource: &Value) -> Result<Map<String, Value>, FhirError> {
    let Value::Object(map) = resource else {
        return Err(FhirError::bad_request(
            "structure",
            "the body is not a FHIR resource",
        ));
    };
    match map.get("resourceType").and_then(Value::as_str) {
        Some(t) if t == res_type => Ok(map.clone()),
        Some(t) => Err(FhirError::bad_request(
            "invalid",
            format!("the body is a {t} but the URL is for {res_type}"),
        )
        .at("resourceType")),
        None => Err(FhirError::bad_request(
            "required",
            "resourceType is missing",
        )),
    }
}

/// The resource as stored: `resourceType`, `id` and `meta` first, with the version and
/// timestamp the server assigned; everything else exactly as received. The search index rows
/// are taken from this final form. A resource that breaks a
/// profile that applies to it is refused with every issue found.
fn with_meta(
    body: &Map<String, Value>,
    id: &str,
    version: i64,
    last_updated: i64,
) -> Result<Rendered, FhirError> {
    let mut out = Map::with_capacity(body.len() + 2);
    out.insert("resourceType".into(), body["resourceType"].clone());
    out.insert("id".into(), Value::String(id.to_string()));
    let mut meta = Map::new();
    meta.insert("versionId".into(), Value::String(version.to_string()));
    meta.insert(
        "lastUpdated".into(),
        Value::String(format_instant(last_updated)),
    );
    if let Some(Value::Object(old)) = body.get("meta") {
        for (k, v) in old {
            if k != "versionId" && k != "lastUpdated" {
                meta.insert(k.clone(), v.clone());
            }
        }
    }
    out.insert("meta".into(), Value::Object(meta));
    for (k, v) in body {
        if !matches!(k.as_str(), "resourceType" | "id" | "meta") {
            out.insert(k.clone(), v.clone());
        }
    }
    let resource = Value::Object(out);
    let issues = crate::validation::package().validate(&resource);
    if issues.iter().any(|i| i.severity.is_failure()) {
        return Err(FhirError {
            kind: ErrorKind::Unprocessable,
            issues,
        });
    }
    Ok(Rendered {
        index: crate::search::extract(&resource),
        content: resource.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_r4_rule() {
        assert!(is_valid_id("ACP-Patient-HendrikHartman-Pat1"));
        assert!(is_valid_id(&"a".repeat(64)));
        assert!(!is_valid_id(&"a".repeat(65)));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("with space"));
        assert!(!is_valid_id("a_b"));
    }

    #[test]
    fn meta_is_put_first_and_keeps_profiles() {
        let body: Value = serde_json::from_str(
            r#"{"resourceType":"Patient","active":true,"meta":{"versionId":"9","profile":["x"]},"id":"p"}"#,
        )
        .unwrap();
        let Value::Object(map) = body else {
            unreachable!()
        };
        let text = with_meta(&map, "p", 2, 0).unwrap().content;
        assert_eq!(
            text,
            r#"{"resourceType":"Patient","id":"p","meta":{"versionId":"2","lastUpdated":"1970-01-01T00:00:00.000000Z","profile":["x"]},"active":true}"#
        );
    }
}
