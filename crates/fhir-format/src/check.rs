//! Structural check of FHIR JSON against the generated R4 element table.
//!
//! fhirbolt rejects unknown elements but its messages have no element path, it panics
//! on some invalid input and it accepts invalid primitive values; this walk catches all
//! of that first and says where.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::{Map, Value};

use crate::generated::{Child, FhirType, CHOICE, REPEATS};
use crate::primitives::{check_primitive, describe, quote};
use crate::{depth, table, xhtml, Issue, Limits, Severity};

/// Stop collecting after this many issues (a garbage document would yield thousands).
pub(crate) const MAX_ISSUES: usize = 100;

/// Check a resource (root object with `resourceType`). A value nested deeper than the
/// limit gets one issue and is not walked (the walk recurses once per level).
pub(crate) fn check_resource(value: &Value, limits: &Limits) -> Vec<Issue> {
    if let Err(issue) = depth::check_value(value, limits.max_depth) {
        return vec![issue];
    }
    let mut checker = Checker::default();
    checker.resource(value, None, None, false);
    checker.finish()
}

#[derive(Default)]
struct Checker {
    issues: Vec<Issue>,
    suppressed: usize,
    /// The resources being walked, innermost last, for dom-3 (contained resources share
    /// their container's).
    scopes: Vec<Scope>,
}

/// What dom-3 needs to know of a resource and its contained resources.
#[derive(Default)]
struct Scope {
    /// Local references ('#id', '#') anywhere in the resource, contained ones included.
    local: HashSet<String>,
    contained: Vec<Contained>,
    /// Index in `contained` of the contained resource being walked.
    current: Option<usize>,
}

struct Contained {
    id: Option<String>,
    path: String,
    /// It refers to its container (a reference '#').
    refers_to_container: bool,
}

/// The `Element` children every primitive's `_name` object may have.
const PRIMITIVE_EXTENSION: Child = ("extension", FhirType::Extension, REPEATS);
const PRIMITIVE_ID: Child = ("id", FhirType::String, 0);

impl Checker {
    fn finish(mut self) -> Vec<Issue> {
        if self.suppressed > 0 {
            self.issues.push(Issue {
                severity: Severity::Information,
                code: "too-costly",
                diagnostics: format!(
                    "{} further issues were not reported (limit {MAX_ISSUES})",
                    self.suppressed
                ),
                expression: None,
            });
        }
        self.issues
    }

    fn report(&mut self, code: &'static str, expression: &str, message: String) {
        if self.issues.len() >= MAX_ISSUES {
            self.suppressed += 1;
            return;
        }
        let (diagnostics, expression) = if expression.is_empty() {
            (message, None)
        } else {
            (
                format!("{expression}: {message}"),
                Some(expression.to_string()),
            )
        };
        self.issues.push(Issue {
            severity: Severity::Error,
            code,
            diagnostics,
            expression,
        });
    }

    /// A resource at the root (`at` None) or nested (contained, Bundle.entry.resource ...).
    fn resource(
        &mut self,
        value: &Value,
        at: Option<&str>,
        expected: Option<&str>,
        contained: bool,
    ) {
        let Some((resource_type, object)) = self.resource_type(value, at, expected) else {
            return;
        };
        let path = at.map_or_else(|| resource_type.to_string(), str::to_string);
        if contained {
            self.contained(resource_type, object, &path);
        } else {
            self.scopes.push(Scope::default());
            self.object(resource_type, object, &path, true);
            let scope = self.scopes.pop().unwrap_or_default();
            self.unreferenced_contained(scope);
        }
        if resource_type == "Bundle" {
            self.unique_full_urls(object, &path);
        }
    }

    /// The type of a resource and its properties, if it is an object with a known type.
    fn resource_type<'v>(
        &mut self,
        value: &'v Value,
        at: Option<&str>,
        expected: Option<&str>,
    ) -> Option<(&'v str, &'v Map<String, Value>)> {
        let here = at.unwrap_or("");
        let Value::Object(object) = value else {
            self.report(
                "structure",
                here,
                format!(
                    "expected a resource (a JSON object), got {}",
                    describe(value)
                ),
            );
            return None;
        };
        let resource_type = match object.get("resourceType") {
            Some(Value::String(name)) => name.as_str(),
            Some(other) => {
                self.report(
                    "structure",
                    here,
                    format!("resourceType must be a string, got {}", describe(other)),
                );
                return None;
            }
            None => {
                self.report(
                    "required",
                    here,
                    "missing resourceType: a resource must say its type".to_string(),
                );
                return None;
            }
        };
        if !crate::is_resource_type(resource_type) {
            let message = if crate::is_complex_type(resource_type)
                || crate::is_primitive_type(resource_type)
            {
                format!("'{resource_type}' is a FHIR data type, not a resource type")
            } else {
                format!(
                    "unknown resource type {} (not an R4 resource type)",
                    quote(resource_type)
                )
            };
            self.report("not-supported", here, message);
            return None;
        }
        if let Some(expected) = expected {
            if resource_type != expected {
                self.report(
                    "structure",
                    here,
                    format!("expected a {expected} resource here, got {resource_type}"),
                );
                return None;
            }
        }
        Some((resource_type, object))
    }

    /// A contained resource: checked like any other, and against dom-2, dom-4 and dom-5;
    /// dom-3 is checked when its container is done.
    fn contained(&mut self, resource_type: &str, object: &Map<String, Value>, path: &str) {
        self.contained_rules(object, path);
        let Some(scope) = self.scopes.last_mut() else {
            // a contained resource always has a container; be safe anyway
            self.object(resource_type, object, path, true);
            return;
        };
        scope.contained.push(Contained {
            id: object.get("id").and_then(Value::as_str).map(str::to_string),
            path: path.to_string(),
            refers_to_container: false,
        });
        let previous = scope.current.replace(scope.contained.len() - 1);
        self.object(resource_type, object, path, true);
        if let Some(scope) = self.scopes.last_mut() {
            scope.current = previous;
        }
    }

    /// dom-2, dom-4, dom-5: a contained resource holds no resources of its own, has no
    /// version or last-updated time of its own (it is versioned with its container), and
    /// no security labels (those of its container apply).
    fn contained_rules(&mut self, object: &Map<String, Value>, path: &str) {
        if object.contains_key("contained") {
            self.report(
                "invariant",
                &format!("{path}.contained"),
                "a contained resource must not contain resources itself (dom-2)".to_string(),
            );
        }
        let Some(Value::Object(meta)) = object.get("meta") else {
            return;
        };
        for (name, rule) in [
            ("versionId", "dom-4"),
            ("lastUpdated", "dom-4"),
            ("security", "dom-5"),
        ] {
            if meta.contains_key(name) || meta.contains_key(&format!("_{name}")) {
                self.report(
                    "invariant",
                    &format!("{path}.meta.{name}"),
                    format!("a contained resource must not have meta.{name} ({rule})"),
                );
            }
        }
    }

    /// Remember a local reference ('#...' in a Reference, canonical, uri or url) for dom-3,
    /// in every enclosing resource: dom-3 looks at all descendants of the container.
    fn local_reference(&mut self, ty: FhirType, element_path: &str, value: &Value) {
        let Value::String(text) = value else {
            return;
        };
        let is_reference = element_path == "Reference.reference"
            || matches!(ty, FhirType::Canonical | FhirType::Uri | FhirType::Url);
        if !is_reference || !text.starts_with('#') {
            return;
        }
        for scope in &mut self.scopes {
            if let Some(i) = scope.current.filter(|_| text == "#") {
                scope.contained[i].refers_to_container = true;
            }
            scope.local.insert(text.clone());
        }
    }

    /// dom-3: a contained resource is referenced from elsewhere in its container, or
    /// refers to the container itself ('#'). One without an id is not looked at (the
    /// rule's expression yields nothing for it).
    fn unreferenced_contained(&mut self, scope: Scope) {
        for contained in scope.contained {
            let Some(id) = contained.id else {
                continue;
            };
            if contained.refers_to_container || scope.local.contains(&format!("#{id}")) {
                continue;
            }
            self.report(
                "invariant",
                &contained.path,
                format!(
                    "contained resource {} is not referenced from elsewhere in the resource and does not refer to it with '#' (dom-3)",
                    quote(&id)
                ),
            );
        }
    }

    /// bdl-7: outside a history, entries may share a fullUrl only with different
    /// meta.versionId (they are then versions of one resource).
    fn unique_full_urls(&mut self, bundle: &Map<String, Value>, path: &str) {
        if bundle.get("type").and_then(Value::as_str) == Some("history") {
            return;
        }
        let Some(Value::Array(entries)) = bundle.get("entry") else {
            return;
        };
        let mut seen: HashMap<(&str, Option<&str>), usize> = HashMap::new();
        for (i, entry) in entries.iter().enumerate() {
            let Some(full_url) = entry.get("fullUrl").and_then(Value::as_str) else {
                continue;
            };
            let version = entry
                .pointer("/resource/meta/versionId")
                .and_then(Value::as_str);
            let Some(first) = seen.get(&(full_url, version)) else {
                seen.insert((full_url, version), i);
                continue;
            };
            self.report(
                "invariant",
                &format!("{path}.entry[{i}].fullUrl"),
                format!(
                    "entry[{i}] has the same fullUrl and meta.versionId as entry[{first}]; in a Bundle other than a history, fullUrl must be unique unless the versions differ (bdl-7)"
                ),
            );
        }
    }

    /// The children of a complex value; `context` names its definition in the table.
    fn object(
        &mut self,
        context: &str,
        object: &Map<String, Value>,
        path: &str,
        is_resource: bool,
    ) {
        let Some(children) = table::children(context) else {
            // cannot happen with the generated table; be safe anyway
            self.report(
                "not-supported",
                path,
                format!("no definition for {context}"),
            );
            return;
        };
        if object.is_empty() {
            self.report(
                "value",
                path,
                "empty object: FHIR JSON does not allow elements without content (omit it instead)"
                    .to_string(),
            );
            return;
        }
        // choice base name -> JSON names present
        let mut choices: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (key, value) in object {
            if key == "resourceType" && is_resource {
                continue;
            }
            if let Some(base) = key.strip_prefix('_') {
                let child = table::child(children, base).filter(|child| {
                    child.1.is_primitive()
                        && child.1 != FhirType::Xhtml
                        && (base != "id" || is_resource)
                        && !(base == "url" && context == "Extension")
                });
                match child {
                    Some(child) => {
                        if child.2 & CHOICE != 0 {
                            let choice = &base[..base.len() - child.1.name().len()];
                            choices.entry(choice).or_default().insert(base);
                        }
                        self.primitive_extension(child, value, object.get(base), path)
                    }
                    None => self.unknown(key, context, path),
                }
                continue;
            }
            let Some(child) = table::child(children, key) else {
                self.unknown(key, context, path);
                continue;
            };
            if child.2 & CHOICE != 0 {
                let base = &key[..key.len() - child.1.name().len()];
                choices.entry(base).or_default().insert(key);
            }
            let child_path = format!("{path}.{key}");
            let element_path = format!("{context}.{key}");
            self.element(
                child,
                &element_path,
                value,
                object.get(&format!("_{key}")),
                &child_path,
            );
        }
        for (base, names) in choices {
            if names.len() > 1 {
                self.report(
                    "structure",
                    path,
                    format!(
                        "only one of {} may be present ({base}[x] is a choice)",
                        names.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                );
            }
        }
        if context == "Extension" {
            self.extension_rules(object, path);
        }
    }

    fn unknown(&mut self, key: &str, context: &str, path: &str) {
        let message = if key == "resourceType" {
            format!("resourceType is only allowed at the root of a resource, not in {path}")
        } else if key.is_empty() {
            format!("empty property name in {path}")
        } else {
            let hint = if key.ends_with("[x]") {
                " (a choice element is written with its type, e.g. valueString)".to_string()
            } else if let Some(similar) = similar_name(key, context) {
                format!(" (did you mean '{similar}'?)")
            } else {
                String::new()
            };
            format!("Unknown element '{key}' in {path}{hint}")
        };
        // the message already says where; the expression points at the element itself
        self.report_plain("structure", &format!("{path}.{key}"), message);
    }

    /// Like `report`, but the message already says where.
    fn report_plain(&mut self, code: &'static str, path: &str, message: String) {
        if self.issues.len() >= MAX_ISSUES {
            self.suppressed += 1;
            return;
        }
        self.issues.push(Issue {
            severity: Severity::Error,
            code,
            diagnostics: message,
            expression: Some(path.to_string()),
        });
    }

    /// One element (`value` is the JSON value of property `child.0`).
    fn element(
        &mut self,
        child: &Child,
        element_path: &str,
        value: &Value,
        extension: Option<&Value>,
        path: &str,
    ) {
        let (name, ty, flags) = *child;
        if flags & REPEATS != 0 {
            let Value::Array(items) = value else {
                self.report(
                    "structure",
                    path,
                    format!(
                        "{name} repeats, so it must be a JSON array, got {}",
                        describe(value)
                    ),
                );
                return;
            };
            if items.is_empty() {
                self.report(
                    "value",
                    path,
                    "empty array: FHIR JSON does not allow empty arrays (omit the element instead)"
                        .to_string(),
                );
                return;
            }
            let extensions = match extension {
                Some(Value::Array(extensions)) => Some(extensions),
                _ => None,
            };
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{i}]");
                if item.is_null() {
                    let has_extension = ty.is_primitive()
                        && extensions
                            .and_then(|e| e.get(i))
                            .is_some_and(|e| !e.is_null());
                    if !has_extension {
                        self.report(
                            "value",
                            &item_path,
                            "null is not allowed (only as a placeholder in a primitive array whose _ sibling has an extension at this position)"
                                .to_string(),
                        );
                    }
                    continue;
                }
                self.item(ty, element_path, item, &item_path);
            }
        } else {
            if value.is_array() {
                self.report(
                    "structure",
                    path,
                    format!("{name} does not repeat, so it must not be a JSON array"),
                );
                return;
            }
            if value.is_null() {
                self.report(
                    "value",
                    path,
                    "null is not allowed in FHIR JSON (omit the element instead)".to_string(),
                );
                return;
            }
            self.item(ty, element_path, value, path);
        }
    }

    /// One value (an array entry or a single element) of type `ty`.
    fn item(&mut self, ty: FhirType, element_path: &str, value: &Value, path: &str) {
        match ty {
            FhirType::Xhtml => match value {
                Value::String(s) => {
                    if let Err((code, message)) = xhtml::check(s) {
                        self.report(code, path, message);
                    }
                }
                other => self.report(
                    "value",
                    path,
                    format!(
                        "expected the XHTML as a JSON string, got {}",
                        describe(other)
                    ),
                ),
            },
            FhirType::Resource => self.resource(
                value,
                Some(path),
                expected_resource(element_path),
                element_path.ends_with(".contained"),
            ),
            _ if ty.is_primitive() => {
                if let Err((code, message)) = check_primitive(ty, value) {
                    self.report(code, path, message);
                }
                self.local_reference(ty, element_path, value);
            }
            _ => {
                let Value::Object(object) = value else {
                    self.report(
                        "structure",
                        path,
                        format!(
                            "expected a JSON object ({}), got {}",
                            ty.name(),
                            describe(value)
                        ),
                    );
                    return;
                };
                let context = match ty {
                    FhirType::BackboneElement | FhirType::Element => {
                        table::content_reference(element_path).unwrap_or(element_path)
                    }
                    other => other.name(),
                };
                self.object(context, object, path, false);
            }
        }
    }

    /// The `_name` sibling of primitive `child`: id and extensions of the value(s).
    fn primitive_extension(
        &mut self,
        child: &Child,
        value: &Value,
        primitive: Option<&Value>,
        parent: &str,
    ) {
        let (name, _, flags) = *child;
        let path = format!("{parent}.{name}");
        if flags & REPEATS == 0 {
            match value {
                Value::Object(object) => self.element_object(object, &path, name),
                other => self.report(
                    "structure",
                    &path,
                    format!(
                        "_{name} must be a JSON object with id and/or extension, got {}",
                        describe(other)
                    ),
                ),
            }
            return;
        }
        let Value::Array(items) = value else {
            self.report(
                "structure",
                &path,
                format!(
                    "_{name} must be a JSON array aligned with {name}, got {}",
                    describe(value)
                ),
            );
            return;
        };
        let values = match primitive {
            Some(Value::Array(values)) => Some(values),
            _ => None,
        };
        match values {
            Some(values) if values.len() != items.len() => {
                self.report(
                    "structure",
                    &path,
                    format!(
                        "_{name} has {} entries but {name} has {}; the arrays must be aligned (use null as placeholder)",
                        items.len(),
                        values.len()
                    ),
                );
                return;
            }
            _ => {}
        }
        if items.is_empty() {
            self.report("value", &path, format!("_{name} is an empty array"));
            return;
        }
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            match item {
                // a null on both sides is reported with the value array
                Value::Null => {
                    if values.is_none() {
                        self.report(
                            "value",
                            &item_path,
                            format!("_{name}[{i}] is null and there is no value for it"),
                        );
                    }
                }
                Value::Object(object) => self.element_object(object, &item_path, name),
                other => self.report(
                    "structure",
                    &item_path,
                    format!(
                        "_{name} entries must be objects or null, got {}",
                        describe(other)
                    ),
                ),
            }
        }
    }

    /// The object of a primitive's `_name`: only `id` and `extension`.
    fn element_object(&mut self, object: &Map<String, Value>, path: &str, name: &str) {
        if object.is_empty() {
            self.report(
                "value",
                path,
                format!("_{name} is an empty object (omit it instead)"),
            );
            return;
        }
        for (key, value) in object {
            let child = match key.as_str() {
                "id" => PRIMITIVE_ID,
                "extension" => PRIMITIVE_EXTENSION,
                other => {
                    self.report_plain(
                        "structure",
                        path,
                        format!("Unknown element '{other}' in _{name} at {path} (only id and extension are allowed)"),
                    );
                    continue;
                }
            };
            let child_path = format!("{path}.{key}");
            self.element(&child, "Element.extension", value, None, &child_path);
        }
    }

    /// ext-1 and the need for a url, which the table alone does not express.
    fn extension_rules(&mut self, object: &Map<String, Value>, path: &str) {
        if !object.contains_key("url") {
            self.report("required", path, "an extension must have a url".to_string());
        }
        let has_value = object.keys().any(|k| k.starts_with("value"));
        let has_extension = object.contains_key("extension");
        if has_value && has_extension {
            self.report(
                "invalid",
                path,
                "an extension must have either a value[x] or nested extensions, not both (ext-1)"
                    .to_string(),
            );
        } else if !has_value && !has_extension {
            self.report(
                "invalid",
                path,
                "an extension must have a value[x] or nested extensions (ext-1)".to_string(),
            );
        }
    }
}

/// Elements typed with one specific resource type rather than any resource.
fn expected_resource(element_path: &str) -> Option<&'static str> {
    (element_path == "Bundle.entry.response.outcome").then_some("OperationOutcome")
}

/// A known element name differing only in case or by a `_`, for the message.
fn similar_name(key: &str, context: &str) -> Option<&'static str> {
    let children = table::children(context)?;
    let wanted = key.trim_start_matches('_').to_ascii_lowercase();
    children
        .iter()
        .find(|child| child.0.to_ascii_lowercase() == wanted)
        .map(|child| child.0)
}
