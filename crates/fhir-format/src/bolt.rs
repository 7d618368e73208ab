//! Every fhirbolt call, guarded against its panics.
//!
//! Strict mode only: the caller has added markers for missing required elements (see
//! `required`), which strict mode would otherwise refuse.

use std::panic::{catch_unwind, AssertUnwindSafe};

use fhirbolt::model::r4::Resource;

use crate::{Issue, Severity};

pub(crate) fn from_json(bytes: &[u8]) -> Result<Resource, Issue> {
    guarded("reading JSON", || {
        fhirbolt::json::from_slice::<Resource>(bytes, None)
    })?
    .map_err(|e| {
        Issue::new(
            Severity::Error,
            "structure",
            format!("invalid FHIR JSON: {e}"),
        )
    })
}

pub(crate) fn from_xml(bytes: &[u8]) -> Result<Resource, Issue> {
    guarded("reading XML", || {
        fhirbolt::xml::from_slice::<Resource>(bytes, None)
    })?
    .map_err(|e| {
        Issue::new(
            Severity::Error,
            "structure",
            format!("invalid FHIR XML: {e}"),
        )
    })
}

pub(crate) fn to_json(resource: &Resource) -> Result<Vec<u8>, Issue> {
    guarded("writing JSON", || fhirbolt::json::to_vec(resource, None))?.map_err(|e| {
        Issue::new(
            Severity::Error,
            "value",
            format!("cannot write the resource as JSON: {e}"),
        )
    })
}

pub(crate) fn to_xml(resource: &Resource) -> Result<Vec<u8>, Issue> {
    guarded("writing XML", || fhirbolt::xml::to_vec(resource, None))?.map_err(|e| {
        Issue::new(
            Severity::Error,
            "value",
            format!("cannot write the resource as XML: {e}"),
        )
    })
}

/// Run a fhirbolt call; a panic in it becomes an issue instead of taking the caller down.
fn guarded<T>(what: &str, call: impl FnOnce() -> T) -> Result<T, Issue> {
    catch_unwind(AssertUnwindSafe(call)).map_err(|panic| {
        let detail = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".to_string());
        Issue::new(
            Severity::Fatal,
            "exception",
            format!("the FHIR library failed while {what}: {detail}"),
        )
    })
}
