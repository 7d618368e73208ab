//! Content negotiation: which FHIR format a request body is in and which one the answer uses
//! (`_format` over `Accept`), plus the query-string parsing FHIR needs.

use actix_web::http::header;
use actix_web::HttpRequest;
use fhir_format::Format;

use crate::error::{ErrorKind, FhirError};
use crate::interaction::{parse_query, percent_decode};

/// How to write the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Output {
    pub format: Format,
    pub pretty: bool,
}

impl Default for Output {
    fn default() -> Self {
        Output {
            format: Format::Json,
            pretty: false,
        }
    }
}

impl Output {
    pub fn content_type(self) -> &'static str {
        match self.format {
            Format::Json => "application/fhir+json; charset=utf-8",
            Format::Xml => "application/fhir+xml; charset=utf-8",
        }
    }
}

/// Query parameters in order, percent-decoded (a `+` stays a `+`).
pub fn query_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    parse_query(req.query_string())
}

pub fn query_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Whether the body is an HTML-form style parameter list.
pub fn is_form(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Parameters of a form body, where (unlike in a FHIR query string) `+` means a space.
pub fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

fn format_of_mime(mime: &str) -> Option<Format> {
    match mime {
        "application/fhir+json" | "application/json" | "application/json+fhir" | "json" => {
            Some(Format::Json)
        }
        "application/fhir+xml"
        | "application/xml"
        | "application/xml+fhir"
        | "text/xml"
        | "xml" => Some(Format::Xml),
        _ => None,
    }
}

/// Decides the answer's format from `_format`, then `Accept`; JSON when neither says.
/// Whether the client asked for a page to read or print (`_format=html`, or a browser's
/// `Accept` that names `text/html` before any FHIR format), where an operation offers one.
pub fn wants_html(req: &HttpRequest) -> bool {
    let pairs = query_pairs(req);
    if let Some(f) = query_value(&pairs, "_format") {
        return matches!(f.trim().to_ascii_lowercase().as_str(), "html" | "text/html");
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let html = accept.find("text/html");
    let data = ["json", "xml"].iter().filter_map(|f| accept.find(f)).min();
    match (html, data) {
        (Some(h), Some(d)) => h < d,
        (Some(_), None) => true,
        _ => false,
    }
}

pub fn output(req: &HttpRequest) -> Result<Output, FhirError> {
    let pairs = query_pairs(req);
    let pretty = matches!(query_value(&pairs, "_pretty"), Some("true"));
    if let Some(f) = query_value(&pairs, "_format") {
        // An unencoded '+' may still arrive as a space from form-encoding clients.
        let wanted = f.trim().replace(' ', "+").to_ascii_lowercase();
        let mime = wanted.split(';').next().unwrap_or_default().trim();
        return match format_of_mime(mime) {
            Some(format) => Ok(Output { format, pretty }),
            None => Err(FhirError::new(
                ErrorKind::NotAcceptable,
                "not-supported",
                format!("_format '{f}' is not supported; use json or xml"),
            )
            .at("_format")),
        };
    }
    let Some(accept) = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|h| h.to_str().ok())
    else {
        return Ok(Output {
            format: Format::Json,
            pretty,
        });
    };
    let mut best: Option<(f32, Format)> = None;
    for part in accept.split(',') {
        let mut pieces = part.split(';');
        let mime = pieces
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let q = pieces
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let format = match mime.as_str() {
            "*/*" | "application/*" | "" => Some(Format::Json),
            "text/*" => Some(Format::Xml),
            other => format_of_mime(other),
        };
        if let Some(format) = format {
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, format));
            }
        }
    }
    match best {
        Some((_, format)) => Ok(Output { format, pretty }),
        None => Err(FhirError::new(
            ErrorKind::NotAcceptable,
            "not-supported",
            format!(
                "none of the media types in Accept ('{accept}') is supported; \
                 use application/fhir+json or application/fhir+xml"
            ),
        )),
    }
}

/// The format of a request body, from its Content-Type.
pub fn input(req: &HttpRequest) -> Result<Format, FhirError> {
    let unsupported =
        |detail: String| FhirError::new(ErrorKind::UnsupportedMediaType, "not-supported", detail);
    let Some(ct) = req.headers().get(header::CONTENT_TYPE) else {
        return Err(unsupported(
            "Content-Type is required: application/fhir+json or application/fhir+xml".into(),
        ));
    };
    let ct = ct.to_str().unwrap_or_default();
    let mime = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    format_of_mime(&mime).filter(|_| mime.contains('/')).ok_or_else(|| {
        unsupported(format!(
            "Content-Type '{ct}' is not supported; use application/fhir+json or application/fhir+xml"
        ))
    })
}

/// PATCH bodies must be JSON Patch documents.
pub fn json_patch_input(req: &HttpRequest) -> Result<(), FhirError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let mime = ct.split(';').next().unwrap_or_default().trim();
    if mime.eq_ignore_ascii_case("application/json-patch+json") {
        Ok(())
    } else {
        Err(FhirError::new(
            ErrorKind::UnsupportedMediaType,
            "not-supported",
            format!(
                "PATCH takes a JSON Patch document with Content-Type application/json-patch+json, \
                 not '{ct}' (FHIRPath Patch is not supported)"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn out(uri: &str, accept: Option<&str>) -> Result<Output, FhirError> {
        let mut r = TestRequest::get().uri(uri);
        if let Some(a) = accept {
            r = r.insert_header((header::ACCEPT, a));
        }
        output(&r.to_http_request())
    }

    #[test]
    fn format_parameter_wins_over_accept() {
        let o = out(
            "/Patient/1?_format=xml&_pretty=true",
            Some("application/fhir+json"),
        )
        .unwrap();
        assert_eq!(
            o,
            Output {
                format: Format::Xml,
                pretty: true
            }
        );
        let o = out("/Patient/1?_format=application/fhir+json", Some("text/xml")).unwrap();
        assert_eq!(o.format, Format::Json);
        let o = out("/Patient/1?_format=application%2Ffhir%2Bxml", None).unwrap();
        assert_eq!(o.format, Format::Xml);
        assert_eq!(
            out("/Patient/1?_format=turtle", None).unwrap_err().kind,
            ErrorKind::NotAcceptable
        );
    }

    #[test]
    fn accept_uses_quality_values() {
        assert_eq!(
            out(
                "/",
                Some("application/fhir+xml;q=0.5, application/fhir+json")
            )
            .unwrap()
            .format,
            Format::Json
        );
        assert_eq!(
            out("/", Some("text/html,application/xml;q=0.9,*/*;q=0.8"))
                .unwrap()
                .format,
            Format::Xml
        );
        assert_eq!(out("/", Some("*/*")).unwrap().format, Format::Json);
        assert_eq!(out("/", None).unwrap().format, Format::Json);
        assert_eq!(
            out("/", Some("image/png")).unwrap_err().kind,
            ErrorKind::NotAcceptable
        );
    }

    #[test]
    fn query_keeps_plus_and_decodes_percent() {
        let r = TestRequest::get()
            .uri("/x?_since=2026-01-01T00:00:00+01:00&a=%C3%A9%2")
            .to_http_request();
        let p = query_pairs(&r);
        assert_eq!(p[0].1, "2026-01-01T00:00:00+01:00");
        assert_eq!(p[1].1, "é%2");
    }
}
