//! The search interaction: FHIR query parameters → store conditions → a `searchset` Bundle
//! with cursor paging.

use fhir_format::Severity;
use serde_json::{json, Value};

use super::history::{encode_query_value, page_size};
use super::{audited_read, check_type, format_instant, Request};
use crate::audit::Event;
use crate::auth::scope::Permission;
use crate::auth::{Access, Principal};
use crate::error::{issue, operation_outcome, FhirError};
use crate::search::{self, ParamType};
use crate::store::{
    Condition, Prefix, RefMatch, SearchQuery, SortBy, SortKey, SortValue, Store, StringMode, Table,
    TokenMatch, Tx, Version,
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
    "_include:iterate",
    "_revinclude:iterate",
    "_sort",
    "_summary",
    "_elements",
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

/// How many rounds `:iterate` follows references from what was included before.
const MAX_ITERATE: usize = 4;

/// The resources `_include` and `_revinclude` add to a page of matches, each once and none
/// that is already a match. The `:iterate` forms are applied again to what each round added.
fn included(
    tx: &mut Tx,
    access: &Access,
    res_type: &str,
    params: &[(String, String)],
    found: &[Version],
) -> Result<Vec<Version>, FhirError> {
    let mut seen: std::collections::HashSet<(String, String)> = found
        .iter()
        .map(|v| (v.res_type.clone(), v.res_id.clone()))
        .collect();
    let mut out: Vec<Version> = Vec::new();
    let mut frontier: Vec<Version> = found.to_vec();
    for round in 0..=MAX_ITERATE {
        if frontier.is_empty() {
            break;
        }
        let mut added = Vec::new();
        for (name, value) in params {
            let (reverse, iterate) = match name.as_str() {
                "_include" => (false, false),
                "_revinclude" => (true, false),
                "_include:iterate" => (false, true),
                "_revinclude:iterate" => (true, true),
                _ => continue,
            };
            if round > 0 && !iterate {
                continue;
            }
            let inc = inclusion(name, value)?;
            if !reverse && !iterate && inc.source != res_type {
                return Err(invalid(
                    name,
                    format!("{value} does not start from {res_type}"),
                ));
            }
            let mut wanted: std::collections::BTreeMap<String, Vec<String>> = Default::default();
            if reverse {
                let mut by_type: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
                for v in frontier
                    .iter()
                    .filter(|v| inc.target.is_none_or(|t| t == v.res_type))
                {
                    by_type
                        .entry(&v.res_type)
                        .or_default()
                        .push(v.res_id.clone());
                }
                for (t, ids) in by_type {
                    let sources = tx.referencing(inc.source, inc.param, t, &ids)?;
                    wanted
                        .entry(inc.source.to_string())
                        .or_default()
                        .extend(sources);
                }
            } else {
                let ids: Vec<String> = frontier
                    .iter()
                    .filter(|v| v.res_type == inc.source)
                    .map(|v| v.res_id.clone())
                    .collect();
                if ids.is_empty() {
                    continue;
                }
                for (t, id) in tx.referenced(inc.source, &ids, inc.param, inc.target)? {
                    wanted.entry(t).or_default().push(id);
                }
            }
            for (t, ids) in wanted {
                for v in visible_many(tx, access, &t, &ids)? {
                    if seen.insert((v.res_type.clone(), v.res_id.clone())) {
                        added.push(v);
                    }
                }
            }
        }
        out.extend(added.iter().cloned());
        frontier = added;
    }
    Ok(out)
}

/// The current resources of `res_type` among `ids` that the caller may see.
pub(crate) fn visible_many(
    tx: &mut Tx,
    access: &Access,
    res_type: &str,
    ids: &[String],
) -> Result<Vec<Version>, FhirError> {
    if access.require(res_type, Permission::Read).is_err() {
        return Ok(Vec::new());
    }
    match access.visible(res_type) {
        None => Ok(tx.current_many(res_type, ids)?),
        Some(condition) => Ok(tx.search(&SearchQuery::unsorted(
            res_type,
            vec![Condition::Id(ids.to_vec()), condition],
            ids.len() as i64,
        ))?),
    }
}

/// Limits a condition to what the caller may see: its own type's resources, and the
/// resources its chains and `_has` parameters look into, so that no hidden resource shows
/// through the ones it selects.
fn guarded(c: Condition, access: &Access) -> Condition {
    let within = |c: Condition, res_type: &str| {
        if access.require(res_type, Permission::Search).is_err() {
            return Condition::Nothing;
        }
        match access.visible(res_type) {
            Some(v) => Condition::All(vec![guarded(c, access), v]),
            None => guarded(c, access),
        }
    };
    match c {
        Condition::Chain { param, targets } => Condition::Chain {
            param,
            targets: targets
                .into_iter()
                .map(|(t, inner)| {
                    let inner = within(inner, &t);
                    (t, inner)
                })
                .collect(),
        },
        Condition::Has {
            source_type,
            param,
            inner,
        } => Condition::Has {
            inner: Box::new(within(*inner, &source_type)),
            source_type,
            param,
        },
        Condition::Any(list) => {
            Condition::Any(list.into_iter().map(|c| guarded(c, access)).collect())
        }
        Condition::All(list) => {
            Condition::All(list.into_iter().map(|c| guarded(c, access)).collect())
        }
        other => other,
    }
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

pub(crate) fn invalid(name: &str, text: String) -> FhirError {
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

pub(crate) fn token(v: &str) -> TokenMatch {
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
    tx: &mut Tx,
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
        if let Some(c) = condition(tx, t, rest, value, base_url)? {
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

/// Reverse chaining: `_has:Source:param:rest=value` selects the resources that some current
/// `Source` refers to through `param`, where that `Source` meets `rest=value` (which may
/// itself be a `_has`).
fn has(
    tx: &mut Tx,
    res_type: &str,
    name: &str,
    spec: &str,
    value: &str,
    base_url: &str,
) -> Result<Condition, FhirError> {
    let mut parts = spec.splitn(3, ':');
    let (Some(source), Some(code), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid(
            name,
            format!("{name} must look like _has:Type:reference:parameter"),
        ));
    };
    if !crate::capability::is_supported_type(source) {
        return Err(invalid(
            name,
            format!("'{source}' is not a resource type of this server"),
        ));
    }
    let p = search::param(source, code)
        .filter(|p| p.kind == ParamType::Reference && p.targets.contains(&res_type))
        .ok_or_else(|| {
            invalid(
                name,
                format!("'{code}' is not a search parameter of {source} that refers to {res_type}"),
            )
        })?;
    let inner = condition(tx, source, rest, value, base_url)?.ok_or_else(|| {
        invalid(
            name,
            format!("'{rest}' is not a search parameter of {source}"),
        )
    })?;
    Ok(Condition::Has {
        source_type: source.to_string(),
        param: p.code.to_string(),
        inner: Box::new(inner),
    })
}

/// Turns one `name[:modifier]=value` into a condition.
fn condition(
    tx: &mut Tx,
    res_type: &str,
    name: &str,
    value: &str,
    base_url: &str,
) -> Result<Option<Condition>, FhirError> {
    if let Some(spec) = name.strip_prefix("_has:") {
        return has(tx, res_type, name, spec, value, base_url).map(Some);
    }
    if let Some((link, rest)) = name.split_once('.') {
        return chain(tx, res_type, name, link, rest, value, base_url).map(Some);
    }
    let (code, modifier) = match name.split_once(':') {
        Some((c, m)) => (c, Some(m)),
        None => (name, None),
    };
    let values = split_values(value);
    if values.iter().all(|v| v.is_empty()) {
        return Err(invalid(name, format!("parameter {name} has no value")));
    }
    let Some(p) = search::param(res_type, code).filter(|p| p.is_indexed()) else {
        return Ok(None);
    };
    if p.is_resource_column() {
        return resource_column(name, code, modifier, value, values).map(Some);
    }
    let param = p.rows_of().code.to_string();
    if modifier == Some("missing") {
        let missing = missing(name, value)?;
        return Ok(Some(Condition::Missing {
            param,
            table: table_of(p.kind).ok_or_else(|| invalid(name, format!("{code} has no index")))?,
            missing,
        }));
    }
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
                except: Vec::new(),
                text: None,
                negate: modifier.is_some(),
            },
            Some("text") => Condition::Token {
                param,
                values: Vec::new(),
                except: Vec::new(),
                text: Some(values),
                negate: false,
            },
            Some(m @ ("in" | "not-in")) => {
                let (mut codes, mut except) = (Vec::new(), Vec::new());
                for v in &values {
                    let (include, exclude) = super::valueset::codes(tx, name, v)?;
                    codes.extend(include);
                    except.extend(exclude);
                }
                Condition::Token {
                    param,
                    values: codes,
                    except,
                    text: None,
                    negate: m == "not-in",
                }
            }
            Some("of-type") => Condition::Token {
                param,
                values: values
                    .iter()
                    .map(|v| match v.splitn(3, '|').collect::<Vec<_>>().as_slice() {
                        [system, code, value] => Ok(TokenMatch {
                            system: Some(Some(format!("{system}|{code}"))),
                            code: Some(value.to_string()),
                        }),
                        _ => Err(invalid(
                            name,
                            format!("{name} takes type-system|type-code|value, not '{v}'"),
                        )),
                    })
                    .collect::<Result<_, _>>()?,
                except: Vec::new(),
                text: None,
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
            Condition::Date {
                param,
                values: date_ranges(name, &values)?,
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

/// A condition on `_id` or `_lastUpdated`, which the `resources` row answers (see
/// [`search::SearchParam::is_resource_column`]). Every resource has both, so `:missing=true`
/// finds nothing and `:missing=false` everything.
fn resource_column(
    name: &str,
    code: &str,
    modifier: Option<&str>,
    value: &str,
    values: Vec<String>,
) -> Result<Condition, FhirError> {
    match (code, modifier) {
        (_, Some("missing")) => Ok(match missing(name, value)? {
            true => Condition::Nothing,
            false => Condition::All(Vec::new()),
        }),
        ("_id", None) => Ok(Condition::Id(values)),
        ("_id", Some("not")) => Ok(Condition::NotId(values)),
        ("_lastUpdated", None) => Ok(Condition::LastUpdated(date_ranges(name, &values)?)),
        _ => Err(FhirError::bad_request(
            "not-supported",
            format!(
                "modifier ':{}' is not supported on {code}",
                modifier.unwrap_or_default()
            ),
        )
        .at(name.to_string())),
    }
}

/// The value of `name:missing`.
fn missing(name: &str, value: &str) -> Result<bool, FhirError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(name, format!("{name} must be true or false"))),
    }
}

/// The (prefix, low, high) of each date value of `name`.
fn date_ranges(name: &str, values: &[String]) -> Result<Vec<(Prefix, i64, i64)>, FhirError> {
    values
        .iter()
        .map(|v| {
            let (prefix, text) = prefixed(v);
            let (low, high) = search::date_range(text).ok_or_else(|| {
                invalid(
                    name,
                    format!("'{text}' is not a FHIR date, dateTime or instant"),
                )
            })?;
            Ok((prefix, low, high))
        })
        .collect()
}

/// The conditions of a query, and the parameters it ignores. Unknown parameters are refused
/// when `strict`.
fn conditions(
    tx: &mut Tx,
    access: &Access,
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
                format!("{name}: the only modifier of _include and _revinclude is :iterate"),
            )
            .at(name.clone()));
        }
        match condition(tx, res_type, name, value, base_url)? {
            Some(c) => conditions.push(guarded(c, access)),
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
    if let Some(v) = access.visible(res_type) {
        conditions.push(v);
    }
    Ok((conditions, ignored))
}

/// 400 `too-costly` for a query past the limits of [`crate::limits`]: too many parameters,
/// values of one parameter, includes or nested `_has`. Checked before anything is looked up.
pub(crate) fn within_limits(params: &[(String, String)]) -> Result<(), FhirError> {
    let limits = crate::limits::get();
    let exceeded = crate::limits::exceeded;
    if params.len() > limits.search_params {
        return Err(exceeded(
            format!(
                "the query has {} parameters, more than {}",
                params.len(),
                limits.search_params
            ),
            "PZP_MAX_SEARCH_PARAMS",
        ));
    }
    let includes = params
        .iter()
        .filter(|(k, _)| k.starts_with("_include") || k.starts_with("_revinclude"))
        .count();
    if includes > limits.includes {
        return Err(exceeded(
            format!(
                "the query has {includes} _include/_revinclude parameters, more than {}",
                limits.includes
            ),
            "PZP_MAX_INCLUDES",
        ));
    }
    for (name, value) in params {
        let has = name.matches("_has:").count();
        if has > limits.has_depth {
            return Err(exceeded(
                format!("{has} nested _has, more than {}", limits.has_depth),
                "PZP_MAX_HAS_DEPTH",
            )
            .at("_has"));
        }
        // Commas bound the values from above without splitting a long value.
        let values = value.matches(',').count() + 1;
        if values > limits.search_values && split_values(value).len() > limits.search_values {
            return Err(exceeded(
                format!("a parameter has more than {} values", limits.search_values),
                "PZP_MAX_SEARCH_VALUES",
            )
            .at(name.split(':').next().unwrap_or_default().to_string()));
        }
    }
    Ok(())
}

/// Up to `limit` current resources that a conditional interaction's query selects. Every
/// parameter must be understood: ignoring one would select more than the client meant.
pub(crate) fn matching(
    tx: &mut Tx,
    access: &Access,
    res_type: &str,
    params: &[(String, String)],
    base_url: &str,
    limit: i64,
) -> Result<Vec<Version>, FhirError> {
    access.require(res_type, Permission::Search)?;
    within_limits(params)?;
    let (conditions, _) = conditions(tx, access, res_type, params, base_url, true)?;
    if !params.iter().any(|(k, _)| !CONTROL.contains(&k.as_str())) {
        return Err(FhirError::bad_request(
            "required",
            format!("a conditional interaction needs search parameters that select {res_type} resources"),
        ));
    }
    Ok(tx.search(&SearchQuery::unsorted(res_type, conditions, limit))?)
}

/// Without `_total=accurate`, a searchset's `total` is given only up to this many matches.
/// Counting reads every match with the caller's access check: for a common family name in a
/// national database that is thousands of rows for a page of fifty, and paging goes by the
/// `next` link, not by the count.
const COUNTED_UP_TO: i64 = 1000;

/// How far a search counts its matches for `total`.
enum Counted {
    Not,
    Accurate,
    UpTo(i64),
}

/// Runs a type-level search. Unknown parameters are reported in an OperationOutcome entry and
/// otherwise ignored, or refused when `strict` (`Prefer: handling=strict`).
pub fn search(
    store: &Store,
    who: &Principal,
    res_type: &str,
    params: &[(String, String)],
    base_url: &str,
    strict: bool,
) -> Result<Value, FhirError> {
    check_type(res_type)?;
    let mut event = Event::new("search-type", Some(res_type));
    event.query = Some(
        params
            .iter()
            .map(|(k, v)| format!("{k}={}", encode_query_value(v)))
            .collect::<Vec<_>>()
            .join("&"),
    );
    audited_read(store, who, event, |tx, rq| {
        search_in(tx, rq, res_type, params, base_url, strict)
    })
}

/// [`search`] on a connection the caller holds (inside a transaction Bundle).
pub(crate) fn search_in(
    tx: &mut Tx,
    rq: &mut Request,
    res_type: &str,
    params: &[(String, String)],
    base_url: &str,
    strict: bool,
) -> Result<Value, FhirError> {
    rq.access.require(res_type, Permission::Search)?;
    within_limits(params)?;
    let mut params = params.to_vec();
    if let (Some(own), "AuditEvent") = (rq.access.own_patients(), res_type) {
        own_trail_only(&mut params, own)?;
    }
    let params = params.as_slice();
    let (conditions, mut ignored) = conditions(tx, &rq.access, res_type, params, base_url, strict)?;
    let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let count = page_size(get("_count"))?;
    let sort = match get("_sort") {
        Some(text) => sort_keys(res_type, text)?,
        None => Vec::new(),
    };
    let summary = get("_summary").unwrap_or("false");
    match summary {
        "count" | "false" | "data" => {}
        "true" | "text" if !strict => ignored.push("_summary".into()),
        _ => {
            return Err(FhirError::bad_request(
                "not-supported",
                format!("_summary={summary} is not supported; use count, data or false"),
            )
            .at("_summary"))
        }
    }
    let elements: Option<Vec<&str>> =
        get("_elements").map(|e| e.split(',').map(str::trim).collect());
    let after = match get("_cursor") {
        Some(c) => Some(decode_cursor(c, sort.len())?),
        None => None,
    };
    let query = SearchQuery {
        res_type: res_type.to_string(),
        conditions,
        sort,
        after,
        limit: count + 1,
    };
    let counted = match (get("_total"), summary) {
        (_, "count") | (Some("accurate"), _) => Counted::Accurate,
        (Some("none"), _) => Counted::Not,
        (None | Some("estimate"), _) => Counted::UpTo(COUNTED_UP_TO),
        (Some(other), _) => {
            return Err(FhirError::bad_request(
                "value",
                format!("_total={other} is not one of none, estimate or accurate"),
            )
            .at("_total"))
        }
    };
    let mut found = match summary {
        "count" => Vec::new(),
        _ => tx.search(&query)?,
    };
    let more = found.len() as i64 > count;
    let total = match counted {
        Counted::Not => None,
        // A first page that holds every match has counted them already.
        _ if summary != "count" && query.after.is_none() && !more => Some(found.len() as i64),
        Counted::Accurate => tx.search_total(&query, None)?,
        Counted::UpTo(limit) => tx.search_total(&query, Some(limit))?,
    };
    found.truncate(count as usize);

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
    let mut links = vec![json!({ "relation": "self", "url": link(get("_cursor")) })];
    if more {
        if let Some(last) = found.last() {
            let cursor = encode_cursor(tx, last, &query.sort)?;
            links.push(json!({ "relation": "next", "url": link(Some(&cursor)) }));
        }
    }
    let extra = included(tx, &rq.access, res_type, params, &found)?;
    let mut entries = Vec::with_capacity(found.len() + extra.len() + 1);
    let modes = found
        .iter()
        .map(|v| (v, "match"))
        .chain(extra.iter().map(|v| (v, "include")));
    for (v, mode) in modes {
        let mut resource = v.resource()?;
        rq.event.saw(v, Some(&resource));
        if let (Some(own), "AuditEvent") = (rq.access.own_patients(), v.res_type.as_str()) {
            let bsn = rq.access.who.bsn.as_deref();
            crate::audit::shown_to_patient(tx, &mut resource, own, bsn)?;
        }
        if mode == "match" {
            shape(&mut resource, summary, elements.as_deref());
        }
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

/// A patient's search of the audit trail: only [`crate::audit::PATIENT_PARAMS`] and the
/// paging controls, and a `patient` value that is not the patient's own matches nothing, as
/// if that patient had no trail.
fn own_trail_only(params: &mut [(String, String)], own: &[String]) -> Result<(), FhirError> {
    for (name, value) in params.iter_mut() {
        let code = name.split(':').next().unwrap_or_default();
        let control = CONTROL.contains(&name.as_str())
            && !name.starts_with("_include")
            && !name.starts_with("_revinclude");
        if !control && !crate::audit::PATIENT_PARAMS.contains(&code) {
            return Err(FhirError::new(
                crate::error::ErrorKind::Forbidden,
                "forbidden",
                format!(
                    "a patient searches their audit trail by {}; not by {name}",
                    crate::audit::PATIENT_PARAMS.join(", ")
                ),
            )
            .at(name.clone()));
        }
        if code == "patient" {
            let wanted = split_values(value);
            let kept: Vec<&String> = wanted
                .iter()
                .filter(|v| {
                    let id = v.rsplit('/').next().unwrap_or_default();
                    own.iter().any(|o| o == id)
                })
                .collect();
            *name = "patient".into();
            *value = match kept.first() {
                Some(id) => format!("Patient/{}", id.rsplit('/').next().unwrap_or_default()),
                None => "Patient/not-yours".into(),
            };
        }
    }
    Ok(())
}

/// The index table of a parameter type, if it has one.
fn table_of(kind: ParamType) -> Option<Table> {
    Some(match kind {
        ParamType::Token => Table::Token,
        ParamType::String => Table::String,
        ParamType::Reference => Table::Reference,
        ParamType::Date => Table::Date,
        ParamType::Number | ParamType::Quantity => Table::Number,
        ParamType::Uri => Table::Uri,
        ParamType::Composite | ParamType::Special => return None,
    })
}

/// `_sort=a,-b`: the keys in order; `-` sorts descending.
fn sort_keys(res_type: &str, text: &str) -> Result<Vec<SortKey>, FhirError> {
    text.split(',')
        .filter(|k| !k.is_empty())
        .map(|k| {
            let (code, descending) = match k.strip_prefix('-') {
                Some(c) => (c, true),
                None => (k, false),
            };
            let by = match code {
                "_id" => SortBy::Id,
                "_lastUpdated" => SortBy::LastUpdated,
                _ => {
                    let p = search::param(res_type, code)
                        .filter(|p| p.is_indexed() && p.kind != ParamType::Reference)
                        .ok_or_else(|| {
                            invalid("_sort", format!("{res_type} cannot be sorted by '{code}'"))
                        })?;
                    SortBy::Param {
                        param: p.rows_of().code.to_string(),
                        table: table_of(p.kind).unwrap_or(Table::String),
                    }
                }
            };
            Ok(SortKey { by, descending })
        })
        .collect()
}

/// The cursor of a next link: the last id, and for a sorted search also its sort values.
fn encode_cursor(tx: &mut Tx, last: &Version, sort: &[SortKey]) -> Result<String, FhirError> {
    use base64::Engine;
    if sort.is_empty() {
        return Ok(last.res_id.clone());
    }
    let values = tx.sort_values(&last.res_type, &last.res_id, sort)?;
    let text = serde_json::to_string(&(values, &last.res_id))
        .map_err(|e| FhirError::internal(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text))
}

fn decode_cursor(cursor: &str, keys: usize) -> Result<(Vec<SortValue>, String), FhirError> {
    use base64::Engine;
    let bad = || {
        invalid(
            "_cursor",
            "the paging cursor is not one this search made".into(),
        )
    };
    if keys == 0 {
        return match super::is_valid_id(cursor) {
            true => Ok((Vec::new(), cursor.to_string())),
            false => Err(bad()),
        };
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let (values, id): (Vec<SortValue>, String) =
        serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if values.len() != keys {
        return Err(bad());
    }
    Ok((values, id))
}

/// `_summary=data` leaves out the narrative; `_elements` keeps only the named top-level
/// elements (plus id and meta). Either way the resource is tagged SUBSETTED, as the spec
/// asks, so nobody stores it back as if it were whole.
fn shape(resource: &mut Value, summary: &str, elements: Option<&[&str]>) {
    let Value::Object(map) = resource else {
        return;
    };
    let before = map.len();
    if summary == "data" {
        map.remove("text");
    }
    if let Some(keep) = elements {
        map.retain(|k, _| {
            matches!(k.as_str(), "resourceType" | "id" | "meta")
                || keep.iter().any(|e| {
                    k == e
                        || k.strip_prefix(e).is_some_and(|rest| {
                            rest.starts_with(|c: char| c.is_ascii_uppercase())
                                && fhir_format::choice_type(rest).is_some()
                        })
                })
        });
    }
    if map.len() != before || elements.is_some() {
        let tag = json!({
            "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
            "code": "SUBSETTED",
        });
        let meta = map.entry("meta").or_insert_with(|| json!({}));
        match meta.get_mut("tag").and_then(Value::as_array_mut) {
            Some(tags) => tags.push(tag),
            None => meta["tag"] = json!([tag]),
        }
    }
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
