//! PATCH with JSON Patch (RFC 6902): the operations are applied to the current version inside
//! the write transaction, so concurrent patches never lose each other's changes.

use serde_json::Value;

use super::{audited, body_of_type, check_id, check_type, with_meta, Request};
use crate::audit::Event;
use crate::auth::Principal;
use crate::error::{ErrorKind, FhirError};
use crate::store::{Change, Store, Tx, Written};

/// Parses a JSON Patch document.
pub(crate) fn operations(body: &[u8]) -> Result<json_patch::Patch, FhirError> {
    serde_json::from_slice(body).map_err(|e| {
        FhirError::bad_request(
            "structure",
            format!("the body is not a JSON Patch document (an array of operations): {e}"),
        )
    })
}

/// Applies `body` (a JSON Patch document) to `res_type/id` and stores the result as a new
/// version, after checking it is still a valid resource of the same type and id.
pub fn patch(
    store: &Store,
    who: &Principal,
    res_type: &str,
    id: &str,
    body: &[u8],
    if_match: Option<i64>,
) -> Result<Written, FhirError> {
    check_type(res_type)?;
    check_id(id)?;
    let ops = operations(body)?;
    let event = Event::about("patch", res_type, id);
    audited(store, who, event, |tx, rq| {
        patch_in(tx, rq, res_type, id, &ops, if_match)
    })
}

/// [`patch`] inside the caller's transaction.
pub(crate) fn patch_in(
    tx: &mut Tx,
    rq: &mut Request,
    res_type: &str,
    id: &str,
    ops: &json_patch::Patch,
    if_match: Option<i64>,
) -> Result<Written, FhirError> {
    let render = |current: Option<&str>, version, last_updated| {
        let mut doc: Value = serde_json::from_str(current.unwrap_or_default())
            .map_err(|e| FhirError::internal(format!("stored resource is unreadable: {e}")))?;
        json_patch::patch(&mut doc, ops).map_err(|e| {
            FhirError::new(
                ErrorKind::Unprocessable,
                "processing",
                format!("the patch cannot be applied: {e}"),
            )
        })?;
        let failures: Vec<_> = fhir_format::check(&doc)
            .into_iter()
            .filter(|i| i.severity.is_failure())
            .collect();
        if !failures.is_empty() {
            return Err(FhirError {
                kind: ErrorKind::Unprocessable,
                issues: failures,
            });
        }
        let body = body_of_type(res_type, &doc)?;
        if body.get("id").and_then(Value::as_str) != Some(id) {
            return Err(FhirError::new(
                ErrorKind::Unprocessable,
                "processing",
                format!("a patch may not change or remove the id of {res_type}/{id}"),
            )
            .at(format!("{res_type}.id")));
        }
        with_meta(&body, id, version, last_updated)
    };
    super::write_checked(tx, rq, Change::Edit, res_type, id, if_match, &render)
}
