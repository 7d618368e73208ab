//! Search index rows: replaced with every write of a resource, so they always describe its
//! current version, and removed when it is deleted.
//!
//! A transaction does not send each row on its own: the index rows of every resource it writes,
//! who recorded it and, for a new resource, its first version wait in [`Pending`] and go to the
//! database in a few multi-row statements, before anything in the same transaction reads rows
//! of that resource type and before it commits. On PostgreSQL each statement is a round trip,
//! and a plan Bundle of 200 resources has some 3,000 index rows.

use diesel::prelude::*;

use super::query::{Bind, Sql};
use super::schema::{
    search_date, search_number, search_reference, search_string, search_token, search_uri,
};
use super::{AnyConnection, Backend, Version};
use crate::search::{IndexEntry, IndexValue};

/// Removes every index row of `res_type/res_id`.
pub fn clear(conn: &mut AnyConnection, res_type: &str, res_id: &str) -> QueryResult<()> {
    macro_rules! clear_table {
        ($t:ident) => {
            diesel::delete($t::table.filter($t::res_type.eq(res_type).and($t::res_id.eq(res_id))))
                .execute(conn)?;
        };
    }
    clear_table!(search_token);
    clear_table!(search_string);
    clear_table!(search_reference);
    clear_table!(search_date);
    clear_table!(search_number);
    clear_table!(search_uri);
    Ok(())
}

/// The rows a transaction queued that are not in the database yet: the index rows of the
/// resources it wrote, and which organisation recorded them.
#[derive(Default)]
pub struct Pending {
    /// New resources (version 1) with the method that created them (POST or PUT), in order.
    created: Vec<(Version, &'static str)>,
    resources: Vec<(String, String, Vec<IndexEntry>)>,
    recorded: Vec<[String; 3]>,
}

impl Pending {
    /// Queues the rows of the current version of `res_type/res_id`, replacing rows queued for
    /// an earlier version in the same transaction.
    pub fn set(&mut self, res_type: &str, res_id: &str, entries: Vec<IndexEntry>) {
        self.forget(res_type, res_id);
        if !entries.is_empty() {
            self.resources
                .push((res_type.to_string(), res_id.to_string(), entries));
        }
    }

    /// Drops the queued rows of `res_type/res_id` (it was deleted or is written again).
    fn forget(&mut self, res_type: &str, res_id: &str) {
        self.resources
            .retain(|(t, i, _)| !(t == res_type && i == res_id));
    }

    /// Queues the first version of a new resource, with the row that points at it.
    pub fn create(&mut self, v: &Version, method: &'static str) {
        self.created.push((v.clone(), method));
    }

    /// Queues that `organization` wrote a version of `res_type/res_id`.
    pub fn recorded_by(&mut self, res_type: &str, res_id: &str, organization: &str) {
        let row = [res_type, res_id, organization].map(str::to_string);
        if !self.recorded.contains(&row) {
            self.recorded.push(row);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.created.is_empty() && self.resources.is_empty() && self.recorded.is_empty()
    }

    /// Whether rows of `res_type/res_id` itself are queued: its first version, its index rows
    /// or who recorded it.
    pub fn holds(&self, res_type: &str, res_id: &str) -> bool {
        self.holds_where(|t, i| t == res_type && i == res_id)
    }

    /// Takes the queued rows of resources of one of `types` out, leaving the others queued.
    pub fn take_types(&mut self, types: &[&str]) -> Pending {
        let wanted = |t: &str| types.contains(&t);
        let (created, kept) = std::mem::take(&mut self.created)
            .into_iter()
            .partition(|(v, _)| wanted(&v.res_type));
        self.created = kept;
        let (resources, kept) = std::mem::take(&mut self.resources)
            .into_iter()
            .partition(|(t, _, _)| wanted(t));
        self.resources = kept;
        let (recorded, kept) = std::mem::take(&mut self.recorded)
            .into_iter()
            .partition(|[t, _, _]| wanted(t));
        self.recorded = kept;
        Pending {
            created,
            resources,
            recorded,
        }
    }

    /// Whether rows of a resource of one of `types` are queued.
    pub fn holds_any(&self, types: &[&str]) -> bool {
        self.holds_where(|t, _| types.contains(&t))
    }

    /// Whether rows of a resource `(type, id)` that `wanted` picks are queued.
    fn holds_where(&self, wanted: impl Fn(&str, &str) -> bool) -> bool {
        self.created
            .iter()
            .any(|(v, _)| wanted(&v.res_type, &v.res_id))
            || self.resources.iter().any(|(t, i, _)| wanted(t, i))
            || self.recorded.iter().any(|[t, i, _]| wanted(t, i))
    }

    /// Sends every queued row, emptying the queue.
    pub fn flush(&mut self, conn: &mut AnyConnection, backend: Backend) -> QueryResult<()> {
        // The head row of a new resource.
        let (heads, methods): (Vec<Vec<Bind>>, Vec<&str>) = std::mem::take(&mut self.created)
            .into_iter()
            .map(|(v, method)| {
                let head = vec![
                    Bind::Text(v.res_type),
                    Bind::Text(v.res_id),
                    Bind::BigInt(v.version),
                    Bind::BigInt(v.last_updated),
                    Bind::Bool(v.deleted),
                    Bind::Packed(v.content.as_deref().map(super::packed::pack)),
                ];
                (head, method)
            })
            .unzip();
        // The version row of the current version has no text: `resources` holds it.
        let versions = heads
            .iter()
            .zip(methods)
            .map(|(head, method)| {
                let mut row = head[..5].to_vec();
                row.insert(4, Bind::Text(method.into()));
                row.push(Bind::Packed(None));
                row
            })
            .collect();
        insert(conn, backend, "INSERT INTO resource_versions (res_type, res_id, version, last_updated, method, deleted, content)", "", versions)?;
        insert(
            conn,
            backend,
            "INSERT INTO resources (res_type, res_id, version, last_updated, deleted, content)",
            "",
            heads,
        )?;
        let resources = std::mem::take(&mut self.resources);
        let mut tables: [Vec<Vec<Bind>>; 6] = Default::default();
        for (res_type, res_id, entries) in &resources {
            for e in entries {
                if let Some((table, values)) = row(e) {
                    let mut binds = vec![
                        Bind::Text(res_type.clone()),
                        Bind::Text(res_id.clone()),
                        Bind::Text(e.code.to_string()),
                    ];
                    binds.extend(values);
                    tables[table].push(binds);
                }
            }
        }
        for ((table, columns), rows) in TABLES.iter().zip(tables) {
            let into = format!("INSERT INTO {table} (res_type, res_id, param, {columns})");
            insert(conn, backend, &into, "", rows)?;
        }
        let recorded = std::mem::take(&mut self.recorded)
            .into_iter()
            .map(|row| row.map(Bind::Text).into())
            .collect();
        // An organisation is kept once per resource, however often it writes it.
        let (into, conflict) = match backend {
            Backend::Postgres => ("INSERT INTO", " ON CONFLICT DO NOTHING"),
            Backend::Sqlite => ("INSERT OR IGNORE INTO", ""),
        };
        let into = format!("{into} recorded_by (res_type, res_id, organization)");
        insert(conn, backend, &into, conflict, recorded)
    }
}

/// Each index table and its columns after `res_type, res_id, param`.
const TABLES: [(&str, &str); 6] = [
    ("search_token", "system, code, display"),
    ("search_string", "normalized, exact"),
    (
        "search_reference",
        "target_type, target_id, version, url, identifier_system, identifier_value",
    ),
    ("search_date", "low, high"),
    ("search_number", "value, system, code, unit"),
    ("search_uri", "value"),
];

/// The table (a position in [`TABLES`]) and values of one entry; `None` for a number that
/// is not finite, which is not indexed.
fn row(e: &IndexEntry) -> Option<(usize, Vec<Bind>)> {
    let text = |v: &Option<String>| Bind::OptText(v.clone());
    Some(match &e.value {
        IndexValue::Token {
            system,
            code,
            display,
        } => (0, vec![text(system), text(code), text(display)]),
        IndexValue::String { normalized, exact } => (
            1,
            vec![Bind::Text(normalized.clone()), Bind::Text(exact.clone())],
        ),
        IndexValue::Reference {
            target_type,
            target_id,
            version,
            url,
            identifier_system,
            identifier_value,
        } => (
            2,
            vec![
                text(target_type),
                text(target_id),
                text(version),
                text(url),
                text(identifier_system),
                text(identifier_value),
            ],
        ),
        IndexValue::Date { low, high } => (3, vec![Bind::BigInt(*low), Bind::BigInt(*high)]),
        IndexValue::Number { value } => (
            4,
            vec![finite(value)?, text(&None), text(&None), text(&None)],
        ),
        IndexValue::Quantity {
            value,
            system,
            code,
            unit,
        } => (
            4,
            vec![finite(value)?, text(system), text(code), text(unit)],
        ),
        IndexValue::Uri { value } => (5, vec![Bind::Text(value.clone())]),
    })
}

fn finite(value: &str) -> Option<Bind> {
    value
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(Bind::Double)
}

/// Rows per statement, largest first. A batch is cut into these sizes so that each table has
/// at most this many statement texts, each prepared once per connection.
const CHUNKS: [usize; 9] = [256, 128, 64, 32, 16, 8, 4, 2, 1];

/// `into VALUES (...), (...) then`, in as few statements as [`CHUNKS`] allows.
pub(super) fn insert(
    conn: &mut AnyConnection,
    backend: Backend,
    into: &str,
    then: &str,
    rows: Vec<Vec<Bind>>,
) -> QueryResult<()> {
    let mut rows = rows.into_iter().peekable();
    let mut left = rows.len();
    for size in CHUNKS {
        while left >= size {
            let mut sql = Sql::new(backend);
            sql.push(into).push(" VALUES ");
            for (n, values) in rows.by_ref().take(size).enumerate() {
                if n > 0 {
                    sql.push(", ");
                }
                sql.tuple(values);
            }
            sql.push(then);
            sql.execute_on(conn)?;
            left -= size;
        }
    }
    debug_assert!(rows.peek().is_none());
    Ok(())
}
