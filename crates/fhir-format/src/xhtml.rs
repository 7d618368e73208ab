//! Narrative XHTML (`Narrative.div`).
//!
//! fhirbolt re-indents the XHTML when writing XML and trims its text and drops the div's
//! attributes when reading XML, so narrative would not survive a JSON -> XML -> JSON
//! round trip. This module checks the XHTML and lets `xml` carry divs through fhirbolt
//! as placeholders (see `xml_prepare` for XML input), putting the original text back
//! afterwards.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
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
                            a.key.as_ref() == b"xmlns"
                                && a.value.as_ref() == XHTML_NAMESPACE.as_bytes()
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

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = "xmlns=\"http://www.w3.org/1999/xhtml\"";

    #[test]
    fn accepts_well_formed_divs() {
        assert_eq!(
            check(&format!("<div {NS}>a <b>b</b> &amp; &#160;</div>")),
            Ok(())
        );
        assert_eq!(check(&format!("<div {NS}/>")), Ok(()));
        assert_eq!(
            check(&format!("<div {NS} lang=\"nl\"><div><p>x</p></div></div>")),
            Ok(())
        );
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
    fn replaces_and_restores() {
        let original = format!("<div {NS}>\n  <p>Hi  <b>there</b></p>\n</div>");
        let mut value = serde_json::json!({"text": {"div": original}, "contained": [{"text": {"div": original}}]});
        let mut divs = Vec::new();
        replace_divs(&mut value, &mut divs);
        assert_eq!(divs.len(), 2);
        assert_eq!(value["contained"][0]["text"]["div"], placeholder(1));
        restore_divs(&mut value, &divs);
        assert_eq!(value["text"]["div"], original);
        assert_eq!(value["contained"][0]["text"]["div"], original);
    }
}
