//! The search interaction: FHIR query parameters → store conditions → a `searchset` Bundle
//! with cursor paging.

use fhir_format::Severity;
use serde_json::{json, Value};

use super::history::{encode_query_value, page_size};
use super::{check_type, format_instant};
use crate::error::{issue, operation_outcome, FhirError};
use crate::search::{self, ParamType};
use crate::store::{
    Condition, Prefix, RefMatch, SearchQuery, Store, StringMode, TokenMatch, Tx, Version,
};

/// Parameters that steer the answer rather than select resources.
const CONTROL: &[&str] = &[
    "_format",
    "_pretty",
    "_count",
    "_cursor",
    "_total",
    "_include",
    "_revinclude",
];

/// One `_include` or `_revinclude` value: `Source:param[:TargetType]`.
struct Inclusion<'a> {
    source: &'a str,
    param: &'a str,
    target: Option<&'a str>,
}

fn inclusion<'a>(name: &str, value: &'a str) -> Result<Inclusion<'a>, FhirError> {
    let mut parts = value.split(':');
    let (Some(source), Some(param)) = (parts.next(), parts.next()) else {
        return Err(invalid(
            name,
            format!("{name} must look like Type:parameter, not '{value}'"),
        ));
    };
    let target = parts.next();
    let known = search::param(source, param).is_some_and(|p| p.kind == ParamType::Reference);
    if !known || parts.next().is_some() {
        return Err(invalid(
            name,
            format!("'{value}' does not name a reference search parameter of {source}"),
        ));
    }
    Ok(Inclusion {
        source,
        param,
        target,
    })
}

/// The resources `_include` and `_revinclude` add to a page of matches, each once and none
/// that is already a match.
fn included(
    tx: &mut Tx,
    res_type: &str,
    params: &[(String, String)],
    found: &[Version],
) -> Result<Vec<Version>, FhirError> {
    let ids: Vec<String> = found.iter().map(|v| v.res_id.clone()).collect();
    let mut seen: std::collections::HashSet<(String, String)> = found
        .iter()
        .map(|v| (v.res_type.clone(), v.res_id.clone()))
        .collect();
    let mut out = Vec::new();
    if ids.is_empty() {
        return Ok(out);
    }
    for (name, value) in params {
        let wanted: Vec<(String, Vec<String>)> = match name.as_str() {
            "_include" => {
                let inc = inclusion(name, value)?;
                if inc.source != res_type {
                    return Err(invalid(
                        name,
                        format!("{value} does not start from {res_type}"),
                    ));
                }
                let mut by_type: std::collections::BTreeMap<String, Vec<String>> =
                    Default::default();
                for (t, id) in tx.referenced(res_type, &ids, inc.param, inc.target)? {
                    by_type.entry(t).or_default().push(id);
                }
                by_type.into_iter().collect()
            }
            "_revinclude" => {
                let inc = inclusion(name, value)?;
                if inc.target.is_some_and(|t| t != res_type) {
                    continue;
                }
                let sources = tx.referencing(inc.source, inc.param, res_type, &ids)?;
                vec![(inc.source.to_string(), sources)]
            }
            _ => continue,
        };
        for (t, ids) in wanted {
            for v in tx.current_many(&t, &ids)? {
                if seen.insert((v.res_type.clone(), v.res_id.clone())) {
                    out.push(v);
                }
            }
        }
    }
    Ok(out)
}

/// Splits a parameter value on unescaped commas (`\,` is a literal comma).
fn split_values(v: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some(',' | '|' | '$' | '\\')) => {
                out.last_mut()
                    .unwrap_or(&mut String::new())
                    .push(chars.next().unwrap_or('\\'));
            }
            ',' => out.push(String::new()),
            c => {
                if let Some(last) = out.last_mut() {
                    last.push(c)
                }
            }
        }
    }
    out
}

fn invalid(name: &str, text: String) -> FhirError {
    FhirError::bad_request("value", text).at(name.to_string())
}

fn prefixed(v: &str) -> (Prefix, &str) {
    let prefixes = [
        ("eq", Prefix::Eq),
        ("ne", Prefix::Ne),
        ("gt", Prefix::Gt),
        ("lt", Prefix::Lt),
        ("ge", Prefix::Ge),
        ("le", Prefix::Le),
        ("sa", Prefix::Sa),
        ("eb", Prefix::Eb),
        ("ap", Prefix::Ap),
    ];
    for (p, prefix) in prefixes {
        if let Some(rest) = v.strip_prefix(p) {
            if rest.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.') {
                return (prefix, rest);
            }
        }
    }
    (Prefix::Eq, v)
}

/// A decimal search value covers the interval its precision implies (`1.5` is [1.45, 1.55)).
fn number_range(name: &str, text: &str) -> Result<(f64, f64), FhirError> {
    let v: f64 = text
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| invalid(name, format!("'{text}' is not a number")))?;
    let decimals = text.split_once('.').map_or(0, |(_, d)| d.len()) as i32;
    let half = 0.5 * 10f64.powi(-decimals);
    Ok((v - half, v + half))
}

fn token(v: &str) -> TokenMatch {
    match v.split_once('|') {
        None => TokenMatch {
            system: None,
            code: Some(v.to_string()),
        },
        Some(("", code)) => TokenMatch {
            system: Some(None),
            code: Some(code.to_string()),
        },
        Some((system, "")) => TokenMatch {
            system: Some(Some(system.to_string())),
            code: None,
        },
        Some((system, code)) => TokenMatch {
            system: Some(Some(system.to_string())),
            code: Some(code.to_string()),
        },
    }
}

fn reference(v: &str, type_modifier: Option<&str>, base_url: &str) -> RefMatch {
    let local = v
        .strip_prefix(base_url)
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or(v);
    if local.contains("://") || local.starts_with("urn:") {
        let (url, version) = match local.split_once('|') {
            Some((u, ver)) => (u.to_string(), Some(ver.to_string())),
            None => (local.to_string(), None),
        };
        return RefMatch::Url { url, version };
    }
    match local.split_once('/') {
        Some((t, id)) => RefMatch::Id {
            target_type: Some(t.to_string()),
            id: id.split('/').next().unwrap_or(id).to_string(),
        },
        None => RefMatch::Id {
            target_type: type_modifier.map(str::to_string),
            id: local.to_string(),
        },
    }
}

/// How many links a chained parameter may have (`a.b.c.d` is three).
const MAX_CHAIN: usize = 3;

/// A chained parameter `link[:Type].rest=value`: `link` is a reference parameter of
/// `res_type`, and `rest` is searched on each target type that knows it.
fn chain(
    res_type: &str,
    name: &str,
    link: &str,
    rest: &str,
    value: &str,
    base_url: &str,
) -> Result<Condition, FhirError> {
    if name.matches('.').count() > MAX_CHAIN {
        return Err(FhirError::bad_request(
            "not-supported",
            format!("chains longer than {MAX_CHAIN} links are not supported"),
        )
        .at(name.to_string()));
    }
    let (code, type_modifier) = match link.split_once(':') {
        Some((c, t)) => (c, Some(t)),
        None => (link, None),
    };
    let p = search::param(res_type, code)
        .filter(|p| p.kind == ParamType::Reference)
        .ok_or_else(|| {
            invalid(
                name,
                format!("'{code}' is not a reference search parameter of {res_type}"),
            )
        })?;
    let candidates: Vec<&str> = match type_modifier {
        Some(t) if p.targets.contains(&t) => vec![t],
        Some(t) => return Err(invalid(name, format!("{code} cannot refer to a {t}"))),
        None => p.targets.to_vec(),
    };
    let mut targets = Vec::new();
    for t in candidates {
        if let Some(c) = condition(t, rest, value, base_url)? {
            targets.push((t.to_string(), c));
        }
    }
    if targets.is_empty() {
        return Err(invalid(
            name,
            format!("no resource type that {code} refers to has a search parameter '{rest}'"),
        ));
    }
    Ok(Condition::Chain {
        param: p.code.to_string(),
        targets,
    })
}

/// Turns one `name[:modifier]=value` into a condition.
fn condition(
    res_type: &str,
    name: &str,
    value: &str,
    base_url: &str,
) -> Result<Option<Condition>, FhirError> {
    if let Some((link, rest)) = name.split_once('.') {
        return chain(res_type, name, link, rest, value, base_url).map(Some);
    }
    let (code, modifier) = match name.split_once(':') {
        Some((c, m)) => (c, Some(m)),
        None => (name, None),
    };
    let values = split_values(value);
    if values.iter().all(|v| v.is_empty()) {
        return Err(invalid(name, format!("parameter {name} has no value")));
    }
    if code == "_id" && modifier.is_none() {
        return Ok(Some(Condition::Id(values)));
    }
    let Some(p) = search::param(res_type, code).filter(|p| p.is_indexed()) else {
        return Ok(None);
    };
    let param = p.code.to_string();
    let unsupported = || {
        FhirError::bad_request(
            "not-supported",
            format!(
                "modifier ':{}' is not supported on {code}",
                modifier.unwrap_or_default()
            ),
        )
        .at(name.to_string())
    };
    let c = match p.kind {
        ParamType::Token => match modifier {
            None | Some("not") => Condition::Token {
                param,
                values: values.iter().map(|v| token(v)).collect(),
                text: None,
                negate: modifier.is_some(),
            },
            Some("text") => Condition::Token {
                param,
                values: Vec::new(),
                text: Some(values),
                negate: false,
            },
            Some(_) => return Err(unsupported()),
        },
        ParamType::String => {
            let mode = match modifier {
                None => StringMode::StartsWith,
                Some("exact") => StringMode::Exact,
                Some("contains") => StringMode::Contains,
                Some(_) => return Err(unsupported()),
            };
            let values = match mode {
                StringMode::Exact => values,
                _ => values.iter().map(|v| search::normalize(v)).collect(),
            };
            Condition::String {
                param,
                values,
                mode,
            }
        }
        ParamType::Reference => match modifier {
            Some("identifier") => Condition::Reference {
                param,
                values: values
                    .iter()
                    .map(|v| match v.split_once('|') {
                        Some((s, val)) => RefMatch::Identifier {
                            system: (!s.is_empty()).then(|| s.to_string()),
                            value: val.to_string(),
                        },
                        None => RefMatch::Identifier {
                            system: None,
                            value: v.clone(),
                        },
                    })
                    .collect(),
            },
            Some(t) if !p.targets.contains(&t) => {
                if fhir_format::is_resource_type(t) {
                    Condition::Nothing
                } else {
                    return Err(unsupported());
                }
            }
            type_modifier => Condition::Reference {
                param,
                values: values
                    .iter()
                    .map(|v| reference(v, type_modifier, base_url))
                    .collect(),
            },
        },
        ParamType::Date => {
            if modifier.is_some() {
                return Err(unsupported());
            }
            let mut ranges = Vec::new();
            for v in &values {
                let (prefix, text) = prefixed(v);
                let (low, high) = search::date_range(text).ok_or_else(|| {
                    invalid(
                        name,
                        format!("'{text}' is not a FHIR date, dateTime or instant"),
                    )
                })?;
                ranges.push((prefix, low, high));
            }
            Condition::Date {
                param,
                values: ranges,
            }
        }
        ParamType::Number | ParamType::Quantity => {
            if modifier.is_some() {
                return Err(unsupported());
            }
            let mut ranges = Vec::new();
            for v in &values {
                let (prefix, text) = prefixed(v);
                let mut parts = text.splitn(3, '|');
                let number = parts.next().unwrap_or_default();
                let system = parts.next().filter(|s| !s.is_empty()).map(str::to_string);
                let unit = parts.next().filter(|s| !s.is_empty()).map(str::to_string);
                let (low, high) = number_range(name, number)?;
                ranges.push((prefix, low, high, system, unit));
            }
            Condition::Number {
                param,
                values: ranges,
            }
        }
        ParamType::Uri => match modifier {
            None => Condition::Uri { param, values },
            Some(_) => return Err(unsupported()),
        },
        ParamType::Composite | ParamType::Special => return Ok(None),
    };
    Ok(Some(c))
}

/// The conditions of a query, and the parameters it ignores. Unknown parameters are refused
/// when `strict`.
fn conditions(
    res_type: &str,
    params: &[(String, String)],
    base_url: &str,
    strict: bool,
) -> Result<(Vec<Condition>, Vec<String>), FhirError> {
    let mut conditions = Vec::new();
    let mut ignored = Vec::new();
    for (name, value) in params {
        if CONTROL.contains(&name.as_str()) {
            continue;
        }
        if name.starts_with("_include:") || name.starts_with("_revinclude:") {
            return Err(FhirError::bad_request(
                "not-supported",
                format!(
                    "{name} is not supported yet; use {} without a modifier",
                    name.split(':').next().unwrap_or_default()
                ),
            )
            .at(name.clone()));
        }
        match condition(res_type, name, value, base_url)? {
            Some(c) => conditions.push(c),
            None if strict => {
                return Err(FhirError::bad_request(
                    "not-supported",
                    format!("search parameter '{name}' is not supported for {res_type}"),
                )
                .at(name.clone()))
            }
            None => ignored.push(name.clone()),
        }
    }
    Ok((conditions, ignored))
}

/// Up to `limit` current resources that a conditional interaction's query selects. Every
/// parameter must be understood: ignoring one would select more than the client meant.
pub(crate) fn matching(
    tx: &mut Tx,
    res_type: &str,
    params: &[(String, String)],
    base_url: &str,
    limit: i64,
) -> Result<Vec<Version>, FhirError> {
    let (conditions, _) = conditions(res_type, params, base_url, true)?;
    if conditions.is_empty() {
        return Err(FhirError::bad_request(
            "required",
            format!("a conditional interaction needs search parameters that select {res_type} resources"),
        ));
    }
    Ok(tx.search(&SearchQuery {
        res_type: res_type.to_string(),
        conditions,
        after_id: None,
        limit,
    })?)
}

/// Runs a type-level search. Unknown parameters are reported in an OperationOutcome entry and
/// otherwise ignored, or refused when `strict` (`Prefer: handling=strict`).
pub fn search(
    store: &Store,
    res_type: &str,
    params: &[(String, String)],
    base_url: &str,
    strict: bool,
) -> Result<Value, FhirError> {
    check_type(res_type)?;
    store.read(|tx| search_in(tx, res_type, params, base_url, strict))
}

/// [`search`] on a connection the caller holds (inside a transaction Bundle).
pub(crate) fn search_in(
    tx: &mut Tx,
    res_type: &str,
    params: &[(String, String)],
    base_url: &str,
    strict: bool,
) -> Result<Value, FhirError> {
    let (conditions, ignored) = conditions(res_type, params, base_url, strict)?;
    let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let count = page_size(get("_count"))?;
    let mut query = SearchQuery {
        res_type: res_type.to_string(),
        conditions,
        after_id: get("_cursor").map(str::to_string),
        limit: count + 1,
    };
    let total = match get("_total") {
        Some("none") => None,
        _ => Some(tx.search_total(&query)?),
    };
    let mut found = tx.search(&query)?;
    let more = found.len() as i64 > count;
    found.truncate(count as usize);
    query.limit = count;

    let link = |cursor: Option<&str>| {
        let mut q: Vec<String> = params
            .iter()
            .filter(|(k, _)| k != "_cursor" && k != "_count")
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    encode_query_value(k).replace("%3A", ":"),
                    encode_query_value(v)
                )
            })
            .collect();
        q.push(format!("_count={count}"));
        if let Some(c) = cursor {
            q.push(format!("_cursor={}", encode_query_value(c)));
        }
        format!("{base_url}/{res_type}?{}", q.join("&"))
    };
    let mut links = vec![json!({ "relation": "self", "url": link(query.after_id.as_deref()) })];
    if more {
        if let Some(last) = found.last() {
            links.push(json!({ "relation": "next", "url": link(Some(&last.res_id)) }));
        }
    }
    let extra = included(tx, res_type, params, &found)?;
    let mut entries = Vec::with_capacity(found.len() + extra.len() + 1);
    let modes = found
        .iter()
        .map(|v| (v, "match"))
        .chain(extra.iter().map(|v| (v, "include")));
    for (v, mode) in modes {
        let resource: Value = serde_json::from_str(v.content.as_deref().unwrap_or("{}"))
            .map_err(|e| FhirError::internal(format!("stored resource is unreadable: {e}")))?;
        entries.push(json!({
            "fullUrl": format!("{base_url}/{}/{}", v.res_type, v.res_id),
            "resource": resource,
            "search": { "mode": mode },
        }));
    }
    if !ignored.is_empty() {
        let issues: Vec<_> = ignored
            .iter()
            .map(|n| {
                issue(
                    Severity::Warning,
                    "not-supported",
                    format!(
                        "search parameter '{n}' is not supported for {res_type} and was ignored"
                    ),
                    Some(n.clone()),
                )
            })
            .collect();
        entries.push(
            json!({ "resource": operation_outcome(&issues), "search": { "mode": "outcome" } }),
        );
    }
    let mut bundle = json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "meta": { "lastUpdated": format_instant(chrono::Utc::now().timestamp_micros()) },
        "type": "searchset",
    });
    if let Some(t) = total {
        bundle["total"] = json!(t);
    }
    bundle["link"] = json!(links);
    if !entries.is_empty() {
        bundle["entry"] = Value::Array(entries);
    }
    Ok(bundle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_split_on_unescaped_commas() {
        assert_eq!(split_values("a,b\\,c"), ["a", "b,c"]);
        assert_eq!(split_values("x"), ["x"]);
    }

    #[test]
    fn tokens_in_all_forms() {
        assert_eq!(
            token("c"),
            TokenMatch {
                system: None,
                code: Some("c".into())
            }
        );
        assert_eq!(
            token("|c"),
            TokenMatch {
                system: Some(None),
                code: Some("c".into())
            }
        );
        assert_eq!(
            token("s|"),
            TokenMatch {
                system: Some(Some("s".into())),
                code: None
            }
        );
        assert_eq!(
            token("s|c"),
            TokenMatch {
                system: Some(Some("s".into())),
                code: Some("c".into())
            }
        );
    }

    #[test]
    fn references_in_all_forms() {
        let base = "http://h:1";
        assert_eq!(
            reference("Patient/1", None, base),
            RefMatch::Id {
                target_type: Some("Patient".into()),
                id: "1".into()
            }
        );
        assert_eq!(
            reference("1", Some("Patient"), base),
            RefMatch::Id {
                target_type: Some("Patient".into()),
                id: "1".into()
            }
        );
        assert_eq!(
            reference("http://h:1/Patient/1", None, base),
            RefMatch::Id {
                target_type: Some("Patient".into()),
                id: "1".into()
            }
        );
        assert_eq!(
            reference("https://x/Questionnaire/q|1.0", None, base),
            RefMatch::Url {
                url: "https://x/Questionnaire/q".into(),
                version: Some("1.0".into())
            }
        );
    }

    #[test]
    fn numbers_cover_their_precision() {
        let (l, h) = number_range("n", "1.5").unwrap();
        assert!((l - 1.45).abs() < 1e-9 && (h - 1.55).abs() < 1e-9);
        assert!(number_range("n", "x").is_err());
        assert_eq!(prefixed("ge2020"), (Prefix::Ge, "2020"));
        assert_eq!(prefixed("2020"), (Prefix::Eq, "2020"));
    }
}
