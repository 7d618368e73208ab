//! Nesting depth, measured without recursion before anything recursive sees the input.
//!
//! serde_json, fhirbolt and this crate's own checks all recurse once per level, so a few
//! hundred levels overflow a thread's stack (which aborts the whole process) and deeper
//! input costs memory quadratic in the depth. Depth counts FHIR element levels, so that
//! JSON and XML of the same resource agree as far as they can: a JSON object is a level,
//! an array holding a repeating element's values is not (its items are), an array
//! directly inside an array is. Narrative XHTML elements count from the depth of their
//! `div`, as in XML.

use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::Value;

use crate::{Issue, Severity};

/// The issue for input nested deeper than `max` levels; it says nothing of the content.
pub(crate) fn too_deep(max: usize) -> Issue {
    Issue::new(
        Severity::Fatal,
        "too-long",
        format!("the resource nests elements deeper than {max} levels, the most accepted; it was not read further"),
    )
}

/// Refuse JSON text nested deeper than `max` levels, looking only at the bytes (strings,
/// escapes and brackets), so serde_json never sees it. Malformed JSON is left to serde_json.
pub(crate) fn check_json(bytes: &[u8], max: usize) -> Result<(), Issue> {
    // the open containers, b'{' or b'['; bounded because every second one is a level
    let mut open: Vec<u8> = Vec::new();
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += usize::from(is_level(b, open.last()));
                if depth > max {
                    return Err(too_deep(max));
                }
                open.push(b);
            }
            b'}' | b']' => {
                if let Some(kind) = open.pop() {
                    depth -= usize::from(is_level(kind, open.last()));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether a container of `kind` opened inside `parent` is a level of its own.
fn is_level(kind: u8, parent: Option<&u8>) -> bool {
    kind == b'{' || parent != Some(&b'{')
}

/// Refuse a JSON value nested deeper than `max` levels, narrative included, counted as
/// `check_json` counts. Iterative, so that any value can be checked safely.
pub(crate) fn check_value(value: &Value, max: usize) -> Result<(), Issue> {
    // (value, depth of its container, whether that container is an object)
    let mut pending: Vec<(&Value, usize, bool)> = vec![(value, 0, false)];
    while let Some((value, outer, in_object)) = pending.pop() {
        let (depth, is_object) = match value {
            Value::Object(_) => (outer + 1, true),
            Value::Array(_) if in_object => (outer, false),
            Value::Array(_) => (outer + 1, false),
            _ => continue,
        };
        if depth > max {
            return Err(too_deep(max));
        }
        match value {
            Value::Object(object) => {
                for (key, child) in object {
                    let narrative = match child {
                        Value::String(div) if key == "div" => Some(div),
                        _ => None,
                    };
                    if narrative.is_some_and(|div| xhtml_exceeds(div, max - depth)) {
                        return Err(too_deep(max));
                    }
                    pending.push((child, depth, is_object));
                }
            }
            Value::Array(items) => pending.extend(items.iter().map(|i| (i, depth, is_object))),
            _ => {}
        }
    }
    Ok(())
}

/// Whether the XHTML elements of `div` nest deeper than `budget` levels (the div itself
/// being the first). Malformed XHTML is left to the narrative check.
fn xhtml_exceeds(div: &str, budget: usize) -> bool {
    let mut reader = Reader::from_str(div);
    let mut depth = 0usize;
    loop {
        match reader.read_event() {
            Ok(Event::Start(_)) => depth += 1,
            Ok(Event::Empty(_)) if depth + 1 > budget => return true,
            Ok(Event::End(_)) => depth = depth.saturating_sub(1),
            Ok(Event::Eof) | Err(_) => return false,
            Ok(_) => {}
        }
        if depth > budget {
            return true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_levels_are_objects_and_nested_arrays() {
        let text = br#"{"a":[{"b":{"c":"[[{{"}}]}"#;
        assert!(check_json(text, 3).is_ok());
        assert!(check_json(text, 2).is_err());
        assert!(check_json(br#"[[[1]]]"#, 3).is_ok());
        assert!(check_json(br#"[[[1]]]"#, 2).is_err());
        assert!(check_json(br#"{"a":"\"{{{{"}"#, 1).is_ok());
    }

    #[test]
    fn value_levels_match_the_text() {
        let value = json!({"a": [{"b": {"c": "x"}}]});
        assert!(check_value(&value, 3).is_ok());
        assert!(check_value(&value, 2).is_err());
    }

    #[test]
    fn narrative_counts_from_its_div() {
        let div = "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p><b>x</b><br/></p></div>";
        let value = json!({"text": {"div": div}});
        // Patient 1, text 2, div 3, p 4, b and br 5
        assert!(check_value(&value, 5).is_ok());
        assert!(check_value(&value, 4).is_err());
    }
}
