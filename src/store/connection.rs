//! One connection type over PostgreSQL and SQLite, its pool, and the start-up work per backend
//! (migrations, SQLite pragmas).

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::StoreError;

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// A database connection of either backend; queries written once with diesel's DSL run on both.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

impl AnyConnection {
    pub fn backend(&self) -> Backend {
        match self {
            AnyConnection::Postgresql(_) => Backend::Postgres,
            AnyConnection::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// Which database the store runs on, decided by the URL scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "PostgreSQL",
            Backend::Sqlite => "SQLite",
        }
    }
}

/// Splits a database URL into its backend and the string the driver wants.
pub fn parse_url(url: &str) -> Result<(Backend, String), StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok((Backend::Postgres, url.to_string()))
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        Ok((Backend::Sqlite, path.to_string()))
    } else {
        Err(StoreError::Config(format!(
            "database URL must start with postgres:// or sqlite:// (got '{}')",
            url.split("://").next().unwrap_or_default()
        )))
    }
}

/// r2d2 manager that opens the right backend and prepares every new SQLite connection.
#[derive(Debug)]
pub struct Manager {
    backend: Backend,
    target: String,
    /// PostgreSQL's `statement_timeout` on every connection; 0 for none.
    statement_timeout_ms: u64,
}

/// How long a SQLite connection waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 10_000;

/// Page cache per connection. SQLite's default (2 MiB) keeps only the top of the index
/// B-trees; beyond some 100,000 resources every insert then reads pages back from the OS.
const SQLITE_CACHE_KIB: u32 = 32 * 1024;

/// How much of the database file a connection may read through a memory map instead of
/// copying pages with read(2).
const SQLITE_MMAP_BYTES: u64 = 1 << 30;

/// SQLite copies the WAL back into the database file (a checkpoint) in whichever commit
/// crosses this many pages, making that request wait; [`checkpointer`] normally does it first,
/// off the request path, so this is only the backstop should it fall behind.
const SQLITE_CHECKPOINT_BACKSTOP_PAGES: u32 = 20_000;

/// How often the background checkpoint runs.
const SQLITE_CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Starts the thread that checkpoints a SQLite WAL in the background (passive: it never waits
/// for readers or writers); it ends when the returned sender is dropped.
pub fn checkpointer(pool: Pool) -> std::sync::mpsc::Sender<()> {
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let run = move || {
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            stopped.recv_timeout(SQLITE_CHECKPOINT_EVERY)
        {
            let done = pool.get().map_err(|e| e.to_string()).and_then(|mut c| {
                c.batch_execute("PRAGMA wal_checkpoint(PASSIVE);")
                    .map_err(|e| e.to_string())
            });
            if let Err(e) = done {
                tracing::warn!(error = %e, "background WAL checkpoint failed");
            }
        }
    };
    std::thread::Builder::new()
        .name("pzp-checkpoint".into())
        .spawn(run)
        .expect("the checkpoint thread could not be started");
    stop
}

impl ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, r2d2::Error> {
        match self.backend {
            Backend::Postgres => {
                // Searches stay prepared per connection, and PostgreSQL may keep one plan per
                // statement (plan_cache_mode auto): planning a search with its access check
                // took ten times as long as running it. The search SQL is written so that such
                // a plan stays good whatever the values (see `query::filtered`).
                let mut conn =
                    PgConnection::establish(&self.target).map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute(&format!(
                    "SET statement_timeout = {}",
                    self.statement_timeout_ms
                ))
                .map_err(r2d2::Error::QueryError)?;
                Ok(AnyConnection::Postgresql(conn))
            }
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.target)
                    .map_err(r2d2::Error::ConnectionError)?;
                // busy_timeout first, so that the pragmas below wait for a concurrent writer too.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                     PRAGMA wal_autocheckpoint = {SQLITE_CHECKPOINT_BACKSTOP_PAGES}; \
                     PRAGMA cache_size = -{SQLITE_CACHE_KIB}; PRAGMA mmap_size = {SQLITE_MMAP_BYTES};"
                ))
                .map_err(r2d2::Error::QueryError)?;
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        r2d2::R2D2Connection::is_broken(conn)
    }
}

pub type Pool = r2d2::Pool<Manager>;

/// Opens the pool and brings the schema up to date. SQLite gets WAL mode once here, so readers
/// never wait for the writer.
pub fn open_pool(
    url: &str,
    max_size: u32,
    statement_timeout_ms: u64,
) -> Result<(Backend, Pool), StoreError> {
    let (backend, target) = parse_url(url)?;
    if backend == Backend::Sqlite {
        if let Some(dir) = std::path::Path::new(&target).parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Config(format!(
                        "cannot create data directory {}: {e}",
                        dir.display()
                    ))
                })?;
            }
        }
    }
    let manager = Manager {
        backend,
        target,
        statement_timeout_ms,
    };
    let mut first = manager
        .connect()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    match &mut first {
        AnyConnection::Postgresql(c) => {
            c.run_pending_migrations(POSTGRES_MIGRATIONS)
                .map_err(|e| StoreError::Database(format!("migration failed: {e}")))?;
        }
        AnyConnection::Sqlite(c) => {
            c.batch_execute("PRAGMA journal_mode = WAL;")?;
            c.run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(|e| StoreError::Database(format!("migration failed: {e}")))?;
        }
    }
    drop(first);
    let pool = r2d2::Pool::builder()
        .max_size(max_size)
        .connection_timeout(Duration::from_secs(10))
        .build(manager)
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok((backend, pool))
}
