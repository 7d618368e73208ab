//! Turning resources and errors into HTTP answers in the negotiated format.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, HttpResponseBuilder};
use fhir_format::Format;
use serde_json::Value;

use super::negotiate::Output;
use crate::error::{ErrorKind, FhirError};

pub fn status_of(kind: ErrorKind) -> StatusCode {
    StatusCode::from_u16(kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A resource body ready to send: either the stored JSON text (sent as is when possible) or a
/// value built for this answer.
pub enum Body {
    Text(String),
    Value(Value),
}

/// Serialises a resource in the requested format.
pub fn serialize(body: Body, out: Output) -> Result<Vec<u8>, FhirError> {
    match (body, out.format, out.pretty) {
        (Body::Text(t), Format::Json, false) => Ok(t.into_bytes()),
        (Body::Value(v), Format::Json, pretty) => Ok(fhir_format::to_json(&v, pretty)),
        (Body::Text(t), format, pretty) => {
            let v: Value = serde_json::from_str(&t)
                .map_err(|e| FhirError::internal(format!("stored resource is unreadable: {e}")))?;
            serialize(Body::Value(v), Output { format, pretty })
        }
        (Body::Value(v), Format::Xml, pretty) => {
            fhir_format::to_xml(&v, pretty).map_err(|i| FhirError {
                kind: ErrorKind::Internal,
                issues: vec![i],
            })
        }
    }
}

/// Sends `body` with the builder's status and headers, or the error if it cannot be written.
pub fn send(mut builder: HttpResponseBuilder, body: Body, out: Output) -> HttpResponse {
    match serialize(body, out) {
        Ok(bytes) => builder
            .insert_header((header::CONTENT_TYPE, out.content_type()))
            .body(bytes),
        Err(e) => error(&e, out),
    }
}

/// An error as an `OperationOutcome`; falls back to JSON if even that cannot be written as XML.
pub fn error(e: &FhirError, out: Output) -> HttpResponse {
    let status = status_of(e.kind);
    if status.is_server_error() {
        tracing::error!(error = %e, "request failed");
    }
    let outcome = e.outcome();
    let (bytes, out) = match serialize(Body::Value(outcome.clone()), out) {
        Ok(b) => (b, out),
        Err(_) => {
            let json = Output {
                format: Format::Json,
                pretty: out.pretty,
            };
            (fhir_format::to_json(&outcome, out.pretty), json)
        }
    };
    let mut builder = HttpResponse::build(status);
    if e.kind == ErrorKind::Unauthorized {
        // RFC 6750: the description may not hold a double quote or backslash.
        let text: String = e
            .issues
            .first()
            .map(|i| i.diagnostics.replace(['"', '\\'], "'"))
            .unwrap_or_default();
        builder.insert_header((
            header::WWW_AUTHENTICATE,
            format!(
                "Bearer realm=\"pzp-fhir\", error=\"invalid_token\", error_description=\"{text}\""
            ),
        ));
    }
    builder
        .insert_header((header::CONTENT_TYPE, out.content_type()))
        .body(bytes)
}
