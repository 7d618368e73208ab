//! FHIR R4 resources from bytes (JSON or XML) to a checked `serde_json::Value` and back.
//!
//! This is the only crate that touches fhirbolt, so that its defects are handled in one
//! place: it panics on some input (every call is guarded), it accepts invalid primitive
//! values and its errors carry no element path (our own table-driven check runs first),
//! and it rewrites narrative XHTML (divs are carried through it verbatim).
//!
//! serde_json is used with `arbitrary_precision` and `preserve_order` on purpose:
//! decimals keep their exact text (`72.50` stays `72.50`) and elements keep their order.

use serde_json::Value;
use std::fmt;

mod bolt;
mod check;
mod depth;
mod duplicates;
#[rustfmt::skip]
mod generated;
mod primitives;
mod required;
mod table;
mod xhtml;
mod xml;
mod xml_prepare;
mod xml_walk;

/// Wire format of a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

/// FHIR issue-severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Fatal,
    Error,
    Warning,
    Information,
}

impl Severity {
    /// The FHIR code (`fatal`, `error`, `warning`, `information`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Fatal => "fatal",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Information => "information",
        }
    }

    /// Whether an issue of this severity makes the resource unacceptable.
    pub fn is_failure(self) -> bool {
        matches!(self, Severity::Fatal | Severity::Error)
    }
}

/// One problem found in a resource, shaped like an `OperationOutcome.issue`.
#[derive(Clone, Debug, PartialEq)]
pub struct Issue {
    pub severity: Severity,
    /// FHIR issue-type code: "structure", "value", "invalid", "required", "not-supported", "too-long"...
    pub code: &'static str,
    /// Human readable: what is wrong and why.
    pub diagnostics: String,
    /// FHIRPath-style location, e.g. `Patient.name[0].given[1]`.
    pub expression: Option<String>,
}

impl Issue {
    fn new(severity: Severity, code: &'static str, diagnostics: impl Into<String>) -> Self {
        Issue {
            severity,
            code,
            diagnostics: diagnostics.into(),
            expression: None,
        }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.severity.as_str(),
            self.code,
            self.diagnostics
        )
    }
}

/// Bounds on the input a parse accepts, so that hostile input cannot exhaust the stack or
/// memory of the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Deepest element nesting accepted, counted while reading, before anything recurses:
    /// XML elements; JSON objects (an array holding a repeating element's values is not a
    /// level of its own, an array directly inside an array is); narrative XHTML elements
    /// count on from the depth of their `div`. JSON input is also bound by serde_json's own
    /// limit of 127 nested objects and arrays, which a `max_depth` above 64 can meet first.
    pub max_depth: usize,
}

impl Default for Limits {
    /// 32 levels: the deepest official R4 and IKNL examples nest 12 (a Questionnaire-
    /// Response's items in XML), and reading a resource costs fhirbolt about 30 KiB of stack
    /// per level in a debug build, so 32 levels take about half of a 2 MiB thread stack
    /// (64 would take nearly all of it).
    fn default() -> Self {
        Limits { max_depth: 32 }
    }
}

/// Parse one resource (any R4 type, Bundle included) and check it, within the default
/// `Limits`. Returns the resource as JSON.
///
/// JSON input is returned as given (element order and decimal text preserved); XML input
/// is converted to the equivalent FHIR JSON.
pub fn parse(bytes: &[u8], format: Format) -> Result<Value, Vec<Issue>> {
    parse_with(bytes, format, &Limits::default())
}

/// `parse` within the given limits.
pub fn parse_with(bytes: &[u8], format: Format, limits: &Limits) -> Result<Value, Vec<Issue>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match format {
        Format::Json => parse_json(bytes, limits),
        Format::Xml => xml::parse(bytes, limits),
    }
}

/// Serialise a (previously parsed / stored) resource as FHIR XML (fhirbolt's XML serialiser).
///
/// The resource is checked first (within the default `Limits`, so a deeper value is
/// refused rather than walked); the first failing issue is returned. fhirbolt always
/// indents, so `pretty: false` removes the whitespace between tags afterwards; narrative
/// XHTML is copied verbatim either way.
pub fn to_xml(resource: &Value, pretty: bool) -> Result<Vec<u8>, Issue> {
    xml::to_xml(resource, pretty)
}

/// Serialise as FHIR JSON.
pub fn to_json(resource: &Value, pretty: bool) -> Vec<u8> {
    let result = if pretty {
        serde_json::to_vec_pretty(resource)
    } else {
        serde_json::to_vec(resource)
    };
    // serialising a Value cannot fail
    result.unwrap_or_default()
}

/// Whether `name` is an R4 resource type (`Patient`, `Bundle`, ...).
pub fn is_resource_type(name: &str) -> bool {
    table::is_resource_type(name)
}

/// All R4 resource type names, sorted.
pub fn resource_types() -> &'static [&'static str] {
    generated::RESOURCE_TYPES
}

/// Whether `name` is an R4 complex data type (`HumanName`, `Quantity`, ...).
pub fn is_complex_type(name: &str) -> bool {
    table::is_complex_type(name)
}

/// Whether `name` is an R4 primitive data type (`date`, `dateTime`, ...).
pub fn is_primitive_type(name: &str) -> bool {
    table::is_primitive_type(name)
}

/// The data type a choice element's suffix names (`Quantity` in `valueQuantity`, `DateTime`
/// in `effectiveDateTime` → `dateTime`), if it is an R4 data type.
pub fn choice_type(suffix: &str) -> Option<&'static str> {
    generated::PRIMITIVE_TYPES
        .iter()
        .chain(generated::COMPLEX_TYPES)
        .find(|t| t.eq_ignore_ascii_case(suffix))
        .copied()
}

/// Validate an already-parsed JSON value (same checks as `parse` for JSON, within the
/// default `Limits`: a deeper value gets an issue, it is not walked).
///
/// Meant for the server after it edits a resource (e.g. `meta`). Empty when valid.
pub fn check(resource: &Value) -> Vec<Issue> {
    let issues = check::check_resource(resource, &Limits::default());
    if has_failure(&issues) {
        return issues;
    }
    match fhirbolt_json_gate(resource) {
        Ok(()) => issues,
        Err(issue) => vec![issue],
    }
}

fn parse_json(bytes: &[u8], limits: &Limits) -> Result<Value, Vec<Issue>> {
    depth::check_json(bytes, limits.max_depth).map_err(|issue| vec![issue])?;
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        vec![Issue::new(
            Severity::Fatal,
            "structure",
            format!("invalid JSON: {e}"),
        )]
    })?;
    let mut issues = duplicates::find(bytes, &value);
    issues.extend(check::check_resource(&value, limits));
    if has_failure(&issues) {
        return Err(issues);
    }
    fhirbolt_json_gate(&value).map_err(|issue| vec![issue])?;
    Ok(value)
}

/// fhirbolt's strict deserialisation as the final word on structure.
fn fhirbolt_json_gate(resource: &Value) -> Result<(), Issue> {
    let mut copy = resource.clone();
    required::fill_json(&mut copy);
    let bytes = serde_json::to_vec(&copy).map_err(|e| {
        Issue::new(
            Severity::Fatal,
            "exception",
            format!("cannot serialise the resource: {e}"),
        )
    })?;
    bolt::from_json(&bytes).map(|_| ())
}

fn has_failure(issues: &[Issue]) -> bool {
    issues.iter().any(|issue| issue.severity.is_failure())
}
