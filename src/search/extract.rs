//! The index values a resource yields for each of its search parameters.

use std::collections::HashSet;

use serde_json::Value;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use super::date::date_range;
use super::fhirpath::{self, Item};
use super::reference;
use super::registry::{params_with_rows, ParamType, SearchParam};

/// One value of one search parameter of a resource.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IndexEntry {
    pub code: &'static str,
    pub value: IndexValue,
}

/// A value in the shape of its index table.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IndexValue {
    /// A Coding, each coding of a CodeableConcept (its text as a display-only entry), an
    /// Identifier (system, value, type.text), a ContactPoint (value) or a primitive (code).
    Token {
        system: Option<String>,
        code: Option<String>,
        display: Option<String>,
    },
    /// A string, or each part of a HumanName or Address.
    String {
        normalized: String,
        exact: String,
    },
    /// A Reference or canonical; `version` is the `_history` or `|` version.
    Reference {
        target_type: Option<String>,
        target_id: Option<String>,
        version: Option<String>,
        url: Option<String>,
        identifier_system: Option<String>,
        identifier_value: Option<String>,
    },
    /// The instants a date, dateTime, instant, Period or Timing event covers, in microseconds
    /// since the epoch (UTC); an open Period end is `i64::MAX`, an open start `i64::MIN`.
    Date {
        low: i64,
        high: i64,
    },
    /// A number as written.
    Number {
        value: String,
    },
    /// A Quantity (or Age, Duration, ...) with its value as written.
    Quantity {
        value: String,
        system: Option<String>,
        code: Option<String>,
        unit: Option<String>,
    },
    Uri {
        value: String,
    },
}

/// All index entries of `resource`, for every indexed parameter of its type, without
/// duplicates.
pub fn extract(resource: &Value) -> Vec<IndexEntry> {
    let Some(resource_type) = resource.get("resourceType").and_then(Value::as_str) else {
        return Vec::new();
    };
    let mut seen = HashSet::new();
    let mut entries = Vec::new();
    for param in params_with_rows(resource_type) {
        let Some(Ok(expr)) = fhirpath::compiled(param.expression) else {
            continue;
        };
        for item in fhirpath::evaluate(expr, resource) {
            for value in values(param, &item, resource) {
                let entry = IndexEntry {
                    code: param.code,
                    value,
                };
                if seen.insert(entry.clone()) {
                    entries.push(entry);
                }
            }
        }
    }
    entries
}

/// The text form that string search compares: lower case, accents removed, whitespace runs
/// collapsed to one space. "Émile  Ğürsel" becomes "emile gursel".
pub fn normalize(s: &str) -> String {
    let plain: String = s
        .to_lowercase()
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .collect();
    plain.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn values(param: &SearchParam, item: &Item, root: &Value) -> Vec<IndexValue> {
    let value = item.value.as_ref();
    let ty = item.type_name.as_deref();
    match param.kind {
        ParamType::Token => tokens(value),
        ParamType::String => strings(value),
        ParamType::Reference => references(value, param.targets, root).into_iter().collect(),
        ParamType::Date => dates(value, ty),
        ParamType::Number => match value {
            Value::Number(n) => vec![IndexValue::Number {
                value: n.to_string(),
            }],
            _ => Vec::new(),
        },
        ParamType::Quantity => quantity(value).into_iter().collect(),
        ParamType::Uri => match value {
            Value::String(s) => vec![IndexValue::Uri { value: s.clone() }],
            _ => Vec::new(),
        },
        ParamType::Composite | ParamType::Special => Vec::new(),
    }
}

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_string)
}

const CONTACT_POINT_SYSTEMS: &[&str] = &["phone", "fax", "email", "pager", "url", "sms", "other"];

fn tokens(value: &Value) -> Vec<IndexValue> {
    let token = |system, code, display| IndexValue::Token {
        system,
        code,
        display,
    };
    match value {
        Value::String(s) => vec![token(None, Some(s.clone()), None)],
        Value::Bool(b) => vec![token(None, Some(b.to_string()), None)],
        Value::Number(n) => vec![token(None, Some(n.to_string()), None)],
        Value::Object(object) if object.contains_key("coding") || is_text_only(value) => {
            let codings = value
                .get("coding")
                .and_then(Value::as_array)
                .into_iter()
                .flatten();
            let mut out: Vec<_> = codings.flat_map(tokens).collect();
            if let Some(t) = text(value, "text") {
                out.push(token(None, None, Some(t)));
            }
            out
        }
        Value::Object(object) if object.contains_key("value") => {
            let system = text(value, "system");
            let code = text(value, "value");
            if system
                .as_deref()
                .is_some_and(|s| CONTACT_POINT_SYSTEMS.contains(&s))
            {
                return vec![token(None, code, None)];
            }
            let display = value.get("type").and_then(|t| text(t, "text"));
            // For `:of-type`, each type coding is indexed once more with the system written
            // as `type-system|type-code`, a form no ordinary system has.
            let of_type = value
                .pointer("/type/coding")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| Some(format!("{}|{}", text(c, "system")?, text(c, "code")?)))
                .map(|t| token(Some(t), code.clone(), None))
                .collect::<Vec<_>>();
            let mut out = vec![token(system, code, display)];
            out.extend(of_type);
            out
        }
        Value::Object(_) => {
            let (system, code) = (text(value, "system"), text(value, "code"));
            if system.is_none() && code.is_none() {
                return Vec::new();
            }
            vec![token(system, code, text(value, "display"))]
        }
        _ => Vec::new(),
    }
}

/// A CodeableConcept with only a text.
fn is_text_only(value: &Value) -> bool {
    value.as_object().is_some_and(|o| {
        o.contains_key("text") && !o.contains_key("system") && !o.contains_key("value")
    })
}

/// The parts of a HumanName or Address that string search matches, each on its own.
const NAME_AND_ADDRESS_PARTS: &[&str] = &[
    "text",
    "family",
    "given",
    "prefix",
    "suffix",
    "line",
    "city",
    "district",
    "state",
    "postalCode",
    "country",
];

fn strings(value: &Value) -> Vec<IndexValue> {
    let string = |s: &str| IndexValue::String {
        normalized: normalize(s),
        exact: s.to_string(),
    };
    match value {
        Value::String(s) => vec![string(s)],
        Value::Object(object) => NAME_AND_ADDRESS_PARTS
            .iter()
            .filter_map(|part| object.get(*part))
            .flat_map(|v| match v {
                Value::Array(items) => items.iter().collect(),
                single => vec![single],
            })
            .filter_map(Value::as_str)
            .map(string)
            .collect(),
        _ => Vec::new(),
    }
}

fn references(value: &Value, targets: &[&str], root: &Value) -> Option<IndexValue> {
    // A resource in place of a reference (`Bundle.entry[0].resource`) stands for itself.
    if let Some(resource_type) = value.get("resourceType").and_then(Value::as_str) {
        if !targets.contains(&resource_type) {
            return None;
        }
        return Some(IndexValue::Reference {
            target_type: Some(resource_type.to_string()),
            target_id: text(value, "id"),
            version: None,
            url: None,
            identifier_system: None,
            identifier_value: None,
        });
    }
    let written = match value {
        Value::String(s) => Some(s.as_str()),
        Value::Object(_) => value.get("reference").and_then(Value::as_str),
        _ => return None,
    };
    let target = written.map(reference::parse).unwrap_or_default();
    let contained_type = written.filter(|w| w.starts_with('#')).and_then(|w| {
        let contained = root.get("contained")?.as_array()?;
        let found = contained
            .iter()
            .find(|c| c.get("id").and_then(Value::as_str) == Some(&w[1..]))?;
        found.get("resourceType").and_then(Value::as_str)
    });
    let identifier = value.get("identifier");
    let entry = IndexValue::Reference {
        target_type: target
            .resource_type
            .or(contained_type)
            .or_else(|| value.get("type").and_then(Value::as_str))
            .map(str::to_string),
        target_id: target.id.map(str::to_string),
        version: target.version.map(str::to_string),
        url: target.url.map(str::to_string),
        identifier_system: identifier.and_then(|i| text(i, "system")),
        identifier_value: identifier.and_then(|i| text(i, "value")),
    };
    let empty = IndexValue::Reference {
        target_type: None,
        target_id: None,
        version: None,
        url: None,
        identifier_system: None,
        identifier_value: None,
    };
    (entry != empty).then_some(entry)
}

fn dates(value: &Value, ty: Option<&str>) -> Vec<IndexValue> {
    let date = |(low, high)| IndexValue::Date { low, high };
    match value {
        Value::String(s) => date_range(s).map(date).into_iter().collect(),
        Value::Object(object) if ty == Some("Timing") || object.contains_key("event") => object
            .get("event")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter_map(date_range)
            .map(date)
            .collect(),
        Value::Object(object) if object.contains_key("start") || object.contains_key("end") => {
            let bound = |key| object.get(key).and_then(Value::as_str).map(date_range);
            let low = match bound("start") {
                None => i64::MIN,
                Some(Some((low, _))) => low,
                Some(None) => return Vec::new(),
            };
            let high = match bound("end") {
                None => i64::MAX,
                Some(Some((_, high))) => high,
                Some(None) => return Vec::new(),
            };
            vec![IndexValue::Date { low, high }]
        }
        _ => Vec::new(),
    }
}

/// A Quantity or one of its kinds; Range and SampledData have no single value to index.
fn quantity(value: &Value) -> Option<IndexValue> {
    let Some(Value::Number(n)) = value.get("value") else {
        return None;
    };
    Some(IndexValue::Quantity {
        value: n.to_string(),
        system: text(value, "system"),
        code: text(value, "code"),
        unit: text(value, "unit"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_folds_case_accents_and_spaces() {
        assert_eq!(normalize("Émile"), "emile");
        assert_eq!(normalize("Ğürsel"), "gursel");
        assert_eq!(normalize("  van   der\tMeer\n"), "van der meer");
        assert_eq!(normalize("Çelik-Öztürk"), "celik-ozturk");
        assert_eq!(normalize("İlhan"), "ilhan");
        assert_eq!(normalize("Ångström ÿ"), "angstrom y");
        assert_eq!(normalize(""), "");
    }
}
