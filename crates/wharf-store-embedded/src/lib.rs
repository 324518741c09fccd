//! Wharf's durable default storage engine: [`EmbeddedStore`] implements [`wharf_store::Store`]
//! on one [redb](https://docs.rs/redb) database file in a data directory.
//!
//! It owns the data directory's files, the on-disk format of every record, the group commit that
//! turns many concurrent batches into one fsync, and the refusal to write after a failure.
//! It must not know queue semantics (visibility, leases, FIFO groups; the domain rebuilds those
//! from [`wharf_store::Snapshot`]), must not hand-write a B-tree, log or WAL (redb does the
//! crash-safe part), must not read message bodies at start-up (nor shard records other than the
//! first and last of each log), and must not write again after a failed write or fsync. The
//! format, the commit protocol and what it assumes about the disk are in `docs/storage.md`; why
//! redb is in `docs/decisions/0001-embedded-store.md`.
//!
//! Layout:
//! - `lib.rs`: opening (data directory, lock file), the [`Store`] implementation.
//! - `writer`: the submit queue and the writer thread (group commit, poisoning).
//! - `layout`: the tables, applying a group of mutations, loading, reading content and shard
//!   records.
//! - `codec`: the binary formats of keys and values.
//! - `faults`: the disk seam, a redb `StorageBackend` that injects faults ([`DiskFaults`]).
//! - `overlay`: the read-only view of the file a poisoned store keeps reading from.
//!
//! Data directory: `wharf.lock` (advisory lock held while open, holding the owner's pid),
//! `wharf.redb` (the database), and briefly `wharf.probe` while a poisoned store checks whether
//! the disk takes writes again.

mod codec;
mod faults;
mod layout;
mod overlay;
mod writer;

pub use codec::{MESSAGE_META_BYTES, VALUE_FORMAT_V1};
pub use faults::{DiskFault, DiskFaults};
pub use layout::{LAYOUT_VERSION, RECORD_BYTES_MAX};
pub use writer::CommitStats;

use faults::FaultyBackend;
use redb::backends::FileBackend;
use redb::StorageBackend as _;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use wharf_store::{Commit, MessageContent, Mutation, QueueId, ShardLogId, Snapshot, Store, StoreError, StreamRecord};
use writer::{Job, Shared};

/// The database file inside the data directory.
pub const DATABASE_FILE_NAME: &str = "wharf.redb";
/// The lock file inside the data directory.
pub const LOCK_FILE_NAME: &str = "wharf.lock";
/// The file [`EmbeddedStore::disk_accepts_writes`] writes and removes.
pub const PROBE_FILE_NAME: &str = "wharf.probe";
/// How much that probe writes: more than a typical group commit adds to the file, so a disk
/// with room for the probe likely has room for the next commits too.
pub const PROBE_BYTES: usize = 1024 * 1024;

/// How to open an [`EmbeddedStore`].
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// Memory redb may use to cache pages of the file (message bodies are read through it too).
    pub cache_size_bytes: usize,
    /// When set, the store reaches the disk through the fault-injecting seam these control.
    pub faults: Option<DiskFaults>,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions { cache_size_bytes: 256 * 1024 * 1024, faults: None }
    }
}

/// The durable engine. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct EmbeddedStore {
    // Field order matters: `shared` (and with it the database) must close before the lock file
    // is released, or another process could open the database while it is still open here.
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
    directory: PathBuf,
    faults: Option<DiskFaults>,
    _lock: DirectoryLock,
}

impl EmbeddedStore {
    /// Opens (creating if missing) the store in `directory`.
    pub fn open(directory: &Path) -> Result<EmbeddedStore, StoreError> {
        Self::open_with_options(directory, EmbeddedOptions::default())
    }

    /// Opens the store with its disk behind the fault-injecting seam that `faults` controls.
    pub fn open_with_faults(directory: &Path, faults: DiskFaults) -> Result<EmbeddedStore, StoreError> {
        Self::open_with_options(directory, EmbeddedOptions { faults: Some(faults), ..EmbeddedOptions::default() })
    }

    /// Opens the store with explicit options; see [`EmbeddedOptions`].
    pub fn open_with_options(directory: &Path, options: EmbeddedOptions) -> Result<EmbeddedStore, StoreError> {
        prepare_directory(directory)?;
        let lock = DirectoryLock::acquire(directory)?;
        let database_path = directory.join(DATABASE_FILE_NAME);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&database_path)
            .map_err(|error| StoreError::Io(format!("cannot open {}: {error}", database_path.display())))?;
        let backend = FileBackend::new(file).map_err(|error| open_error(&database_path, error))?;
        let mut builder = redb::Builder::new();
        builder.set_cache_size(options.cache_size_bytes);
        let database = match options.faults.clone() {
            Some(faults) => builder.create_with_backend(FaultyBackend::new(backend, faults)),
            None => builder.create_with_backend(backend),
        }
        .map_err(|error| open_error(&database_path, error))?;
        layout::initialize(&database)?;
        // Commits fsync the file's contents; the directory entry naming a new file needs its own
        // fsync, or a crash could lose the whole file. Once per open is cheap enough to not track
        // whether this open created it.
        sync_directory(directory)?;

        let database = Arc::new(database);
        let shared = Arc::new(Shared::new(database.clone(), database_path, options.cache_size_bytes));
        let writer_shared = shared.clone();
        let writer = std::thread::Builder::new()
            .name("wharf-store-writer".to_string())
            .spawn(move || writer::run(writer_shared, database))
            .map_err(|error| StoreError::Io(format!("cannot start the storage writer thread: {error}")))?;
        tracing::info!(directory = %directory.display(), "opened embedded store");
        Ok(EmbeddedStore {
            shared,
            writer: Mutex::new(Some(writer)),
            directory: directory.to_path_buf(),
            faults: options.faults,
            _lock: lock,
        })
    }

    /// The data directory this store was opened on.
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// Why the store refuses writes, if it does.
    pub fn poison_reason(&self) -> Option<String> {
        self.shared.poison_reason().cloned()
    }

    /// Whether the data directory's disk takes writes again: writes [`PROBE_BYTES`] to
    /// [`PROBE_FILE_NAME`], fsyncs them and removes the file. A poisoned store never writes
    /// again; this is how its owner learns that reopening the directory can succeed (a full disk
    /// has room again). Blocking; goes through the fault seam when the store has one.
    pub fn disk_accepts_writes(&self) -> bool {
        let path = self.directory.join(PROBE_FILE_NAME);
        let data = vec![0u8; PROBE_BYTES];
        let written =
            OpenOptions::new().write(true).create(true).truncate(true).open(&path).and_then(|file| {
                match &self.faults {
                    Some(faults) => {
                        let backend = FileBackend::new(file).map_err(std::io::Error::other)?;
                        let backend = FaultyBackend::new(backend, faults.clone());
                        backend.write(0, &data).and_then(|()| backend.sync_data())
                    }
                    None => {
                        let mut file = file;
                        file.write_all(&data).and_then(|()| file.sync_data())
                    }
                }
            });
        let removed = std::fs::remove_file(&path);
        match (written, removed) {
            (Ok(()), Ok(())) => true,
            (written, removed) => {
                tracing::debug!(?written, ?removed, path = %path.display(), "the disk still refuses writes");
                false
            }
        }
    }

    /// What the writer has committed so far.
    pub fn stats(&self) -> CommitStats {
        self.shared.stats()
    }

    /// Runs a read against the current view; if that fails because the store was poisoned while
    /// it ran (the failed handle refuses reads), runs it once more against the new view.
    fn read<T>(&self, read: impl Fn(&redb::Database) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let database = self.shared.view();
        match read(&database) {
            Err(error) => {
                let latest = self.shared.view();
                if Arc::ptr_eq(&database, &latest) {
                    Err(error)
                } else {
                    read(&latest)
                }
            }
            ok => ok,
        }
    }

    fn stop_writer(&self) -> Result<(), StoreError> {
        self.shared.begin_close();
        let handle = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        match handle.map(JoinHandle::join) {
            Some(Err(_)) => Err(StoreError::Io("the storage writer thread panicked".to_string())),
            _ => Ok(()),
        }
    }
}

impl Store for EmbeddedStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        self.read(layout::load)
    }

    fn submit(&self, batch: Vec<Mutation>) -> Commit {
        if let Some(reason) = self.shared.poison_reason() {
            return Commit::ready(Err(StoreError::Poisoned(reason.clone())));
        }
        let operations = match layout::prepare(batch) {
            Ok(operations) => operations,
            Err(error) => return Commit::ready(Err(error)),
        };
        let (done, commit) = Commit::pending();
        match self.shared.enqueue(Job { operations, done }) {
            Ok(()) => commit,
            Err(job) => {
                job.done.resolve(Err(StoreError::Closed));
                commit
            }
        }
    }

    fn read_content(&self, queue: QueueId, seq: u64) -> Result<Option<MessageContent>, StoreError> {
        self.read(|database| layout::read_content(database, queue, seq))
    }

    fn read_records(
        &self,
        log: ShardLogId,
        from_position: u64,
        records_max: usize,
        bytes_max: usize,
    ) -> Result<Vec<StreamRecord>, StoreError> {
        self.read(|database| layout::read_records(database, log, from_position, records_max, bytes_max))
    }

    fn find_position_at(&self, log: ShardLogId, arrival_ms: u64) -> Result<Option<u64>, StoreError> {
        self.read(|database| layout::find_position_at(database, log, arrival_ms))
    }

    /// Waits until everything submitted before is committed (or failed), then stops the writer.
    /// Reads keep working until the store is dropped, which closes the file.
    fn close(&self) -> Result<(), StoreError> {
        self.stop_writer()?;
        match self.shared.poison_reason() {
            Some(reason) => Err(StoreError::Poisoned(reason.clone())),
            None => Ok(()),
        }
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        // Pending batches still commit; the database closes when `shared` drops after this.
        if let Err(error) = self.stop_writer() {
            tracing::error!(%error, "closing the embedded store");
        }
    }
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("directory", &self.directory)
            .field("poisoned", &self.shared.poison_reason())
            .finish_non_exhaustive()
    }
}

fn open_error(path: &Path, error: redb::DatabaseError) -> StoreError {
    match error {
        redb::DatabaseError::DatabaseAlreadyOpen | redb::DatabaseError::LockProtocolMismatch => StoreError::Io(
            format!("{} is already open in another process (or another store in this one)", path.display()),
        ),
        other => layout::storage_error(&format!("cannot open {}", path.display()), other),
    }
}

/// Creates the data directory if missing and checks that it is one.
fn prepare_directory(directory: &Path) -> Result<(), StoreError> {
    match std::fs::metadata(directory) {
        Ok(metadata) if metadata.is_dir() => Ok(()),
        Ok(_) => Err(StoreError::Io(format!("data directory {} exists but is not a directory", directory.display()))),
        Err(error) if error.kind() == ErrorKind::NotFound => std::fs::create_dir_all(directory)
            .map_err(|error| StoreError::Io(format!("cannot create data directory {}: {error}", directory.display()))),
        Err(error) => Err(StoreError::Io(format!("cannot use data directory {}: {error}", directory.display()))),
    }
}

fn sync_directory(directory: &Path) -> Result<(), StoreError> {
    File::open(directory)
        .and_then(|handle| handle.sync_all())
        .map_err(|error| StoreError::Io(format!("cannot fsync data directory {}: {error}", directory.display())))
}

/// An exclusive advisory lock (flock) on `wharf.lock`, held for the store's lifetime so that a
/// second process, or a second store in this process, fails at open instead of sharing the file.
/// The kernel releases it when the process dies, so a crash never leaves a stale lock.
#[derive(Debug)]
struct DirectoryLock {
    _file: File,
}

impl DirectoryLock {
    fn acquire(directory: &Path) -> Result<Self, StoreError> {
        let path = directory.join(LOCK_FILE_NAME);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|error| StoreError::Io(format!("cannot open lock file {}: {error}", path.display())))?;
        // Fully qualified: std's `File::try_lock` would otherwise shadow the trait method.
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => {}
            Err(fs4::TryLockError::WouldBlock) => {
                let mut owner = String::new();
                let _ = file.read_to_string(&mut owner);
                let owner = owner.trim();
                let owner = if owner.is_empty() { String::new() } else { format!(" (pid {owner})") };
                return Err(StoreError::Io(format!(
                    "data directory {} is already in use by another Wharf process{owner}: {} is locked",
                    directory.display(),
                    path.display()
                )));
            }
            Err(fs4::TryLockError::Error(error)) => {
                return Err(StoreError::Io(format!("cannot lock {}: {error}", path.display())));
            }
        }
        // The pid is only a hint for the error above; failing to write it is not worth failing over.
        let pid = std::process::id().to_string();
        let _ =
            file.set_len(0).and_then(|()| file.seek(SeekFrom::Start(0))).and_then(|_| file.write_all(pid.as_bytes()));
        Ok(DirectoryLock { _file: file })
    }
}
