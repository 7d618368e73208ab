//! ValueSet expansion for the `:in` and `:not-in` search modifiers, over the ValueSets this
//! server holds.

use serde_json::Value;

use super::search::invalid;
use crate::error::FhirError;
use crate::store::{TokenMatch, Tx};

/// The codes of the ValueSet `canonical` (`url` or `url|version`) and the codes it excludes.
/// `name` is the search parameter, for error messages.
pub(crate) fn codes(tx: &mut Tx, name: &str, canonical: &str) -> Result<Codes, FhirError> {
    expand(tx, name, canonical, 0)
}

/// The codes a ValueSet selects, and the codes it excludes from those.
pub(crate) type Codes = (Vec<TokenMatch>, Vec<TokenMatch>);

/// Its expansion when the ValueSet has one, else the concepts and whole code systems its
/// compose includes (and the ValueSets it includes, a few levels deep), minus its excludes.
fn expand(tx: &mut Tx, name: &str, canonical: &str, depth: usize) -> Result<Codes, FhirError> {
    let found = super::by_canonical(tx, "ValueSet", canonical)?;
    let Some(stored) = found else {
        return Err(invalid(
            name,
            format!("the ValueSet '{canonical}' is not held by this server"),
        ));
    };
    let vs: Value = serde_json::from_str(stored.content.as_deref().unwrap_or("{}"))
        .map_err(|e| FhirError::internal(format!("stored ValueSet is unreadable: {e}")))?;
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let list = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    if let Some(expansion) = vs.get("expansion") {
        let mut out = Vec::new();
        let mut stack = list(expansion, "contains");
        while let Some(c) = stack.pop() {
            if let Some(code) = text(&c, "code") {
                out.push(TokenMatch {
                    system: Some(text(&c, "system")),
                    code: Some(code),
                });
            }
            stack.extend(list(&c, "contains"));
        }
        return Ok((out, Vec::new()));
    }
    let compose = vs.get("compose").cloned().unwrap_or_default();
    let (mut out, mut except) = (Vec::new(), Vec::new());
    for include in list(&compose, "include") {
        if include.get("filter").is_some() {
            return Err(FhirError::bad_request(
                "not-supported",
                format!("ValueSet '{canonical}' selects codes with a filter, which this server does not expand"),
            )
            .at(name.to_string()));
        }
        for nested in list(&include, "valueSet") {
            if depth >= 4 {
                return Err(invalid(
                    name,
                    format!("ValueSet '{canonical}' nests too deeply"),
                ));
            }
            if let Some(u) = nested.as_str() {
                let (include, exclude) = expand(tx, name, u, depth + 1)?;
                out.extend(include);
                except.extend(exclude);
            }
        }
        let system = text(&include, "system");
        let concepts = list(&include, "concept");
        if concepts.is_empty() {
            if system.is_some() {
                out.push(TokenMatch {
                    system: Some(system),
                    code: None,
                });
            }
        } else {
            out.extend(concepts.iter().filter_map(|c| {
                Some(TokenMatch {
                    system: Some(system.clone()),
                    code: Some(text(c, "code")?),
                })
            }));
        }
    }
    for exclude in list(&compose, "exclude") {
        let system = text(&exclude, "system");
        if exclude.get("filter").is_some() || exclude.get("valueSet").is_some() {
            return Err(FhirError::bad_request(
                "not-supported",
                format!("ValueSet '{canonical}' excludes codes by filter or ValueSet, which this server does not expand"),
            )
            .at(name.to_string()));
        }
        let concepts = list(&exclude, "concept");
        if concepts.is_empty() {
            except.push(TokenMatch {
                system: Some(system.clone()),
                code: None,
            });
        }
        except.extend(concepts.iter().filter_map(|c| {
            Some(TokenMatch {
                system: Some(system.clone()),
                code: Some(text(c, "code")?),
            })
        }));
    }
    Ok((out, except))
}
