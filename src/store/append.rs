//! Group commit for records the server appends on its own behalf (the audit trail of reads).
//! Request threads hand a record over and wait; one thread writes everything that queued up
//! meanwhile in one transaction and then tells each waiter. Sixteen concurrent readers thus
//! cost one commit instead of sixteen, and a reader never waits for SQLite's single write
//! turn while holding its own connection.

use std::sync::mpsc;

use super::{Change, Db, Rendered, StoreError};

/// [`super::Render`] that another thread may run.
pub type AppendRender = dyn Fn(Option<&str>, i64, i64) -> Result<Rendered, StoreError> + Send;

/// A new resource to store: created with version 1, optionally marked as recorded by an
/// organisation.
pub struct Appended {
    pub res_type: &'static str,
    pub id: String,
    pub render: Box<AppendRender>,
    pub recorded_by: Option<String>,
}

/// A record and where to report whether its commit succeeded.
pub(super) struct Job {
    record: Appended,
    done: mpsc::SyncSender<Result<(), String>>,
}

/// How many records one commit takes at most, so that one transaction stays short.
const MAX_BATCH: usize = 512;

/// Starts the group-commit thread; it ends when the returned sender (the store) is dropped.
pub(super) fn start(db: Db) -> mpsc::Sender<Job> {
    let (sender, receiver) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("pzp-append".into())
        .spawn(move || run(&db, &receiver))
        .expect("the group-commit thread could not be started");
    sender
}

fn run(db: &Db, receiver: &mpsc::Receiver<Job>) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let outcome = db
            .transaction(|tx| {
                for job in &batch {
                    let r = &job.record;
                    tx.write(Change::Create, r.res_type, &r.id, None, &*r.render)?;
                    if let Some(organization) = &r.recorded_by {
                        tx.recorded_by(r.res_type, &r.id, organization)?;
                    }
                }
                Ok::<_, StoreError>(())
            })
            .map_err(|e| e.to_string());
        for job in batch {
            // A waiter that went away has nothing left to be told.
            let _ = job.done.send(outcome.clone());
        }
    }
}

pub(super) fn submit(sender: &mpsc::Sender<Job>, record: Appended) -> Result<(), StoreError> {
    let (done, result) = mpsc::sync_channel(1);
    sender
        .send(Job { record, done })
        .map_err(|_| StoreError::Unavailable("the group-commit thread has stopped".into()))?;
    result
        .recv()
        .map_err(|_| StoreError::Unavailable("the group-commit thread has stopped".into()))?
        .map_err(StoreError::Database)
}
