//! XML input made digestible for fhirbolt, before it reads it.
//!
//! - Narrative divs are replaced by placeholders (see `xhtml`), so their text survives.
//! - fhirbolt rejects any prefixed attribute, so the common
//!   `xmlns:xsi="..." xsi:schemaLocation="..."` of FHIR examples, and FHIR elements
//!   written with a namespace prefix (`<f:Patient xmlns:f="http://hl7.org/fhir">`), are
//!   rewritten into the plain form.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::NsReader;

use crate::xhtml::{self, XHTML_NAMESPACE};
use crate::{depth, Issue, Severity};

pub(crate) const FHIR_NAMESPACE: &str = "http://hl7.org/fhir";
const XSI_NAMESPACE: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// The rewritten document and the original text of each placeholder div.
pub(crate) struct Prepared {
    pub xml: Vec<u8>,
    pub divs: Vec<String>,
}

#[derive(PartialEq)]
enum Kind {
    Fhir,
    /// An XHTML div that declares its namespace itself: can be copied verbatim.
    StandaloneDiv,
    /// Any other XHTML div: left to fhirbolt.
    OtherDiv,
    Other,
}

/// Rewrite `xml` for fhirbolt; refuse it when elements (narrative included) nest deeper
/// than `max_depth`, before anything recursive reads it.
pub(crate) fn prepare(xml: &[u8], max_depth: usize) -> Result<Prepared, Issue> {
    let placeholders = !contains(xml, xhtml::MARKER.as_bytes());
    let mut reader = NsReader::from_reader(xml);
    reader.check_end_names(true);
    let mut output = Vec::with_capacity(xml.len());
    let mut divs = Vec::new();
    let mut copied = 0;
    let mut depth = 0usize;
    loop {
        let before = reader.buffer_position();
        let (namespace, event) = reader
            .read_resolved_event()
            .map_err(|e| malformed(format!("invalid XML after byte {before}: {e}")))?;
        let is_start = matches!(event, Event::Start(_) | Event::Empty(_));
        if is_start && depth >= max_depth {
            return Err(depth::too_deep(max_depth));
        }
        let replacement = match &event {
            Event::Eof => break,
            Event::Start(start) | Event::Empty(start) => {
                let empty = matches!(event, Event::Empty(_));
                match kind(&namespace, start) {
                    Kind::Fhir => {
                        let root = depth == 0;
                        depth += usize::from(!empty);
                        needs_rewrite(start).then(|| rebuild(&reader, start, root, empty))
                    }
                    Kind::Other => {
                        depth += usize::from(!empty);
                        None
                    }
                    div => {
                        if !empty {
                            skip_content(&mut reader, depth + 1, max_depth)?;
                        }
                        if !(div == Kind::StandaloneDiv && placeholders) {
                            continue;
                        }
                        let raw = std::str::from_utf8(&xml[before..reader.buffer_position()])
                            .map_err(|e| malformed(format!("narrative is not valid UTF-8: {e}")))?;
                        // XML parsers normalise line ends; do the same for the verbatim copy
                        divs.push(raw.replace("\r\n", "\n").replace('\r', "\n"));
                        Some(xhtml::placeholder(divs.len() - 1).into_bytes())
                    }
                }
            }
            Event::End(end) => {
                depth = depth.saturating_sub(1);
                let prefixed = end.name().prefix().is_some();
                (prefixed && is_fhir(&namespace)).then(|| {
                    let mut tag = b"</".to_vec();
                    tag.extend_from_slice(end.local_name().as_ref());
                    tag.push(b'>');
                    tag
                })
            }
            _ => None,
        };
        if let Some(replacement) = replacement {
            let after = reader.buffer_position();
            output.extend_from_slice(&xml[copied..before]);
            output.extend_from_slice(&replacement);
            copied = after;
        }
    }
    output.extend_from_slice(&xml[copied..]);
    Ok(Prepared { xml: output, divs })
}

fn malformed(message: String) -> Issue {
    Issue::new(Severity::Fatal, "structure", message)
}

/// Read past the content of the narrative div just started at `depth` (it is copied
/// verbatim, not rewritten), counting its elements towards the nesting limit.
fn skip_content(reader: &mut NsReader<&[u8]>, depth: usize, max_depth: usize) -> Result<(), Issue> {
    // open elements, the div included; the innermost is at depth + open - 1
    let mut open = 1usize;
    while open > 0 {
        let event = reader
            .read_event()
            .map_err(|e| malformed(format!("invalid XHTML in narrative: {e}")))?;
        let deepest = match event {
            Event::Start(_) => {
                open += 1;
                depth + open - 1
            }
            Event::Empty(_) => depth + open,
            Event::End(_) => {
                open -= 1;
                0
            }
            Event::Eof => {
                return Err(malformed(
                    "invalid XHTML in narrative: unclosed element".to_string(),
                ))
            }
            _ => 0,
        };
        if deepest > max_depth {
            return Err(depth::too_deep(max_depth));
        }
    }
    Ok(())
}

fn is_fhir(namespace: &ResolveResult) -> bool {
    *namespace == ResolveResult::Bound(Namespace(FHIR_NAMESPACE.as_bytes()))
}

fn kind(namespace: &ResolveResult, start: &BytesStart) -> Kind {
    if is_fhir(namespace) {
        return Kind::Fhir;
    }
    let xhtml_div = *namespace == ResolveResult::Bound(Namespace(XHTML_NAMESPACE.as_bytes()))
        && start.local_name().as_ref() == b"div";
    if !xhtml_div {
        return Kind::Other;
    }
    let declares = start.name().prefix().is_none()
        && start.attributes().any(|a| {
            a.is_ok_and(|a| {
                a.key.as_ref() == b"xmlns" && a.value.as_ref() == XHTML_NAMESPACE.as_bytes()
            })
        });
    if declares {
        Kind::StandaloneDiv
    } else {
        Kind::OtherDiv
    }
}

fn needs_rewrite(start: &BytesStart) -> bool {
    start.name().prefix().is_some()
        || start
            .attributes()
            .any(|a| a.is_ok_and(|a| a.key.as_ref().contains(&b':')))
}

/// The start tag without namespace prefixes, FHIR/XSI prefix declarations and XSI attributes.
fn rebuild(reader: &NsReader<&[u8]>, start: &BytesStart, root: bool, empty: bool) -> Vec<u8> {
    let mut tag = b"<".to_vec();
    tag.extend_from_slice(start.local_name().as_ref());
    let mut default_declared = false;
    for attribute in start.attributes().flatten() {
        let key = attribute.key.as_ref();
        if key == b"xmlns" {
            default_declared = true;
        } else if let Some(declared) = key.strip_prefix(b"xmlns:") {
            let value = attribute.value.as_ref();
            if !declared.is_empty()
                && (value == FHIR_NAMESPACE.as_bytes() || value == XSI_NAMESPACE.as_bytes())
            {
                continue;
            }
        } else if attribute.key.prefix().is_some() {
            let (namespace, _) = reader.resolve_attribute(attribute.key);
            if namespace == ResolveResult::Bound(Namespace(XSI_NAMESPACE.as_bytes())) {
                continue;
            }
        }
        tag.push(b' ');
        tag.extend_from_slice(key);
        tag.extend_from_slice(b"=\"");
        for &b in attribute.value.as_ref() {
            if b == b'"' {
                tag.extend_from_slice(b"&quot;");
            } else {
                tag.push(b);
            }
        }
        tag.push(b'"');
    }
    if root && !default_declared {
        tag.extend_from_slice(format!(" xmlns=\"{FHIR_NAMESPACE}\"").as_bytes());
    }
    tag.extend_from_slice(if empty { b"/>" } else { b">" });
    tag
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(xml: &str) -> (String, Vec<String>) {
        let p = prepare(xml.as_bytes(), 64).unwrap();
        (String::from_utf8(p.xml).unwrap(), p.divs)
    }

    #[test]
    fn schema_location_is_dropped() {
        let (xml, _) = prepared(
            r#"<Patient xmlns="http://hl7.org/fhir" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://hl7.org/fhir patient.xsd"><active value="true"/></Patient>"#,
        );
        assert_eq!(
            xml,
            r#"<Patient xmlns="http://hl7.org/fhir"><active value="true"/></Patient>"#
        );
    }

    #[test]
    fn prefixed_fhir_elements_are_unprefixed() {
        let (xml, _) = prepared(
            r#"<f:Patient xmlns:f="http://hl7.org/fhir"><f:active value="true"/><f:name><f:family value='a"b'/></f:name></f:Patient>"#,
        );
        assert_eq!(
            xml,
            r#"<Patient xmlns="http://hl7.org/fhir"><active value="true"/><name><family value="a&quot;b"/></name></Patient>"#
        );
    }

    #[test]
    fn divs_become_placeholders() {
        let (xml, divs) = prepared(
            "<Patient xmlns=\"http://hl7.org/fhir\"><text><status value=\"generated\"/><div xmlns=\"http://www.w3.org/1999/xhtml\">\r\n  <p>Hi  <b>there</b></p>\n</div></text></Patient>",
        );
        assert_eq!(
            divs,
            vec!["<div xmlns=\"http://www.w3.org/1999/xhtml\">\n  <p>Hi  <b>there</b></p>\n</div>"]
        );
        assert!(xml.contains(&xhtml::placeholder(0)), "{xml}");
    }

    #[test]
    fn nesting_is_limited_narrative_included() {
        let fhir = |open: &str, close: &str| {
            format!("<Patient xmlns=\"http://hl7.org/fhir\"><text>{open}<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>x<br/></p></div>{close}</text></Patient>")
        };
        // Patient 1, text 2, div 3, p 4, br 5
        assert!(prepare(fhir("", "").as_bytes(), 5).is_ok());
        let issue = prepare(fhir("", "").as_bytes(), 4).err().unwrap();
        assert_eq!(issue.code, "too-long");
        assert!(prepare(fhir("<a>", "</a>").as_bytes(), 5).is_err());
        assert!(prepare(b"<Patient xmlns=\"http://hl7.org/fhir\"><a/></Patient>", 1).is_err());
    }

    #[test]
    fn malformed_xml_is_an_error() {
        assert!(prepare(
            b"<Patient xmlns=\"http://hl7.org/fhir\"><a></b></Patient>",
            64
        )
        .is_err());
    }
}
