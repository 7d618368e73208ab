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

pub(crate) fn prepare(xml: &[u8]) -> Result<Prepared, String> {
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
            .map_err(|e| format!("invalid XML after byte {before}: {e}"))?;
        let replacement = match &event {
            Event::Eof => break,
            Event::Start(start) | Event::Empty(start) => {
                let empty = matches!(event, Event::Empty(_));
                match kind(&namespace, start) {
                    Kind::StandaloneDiv | Kind::OtherDiv => {
                        let standalone = kind(&namespace, start) == Kind::StandaloneDiv;
                        if !empty {
                            let name = start.name().as_ref().to_vec();
                            reader
                                .read_to_end(quick_xml::name::QName(&name))
                                .map_err(|e| format!("invalid XHTML in narrative: {e}"))?;
                        }
                        if !(standalone && placeholders) {
                            continue;
                        }
                        let after = reader.buffer_position();
                        let raw = std::str::from_utf8(&xml[before..after])
                            .map_err(|e| format!("narrative is not valid UTF-8: {e}"))?;
                        // XML parsers normalise line ends; do the same for the verbatim copy
                        divs.push(raw.replace("\r\n", "\n").replace('\r', "\n"));
                        Some(xhtml::placeholder(divs.len() - 1).into_bytes())
                    }
                    Kind::Fhir => {
                        let root = depth == 0;
                        if !empty {
                            depth += 1;
                        }
                        needs_rewrite(start).then(|| rebuild(&reader, start, root, empty))
                    }
                    Kind::Other => {
                        if !empty {
                            depth += 1;
                        }
                        None
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
        let p = prepare(xml.as_bytes()).unwrap();
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
    fn malformed_xml_is_an_error() {
        assert!(prepare(b"<Patient xmlns=\"http://hl7.org/fhir\"><a></b></Patient>").is_err());
    }
}
