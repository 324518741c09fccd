//! Group commit: the queue that `submit` feeds and the one writer thread that drains it.
//!
//! Every submitted batch becomes a [`Job`] appended to one queue. The writer thread takes
//! everything queued at once, applies it in submission order in one write transaction, makes
//! that durable with one commit (redb's one-phase commit with checksums: one fsync, plus one
//! when the file grows), and only then resolves
//! each job's [`CommitSender`]. Batches that arrive while a commit is running wait for the next
//! one, so the number of fsyncs follows the disk's speed, not the request rate.
//!
//! Locks: `queue` and `view` are never held together, and neither is held across disk I/O
//! (`view` is held only to clone or swap an `Arc`), so there is no lock order to keep.

use crate::layout::{self, Operation};
use crate::overlay::ReadOverlayBackend;
use redb::Database;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, RwLock};
use wharf_store::{CommitSender, StoreError};

/// One submitted batch, encoded, and the sender that resolves its `Commit`.
pub(crate) struct Job {
    pub(crate) operations: Vec<Operation>,
    pub(crate) done: CommitSender,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    /// Set by `close`: no new jobs are accepted; the writer drains what is queued and exits.
    closing: bool,
}

/// Counters of the writer's work, for metrics and benchmarks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CommitStats {
    /// Durable write transactions (each one fsync'd commit).
    pub transactions: u64,
    /// Submitted batches those transactions carried.
    pub batches: u64,
    /// Mutations those batches carried.
    pub mutations: u64,
}

#[derive(Default)]
struct Counters {
    transactions: AtomicU64,
    batches: AtomicU64,
    mutations: AtomicU64,
}

/// State shared by the store handle and its writer thread.
pub(crate) struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Why the store refuses writes, set once by the writer thread on the first failure.
    poison: OnceLock<String>,
    /// The database that reads use: the writer's database while healthy, a read-only view of the
    /// file after poisoning.
    view: RwLock<Arc<Database>>,
    database_path: PathBuf,
    cache_size_bytes: usize,
    counters: Counters,
}

impl Shared {
    pub(crate) fn new(database: Arc<Database>, database_path: PathBuf, cache_size_bytes: usize) -> Self {
        Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            poison: OnceLock::new(),
            view: RwLock::new(database),
            database_path,
            cache_size_bytes,
            counters: Counters::default(),
        }
    }

    fn lock_queue(&self) -> MutexGuard<'_, Queue> {
        // Nothing panics while holding the queue lock; if something did, the queue is still a
        // valid list of jobs, and refusing all further writes would be worse.
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn poison_reason(&self) -> Option<&String> {
        self.poison.get()
    }

    /// Queues a job for the next group commit, or hands it back if the store is closing.
    pub(crate) fn enqueue(&self, job: Job) -> Result<(), Job> {
        let mut queue = self.lock_queue();
        if queue.closing {
            return Err(job);
        }
        queue.jobs.push(job);
        drop(queue);
        self.wake.notify_one();
        Ok(())
    }

    /// Stops accepting jobs; the writer finishes what is queued and exits.
    pub(crate) fn begin_close(&self) {
        self.lock_queue().closing = true;
        self.wake.notify_all();
    }

    pub(crate) fn view(&self) -> Arc<Database> {
        self.view.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    pub(crate) fn stats(&self) -> CommitStats {
        CommitStats {
            transactions: self.counters.transactions.load(Ordering::Relaxed),
            batches: self.counters.batches.load(Ordering::Relaxed),
            mutations: self.counters.mutations.load(Ordering::Relaxed),
        }
    }

    /// Waits for work; returns everything queued, or `None` once closing and drained.
    fn next_group(&self) -> Option<Vec<Job>> {
        let mut queue = self.lock_queue();
        loop {
            if !queue.jobs.is_empty() {
                return Some(std::mem::take(&mut queue.jobs));
            }
            if queue.closing {
                return None;
            }
            queue = self.wake.wait(queue).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    fn poisoned_error(&self) -> StoreError {
        StoreError::Poisoned(self.poison.get().cloned().unwrap_or_else(|| "an earlier write failed".to_string()))
    }

    /// Records the failure, then replaces the read view so reads keep working: redb refuses
    /// every disk access of a handle that saw an I/O error, reads included.
    fn poison(&self, reason: &str) {
        if self.poison.set(reason.to_string()).is_err() {
            return;
        }
        tracing::error!(reason, path = %self.database_path.display(), "storage write failed; refusing all further writes");
        let view =
            ReadOverlayBackend::open(&self.database_path).map_err(|error| error.to_string()).and_then(|backend| {
                redb::Builder::new()
                    .set_cache_size(self.cache_size_bytes)
                    .create_with_backend(backend)
                    .map_err(|error| error.to_string())
            });
        match view {
            Ok(view) => {
                let previous = {
                    let mut current = self.view.write().unwrap_or_else(|poisoned| poisoned.into_inner());
                    std::mem::replace(&mut *current, Arc::new(view))
                };
                // Closing the failed handle may take a moment; do it outside the lock.
                drop(previous);
            }
            Err(error) => {
                tracing::error!(%error, "cannot open a read-only view after the failure; reads may fail too");
            }
        }
    }
}

/// The writer thread's body: group commits until the store closes.
pub(crate) fn run(shared: Arc<Shared>, database: Arc<Database>) {
    let _exit = ExitGuard { shared: &shared };
    let mut database = Some(database);
    while let Some(jobs) = shared.next_group() {
        commit_group(&shared, &mut database, jobs);
    }
}

fn commit_group(shared: &Shared, database: &mut Option<Arc<Database>>, jobs: Vec<Job>) {
    let writable = match (shared.poison_reason(), database.as_ref()) {
        (None, Some(writable)) => writable,
        _ => {
            let error = shared.poisoned_error();
            for job in jobs {
                job.done.resolve(Err(error.clone()));
            }
            return;
        }
    };
    match layout::write_group(writable, jobs.iter().flat_map(|job| job.operations.iter())) {
        Ok(()) => {
            let mutations: usize = jobs.iter().map(|job| job.operations.len()).sum();
            shared.counters.transactions.fetch_add(1, Ordering::Relaxed);
            shared.counters.batches.fetch_add(jobs.len() as u64, Ordering::Relaxed);
            shared.counters.mutations.fetch_add(mutations as u64, Ordering::Relaxed);
            for job in jobs {
                job.done.resolve(Ok(()));
            }
        }
        Err(reason) => {
            // Poison before resolving, so a caller that sees this error already finds later
            // submits refused and reads served by the read-only view.
            shared.poison(&reason);
            *database = None;
            for job in jobs {
                job.done.resolve(Err(StoreError::Io(reason.clone())));
            }
        }
    }
}

/// Leaves the queue in a state that cannot hang a caller, however the writer thread ends:
/// closing is set so nothing new is queued, and whatever is still queued is resolved.
struct ExitGuard<'a> {
    shared: &'a Shared,
}

impl Drop for ExitGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.shared.poison.set("the storage writer thread panicked".to_string());
        }
        let orphans = {
            let mut queue = self.shared.lock_queue();
            queue.closing = true;
            std::mem::take(&mut queue.jobs)
        };
        let error = if self.shared.poison.get().is_some() { self.shared.poisoned_error() } else { StoreError::Closed };
        for job in orphans {
            job.done.resolve(Err(error.clone()));
        }
    }
}
