//! The in-memory engine: nothing touches disk. It is deliberately the simplest correct
//! implementation of [`Store`], and the model other engines are compared with.

use crate::{
    Commit, DedupKey, DedupRecord, MessageContent, MessageMeta, Mutation, QueueId, QueueRecord, SharedContentId,
    Snapshot, Store, StoreError, SubscriptionRecord, TopicId, TopicRecord,
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

    fn close(&self) -> Result<(), StoreError> {
        self.lock().closed = true;
        Ok(())
    }
}
