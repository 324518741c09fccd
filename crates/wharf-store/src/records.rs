//! The records a store persists. They are plain data: the domain converts to and from them.

use crate::{QueueId, ShardLogId, TopicId};
use bytes::Bytes;

/// A queue and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRecord {
    pub id: QueueId,
    pub account: String,
    pub name: String,
    pub created_ms: u64,
    pub modified_ms: u64,
    /// The queue's settings as name/value pairs, encoded by the domain.
    pub attributes: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
}

/// A topic and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRecord {
    pub id: TopicId,
    pub account: String,
    pub name: String,
    pub created_ms: u64,
    /// The topic's settings as name/value pairs, encoded by the domain.
    pub attributes: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
}

/// A subscription of a topic; everything about it is encoded by the domain as name/value pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRecord {
    pub topic: TopicId,
    /// Unique among all subscriptions, never reused.
    pub id: u64,
    pub attributes: Vec<(String, String)>,
}

/// The part of a message the in-memory index needs; small, read at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageMeta {
    /// Position in the queue; strictly increasing per queue.
    pub seq: u64,
    pub message_id: [u8; 16],
    pub sent_ms: u64,
    /// When the message first becomes receivable (sent time plus delay).
    pub available_ms: u64,
    pub receive_count: u32,
    /// 0 until the first receive.
    pub first_receive_ms: u64,
    /// Body plus attribute bytes, as counted against size limits.
    pub size_bytes: u32,
    /// A stable 64-bit digest of the message group id; 0 when the message has no group. The
    /// in-memory index orders and locks groups by it without reading contents at start-up.
    pub group_key: u64,
}

/// Names a deduplication id within its queue: the first 16 bytes of the SHA-256 of the id (of
/// the group id, a NUL and the id when deduplication is per group). Fixed-size, so records cost
/// the same whatever the length of the ids.
pub type DedupKey = [u8; 16];

/// A deduplication id a FIFO queue accepted, kept for the deduplication window so a repeat is
/// answered with the original message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupRecord {
    pub key: DedupKey,
    pub message_id: [u8; 16],
    pub seq: u64,
    /// When the record stops deduplicating.
    pub expires_ms: u64,
}

/// Names a content stored once for several messages (one publication fanned out to several
/// queues): the message id of the first of them.
pub type SharedContentId = [u8; 16];

/// A typed value attached to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeRecord {
    pub name: String,
    pub data_type: String,
    pub value: AttributeValueRecord,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValueRecord {
    Text(String),
    Binary(Bytes),
}

/// The rest of a message, read when it is delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageContent {
    pub body: Bytes,
    pub attributes: Vec<AttributeRecord>,
    pub system_attributes: Vec<AttributeRecord>,
    pub sender_id: String,
    pub group_id: Option<String>,
    pub deduplication_id: Option<String>,
    /// Set when the message was moved here from a dead-letter source queue.
    pub dead_letter_source: Option<String>,
    /// A digest of the body computed by the front-end that accepted the message (SQS: MD5),
    /// kept so delivering the body does not recompute it.
    pub body_digest: Option<[u8; 16]>,
}

/// One record of a shard log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    /// Position in its log; strictly increasing within a log (gaps allowed).
    pub position: u64,
    /// When the record was accepted, ms since the Unix epoch; non-decreasing within a log.
    pub arrival_ms: u64,
    pub partition_key: String,
    pub data: Bytes,
}

/// How far a non-empty shard log reaches, read at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardLogExtent {
    pub log: ShardLogId,
    pub first_position: u64,
    pub last_position: u64,
    /// Arrival time of the last record.
    pub last_arrival_ms: u64,
}

/// One change to stored state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mutation {
    /// Creates or replaces a queue record.
    PutQueue(QueueRecord),
    /// Removes a queue with every message and deduplication record it holds.
    DeleteQueue(QueueId),
    /// Stores a new message.
    PutMessage {
        queue: QueueId,
        meta: MessageMeta,
        content: MessageContent,
    },
    /// Stores content that several messages share, counting the `references` that
    /// [`Mutation::PutSharingMessage`]s make to it. Each message that is deleted (alone, by a
    /// purge or with its queue) releases one; the content is removed with the last.
    PutSharedContent {
        id: SharedContentId,
        content: MessageContent,
        references: u32,
    },
    /// Stores a new message whose content is the shared content `shared`.
    PutSharingMessage {
        queue: QueueId,
        meta: MessageMeta,
        shared: SharedContentId,
    },
    /// Replaces a stored message's metadata (receive count, first receive time).
    UpdateMessage {
        queue: QueueId,
        meta: MessageMeta,
    },
    DeleteMessage {
        queue: QueueId,
        seq: u64,
    },
    /// Removes every message of the queue with `seq <= up_to_seq`.
    PurgeMessages {
        queue: QueueId,
        up_to_seq: u64,
    },
    PutSetting {
        key: String,
        value: Vec<u8>,
    },
    /// Removes a setting; nothing happens if it does not exist.
    DeleteSetting {
        key: String,
    },
    /// Creates or replaces a queue's deduplication record with the same key.
    PutDedup {
        queue: QueueId,
        record: DedupRecord,
    },
    DeleteDedup {
        queue: QueueId,
        key: DedupKey,
    },
    /// Creates or replaces a topic record.
    PutTopic(TopicRecord),
    /// Removes a topic and every subscription it has.
    DeleteTopic(TopicId),
    /// Creates or replaces a subscription.
    PutSubscription(SubscriptionRecord),
    DeleteSubscription {
        topic: TopicId,
        id: u64,
    },
    /// Stores records at the end of a shard log (creating the log if it has none). The domain
    /// guarantees their positions are ascending and above any already stored in that log.
    AppendRecords {
        log: ShardLogId,
        records: Vec<StreamRecord>,
    },
    /// Removes every record of the log with `position < before_position` (retention expiry).
    TrimRecords {
        log: ShardLogId,
        before_position: u64,
    },
    /// Removes every record of the log; nothing happens if it has none.
    DeleteShardLog {
        log: ShardLogId,
    },
}
