//! The FHIR REST interactions (create, read, vread, update, delete, history) over the store:
//! preconditions, ids, `meta`, and history Bundles. Formats and headers belong to `http`.

mod history;
mod patch;
mod search;

use serde_json::{Map, Value};

use crate::capability;
use crate::error::{ErrorKind, FhirError};
use crate::store::{Change, Rendered, Store, Version, Written};

pub use history::{history, HistoryParams};
pub use patch::patch;
pub use search::search;

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

/// Renders a stored timestamp (microseconds since the epoch) as a FHIR instant.
pub fn format_instant(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// The current version of a resource; 410 when it was deleted, 404 when it never existed.
pub fn read(store: &Store, res_type: &str, id: &str) -> Result<Version, FhirError> {
    check_type(res_type)?;
    check_id(id)?;
    match store.current(res_type, id)? {
        Some(v) if v.deleted => Err(gone(&v)),
        Some(v) => Ok(v),
        None => Err(FhirError::not_found(format!(
            "{res_type}/{id} does not exist"
        ))),
    }
}

/// One version of a resource.
pub fn vread(store: &Store, res_type: &str, id: &str, vid: &str) -> Result<Version, FhirError> {
    check_type(res_type)?;
    check_id(id)?;
    let version: i64 = vid.parse().ok().filter(|v| *v > 0).ok_or_else(|| {
        FhirError::bad_request(
            "value",
            format!("'{vid}' is not a version id of this server"),
        )
    })?;
    match store.version(res_type, id, version)? {
        Some(v) if v.deleted => Err(gone(&v)),
        Some(v) => Ok(v),
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
/// spec requires).
pub fn create(store: &Store, res_type: &str, resource: Value) -> Result<Written, FhirError> {
    check_type(res_type)?;
    let body = body_of_type(res_type, resource)?;
    let id = uuid::Uuid::new_v4().to_string();
    let render = |_: Option<&str>, version, last_updated| {
        Ok::<_, FhirError>(with_meta(&body, &id, version, last_updated))
    };
    store.write(Change::Create, res_type, &id, None, &render)
}

/// Updates (or, with a new id, creates) the resource at `res_type/id`.
pub fn update(
    store: &Store,
    res_type: &str,
    id: &str,
    resource: Value,
    if_match: Option<i64>,
) -> Result<Written, FhirError> {
    check_type(res_type)?;
    check_id(id)?;
    let body = body_of_type(res_type, resource)?;
    match body.get("id").and_then(Value::as_str) {
        None => {
            return Err(FhirError::bad_request(
                "required",
                format!(
                    "the resource has no id; an update of {res_type}/{id} must carry id '{id}'"
                ),
            )
            .at(format!("{res_type}.id")))
        }
        Some(body_id) if body_id != id => {
            return Err(FhirError::bad_request(
                "invalid",
                format!("the id in the body ('{body_id}') differs from the id in the URL ('{id}')"),
            )
            .at(format!("{res_type}.id")))
        }
        Some(_) => {}
    }
    let render = |_: Option<&str>, version, last_updated| {
        Ok::<_, FhirError>(with_meta(&body, id, version, last_updated))
    };
    store.write(Change::Update, res_type, id, if_match, &render)
}

/// Deletes a resource logically: later reads answer 410 and the history keeps every version.
pub fn delete(
    store: &Store,
    res_type: &str,
    id: &str,
    if_match: Option<i64>,
) -> Result<Written, FhirError> {
    check_type(res_type)?;
    check_id(id)?;
    let nothing = |_: Option<&str>, _, _| {
        Ok::<_, FhirError>(Rendered {
            content: String::new(),
            index: Vec::new(),
        })
    };
    store.write(Change::Delete, res_type, id, if_match, &nothing)
}

fn body_of_type(res_type: &str, resource: Value) -> Result<Map<String, Value>, FhirError> {
    let Value::Object(map) = resource else {
        return Err(FhirError::bad_request(
            "structure",
            "the body is not a FHIR resource",
        ));
    };
    match map.get("resourceType").and_then(Value::as_str) {
        Some(t) if t == res_type => Ok(map),
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
/// are taken from this final form, so `_lastUpdated` is indexed too.
fn with_meta(body: &Map<String, Value>, id: &str, version: i64, last_updated: i64) -> Rendered {
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
    Rendered {
        index: crate::search::extract(&resource),
        content: resource.to_string(),
    }
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
        let text = with_meta(&map, "p", 2, 0).content;
        assert_eq!(
            text,
            r#"{"resourceType":"Patient","id":"p","meta":{"versionId":"2","lastUpdated":"1970-01-01T00:00:00.000000Z","profile":["x"]},"active":true}"#
        );
    }
}
