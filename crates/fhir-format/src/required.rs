//! Missing required elements, which this crate accepts but fhirbolt cannot handle.
//!
//! Minimum cardinality is a profile validator's business, so a resource may lack e.g.
//! `Questionnaire.item.linkId` or `MedicationRequest.medication[x]`. fhirbolt, however,
//! refuses to read such a resource in strict mode, and in lax mode cannot write missing
//! choice elements. So before fhirbolt sees a resource, every missing required single
//! element gets a marker element (only an `id`, whose value no valid resource can hold);
//! fhirbolt's output is then stripped of the markers.

use std::collections::HashMap;

use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::{Map, Value};

use crate::generated::{Child, FhirType, CHOICE, REPEATS, REQUIRED};
use crate::table;
use crate::xhtml::XHTML_NAMESPACE;

/// The id of a marker element. U+FFFE is rejected in every string by the checks, so a
/// valid resource never contains it.
pub(crate) const MARK: &str = "\u{FFFE}missing";

/// Required elements are nested a few levels at most; this guards against a cycle.
const MAX_DEPTH: usize = 16;

/// The required single elements (one choice type for a choice) missing from an element
/// of `context` that has the children `present` (JSON or XML names).
fn missing(context: &str, present: impl Fn(&str) -> bool) -> Vec<&'static Child> {
    let Some(children) = table::children(context) else {
        return Vec::new();
    };
    let mut result = Vec::new();
    let mut choices_done: Vec<&str> = Vec::new();
    for child in children {
        let (name, ty, flags) = child;
        if flags & REQUIRED == 0 || flags & REPEATS != 0 {
            continue;
        }
        if flags & CHOICE != 0 {
            let base = &name[..name.len() - ty.name().len()];
            if choices_done.contains(&base) {
                continue;
            }
            choices_done.push(base);
            let variants = children
                .iter()
                .filter(|c| c.2 & CHOICE != 0 && c.0.len() > base.len() && c.0.starts_with(base))
                .filter(|c| &c.0[..c.0.len() - c.1.name().len()] == base);
            let mut any_present = false;
            for variant in variants {
                any_present |= present(variant.0);
            }
            if !any_present {
                result.push(child);
            }
        } else if !present(name) {
            result.push(child);
        }
    }
    result
}

/// The definition context of the children of `child` in `context`.
fn child_context(context: &str, child: &Child) -> String {
    match child.1 {
        FhirType::BackboneElement | FhirType::Element => {
            let path = format!("{context}.{}", child.0);
            table::content_reference(&path).map_or(path, str::to_string)
        }
        other => other.name().to_string(),
    }
}

/// Add markers for the missing required elements of a JSON resource, recursively.
pub(crate) fn fill_json(resource: &mut Value) {
    if let Value::Object(object) = resource {
        if let Some(Value::String(resource_type)) = object.get("resourceType") {
            let context = resource_type.clone();
            fill_object(&context, object, 0);
        }
    }
}

fn fill_object(context: &str, object: &mut Map<String, Value>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let Some(children) = table::children(context) else {
        return;
    };
    // existing children first
    for (key, value) in object.iter_mut() {
        let Some(child) = table::child(children, key) else {
            continue;
        };
        let items: Vec<&mut Value> = match value {
            Value::Array(items) => items.iter_mut().collect(),
            other => vec![other],
        };
        for item in items {
            match (child.1, item) {
                (FhirType::Resource, item) => fill_json(item),
                (ty, Value::Object(inner)) if !ty.is_primitive() => {
                    fill_object(&child_context(context, child), inner, depth + 1)
                }
                _ => {}
            }
        }
    }
    let absent = missing(context, |name| {
        object.contains_key(name) || object.contains_key(&format!("_{name}"))
    });
    for child in absent {
        let (name, ty, _) = *child;
        match ty {
            FhirType::Xhtml => {
                object.insert(name.to_string(), Value::String(MARK.to_string()));
            }
            _ if ty.is_primitive() => {
                object.insert(format!("_{name}"), marker_object());
            }
            _ => {
                let Value::Object(mut inner) = marker_object() else {
                    unreachable!("marker_object returns an object")
                };
                fill_object(&child_context(context, child), &mut inner, depth + 1);
                object.insert(name.to_string(), Value::Object(inner));
            }
        }
    }
}

fn marker_object() -> Value {
    let mut object = Map::new();
    object.insert("id".to_string(), Value::String(MARK.to_string()));
    Value::Object(object)
}

/// Remove marker elements from fhirbolt's JSON output.
pub(crate) fn strip_json(value: &mut Value) {
    match value {
        Value::Object(object) => {
            object.retain(|key, value| !is_marker(key, value));
            object.values_mut().for_each(strip_json);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_json),
        _ => {}
    }
}

fn is_marker(key: &str, value: &Value) -> bool {
    match value {
        Value::Object(object) => object.get("id").and_then(Value::as_str) == Some(MARK),
        Value::String(s) => key == "div" && s.contains(MARK),
        _ => false,
    }
}

/// XML markers for the missing required elements of an element of `context` whose
/// child element names were counted in `present`.
pub(crate) fn missing_xml(context: &str, present: &HashMap<String, usize>) -> String {
    let mut xml = String::new();
    write_missing_xml(context, present, &mut xml, 0);
    xml
}

fn write_missing_xml(
    context: &str,
    present: &HashMap<String, usize>,
    xml: &mut String,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    // Extension.url is an XML attribute, checked by the XML walk
    let present =
        |name: &str| present.contains_key(name) || (context == "Extension" && name == "url");
    for child in missing(context, present) {
        let (name, ty, _) = *child;
        if ty == FhirType::Xhtml {
            xml.push_str(&format!(
                "<{name} xmlns=\"{XHTML_NAMESPACE}\">{MARK}</{name}>"
            ));
        } else if ty.is_primitive() {
            xml.push_str(&format!("<{name} id=\"{MARK}\"/>"));
        } else {
            xml.push_str(&format!("<{name} id=\"{MARK}\">"));
            write_missing_xml(
                &child_context(context, child),
                &HashMap::new(),
                xml,
                depth + 1,
            );
            xml.push_str(&format!("</{name}>"));
        }
    }
}

/// Remove the marker elements (and their indentation) from fhirbolt's XML output.
pub(crate) fn strip_xml(xml: &[u8]) -> Vec<u8> {
    if !xml.windows(MARK.len()).any(|w| w == MARK.as_bytes()) {
        return xml.to_vec();
    }
    let mut reader = Reader::from_reader(xml);
    let mut output = Vec::with_capacity(xml.len());
    let mut copied = 0;
    loop {
        let before = reader.buffer_position();
        let event = match reader.read_event() {
            Ok(Event::Eof) | Err(_) => break,
            Ok(event) => event,
        };
        let (start, empty) = match &event {
            Event::Start(start) => (start, false),
            Event::Empty(start) => (start, true),
            _ => continue,
        };
        let marked = start
            .attributes()
            .flatten()
            .any(|a| a.key.as_ref() == b"id" && a.value.as_ref() == MARK.as_bytes());
        if !marked {
            continue;
        }
        if !empty {
            let name = start.name().as_ref().to_vec();
            if reader.read_to_end(quick_xml::name::QName(&name)).is_err() {
                break;
            }
        }
        // take the indentation in front of the element along
        let mut from = before;
        while from > copied && matches!(xml[from - 1], b' ' | b'\t') {
            from -= 1;
        }
        if from > copied && xml[from - 1] == b'\n' {
            from -= 1;
        }
        output.extend_from_slice(&xml[copied..from]);
        copied = reader.buffer_position();
    }
    output.extend_from_slice(&xml[copied..]);
    output
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fills_missing_required_single_elements() {
        let mut value = json!({
            "resourceType": "Questionnaire",
            "item": [{"type": "group", "item": [{"text": "x"}]}]
        });
        fill_json(&mut value);
        assert_eq!(
            value["status"],
            json!(null),
            "status is a code: marked with _status"
        );
        assert_eq!(value["_status"]["id"], MARK);
        assert_eq!(value["item"][0]["_linkId"]["id"], MARK);
        assert_eq!(value["item"][0]["item"][0]["_type"]["id"], MARK);
        strip_json(&mut value);
        assert_eq!(
            value,
            json!({"resourceType": "Questionnaire", "item": [{"type": "group", "item": [{"text": "x"}]}]})
        );
    }

    #[test]
    fn fills_one_type_of_a_missing_choice() {
        let mut value = json!({"resourceType": "Task", "input": [{"type": {"text": "t"}}]});
        fill_json(&mut value);
        let input = value["input"][0].as_object().unwrap();
        assert_eq!(input.keys().filter(|k| k.contains("value")).count(), 1);
        let mut value =
            json!({"resourceType": "Task", "input": [{"type": {"text": "t"}, "valueString": "x"}]});
        fill_json(&mut value);
        assert_eq!(value["input"][0].as_object().unwrap().len(), 2);
    }

    #[test]
    fn xml_markers() {
        let xml = missing_xml("Narrative", &HashMap::new());
        assert!(xml.contains("<status id=\"\u{FFFE}missing\"/>"), "{xml}");
        assert!(xml.contains("<div xmlns="), "{xml}");
        let mut present = HashMap::new();
        present.insert("linkId".to_string(), 1);
        present.insert("type".to_string(), 1);
        assert_eq!(missing_xml("Questionnaire.item", &present), "");
    }

    #[test]
    fn strips_marked_xml_elements() {
        let xml = format!(
            "<a>\n  <b value=\"1\"/>\n  <c id=\"{MARK}\"/>\n  <d id=\"{MARK}\">\n    <e/>\n  </d>\n  <f/>\n</a>"
        );
        assert_eq!(
            String::from_utf8(strip_xml(xml.as_bytes())).unwrap(),
            "<a>\n  <b value=\"1\"/>\n  <f/>\n</a>"
        );
    }
}
