//! Wharf's protocol-neutral core. It owns queues and their messages, topics, streams: delays, leases (visibility),
//! long-poll waiting, dead-letter redrive, retention and purges, plus the [`Clock`] every
//! deadline is read from.
//!
//! It must not name any protocol (no AWS, AMQP, MQTT or STOMP types or spellings), must read time
//! only through [`Clock`], and touches disk only through [`wharf_store::Store`].
//!
//! Layout: `clock` (time), `settings` (a queue's settings), `queue` (one queue's in-memory index,
//! pure), `engine` (the registry and every operation, deciding what to persist), `error`,
//! `topic`/`topics` (topics, subscriptions and fan-out), `filter_policy`, `move_task`, and
//! `catalog` (small durable entries a front-end keeps for itself), `sharing` (a fan-out's
//! content stored once), `stream`/`streams` (streams, shards and their record logs).

pub mod catalog;
pub mod clock;
pub mod engine;
pub mod error;
pub mod filter_policy;
pub mod move_task;
pub mod queue;
pub mod settings;
mod sharing;
pub mod stream;
mod streams;
pub mod topic;
mod topics;

pub use clock::{Clock, ManualClock, SystemClock};
pub use engine::{
    group_key, Delivery, Engine, EngineOptions, NewMessage, ReceiveRequest, SentMessage, DEDUP_WINDOW_MS,
    LEASE_TOTAL_MS_MAX,
};
pub use error::DomainError;
pub use move_task::{MoveFailure, MoveTask, MoveTaskStatus};
pub use queue::{LeaseRef, Queue, QueueCounts};
pub use settings::{DeadLetterPolicy, QueueName, QueueSettings};
pub use stream::{Shard, Stream, StreamState};
pub use streams::{AppendedRecord, NewRecord, NewStream, ShardRead};
pub use wharf_store::{AttributeRecord as MessageAttribute, AttributeValueRecord as AttributeValue, MessageContent};
pub use wharf_store::{StoreError, StreamRecord};
