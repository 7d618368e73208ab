//! The one error type of FHIR interactions: what went wrong (its kind decides the HTTP status)
//! and the issues an `OperationOutcome` reports.

use fhir_format::{Issue, Severity};
use serde_json::{json, Value};

use crate::store::StoreError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Gone,
    MethodNotAllowed,
    NotAcceptable,
    Conflict,
    PreconditionFailed,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unprocessable,
    Internal,
    Unavailable,
}

impl ErrorKind {
    /// The HTTP status code this kind of error is answered with.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::BadRequest => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::Gone => 410,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::NotAcceptable => 406,
            ErrorKind::Conflict => 409,
            ErrorKind::PreconditionFailed => 412,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::UnsupportedMediaType => 415,
            ErrorKind::Unprocessable => 422,
            ErrorKind::Internal => 500,
            ErrorKind::Unavailable => 503,
        }
    }
}

#[derive(Clone, Debug)]
pub struct FhirError {
    pub kind: ErrorKind,
    pub issues: Vec<Issue>,
}

impl FhirError {
    /// An error with a single issue of severity `error`.
    pub fn new(kind: ErrorKind, code: &'static str, diagnostics: impl Into<String>) -> Self {
        FhirError {
            kind,
            issues: vec![issue(Severity::Error, code, diagnostics, None)],
        }
    }

    /// Adds the location of the single issue.
    pub fn at(mut self, expression: impl Into<String>) -> Self {
        if let Some(i) = self.issues.last_mut() {
            i.expression = Some(expression.into());
        }
        self
    }

    pub fn bad_request(code: &'static str, diagnostics: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, code, diagnostics)
    }

    pub fn invalid_resource(issues: Vec<Issue>) -> Self {
        FhirError {
            kind: ErrorKind::BadRequest,
            issues,
        }
    }

    pub fn not_found(diagnostics: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, "not-found", diagnostics)
    }

    pub fn internal(diagnostics: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, "exception", diagnostics)
    }

    /// The error as an `OperationOutcome` resource.
    pub fn outcome(&self) -> Value {
        operation_outcome(&self.issues)
    }
}

impl std::fmt::Display for FhirError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let texts: Vec<&str> = self.issues.iter().map(|i| i.diagnostics.as_str()).collect();
        write!(f, "{:?}: {}", self.kind, texts.join("; "))
    }
}

impl From<StoreError> for FhirError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::VersionConflict { current } => FhirError::new(
                ErrorKind::PreconditionFailed,
                "conflict",
                match current {
                    Some(v) => format!("If-Match does not match the current version, which is {v}"),
                    None => "If-Match was given but the resource does not exist".to_string(),
                },
            ),
            StoreError::NotFound => FhirError::not_found("the resource does not exist"),
            StoreError::Deleted { version } => FhirError::new(
                ErrorKind::Gone,
                "deleted",
                format!("the resource was deleted (version {version})"),
            ),
            StoreError::TimedOut => crate::limits::exceeded(
                "the request took longer than the database allows one statement to run; nothing was changed"
                    .into(),
                "PZP_STATEMENT_TIMEOUT_MS",
            ),
            StoreError::Contention(what) => FhirError::new(
                ErrorKind::Conflict,
                "conflict",
                format!("{what} was changed concurrently by other requests; try again"),
            ),
            StoreError::Unavailable(detail) => {
                tracing::error!(%detail, "database unavailable");
                FhirError::new(
                    ErrorKind::Unavailable,
                    "transient",
                    "the database is not available at the moment",
                )
            }
            StoreError::Config(detail) | StoreError::Database(detail) => {
                tracing::error!(%detail, "database error");
                FhirError::internal("the database reported an error; nothing was changed")
            }
        }
    }
}

pub fn issue(
    severity: Severity,
    code: &'static str,
    diagnostics: impl Into<String>,
    expression: Option<String>,
) -> Issue {
    Issue {
        severity,
        code,
        diagnostics: diagnostics.into(),
        expression,
    }
}

/// Builds an `OperationOutcome` from issues.
pub fn operation_outcome(issues: &[Issue]) -> Value {
    let issues: Vec<Value> = issues
        .iter()
        .map(|i| {
            let mut v = json!({
                "severity": i.severity.as_str(),
                "code": i.code,
                "diagnostics": i.diagnostics,
            });
            if let Some(e) = &i.expression {
                v["expression"] = json!([e]);
            }
            v
        })
        .collect();
    json!({ "resourceType": "OperationOutcome", "issue": issues })
}

/// An informational `OperationOutcome`, e.g. for `Prefer: return=OperationOutcome`.
pub fn information(text: impl Into<String>) -> Value {
    operation_outcome(&[issue(Severity::Information, "informational", text, None)])
}
