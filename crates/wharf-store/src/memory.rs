//! The in-memory engine: nothing touches disk. It is deliberately the simplest correct
//! implementation of [`Store`], and the model other engines are compared with.

use crate::{
    Commit, DedupKey, DedupRecord, MessageContent, MessageMeta, Mutation, QueueId, QueueRecord, ShardLogExtent,
    ShardLogId, SharedContentId, Snapshot, Store, StoreError, StreamRecord, SubscriptionRecord, TopicId, TopicRecord,
};
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<MemoryState>,
}

#[derive(Default)]
struct MemoryState {
    queues: BTreeMap<QueueId, QueueRecord>,
    messages: BTreeMap<(QueueId, u64), (MessageMeta, Stored)>,
    /// Shared contents with their reference counts.
    shared: BTreeMap<SharedContentId, (MessageContent, u32)>,
    settings: BTreeMap<String, Vec<u8>>,
    dedup: BTreeMap<(QueueId, DedupKey), DedupRecord>,
    topics: BTreeMap<TopicId, TopicRecord>,
    subscriptions: BTreeMap<(TopicId, u64), SubscriptionRecord>,
    /// Shard record logs by log id, each by position; a log without records has no entry.
    shard_logs: BTreeMap<ShardLogId, BTreeMap<u64, StreamRecord>>,
    closed: bool,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        // A poisoned lock only means another thread panicked mid-apply; the maps stay usable.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A message's own content, or the shared content it refers to.
#[derive(Debug, Clone)]
enum Stored {
    Own(MessageContent),
    Shared(SharedContentId),
}

impl MemoryState {
    /// Drops the messages `remove` picks, releasing the shared contents they refer to.
    fn remove_messages(&mut self, mut remove: impl FnMut(&(QueueId, u64)) -> bool) {
        let mut released = Vec::new();
        self.messages.retain(|key, (_, stored)| {
            if !remove(key) {
                return true;
            }
            if let Stored::Shared(id) = stored {
                released.push(*id);
            }
            false
        });
        for id in released {
            self.release(id);
        }
    }

    fn release(&mut self, id: SharedContentId) {
        if let Some((_, references)) = self.shared.get_mut(&id) {
            *references = references.saturating_sub(1);
            if *references == 0 {
                self.shared.remove(&id);
            }
        }
    }

    fn apply(&mut self, mutation: Mutation) {
        match mutation {
            Mutation::PutQueue(record) => {
                self.queues.insert(record.id, record);
            }
            Mutation::DeleteQueue(queue) => {
                self.queues.remove(&queue);
                self.remove_messages(|(owner, _)| *owner == queue);
                self.dedup.retain(|(owner, _), _| *owner != queue);
            }
            Mutation::PutMessage { queue, meta, content } => {
                self.messages.insert((queue, meta.seq), (meta, Stored::Own(content)));
            }
            Mutation::PutSharedContent { id, content, references } => {
                self.shared.insert(id, (content, references));
            }
            Mutation::PutSharingMessage { queue, meta, shared } => {
                self.messages.insert((queue, meta.seq), (meta, Stored::Shared(shared)));
            }
            Mutation::UpdateMessage { queue, meta } => {
                if let Some(entry) = self.messages.get_mut(&(queue, meta.seq)) {
                    entry.0 = meta;
                }
            }
            Mutation::DeleteMessage { queue, seq } => {
                if let Some((_, Stored::Shared(id))) = self.messages.remove(&(queue, seq)) {
                    self.release(id);
                }
            }
            Mutation::PurgeMessages { queue, up_to_seq } => {
                self.remove_messages(|(owner, seq)| *owner == queue && *seq <= up_to_seq);
            }
            Mutation::PutSetting { key, value } => {
                self.settings.insert(key, value);
            }
            Mutation::DeleteSetting { key } => {
                self.settings.remove(&key);
            }
            Mutation::PutDedup { queue, record } => {
                self.dedup.insert((queue, record.key), record);
            }
            Mutation::DeleteDedup { queue, key } => {
                self.dedup.remove(&(queue, key));
            }
            Mutation::PutTopic(record) => {
                self.topics.insert(record.id, record);
            }
            Mutation::DeleteTopic(topic) => {
                self.topics.remove(&topic);
                self.subscriptions.retain(|(owner, _), _| *owner != topic);
            }
            Mutation::PutSubscription(record) => {
                self.subscriptions.insert((record.topic, record.id), record);
            }
            Mutation::DeleteSubscription { topic, id } => {
                self.subscriptions.remove(&(topic, id));
            }
            Mutation::AppendRecords { log, records } => {
                if !records.is_empty() {
                    let stored = self.shard_logs.entry(log).or_default();
                    stored.extend(records.into_iter().map(|record| (record.position, record)));
                }
            }
            Mutation::TrimRecords { log, before_position } => {
                if let Some(stored) = self.shard_logs.get_mut(&log) {
                    *stored = stored.split_off(&before_position);
                    if stored.is_empty() {
                        self.shard_logs.remove(&log);
                    }
                }
            }
            Mutation::DeleteShardLog { log } => {
                self.shard_logs.remove(&log);
            }
        }
    }
}

impl Store for MemoryStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        let state = self.lock();
        let mut messages: Vec<(QueueId, Vec<MessageMeta>)> = Vec::new();
        for ((queue, _), (meta, _)) in &state.messages {
            match messages.last_mut() {
                Some((last, metas)) if last == queue => metas.push(*meta),
                _ => messages.push((*queue, vec![*meta])),
            }
        }
        let mut dedup: Vec<(QueueId, Vec<DedupRecord>)> = Vec::new();
        for ((queue, _), record) in &state.dedup {
            match dedup.last_mut() {
                Some((last, records)) if last == queue => records.push(record.clone()),
                _ => dedup.push((*queue, vec![record.clone()])),
            }
        }
        Ok(Snapshot {
            queues: state.queues.values().cloned().collect(),
            messages,
            settings: state.settings.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            dedup,
            topics: state.topics.values().cloned().collect(),
            subscriptions: state.subscriptions.values().cloned().collect(),
            shared_contents: state.shared.iter().map(|(id, (_, references))| (*id, *references)).collect(),
            shard_logs: state
                .shard_logs
                .iter()
                .filter_map(|(log, records)| {
                    let (first, _) = records.first_key_value()?;
                    let (last, last_record) = records.last_key_value()?;
                    Some(ShardLogExtent {
                        log: *log,
                        first_position: *first,
                        last_position: *last,
                        last_arrival_ms: last_record.arrival_ms,
                    })
                })
                .collect(),
        })
    }

    fn submit(&self, batch: Vec<Mutation>) -> Commit {
        let mut state = self.lock();
        if state.closed {
            return Commit::ready(Err(StoreError::Closed));
        }
        for mutation in batch {
            state.apply(mutation);
        }
        Commit::ready(Ok(()))
    }

    fn read_content(&self, queue: QueueId, seq: u64) -> Result<Option<MessageContent>, StoreError> {
        let state = self.lock();
        Ok(state.messages.get(&(queue, seq)).and_then(|(_, stored)| match stored {
            Stored::Own(content) => Some(content.clone()),
            Stored::Shared(id) => state.shared.get(id).map(|(content, _)| content.clone()),
        }))
    }

    fn read_records(
        &self,
        log: ShardLogId,
        from_position: u64,
        records_max: usize,
        bytes_max: usize,
    ) -> Result<Vec<StreamRecord>, StoreError> {
        let state = self.lock();
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let Some(records) = state.shard_logs.get(&log) else { return Ok(out) };
        for record in records.range(from_position..).map(|(_, record)| record) {
            if out.len() >= records_max {
                break;
            }
            bytes = bytes.saturating_add(record.data.len() + record.partition_key.len());
            if bytes > bytes_max && !out.is_empty() {
                break;
            }
            out.push(record.clone());
        }
        Ok(out)
    }

    fn find_position_at(&self, log: ShardLogId, arrival_ms: u64) -> Result<Option<u64>, StoreError> {
        let state = self.lock();
        let Some(records) = state.shard_logs.get(&log) else { return Ok(None) };
        // Arrival times never decrease along a log, so the records that arrived at or after the
        // time are a suffix of it: binary-search the position range for where it starts.
        let at_or_after = |position: u64| records.range(position..).next().map(|(_, record)| record);
        let (Some((&first, _)), Some((&last, last_record))) = (records.first_key_value(), records.last_key_value())
        else {
            return Ok(None);
        };
        if last_record.arrival_ms < arrival_ms {
            return Ok(None);
        }
        // The answer is the record at or after `low`; the record at or after `high` qualifies.
        let (mut low, mut high) = (first, last);
        while low < high {
            let middle = low + (high - low) / 2;
            match at_or_after(middle) {
                Some(record) if record.arrival_ms >= arrival_ms => high = middle,
                Some(record) => low = record.position + 1,
                None => return Ok(None),
            }
        }
        Ok(at_or_after(low).map(|record| record.position))
    }

    fn close(&self) -> Result<(), StoreError> {
        self.lock().closed = true;
        Ok(())
    }
}
