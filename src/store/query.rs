//! Search over the index tables: the most selective condition reads its matching index rows,
//! and every other condition is checked for just those resources (see [`Join`]), so the cost
//! follows the size of the answer, not the size of the database.
//! The SQL is written out here (with bound values only) because diesel's query builder cannot
//! nest subqueries across both backends at once.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Text};

use super::{AnyConnection, Backend, StoreError, Tx, Version};

/// How one token value matches (`code`, `system|code`, `|code`, `system|`).
#[derive(Clone, Debug, PartialEq)]
pub struct TokenMatch {
    /// `None`: any system; `Some(None)`: no system; `Some(Some(s))`: that system.
    pub system: Option<Option<String>>,
    pub code: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StringMode {
    StartsWith,
    Exact,
    Contains,
}

/// A reference value: by type and id, by id alone, or by absolute/canonical URL.
#[derive(Clone, Debug, PartialEq)]
pub enum RefMatch {
    Id {
        target_type: Option<String>,
        id: String,
    },
    Url {
        url: String,
        version: Option<String>,
    },
    Identifier {
        system: Option<String>,
        value: String,
    },
}

/// How a searched range compares with a stored range (FHIR date and number prefixes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefix {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Sa,
    Eb,
    Ap,
}

/// (prefix, low, high, unit system, unit code); the unit parts only for quantities.
pub type NumberMatch = (Prefix, f64, f64, Option<String>, Option<String>);

/// One parameter occurrence: its values are OR-ed; the occurrences of a query are AND-ed.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    Id(Vec<String>),
    /// `_id:not`: none of these ids.
    NotId(Vec<String>),
    /// `_lastUpdated`, compared with the timestamp of the `resources` row.
    LastUpdated(Vec<(Prefix, i64, i64)>),
    Token {
        param: String,
        values: Vec<TokenMatch>,
        /// Codes that do not count even when `values` matches them (a ValueSet's excludes).
        except: Vec<TokenMatch>,
        /// `:text`: match the display text instead of the code.
        text: Option<Vec<String>>,
        negate: bool,
    },
    String {
        param: String,
        values: Vec<String>,
        mode: StringMode,
    },
    Reference {
        param: String,
        values: Vec<RefMatch>,
    },
    Date {
        param: String,
        values: Vec<(Prefix, i64, i64)>,
    },
    Number {
        param: String,
        values: Vec<NumberMatch>,
    },
    Uri {
        param: String,
        values: Vec<String>,
    },
    /// A condition nothing can satisfy (e.g. a reference to a type the parameter cannot hold).
    Nothing,
    /// A chained parameter: `param` refers to a current resource of one of the target types
    /// that meets that type's condition (alternatives OR-ed).
    Chain {
        param: String,
        targets: Vec<(String, Condition)>,
    },
    /// Reverse chaining (`_has`): some current `source_type` resource that meets `inner`
    /// refers to this one through its parameter `param`.
    Has {
        source_type: String,
        param: String,
        inner: Box<Condition>,
    },
    /// `:missing`: the parameter has no value (`missing`) or has one.
    Missing {
        param: String,
        table: Table,
        missing: bool,
    },
    /// At least one of these holds.
    Any(Vec<Condition>),
    /// All of these hold.
    All(Vec<Condition>),
    /// The organisation (URA) wrote a version of the resource.
    RecordedBy(String),
    /// The resource belongs to a patient's record: it is that Patient, or one of `params`
    /// refers to that Patient, for a patient in `patients`.
    Compartment {
        params: Vec<String>,
        patients: Patients,
    },
}

impl Condition {
    /// The resource types besides the searched one whose index rows this condition reads.
    fn other_types<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Condition::Chain { targets, .. } => {
                for (t, c) in targets {
                    out.push(t);
                    c.other_types(out);
                }
            }
            Condition::Has {
                source_type, inner, ..
            } => {
                out.push(source_type);
                inner.other_types(out);
            }
            Condition::Any(cs) | Condition::All(cs) => cs.iter().for_each(|c| c.other_types(out)),
            _ => {}
        }
    }
}

impl SearchQuery {
    /// Every resource type whose index rows the search reads.
    pub(super) fn types(&self) -> Vec<&str> {
        let mut out = vec![self.res_type.as_str()];
        for c in &self.conditions {
            c.other_types(&mut out);
        }
        out
    }
}

/// Which patients' records a [`Condition::Compartment`] selects.
#[derive(Clone, Debug, PartialEq)]
pub enum Patients {
    /// These patients.
    Ids(Vec<String>),
    /// The patients one of `members` has a care link with on `day` (`YYYY-MM-DD`); with
    /// `consent`, only those who recorded a sharing permit. Never those who recorded a denial.
    Linked {
        members: Vec<RefMatch>,
        day: String,
        consent: bool,
    },
    /// Every patient who did not record a sharing denial.
    NotObjecting,
}

impl Condition {
    /// `param` has the code `code`, in `system` (`None`: in any system).
    pub fn token(param: &str, system: Option<&str>, code: &str) -> Condition {
        Condition::Token {
            param: param.to_string(),
            values: vec![TokenMatch {
                system: system.map(|s| Some(s.to_string())),
                code: Some(code.to_string()),
            }],
            except: Vec::new(),
            text: None,
            negate: false,
        }
    }
}

/// The index table of a parameter type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Token,
    String,
    Reference,
    Date,
    Number,
    Uri,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Token => "search_token",
            Table::String => "search_string",
            Table::Reference => "search_reference",
            Table::Date => "search_date",
            Table::Number => "search_number",
            Table::Uri => "search_uri",
        }
    }
}

/// What a result is sorted by: a parameter's index value, the id, or the time of the last
/// change.
#[derive(Clone, Debug, PartialEq)]
pub enum SortBy {
    Param { param: String, table: Table },
    Id,
    LastUpdated,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SortKey {
    pub by: SortBy,
    pub descending: bool,
}

/// The value of one sort key for one resource (the paging cursor of a sorted search).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum SortValue {
    Text(String),
    Int(i64),
    Real(f64),
    Null,
}

pub struct SearchQuery {
    pub res_type: String,
    pub conditions: Vec<Condition>,
    /// Sort keys before the id, which always breaks ties.
    pub sort: Vec<SortKey>,
    /// Only resources after this one in sort order (the paging cursor): the values of the
    /// sort keys of the last resource of the previous page, and its id.
    pub after: Option<(Vec<SortValue>, String)>,
    pub limit: i64,
}

impl SearchQuery {
    /// Up to `limit` resources of `res_type` that meet every condition, in no set order.
    pub fn unsorted(res_type: &str, conditions: Vec<Condition>, limit: i64) -> SearchQuery {
        SearchQuery {
            res_type: res_type.to_string(),
            conditions,
            sort: Vec::new(),
            after: None,
            limit,
        }
    }
}

/// A value bound to a placeholder.
#[derive(Clone)]
pub(super) enum Bind {
    Text(String),
    OptText(Option<String>),
    /// Resource text as stored (see [`super::packed`]).
    Packed(Option<Vec<u8>>),
    BigInt(i64),
    Bool(bool),
    Double(f64),
}

/// SQL text with its bound values. The placeholders are left to diesel (`$n` or `?`), which
/// then keeps the statement prepared per connection, keyed by its text: a search shape is
/// parsed and planned once per connection instead of once per request. Pooled connections
/// are replaced after a while, which bounds what a connection keeps.
pub(super) struct Sql {
    postgres: bool,
    /// Planned for its values each time instead of kept prepared (see [`Sql::planned_each_time`]).
    once: bool,
    text: String,
    /// Where in `text` each bound value's placeholder goes.
    cuts: Vec<usize>,
    binds: Vec<Bind>,
}

impl Sql {
    pub(super) fn new(backend: Backend) -> Sql {
        Sql {
            postgres: backend == Backend::Postgres,
            once: false,
            text: String::new(),
            cuts: Vec::new(),
            binds: Vec::new(),
        }
    }

    /// Not kept prepared, so PostgreSQL plans it with its values every time. For a statement
    /// run once per transaction, whose plan made without values (or while the tables were
    /// still small) would read a whole table: planning costs less than that risk.
    pub(super) fn planned_each_time(&mut self) -> &mut Self {
        self.once = true;
        self
    }

    pub(super) fn push(&mut self, sql: &str) -> &mut Self {
        self.text.push_str(sql);
        self
    }

    pub(super) fn bind(&mut self, value: Bind) -> &mut Self {
        self.binds.push(value);
        self.cuts.push(self.text.len());
        self
    }

    pub(super) fn text(&mut self, v: &str) -> &mut Self {
        self.bind(Bind::Text(v.to_string()))
    }

    /// `(v1, v2, ...)`, each bound: a row of an INSERT, or the list of an IN.
    pub(super) fn tuple(&mut self, values: impl IntoIterator<Item = Bind>) -> &mut Self {
        self.push("(");
        for (n, v) in values.into_iter().enumerate() {
            if n > 0 {
                self.push(", ");
            }
            self.bind(v);
        }
        self.push(")")
    }

    /// [`Sql::tuple`] of texts; `(NULL)` for none, which matches nothing.
    fn list<S: AsRef<str>>(&mut self, values: &[S]) -> &mut Self {
        if values.is_empty() {
            return self.push("(NULL)");
        }
        self.tuple(values.iter().map(|v| Bind::Text(v.as_ref().to_string())))
    }

    fn int(&mut self, v: i64) -> &mut Self {
        self.bind(Bind::BigInt(v))
    }

    /// `(a OR b OR ...)` over `items`, each written by `each`.
    fn any<T>(&mut self, items: &[T], mut each: impl FnMut(&mut Sql, &T)) -> &mut Self {
        self.push("(");
        if items.is_empty() {
            self.push("1 = 0");
        }
        for (n, item) in items.iter().enumerate() {
            if n > 0 {
                self.push(" OR ");
            }
            self.push("(");
            each(self, item);
            self.push(")");
        }
        self.push(")")
    }
}

/// LIKE pattern text with `%`, `_` and the escape character itself escaped.
fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The stored range [low, high] against the searched range [ql, qh], per FHIR prefix.
fn range(sql: &mut Sql, low: &str, high: &str, prefix: Prefix, ql: Bind, qh: Bind) {
    let col = |sql: &mut Sql, c: &str, op: &str, v: Bind| {
        sql.push(&format!("{c} {op} ")).bind(v);
    };
    match prefix {
        Prefix::Eq => {
            col(sql, low, ">=", ql);
            sql.push(" AND ");
            col(sql, high, "<=", qh);
        }
        Prefix::Ne => {
            col(sql, low, "<", ql);
            sql.push(" OR ");
            col(sql, high, ">", qh);
        }
        Prefix::Gt => col(sql, high, ">", qh),
        Prefix::Lt => col(sql, low, "<", ql),
        Prefix::Ge => col(sql, high, ">=", ql),
        Prefix::Le => col(sql, low, "<=", qh),
        Prefix::Sa => col(sql, low, ">", qh),
        Prefix::Eb => col(sql, high, "<", ql),
        Prefix::Ap => {
            let (l, h) = (Bind::clone(&ql), Bind::clone(&qh));
            col(sql, low, "<=", h);
            sql.push(" AND ");
            col(sql, high, ">=", l);
        }
    }
}

/// Any of the date `values` overlaps `[low, high]` as its prefix asks.
fn any_range(sql: &mut Sql, low: &str, high: &str, values: &[(Prefix, i64, i64)]) {
    sql.any(values, |sql, (p, ql, qh)| {
        let (ql, qh) = if *p == Prefix::Ap {
            approximate(*ql, *qh)
        } else {
            (*ql, *qh)
        };
        range(sql, low, high, *p, Bind::BigInt(ql), Bind::BigInt(qh));
    });
}

/// Widens a range for `ap` (approximately): 10% of its distance from now, or of its width.
fn approximate(ql: i64, qh: i64) -> (i64, i64) {
    let now = chrono::Utc::now().timestamp_micros();
    let margin = ((now - ql).abs() / 10).max(qh.saturating_sub(ql) / 10);
    (ql.saturating_sub(margin), qh.saturating_add(margin))
}

/// How a condition is joined to the resources it filters. The first condition of a search
/// drives it: `res_id IN (SELECT res_id FROM <table> WHERE ...)` reads only the index rows that
/// match. The others probe each of those resources through the `(res_type, res_id)` index:
/// `EXISTS (SELECT 1 FROM <table> x WHERE x.res_id = r.res_id AND ...)`. Written all as `IN`,
/// SQLite would build every list in full, so a search would cost as much as its least
/// selective condition (all 30,000 treatment directives for `category=` beside `patient=`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Join {
    Drive,
    Probe,
}

/// Opens the index-table subquery of one condition; the caller adds the filter and `)`.
fn ids_in(sql: &mut Sql, table: &str, res_type: &str, param: &str, negate: bool, join: Join) {
    rows_of(sql, table, res_type, negate, join);
    sql.push(" AND param = ").text(param).push(" AND ");
}

/// Opens a subquery over the rows of `table` that belong to the resource (see [`Join`]).
fn rows_of(sql: &mut Sql, table: &str, res_type: &str, negate: bool, join: Join) {
    match join {
        Join::Drive => {
            sql.push(if negate {
                " AND res_id NOT IN (SELECT res_id FROM "
            } else {
                " AND res_id IN (SELECT res_id FROM "
            })
            .push(table)
            .push(" WHERE res_type = ")
            .text(res_type);
        }
        Join::Probe => {
            sql.push(if negate {
                " AND NOT EXISTS (SELECT 1 FROM "
            } else {
                " AND EXISTS (SELECT 1 FROM "
            });
            // A planner may prefer the index on the searched value (it has more equal
            // columns), which reads every row with that value for each resource: SQLite
            // without statistics, and PostgreSQL in a kept plan, which cannot see that a
            // code is common (185 ms instead of 0.5 ms for one check at 10,000 patients).
            // So the probe reads the resource's own rows and filters those: SQLite is told
            // the index, PostgreSQL gets the rows from a subquery it cannot merge (`OFFSET 0`).
            let own = " WHERE x.res_type = r.res_type AND x.res_id = r.res_id";
            let by_resource = table.starts_with("search_");
            if by_resource && sql.postgres {
                sql.push("(SELECT * FROM ")
                    .push(table)
                    .push(" x")
                    .push(own)
                    .push(" OFFSET 0) x WHERE 1 = 1");
            } else {
                sql.push(table).push(" x");
                if by_resource {
                    sql.push(" INDEXED BY ").push(table).push("_resource");
                }
                sql.push(own);
            }
        }
    }
}

/// Closes a subquery that [`rows_of`] opened. On PostgreSQL a probe ends in `OFFSET 0`, which
/// keeps it a lookup per found resource: a plan kept for the statement can then neither start
/// from it nor read it whole into a hash table. A plan made while the tables were small did
/// the latter, and then read every resource an organisation ever recorded for each check.
fn close_rows(sql: &mut Sql, join: Join) {
    if sql.postgres && join == Join::Probe {
        sql.push(" OFFSET 0");
    }
    sql.push(")");
}

/// How well a condition narrows a search, lowest first: the best one drives it.
fn selectivity(c: &Condition) -> u8 {
    match c {
        Condition::Nothing | Condition::Id(_) => 0,
        Condition::Reference { .. } => 1,
        Condition::String {
            mode: StringMode::Exact | StringMode::StartsWith,
            ..
        }
        | Condition::Uri { .. }
        | Condition::Chain { .. }
        | Condition::Has { .. } => 2,
        Condition::Token {
            negate: false,
            text: None,
            ..
        } => 3,
        Condition::Date { .. } | Condition::Number { .. } => 4,
        // Filters on the resources row itself: they read no index rows to drive a search.
        Condition::NotId(_) | Condition::LastUpdated(_) => 10,
        _ => 9,
    }
}

/// The first string after every string that starts with `prefix`, in byte (code point)
/// order, so that a starts-with search is an index range.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = (last as u32 + 1..=char::MAX as u32).find_map(char::from_u32) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// One token value against a `search_token` row.
fn token_match(sql: &mut Sql, m: &TokenMatch) {
    sql.push("1 = 1");
    match &m.system {
        None => {}
        Some(None) => {
            sql.push(" AND system IS NULL");
        }
        Some(Some(s)) => {
            sql.push(" AND system = ").text(s);
        }
    }
    if let Some(code) = &m.code {
        sql.push(" AND code = ").text(code);
    }
}

/// The `care_link` rows of `members` whose period covers `day`.
fn links_of(sql: &mut Sql, members: &[RefMatch], day: &str) {
    sql.push("(cl.start_day IS NULL OR cl.start_day <= ")
        .text(day)
        .push(") AND (cl.end_day IS NULL OR cl.end_day >= ")
        .text(day)
        .push(") AND ")
        .any(members, |sql, m| match m {
            RefMatch::Id { target_type, id } => {
                sql.push("cl.member_id = ").text(id);
                if let Some(t) = target_type {
                    sql.push(" AND cl.member_type = ").text(t);
                }
            }
            RefMatch::Identifier { system, value } => {
                sql.push("cl.member_value = ").text(value);
                if let Some(s) = system {
                    sql.push(" AND cl.member_system = ").text(s);
                }
            }
            RefMatch::Url { .. } => {
                sql.push("1 = 0");
            }
        });
}

/// ` AND <column> ...`: the patient in `column` is one `patients` selects. Each test is a
/// lookup for that one patient (`EXISTS`), never the list of every patient of a member, which
/// for an organisation's system grows with the whole database.
fn patients_of(sql: &mut Sql, column: &str, patients: &Patients) {
    // OFFSET 0: see `close_rows`.
    let fence = if sql.postgres { " OFFSET 0)" } else { ")" };
    let denied = |sql: &mut Sql| {
        sql.push(" AND NOT EXISTS (SELECT 1 FROM sharing s WHERE s.patient = ")
            .push(column)
            .push(" AND s.decision = 'deny'")
            .push(fence);
    };
    match patients {
        Patients::Ids(ids) => {
            sql.push(" AND ").push(column).push(" IN ").list(ids);
        }
        Patients::NotObjecting => denied(sql),
        Patients::Linked {
            members,
            day,
            consent,
        } => {
            sql.push(" AND EXISTS (SELECT 1 FROM care_link cl WHERE cl.patient = ")
                .push(column)
                .push(" AND ");
            links_of(sql, members, day);
            sql.push(fence);
            if *consent {
                sql.push(" AND EXISTS (SELECT 1 FROM sharing s WHERE s.patient = ")
                    .push(column)
                    .push(" AND s.decision = 'permit'")
                    .push(fence);
            }
            denied(sql);
        }
    }
}

fn condition(sql: &mut Sql, res_type: &str, c: &Condition, join: Join) {
    match c {
        Condition::Any(conditions) => {
            sql.push(" AND (1 = 0");
            for c in conditions {
                sql.push(" OR (1 = 1");
                condition(sql, res_type, c, join);
                sql.push(")");
            }
            sql.push(")");
        }
        Condition::All(conditions) => {
            for c in conditions {
                condition(sql, res_type, c, join);
            }
        }
        Condition::RecordedBy(organization) => {
            rows_of(sql, "recorded_by", res_type, false, join);
            sql.push(" AND organization = ").text(organization);
            close_rows(sql, join);
        }
        Condition::Compartment { params, patients } => {
            // Qualified, or the care_link and sharing lookups (which have a res_id of their
            // own) would read their own column.
            let column = if res_type == "Patient" {
                "r.res_id"
            } else {
                rows_of(sql, "search_reference", res_type, false, join);
                sql.push(" AND param IN ")
                    .list(params)
                    .push(" AND target_type = 'Patient'");
                "target_id"
            };
            patients_of(sql, column, patients);
            if res_type != "Patient" {
                close_rows(sql, join);
            }
        }
        Condition::Nothing => {
            sql.push(" AND 1 = 0");
        }
        Condition::Has {
            source_type,
            param,
            inner,
        } => {
            sql.push(" AND res_id IN (SELECT target_id FROM search_reference WHERE res_type = ")
                .text(source_type)
                .push(" AND param = ")
                .text(param)
                .push(" AND target_type = ")
                .text(res_type)
                .push(" AND res_id IN (SELECT res_id FROM resources r WHERE res_type = ")
                .text(source_type)
                .push(" AND deleted = FALSE");
            condition(sql, source_type, inner, Join::Drive);
            sql.push("))");
        }
        Condition::Missing {
            param,
            table,
            missing,
        } => {
            ids_in(sql, table.name(), res_type, param, *missing, join);
            sql.push("1 = 1");
            close_rows(sql, join);
        }
        Condition::Chain { param, targets } => {
            ids_in(sql, "search_reference", res_type, param, false, join);
            sql.any(targets, |sql, (target_type, inner)| {
                sql.push("target_type = ")
                    .text(target_type)
                    .push(" AND target_id IN (SELECT res_id FROM resources r WHERE res_type = ")
                    .text(target_type)
                    .push(" AND deleted = FALSE");
                condition(sql, target_type, inner, Join::Drive);
                sql.push(")");
            });
            close_rows(sql, join);
        }
        Condition::Id(ids) => {
            sql.push(" AND ").any(ids, |sql, id| {
                sql.push("res_id = ").text(id);
            });
        }
        Condition::Token {
            param,
            values,
            except,
            text,
            negate,
        } => {
            ids_in(sql, "search_token", res_type, param, *negate, join);
            match text {
                Some(texts) => sql.any(texts, |sql, t| {
                    sql.push("LOWER(display) LIKE ")
                        .text(&format!("%{}%", like_escape(&t.to_lowercase())))
                        .push(" ESCAPE '\\'");
                }),
                None => sql.any(values, token_match),
            };
            if !except.is_empty() {
                sql.push(" AND NOT ").any(except, token_match);
            }
            close_rows(sql, join);
        }
        Condition::String {
            param,
            values,
            mode,
        } => {
            ids_in(sql, "search_string", res_type, param, false, join);
            sql.any(values, |sql, v| match mode {
                StringMode::Exact => {
                    sql.push("exact = ").text(v);
                }
                StringMode::StartsWith => {
                    sql.push("normalized >= ").text(v);
                    if let Some(end) = prefix_end(v) {
                        sql.push(" AND normalized < ").text(&end);
                    }
                }
                StringMode::Contains => {
                    sql.push("normalized LIKE ")
                        .text(&format!("%{}%", like_escape(v)))
                        .push(" ESCAPE '\\'");
                }
            });
            close_rows(sql, join);
        }
        Condition::Reference { param, values } => {
            ids_in(sql, "search_reference", res_type, param, false, join);
            // An OR of (id, type) pairs is no index lookup for SQLite: it would read every
            // row of the parameter. The ids alone, as an IN list, are.
            let ids: Vec<&str> = values
                .iter()
                .filter_map(|m| match m {
                    RefMatch::Id { id, .. } => Some(id.as_str()),
                    _ => None,
                })
                .collect();
            if values.len() > 1 && ids.len() == values.len() {
                sql.push("target_id IN ").list(&ids).push(" AND ");
            }
            sql.any(values, |sql, m| match m {
                RefMatch::Id { target_type, id } => {
                    sql.push("target_id = ").text(id);
                    if let Some(t) = target_type {
                        sql.push(" AND target_type = ").text(t);
                    }
                }
                RefMatch::Url { url, version } => {
                    sql.push("url = ").text(url);
                    if let Some(v) = version {
                        sql.push(" AND version = ").text(v);
                    }
                }
                RefMatch::Identifier { system, value } => {
                    sql.push("identifier_value = ").text(value);
                    if let Some(s) = system {
                        sql.push(" AND identifier_system = ").text(s);
                    }
                }
            });
            close_rows(sql, join);
        }
        Condition::NotId(ids) => {
            sql.push(" AND r.res_id NOT IN ").list(ids);
        }
        Condition::LastUpdated(values) => {
            sql.push(" AND ");
            any_range(sql, "r.last_updated", "r.last_updated", values);
        }
        Condition::Date { param, values } => {
            ids_in(sql, "search_date", res_type, param, false, join);
            any_range(sql, "low", "high", values);
            close_rows(sql, join);
        }
        Condition::Number { param, values } => {
            ids_in(sql, "search_number", res_type, param, false, join);
            sql.any(values, |sql, (p, ql, qh, system, code)| {
                let (ql, qh) = if *p == Prefix::Ap {
                    let margin = ql.abs().max(qh.abs()) * 0.1;
                    (ql - margin, qh + margin)
                } else {
                    (*ql, *qh)
                };
                sql.push("(");
                range(
                    sql,
                    "value",
                    "value",
                    *p,
                    Bind::Double(ql),
                    Bind::Double(qh),
                );
                sql.push(")");
                if let Some(s) = system {
                    sql.push(" AND system = ").text(s);
                }
                if let Some(c) = code {
                    sql.push(" AND (code = ")
                        .text(c)
                        .push(" OR unit = ")
                        .text(c)
                        .push(")");
                }
            });
            close_rows(sql, join);
        }
        Condition::Uri { param, values } => {
            ids_in(sql, "search_uri", res_type, param, false, join);
            sql.any(values, |sql, v| {
                sql.push("value = ").text(v);
            });
            close_rows(sql, join);
        }
    }
}

fn filtered(backend: Backend, q: &SearchQuery, select: &str) -> Sql {
    let mut sql = Sql::new(backend);
    filter_into(&mut sql, q, select);
    sql
}

/// [`filtered`], written on at the end of `sql` (as a subquery of a statement begun there).
fn filter_into(sql: &mut Sql, q: &SearchQuery, select: &str) {
    sql.push("SELECT ")
        .push(select)
        .push(" FROM resources r WHERE res_type = ")
        .text(&q.res_type)
        .push(" AND deleted = FALSE");
    let mut ordered: Vec<&Condition> = q.conditions.iter().collect();
    ordered.sort_by_key(|c| selectivity(c));
    for (n, c) in ordered.into_iter().enumerate() {
        let join = if n == 0 { Join::Drive } else { Join::Probe };
        condition(sql, &q.res_type, c, join);
    }
}

/// The SQL type of a sort key's values.
enum Kind {
    Text,
    Int,
    Real,
}

fn sort_kind(key: &SortKey) -> Kind {
    match &key.by {
        SortBy::Id => Kind::Text,
        SortBy::LastUpdated => Kind::Int,
        SortBy::Param { table, .. } => match table {
            Table::Date => Kind::Int,
            Table::Number => Kind::Real,
            _ => Kind::Text,
        },
    }
}

fn bind_of(v: &SortValue) -> Bind {
    match v {
        SortValue::Text(t) => Bind::Text(t.clone()),
        SortValue::Int(i) => Bind::BigInt(*i),
        SortValue::Real(f) => Bind::Double(*f),
        SortValue::Null => Bind::Text(String::new()),
    }
}

/// The value a resource (`r`) is sorted by for one key: the lowest of its index values, or
/// for a descending sort the highest (a date range sorts by its start, or its end when
/// descending).
fn sort_expression(sql: &mut Sql, res_type: &str, key: &SortKey) {
    let SortBy::Param { param, table } = &key.by else {
        sql.push(match key.by {
            SortBy::LastUpdated => "r.last_updated",
            _ => "r.res_id",
        });
        return;
    };
    let agg = if key.descending { "MAX" } else { "MIN" };
    let column = match (table, key.descending) {
        (Table::String, _) => "normalized",
        (Table::Token, _) => "code",
        (Table::Date, false) => "low",
        (Table::Date, true) => "high",
        (Table::Number, _) => "value",
        (Table::Uri, _) => "value",
        (Table::Reference, _) => "target_id",
    };
    sql.push(&format!(
        "(SELECT {agg}(x.{column}) FROM {} x WHERE x.res_type = ",
        table.name()
    ))
    .text(res_type)
    .push(" AND x.res_id = r.res_id AND x.param = ")
    .text(param)
    .push(")");
}

#[derive(QueryableByName)]
struct Target {
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    target_type: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    target_id: Option<String>,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

impl<DB> diesel::query_builder::QueryFragment<DB> for Sql
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<Text>
        + diesel::sql_types::HasSqlType<BigInt>
        + diesel::sql_types::HasSqlType<Double>
        + diesel::sql_types::HasSqlType<diesel::sql_types::Bool>
        + diesel::sql_types::HasSqlType<diesel::sql_types::Binary>,
    String: diesel::serialize::ToSql<Text, DB>,
    Option<Vec<u8>>:
        diesel::serialize::ToSql<diesel::sql_types::Nullable<diesel::sql_types::Binary>, DB>,
    i64: diesel::serialize::ToSql<BigInt, DB>,
    f64: diesel::serialize::ToSql<Double, DB>,
    bool: diesel::serialize::ToSql<diesel::sql_types::Bool, DB>,
    Option<String>: diesel::serialize::ToSql<diesel::sql_types::Nullable<Text>, DB>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        if self.once {
            out.unsafe_to_cache_prepared();
        }
        let mut at = 0;
        for (cut, bind) in self.cuts.iter().zip(&self.binds) {
            out.push_sql(&self.text[at..*cut]);
            match bind {
                Bind::Text(v) => out.push_bind_param::<Text, _>(v)?,
                Bind::OptText(v) => {
                    out.push_bind_param::<diesel::sql_types::Nullable<Text>, _>(v)?
                }
                Bind::Packed(v) => out
                    .push_bind_param::<diesel::sql_types::Nullable<diesel::sql_types::Binary>, _>(
                        v,
                    )?,
                Bind::BigInt(v) => out.push_bind_param::<BigInt, _>(v)?,
                Bind::Bool(v) => out.push_bind_param::<diesel::sql_types::Bool, _>(v)?,
                Bind::Double(v) => out.push_bind_param::<Double, _>(v)?,
            }
            at = *cut;
        }
        out.push_sql(&self.text[at..]);
        Ok(())
    }
}

impl diesel::query_builder::QueryId for Sql {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl diesel::query_builder::Query for Sql {
    type SqlType = diesel::sql_types::Untyped;
}

impl<C> RunQueryDsl<C> for Sql {}

impl Sql {
    /// Runs a statement that returns no rows.
    pub(super) fn execute_on(self, conn: &mut AnyConnection) -> QueryResult<usize> {
        match conn {
            AnyConnection::Postgresql(c) => self.execute(c),
            AnyConnection::Sqlite(c) => self.execute(c),
        }
    }
}

/// Runs `sql` on whichever backend the connection is.
macro_rules! load {
    ($conn:expr, $sql:expr, $row:ty) => {{
        let sql = $sql;
        match $conn {
            AnyConnection::Postgresql(c) => sql.load::<$row>(c),
            AnyConnection::Sqlite(c) => sql.load::<$row>(c),
        }
    }};
}

impl Tx<'_> {
    /// One page of the current resources that meet every condition, in sort order (ties,
    /// and everything when unsorted, in id order).
    pub fn search(&mut self, q: &SearchQuery) -> Result<Vec<Version>, StoreError> {
        self.flush_for(q)?;
        let mut sql = filtered(
            self.backend,
            q,
            "res_type, res_id, version, last_updated, deleted, content",
        );
        if let Some((values, id)) = &q.after {
            sql.push(" AND (");
            for (i, key) in q.sort.iter().enumerate() {
                for (earlier, value) in q.sort[..i].iter().zip(values) {
                    sort_expression(&mut sql, &q.res_type, earlier);
                    match value {
                        SortValue::Null => sql.push(" IS NULL AND "),
                        v => sql.push(" = ").bind(bind_of(v)).push(" AND "),
                    };
                }
                match values.get(i).unwrap_or(&SortValue::Null) {
                    SortValue::Null => sql.push("1 = 0"),
                    v => {
                        sql.push("(");
                        sort_expression(&mut sql, &q.res_type, key);
                        sql.push(if key.descending { " < " } else { " > " })
                            .bind(bind_of(v))
                            .push(" OR ");
                        sort_expression(&mut sql, &q.res_type, key);
                        sql.push(" IS NULL)")
                    }
                };
                sql.push(" OR ");
            }
            for (key, value) in q.sort.iter().zip(values) {
                sort_expression(&mut sql, &q.res_type, key);
                match value {
                    SortValue::Null => sql.push(" IS NULL AND "),
                    v => sql.push(" = ").bind(bind_of(v)).push(" AND "),
                };
            }
            sql.push("res_id > ").text(id).push(")");
        }
        sql.push(" ORDER BY ");
        for key in &q.sort {
            // Resources without a value come last in either direction.
            sql.push("(");
            sort_expression(&mut sql, &q.res_type, key);
            sql.push(" IS NULL), ");
            sort_expression(&mut sql, &q.res_type, key);
            sql.push(if key.descending { " DESC, " } else { " ASC, " });
        }
        sql.push("res_id LIMIT ").int(q.limit);
        Ok(load!(&mut *self.conn, sql, Version)?)
    }

    /// The sort key values of one resource, to continue a sorted search after it.
    pub fn sort_values(
        &mut self,
        res_type: &str,
        res_id: &str,
        sort: &[SortKey],
    ) -> Result<Vec<SortValue>, StoreError> {
        self.flush_types(&[res_type])?;
        #[derive(QueryableByName)]
        struct TextValue {
            #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
            v: Option<String>,
        }
        #[derive(QueryableByName)]
        struct IntValue {
            #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
            v: Option<i64>,
        }
        #[derive(QueryableByName)]
        struct RealValue {
            #[diesel(sql_type = diesel::sql_types::Nullable<Double>)]
            v: Option<f64>,
        }
        let mut out = Vec::with_capacity(sort.len());
        for key in sort {
            let mut sql = Sql::new(self.backend);
            sql.push("SELECT ");
            sort_expression(&mut sql, res_type, key);
            sql.push(" AS v FROM resources r WHERE res_type = ")
                .text(res_type)
                .push(" AND res_id = ")
                .text(res_id);
            let value = match sort_kind(key) {
                Kind::Text => load!(&mut *self.conn, sql, TextValue)?
                    .pop()
                    .and_then(|r| r.v)
                    .map(SortValue::Text),
                Kind::Int => load!(&mut *self.conn, sql, IntValue)?
                    .pop()
                    .and_then(|r| r.v)
                    .map(SortValue::Int),
                Kind::Real => load!(&mut *self.conn, sql, RealValue)?
                    .pop()
                    .and_then(|r| r.v)
                    .map(SortValue::Real),
            };
            out.push(value.unwrap_or(SortValue::Null));
        }
        Ok(out)
    }

    /// The resources (not the versions) a search finds.
    pub fn search_resources(
        &mut self,
        q: &SearchQuery,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        self.search(q)?.iter().map(Version::resource).collect()
    }

    /// Whether one of `members` has a care link with the patient on `day`.
    pub fn is_linked(
        &mut self,
        patient: &str,
        members: &[RefMatch],
        day: &str,
    ) -> Result<bool, StoreError> {
        let mut sql = Sql::new(self.backend);
        sql.push("SELECT COUNT(*) AS n FROM care_link cl WHERE cl.patient = ")
            .text(patient)
            .push(" AND ");
        links_of(&mut sql, members, day);
        let rows: Vec<Count> = load!(&mut *self.conn, sql, Count)?;
        Ok(rows.first().is_some_and(|c| c.n > 0))
    }

    /// How many current resources meet every condition; with `at_most`, `None` when there
    /// are more than that, found without reading the rest.
    pub fn search_total(
        &mut self,
        q: &SearchQuery,
        at_most: Option<i64>,
    ) -> Result<Option<i64>, StoreError> {
        self.flush_for(q)?;
        let sql = match at_most {
            None => filtered(self.backend, q, "COUNT(*) AS n"),
            Some(limit) => {
                let mut sql = Sql::new(self.backend);
                sql.push("SELECT COUNT(*) AS n FROM (");
                filter_into(&mut sql, q, "1");
                sql.push(" LIMIT ").int(limit + 1).push(") m");
                sql
            }
        };
        let rows: Vec<Count> = load!(&mut *self.conn, sql, Count)?;
        let n = rows.first().map_or(0, |c| c.n);
        Ok(Some(n).filter(|n| at_most.is_none_or(|limit| *n <= limit)))
    }
}

impl Tx<'_> {
    /// Reads the current versions of `ids` of one type in one statement, for the
    /// [`Tx::current`] calls of the writes that follow (a transaction Bundle's).
    pub fn read_ahead(&mut self, res_type: &str, ids: &[String]) -> Result<(), StoreError> {
        self.flush_types(&[res_type])?;
        let mut sql = Sql::new(self.backend);
        sql.planned_each_time()
            .push("SELECT res_type, res_id, version, last_updated, deleted, content FROM resources WHERE res_type = ")
            .text(res_type)
            .push(" AND res_id IN ")
            .list(ids);
        let found: Vec<Version> = load!(&mut *self.conn, sql, Version)?;
        for id in ids {
            self.absent.insert((res_type.to_string(), id.clone()));
        }
        for v in found {
            let key = (v.res_type.clone(), v.res_id.clone());
            self.absent.remove(&key);
            self.known.insert(key, v);
        }
        Ok(())
    }

    /// The texts of `versions` (type, id, version) that are current, which only `resources`
    /// holds, by type and id; one statement for a whole history page.
    pub(super) fn current_texts(
        &mut self,
        versions: &[(&str, &str, i64)],
    ) -> Result<HashMap<(String, String), String>, StoreError> {
        if versions.is_empty() {
            return Ok(HashMap::new());
        }
        let mut sql = Sql::new(self.backend);
        sql.planned_each_time().push(
            "SELECT res_type, res_id, version, last_updated, deleted, content FROM resources WHERE (res_type, res_id, version) IN (",
        );
        for (n, (t, i, v)) in versions.iter().enumerate() {
            if n > 0 {
                sql.push(", ");
            }
            sql.tuple([
                Bind::Text(t.to_string()),
                Bind::Text(i.to_string()),
                Bind::BigInt(*v),
            ]);
        }
        sql.push(")");
        let found: Vec<Version> = load!(&mut *self.conn, sql, Version)?;
        Ok(found
            .into_iter()
            .filter_map(|v| Some(((v.res_type, v.res_id), v.content?)))
            .collect())
    }

    /// The current, not deleted resources among `ids` of one type.
    pub fn current_many(
        &mut self,
        res_type: &str,
        ids: &[String],
    ) -> Result<Vec<Version>, StoreError> {
        self.flush_types(&[res_type])?;
        use super::schema::resources as r;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(r::table
            .filter(r::res_type.eq(res_type))
            .filter(r::res_id.eq_any(ids))
            .filter(r::deleted.eq(false))
            .select((
                r::res_type,
                r::res_id,
                r::version,
                r::last_updated,
                r::deleted,
                r::content,
            ))
            .order(r::res_id.asc())
            .load::<Version>(&mut *self.conn)?)
    }

    /// The (type, id) targets that parameter `param` of the resources `ids` refers to,
    /// optionally only those of `target_type`.
    pub fn referenced(
        &mut self,
        res_type: &str,
        ids: &[String],
        param: &str,
        target_type: Option<&str>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        self.flush_types(&[res_type])?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Sql::new(self.backend);
        sql.push("SELECT DISTINCT target_type, target_id FROM search_reference");
        if !sql.postgres {
            // Without statistics SQLite reads every row of the parameter through the
            // (res_type, param) index instead of the rows of these resources: an _include
            // would cost as much as the whole table.
            sql.push(" INDEXED BY search_reference_resource");
        }
        sql.push(" WHERE res_type = ")
            .text(res_type)
            .push(" AND res_id IN ")
            .list(ids)
            .push(" AND param = ")
            .text(param);
        if let Some(t) = target_type {
            sql.push(" AND target_type = ").text(t);
        }
        let rows: Vec<Target> = load!(&mut *self.conn, sql, Target)?;
        Ok(rows
            .into_iter()
            .filter_map(|r| Some((r.target_type?, r.target_id?)))
            .collect())
    }

    /// The ids of `source_type` resources whose `param` refers to one of `target_ids` of
    /// `target_type`.
    pub fn referencing(
        &mut self,
        source_type: &str,
        param: &str,
        target_type: &str,
        target_ids: &[String],
    ) -> Result<Vec<String>, StoreError> {
        self.flush_types(&[source_type])?;
        use super::schema::search_reference as sr;
        Ok(sr::table
            .filter(sr::res_type.eq(source_type))
            .filter(sr::param.eq(param))
            .filter(sr::target_type.eq(target_type))
            .filter(sr::target_id.eq_any(target_ids))
            .select(sr::res_id)
            .distinct()
            .load(&mut *self.conn)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_where_its_last_character_would_be_one_higher() {
        assert_eq!(prefix_end("van d").as_deref(), Some("van e"));
        assert_eq!(prefix_end("z").as_deref(), Some("{"));
        assert_eq!(prefix_end("\u{10FFFF}"), None);
        // Every string with the prefix sorts inside the range, others outside.
        let (low, high) = ("de v", prefix_end("de v").unwrap());
        for s in ["de v", "de vries", "de v\u{10FFFF}"] {
            assert!(s >= low && s < high.as_str(), "{s}");
        }
        for s in ["de u", "de w", "de"] {
            assert!(!(s >= low && s < high.as_str()), "{s}");
        }
    }

    #[test]
    fn the_most_selective_condition_drives_the_search() {
        let category = Condition::Token {
            param: "category".into(),
            values: Vec::new(),
            except: Vec::new(),
            text: None,
            negate: false,
        };
        let patient = Condition::Reference {
            param: "patient".into(),
            values: Vec::new(),
        };
        let q = SearchQuery {
            res_type: "Consent".into(),
            conditions: vec![category, patient],
            sort: Vec::new(),
            after: None,
            limit: 1,
        };
        let sql = filtered(Backend::Sqlite, &q, "res_id").text;
        let drive = sql
            .find("res_id IN (SELECT res_id FROM search_reference")
            .unwrap();
        let probe = sql.find("EXISTS (SELECT 1 FROM search_token x").unwrap();
        assert!(drive < probe, "{sql}");
        assert!(
            sql.contains("search_token x INDEXED BY search_token_resource WHERE"),
            "{sql}"
        );

        // On PostgreSQL the probe filters the resource's own rows, which a subquery fetches
        // by resource; a kept plan cannot start from the rows with the searched value.
        let sql = filtered(Backend::Postgres, &q, "res_id").text;
        let own_rows = "EXISTS (SELECT 1 FROM (SELECT * FROM search_token x WHERE \
                        x.res_type = r.res_type AND x.res_id = r.res_id OFFSET 0) x WHERE 1 = 1 \
                        AND param = ";
        assert!(sql.contains(own_rows), "{sql}");
    }
}
