//! The disk seam: a redb [`StorageBackend`] that passes every call to the real file backend
//! unless a test has armed a fault through a [`DiskFaults`] handle.
//!
//! Faults are sticky, like a disk that has gone bad: once an armed fault fires, every later
//! operation of that kind fails too until [`DiskFaults::heal`]. That is the realistic case the
//! store must survive, and it keeps redb from writing a commit header after a failed page write.

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};
use std::io;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

/// A fault that [`DiskFaults::arm`] can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskFault {
    /// A write fails having written nothing.
    FailWrite,
    /// A write stores the first half of its data, then fails (a torn write).
    TearWrite,
    /// An fsync fails; what it was flushing may or may not be on the disk.
    FailSync,
    /// Growing or shrinking the file fails.
    FailResize,
}

/// Shared control over the faults of one store's disk; clones control the same disk.
#[derive(Debug, Clone, Default)]
pub struct DiskFaults {
    plan: Arc<Mutex<FaultPlan>>,
}

#[derive(Debug, Default)]
struct FaultPlan {
    write: Option<Armed>,
    sync: Option<Armed>,
    resize: Option<Armed>,
    writes: u64,
    syncs: u64,
    resizes: u64,
    injected: u64,
}

#[derive(Debug, Clone, Copy)]
struct Armed {
    fault: DiskFault,
    /// Matching operations still allowed to succeed before the fault fires.
    remaining: u64,
}

/// What the backend must do for one operation.
enum Verdict {
    Proceed,
    Fail(DiskFault),
}

impl DiskFaults {
    pub fn new() -> Self {
        Self::default()
    }

    /// Arms `fault`: the next `after` operations of its kind (writes, fsyncs or resizes) succeed,
    /// then that one and every later one fails until [`Self::heal`]. Re-arming a kind replaces
    /// the fault armed for it.
    pub fn arm(&self, fault: DiskFault, after: u64) {
        let mut plan = self.lock();
        let armed = Some(Armed { fault, remaining: after });
        match fault {
            DiskFault::FailWrite | DiskFault::TearWrite => plan.write = armed,
            DiskFault::FailSync => plan.sync = armed,
            DiskFault::FailResize => plan.resize = armed,
        }
    }

    /// Disarms every fault: the disk works again.
    pub fn heal(&self) {
        let mut plan = self.lock();
        plan.write = None;
        plan.sync = None;
        plan.resize = None;
    }

    /// Writes the store has attempted so far, including failed ones.
    pub fn writes(&self) -> u64 {
        self.lock().writes
    }

    /// Fsyncs the store has attempted so far, including failed ones.
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }

    /// File resizes the store has attempted so far, including failed ones.
    pub fn resizes(&self) -> u64 {
        self.lock().resizes
    }

    /// Operations that failed because of an armed fault.
    pub fn injected(&self) -> u64 {
        self.lock().injected
    }

    fn lock(&self) -> MutexGuard<'_, FaultPlan> {
        // The plan is plain counters; a panic elsewhere cannot leave it inconsistent.
        self.plan.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn judge(&self, select: fn(&mut FaultPlan) -> (&mut Option<Armed>, &mut u64)) -> Verdict {
        let mut plan = self.lock();
        let (armed, attempts) = select(&mut plan);
        *attempts += 1;
        let verdict = match armed {
            Some(Armed { remaining: 0, fault }) => Verdict::Fail(*fault),
            Some(Armed { remaining, .. }) => {
                *remaining -= 1;
                Verdict::Proceed
            }
            None => Verdict::Proceed,
        };
        if matches!(verdict, Verdict::Fail(_)) {
            plan.injected += 1;
        }
        verdict
    }
}

fn injected(fault: DiskFault) -> io::Error {
    io::Error::other(format!("injected disk fault: {fault:?}"))
}

/// The real file backend behind a [`DiskFaults`] switchboard.
#[derive(Debug)]
pub(crate) struct FaultyBackend {
    inner: FileBackend,
    faults: DiskFaults,
}

impl FaultyBackend {
    pub(crate) fn new(inner: FileBackend, faults: DiskFaults) -> Self {
        FaultyBackend { inner, faults }
    }
}

impl StorageBackend for FaultyBackend {
    fn len(&self) -> Result<u64, io::Error> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        match self.faults.judge(|plan| (&mut plan.resize, &mut plan.resizes)) {
            Verdict::Proceed => self.inner.set_len(len),
            Verdict::Fail(fault) => Err(injected(fault)),
        }
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        match self.faults.judge(|plan| (&mut plan.sync, &mut plan.syncs)) {
            Verdict::Proceed => self.inner.sync_data(),
            Verdict::Fail(fault) => Err(injected(fault)),
        }
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        match self.faults.judge(|plan| (&mut plan.write, &mut plan.writes)) {
            Verdict::Proceed => self.inner.write(offset, data),
            Verdict::Fail(DiskFault::TearWrite) => {
                let (head, _) = data.split_at(data.len() / 2);
                self.inner.write(offset, head)?;
                Err(injected(DiskFault::TearWrite))
            }
            Verdict::Fail(fault) => Err(injected(fault)),
        }
    }

    fn close(&self) -> Result<(), io::Error> {
        self.inner.close()
    }

    // Locks are the file backend's: the seam must not weaken the protection against a second
    // process opening the same database.
    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}
