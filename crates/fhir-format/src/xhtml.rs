//! Narrative XHTML (`Narrative.div`).
//!
//! fhirbolt re-indents the XHTML when writing XML and trims its text and drops the div's
//! attributes when reading XML, so narrative would not survive a JSON -> XML -> JSON
//! round trip. This module checks the XHTML and lets `xml` carry divs through fhirbolt
//! as placeholders, putting the original text back afterwards.

use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::NsReader;
use serde_json::Value;

pub(crate) const XHTML_NAMESPACE: &str = "http://www.w3.org/1999/xhtml";

/// Marker text of a placeholder div; an input that contains it is not rewritten.
pub(crate) const MARKER: &str = "FHIRFORMATDIV";

/// A placeholder div, as fhirbolt reads and writes it.
pub(crate) fn placeholder(index: usize) -> String {
    format!("<div xmlns=\"{XHTML_NAMESPACE}\">{MARKER}{index}</div>")
}

/// Check that `s` is a well-formed XHTML `div` element with the XHTML namespace declared
/// on it, as FHIR JSON requires.
pub(crate) fn check(s: &str) -> Result<(), String> {
    if !s.starts_with("<div") {
        return Err("the narrative must be an XHTML fragment starting with <div".to_string());
    }
    let mut reader = NsReader::from_str(s);
    reader.check_end_names(true);
    let mut depth = 0usize;
    let mut root_seen = false;
    loop {
        let (namespace, event) = reader
            .read_resolved_event()
            .map_err(|e| format!("the narrative is not well-formed XHTML: {e}"))?;
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                if depth == 0 {
                    if root_seen {
                        return Err("the narrative must be a single <div> element".to_string());
                    }
                    root_seen = true;
                    let declared = start.attributes().any(|a| {
                        a.is_ok_and(|a| {
                            a.key.as_ref() == b"xmlns" && a.value.as_ref() == XHTML_NAMESPACE.as_bytes()
                        })
                    });
                    if start.name().as_ref() != b"div" || !declared {
                        return Err(format!(
                            "the narrative must start with <div xmlns=\"{XHTML_NAMESPACE}\">"
                        ));
                    }
                }
                if let ResolveResult::Unknown(prefix) = namespace {
                    return Err(format!(
                        "the narrative uses the undeclared namespace prefix '{}'",
                        String::from_utf8_lossy(&prefix)
                    ));
                }
                for attribute in start.attributes() {
                    let attribute = attribute
                        .map_err(|e| format!("the narrative is not well-formed XHTML: {e}"))?;
                    attribute
                        .unescape_value()
                        .map_err(|e| format!("the narrative is not well-formed XHTML: {e}"))?;
                }
                if matches!(event, Event::Start(_)) {
                    depth += 1;
                }
            }
            Event::End(_) => depth -= 1,
            Event::Text(ref text) => {
                if depth == 0 {
                    return Err("the narrative must contain only the <div> element".to_string());
                }
                text.unescape()
                    .map_err(|e| format!("the narrative is not well-formed XHTML: {e}"))?;
            }
            Event::CData(_) | Event::Comment(_) if depth > 0 => {}
            Event::Eof => break,
            _ => {
                return Err(
                    "the narrative may only contain XHTML elements, text and comments".to_string(),
                )
            }
        }
    }
    if depth != 0 || !root_seen {
        return Err("the narrative is not well-formed XHTML (unclosed element)".to_string());
    }
    Ok(())
}

/// Replace every standalone XHTML div of an XML document by a placeholder.
///
/// A div is standalone when it declares the XHTML namespace itself (the usual form);
/// others are left to fhirbolt. Returns the rewritten document and the divs' text.
pub(crate) fn extract_divs(xml: &[u8]) -> Result<(Vec<u8>, Vec<String>), String> {
    if memfind(xml, MARKER.as_bytes()) {
        return Ok((xml.to_vec(), Vec::new()));
    }
    let mut reader = NsReader::from_reader(xml);
    reader.check_end_names(true);
    let mut output = Vec::with_capacity(xml.len());
    let mut divs = Vec::new();
    let mut copied = 0;
    loop {
        let before = reader.buffer_position();
        let (namespace, event) = reader
            .read_resolved_event()
            .map_err(|e| format!("invalid XML after byte {before}: {e}"))?;
        let start = match &event {
            Event::Eof => break,
            Event::Start(start) | Event::Empty(start) => start.clone(),
            _ => continue,
        };
        let standalone = namespace == ResolveResult::Bound(Namespace(XHTML_NAMESPACE.as_bytes()))
            && start.name().as_ref() == b"div"
            && start.attributes().any(|a| {
                a.is_ok_and(|a| {
                    a.key.as_ref() == b"xmlns" && a.value.as_ref() == XHTML_NAMESPACE.as_bytes()
                })
            });
        if !standalone {
            continue;
        }
        if matches!(event, Event::Start(_)) {
            reader
                .read_to_end(start.name())
                .map_err(|e| format!("invalid XHTML in narrative: {e}"))?;
        }
        let after = reader.buffer_position();
        let raw = std::str::from_utf8(&xml[before..after])
            .map_err(|e| format!("narrative is not valid UTF-8: {e}"))?;
        // XML parsers normalise line ends; do the same for the verbatim copy
        divs.push(raw.replace("\r\n", "\n").replace('\r', "\n"));
        output.extend_from_slice(&xml[copied..before]);
        output.extend_from_slice(placeholder(divs.len() - 1).as_bytes());
        copied = after;
    }
    output.extend_from_slice(&xml[copied..]);
    Ok((output, divs))
}

/// Put the original text back where fhirbolt returned a placeholder div.
pub(crate) fn restore_divs(value: &mut Value, divs: &[String]) {
    match value {
        Value::Object(object) => {
            for (key, child) in object.iter_mut() {
                if key == "div" {
                    if let Value::String(s) = child {
                        if let Some(original) = placeholder_index(s).and_then(|i| divs.get(i)) {
                            *s = original.clone();
                        }
                        continue;
                    }
                }
                restore_divs(child, divs);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| restore_divs(item, divs)),
        _ => {}
    }
}

/// Replace every narrative div of a resource by a placeholder; returns the originals.
pub(crate) fn replace_divs(value: &mut Value, divs: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            for (key, child) in object.iter_mut() {
                if key == "div" {
                    if let Value::String(s) = child {
                        let index = divs.len();
                        divs.push(std::mem::replace(s, placeholder(index)));
                        continue;
                    }
                }
                replace_divs(child, divs);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| replace_divs(item, divs)),
        _ => {}
    }
}

fn placeholder_index(s: &str) -> Option<usize> {
    let prefix = format!("<div xmlns=\"{XHTML_NAMESPACE}\">{MARKER}");
    s.strip_prefix(&prefix)?
        .strip_suffix("</div>")?
        .parse()
        .ok()
}

fn memfind(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = "xmlns=\"http://www.w3.org/1999/xhtml\"";

    #[test]
    fn accepts_well_formed_divs() {
        assert_eq!(check(&format!("<div {NS}>a <b>b</b> &amp; &#160;</div>")), Ok(()));
        assert_eq!(check(&format!("<div {NS}/>")), Ok(()));
        assert_eq!(check(&format!("<div {NS} lang=\"nl\"><div><p>x</p></div></div>")), Ok(()));
    }

    #[test]
    fn rejects_bad_divs() {
        assert!(check("<p>x</p>").is_err());
        assert!(check("<div>no namespace</div>").is_err());
        assert!(check(&format!("<div {NS}><p>x</div>")).is_err());
        assert!(check(&format!("<div {NS}>x</div><div {NS}>y</div>")).is_err());
        assert!(check(&format!("<div {NS}>x</div> trailing")).is_err());
        assert!(check(&format!("<div {NS}>&nbsp;</div>")).is_err());
        assert!(check(&format!("<div {NS}><x:p>x</x:p></div>")).is_err());
        assert!(check(&format!("<div {NS}>x")).is_err());
    }

    #[test]
    fn extracts_and_restores() {
        let xml = format!(
            "<Patient xmlns=\"http://hl7.org/fhir\"><text><status value=\"generated\"/><div {NS}>\r\n  <p>Hi  <b>there</b></p>\n</div></text></Patient>"
        );
        let (rewritten, divs) = extract_divs(xml.as_bytes()).unwrap();
        assert_eq!(divs, vec![format!("<div {NS}>\n  <p>Hi  <b>there</b></p>\n</div>")]);
        let rewritten = String::from_utf8(rewritten).unwrap();
        assert!(rewritten.contains(&placeholder(0)));
        let mut value = serde_json::json!({"text": {"div": placeholder(0)}});
        restore_divs(&mut value, &divs);
        assert_eq!(value["text"]["div"], divs[0]);
    }
}
