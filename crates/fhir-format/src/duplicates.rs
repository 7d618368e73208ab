//! Duplicate JSON property names, which FHIR forbids and `serde_json::Value` silently
//! collapses (the last one wins).

use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::{Issue, Severity};

/// Issues for duplicate property names in `bytes`, whose parsed form is `value`.
pub(crate) fn find(bytes: &[u8], value: &Value) -> Vec<Issue> {
    let mut found = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let walk = Walk {
        path: String::new(),
        found: &mut found,
    };
    if walk.deserialize(&mut deserializer).is_err() {
        // the document was parsed before; nothing more to learn here
        return Vec::new();
    }
    let root = value
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("$");
    found
        .into_iter()
        .map(|(path, key)| {
            let expression = format!("{root}{path}");
            Issue {
                severity: Severity::Error,
                code: "structure",
                diagnostics: format!(
                    "{expression}: property '{key}' occurs more than once (JSON objects must not repeat names)"
                ),
                expression: Some(expression),
            }
        })
        .collect()
}

struct Walk<'a> {
    path: String,
    found: &'a mut Vec<(String, String)>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = format!("{}.{key}", self.path);
            if !seen.insert(key.clone()) {
                self.found.push((self.path.clone(), key));
            }
            map.next_value_seed(Walk {
                path,
                found: self.found,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            let walk = Walk {
                path: format!("{}[{i}]", self.path),
                found: self.found,
            };
            if seq.next_element_seed(walk)?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_duplicates_with_path() {
        let text =
            br#"{"resourceType":"Patient","name":[{"family":"a","family":"b"}],"active":true}"#;
        let value: Value = serde_json::from_slice(text).unwrap();
        let issues = find(text, &value);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].expression.as_deref(), Some("Patient.name[0]"));
        assert!(issues[0].diagnostics.contains("'family'"));
    }

    #[test]
    fn decimals_do_not_confuse_the_walk() {
        let text = br#"{"resourceType":"Observation","valueQuantity":{"value":72.50}}"#;
        let value: Value = serde_json::from_slice(text).unwrap();
        assert!(find(text, &value).is_empty());
    }
}
