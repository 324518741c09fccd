//! Storage for Wharf: the [`Store`] trait every engine implements, the record types it persists,
//! the in-memory engine ([`memory::MemoryStore`], also the reference model) and the conformance
//! suite ([`conformance`]) every engine must pass.
//!
//! A store persists what must survive a restart: queues, messages (metadata apart from content so
//! start-up reads only the small part; one content shared by the messages of a fan-out), FIFO
//! deduplication records, topics with their subscriptions, shard record logs (Kinesis Data
//! Streams; start-up reads only how far each log reaches, never a record) and a few settings. It
//! knows nothing of visibility, leases, iterators or any protocol; the domain keeps the hot index
//! in memory and rebuilds it from [`Snapshot`].
//!
//! Writes are submitted as batches of [`Mutation`]s. A batch is applied atomically and the
//! returned [`Commit`] resolves only once it is durable, so engines are free to gather many
//! batches into one fsync (group commit).

pub mod conformance;
pub mod memory;
mod records;

pub use records::*;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Identifies a queue inside a store; assigned by the domain, never reused.
pub type QueueId = u64;
/// Identifies a topic inside a store; assigned by the domain, never reused.
pub type TopicId = u64;
/// Identifies a shard's record log inside a store; assigned by the domain, never reused.
pub type ShardLogId = u64;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("storage I/O failed: {0}")]
    Io(String),
    #[error("storage refuses writes after an earlier durability failure: {0}")]
    Poisoned(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("storage is shutting down")]
    Closed,
}

/// What a store holds at start-up, without message contents.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub queues: Vec<QueueRecord>,
    /// Every stored message's metadata, grouped by queue, in ascending `seq` order per queue.
    pub messages: Vec<(QueueId, Vec<MessageMeta>)>,
    pub settings: Vec<(String, Vec<u8>)>,
    /// Every stored deduplication record, expired or not, grouped by queue.
    pub dedup: Vec<(QueueId, Vec<DedupRecord>)>,
    /// Topics in ascending id order.
    pub topics: Vec<TopicRecord>,
    /// Subscriptions in ascending (topic, id) order.
    pub subscriptions: Vec<SubscriptionRecord>,
    /// Every shared content still referenced, with its reference count, in ascending id order.
    pub shared_contents: Vec<(SharedContentId, u32)>,
    /// Every non-empty shard log, ascending by log id. Loading reads only each log's first and
    /// last record, never the records in between.
    pub shard_logs: Vec<ShardLogExtent>,
}

/// A durable storage engine.
pub trait Store: Send + Sync + 'static {
    /// Reads everything needed to rebuild the in-memory state.
    fn load(&self) -> Result<Snapshot, StoreError>;

    /// Applies `batch` atomically; the returned [`Commit`] resolves when it is durable.
    /// Batches submitted earlier are applied before batches submitted later.
    fn submit(&self, batch: Vec<Mutation>) -> Commit;

    /// Reads one message's content.
    fn read_content(&self, queue: QueueId, seq: u64) -> Result<Option<MessageContent>, StoreError>;

    /// Reads the records of a shard log with `position >= from_position`, in ascending order: at
    /// most `records_max` of them, stopping before the total of `data.len() +
    /// partition_key.len()` would exceed `bytes_max`. The first record is returned even if it
    /// alone exceeds `bytes_max`, so a large record can always be read; `records_max == 0`
    /// returns nothing.
    fn read_records(
        &self,
        log: ShardLogId,
        from_position: u64,
        records_max: usize,
        bytes_max: usize,
    ) -> Result<Vec<StreamRecord>, StoreError>;

    /// The position of the first record of the log whose `arrival_ms >= arrival_ms`, or `None`
    /// if there is none. Arrival times are non-decreasing within a log, so engines search it in
    /// O(log n) reads instead of scanning it.
    fn find_position_at(&self, log: ShardLogId, arrival_ms: u64) -> Result<Option<u64>, StoreError>;

    /// Makes everything submitted so far durable and stops accepting writes.
    fn close(&self) -> Result<(), StoreError>;
}

/// Resolves once a submitted batch is durable (or failed).
pub struct Commit(CommitInner);

enum CommitInner {
    Ready(Option<Result<(), StoreError>>),
    Pending(tokio::sync::oneshot::Receiver<Result<(), StoreError>>),
}

impl Commit {
    pub fn ready(result: Result<(), StoreError>) -> Self {
        Commit(CommitInner::Ready(Some(result)))
    }

    /// A commit resolved by the engine through the returned sender.
    pub fn pending() -> (CommitSender, Self) {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        (CommitSender(sender), Commit(CommitInner::Pending(receiver)))
    }
}

/// The engine's half of a pending [`Commit`].
pub struct CommitSender(tokio::sync::oneshot::Sender<Result<(), StoreError>>);

impl CommitSender {
    pub fn resolve(self, result: Result<(), StoreError>) {
        // The waiter may have gone away (client disconnected); the write stands regardless.
        let _ = self.0.send(result);
    }
}

impl Future for Commit {
    type Output = Result<(), StoreError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            CommitInner::Ready(result) => Poll::Ready(result.take().unwrap_or(Err(StoreError::Closed))),
            CommitInner::Pending(receiver) => match Pin::new(receiver).poll(cx) {
                Poll::Ready(Ok(result)) => Poll::Ready(result),
                Poll::Ready(Err(_)) => Poll::Ready(Err(StoreError::Closed)),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}
