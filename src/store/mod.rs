//! Storage of resource versions. Every write is one database transaction that adds a row to
//! `resource_versions` and moves the pointer in `resources`; nothing here knows about HTTP.
//!
//! The text of a version is kept once: the current version's in `resources`, and each earlier
//! version's in its `resource_versions` row, moved there by the write that replaces it. A
//! version row without text is a deletion or the current version.

mod append;
mod bsn;
mod connection;
mod index;
mod packed;
mod query;
mod schema;

use std::collections::{HashMap, HashSet};
use std::sync::{mpsc, Arc, Mutex};

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

pub use append::Appended;
pub use connection::{parse_url, AnyConnection, Backend};
use query::{Bind, Sql};
pub use query::{
    Condition, Patients, Prefix, RefMatch, SearchQuery, SortBy, SortKey, SortValue, StringMode,
    Table, TokenMatch,
};
use schema::{resource_versions, resources};

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(String),
    /// The caller's expected version (If-Match) is not the current one.
    #[error("version conflict")]
    VersionConflict { current: Option<i64> },
    /// An edit of a resource that does not exist.
    #[error("not found")]
    NotFound,
    /// An edit of a deleted resource.
    #[error("deleted")]
    Deleted { version: i64 },
    /// A statement ran past the statement timeout and was cancelled.
    #[error("statement timeout")]
    TimedOut,
    /// Concurrent writers kept colliding on the same resource.
    #[error("concurrent update of {0}")]
    Contention(String),
}

impl Version {
    /// The version's resource; a deletion has none.
    pub fn resource(&self) -> Result<serde_json::Value, StoreError> {
        let text = self.content.as_deref().ok_or_else(|| {
            StoreError::Database(format!(
                "{}/{} version {} is a deletion and has no content",
                self.res_type, self.res_id, self.version
            ))
        })?;
        serde_json::from_str(text).map_err(|e| {
            StoreError::Database(format!(
                "stored {}/{} is unreadable: {e}",
                self.res_type, self.res_id
            ))
        })
    }
}

impl From<DieselError> for StoreError {
    fn from(e: DieselError) -> Self {
        let text = e.to_string();
        if text.contains("canceling statement due to statement timeout") {
            return StoreError::TimedOut;
        }
        StoreError::Database(text)
    }
}

/// The kind of change a write makes, recorded in the history as the HTTP method that caused it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// A new resource under an id the server has just made up (a UUID): nothing is looked
    /// up first, and should the id exist after all, the write fails as a collision.
    Create,
    Update,
    Delete,
    /// A change computed from the current content (PATCH); the resource must exist.
    Edit,
}

impl Change {
    fn method(self) -> &'static str {
        match self {
            Change::Create => "POST",
            Change::Update => "PUT",
            Change::Delete => "DELETE",
            Change::Edit => "PATCH",
        }
    }
}

/// One stored version of a resource. `content` is `None` for a deletion.
#[derive(Clone, Debug, PartialEq, Queryable, QueryableByName)]
pub struct Version {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub res_type: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub res_id: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub version: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub last_updated: i64,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub deleted: bool,
    #[diesel(
        sql_type = diesel::sql_types::Nullable<diesel::sql_types::Binary>,
        deserialize_as = packed::Content
    )]
    pub content: Option<String>,
}

/// A version as it appears in a history, with its position and the method that wrote it.
#[derive(Clone, Debug, PartialEq, Queryable)]
pub struct HistoryEntry {
    pub seq: i64,
    pub res_type: String,
    pub res_id: String,
    pub version: i64,
    pub last_updated: i64,
    pub method: String,
    pub deleted: bool,
    #[diesel(deserialize_as = packed::Content)]
    pub content: Option<String>,
}

/// What a write did.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    pub version: Version,
    /// True when the write brought the resource into existence (create, update-as-create, or an
    /// update of a deleted resource).
    pub created: bool,
    /// True when nothing was written (delete of something absent or already deleted).
    pub unchanged: bool,
}

/// A member's part in a patient's care, as a CareTeam or EpisodeOfCare states it.
#[derive(Clone, Debug, PartialEq)]
pub struct CareLink {
    pub patient: String,
    /// A literal reference (`Id`) or a logical one by identifier (`Identifier`).
    pub member: RefMatch,
    /// `YYYY-MM-DD`, inclusive; `None` when open.
    pub start_day: Option<String>,
    pub end_day: Option<String>,
}

/// A version ready to store: its text and the search index rows it yields.
pub struct Rendered {
    pub content: String,
    pub index: Vec<crate::search::IndexEntry>,
}

/// Produces a version from the current content (for an edit), the new version number and its
/// timestamp.
pub type Render<'a, E> = dyn Fn(Option<&str>, i64, i64) -> Result<Rendered, E> + 'a;

/// Which history to read.
#[derive(Clone, Debug)]
pub enum HistoryScope {
    System,
    Type(String),
    Instance(String, String),
}

/// A page of history, newest first.
#[derive(Clone, Debug)]
pub struct HistoryQuery {
    pub scope: HistoryScope,
    /// Only versions written at or after this instant (microseconds).
    pub since: Option<i64>,
    /// Only versions older than this position (the paging cursor).
    pub before_seq: Option<i64>,
    pub limit: i64,
    /// Only versions of resources this organisation (URA) wrote a version of.
    pub recorded_by: Option<String>,
}

/// How many times a write is retried when a concurrent writer took the same version number.
const WRITE_ATTEMPTS: usize = 10;

pub struct Store {
    db: Db,
    /// Hands records to the group-commit thread (see [`append`]).
    appender: mpsc::Sender<append::Job>,
    /// Keeps SQLite's background checkpoint running while the store lives.
    _checkpointer: Option<mpsc::Sender<()>>,
}

/// The database itself: what both request threads and the group-commit thread need.
#[derive(Clone)]
struct Db {
    pool: connection::Pool,
    backend: Backend,
    /// SQLite has one writer at a time; taking turns here avoids busy errors when a deferred
    /// transaction would have to upgrade its lock.
    sqlite_writer: Arc<Mutex<()>>,
}

impl Store {
    /// Connects, creating the SQLite file if needed, and runs the backend's migrations.
    /// Opens the database at `url`; on PostgreSQL a statement running longer than
    /// `statement_timeout_ms` (0: no limit) is cancelled and its transaction rolled back.
    pub fn open(url: &str, pool_size: u32, statement_timeout_ms: u64) -> Result<Store, StoreError> {
        let (backend, pool) = connection::open_pool(url, pool_size, statement_timeout_ms)?;
        let db = Db {
            pool,
            backend,
            sqlite_writer: Arc::new(Mutex::new(())),
        };
        let appender = append::start(db.clone());
        let checkpointer =
            (backend == Backend::Sqlite).then(|| connection::checkpointer(db.pool.clone()));
        Ok(Store {
            db,
            appender,
            _checkpointer: checkpointer,
        })
    }

    pub fn backend(&self) -> Backend {
        self.db.backend
    }

    fn conn(&self) -> Result<diesel::r2d2::PooledConnection<connection::Manager>, StoreError> {
        self.db.conn()
    }

    /// True when the database answers a query.
    pub fn ping(&self) -> Result<(), StoreError> {
        use diesel::connection::SimpleConnection;
        self.conn()?.batch_execute("SELECT 1")?;
        Ok(())
    }

    /// The current version (possibly a deletion), or `None` when the resource never existed.
    pub fn current(&self, res_type: &str, res_id: &str) -> Result<Option<Version>, StoreError> {
        self.read(|tx| tx.current(res_type, res_id))
    }

    /// One specific version.
    pub fn version(
        &self,
        res_type: &str,
        res_id: &str,
        version: i64,
    ) -> Result<Option<Version>, StoreError> {
        self.read(|tx| tx.version(res_type, res_id, version))
    }

    /// Runs `work` in one database transaction and commits when it returns `Ok`. Writers take
    /// turns on SQLite; on PostgreSQL they lock what they touch. When a concurrent writer won a
    /// race (same new version number, deadlock), everything is rolled back and `work` runs again,
    /// so it must not have effects outside the transaction.
    pub fn transaction<T, E: From<StoreError>>(
        &self,
        work: impl Fn(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.db.transaction(work)
    }

    /// Runs read-only `work` in one read transaction, so that a search, its total and its
    /// includes see one state of the database. Readers never take the writers' turn: SQLite's
    /// WAL gives them a snapshot, PostgreSQL a repeatable-read one.
    pub fn read<T, E: From<StoreError>>(
        &self,
        work: impl FnOnce(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        use diesel::connection::{AnsiTransactionManager, TransactionManager};
        let mut conn = self.conn()?;
        let backend = self.db.backend;
        // On PostgreSQL the isolation level comes with BEGIN: one round trip, not two.
        match &mut *conn {
            AnyConnection::Postgresql(c) => AnsiTransactionManager::begin_transaction_sql(
                c,
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
            ),
            AnyConnection::Sqlite(c) => AnsiTransactionManager::begin_transaction(c),
        }
        .map_err(StoreError::from)?;
        let mut tx = Tx::new(&mut conn, backend);
        let result = work(&mut tx);
        let ended = match (&mut *conn, result.is_ok()) {
            (AnyConnection::Postgresql(c), true) => AnsiTransactionManager::commit_transaction(c),
            (AnyConnection::Postgresql(c), false) => {
                AnsiTransactionManager::rollback_transaction(c)
            }
            (AnyConnection::Sqlite(c), true) => AnsiTransactionManager::commit_transaction(c),
            (AnyConnection::Sqlite(c), false) => AnsiTransactionManager::rollback_transaction(c),
        };
        let value = result?;
        ended.map_err(StoreError::from)?;
        Ok(value)
    }

    /// Stores `record` in the next group commit and returns once it is durable. Records that
    /// many threads append at once share one transaction, taken in the writers' turn.
    pub fn append(&self, record: Appended) -> Result<(), StoreError> {
        append::submit(&self.appender, record)
    }

    /// A page of history entries, newest first.
    pub fn history(&self, q: &HistoryQuery) -> Result<Vec<HistoryEntry>, StoreError> {
        self.read(|tx| {
            let mut query = history_filter(&q.scope, q.since, q.recorded_by.as_deref());
            if let Some(before) = q.before_seq {
                query = query.filter(resource_versions::seq.lt(before));
            }
            let mut entries = query
                .order(resource_versions::seq.desc())
                .limit(q.limit)
                .load::<HistoryEntry>(&mut *tx.conn)?;
            let current: Vec<(&str, &str, i64)> = entries
                .iter()
                .filter(|e| e.content.is_none() && !e.deleted)
                .map(|e| (e.res_type.as_str(), e.res_id.as_str(), e.version))
                .collect();
            let mut texts = tx.current_texts(&current)?;
            for e in entries
                .iter_mut()
                .filter(|e| e.content.is_none() && !e.deleted)
            {
                e.content = texts.remove(&(e.res_type.clone(), e.res_id.clone()));
            }
            Ok(entries)
        })
    }

    /// How many versions a history holds in total (ignoring paging).
    pub fn history_total(
        &self,
        scope: &HistoryScope,
        since: Option<i64>,
        recorded_by: Option<&str>,
    ) -> Result<i64, StoreError> {
        let mut conn = self.conn()?;
        let query = history_filter(scope, since, recorded_by);
        Ok(query.count().get_result(&mut *conn)?)
    }
}

/// The versions a history scope covers, written at or after `since`, of resources
/// `recorded_by` wrote a version of. The system history leaves out the audit trail.
fn history_filter<'a>(
    scope: &'a HistoryScope,
    since: Option<i64>,
    recorded_by: Option<&'a str>,
) -> resource_versions::BoxedQuery<'a, connection::MultiBackend> {
    let mut query = resource_versions::table.into_boxed();
    if let Some(org) = recorded_by {
        query = query.filter(diesel::dsl::exists(
            schema::recorded_by::table
                .filter(schema::recorded_by::res_type.eq(resource_versions::res_type))
                .filter(schema::recorded_by::res_id.eq(resource_versions::res_id))
                .filter(schema::recorded_by::organization.eq(org)),
        ));
    }
    match scope {
        HistoryScope::System => query = query.filter(resource_versions::res_type.ne("AuditEvent")),
        HistoryScope::Type(t) => query = query.filter(resource_versions::res_type.eq(t)),
        HistoryScope::Instance(t, id) => {
            query = query
                .filter(resource_versions::res_type.eq(t))
                .filter(resource_versions::res_id.eq(id))
        }
    }
    if let Some(since) = since {
        query = query.filter(resource_versions::last_updated.ge(since));
    }
    query
}

impl Db {
    fn conn(&self) -> Result<diesel::r2d2::PooledConnection<connection::Manager>, StoreError> {
        self.pool
            .get()
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// Runs `work` in one database transaction and commits when it returns `Ok`. Writers take
    /// turns on SQLite; on PostgreSQL they lock what they touch. When a concurrent writer won a
    /// race (same new version number, deadlock), everything is rolled back and `work` runs again,
    /// so it must not have effects outside the transaction.
    fn transaction<T, E: From<StoreError>>(
        &self,
        work: impl Fn(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let _turn = match self.backend {
            Backend::Sqlite => Some(self.sqlite_writer.lock().unwrap_or_else(|p| p.into_inner())),
            Backend::Postgres => None,
        };
        let mut conn = self.conn()?;
        let backend = self.backend;
        for _ in 0..WRITE_ATTEMPTS {
            let mut collided = false;
            let attempt = conn.transaction(|c| {
                let mut tx = Tx::new(c, backend);
                let result = work(&mut tx);
                collided = tx.collided;
                let value = result.map_err(Abort::Work)?;
                tx.pending.flush(tx.conn, backend)?;
                Ok(value)
            });
            match attempt {
                Ok(value) => return Ok(value),
                Err(Abort::Database(e)) if is_collision(&e) => continue,
                Err(_) if collided => continue,
                Err(Abort::Database(e)) => return Err(StoreError::from(e).into()),
                Err(Abort::Work(e)) => return Err(e),
            }
        }
        Err(StoreError::Contention("too many concurrent writers".into()).into())
    }
}

/// Why a transaction ended without commit: its work failed, or the database refused.
enum Abort<E> {
    Work(E),
    Database(DieselError),
}

impl<E> From<DieselError> for Abort<E> {
    fn from(e: DieselError) -> Self {
        Abort::Database(e)
    }
}

/// A failure that a concurrent writer caused and that a retry of the whole transaction cures.
fn is_collision(e: &DieselError) -> bool {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
        | DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
        DieselError::DatabaseError(_, info) => info.message().contains("deadlock detected"),
        _ => false,
    }
}

/// Inside a write transaction: either a store error, or a collision with a concurrent writer
/// that makes the whole transaction worth retrying.
enum WriteError<E> {
    Collision,
    Failed(E),
}

impl<E: From<StoreError>> From<DieselError> for WriteError<E> {
    fn from(e: DieselError) -> Self {
        if is_collision(&e) {
            WriteError::Collision
        } else {
            WriteError::Failed(StoreError::from(e).into())
        }
    }
}

/// A connection inside [`Store::transaction`] or [`Store::read`]: everything done through it
/// is part of the same unit of work.
pub struct Tx<'c> {
    conn: &'c mut AnyConnection,
    backend: Backend,
    /// Set when a write lost a race; the transaction is then retried as a whole.
    collided: bool,
    /// Rows this transaction's writes queued that are not in the database yet.
    pending: index::Pending,
    /// Resources that [`Tx::current`] found never existed: writing one creates it without
    /// looking again. Should another transaction create it meanwhile, the insert collides
    /// and the whole transaction runs again.
    absent: HashSet<(String, String)>,
    /// Current versions read ahead by [`Tx::read_ahead`], until the resource is written.
    known: HashMap<(String, String), Version>,
    /// Bumped by every write of a care team, episode of care or patient, so that what was
    /// concluded from the old care relationships is not reused; see [`Tx::remember`].
    relationships: u64,
    /// Facts concluded in this transaction, with the [`Tx::relationships`] they hold for.
    remembered: HashMap<String, u64>,
}

impl<'c> Tx<'c> {
    fn new(conn: &'c mut AnyConnection, backend: Backend) -> Self {
        Tx {
            conn,
            backend,
            collided: false,
            pending: index::Pending::default(),
            absent: HashSet::new(),
            known: HashMap::new(),
            relationships: 0,
            remembered: HashMap::new(),
        }
    }

    /// Writes a new version. `render` produces the resource text for the version number and
    /// timestamp the store assigns, given the current content for an [`Change::Edit`] (it is
    /// not called for a deletion); its error aborts the write. `if_match` makes the write
    /// conditional on the current version.
    pub fn write<E: From<StoreError>>(
        &mut self,
        change: Change,
        res_type: &str,
        res_id: &str,
        if_match: Option<i64>,
        render: &Render<'_, E>,
    ) -> Result<Written, E> {
        self.flush_resource(res_type, res_id)?;
        let key = (res_type.to_string(), res_id.to_string());
        self.known.remove(&key);
        let absent = self.absent.remove(&key);
        let queue = change == Change::Create || (change == Change::Update && absent);
        if matches!(res_type, "CareTeam" | "EpisodeOfCare" | "Patient") {
            self.relationships += 1;
        }
        match write_once(self.conn, change, res_type, res_id, if_match, queue, render) {
            Ok((w, entries)) => {
                if queue {
                    self.pending.create(&w.version, change.method());
                }
                self.pending.set(res_type, res_id, entries);
                Ok(w)
            }
            Err(WriteError::Failed(e)) => Err(e),
            Err(WriteError::Collision) => {
                self.collided = true;
                Err(StoreError::Contention(format!("{res_type}/{res_id}")).into())
            }
        }
    }

    /// Sends `rows` taken from the queue, so that what follows reads them.
    fn send(&mut self, rows: &mut index::Pending) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        rows.flush(self.conn, self.backend).map_err(|e| {
            // A resource queued as new that another transaction created meanwhile.
            self.collided |= is_collision(&e);
            e.into()
        })
    }

    /// Sends the queued rows of resources of `types`: a plan Bundle's writes keep queueing
    /// while the access checks between them read other types' rows.
    fn flush_types(&mut self, types: &[&str]) -> Result<(), StoreError> {
        if self.pending.holds_any(types) {
            let mut rows = self.pending.take_types(types);
            self.send(&mut rows)?;
        }
        Ok(())
    }

    /// [`Tx::flush_types`] when rows of `res_type/res_id` itself are queued.
    fn flush_resource(&mut self, res_type: &str, res_id: &str) -> Result<(), StoreError> {
        if self.pending.holds(res_type, res_id) {
            self.flush_types(&[res_type])?;
        }
        Ok(())
    }

    /// Whether `fact` was concluded in this transaction ([`Tx::remember`]) and no care team,
    /// episode of care or patient was written since.
    pub fn remembers(&self, fact: &str) -> bool {
        self.remembered.get(fact) == Some(&self.relationships)
    }

    /// Notes a conclusion drawn from the current care relationships, for [`Tx::remembers`]:
    /// a plan Bundle writes many resources of the same patient, each checked the same way.
    pub fn remember(&mut self, fact: String) {
        self.remembered.insert(fact, self.relationships);
    }

    fn flush_for(&mut self, q: &query::SearchQuery) -> Result<(), StoreError> {
        self.flush_types(&q.types())
    }

    /// Holds an exclusive lock on `key` until the transaction ends, so that work which first
    /// looks and then writes (conditional create) cannot interleave with the same work
    /// elsewhere. SQLite writers already take turns, so there it is a no-op.
    pub fn lock(&mut self, key: &str) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind::<diesel::sql_types::Text, _>(key)
                .execute(self.conn)?;
        }
        Ok(())
    }

    /// Notes that `organization` wrote a version of the resource (kept once per organisation).
    pub fn recorded_by(
        &mut self,
        res_type: &str,
        res_id: &str,
        organization: &str,
    ) -> Result<(), StoreError> {
        self.pending.recorded_by(res_type, res_id, organization);
        Ok(())
    }

    /// Replaces the care links a resource states (none for a deletion). `new`: no earlier
    /// version of the resource states any (it was just created, or only deleted before).
    pub fn set_care_links(
        &mut self,
        res_type: &str,
        res_id: &str,
        links: &[CareLink],
        new: bool,
    ) -> Result<(), StoreError> {
        self.relationships += 1;
        if !new {
            let mut sql = Sql::new(self.backend);
            sql.push("DELETE FROM care_link WHERE res_type = ")
                .text(res_type)
                .push(" AND res_id = ")
                .text(res_id);
            sql.execute_on(self.conn)?;
        }
        let rows = links
            .iter()
            .filter_map(|l| {
                let (member_type, member_id, system, value) = match &l.member {
                    RefMatch::Id { target_type, id } => {
                        (target_type.clone(), Some(id.clone()), None, None)
                    }
                    RefMatch::Identifier { system, value } => {
                        (None, None, system.clone(), Some(value.clone()))
                    }
                    RefMatch::Url { .. } => return None,
                };
                Some(vec![
                    Bind::Text(res_type.to_string()),
                    Bind::Text(res_id.to_string()),
                    Bind::Text(l.patient.clone()),
                    Bind::OptText(member_type),
                    Bind::OptText(member_id),
                    Bind::OptText(system),
                    Bind::OptText(value),
                    Bind::OptText(l.start_day.clone()),
                    Bind::OptText(l.end_day.clone()),
                ])
            })
            .collect();
        let into = "INSERT INTO care_link (res_type, res_id, patient, member_type, member_id, member_system, member_value, start_day, end_day)";
        Ok(index::insert(self.conn, self.backend, into, "", rows)?)
    }

    /// Replaces the sharing decision a Consent states: `(patient, "permit" | "deny")`, or
    /// none. `new` as for [`Tx::set_care_links`].
    pub fn set_sharing(
        &mut self,
        consent_id: &str,
        decision: Option<(&str, &str)>,
        new: bool,
    ) -> Result<(), StoreError> {
        if !new {
            let mut sql = Sql::new(self.backend);
            sql.push("DELETE FROM sharing WHERE res_id = ")
                .text(consent_id);
            sql.execute_on(self.conn)?;
        }
        if let Some((patient, d)) = decision {
            let row = [consent_id, patient, d].map(|v| Bind::Text(v.to_string()));
            let into = "INSERT INTO sharing (res_id, patient, decision)";
            index::insert(self.conn, self.backend, into, "", vec![row.into()])?;
        }
        Ok(())
    }

    /// Whether `organization` wrote a version of the resource.
    pub fn is_recorded_by(
        &mut self,
        res_type: &str,
        res_id: &str,
        organization: &str,
    ) -> Result<bool, StoreError> {
        self.flush_resource(res_type, res_id)?;
        #[derive(diesel::QueryableByName)]
        struct Found {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let sql = match self.backend {
            Backend::Postgres => "SELECT COUNT(*) AS n FROM recorded_by WHERE res_type = $1 AND res_id = $2 AND organization = $3",
            Backend::Sqlite => "SELECT COUNT(*) AS n FROM recorded_by WHERE res_type = ? AND res_id = ? AND organization = ?",
        };
        let found: Found = diesel::sql_query(sql)
            .bind::<diesel::sql_types::Text, _>(res_type)
            .bind::<diesel::sql_types::Text, _>(res_id)
            .bind::<diesel::sql_types::Text, _>(organization)
            .get_result(self.conn)?;
        Ok(found.n > 0)
    }

    /// The current version (possibly a deletion), or `None` when the resource never existed.
    pub fn current(&mut self, res_type: &str, res_id: &str) -> Result<Option<Version>, StoreError> {
        let key = (res_type.to_string(), res_id.to_string());
        if let Some(v) = self.known.get(&key) {
            return Ok(Some(v.clone()));
        }
        if self.absent.contains(&key) {
            return Ok(None);
        }
        self.flush_resource(res_type, res_id)?;
        let found = resources::table
            .find((res_type, res_id))
            .select((
                resources::res_type,
                resources::res_id,
                resources::version,
                resources::last_updated,
                resources::deleted,
                resources::content,
            ))
            .first::<Version>(self.conn)
            .optional()?;
        if found.is_none() {
            self.absent.insert(key);
        }
        Ok(found)
    }

    /// One specific version.
    pub fn version(
        &mut self,
        res_type: &str,
        res_id: &str,
        version: i64,
    ) -> Result<Option<Version>, StoreError> {
        self.flush_resource(res_type, res_id)?;
        let found = resource_versions::table
            .filter(resource_versions::res_type.eq(res_type))
            .filter(resource_versions::res_id.eq(res_id))
            .filter(resource_versions::version.eq(version))
            .select((
                resource_versions::res_type,
                resource_versions::res_id,
                resource_versions::version,
                resource_versions::last_updated,
                resource_versions::deleted,
                resource_versions::content,
            ))
            .first::<Version>(self.conn)
            .optional()?;
        match found {
            Some(mut v) if v.content.is_none() && !v.deleted => {
                let mut texts = self.current_texts(&[(res_type, res_id, version)])?;
                v.content = texts.remove(&(res_type.to_string(), res_id.to_string()));
                Ok(Some(v))
            }
            other => Ok(other),
        }
    }
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn write_once<E: From<StoreError>>(
    conn: &mut AnyConnection,
    change: Change,
    res_type: &str,
    res_id: &str,
    if_match: Option<i64>,
    queue: bool,
    render: &Render<'_, E>,
) -> Result<(Written, Vec<crate::search::IndexEntry>), WriteError<E>> {
    let fail = |e: StoreError| WriteError::Failed(E::from(e));
    // Reading the head row FOR UPDATE takes its row lock on PostgreSQL, so concurrent writers
    // of one resource queue here instead of colliding later (SQLite writers already take turns).
    let head_row = resources::table
        .find((res_type, res_id))
        .select((resources::version, resources::deleted));
    let head: Option<(i64, bool)> = match (queue, &mut *conn) {
        (true, _) => None,
        (_, AnyConnection::Postgresql(c)) => head_row.for_update().first(c).optional()?,
        (_, AnyConnection::Sqlite(c)) => head_row.first(c).optional()?,
    };
    if let Some(expected) = if_match {
        if head.map(|(v, _)| v) != Some(expected) {
            return Err(fail(StoreError::VersionConflict {
                current: head.map(|(v, _)| v),
            }));
        }
    }
    let current: Option<String> = match (change, head) {
        (Change::Edit, None) => return Err(fail(StoreError::NotFound)),
        (Change::Edit, Some((version, true))) => return Err(fail(StoreError::Deleted { version })),
        (Change::Edit, Some(_)) => resources::table
            .find((res_type, res_id))
            .select(resources::content)
            .first::<packed::Content>(conn)?
            .into(),
        _ => None,
    };
    let deleting = change == Change::Delete;
    if deleting && head.is_none_or(|(_, deleted)| deleted) {
        let unchanged = Written {
            version: Version {
                res_type: res_type.to_string(),
                res_id: res_id.to_string(),
                version: head.map_or(0, |(v, _)| v),
                last_updated: 0,
                deleted: true,
                content: None,
            },
            created: false,
            unchanged: true,
        };
        return Ok((unchanged, Vec::new()));
    }
    let version = head.map_or(1, |(v, _)| v + 1);
    let last_updated = now_micros();
    let rendered = match deleting {
        true => None,
        false => {
            Some(render(current.as_deref(), version, last_updated).map_err(WriteError::Failed)?)
        }
    };
    let (content, entries) = match rendered {
        Some(r) => (Some(r.content), r.index),
        None => (None, Vec::new()),
    };
    let written = Written {
        version: Version {
            res_type: res_type.to_string(),
            res_id: res_id.to_string(),
            version,
            last_updated,
            deleted: deleting,
            content,
        },
        created: !deleting && head.is_none_or(|(_, deleted)| deleted),
        unchanged: false,
    };
    if queue {
        // The caller queues the new rows with its index rows.
        return Ok((written, entries));
    }
    if let Some((previous, false)) = head {
        // The version being replaced keeps its text from now on.
        let mut sql = Sql::new(conn.backend());
        sql.push("UPDATE resource_versions SET content = (SELECT content FROM resources WHERE res_type = ")
            .text(res_type)
            .push(" AND res_id = ")
            .text(res_id)
            .push(") WHERE res_type = ")
            .text(res_type)
            .push(" AND res_id = ")
            .text(res_id)
            .push(" AND version = ")
            .bind(Bind::BigInt(previous));
        sql.execute_on(conn)?;
    }
    let content = written.version.content.as_deref().map(packed::pack);
    diesel::insert_into(resource_versions::table)
        .values((
            resource_versions::res_type.eq(res_type),
            resource_versions::res_id.eq(res_id),
            resource_versions::version.eq(version),
            resource_versions::last_updated.eq(last_updated),
            resource_versions::method.eq(change.method()),
            resource_versions::deleted.eq(deleting),
            resource_versions::content.eq(None::<Vec<u8>>),
        ))
        .execute(conn)?;
    match head {
        None => {
            diesel::insert_into(resources::table)
                .values((
                    resources::res_type.eq(res_type),
                    resources::res_id.eq(res_id),
                    resources::version.eq(version),
                    resources::last_updated.eq(last_updated),
                    resources::deleted.eq(deleting),
                    resources::content.eq(&content),
                ))
                .execute(conn)?;
        }
        Some((previous, _)) => {
            // The version condition makes a concurrent writer that read the same head lose.
            let moved = diesel::update(
                resources::table
                    .find((res_type, res_id))
                    .filter(resources::version.eq(previous)),
            )
            .set((
                resources::version.eq(version),
                resources::last_updated.eq(last_updated),
                resources::deleted.eq(deleting),
                resources::content.eq(&content),
            ))
            .execute(conn)?;
            if moved != 1 {
                return Err(WriteError::Collision);
            }
        }
    }
    if head.is_some() {
        index::clear(conn, res_type, res_id)?;
    }
    Ok((written, entries))
}
