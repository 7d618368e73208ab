//! PATCH with JSON Patch (RFC 6902): the operations are applied to the current version inside
//! the write transaction, so concurrent patches never lose each other's changes.

use serde_json::Value;

use super::{audited, body_of_type, check_id, check_type, with_meta, Request};
use crate::audit::Event;
use crate::auth::Principal;
use crate::error::{ErrorKind, FhirError};
use crate::store::{Change, Store, Tx, Written};

/// Parses a JSON Patch document of at most `PZP_MAX_PATCH_OPERATIONS` operations.
pub(crate) fn operations(body: &[u8]) -> Result<json_patch::Patch, FhirError> {
    let limits = crate::limits::get();
    let ops: json_patch::Patch = serde_json::from_slice(body).map_err(|e| {
        FhirError::bad_request(
            "structure",
            format!("the body is not a JSON Patch document (an array of operations): {e}"),
        )
    })?;
    if ops.len() > limits.patch_operations {
        return Err(crate::limits::exceeded(
            format!(
                "the patch has {} operations, more than {}",
                ops.len(),
                limits.patch_operations
            ),
            "PZP_MAX_PATCH_OPERATIONS",
        ));
    }
    Ok(ops)
}

/// Applies `ops` to `doc` one at a time, refusing before an operation that could make the
/// resource larger than `PZP_MAX_RESOURCE_BYTES`: a `copy` of an array onto itself doubles it,
/// and a few dozen of them would take all memory. The size kept is an upper bound (what
/// operations add, never what they remove).
pub fn apply_bounded(doc: &mut Value, ops: &[json_patch::PatchOperation]) -> Result<(), FhirError> {
    use json_patch::PatchOperation as Op;
    let most = crate::limits::get().resource_bytes;
    let size = |v: &Value| serde_json::to_vec(v).map_or(usize::MAX, |b| b.len());
    let mut bound = size(doc);
    for (i, op) in ops.iter().enumerate() {
        bound = bound.saturating_add(match op {
            Op::Add(a) => size(&a.value),
            Op::Replace(r) => size(&r.value),
            Op::Copy(c) => doc.pointer(c.from.as_str()).map_or(0, size),
            Op::Remove(_) | Op::Move(_) | Op::Test(_) => 0,
        });
        if bound > most {
            return Err(crate::limits::exceeded(
                format!(
                    "operation {i} of the patch could make the resource larger than {most} bytes"
                ),
                "PZP_MAX_RESOURCE_BYTES",
            ));
        }
        json_patch::patch(doc, std::slice::from_ref(op)).map_err(|e| {
            FhirError::new(
                ErrorKind::Unprocessable,
                "processing",
                format!("the patch cannot be applied: operation {i}: {}", e.kind),
            )
        })?;
    }
    Ok(())
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
        apply_bounded(&mut doc, ops)?;
        // Parsed again as if sent whole: the same depth limit and checks as a PUT.
        let text = fhir_format::to_json(&doc, false);
        let limits = crate::limits::get().format();
        let doc = fhir_format::parse_with(&text, fhir_format::Format::Json, &limits).map_err(
            |issues| FhirError {
                kind: ErrorKind::Unprocessable,
                issues,
            },
        )?;
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
