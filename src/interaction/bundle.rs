//! Transaction and batch Bundles (`POST [base]`). A transaction is one database transaction:
//! every entry succeeds or nothing is stored. A batch runs each entry on its own.
//!
//! Transaction entries run in the spec's order (DELETE, POST, PUT and PATCH, GET). Before
//! anything is written, every entry's identity is settled: new ids for creates, the match for
//! conditional creates and updates. Then references to `fullUrl`s (`urn:uuid:...`) and
//! conditional references (`Patient?identifier=...`) are rewritten to `Type/id`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use base64::Engine;
use serde_json::{json, Map, Value};

use super::{audited, Request};
use super::{
    body_id_is, body_of_type, check_id, check_type, conditional_lock, conditional_target,
    create_in, delete_conditional_in, delete_in, format_instant, new_id, parse_query, read_in,
    search, single_match, update_in, vread_in,
};
use crate::audit::Event;
use crate::auth::{Access, Principal};
use crate::error::{ErrorKind, FhirError};
use crate::store::{Store, Tx, Version, Written};
use fhir_format::Issue;

/// An entry's method, in the order a transaction processes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Method {
    Delete,
    Post,
    Put,
    Get,
}

impl Method {
    /// The restful interaction an entry with this method performs, for the audit trail.
    fn interaction(self, has_id: bool) -> &'static str {
        match (self, has_id) {
            (Method::Delete, _) => "delete",
            (Method::Post, _) => "create",
            (Method::Put, _) => "update",
            (Method::Get, true) => "read",
            (Method::Get, false) => "search-type",
        }
    }
}

/// What one entry asks for, read from `request` and `resource`.
struct Entry<'a> {
    index: usize,
    full_url: Option<&'a str>,
    method: Method,
    /// `request.method` as sent (PATCH is processed with PUT).
    verb: &'a str,
    url: &'a str,
    res_type: String,
    id: Option<String>,
    vid: Option<String>,
    query: Option<Vec<(String, String)>>,
    resource: Option<&'a Value>,
    patch: Option<json_patch::Patch>,
    if_match: Option<i64>,
    if_none_exist: Option<Vec<(String, String)>>,
}

/// The identity an entry was given before any write: its resource id, and whether a
/// conditional create found an existing match (then nothing is written).
#[derive(Clone, Debug)]
struct Target {
    id: Option<String>,
    found: Option<Version>,
}

/// What an entry did.
enum Outcome {
    Written(Written),
    /// A conditional create that matched an existing resource.
    Found(Version),
    Deleted(Option<Written>),
    Read(Version),
    Searched(Value),
}

/// Processes a `transaction` or `batch` Bundle and answers its response Bundle.
pub fn bundle(
    store: &Store,
    who: &Principal,
    bundle: &Value,
    base_url: &str,
) -> Result<Value, FhirError> {
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(FhirError::bad_request(
            "invalid",
            "POST to the base URL takes a Bundle of type transaction or batch",
        )
        .at("resourceType"));
    }
    let kind = bundle.get("type").and_then(Value::as_str).unwrap_or("");
    let raw = bundle
        .get("entry")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let most = crate::limits::get().bundle_entries;
    if raw.len() > most {
        return Err(crate::limits::exceeded(
            format!("the Bundle has {} entries, more than {most}", raw.len()),
            "PZP_MAX_BUNDLE_ENTRIES",
        )
        .at("Bundle.entry"));
    }
    match kind {
        "transaction" => {
            let entries = raw
                .iter()
                .enumerate()
                .map(|(i, e)| entry(i, e, base_url))
                .collect::<Result<Vec<_>, _>>()?;
            transaction(store, who, &entries, base_url)
        }
        "batch" => Ok(batch(store, who, raw, base_url)),
        other => Err(FhirError::bad_request(
            "invalid",
            format!(
                "a Bundle of type '{other}' cannot be processed; send type transaction or batch"
            ),
        )
        .at("Bundle.type")),
    }
}

fn transaction(
    store: &Store,
    who: &Principal,
    entries: &[Entry],
    base_url: &str,
) -> Result<Value, FhirError> {
    let mut seen = HashSet::new();
    for e in entries {
        if let (Method::Put | Method::Delete, Some(id)) = (e.method, &e.id) {
            if !seen.insert((e.res_type.as_str(), id.as_str())) {
                return Err(at_entry(
                    e,
                    FhirError::bad_request(
                        "duplicate",
                        format!("{}/{id} is changed by more than one entry", e.res_type),
                    ),
                ));
            }
        }
    }
    let fresh: Vec<String> = entries.iter().map(|_| new_id()).collect();
    let outcomes = audited(store, who, Event::new("transaction", None), |tx, rq| {
        // Conditional work locks its resource types up front, always in the same order, so
        // that two transactions cannot each hold a lock the other waits for.
        let types: BTreeSet<&str> = entries
            .iter()
            .filter(|e| e.if_none_exist.is_some() || (e.query.is_some() && e.method != Method::Get))
            .map(|e| e.res_type.as_str())
            .collect();
        for t in types {
            tx.lock(&conditional_lock(t))?;
        }
        let mut targets = Vec::with_capacity(entries.len());
        let mut names = HashMap::new();
        for (e, fresh) in entries.iter().zip(&fresh) {
            let target = identify(tx, rq, e, fresh, base_url).map_err(|err| at_entry(e, err))?;
            if let (Some(full_url), Some(id)) = (e.full_url, &target.id) {
                names.insert(full_url.to_string(), format!("{}/{id}", e.res_type));
            }
            targets.push(target);
        }
        // The current versions of what the entries update, in one statement per type.
        let mut updated: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (e, target) in entries.iter().zip(&targets) {
            if let (Method::Put | Method::Delete, Some(id)) = (e.method, &target.id) {
                updated.entry(&e.res_type).or_default().push(id.clone());
            }
        }
        for (res_type, ids) in updated {
            tx.read_ahead(res_type, &ids)?;
        }
        // FHIR's order (DELETE, POST, PUT/PATCH, GET), and within each the Patients first:
        // a record is written only for a patient held here.
        let mut order: Vec<&Entry> = entries.iter().collect();
        order.sort_by_key(|e| (e.method, e.res_type != "Patient"));
        let mut outcomes: Vec<Option<Outcome>> = entries.iter().map(|_| None).collect();
        for e in order {
            let outcome = execute(tx, rq, e, &targets[e.index], &names, base_url)
                .map_err(|err| at_entry(e, err))?;
            outcomes[e.index] = Some(outcome);
        }
        Ok::<_, FhirError>(outcomes)
    })?;
    let outcomes: Vec<Outcome> = outcomes.into_iter().flatten().collect();
    // Warnings are judged once everything is in place, so an entry that another entry of the
    // same transaction satisfies raises none.
    let warnings = store.read(|tx| {
        outcomes
            .iter()
            .map(|o| warnings_of(tx, o))
            .collect::<Result<Vec<_>, _>>()
    })?;
    let entries: Vec<Value> = outcomes
        .into_iter()
        .zip(warnings)
        .map(|(o, w)| response_entry(o, &w, base_url))
        .collect::<Result<_, _>>()?;
    Ok(response_bundle("transaction-response", entries))
}

/// Runs each entry on its own; a failing entry answers its error in its own response.
fn batch(store: &Store, who: &Principal, raw: &[Value], base_url: &str) -> Value {
    let names = HashMap::new();
    let entries: Vec<Value> = raw
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            let result = entry(i, raw, base_url).and_then(|e| {
                let fresh = new_id();
                let run = |tx: &mut Tx, rq: &mut Request| {
                    let target = identify(tx, rq, &e, &fresh, base_url)?;
                    execute(tx, rq, &e, &target, &names, base_url)
                };
                let event = Event::new(e.method.interaction(e.id.is_some()), Some(&e.res_type));
                audited(store, who, event, run)
                    .and_then(|o| {
                        let warnings = store.read(|tx| warnings_of(tx, &o))?;
                        response_entry(o, &warnings, base_url)
                    })
                    .map_err(|err| at_entry(&e, err))
            });
            result.unwrap_or_else(|err| {
                json!({ "response": {
                    "status": status_line(err.kind.status()),
                    "outcome": err.outcome(),
                }})
            })
        })
        .collect();
    response_bundle("batch-response", entries)
}

fn response_bundle(kind: &str, entries: Vec<Value>) -> Value {
    let mut b = json!({
        "resourceType": "Bundle",
        "id": new_id(),
        "meta": { "lastUpdated": format_instant(chrono::Utc::now().timestamp_micros()) },
        "type": kind,
    });
    if !entries.is_empty() {
        b["entry"] = Value::Array(entries);
    }
    b
}

/// Names the entry in each issue of an error, so the client knows which one failed.
fn at_entry(e: &Entry, mut err: FhirError) -> FhirError {
    let name = match e.full_url {
        Some(u) => format!("entry {} ({} {}, fullUrl {u})", e.index, e.verb, e.url),
        None => format!("entry {} ({} {})", e.index, e.verb, e.url),
    };
    for issue in &mut err.issues {
        issue.diagnostics = format!("{name}: {}", issue.diagnostics);
        let prefix = format!("{}.", e.res_type);
        issue.expression = Some(match issue.expression.take() {
            Some(x) => match x.strip_prefix(&prefix) {
                Some(rest) => format!("Bundle.entry[{}].resource.{rest}", e.index),
                None => format!("Bundle.entry[{}].{x}", e.index),
            },
            None => format!("Bundle.entry[{}]", e.index),
        });
    }
    err
}

fn entry_error(index: usize, text: String) -> FhirError {
    FhirError::bad_request("invalid", text).at(format!("Bundle.entry[{index}].request"))
}

/// Reads and checks one entry's request.
fn entry<'a>(index: usize, raw: &'a Value, base_url: &str) -> Result<Entry<'a>, FhirError> {
    let request = raw
        .get("request")
        .ok_or_else(|| entry_error(index, format!("entry {index} has no request")))?;
    let verb = request.get("method").and_then(Value::as_str).unwrap_or("");
    let url = request.get("url").and_then(Value::as_str).unwrap_or("");
    let method = match verb {
        "GET" | "HEAD" => Method::Get,
        "POST" => Method::Post,
        "PUT" | "PATCH" => Method::Put,
        "DELETE" => Method::Delete,
        _ => {
            return Err(entry_error(
                index,
                format!(
                    "entry {index}: request.method '{verb}' is not GET, POST, PUT, PATCH or DELETE"
                ),
            ))
        }
    };
    let local = url
        .strip_prefix(base_url)
        .unwrap_or(url)
        .trim_start_matches('/');
    let (path, query) = match local.split_once('?') {
        Some((p, q)) => (p, Some(parse_query(q))),
        None => (local, None),
    };
    let segments: Vec<&str> = path.split('/').collect();
    let (res_type, id, vid) = match segments.as_slice() {
        [t] => (*t, None, None),
        [t, id] => (*t, Some(*id), None),
        [t, id, "_history", vid] if method == Method::Get => (*t, Some(*id), Some(*vid)),
        _ => {
            return Err(entry_error(
                index,
                format!(
                    "entry {index}: request.url '{url}' is not [type], [type]/[id] or [type]?query"
                ),
            ))
        }
    };
    let named = |mut err: FhirError| {
        for issue in &mut err.issues {
            issue.diagnostics = format!("entry {index}: {}", issue.diagnostics);
            issue.expression = Some(format!("Bundle.entry[{index}].request.url"));
        }
        err
    };
    check_type(res_type).map_err(named)?;
    if let Some(id) = id {
        check_id(id).map_err(named)?;
    }
    let resource = raw.get("resource");
    let needs_resource = matches!(verb, "POST" | "PUT" | "PATCH");
    let shape_ok = match verb {
        "POST" => id.is_none(),
        "PUT" => id.is_some() != query.is_some(),
        "PATCH" => id.is_some(),
        "DELETE" => id.is_some() || query.is_some(),
        _ => true,
    };
    if !shape_ok {
        return Err(entry_error(
            index,
            format!("entry {index}: {verb} cannot be sent to '{url}'"),
        ));
    }
    if needs_resource && resource.is_none() {
        return Err(entry_error(
            index,
            format!("entry {index}: {verb} needs a resource"),
        ));
    }
    let patch = match verb {
        "PATCH" => Some(json_patch_of(index, resource)?),
        _ => None,
    };
    let if_none_exist = request
        .get("ifNoneExist")
        .and_then(Value::as_str)
        .map(|q| parse_query(q.trim_start_matches('?')));
    let if_match = match request.get("ifMatch").and_then(Value::as_str) {
        None => None,
        Some(tag) => Some(
            tag.trim_start_matches("W/")
                .trim_matches('"')
                .parse()
                .map_err(|_| {
                    entry_error(
                        index,
                        format!("entry {index}: ifMatch must look like W/\"3\", not '{tag}'"),
                    )
                })?,
        ),
    };
    Ok(Entry {
        index,
        full_url: raw.get("fullUrl").and_then(Value::as_str),
        method,
        verb,
        url,
        res_type: res_type.to_string(),
        id: id.map(str::to_string),
        vid: vid.map(str::to_string),
        query,
        resource: resource.filter(|_| verb != "PATCH"),
        patch,
        if_match,
        if_none_exist,
    })
}

/// A PATCH entry carries its JSON Patch as a Binary resource.
fn json_patch_of(index: usize, resource: Option<&Value>) -> Result<json_patch::Patch, FhirError> {
    let binary = resource.filter(|r| {
        r.get("resourceType").and_then(Value::as_str) == Some("Binary")
            && r.get("contentType").and_then(Value::as_str) == Some("application/json-patch+json")
    });
    let data = binary
        .and_then(|b| b.get("data"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            entry_error(
                index,
                format!("entry {index}: a PATCH entry needs a Binary with contentType application/json-patch+json and data"),
            )
        })?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| {
            entry_error(
                index,
                format!("entry {index}: Binary.data is not base64: {e}"),
            )
        })?;
    super::patch::operations(&bytes)
}

/// Settles an entry's identity before anything is written.
fn identify(
    tx: &mut Tx,
    rq: &mut Request,
    e: &Entry,
    fresh: &str,
    base_url: &str,
) -> Result<Target, FhirError> {
    let target = |id: Option<String>| Target { id, found: None };
    Ok(match (e.method, &e.id, &e.query) {
        (Method::Post, _, _) => match &e.if_none_exist {
            Some(q) => match single_match(tx, rq, &e.res_type, q, base_url)? {
                Some(v) => Target {
                    id: Some(v.res_id.clone()),
                    found: Some(v),
                },
                None => target(Some(fresh.to_string())),
            },
            None => target(Some(fresh.to_string())),
        },
        (Method::Put, None, Some(q)) => {
            let body = body_of_type(&e.res_type, resource(e)?)?;
            target(Some(conditional_target(
                tx,
                rq,
                &e.res_type,
                q,
                &body,
                fresh,
                base_url,
            )?))
        }
        (_, id, _) => target(id.clone()),
    })
}

fn resource<'a>(e: &Entry<'a>) -> Result<&'a Value, FhirError> {
    e.resource
        .ok_or_else(|| entry_error(e.index, format!("entry {} has no resource", e.index)))
}

/// Runs one entry whose identity is settled.
fn execute(
    tx: &mut Tx,
    rq: &mut Request,
    e: &Entry,
    target: &Target,
    names: &HashMap<String, String>,
    base_url: &str,
) -> Result<Outcome, FhirError> {
    let t = e.res_type.as_str();
    let body = |tx: &mut Tx, rq: &mut Request| -> Result<Map<String, Value>, FhirError> {
        let mut r = resource(e)?.clone();
        rewrite(tx, &rq.access, &mut r, names, base_url)?;
        body_of_type(t, &r)
    };
    Ok(match e.method {
        Method::Get => match (&e.id, &e.vid) {
            (Some(id), Some(vid)) => Outcome::Read(vread_in(tx, rq, t, id, vid)?),
            (Some(id), None) => Outcome::Read(read_in(tx, rq, t, id)?),
            (None, _) => {
                let params = e.query.clone().unwrap_or_default();
                Outcome::Searched(search::search_in(tx, rq, t, &params, base_url, false)?)
            }
        },
        Method::Delete => match (&e.id, &e.query) {
            (Some(id), _) => Outcome::Deleted(Some(delete_in(tx, rq, t, id, e.if_match)?)),
            (None, Some(q)) => Outcome::Deleted(delete_conditional_in(tx, rq, t, q, base_url)?),
            (None, None) => Outcome::Deleted(None),
        },
        Method::Post => match &target.found {
            Some(v) => Outcome::Found(v.clone()),
            None => {
                let id = target.id.as_deref().unwrap_or_default();
                let body = body(tx, rq)?;
                Outcome::Written(create_in(tx, rq, t, &body, id, None, base_url)?)
            }
        },
        Method::Put => {
            let id = target.id.as_deref().unwrap_or_default();
            match &e.patch {
                Some(ops) => {
                    Outcome::Written(super::patch::patch_in(tx, rq, t, id, ops, e.if_match)?)
                }
                None => {
                    let mut body = body(tx, rq)?;
                    if e.id.is_some() {
                        body_id_is(t, &body, Some(id))?;
                    } else {
                        body.insert("id".into(), Value::String(id.to_string()));
                    }
                    Outcome::Written(update_in(tx, rq, t, id, &body, e.if_match)?)
                }
            }
        }
    })
}

/// Rewrites every `reference` in a resource that names another entry's `fullUrl`, or that is
/// a conditional reference (`Type?query`, which must select exactly one resource).
fn rewrite(
    tx: &mut Tx,
    access: &Access,
    value: &mut Value,
    names: &HashMap<String, String>,
    base_url: &str,
) -> Result<(), FhirError> {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match (key.as_str(), v) {
                    ("reference", Value::String(r)) => {
                        if let Some(local) = resolve(tx, access, r, names, base_url)? {
                            *r = local;
                        }
                    }
                    (_, v) => rewrite(tx, access, v, names, base_url)?,
                }
            }
        }
        Value::Array(items) => {
            for v in items {
                rewrite(tx, access, v, names, base_url)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The `Type/id` a reference stands for, when it must be rewritten.
fn resolve(
    tx: &mut Tx,
    access: &Access,
    reference: &str,
    names: &HashMap<String, String>,
    base_url: &str,
) -> Result<Option<String>, FhirError> {
    if let Some(local) = names.get(reference) {
        return Ok(Some(local.clone()));
    }
    if reference.starts_with("urn:uuid:") || reference.starts_with("urn:oid:") {
        return Err(FhirError::bad_request(
            "not-found",
            format!("the reference '{reference}' names no fullUrl of this Bundle"),
        ));
    }
    let Some((res_type, query)) = reference.split_once('?') else {
        return Ok(None);
    };
    if res_type.contains('/') || !fhir_format::is_resource_type(res_type) {
        return Ok(None);
    }
    check_type(res_type)?;
    let found = search::matching(tx, access, res_type, &parse_query(query), base_url, 2)?;
    match found.as_slice() {
        [one] => Ok(Some(format!("{res_type}/{}", one.res_id))),
        [] => Err(FhirError::new(
            ErrorKind::PreconditionFailed,
            "not-found",
            format!("the conditional reference '{reference}' selects no resource"),
        )),
        _ => Err(FhirError::new(
            ErrorKind::PreconditionFailed,
            "multiple-matches",
            format!("the conditional reference '{reference}' selects more than one resource"),
        )),
    }
}

fn status_line(code: u16) -> String {
    let text = match code {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        409 => "Conflict",
        410 => "Gone",
        412 => "Precondition Failed",
        422 => "Unprocessable Entity",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    };
    format!("{code} {text}").trim_end().to_string()
}

/// The warnings a written entry raises.
fn warnings_of(tx: &mut Tx, outcome: &Outcome) -> Result<Vec<Issue>, FhirError> {
    match outcome {
        Outcome::Written(w) => super::warnings_in(tx, &w.version),
        _ => Ok(Vec::new()),
    }
}

/// One entry of a response Bundle; warnings go in its `response.outcome`.
fn response_entry(
    outcome: Outcome,
    warnings: &[Issue],
    base_url: &str,
) -> Result<Value, FhirError> {
    let version_entry = |v: &Version, code: u16| -> Result<Value, FhirError> {
        Ok(json!({
            "fullUrl": format!("{base_url}/{}/{}", v.res_type, v.res_id),
            "resource": v.resource()?,
            "response": {
                "status": status_line(code),
                "location": format!("{}/{}/_history/{}", v.res_type, v.res_id, v.version),
                "etag": format!("W/\"{}\"", v.version),
                "lastModified": format_instant(v.last_updated),
            },
        }))
    };
    match outcome {
        Outcome::Written(w) => {
            let mut entry = version_entry(&w.version, if w.created { 201 } else { 200 })?;
            if !warnings.is_empty() {
                entry["response"]["outcome"] = crate::error::operation_outcome(warnings);
            }
            Ok(entry)
        }
        Outcome::Found(v) | Outcome::Read(v) => version_entry(&v, 200),
        Outcome::Deleted(Some(w)) if !w.unchanged => Ok(json!({ "response": {
            "status": status_line(204),
            "etag": format!("W/\"{}\"", w.version.version),
        }})),
        Outcome::Deleted(_) => Ok(json!({ "response": { "status": status_line(204) } })),
        Outcome::Searched(b) => {
            Ok(json!({ "resource": b, "response": { "status": status_line(200) } }))
        }
    }
}
