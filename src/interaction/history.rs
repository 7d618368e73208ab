//! History at system, type and instance level as a `history` Bundle, newest first, with
//! cursor paging that stays correct while new versions are written.

use serde_json::{json, Value};

use super::{audited_read, check_id, check_type, format_instant, visible_current};
use crate::audit::Event;
use crate::auth::scope::Permission;
use crate::auth::{Principal, Role};
use crate::error::{ErrorKind, FhirError};
use crate::store::{HistoryEntry, HistoryQuery, HistoryScope, Store};

/// Default and largest page sizes.
const DEFAULT_COUNT: i64 = 50;
const MAX_COUNT: i64 = 1000;

/// The page size `_count` asks for: a whole number, capped at the largest page.
pub(super) fn page_size(count: Option<&str>) -> Result<i64, FhirError> {
    match count {
        None => Ok(DEFAULT_COUNT),
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| n.min(MAX_COUNT))
            .ok_or_else(|| {
                FhirError::bad_request("value", format!("_count must be a whole number, not '{c}'"))
                    .at("_count")
            }),
    }
}

/// The query parameters of a history request, still as text.
#[derive(Clone, Debug, Default)]
pub struct HistoryParams {
    pub count: Option<String>,
    pub since: Option<String>,
    pub cursor: Option<String>,
    /// Parameters echoed into the paging links unchanged (`_format`, `_pretty`).
    pub passthrough: Vec<(String, String)>,
}

/// Reads one page of history and wraps it in a Bundle whose links carry the paging cursor.
///
/// The history of one resource is open to whoever may read it. Type and system history are
/// an organisation's feed of what it recorded itself: they hold the versions of resources the
/// caller's organisation wrote (other organisations' data is reached through search), and
/// are not open to patients.
pub fn history(
    store: &Store,
    who: &Principal,
    scope: HistoryScope,
    params: &HistoryParams,
    base_url: &str,
) -> Result<Value, FhirError> {
    let path = match &scope {
        HistoryScope::System => "_history".to_string(),
        HistoryScope::Type(t) => {
            check_type(t)?;
            format!("{t}/_history")
        }
        HistoryScope::Instance(t, id) => {
            check_type(t)?;
            check_id(id)?;
            format!("{t}/{id}/_history")
        }
    };
    let count = page_size(params.count.as_deref())?;
    let since = params.since.as_deref().map(parse_since).transpose()?;
    let before_seq = match &params.cursor {
        None => None,
        Some(c) => Some(c.parse::<i64>().map_err(|_| {
            FhirError::bad_request(
                "value",
                format!("'{c}' is not a paging cursor of this server"),
            )
            .at("_cursor")
        })?),
    };

    let event = match &scope {
        HistoryScope::Instance(t, id) => Event::about("history-instance", t, id),
        HistoryScope::Type(t) => Event::new("history-type", Some(t)),
        HistoryScope::System => Event::new("history-system", None),
    };
    let recorded_by = audited_read(store, who, event, |tx, rq| {
        match &scope {
            HistoryScope::Instance(t, id) => {
                rq.access.require(t, Permission::Read)?;
                if t == "AuditEvent" && rq.access.own_patients().is_some() {
                    return Err(FhirError::new(
                        ErrorKind::Forbidden,
                        "forbidden",
                        "a patient reads their audit trail by search (AuditEvent?patient=…)",
                    ));
                }
                if visible_current(tx, &rq.access, t, id)?.is_none() {
                    return Err(FhirError::not_found(format!("{t}/{id} does not exist")));
                }
                return Ok(None);
            }
            HistoryScope::Type(t) => rq.access.require(t, Permission::Read)?,
            HistoryScope::System => {}
        }
        match (&who.ura, who.role) {
            (Some(ura), r) if r != Role::Patient => Ok(Some(ura.clone())),
            _ => Err(FhirError::new(
                ErrorKind::Forbidden,
                "forbidden",
                "type and system history are an organisation's feed of what it recorded; a patient reads their record by search",
            )),
        }
    })?;
    let total = store.history_total(&scope, since, recorded_by.as_deref())?;
    let mut entries = store.history(&HistoryQuery {
        scope,
        since,
        before_seq,
        limit: count + 1,
        recorded_by,
    })?;
    let more = entries.len() as i64 > count;
    entries.truncate(count as usize);

    let link = |cursor: Option<i64>| -> String {
        let mut query: Vec<(String, String)> = vec![("_count".into(), count.to_string())];
        if let Some(s) = &params.since {
            query.push(("_since".into(), s.clone()));
        }
        if let Some(c) = cursor {
            query.push(("_cursor".into(), c.to_string()));
        }
        query.extend(params.passthrough.iter().cloned());
        let q: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{k}={}", encode_query_value(v)))
            .collect();
        format!("{base_url}/{path}?{}", q.join("&"))
    };
    let mut links = vec![json!({ "relation": "self", "url": link(before_seq) })];
    if more {
        if let Some(last) = entries.last() {
            links.push(json!({ "relation": "next", "url": link(Some(last.seq)) }));
        }
    }
    let entries = entries
        .iter()
        .map(|e| history_entry(e, base_url))
        .collect::<Result<Vec<Value>, FhirError>>()?;
    let mut bundle = json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "meta": { "lastUpdated": format_instant(chrono::Utc::now().timestamp_micros()) },
        "type": "history",
        "total": total,
        "link": links,
    });
    // FHIR JSON has no empty arrays: an empty page has no `entry` at all.
    if !entries.is_empty() {
        bundle["entry"] = Value::Array(entries);
    }
    Ok(bundle)
}

fn history_entry(e: &HistoryEntry, base_url: &str) -> Result<Value, FhirError> {
    let (request_url, status) = match e.method.as_str() {
        "POST" => (e.res_type.clone(), "201"),
        "DELETE" => (format!("{}/{}", e.res_type, e.res_id), "204"),
        _ => (
            format!("{}/{}", e.res_type, e.res_id),
            if e.version == 1 { "201" } else { "200" },
        ),
    };
    let mut entry = json!({ "fullUrl": format!("{base_url}/{}/{}", e.res_type, e.res_id) });
    if let Some(content) = &e.content {
        let resource: Value = serde_json::from_str(content)
            .map_err(|err| FhirError::internal(format!("stored resource is unreadable: {err}")))?;
        entry["resource"] = resource;
    }
    entry["request"] = json!({ "method": e.method, "url": request_url });
    entry["response"] = json!({
        "status": status,
        "etag": format!("W/\"{}\"", e.version),
        "lastModified": format_instant(e.last_updated),
    });
    Ok(entry)
}

/// `_since` takes a FHIR instant; a dateTime without a time means the start of that day (UTC).
fn parse_since(text: &str) -> Result<i64, FhirError> {
    let parsed = chrono::DateTime::parse_from_rfc3339(text)
        .map(|d| d.timestamp_micros())
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map(|d| {
                d.and_hms_opt(0, 0, 0)
                    .unwrap_or_default()
                    .and_utc()
                    .timestamp_micros()
            })
        });
    parsed.map_err(|_| {
        FhirError::bad_request(
            "value",
            format!("_since must be an instant such as 2026-01-31T12:00:00Z, not '{text}'"),
        )
        .at("_since")
    })
}

/// Percent-encodes a query value (everything but RFC 3986 unreserved characters).
pub fn encode_query_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_instants_and_dates() {
        assert_eq!(parse_since("1970-01-01T00:00:01Z").unwrap(), 1_000_000);
        assert_eq!(parse_since("1970-01-01T01:00:01+01:00").unwrap(), 1_000_000);
        assert_eq!(parse_since("1970-01-02").unwrap(), 86_400_000_000);
        assert!(parse_since("yesterday").is_err());
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(encode_query_value("a+b c/é"), "a%2Bb%20c%2F%C3%A9");
    }
}
