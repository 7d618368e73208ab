//! Element names of FHIR XML checked against the R4 table before fhirbolt reads it.
//!
//! fhirbolt's own unknown-element errors have no path, and when a required element is
//! missing it has to read in lax mode, which silently drops unknown elements. Values are
//! not checked here: the JSON check does that after conversion.

use std::collections::HashMap;

use quick_xml::events::{BytesStart, Event};
use quick_xml::NsReader;

use crate::check::MAX_ISSUES;
use crate::generated::{FhirType, REPEATS};
use crate::{required, table, Issue, Severity};

/// What the children of the current XML element are.
enum Frame {
    /// A resource, data type or backbone element, defined by `context` in the table.
    Object {
        context: String,
        path: String,
        counts: HashMap<String, usize>,
    },
    /// A primitive: only `extension` children.
    Primitive {
        path: String,
        extensions: usize,
        has_content: bool,
    },
    /// `contained`, `Bundle.entry.resource` ...: one resource element.
    ResourceHolder { path: String, seen: bool },
    /// Narrative XHTML or an element already reported: not looked into.
    Skip,
}

/// The result of the walk: issues, and where to add markers for missing required
/// elements (see `required`).
pub(crate) struct Walk {
    pub issues: Vec<Issue>,
    /// Replace bytes `from..to` by the text.
    pub insertions: Vec<(usize, usize, String)>,
}

impl Walk {
    /// The document with the markers added.
    pub(crate) fn apply(&self, xml: &[u8]) -> Vec<u8> {
        let mut output = Vec::with_capacity(xml.len());
        let mut copied = 0;
        for (from, to, text) in &self.insertions {
            output.extend_from_slice(&xml[copied..*from]);
            output.extend_from_slice(text.as_bytes());
            copied = *to;
        }
        output.extend_from_slice(&xml[copied..]);
        output
    }
}

/// Check unknown or misplaced elements and attributes of a FHIR XML document.
pub(crate) fn walk(xml: &[u8]) -> Walk {
    let mut reader = NsReader::from_reader(xml);
    reader.trim_text(true);
    let mut stack: Vec<Frame> = Vec::new();
    let mut issues = Vec::new();
    let mut insertions = Vec::new();
    let mut root_seen = false;
    loop {
        let before = reader.buffer_position();
        // malformed XML is left to fhirbolt, which reports it
        let Ok(event) = reader.read_event() else {
            break;
        };
        let (start, empty) = match event {
            Event::Start(start) => (start, false),
            Event::Empty(start) => (start, true),
            Event::End(_) => {
                if let Some(frame) = stack.pop() {
                    if let Some(markers) = leave(frame, &mut issues) {
                        insertions.push((before, before, markers));
                    }
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let name = local_name(&start);
        if stack.is_empty() && root_seen {
            issues.push(Issue {
                severity: Severity::Error,
                code: "structure",
                diagnostics: format!(
                    "unexpected element '{name}' after the resource: a document holds one resource"
                ),
                expression: None,
            });
            break;
        }
        root_seen = true;
        let mut frame = enter(stack.last_mut(), &name, &mut issues);
        attributes(&start, &mut frame, &mut issues);
        if empty {
            if let Some(markers) = leave(frame, &mut issues) {
                // <name .../> becomes <name ...>markers</name>
                let after = reader.buffer_position();
                if after >= before + 2 && &xml[after - 2..after] == b"/>" {
                    let end = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                    insertions.push((after - 2, after, format!(">{markers}</{end}>")));
                }
            }
        } else {
            stack.push(frame);
        }
        if issues.len() >= MAX_ISSUES {
            break;
        }
    }
    Walk { issues, insertions }
}

/// Checks of the XML attributes: `value` on primitives, `url` on extensions, `id` on
/// elements (not resources), nothing else.
fn attributes(start: &BytesStart, frame: &mut Frame, issues: &mut Vec<Issue>) {
    let (path, allowed): (&str, &[&[u8]]) = match frame {
        Frame::Skip | Frame::ResourceHolder { .. } => return,
        Frame::Primitive { path, .. } => (path, &[b"id", b"value"]),
        Frame::Object { context, path, .. } if context == "Extension" => (path, &[b"id", b"url"]),
        // a resource's id is an element, not an attribute
        Frame::Object { context, path, .. } if table::is_resource_type(context) => (path, &[]),
        Frame::Object { path, .. } => (path, &[b"id"]),
    };
    let path = path.to_string();
    let mut has_url = false;
    for attribute in start.attributes().flatten() {
        let key = attribute.key.as_ref();
        if key == b"xmlns" {
            continue;
        }
        if allowed.contains(&key) {
            has_url |= key == b"url";
            if let Frame::Primitive { has_content, .. } = frame {
                *has_content = true;
            }
            continue;
        }
        issues.push(Issue {
            severity: Severity::Error,
            code: "structure",
            diagnostics: format!(
                "Unknown attribute '{}' on {path}",
                String::from_utf8_lossy(key)
            ),
            expression: Some(path.clone()),
        });
    }
    if matches!(frame, Frame::Object { context, .. } if context == "Extension") && !has_url {
        issues.push(Issue {
            severity: Severity::Error,
            code: "required",
            diagnostics: format!("{path}: an extension must have a url attribute"),
            expression: Some(path),
        });
    }
}

/// Checks when an element ends: a primitive needs a value, an id or an extension.
/// Returns markers for the required elements it lacks.
fn leave(frame: Frame, issues: &mut Vec<Issue>) -> Option<String> {
    match frame {
        Frame::Primitive {
            path,
            extensions: 0,
            has_content: false,
        } => {
            issues.push(Issue {
                severity: Severity::Error,
                code: "value",
                diagnostics: format!(
                    "{path}: element has no value attribute (nor id or extension)"
                ),
                expression: Some(path),
            });
            None
        }
        Frame::Object {
            context, counts, ..
        } => Some(required::missing_xml(&context, &counts)).filter(|m| !m.is_empty()),
        _ => None,
    }
}

fn local_name(start: &BytesStart) -> String {
    String::from_utf8_lossy(start.local_name().as_ref()).into_owned()
}

/// The frame for element `name` inside `parent` (None: the document root).
fn enter(parent: Option<&mut Frame>, name: &str, issues: &mut Vec<Issue>) -> Frame {
    match parent {
        None => resource(name, name.to_string(), issues),
        Some(Frame::Skip) => Frame::Skip,
        Some(Frame::ResourceHolder { path, seen }) => {
            if *seen {
                unknown(
                    issues,
                    &format!("{path}.{name}"),
                    format!("{path} must contain exactly one resource, found another: '{name}'"),
                );
                return Frame::Skip;
            }
            *seen = true;
            resource(name, path.clone(), issues)
        }
        Some(Frame::Primitive {
            path, extensions, ..
        }) => {
            if name == "extension" {
                let frame = object("Extension", format!("{path}.extension[{extensions}]"));
                *extensions += 1;
                frame
            } else {
                unknown(issues, &format!("{path}.{name}"), format!("Unknown element '{name}' in {path} (a primitive may only contain extension)"));
                Frame::Skip
            }
        }
        Some(Frame::Object {
            context,
            path,
            counts,
        }) => {
            let child = table::children(context).and_then(|children| table::child(children, name));
            let Some(&(_, ty, flags)) = child else {
                unknown(
                    issues,
                    &format!("{path}.{name}"),
                    format!("Unknown element '{name}' in {path}"),
                );
                return Frame::Skip;
            };
            let count = counts.entry(name.to_string()).or_insert(0);
            let child_path = if flags & REPEATS != 0 {
                format!("{path}.{name}[{count}]")
            } else {
                format!("{path}.{name}")
            };
            *count += 1;
            match ty {
                FhirType::Xhtml => Frame::Skip,
                FhirType::Resource => Frame::ResourceHolder {
                    path: child_path,
                    seen: false,
                },
                FhirType::BackboneElement | FhirType::Element => {
                    let element_path = format!("{context}.{name}");
                    let context = table::content_reference(&element_path)
                        .map_or(element_path, str::to_string);
                    object(&context, child_path)
                }
                _ if ty.is_primitive() => Frame::Primitive {
                    path: child_path,
                    extensions: 0,
                    has_content: false,
                },
                other => object(other.name(), child_path),
            }
        }
    }
}

fn resource(name: &str, path: String, issues: &mut Vec<Issue>) -> Frame {
    if table::is_resource_type(name) {
        object(name, path)
    } else {
        let message = if path == name {
            format!("'{name}' is not an R4 resource type")
        } else {
            format!("{path}: '{name}' is not an R4 resource type")
        };
        issues.push(Issue {
            severity: Severity::Error,
            code: "not-supported",
            diagnostics: message,
            expression: (path != name).then_some(path),
        });
        Frame::Skip
    }
}

fn object(context: &str, path: String) -> Frame {
    Frame::Object {
        context: context.to_string(),
        path,
        counts: HashMap::new(),
    }
}

fn unknown(issues: &mut Vec<Issue>, path: &str, message: String) {
    issues.push(Issue {
        severity: Severity::Error,
        code: "structure",
        diagnostics: message,
        expression: Some(path.to_string()),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_unknown_elements_with_paths() {
        let xml = br#"<Patient xmlns="http://hl7.org/fhir">
            <name><given value="a"/><foo value="b"/></name>
            <name><given value="c"><extension url="u"><valueString value="x"/></extension><bar/></given></name>
            <contained><Basic><code><text value="t"/></code><baz/></Basic></contained>
            <text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml"><p>x</p></div></text>
        </Patient>"#;
        let issues = walk(xml).issues;
        let messages: Vec<&str> = issues.iter().map(|i| i.diagnostics.as_str()).collect();
        assert_eq!(
            messages,
            vec![
                "Unknown element 'foo' in Patient.name[0]",
                "Unknown element 'bar' in Patient.name[1].given[0] (a primitive may only contain extension)",
                "Unknown element 'baz' in Patient.contained[0]",
            ]
        );
    }

    #[test]
    fn unknown_resource_type() {
        let issues = walk(br#"<Patients xmlns="http://hl7.org/fhir"/>"#).issues;
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].code, "not-supported");
    }
}
