//! What a ValueSet selects, read from its expansion or else its compose. The validator (over
//! the conformance package) and the `:in`/`:not-in` search modifiers (over stored ValueSets)
//! share this one reading; each supplies how a nested ValueSet is found.

use serde_json::Value;

use crate::error::FhirError;

/// A selected (system, code). A `None` code stands for every code of the system; a `None`
/// system for a code listed without one.
pub type Code = (Option<String>, Option<String>);

/// The codes a ValueSet includes, and the codes it excludes from those.
#[derive(Debug, Default)]
pub struct Selection {
    pub include: Vec<Code>,
    pub exclude: Vec<Code>,
}

/// Why a ValueSet cannot be turned into a list of codes.
#[derive(Debug)]
pub enum Unexpandable {
    /// Looking up a nested ValueSet failed.
    Failed(FhirError),
    /// A nested ValueSet is not held.
    NotHeld(String),
    /// Codes are selected by a filter (or excluded by a filter or ValueSet), which needs a
    /// terminology server.
    Filter(String),
    /// ValueSets nest more than a few levels deep (or in a circle).
    TooDeep(String),
}

impl Unexpandable {
    pub fn describe(&self) -> String {
        match self {
            Unexpandable::Failed(e) => e.to_string(),
            Unexpandable::NotHeld(url) => {
                format!("the ValueSet '{url}' is not held by this server")
            }
            Unexpandable::Filter(url) => format!(
                "ValueSet '{url}' selects or excludes codes with a filter or another ValueSet, which this server does not expand"
            ),
            Unexpandable::TooDeep(url) => format!("ValueSet '{url}' nests too deeply"),
        }
    }
}

/// Finds a ValueSet by canonical URL (`url` or `url|version`).
pub type Resolve<'a> = dyn FnMut(&str) -> Result<Option<Value>, FhirError> + 'a;

/// The selection of the ValueSet `canonical`.
pub fn select(canonical: &str, resolve: &mut Resolve<'_>) -> Result<Selection, Unexpandable> {
    let mut out = Selection::default();
    select_into(canonical, resolve, &mut out, 0)?;
    Ok(out)
}

fn select_into(
    canonical: &str,
    resolve: &mut Resolve<'_>,
    out: &mut Selection,
    depth: usize,
) -> Result<(), Unexpandable> {
    if depth > 4 {
        return Err(Unexpandable::TooDeep(canonical.to_string()));
    }
    let vs = resolve(canonical)
        .map_err(Unexpandable::Failed)?
        .ok_or_else(|| Unexpandable::NotHeld(canonical.to_string()))?;
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let list = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    if let Some(expansion) = vs.get("expansion") {
        let mut stack = list(expansion, "contains");
        while let Some(c) = stack.pop() {
            if let Some(code) = text(&c, "code") {
                out.include.push((text(&c, "system"), Some(code)));
            }
            stack.extend(list(&c, "contains"));
        }
        return Ok(());
    }
    let compose = vs.get("compose").cloned().unwrap_or_default();
    for include in list(&compose, "include") {
        if include.get("filter").is_some() {
            return Err(Unexpandable::Filter(canonical.to_string()));
        }
        for nested in list(&include, "valueSet") {
            if let Some(url) = nested.as_str() {
                select_into(url, resolve, out, depth + 1)?;
            }
        }
        let system = text(&include, "system");
        let concepts = list(&include, "concept");
        if concepts.is_empty() && system.is_some() {
            out.include.push((system.clone(), None));
        }
        out.include.extend(
            concepts
                .iter()
                .filter_map(|c| Some((system.clone(), Some(text(c, "code")?)))),
        );
    }
    for exclude in list(&compose, "exclude") {
        if exclude.get("filter").is_some() || exclude.get("valueSet").is_some() {
            return Err(Unexpandable::Filter(canonical.to_string()));
        }
        let system = text(&exclude, "system");
        let concepts = list(&exclude, "concept");
        if concepts.is_empty() {
            out.exclude.push((system.clone(), None));
        }
        out.exclude.extend(
            concepts
                .iter()
                .filter_map(|c| Some((system.clone(), Some(text(c, "code")?)))),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compose_nesting_excludes_and_expansions() {
        let sets = [
            json!({"url": "a", "compose": {
                "include": [{"system": "s", "concept": [{"code": "1"}, {"code": "2"}]},
                            {"valueSet": ["b"]}, {"system": "whole"}],
                "exclude": [{"system": "s", "concept": [{"code": "2"}]}]}}),
            json!({"url": "b", "expansion": {"contains": [
                {"system": "t", "code": "x", "contains": [{"system": "t", "code": "y"}]}]}}),
            json!({"url": "c", "compose": {"include": [{"system": "s", "filter": [{}]}]}}),
            json!({"url": "d", "compose": {"include": [{"valueSet": ["d"]}]}}),
        ];
        let mut resolve = |url: &str| Ok(sets.iter().find(|s| s["url"] == url).cloned());
        let s = select("a", &mut resolve).unwrap();
        let code = |s: &str, c: Option<&str>| (Some(s.to_string()), c.map(str::to_string));
        assert_eq!(
            s.include,
            [
                code("s", Some("1")),
                code("s", Some("2")),
                code("t", Some("x")),
                code("t", Some("y")),
                code("whole", None)
            ]
        );
        assert_eq!(s.exclude, [code("s", Some("2"))]);
        assert!(matches!(
            select("c", &mut resolve),
            Err(Unexpandable::Filter(_))
        ));
        assert!(matches!(
            select("d", &mut resolve),
            Err(Unexpandable::TooDeep(_))
        ));
        assert!(matches!(
            select("e", &mut resolve),
            Err(Unexpandable::NotHeld(_))
        ));
    }
}
