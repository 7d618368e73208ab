//! A StructureDefinition's differential, compiled into rules: cardinalities, fixed and pattern
//! values, bindings, reference targets, and slices that pick the items they apply to.

use serde_json::Value;

/// How strongly a binding holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strength {
    Required,
    Extensible,
}

/// How a slice recognises its items.
#[derive(Clone, Debug, PartialEq)]
pub enum Discriminator {
    /// Items that contain this pattern (or equal this fixed value).
    Pattern(Value),
    /// Extensions with this url.
    Url(String),
}

/// One step of an element id: `code` or `code:sliceName`.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub name: String,
    pub slice: Option<String>,
}

/// What one differential element says.
#[derive(Clone, Debug, Default)]
pub struct Rule {
    /// The element id split into steps after the resource type.
    pub steps: Vec<Step>,
    /// The element id, for messages.
    pub id: String,
    pub min: Option<u64>,
    /// `None` for `*` or unstated.
    pub max: Option<u64>,
    /// Every item must equal this.
    pub fixed: Option<Value>,
    /// Every item must contain this.
    pub pattern: Option<Value>,
    pub binding: Option<(Strength, String)>,
    /// Allowed target resource types of a Reference (empty: any).
    pub targets: Vec<String>,
    /// For a choice element (`value[x]`), the types it may take (empty: any).
    pub choices: Vec<String>,
}

/// A compiled profile.
#[derive(Clone, Debug)]
pub struct Profile {
    pub url: String,
    pub name: String,
    pub res_type: String,
    pub rules: Vec<Rule>,
    /// Slices by (path of steps before and including the sliced element without slice names,
    /// slice name).
    pub slices: Vec<(String, String, Discriminator)>,
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// The value of the first key that starts with `prefix` (`fixedCode`, `patternCoding`...).
fn prefixed<'a>(element: &'a Value, prefix: &str) -> Option<&'a Value> {
    element.as_object()?.iter().find_map(|(k, v)| {
        k.strip_prefix(prefix)
            .filter(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()))
            .map(|_| v)
    })
}

/// Splits `Consent.provision.code:treatment` into steps after the type.
fn steps(id: &str) -> Vec<Step> {
    id.split('.')
        .skip(1)
        .map(|s| match s.split_once(':') {
            Some((n, slice)) => Step {
                name: n.to_string(),
                slice: Some(slice.to_string()),
            },
            None => Step {
                name: s.to_string(),
                slice: None,
            },
        })
        .collect()
}

/// The resource type a target profile URL stands for: the last part of a core URL, or the type
/// of a profile we hold (looked up by the caller through `type_of`).
fn target_type(url: &str, type_of: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    match url.strip_prefix("http://hl7.org/fhir/StructureDefinition/") {
        Some(t) => Some(t.to_string()),
        None => type_of(url),
    }
}

impl Profile {
    /// Compiles a StructureDefinition; `None` when it profiles neither a resource nor an
    /// extension.
    pub fn compile(sd: &Value, type_of: &dyn Fn(&str) -> Option<String>) -> Option<Profile> {
        let extension = text(sd, "type") == Some("Extension");
        if text(sd, "kind") != Some("resource") && !extension {
            return None;
        }
        let res_type = text(sd, "type")?.to_string();
        let mut rules = Vec::new();
        let mut slices = Vec::new();
        let elements = sd
            .pointer("/differential/element")
            .and_then(Value::as_array)?;
        for e in elements {
            let id = text(e, "id").or_else(|| text(e, "path"))?.to_string();
            let steps = steps(&id);
            if steps.is_empty() {
                continue;
            }
            let last = steps.last()?;
            let is_slice_root = last.slice.is_some() && text(e, "sliceName").is_some();
            let fixed = prefixed(e, "fixed").cloned();
            let pattern = prefixed(e, "pattern").cloned();
            if is_slice_root {
                let path: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
                let slice = last.slice.clone().unwrap_or_default();
                let profile_url = e
                    .pointer("/type/0/profile/0")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let discriminator = match (&pattern, &fixed, profile_url) {
                    (Some(p), _, _) | (None, Some(p), _) => Discriminator::Pattern(p.clone()),
                    (None, None, Some(url)) => Discriminator::Url(url),
                    _ => continue,
                };
                slices.push((path.join("."), slice, discriminator));
            }
            let binding = e.get("binding").and_then(|b| {
                let strength = match text(b, "strength")? {
                    "required" => Strength::Required,
                    "extensible" => Strength::Extensible,
                    _ => return None,
                };
                Some((strength, text(b, "valueSet")?.to_string()))
            });
            let targets = e
                .get("type")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|t| text(t, "code") == Some("Reference"))
                .flat_map(|t| {
                    t.get("targetProfile")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default()
                })
                .filter_map(|u| target_type(u.as_str()?, type_of))
                .collect();
            let choices = match last.name.ends_with("[x]") {
                true => e
                    .get("type")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|t| text(t, "code").map(str::to_string))
                    .collect(),
                false => Vec::new(),
            };
            rules.push(Rule {
                steps,
                choices,
                id,
                min: e.get("min").and_then(Value::as_u64),
                max: text(e, "max").and_then(|m| m.parse().ok()),
                // A slice's own pattern only picks its items.
                fixed: fixed.filter(|_| !is_slice_root),
                pattern: pattern.filter(|_| !is_slice_root),
                binding,
                targets,
            });
        }
        Some(Profile {
            url: text(sd, "url")?.to_string(),
            name: text(sd, "name").unwrap_or_default().to_string(),
            res_type,
            rules,
            slices,
        })
    }

    /// How items of `path` (steps without slice names) are recognised as slice `slice`.
    pub fn discriminator(&self, path: &str, slice: &str) -> Option<&Discriminator> {
        self.slices
            .iter()
            .find(|(p, s, _)| p == path && s == slice)
            .map(|(_, _, d)| d)
    }
}

/// True when `value` contains everything in `pattern`: equal primitives, objects with at least
/// the pattern's keys, arrays where every pattern item matches some item.
pub fn contains(value: &Value, pattern: &Value) -> bool {
    match (value, pattern) {
        (Value::Object(v), Value::Object(p)) => p
            .iter()
            .all(|(k, pv)| v.get(k).is_some_and(|vv| contains(vv, pv))),
        (Value::Array(v), Value::Array(p)) => {
            p.iter().all(|pi| v.iter().any(|vi| contains(vi, pi)))
        }
        (v, p) => v == p,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patterns_match_as_subsets() {
        let cc = json!({"coding": [{"system": "s", "code": "a", "display": "A"}, {"system": "t", "code": "b"}], "text": "x"});
        assert!(contains(
            &cc,
            &json!({"coding": [{"system": "t", "code": "b"}]})
        ));
        assert!(!contains(
            &cc,
            &json!({"coding": [{"system": "t", "code": "a"}]})
        ));
        assert!(contains(&json!("x"), &json!("x")));
    }

    #[test]
    fn element_ids_split_into_steps() {
        let s = steps("Consent.provision.code:treatment.coding");
        assert_eq!(s.len(), 3);
        assert_eq!(s[1].slice.as_deref(), Some("treatment"));
        assert_eq!(s[2].name, "coding");
    }
}
