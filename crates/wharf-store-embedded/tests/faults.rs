//! Fault injection through the disk seam: a failed write or fsync fails that commit, poisons the
//! store for every later write, leaves reads working, and never leaves part of a batch behind.

use std::path::Path;
use wharf_store::conformance::{message, queue_record, stream_record};
use wharf_store::memory::MemoryStore;
use wharf_store::{Mutation, Snapshot, Store, StoreError, StreamRecord};
use wharf_store_embedded::{DiskFault, DiskFaults, EmbeddedOptions, EmbeddedStore};

fn put(queue: u64, seq: u64, body: &str) -> Mutation {
    let (meta, content) = message(seq, body);
    Mutation::PutMessage { queue, meta, content }
}

/// Queue 1 with 30 messages and a setting.
fn base_batch() -> Vec<Mutation> {
    let mut batch = vec![Mutation::PutQueue(queue_record(1, "one"))];
    batch.extend((1..=30).map(|seq| put(1, seq, &format!("base {seq} {}", "b".repeat(900)))));
    batch.push(Mutation::PutSetting { key: "phase".into(), value: b"base".to_vec() });
    batch
}

/// A batch touching every table: new messages, deletes, an update, a purge, a queue, a setting.
fn victim_batch() -> Vec<Mutation> {
    let mut batch: Vec<Mutation> =
        (101..=140).map(|seq| put(1, seq, &format!("victim {seq} {}", "v".repeat(1000)))).collect();
    batch.extend((11..=15).map(|seq| Mutation::DeleteMessage { queue: 1, seq }));
    let (mut meta, _) = message(20, &format!("base 20 {}", "b".repeat(900)));
    meta.receive_count = 9;
    batch.push(Mutation::UpdateMessage { queue: 1, meta });
    batch.push(Mutation::PurgeMessages { queue: 1, up_to_seq: 5 });
    batch.push(Mutation::PutQueue(queue_record(2, "two")));
    batch.push(Mutation::PutSetting { key: "phase".into(), value: b"victim".to_vec() });
    batch
}

fn later_batch() -> Vec<Mutation> {
    vec![put(1, 500, "after the failure"), Mutation::PutSetting { key: "phase".into(), value: b"later".to_vec() }]
}

/// The snapshots the store may legitimately show: without and with the victim batch.
async fn expected_states() -> (Snapshot, Snapshot) {
    let model = MemoryStore::new();
    model.submit(base_batch()).await.expect("model");
    let before = model.load().expect("model");
    model.submit(victim_batch()).await.expect("model");
    (before, model.load().expect("model"))
}

/// Asserts the store shows the state before or after the victim batch, whole, and returns
/// whether it was after.
fn assert_all_or_nothing(store: &EmbeddedStore, before: &Snapshot, after: &Snapshot, context: &str) -> bool {
    let snapshot = store.load().expect("load");
    let applied = if &snapshot == before {
        false
    } else if &snapshot == after {
        true
    } else {
        panic!("{context}: the store shows part of a batch: {:?}", snapshot.settings);
    };
    // Contents agree with the metadata: present exactly when the message is.
    for seq in [1, 12, 20, 30, 101, 140] {
        let listed = snapshot.messages.iter().flat_map(|(_, metas)| metas).any(|meta| meta.seq == seq);
        let content = store.read_content(1, seq).expect("read content");
        assert_eq!(content.is_some(), listed, "{context}: content of seq {seq}");
    }
    applied
}

async fn open_with_base(directory: &Path, faults: &DiskFaults) -> EmbeddedStore {
    let store = EmbeddedStore::open_with_faults(directory, faults.clone()).expect("open");
    store.submit(base_batch()).await.expect("base commit");
    store
}

#[tokio::test]
async fn failed_fsync_fails_the_commit_and_poisons_later_writes() {
    let (before, after) = expected_states().await;
    let directory = tempfile::tempdir().expect("tempdir");
    let faults = DiskFaults::new();
    let store = open_with_base(directory.path(), &faults).await;

    faults.arm(DiskFault::FailSync, 0);
    let result = store.submit(victim_batch()).await;
    assert!(matches!(result, Err(StoreError::Io(_))), "{result:?}");
    assert!(faults.injected() > 0);
    assert!(store.poison_reason().is_some());

    // Every later write is refused without touching the disk.
    let writes = faults.writes();
    for _ in 0..3 {
        assert!(matches!(store.submit(later_batch()).await, Err(StoreError::Poisoned(_))));
    }
    assert!(matches!(store.submit(Vec::new()).await, Err(StoreError::Poisoned(_))));
    assert_eq!(faults.writes(), writes);

    // Reads keep working, and show no part of a batch.
    assert_all_or_nothing(&store, &before, &after, "poisoned store");
    assert_eq!(store.read_content(1, 30).expect("read"), Some(message(30, &format!("base 30 {}", "b".repeat(900))).1));
    assert_eq!(store.read_content(1, 500).expect("read"), None);

    assert!(matches!(store.close(), Err(StoreError::Poisoned(_))));
    drop(store);

    // A fresh process (here: a fresh store on a healthy disk) sees the batch whole or not at all:
    // the fsync failed, so the data may or may not have reached the disk.
    let reopened = EmbeddedStore::open(directory.path()).expect("reopen");
    assert_all_or_nothing(&reopened, &before, &after, "reopened");
    assert_eq!(reopened.read_content(1, 500).expect("read"), None);
    reopened.submit(later_batch()).await.expect("the reopened store writes again");
}

#[tokio::test]
async fn failed_write_fails_the_commit_and_leaves_nothing_behind() {
    let (before, after) = expected_states().await;
    let directory = tempfile::tempdir().expect("tempdir");
    let faults = DiskFaults::new();
    let store = open_with_base(directory.path(), &faults).await;

    faults.arm(DiskFault::FailWrite, 0);
    assert!(matches!(store.submit(victim_batch()).await, Err(StoreError::Io(_))));
    assert!(matches!(store.submit(later_batch()).await, Err(StoreError::Poisoned(_))));
    assert!(!assert_all_or_nothing(&store, &before, &after, "poisoned store"));
    drop(store);

    let reopened = EmbeddedStore::open(directory.path()).expect("reopen");
    // Nothing of the batch reached the file, so recovery must find the state before it.
    assert!(!assert_all_or_nothing(&reopened, &before, &after, "reopened"));
}

/// Fails the n-th write (or fsync, or resize) of one commit, for every n the commit reaches, and
/// checks each time that the batch is all or nothing, before and after reopening, and that a
/// commit reported successful is there after reopening.
#[tokio::test]
async fn every_failure_point_of_a_commit_is_atomic() {
    let (before, after) = expected_states().await;

    // Count how many operations of each kind one commit of the victim batch makes.
    let directory = tempfile::tempdir().expect("tempdir");
    let faults = DiskFaults::new();
    let store = open_with_base(directory.path(), &faults).await;
    let (writes, syncs, resizes) = (faults.writes(), faults.syncs(), faults.resizes());
    store.submit(victim_batch()).await.expect("healthy commit");
    let counts = [
        (DiskFault::FailWrite, faults.writes() - writes),
        (DiskFault::TearWrite, faults.writes() - writes),
        (DiskFault::FailSync, faults.syncs() - syncs),
        (DiskFault::FailResize, faults.resizes() - resizes),
    ];
    drop(store);
    assert!(counts[0].1 > 0 && counts[2].1 > 0, "a commit writes and syncs: {counts:?}");

    for (fault, count) in counts {
        // One past the count: the fault arms but the commit does not reach it, so the failure
        // hits the clean shutdown instead, which must not lose the committed batch.
        for after_operations in 0..=count {
            let context = format!("{fault:?} after {after_operations} of {count}");
            let directory = tempfile::tempdir().expect("tempdir");
            let faults = DiskFaults::new();
            let store = open_with_base(directory.path(), &faults).await;
            faults.arm(fault, after_operations);
            let result = store.submit(victim_batch()).await;
            let applied = assert_all_or_nothing(&store, &before, &after, &context);
            match &result {
                Ok(()) => assert!(applied, "{context}: a successful commit is visible"),
                Err(StoreError::Io(_)) => {
                    assert!(matches!(store.submit(later_batch()).await, Err(StoreError::Poisoned(_))), "{context}");
                }
                Err(other) => panic!("{context}: unexpected {other:?}"),
            }
            drop(store);

            let reopened = EmbeddedStore::open(directory.path()).expect("reopen");
            let applied_after_reopen = assert_all_or_nothing(&reopened, &before, &after, &context);
            if result.is_ok() {
                assert!(applied_after_reopen, "{context}: a successful commit is durable");
            }
            if fault == DiskFault::FailWrite && result.is_err() && after_operations == 0 {
                assert!(!applied_after_reopen, "{context}: nothing was written");
            }
        }
    }
}

#[tokio::test]
async fn a_poisoned_store_stays_poisoned_after_the_disk_heals() {
    let directory = tempfile::tempdir().expect("tempdir");
    let faults = DiskFaults::new();
    let store = open_with_base(directory.path(), &faults).await;
    faults.arm(DiskFault::FailSync, 0);
    assert!(store.submit(victim_batch()).await.is_err());
    // The store cannot know what the failed fsync lost, so a working disk changes nothing.
    faults.heal();
    assert!(matches!(store.submit(later_batch()).await, Err(StoreError::Poisoned(_))));
}

#[tokio::test]
async fn batches_queued_behind_a_failure_are_refused() {
    let directory = tempfile::tempdir().expect("tempdir");
    let faults = DiskFaults::new();
    let store = open_with_base(directory.path(), &faults).await;
    faults.arm(DiskFault::FailWrite, 0);
    // Submitted together: whichever commit group each lands in, none may succeed, and the first
    // failure is an I/O error (the later ones may be I/O errors too, if they shared its group).
    let commits: Vec<_> = (0..20).map(|seq| store.submit(vec![put(3, seq, "queued")])).collect();
    let mut results = Vec::new();
    for commit in commits {
        results.push(commit.await);
    }
    assert!(matches!(results[0], Err(StoreError::Io(_))), "{:?}", results[0]);
    assert!(results.iter().all(|result| matches!(result, Err(StoreError::Io(_) | StoreError::Poisoned(_)))));
    assert!(store.load().expect("load").messages.iter().all(|(queue, _)| *queue != 3));
}

#[tokio::test]
async fn reads_after_poisoning_reach_the_disk_not_only_the_cache() {
    // Without a page cache every read goes to the file, which the failed handle refuses; the
    // store must serve reads from its read-only view instead.
    let (before, after) = expected_states().await;
    let directory = tempfile::tempdir().expect("tempdir");
    let faults = DiskFaults::new();
    let options = EmbeddedOptions { cache_size_bytes: 0, faults: Some(faults.clone()) };
    let store = EmbeddedStore::open_with_options(directory.path(), options).expect("open");
    store.submit(base_batch()).await.expect("base commit");
    faults.arm(DiskFault::FailWrite, 0);
    assert!(store.submit(victim_batch()).await.is_err());
    assert!(!assert_all_or_nothing(&store, &before, &after, "poisoned store without cache"));
}

#[tokio::test]
async fn a_poisoned_store_still_reads_and_searches_shard_logs() {
    // Without a page cache every read reaches the file, which the failed handle refuses: the
    // shard reads must go through the read-only view, as content reads do.
    let directory = tempfile::tempdir().expect("tempdir");
    let faults = DiskFaults::new();
    let options = EmbeddedOptions { cache_size_bytes: 0, faults: Some(faults.clone()) };
    let store = EmbeddedStore::open_with_options(directory.path(), options).expect("open");
    let records: Vec<StreamRecord> =
        (0..500).map(|index| stream_record(index * 3, 1_000 + index / 7, "partition", 1_024)).collect();
    store.submit(vec![Mutation::AppendRecords { log: 4, records: records.clone() }]).await.expect("commit");

    faults.arm(DiskFault::FailSync, 0);
    let more = vec![stream_record(10_000, 2_000, "late", 10)];
    assert!(matches!(
        store.submit(vec![Mutation::AppendRecords { log: 4, records: more }]).await,
        Err(StoreError::Io(_))
    ));
    assert!(matches!(
        store.submit(vec![Mutation::TrimRecords { log: 4, before_position: 100 }]).await,
        Err(StoreError::Poisoned(_))
    ));

    // The failed append may or may not be in the file; everything before it is.
    let read = store.read_records(4, 0, 1_000, usize::MAX).expect("read records");
    assert_eq!(read[..500], records[..]);
    assert!(read.len() <= 501);
    assert_eq!(store.read_records(4, 30, 2, usize::MAX).expect("read records"), records[10..12]);
    assert_eq!(store.find_position_at(4, 1_010).expect("find"), Some(70 * 3));
    assert_eq!(store.find_position_at(4, 0).expect("find"), Some(0));
    let extents = store.load().expect("load").shard_logs;
    assert_eq!(extents.len(), 1);
    assert_eq!(extents[0].first_position, 0);
}
