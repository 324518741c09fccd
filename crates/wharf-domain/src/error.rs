//! Errors of the domain core. Front-ends map each variant to their protocol's own error.

use wharf_store::StoreError;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DomainError {
    #[error("queue does not exist")]
    QueueDoesNotExist,
    #[error("a queue with this name already exists with different settings")]
    QueueAlreadyExists,
    #[error("a queue of this name was deleted too recently to be created again")]
    QueueDeletedRecently,
    #[error("the dead-letter target queue does not exist")]
    DeadLetterTargetMissing,
    #[error("the message is not in flight")]
    MessageNotInFlight,
    #[error("the message does not exist or its lease is no longer current")]
    LeaseNotCurrent,
    #[error("the lease ended and the message may be leased to another receiver (FIFO)")]
    LeaseExpired,
    #[error("the total visibility timeout would exceed {max_seconds} seconds")]
    VisibilityTimeoutTooLong { max_seconds: u64 },
    #[error("the queue has as many leased messages as it may have")]
    TooManyLeased,
    #[error("a message move task is already running for this source queue")]
    MoveTaskRunning,
    #[error("no running message move task has this id")]
    MoveTaskNotFound,
    #[error("a purge of this queue is already in progress")]
    PurgeInProgress,
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("topic does not exist")]
    TopicDoesNotExist,
    #[error("a topic with this name already exists")]
    TopicAlreadyExists,
    #[error("subscription does not exist")]
    SubscriptionDoesNotExist,
    #[error("invalid filter policy: {0}")]
    InvalidFilterPolicy(String),
    #[error("stream does not exist")]
    StreamDoesNotExist,
    #[error("a stream with this name already exists")]
    StreamAlreadyExists,
    #[error("shard does not exist")]
    ShardDoesNotExist,
    #[error("the shard is closed")]
    ShardNotOpen,
    #[error("invalid resharding: {0}")]
    InvalidReshard(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}
