//! Streams without a protocol: ordered appends, reads, restarts, resharding and retention.

use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Arc;
use wharf_domain::{DomainError, Engine, EngineOptions, ManualClock, NewRecord, NewStream};
use wharf_store::memory::MemoryStore;
use wharf_store::Store;

const HOUR_MS: u64 = 3_600_000;

fn new_stream(shard_count: u32) -> NewStream {
    NewStream {
        shard_count,
        on_demand: false,
        retention_ms: 24 * HOUR_MS,
        tags: BTreeMap::new(),
        attributes: BTreeMap::new(),
    }
}

fn record(hash_key: u128, data: &'static str) -> NewRecord {
    NewRecord { partition_key: "p".into(), hash_key, data: Bytes::from_static(data.as_bytes()) }
}

async fn open(store: Arc<MemoryStore>, clock: Arc<ManualClock>) -> Arc<Engine> {
    Engine::open(store, clock, EngineOptions::default()).await.unwrap()
}

#[tokio::test]
async fn records_route_by_hash_key_and_read_back_in_order_after_a_restart() {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let engine = open(store.clone(), clock.clone()).await;
    let stream = engine.create_stream("a", "s", new_stream(2)).await.unwrap();
    assert_eq!(engine.create_stream("a", "s", new_stream(1)).await.unwrap_err(), DomainError::StreamAlreadyExists);
    let placed = engine
        .put_records(&stream, vec![record(0, "one"), record(u128::MAX, "two"), record(1, "three")])
        .await
        .unwrap();
    assert_eq!(placed.iter().map(|p| p.shard_index).collect::<Vec<_>>(), vec![0, 1, 0]);
    assert!(placed[0].position < placed[2].position);

    // A second engine over the same store sees the same stream and continues after its records.
    let reopened = open(store.clone(), clock.clone()).await;
    let stream = reopened.stream("a", "s").expect("the stream survives");
    let from = reopened.trim_horizon(&stream, 0).unwrap();
    let read = reopened.read_shard(&stream, 0, from, 100, 1 << 20).unwrap();
    let data: Vec<_> = read.records.iter().map(|r| r.data.clone()).collect();
    assert_eq!(data, vec![Bytes::from_static(b"one"), Bytes::from_static(b"three")]);
    let later = reopened.put_records(&stream, vec![record(0, "four")]).await.unwrap();
    assert!(later[0].position > placed[2].position, "positions keep rising across restarts");
    let rest = reopened.read_shard(&stream, 0, read.next_position, 100, 1 << 20).unwrap();
    assert_eq!(rest.records.len(), 1);
    assert!(!rest.end_of_closed_shard);
}

#[tokio::test]
async fn splitting_closes_the_parent_which_ends_after_its_records() {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let engine = open(store.clone(), clock.clone()).await;
    let stream = engine.create_stream("a", "s", new_stream(1)).await.unwrap();
    engine.put_records(&stream, vec![record(5, "before")]).await.unwrap();
    engine.split_shard(&stream, 0, 1 << 127).await.unwrap();
    assert_eq!(engine.split_shard(&stream, 0, 1 << 126).await.unwrap_err(), DomainError::ShardNotOpen);
    let placed = engine.put_records(&stream, vec![record(5, "low"), record(u128::MAX, "high")]).await.unwrap();
    assert_eq!(placed.iter().map(|p| p.shard_index).collect::<Vec<_>>(), vec![1, 2]);

    let read = engine.read_shard(&stream, 0, 0, 100, 1 << 20).unwrap();
    assert_eq!(read.records.len(), 1);
    let end = engine.read_shard(&stream, 0, read.next_position, 100, 1 << 20).unwrap();
    assert!(end.end_of_closed_shard, "a drained closed shard says so");

    engine.merge_shards(&stream, 1, 2).await.unwrap();
    let state = stream.lock();
    let child = state.shard(3).unwrap();
    assert_eq!(
        (child.parent, child.adjacent_parent, child.hash_start, child.hash_end),
        (Some(1), Some(2), 0, u128::MAX)
    );
    assert_eq!(state.open_shards().count(), 1);
}

#[tokio::test]
async fn uniform_scaling_reaches_even_ranges_through_splits_and_merges() {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let engine = open(store.clone(), clock.clone()).await;
    let stream = engine.create_stream("a", "s", new_stream(3)).await.unwrap();
    for target in [5, 4, 2, 3, 6] {
        engine.update_shard_count(&stream, target).await.unwrap();
        let state = stream.lock();
        let open: Vec<_> = state.open_shards().map(|shard| (shard.hash_start, shard.hash_end)).collect();
        assert_eq!(open.len(), target as usize);
        let mut sorted = open.clone();
        sorted.sort();
        assert_eq!(sorted, wharf_domain::stream::even_ranges(target), "target {target}");
        for shard in state.shards.iter().filter(|shard| shard.parent.is_some()) {
            // Every child's parents were open when it was made and cover its range.
            let parent = state.shard(shard.parent.unwrap()).unwrap();
            assert!(!parent.is_open());
        }
    }
}

#[tokio::test]
async fn expired_records_are_skipped_at_once_and_removed_by_the_sweep() {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let engine = open(store.clone(), clock.clone()).await;
    let stream = engine.create_stream("a", "s", new_stream(1)).await.unwrap();
    let old = engine.put_records(&stream, vec![record(0, "old")]).await.unwrap();
    clock.advance_ms(2 * HOUR_MS);
    engine.put_records(&stream, vec![record(0, "new")]).await.unwrap();
    clock.advance_ms(23 * HOUR_MS);
    let read = engine.read_shard(&stream, 0, 0, 100, 1 << 20).unwrap();
    assert_eq!(read.records.iter().map(|r| r.data.clone()).collect::<Vec<_>>(), vec![Bytes::from_static(b"new")]);
    engine.sweep();
    let stored = store.read_records(old[0].log, 0, 100, 1 << 20).unwrap();
    assert_eq!(stored.len(), 1, "the expired record is gone from the store");
    assert_eq!(stored[0].data, Bytes::from_static(b"new"));
}

#[tokio::test]
async fn deleting_a_stream_removes_its_records() {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let engine = open(store.clone(), clock.clone()).await;
    let stream = engine.create_stream("a", "s", new_stream(1)).await.unwrap();
    let placed = engine.put_records(&stream, vec![record(0, "x")]).await.unwrap();
    engine.delete_stream(&stream).await.unwrap();
    assert!(engine.stream("a", "s").is_none());
    assert_eq!(engine.put_records(&stream, vec![record(0, "y")]).await.unwrap_err(), DomainError::StreamDoesNotExist);
    assert!(store.read_records(placed[0].log, 0, 10, 1 << 20).unwrap().is_empty());
    let reopened = open(store, clock).await;
    assert!(reopened.stream("a", "s").is_none());
}

#[tokio::test]
async fn on_demand_streams_split_a_hot_shard_and_provisioned_ones_do_not() {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let engine = open(store.clone(), clock.clone()).await;
    let auto = engine.create_stream("a", "auto", NewStream { on_demand: true, ..new_stream(1) }).await.unwrap();
    let fixed = engine.create_stream("a", "fixed", new_stream(1)).await.unwrap();
    let hot: Vec<NewRecord> = (0..1_500).map(|_| record(7, "x")).collect();
    engine.put_records(&auto, hot.clone()).await.unwrap();
    engine.put_records(&fixed, hot).await.unwrap();
    clock.advance_ms(1_000);
    engine.sweep();
    {
        let state = auto.lock();
        let open: Vec<_> = state.open_shards().map(|shard| (shard.parent, shard.hash_start, shard.hash_end)).collect();
        assert_eq!(open.len(), 2, "the hot shard was split");
        assert_eq!(open[0], (Some(0), 0, u128::MAX / 2));
        assert_eq!(open[1], (Some(0), u128::MAX / 2 + 1, u128::MAX));
    }
    assert_eq!(fixed.lock().open_shards().count(), 1);

    // A quiet second later nothing more is split, and the split survives a restart.
    clock.advance_ms(1_000);
    engine.sweep();
    assert_eq!(auto.lock().open_shards().count(), 2);
    let reopened = open(store, clock).await;
    assert_eq!(reopened.stream("a", "auto").unwrap().lock().open_shards().count(), 2);
}

/// A memory store whose commits resolve only when the test releases them, like a disk that is
/// still fsyncing.
struct SlowCommits {
    inner: MemoryStore,
    /// Commits are held only once this is set.
    holding: std::sync::atomic::AtomicBool,
    held: std::sync::Mutex<Vec<wharf_store::CommitSender>>,
}

impl SlowCommits {
    fn release(&self) {
        for sender in self.held.lock().unwrap().drain(..) {
            sender.resolve(Ok(()));
        }
    }
}

impl Store for SlowCommits {
    fn load(&self) -> Result<wharf_store::Snapshot, wharf_store::StoreError> {
        self.inner.load()
    }
    fn submit(&self, batch: Vec<wharf_store::Mutation>) -> wharf_store::Commit {
        let applied = self.inner.submit(batch);
        if !self.holding.load(std::sync::atomic::Ordering::SeqCst) {
            return applied;
        }
        drop(applied);
        let (sender, commit) = wharf_store::Commit::pending();
        self.held.lock().unwrap().push(sender);
        commit
    }
    fn read_content(
        &self,
        queue: u64,
        seq: u64,
    ) -> Result<Option<wharf_store::MessageContent>, wharf_store::StoreError> {
        self.inner.read_content(queue, seq)
    }
    fn read_records(
        &self,
        log: u64,
        from_position: u64,
        records_max: usize,
        bytes_max: usize,
    ) -> Result<Vec<wharf_store::StreamRecord>, wharf_store::StoreError> {
        self.inner.read_records(log, from_position, records_max, bytes_max)
    }
    fn find_position_at(&self, log: u64, arrival_ms: u64) -> Result<Option<u64>, wharf_store::StoreError> {
        self.inner.find_position_at(log, arrival_ms)
    }
    fn close(&self) -> Result<(), wharf_store::StoreError> {
        self.inner.close()
    }
}

#[tokio::test]
async fn records_become_readable_even_when_the_append_request_is_dropped_while_waiting() {
    let store = Arc::new(SlowCommits {
        inner: MemoryStore::new(),
        holding: std::sync::atomic::AtomicBool::new(false),
        held: std::sync::Mutex::new(Vec::new()),
    });
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let engine = Engine::open(store.clone(), clock, EngineOptions::default()).await.unwrap();
    store.holding.store(true, std::sync::atomic::Ordering::SeqCst);
    let creating = engine.create_stream("a", "s", new_stream(1));
    tokio::pin!(creating);
    assert!(futures_poll_once(creating.as_mut()).await.is_none(), "create waits for its commit");
    store.release();
    let stream = creating.await.unwrap();

    // The client goes away while the append waits for the disk: its request future is dropped.
    let appending = engine.put_records(&stream, vec![record(0, "kept")]);
    assert!(futures_poll_once(appending).await.is_none(), "the append waits for its commit");
    store.release();
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    let read = engine.read_shard(&stream, 0, 0, 100, 1 << 20).unwrap();
    let data: Vec<&[u8]> = read.records.iter().map(|record| record.data.as_ref()).collect();
    assert_eq!(data, [b"kept".as_slice()], "a durable record is readable without another append");
}

/// Polls `future` once: its output if it was ready, `None` (and the future dropped) if not.
async fn futures_poll_once<F: std::future::Future>(future: F) -> Option<F::Output> {
    tokio::time::timeout(std::time::Duration::ZERO, future).await.ok()
}
