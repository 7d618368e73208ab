//! The conformance package as FHIR resources: published into the store at start, so that read
//! and search work on it like on anything else, and kept read-only.

use serde_json::Value;

use super::with_meta;
use crate::error::{ErrorKind, FhirError};
use crate::store::{Change, Store};
use crate::validation;

/// Stores every package resource whose content differs from its current version (so a restart
/// with the same package writes nothing). Returns how many were written.
pub fn publish(store: &Store) -> Result<usize, FhirError> {
    let mut written = 0;
    for resource in validation::package().resources() {
        let (Some(res_type), Some(id)) = (
            resource.get("resourceType").and_then(Value::as_str),
            resource.get("id").and_then(Value::as_str),
        ) else {
            continue;
        };
        let Value::Object(body) = resource else {
            continue;
        };
        let current = store.current(res_type, id)?;
        let same = current
            .and_then(|v| v.content)
            .and_then(|c| serde_json::from_str::<Value>(&c).ok())
            .is_some_and(|mut stored| {
                if let Some(meta) = stored.get_mut("meta").and_then(Value::as_object_mut) {
                    meta.remove("versionId");
                    meta.remove("lastUpdated");
                    if meta.is_empty() {
                        stored.as_object_mut().map(|o| o.remove("meta"));
                    }
                }
                &stored == resource
            });
        if same {
            continue;
        }
        store.transaction(|tx| {
            let render =
                |_: Option<&str>, version, last_updated| with_meta(body, id, version, last_updated);
            tx.write(Change::Update, res_type, id, None, &render)
        })?;
        written += 1;
    }
    Ok(written)
}

/// Refuses changes to a resource of the package (it is the server's own definition) and to
/// the audit trail.
pub fn writable(res_type: &str, id: &str) -> Result<(), FhirError> {
    writable_type(res_type)?;
    if validation::package().owns(res_type, id) {
        return Err(FhirError::new(
            ErrorKind::MethodNotAllowed,
            "forbidden",
            format!(
                "{res_type}/{id} belongs to this server's conformance package and is read-only"
            ),
        ));
    }
    Ok(())
}

/// Refuses every change to the audit trail: it is written by the server alone.
pub fn writable_type(res_type: &str) -> Result<(), FhirError> {
    if res_type == "AuditEvent" {
        return Err(FhirError::new(
            ErrorKind::MethodNotAllowed,
            "forbidden",
            "AuditEvents are written by the server for every access and are never created, changed or deleted through the API",
        ));
    }
    Ok(())
}
