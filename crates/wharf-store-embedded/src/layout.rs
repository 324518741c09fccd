//! The tables in the database file and every operation on them: turning mutations into encoded
//! operations, applying a group of them in one write transaction, and reading a snapshot, one
//! message's content or a run of shard records in a read transaction.

use crate::codec;
use redb::{
    Database, Durability, ReadOnlyTable, ReadableDatabase, ReadableTable, Table, TableDefinition, TableError,
    TableHandle, WriteTransaction,
};
use wharf_store::{
    MessageContent, MessageMeta, Mutation, QueueId, ShardLogExtent, ShardLogId, SharedContentId, Snapshot, StoreError,
    StreamRecord, TopicId,
};

/// Facts about the file itself; today only the layout version.
const STORE_INFO: TableDefinition<&str, &[u8]> = TableDefinition::new("wharf_store_info");
/// Queue records by big-endian queue id.
const QUEUES: TableDefinition<&[u8; 8], &[u8]> = TableDefinition::new("queues");
/// Message metadata by (queue id, seq), big-endian; small, read in full at start-up.
const MESSAGE_META: TableDefinition<&[u8; 16], &[u8]> = TableDefinition::new("message_meta");
/// Message bodies and attributes by the same key; read one at a time, on delivery. A message
/// that shares its content has no row here: its metadata (format 3) names a [`SHARED_CONTENT`]
/// entry.
const MESSAGE_CONTENT: TableDefinition<&[u8; 16], &[u8]> = TableDefinition::new("message_content");
/// Contents several messages share (one publication fanned out to several queues), by id.
const SHARED_CONTENT: TableDefinition<&[u8; 16], &[u8]> = TableDefinition::new("shared_content");
/// How many messages still refer to each shared content; small, read at start-up.
const SHARED_REFERENCES: TableDefinition<&[u8; 16], &[u8]> = TableDefinition::new("shared_references");
/// FIFO deduplication records by (queue id, 16-byte deduplication key).
const DEDUP: TableDefinition<&[u8; 24], &[u8]> = TableDefinition::new("dedup");
/// Topic records by big-endian topic id.
const TOPICS: TableDefinition<&[u8; 8], &[u8]> = TableDefinition::new("topics");
/// Subscriptions by (topic id, subscription id), big-endian.
const SUBSCRIPTIONS: TableDefinition<&[u8; 16], &[u8]> = TableDefinition::new("subscriptions");
/// Domain settings by name.
const SETTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("settings");
/// Shard record logs (Kinesis Data Streams) by (log id, position), big-endian: one log is one
/// contiguous key range. Start-up reads only the first and last entry of each log.
/// Layout 3 kept every shard log in this one table; layout 4 moves each log into a table of its
/// own (`shard_records/<log>`). Only the upgrade reads it.
const LEGACY_SHARD_RECORDS: TableDefinition<&[u8; 16], &[u8]> = TableDefinition::new("shard_records");
/// The prefix of a shard log's table name; the log id follows in 20 digits.
const SHARD_LOG_TABLE_PREFIX: &str = "shard_records/";

/// The name of the table holding one shard log's records, keyed by (log id, position). Each
/// log has a table of its own so every append lands at the right edge of its B-tree, where redb
/// fills pages completely; logs sharing one tree made all but the last one's appends split
/// leaves in half, and wrote about 40 % more to disk per record over four shards.
fn shard_log_table(log: ShardLogId) -> String {
    format!("{SHARD_LOG_TABLE_PREFIX}{log:020}")
}

fn shard_log_definition(name: &str) -> TableDefinition<'_, &'static [u8; 16], &'static [u8]> {
    TableDefinition::new(name)
}

/// One shard log's table, open in a write transaction.
type ShardLogTable<'txn> = Table<'txn, &'static [u8; 16], &'static [u8]>;

const LAYOUT_VERSION_KEY: &str = "layout_version";
/// Which tables exist and how their keys are built. Values carry their own format byte.
/// Version 2 added shared contents, version 3 shard record logs; a version 1 or 2 file is
/// upgraded in place on open (it only lacks the newer tables, which the upgrade creates).
pub const LAYOUT_VERSION: u8 = 4;
const UPGRADABLE_LAYOUT_VERSIONS: [u8; 3] = [1, 2, 3];

/// The largest encoded record the store accepts. The domain's own limits are far smaller
/// (messages are at most 1 MiB); this guard exists so one oversized record is refused on its own
/// instead of failing, and so poisoning, the group commit it would have joined.
pub const RECORD_BYTES_MAX: usize = 64 * 1024 * 1024;

/// A mutation with its keys and values already encoded, so encoding runs on the submitting
/// thread and the writer thread only copies bytes into the tree.
#[derive(Debug)]
pub(crate) enum Operation {
    PutQueue { key: [u8; 8], value: Vec<u8> },
    DeleteQueue { queue: QueueId },
    PutMessage { key: [u8; 16], meta: [u8; codec::MESSAGE_META_BYTES], content: Vec<u8> },
    PutSharedContent { id: SharedContentId, content: Vec<u8>, references: u32 },
    PutSharingMessage { key: [u8; 16], meta: [u8; codec::SHARING_META_BYTES] },
    UpdateMessage { key: [u8; 16], meta: [u8; codec::MESSAGE_META_BYTES] },
    DeleteMessage { key: [u8; 16] },
    PurgeMessages { queue: QueueId, up_to_seq: u64 },
    PutSetting { key: String, value: Vec<u8> },
    DeleteSetting { key: String },
    PutDedup { key: [u8; 24], value: [u8; codec::DEDUP_VALUE_BYTES] },
    DeleteDedup { key: [u8; 24] },
    PutTopic { key: [u8; 8], value: Vec<u8> },
    DeleteTopic { topic: TopicId },
    PutSubscription { key: [u8; 16], value: Vec<u8> },
    DeleteSubscription { key: [u8; 16] },
    // Records encoded back to back into `values`; each entry of `ends` is a record's position and
    // where its value ends in `values` (it starts where the previous one ended).
    AppendRecords { log: ShardLogId, values: Vec<u8>, ends: Vec<(u64, usize)> },
    TrimRecords { log: ShardLogId, before_position: u64 },
    DeleteShardLog { log: ShardLogId },
}

/// Converts a redb error into the store's error, keeping corruption distinct from I/O failure.
pub(crate) fn storage_error(context: &str, error: impl Into<redb::Error>) -> StoreError {
    match error.into() {
        redb::Error::Corrupted(detail) => StoreError::Corrupt(format!("{context}: {detail}")),
        other => StoreError::Io(format!("{context}: {other}")),
    }
}

fn check_record_size(what: &str, bytes: usize) -> Result<(), StoreError> {
    if bytes > RECORD_BYTES_MAX {
        return Err(StoreError::Io(format!(
            "{what} of {bytes} bytes exceeds the store's record limit of {RECORD_BYTES_MAX} bytes"
        )));
    }
    Ok(())
}

/// Encodes a batch; refuses it whole if any record is too large.
pub(crate) fn prepare(batch: Vec<Mutation>) -> Result<Vec<Operation>, StoreError> {
    let mut operations = Vec::with_capacity(batch.len());
    for mutation in batch {
        let operation = match mutation {
            Mutation::PutQueue(record) => {
                let value = codec::encode_queue(&record);
                check_record_size("queue record", value.len())?;
                Operation::PutQueue { key: codec::queue_key(record.id), value }
            }
            Mutation::DeleteQueue(queue) => Operation::DeleteQueue { queue },
            Mutation::PutMessage { queue, meta, content } => {
                let content = codec::encode_message_content(&content);
                check_record_size("message content", content.len())?;
                Operation::PutMessage {
                    key: codec::message_key(queue, meta.seq),
                    meta: codec::encode_message_meta(&meta),
                    content,
                }
            }
            Mutation::PutSharedContent { id, content, references } => {
                let content = codec::encode_message_content(&content);
                check_record_size("shared message content", content.len())?;
                Operation::PutSharedContent { id, content, references }
            }
            Mutation::PutSharingMessage { queue, meta, shared } => Operation::PutSharingMessage {
                key: codec::message_key(queue, meta.seq),
                meta: codec::encode_sharing_meta(&codec::encode_message_meta(&meta), &shared),
            },
            Mutation::UpdateMessage { queue, meta } => Operation::UpdateMessage {
                key: codec::message_key(queue, meta.seq),
                meta: codec::encode_message_meta(&meta),
            },
            Mutation::DeleteMessage { queue, seq } => Operation::DeleteMessage { key: codec::message_key(queue, seq) },
            Mutation::PurgeMessages { queue, up_to_seq } => Operation::PurgeMessages { queue, up_to_seq },
            Mutation::PutSetting { key, value } => {
                let value = codec::encode_setting(&value);
                check_record_size("setting", key.len() + value.len())?;
                Operation::PutSetting { key, value }
            }
            Mutation::DeleteSetting { key } => Operation::DeleteSetting { key },
            Mutation::PutDedup { queue, record } => Operation::PutDedup {
                key: codec::dedup_table_key(queue, &record.key),
                value: codec::encode_dedup(&record),
            },
            Mutation::DeleteDedup { queue, key } => Operation::DeleteDedup { key: codec::dedup_table_key(queue, &key) },
            Mutation::PutTopic(record) => {
                let value = codec::encode_topic(&record);
                check_record_size("topic record", value.len())?;
                Operation::PutTopic { key: codec::topic_key(record.id), value }
            }
            Mutation::DeleteTopic(topic) => Operation::DeleteTopic { topic },
            Mutation::PutSubscription(record) => {
                let value = codec::encode_subscription(&record);
                check_record_size("subscription record", value.len())?;
                Operation::PutSubscription { key: codec::subscription_key(record.topic, record.id), value }
            }
            Mutation::DeleteSubscription { topic, id } => {
                Operation::DeleteSubscription { key: codec::subscription_key(topic, id) }
            }
            Mutation::AppendRecords { log, records } => {
                let payload: usize = records.iter().map(|record| record.partition_key.len() + record.data.len()).sum();
                let mut values = Vec::with_capacity(payload + records.len() * 16);
                let mut ends = Vec::with_capacity(records.len());
                for record in &records {
                    let length = codec::encode_stream_record_into(&mut values, record);
                    check_record_size("shard record", length)?;
                    ends.push((record.position, values.len()));
                }
                Operation::AppendRecords { log, values, ends }
            }
            Mutation::TrimRecords { log, before_position } => Operation::TrimRecords { log, before_position },
            Mutation::DeleteShardLog { log } => Operation::DeleteShardLog { log },
        };
        operations.push(operation);
    }
    Ok(operations)
}

/// Creates the tables and records the layout version in a new file; checks the version of an
/// existing one, so a file written by a newer layout is refused rather than misread, and a
/// version 1 or 2 file is upgraded (its tables are all still valid; the missing ones are created).
pub(crate) fn initialize(database: &Database) -> Result<(), StoreError> {
    let read = database.begin_read().map_err(|e| storage_error("reading the store version", e))?;
    match read.open_table(STORE_INFO) {
        Ok(info) => {
            let stored = info.get(LAYOUT_VERSION_KEY).map_err(|e| storage_error("reading the store version", e))?;
            if let Some(stored) = stored {
                match stored.value() {
                    [LAYOUT_VERSION] => return Ok(()),
                    [version] if UPGRADABLE_LAYOUT_VERSIONS.contains(version) => {}
                    other => {
                        return Err(StoreError::Corrupt(format!(
                            "the data directory has store layout version {other:?}, this Wharf understands \
                             {UPGRADABLE_LAYOUT_VERSIONS:?} and [{LAYOUT_VERSION}]; it was written by a newer \
                             Wharf version"
                        )))
                    }
                }
            }
        }
        Err(TableError::TableDoesNotExist(_)) => {}
        Err(error) => return Err(storage_error("reading the store version", error)),
    }
    drop(read);

    let context = "initializing the store";
    let mut write = database.begin_write().map_err(|e| storage_error(context, e))?;
    write.set_durability(Durability::Immediate).map_err(|e| storage_error(context, e))?;
    {
        let mut info = write.open_table(STORE_INFO).map_err(|e| storage_error(context, e))?;
        info.insert(LAYOUT_VERSION_KEY, &[LAYOUT_VERSION][..]).map_err(|e| storage_error(context, e))?;
        Tables::open(&write).map_err(|e| storage_error(context, e))?;
    }
    split_legacy_shard_records(&write).map_err(|e| storage_error(context, e))?;
    write.commit().map_err(|e| storage_error(context, e))
}

/// Layout 3 to 4: moves every record of the one shared shard-records table into its log's own
/// table, then drops the shared table. Runs inside the upgrade's transaction, so it happens
/// whole or not at all.
fn split_legacy_shard_records(write: &WriteTransaction) -> Result<(), redb::Error> {
    if !table_exists(write, LEGACY_SHARD_RECORDS.name())? {
        return Ok(());
    }
    {
        let legacy = write.open_table(LEGACY_SHARD_RECORDS)?;
        // Keys are in (log, position) order: each log's records come as one run.
        let mut current: Option<(ShardLogId, ShardLogTable<'_>)> = None;
        for entry in legacy.iter()? {
            let (key, value) = entry?;
            let (log, _) = codec::split_shard_record_key(key.value());
            if current.as_ref().is_none_or(|(open, _)| *open != log) {
                let name = shard_log_table(log);
                current = Some((log, write.open_table(shard_log_definition(&name))?));
            }
            if let Some((_, table)) = current.as_mut() {
                table.insert(key.value(), value.value())?;
            }
        }
    }
    write.delete_table(LEGACY_SHARD_RECORDS)?;
    Ok(())
}

fn table_exists(write: &WriteTransaction, name: &str) -> Result<bool, redb::Error> {
    Ok(write.list_tables()?.any(|handle| handle.name() == name))
}

struct Tables<'txn> {
    queues: Table<'txn, &'static [u8; 8], &'static [u8]>,
    meta: Table<'txn, &'static [u8; 16], &'static [u8]>,
    content: Table<'txn, &'static [u8; 16], &'static [u8]>,
    shared_content: Table<'txn, &'static [u8; 16], &'static [u8]>,
    shared_references: Table<'txn, &'static [u8; 16], &'static [u8]>,
    settings: Table<'txn, &'static str, &'static [u8]>,
    dedup: Table<'txn, &'static [u8; 24], &'static [u8]>,
    topics: Table<'txn, &'static [u8; 8], &'static [u8]>,
    subscriptions: Table<'txn, &'static [u8; 16], &'static [u8]>,
    /// Shard logs live in tables of their own, opened by the operations that touch them.
    write: &'txn WriteTransaction,
}

impl<'txn> Tables<'txn> {
    fn open(write: &'txn WriteTransaction) -> Result<Self, TableError> {
        Ok(Tables {
            queues: write.open_table(QUEUES)?,
            meta: write.open_table(MESSAGE_META)?,
            content: write.open_table(MESSAGE_CONTENT)?,
            shared_content: write.open_table(SHARED_CONTENT)?,
            shared_references: write.open_table(SHARED_REFERENCES)?,
            settings: write.open_table(SETTINGS)?,
            dedup: write.open_table(DEDUP)?,
            topics: write.open_table(TOPICS)?,
            subscriptions: write.open_table(SUBSCRIPTIONS)?,
            write,
        })
    }

    fn apply(&mut self, operation: &Operation) -> Result<(), redb::Error> {
        match operation {
            Operation::PutQueue { key, value } => {
                self.queues.insert(key, value.as_slice())?;
            }
            Operation::DeleteQueue { queue } => {
                self.queues.remove(&codec::queue_key(*queue))?;
                self.delete_messages(*queue, u64::MAX)?;
                let first = codec::dedup_table_key(*queue, &[0; 16]);
                let last = codec::dedup_table_key(*queue, &[u8::MAX; 16]);
                self.dedup.retain_in::<&[u8; 24], _>(&first..=&last, |_, _| false)?;
            }
            Operation::PutMessage { key, meta, content } => {
                self.meta.insert(key, meta.as_slice())?;
                self.content.insert(key, content.as_slice())?;
            }
            Operation::PutSharedContent { id, content, references } => {
                self.shared_content.insert(id, content.as_slice())?;
                self.shared_references.insert(id, &codec::encode_references(*references)[..])?;
            }
            Operation::PutSharingMessage { key, meta } => {
                self.meta.insert(key, meta.as_slice())?;
            }
            Operation::UpdateMessage { key, meta } => {
                // Updating a message that was deleted meanwhile must not resurrect it, and one that
                // shares its content keeps its reference.
                let existing = self.meta.get(key)?.map(|value| codec::shared_reference(value.value()));
                match existing {
                    None => {}
                    Some(None) => {
                        self.meta.insert(key, meta.as_slice())?;
                    }
                    Some(Some(id)) => {
                        self.meta.insert(key, codec::encode_sharing_meta(meta, &id).as_slice())?;
                    }
                }
            }
            Operation::DeleteMessage { key } => {
                let shared = self.meta.remove(key)?.and_then(|value| codec::shared_reference(value.value()));
                self.content.remove(key)?;
                if let Some(id) = shared {
                    self.release(&id)?;
                }
            }
            Operation::PurgeMessages { queue, up_to_seq } => self.delete_messages(*queue, *up_to_seq)?,
            Operation::PutSetting { key, value } => {
                self.settings.insert(key.as_str(), value.as_slice())?;
            }
            Operation::DeleteSetting { key } => {
                self.settings.remove(key.as_str())?;
            }
            Operation::PutDedup { key, value } => {
                self.dedup.insert(key, value.as_slice())?;
            }
            Operation::DeleteDedup { key } => {
                self.dedup.remove(key)?;
            }
            Operation::PutTopic { key, value } => {
                self.topics.insert(key, value.as_slice())?;
            }
            Operation::DeleteTopic { topic } => {
                self.topics.remove(&codec::topic_key(*topic))?;
                // The topic's subscriptions are one contiguous key range.
                let first = codec::subscription_key(*topic, 0);
                let last = codec::subscription_key(*topic, u64::MAX);
                self.subscriptions.retain_in::<&[u8; 16], _>(&first..=&last, |_, _| false)?;
            }
            Operation::PutSubscription { key, value } => {
                self.subscriptions.insert(key, value.as_slice())?;
            }
            Operation::DeleteSubscription { key } => {
                self.subscriptions.remove(key)?;
            }
            Operation::AppendRecords { log, values, ends } => {
                let name = shard_log_table(*log);
                let mut records = self.write.open_table(shard_log_definition(&name))?;
                let mut start = 0;
                for &(position, end) in ends {
                    let value = values.get(start..end).unwrap_or_default();
                    records.insert(&codec::shard_record_key(*log, position), value)?;
                    start = end;
                }
            }
            Operation::TrimRecords { log, before_position } => {
                // The records below the position are one contiguous key range, removed leaf by leaf.
                let name = shard_log_table(*log);
                if *before_position > 0 && table_exists(self.write, &name)? {
                    let mut records = self.write.open_table(shard_log_definition(&name))?;
                    let first = codec::shard_record_key(*log, 0);
                    let end = codec::shard_record_key(*log, *before_position);
                    records.retain_in::<&[u8; 16], _>(&first..&end, |_, _| false)?;
                }
            }
            Operation::DeleteShardLog { log } => {
                let name = shard_log_table(*log);
                self.write.delete_table(shard_log_definition(&name))?;
            }
        }
        Ok(())
    }

    /// Deletes the queue's messages with `seq <= up_to_seq`: one contiguous key range per table.
    fn delete_messages(&mut self, queue: QueueId, up_to_seq: u64) -> Result<(), redb::StorageError> {
        let first = codec::message_key(queue, 0);
        let last = codec::message_key(queue, up_to_seq);
        let mut released = Vec::new();
        self.meta.retain_in::<&[u8; 16], _>(&first..=&last, |_, value| {
            released.extend(codec::shared_reference(value));
            false
        })?;
        self.content.retain_in::<&[u8; 16], _>(&first..=&last, |_, _| false)?;
        for id in released {
            self.release(&id)?;
        }
        Ok(())
    }

    /// Drops one reference to a shared content, removing the content with the last one.
    fn release(&mut self, id: &SharedContentId) -> Result<(), redb::StorageError> {
        let references = match self.shared_references.get(id)? {
            Some(value) => codec::decode_references(value.value()).unwrap_or(0),
            None => return Ok(()),
        };
        if references <= 1 {
            self.shared_references.remove(id)?;
            self.shared_content.remove(id)?;
        } else {
            self.shared_references.insert(id, &codec::encode_references(references - 1)[..])?;
        }
        Ok(())
    }
}

/// Applies every operation, in order, in one write transaction made durable by one commit.
/// Returns the error text; the caller poisons the store on any error.
pub(crate) fn write_group<'a>(
    database: &Database,
    operations: impl Iterator<Item = &'a Operation>,
) -> Result<(), String> {
    let mut write = database.begin_write().map_err(|e| format!("starting the write transaction: {e}"))?;
    write.set_durability(Durability::Immediate).map_err(|e| format!("requesting an fsync'd commit: {e}"))?;
    {
        let mut tables = Tables::open(&write).map_err(|e| format!("opening the tables: {e}"))?;
        for operation in operations {
            tables.apply(operation).map_err(|e| format!("applying a mutation: {e}"))?;
        }
    }
    write.commit().map_err(|e| format!("committing: {e}"))
}

/// Reads queues, message metadata, dedup records, settings, topics, subscriptions and the extent
/// of each shard log; never touches the content table, and reads only the first and last record
/// of each shard log.
pub(crate) fn load(database: &Database) -> Result<Snapshot, StoreError> {
    let context = "loading the store";
    let read = database.begin_read().map_err(|e| storage_error(context, e))?;
    let mut snapshot = Snapshot::default();

    if let Some(queues) = open_readable(&read, QUEUES)? {
        for entry in queues.iter().map_err(|e| storage_error(context, e))? {
            let (key, value) = entry.map_err(|e| storage_error(context, e))?;
            let id = u64::from_be_bytes(*key.value());
            snapshot.queues.push(codec::decode_queue(id, value.value())?);
        }
    }

    if let Some(meta) = open_readable(&read, MESSAGE_META)? {
        let mut current: Option<(QueueId, Vec<MessageMeta>)> = None;
        for entry in meta.iter().map_err(|e| storage_error(context, e))? {
            let (key, value) = entry.map_err(|e| storage_error(context, e))?;
            let (queue, seq) = codec::split_message_key(key.value());
            let meta = codec::decode_message_meta(seq, value.value())?;
            match &mut current {
                Some((owner, metas)) if *owner == queue => metas.push(meta),
                _ => {
                    if let Some(finished) = current.replace((queue, vec![meta])) {
                        snapshot.messages.push(finished);
                    }
                }
            }
        }
        snapshot.messages.extend(current);
    }

    if let Some(dedup) = open_readable(&read, DEDUP)? {
        for entry in dedup.iter().map_err(|e| storage_error(context, e))? {
            let (key, value) = entry.map_err(|e| storage_error(context, e))?;
            let (queue, key) = codec::split_dedup_table_key(key.value());
            let record = codec::decode_dedup(key, value.value())?;
            match snapshot.dedup.last_mut() {
                Some((owner, records)) if *owner == queue => records.push(record),
                _ => snapshot.dedup.push((queue, vec![record])),
            }
        }
    }

    if let Some(settings) = open_readable(&read, SETTINGS)? {
        // Keys compare as bytes, which is the order of `String`, the order the model reports.
        for entry in settings.iter().map_err(|e| storage_error(context, e))? {
            let (key, value) = entry.map_err(|e| storage_error(context, e))?;
            snapshot.settings.push((key.value().to_owned(), codec::decode_setting(value.value())?));
        }
    }

    // Stores written before topics existed lack both tables: no topics.
    if let Some(topics) = open_readable(&read, TOPICS)? {
        for entry in topics.iter().map_err(|e| storage_error(context, e))? {
            let (key, value) = entry.map_err(|e| storage_error(context, e))?;
            let id = u64::from_be_bytes(*key.value());
            snapshot.topics.push(codec::decode_topic(id, value.value())?);
        }
    }

    if let Some(subscriptions) = open_readable(&read, SUBSCRIPTIONS)? {
        for entry in subscriptions.iter().map_err(|e| storage_error(context, e))? {
            let (key, value) = entry.map_err(|e| storage_error(context, e))?;
            let (topic, id) = codec::split_subscription_key(key.value());
            snapshot.subscriptions.push(codec::decode_subscription(topic, id, value.value())?);
        }
    }

    if let Some(references) = open_readable(&read, SHARED_REFERENCES)? {
        for entry in references.iter().map_err(|e| storage_error(context, e))? {
            let (key, value) = entry.map_err(|e| storage_error(context, e))?;
            snapshot.shared_contents.push((*key.value(), codec::decode_references(value.value())?));
        }
    }

    let tables = read.list_tables().map_err(|e| storage_error(context, e))?;
    let mut names: Vec<String> = tables
        .map(|handle| handle.name().to_string())
        .filter(|name| name.starts_with(SHARD_LOG_TABLE_PREFIX))
        .collect();
    // Table names carry the log id in 20 digits, so name order is log order.
    names.sort();
    for name in names {
        if let Some(records) = open_readable(&read, shard_log_definition(&name))? {
            snapshot.shard_logs.extend(shard_log_extents(&records)?);
        }
    }
    Ok(snapshot)
}

/// The extent of every non-empty log: the first key at or after `from` names the next log, whose
/// last entry ends its range; then the search jumps to the key after that log's range. Two
/// B-tree descents per log, whatever its length.
fn shard_log_extents(
    records: &ReadOnlyTable<&'static [u8; 16], &'static [u8]>,
) -> Result<Vec<ShardLogExtent>, StoreError> {
    let context = "loading shard logs";
    let mut extents = Vec::new();
    let mut from = codec::shard_record_key(0, 0);
    loop {
        let next = records.range::<&[u8; 16]>(&from..).map_err(|e| storage_error(context, e))?.next();
        let Some(entry) = next else { break };
        let (key, _) = entry.map_err(|e| storage_error(context, e))?;
        let (log, first_position) = codec::split_shard_record_key(key.value());
        let Some((last_position, last_arrival_ms)) = last_record(records, log)? else { break };
        extents.push(ShardLogExtent { log, first_position, last_position, last_arrival_ms });
        match log.checked_add(1) {
            Some(next_log) => from = codec::shard_record_key(next_log, 0),
            None => break,
        }
    }
    Ok(extents)
}

/// The position and arrival time of the first record of `log` at or after `position`.
fn record_at_or_after(
    records: &ReadOnlyTable<&'static [u8; 16], &'static [u8]>,
    log: ShardLogId,
    position: u64,
) -> Result<Option<(u64, u64)>, StoreError> {
    let context = "reading a shard log";
    let first = codec::shard_record_key(log, position);
    let last = codec::shard_record_key(log, u64::MAX);
    let next = records.range::<&[u8; 16]>(&first..=&last).map_err(|e| storage_error(context, e))?.next();
    let Some(entry) = next else { return Ok(None) };
    let (key, value) = entry.map_err(|e| storage_error(context, e))?;
    let (_, position) = codec::split_shard_record_key(key.value());
    Ok(Some((position, codec::decode_stream_record_arrival(value.value())?)))
}

/// The position and arrival time of the last record of `log`.
fn last_record(
    records: &ReadOnlyTable<&'static [u8; 16], &'static [u8]>,
    log: ShardLogId,
) -> Result<Option<(u64, u64)>, StoreError> {
    let context = "reading a shard log";
    let first = codec::shard_record_key(log, 0);
    let last = codec::shard_record_key(log, u64::MAX);
    let previous = records.range::<&[u8; 16]>(&first..=&last).map_err(|e| storage_error(context, e))?.next_back();
    let Some(entry) = previous else { return Ok(None) };
    let (key, value) = entry.map_err(|e| storage_error(context, e))?;
    let (_, position) = codec::split_shard_record_key(key.value());
    Ok(Some((position, codec::decode_stream_record_arrival(value.value())?)))
}

/// Reads a run of one log's records from `from_position` on, within the limits of
/// [`wharf_store::Store::read_records`], in its own read transaction.
pub(crate) fn read_records(
    database: &Database,
    log: ShardLogId,
    from_position: u64,
    records_max: usize,
    bytes_max: usize,
) -> Result<Vec<StreamRecord>, StoreError> {
    let context = "reading shard records";
    let mut out = Vec::new();
    if records_max == 0 {
        return Ok(out);
    }
    let read = database.begin_read().map_err(|e| storage_error(context, e))?;
    let name = shard_log_table(log);
    let Some(records) = open_readable(&read, shard_log_definition(&name))? else { return Ok(out) };
    let first = codec::shard_record_key(log, from_position);
    let last = codec::shard_record_key(log, u64::MAX);
    let mut bytes = 0usize;
    for entry in records.range::<&[u8; 16]>(&first..=&last).map_err(|e| storage_error(context, e))? {
        let (key, value) = entry.map_err(|e| storage_error(context, e))?;
        let (_, position) = codec::split_shard_record_key(key.value());
        let record = codec::decode_stream_record(value.value())?;
        bytes = bytes.saturating_add(record.size());
        if bytes > bytes_max && !out.is_empty() {
            break;
        }
        out.push(record.to_record(position));
        if out.len() >= records_max {
            break;
        }
    }
    Ok(out)
}

/// The position of the first record of `log` that arrived at or after `arrival_ms`. Arrival
/// times never decrease along a log, so the records that qualify are a suffix of it: a binary
/// search over the log's position range finds where it starts, each step one B-tree descent that
/// reads one record's arrival time (at most 64 steps, as positions are `u64`; fewer when
/// positions are dense). Never scans the log.
pub(crate) fn find_position_at(
    database: &Database,
    log: ShardLogId,
    arrival_ms: u64,
) -> Result<Option<u64>, StoreError> {
    let read = database.begin_read().map_err(|e| storage_error("searching a shard log", e))?;
    let name = shard_log_table(log);
    let Some(records) = open_readable(&read, shard_log_definition(&name))? else { return Ok(None) };
    let Some((first, first_arrival_ms)) = record_at_or_after(&records, log, 0)? else { return Ok(None) };
    if first_arrival_ms >= arrival_ms {
        return Ok(Some(first));
    }
    let Some((last, last_arrival_ms)) = last_record(&records, log)? else { return Ok(None) };
    if last_arrival_ms < arrival_ms {
        return Ok(None);
    }
    // The answer is the record at or after `low`; the record at or after `high` (the last
    // record, at first) qualifies, and the one at `first` does not.
    let (mut low, mut high) = (first + 1, last);
    while low < high {
        let middle = low + (high - low) / 2;
        match record_at_or_after(&records, log, middle)? {
            Some((_, arrived)) if arrived >= arrival_ms => high = middle,
            Some((position, _)) => low = position + 1,
            // Records vanished below the last one: the read transaction forbids that.
            None => return Err(StoreError::Corrupt(format!("shard log {log} changed while it was searched"))),
        }
    }
    record_at_or_after(&records, log, low).map(|found| found.map(|(position, _)| position))
}

/// Reads one message's content in its own read transaction.
pub(crate) fn read_content(
    database: &Database,
    queue: QueueId,
    seq: u64,
) -> Result<Option<MessageContent>, StoreError> {
    let context = "reading message content";
    let read = database.begin_read().map_err(|e| storage_error(context, e))?;
    let key = codec::message_key(queue, seq);
    if let Some(content) = open_readable(&read, MESSAGE_CONTENT)? {
        if let Some(value) = content.get(&key).map_err(|e| storage_error(context, e))? {
            return codec::decode_message_content(value.value()).map(Some);
        }
    }
    // No content row: the message shares its content, or is gone.
    let Some(meta) = open_readable(&read, MESSAGE_META)? else { return Ok(None) };
    let Some(id) =
        meta.get(&key).map_err(|e| storage_error(context, e))?.and_then(|value| codec::shared_reference(value.value()))
    else {
        return Ok(None);
    };
    let Some(shared) = open_readable(&read, SHARED_CONTENT)? else {
        return Err(StoreError::Corrupt(format!("message {queue}/{seq} refers to a missing shared content")));
    };
    match shared.get(&id).map_err(|e| storage_error(context, e))? {
        Some(value) => codec::decode_message_content(value.value()).map(Some),
        None => Err(StoreError::Corrupt(format!("message {queue}/{seq} refers to a missing shared content"))),
    }
}

/// Opens a table for reading; a table that was never created reads as empty.
fn open_readable<K: redb::Key + 'static, V: redb::Value + 'static>(
    read: &redb::ReadTransaction,
    definition: TableDefinition<'_, K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>, StoreError> {
    match read.open_table(definition) {
        Ok(table) => Ok(Some(table)),
        Err(TableError::TableDoesNotExist(_)) => Ok(None),
        Err(error) => Err(storage_error("opening a table", error)),
    }
}
