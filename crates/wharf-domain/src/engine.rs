//! The queue engine: the registry of queues and every queue operation, deciding what to persist
//! and when to wake waiting receivers.
//!
//! Lock order: the registry lock, then at most one queue lock. No lock is held across an
//! `.await`; store batches are submitted while the queue lock is held so the store sees a
//! queue's writes in the order the index assigned them.

use crate::clock::Clock;
use crate::error::DomainError;
use crate::queue::{ContentBudget, Deduplicated, LeaseRef, Queue, QueueCounts, QueueState, VisibilityChangeError};
use crate::settings::{QueueName, QueueSettings};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use wharf_store::{DedupKey, DedupRecord, MessageContent, MessageMeta, Mutation, QueueRecord, Store};

/// The longest a message may stay leased from the receive that leased it.
pub const LEASE_TOTAL_MS_MAX: u64 = 43_200_000;
/// How long after a purge another purge of the same queue is refused.
pub const PURGE_INTERVAL_MS: u64 = 60_000;

/// How long a FIFO queue remembers a deduplication id, and a receive attempt id.
pub const DEDUP_WINDOW_MS: u64 = 300_000;

const NEXT_QUEUE_ID_SETTING: &str = "next_queue_id";
/// The queue-record pair holding a queue's sequence-number reservation.
const SEQ_RESERVED_PAIR: &str = "seq_reserved";
/// How many sequence numbers one reservation covers: one queue-record write per this many
/// messages, and at most this many numbers skipped by a restart.
const SEQ_RESERVATION_BLOCK: u64 = 1 << 20;
const TOKEN_SECRET_SETTING: &str = "token_secret";

/// A message to append.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub content: MessageContent,
    /// Overrides the queue's delay when set.
    pub delay_seconds: Option<u32>,
    pub size_bytes: u32,
}

/// What [`Engine::send_sequenced`] published, or found already published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sequenced {
    pub sent: SentMessage,
    pub duplicate: bool,
}

/// An appended message; for a duplicate on a FIFO queue, the message the original send made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentMessage {
    pub message_id: [u8; 16],
    pub seq: u64,
}

#[derive(Debug, Clone)]
pub struct ReceiveRequest {
    pub max_messages: usize,
    /// Overrides the queue's visibility timeout when set.
    pub visibility_timeout_seconds: Option<u32>,
    /// How long to wait for a message when none is visible.
    pub wait_ms: u64,
    /// The most messages the queue may have leased at once; a receive that would need more is
    /// refused while any message is waiting to be received.
    pub leased_messages_max: Option<u64>,
    /// FIFO queues: a retried receive with the same id, within [`DEDUP_WINDOW_MS`] and while
    /// its messages are untouched, gets the same messages again.
    pub attempt_id: Option<String>,
}

/// A leased message as handed to a receiver.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub meta: MessageMeta,
    pub content: MessageContent,
}

impl Delivery {
    pub fn lease(&self) -> LeaseRef {
        LeaseRef::of(&self.meta)
    }
}

/// Tunables of the engine.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// Memory for keeping recently sent message contents next to their on-disk copy.
    pub content_cache_bytes_max: u64,
    /// How long after a queue is deleted its name stays unavailable (AWS: 60 s); 0 disables.
    pub queue_recreate_delay_ms: u64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions { content_cache_bytes_max: 64 * 1024 * 1024, queue_recreate_delay_ms: 0 }
    }
}

pub struct Engine {
    pub(crate) store: Arc<dyn Store>,
    budget: Arc<ContentBudget>,
    options: EngineOptions,
    /// When each recently deleted queue name was deleted; kept for `queue_recreate_delay_ms`.
    deleted_at_ms: std::sync::Mutex<HashMap<QueueName, u64>>,
    pub(crate) clock: Arc<dyn Clock>,
    queues: RwLock<HashMap<QueueName, Arc<Queue>>>,
    next_queue_id: AtomicU64,
    token_secret: [u8; 32],
    pub(crate) shutdown: tokio::sync::watch::Sender<bool>,
    pub(crate) move_tasks: crate::move_task::MoveTasks,
    pub(crate) topics: crate::topics::Topics,
    pub(crate) catalogs: crate::catalog::Catalogs,
    pub(crate) streams: crate::streams::Streams,
}

impl Engine {
    /// Rebuilds the engine from what the store holds.
    pub async fn open(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        options: EngineOptions,
    ) -> Result<Arc<Engine>, DomainError> {
        let budget = ContentBudget::new(options.content_cache_bytes_max);
        let snapshot = store.load()?;
        let setting = |key: &str| snapshot.settings.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let mut next_queue_id = setting(NEXT_QUEUE_ID_SETTING)
            .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(1);
        let token_secret = match setting(TOKEN_SECRET_SETTING).and_then(|bytes| <[u8; 32]>::try_from(bytes).ok()) {
            Some(secret) => secret,
            None => {
                let mut secret = [0u8; 32];
                secret[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
                secret[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
                store
                    .submit(vec![Mutation::PutSetting { key: TOKEN_SECRET_SETTING.into(), value: secret.to_vec() }])
                    .await?;
                secret
            }
        };
        let now_ms = clock.now_ms();
        let mut by_id: HashMap<u64, Arc<Queue>> = HashMap::new();
        let mut queues = HashMap::new();
        for record in snapshot.queues {
            next_queue_id = next_queue_id.max(record.id + 1);
            let mut state = QueueState::new(
                QueueSettings::from_pairs(&record.attributes),
                record.tags.into_iter().collect(),
                record.modified_ms,
                budget.clone(),
            );
            let reserved = record.attributes.iter().find(|(key, _)| key == SEQ_RESERVED_PAIR);
            state.resume_seq_after(reserved.and_then(|(_, value)| value.parse().ok()).unwrap_or(0));
            let queue = Arc::new(Queue {
                id: record.id,
                account: record.account.clone(),
                name: record.name.clone(),
                created_ms: record.created_ms,
                state: std::sync::Mutex::new(state),
                arrivals: tokio::sync::Notify::new(),
            });
            by_id.insert(record.id, queue.clone());
            queues.insert(QueueName { account: record.account, name: record.name }, queue);
        }
        for (queue_id, metas) in snapshot.messages {
            let Some(queue) = by_id.get(&queue_id) else { continue };
            let mut state = queue.lock();
            for meta in metas {
                // Leases are not persisted: a message in flight at shutdown is visible again.
                state.insert(meta, now_ms);
            }
        }
        let mut expired_dedup = Vec::new();
        for (queue_id, records) in snapshot.dedup {
            let Some(queue) = by_id.get(&queue_id) else { continue };
            let mut state = queue.lock();
            for record in records {
                if record.expires_ms <= now_ms {
                    expired_dedup.push(Mutation::DeleteDedup { queue: queue_id, key: record.key });
                    continue;
                }
                let found =
                    Deduplicated { message_id: record.message_id, seq: record.seq, expires_ms: record.expires_ms };
                state.remember_dedup(record.key, found);
            }
        }
        if !expired_dedup.is_empty() {
            drop(store.submit(expired_dedup));
        }
        let (shutdown, _) = tokio::sync::watch::channel(false);
        let move_tasks = crate::move_task::MoveTasks::load(&snapshot.settings);
        let topics = crate::topics::Topics::load(&snapshot.topics, &snapshot.subscriptions, &snapshot.settings);
        let catalogs = crate::catalog::Catalogs::load(&snapshot.settings);
        let streams = crate::streams::Streams::load(&snapshot.settings, &snapshot.shard_logs);
        let engine = Arc::new(Engine {
            store,
            budget,
            options,
            deleted_at_ms: std::sync::Mutex::new(HashMap::new()),
            clock,
            queues: RwLock::new(queues),
            next_queue_id: AtomicU64::new(next_queue_id),
            token_secret,
            shutdown,
            move_tasks,
            topics,
            catalogs,
            streams,
        });
        engine.resume_move_tasks();
        Ok(engine)
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// A persistent secret for keying tokens handed to clients.
    pub fn token_secret(&self) -> [u8; 32] {
        self.token_secret
    }

    /// Turns true when shutdown begins, so background work holding the engine can stop.
    pub fn shutdown_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Makes waiting receivers return at once and future waits return immediately.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Flushes and closes the store.
    pub fn close(&self) -> Result<(), DomainError> {
        Ok(self.store.close()?)
    }

    fn registry(&self) -> std::sync::RwLockReadGuard<'_, HashMap<QueueName, Arc<Queue>>> {
        self.queues.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn queue(&self, account: &str, name: &str) -> Option<Arc<Queue>> {
        self.registry().get(&QueueName { account: account.to_string(), name: name.to_string() }).cloned()
    }

    /// The account's queues whose names start with `prefix`, sorted by name.
    pub fn list_queues(&self, account: &str, prefix: &str) -> Vec<Arc<Queue>> {
        let mut found: Vec<Arc<Queue>> = self
            .registry()
            .values()
            .filter(|queue| queue.account == account && queue.name.starts_with(prefix))
            .cloned()
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        found
    }

    /// Every queue of every account.
    pub fn all_queues(&self) -> Vec<Arc<Queue>> {
        self.registry().values().cloned().collect()
    }

    /// Queues whose dead-letter policy targets `target`, sorted by name.
    pub fn dead_letter_sources(&self, target: &Queue) -> Vec<Arc<Queue>> {
        let mut found: Vec<Arc<Queue>> =
            self.registry()
                .values()
                .filter(|queue| {
                    queue.lock().settings.dead_letter.as_ref().is_some_and(|policy| {
                        policy.target.account == target.account && policy.target.name == target.name
                    })
                })
                .cloned()
                .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        found
    }

    /// Creates a queue. Fails with `QueueAlreadyExists` if the name is taken; callers decide
    /// whether an existing queue matches their request.
    pub async fn create_queue(
        &self,
        account: &str,
        name: &str,
        settings: QueueSettings,
        tags: BTreeMap<String, String>,
    ) -> Result<Arc<Queue>, DomainError> {
        self.check_dead_letter_target(&settings)?;
        let key = QueueName { account: account.to_string(), name: name.to_string() };
        let now_ms = self.clock.now_ms();
        if self.deleted_recently(&key, now_ms) {
            return Err(DomainError::QueueDeletedRecently);
        }
        let (queue, commit) = {
            let mut registry = self.queues.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            if registry.contains_key(&key) {
                return Err(DomainError::QueueAlreadyExists);
            }
            let id = self.next_queue_id.fetch_add(1, Ordering::SeqCst);
            let queue = Arc::new(Queue {
                id,
                account: account.to_string(),
                name: name.to_string(),
                created_ms: now_ms,
                state: std::sync::Mutex::new(QueueState::new(settings, tags, now_ms, self.budget.clone())),
                arrivals: tokio::sync::Notify::new(),
            });
            let record = record_of(&queue, &queue.lock());
            let commit = self.store.submit(vec![
                Mutation::PutSetting { key: NEXT_QUEUE_ID_SETTING.into(), value: (id + 1).to_be_bytes().to_vec() },
                Mutation::PutQueue(record),
            ]);
            registry.insert(key.clone(), queue.clone());
            (queue, commit)
        };
        if let Err(error) = commit.await {
            self.queues.write().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&key);
            return Err(error.into());
        }
        Ok(queue)
    }

    fn deleted_recently(&self, key: &QueueName, now_ms: u64) -> bool {
        let delay_ms = self.options.queue_recreate_delay_ms;
        let mut deleted = self.deleted_at_ms.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        deleted.retain(|_, at_ms| now_ms < at_ms.saturating_add(delay_ms));
        deleted.contains_key(key)
    }

    fn check_dead_letter_target(&self, settings: &QueueSettings) -> Result<(), DomainError> {
        match &settings.dead_letter {
            Some(policy) if !self.registry().contains_key(&policy.target) => Err(DomainError::DeadLetterTargetMissing),
            _ => Ok(()),
        }
    }

    pub async fn delete_queue(&self, queue: &Arc<Queue>) -> Result<(), DomainError> {
        let key = QueueName { account: queue.account.clone(), name: queue.name.clone() };
        let commit = {
            let mut registry = self.queues.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut state = queue.lock();
            if state.deleted {
                return Err(DomainError::QueueDoesNotExist);
            }
            state.mark_deleted();
            registry.remove(&key);
            if self.options.queue_recreate_delay_ms > 0 {
                let mut deleted = self.deleted_at_ms.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                deleted.insert(key.clone(), self.clock.now_ms());
            }
            self.store.submit(vec![Mutation::DeleteQueue(queue.id)])
        };
        queue.arrivals.notify_waiters();
        Ok(commit.await?)
    }

    /// Changes a queue's settings and tags through `change`, then persists them.
    pub async fn update_queue(
        &self,
        queue: &Queue,
        change: impl FnOnce(&mut QueueSettings, &mut BTreeMap<String, String>),
    ) -> Result<(), DomainError> {
        let commit = {
            let mut state = queue.lock();
            if state.deleted {
                return Err(DomainError::QueueDoesNotExist);
            }
            let mut settings = state.settings.clone();
            let mut tags = state.tags.clone();
            change(&mut settings, &mut tags);
            self.check_dead_letter_target(&settings)?;
            state.settings = settings;
            state.tags = tags;
            state.modified_ms = self.clock.now_ms();
            self.store.submit(vec![Mutation::PutQueue(record_of(queue, &state))])
        };
        Ok(commit.await?)
    }

    /// Counts after applying due state changes.
    pub fn counts(&self, queue: &Queue) -> QueueCounts {
        let mut state = queue.lock();
        self.refresh(queue, &mut state);
        state.counts()
    }

    /// Applies time-driven changes (delays ending, leases expiring, retention) and persists them
    /// without waiting: retention deletes, and the receive counts of messages whose lease ended.
    fn refresh(&self, queue: &Queue, state: &mut QueueState) {
        let refreshed = state.refresh(self.clock.now_ms());
        let deletes = refreshed.expired.into_iter().map(|seq| Mutation::DeleteMessage { queue: queue.id, seq });
        let updates = refreshed.returned.into_iter().map(|meta| Mutation::UpdateMessage { queue: queue.id, meta });
        let forgotten = refreshed.dedup_expired.into_iter().map(|key| Mutation::DeleteDedup { queue: queue.id, key });
        let batch: Vec<Mutation> = deletes.chain(updates).chain(forgotten).collect();
        if !batch.is_empty() {
            drop(self.store.submit(batch));
        }
    }

    /// Persists the receive counts of every leased message; part of a graceful shutdown, so a
    /// clean restart keeps exact counts.
    pub async fn persist_leases(&self) -> Result<(), DomainError> {
        let mut commits = Vec::new();
        for queue in self.all_queues() {
            let state = queue.lock();
            let batch: Vec<Mutation> = state
                .leased_metas()
                .into_iter()
                .map(|meta| Mutation::UpdateMessage { queue: queue.id, meta })
                .collect();
            if !batch.is_empty() {
                commits.push(self.store.submit(batch));
            }
        }
        for commit in commits {
            commit.await?;
        }
        Ok(())
    }

    /// Drops messages past retention in every queue; meant to run periodically.
    pub fn sweep(&self) {
        for queue in self.all_queues() {
            let mut state = queue.lock();
            self.refresh(&queue, &mut state);
        }
        self.sweep_streams();
    }

    /// Appends messages; returns once they are durable, then makes them receivable.
    ///
    /// On a FIFO queue a message whose deduplication key was accepted within the window is not
    /// appended; its result is the original message. Results keep the order of `messages`.
    pub async fn send(&self, queue: &Arc<Queue>, messages: Vec<NewMessage>) -> Result<Vec<SentMessage>, DomainError> {
        let now_ms = self.clock.now_ms();
        let (mut appended, commit) = {
            let mut state = queue.lock();
            if state.deleted {
                return Err(DomainError::QueueDoesNotExist);
            }
            let mut appended = append_locked(queue, &mut state, messages, now_ms);
            // Even a batch of duplicates only is submitted: its commit resolves after the
            // originals' (batches commit in order), so a duplicate is never acknowledged first.
            let commit = self.store.submit(std::mem::take(&mut appended.batch));
            (appended, commit)
        };
        let sent = std::mem::take(&mut appended.sent);
        self.pending(commit, vec![(queue.clone(), appended)]).finish().await?;
        Ok(sent)
    }

    /// Appends messages to several queues in one atomic, durable write (a topic's fan-out).
    /// Queues that were deleted meanwhile are skipped. Returns once everything is durable.
    pub async fn send_to_many(&self, targets: Vec<(Arc<Queue>, Vec<NewMessage>)>) -> Result<(), DomainError> {
        let (appended, commit) = self.append_to_many(targets, Vec::new(), self.clock.now_ms());
        self.finish_append_to_many(appended, commit).await
    }

    /// Publishes in the order of a sequence log (a FIFO topic's): the log deduplicates the
    /// publication by its group and deduplication ids and gives it a message id and sequence
    /// number, `render` builds the deliveries carrying them, and everything is written in one
    /// atomic batch while the log is locked, so sequence order is delivery order. A duplicate
    /// within the window gets the original's id and number and delivers nothing.
    pub async fn send_sequenced(
        &self,
        log: &Arc<Queue>,
        group_id: Option<&str>,
        deduplication_id: Option<&str>,
        render: impl FnOnce(SentMessage) -> Vec<(Arc<Queue>, Vec<NewMessage>)>,
    ) -> Result<Sequenced, DomainError> {
        let now_ms = self.clock.now_ms();
        let identity = MessageContent {
            group_id: group_id.map(str::to_string),
            deduplication_id: deduplication_id.map(str::to_string),
            ..MessageContent::default()
        };
        let (sequenced, key, appended, commit) = {
            let mut state = log.lock();
            if state.deleted {
                return Err(DomainError::QueueDoesNotExist);
            }
            let key = dedup_key(&state.settings, &identity);
            if let Some(found) = key.and_then(|key| state.deduplicated(&key, now_ms)) {
                // Submitted after the original's batch, so this resolves only once it is durable.
                let commit = self.store.submit(Vec::new());
                let sent = SentMessage { message_id: found.message_id, seq: found.seq };
                (Sequenced { sent, duplicate: true }, None, Vec::new(), commit)
            } else {
                let sent = SentMessage { message_id: *uuid::Uuid::new_v4().as_bytes(), seq: state.reserve_seq() };
                let mut records = Vec::new();
                if let Some(key) = key {
                    let found = Deduplicated {
                        message_id: sent.message_id,
                        seq: sent.seq,
                        expires_ms: now_ms + DEDUP_WINDOW_MS,
                    };
                    records.push(Mutation::PutDedup {
                        queue: log.id,
                        record: DedupRecord {
                            key,
                            message_id: sent.message_id,
                            seq: sent.seq,
                            expires_ms: found.expires_ms,
                        },
                    });
                    state.remember_dedup(key, found);
                }
                if state.extend_seq_reservation(SEQ_RESERVATION_BLOCK) {
                    records.push(Mutation::PutQueue(record_of(log, &state)));
                }
                let (appended, commit) = self.append_to_many(render(sent), records, now_ms);
                (Sequenced { sent, duplicate: false }, key, appended, commit)
            }
        };
        let mut pending = self.pending(commit, appended);
        pending.forget_on_failure = key.map(|key| (log.clone(), key));
        pending.finish().await?;
        Ok(sequenced)
    }

    /// Appends to several queues and submits the writes, with `records`, as one batch. Every
    /// target's lock is held until the batch is submitted, so each queue's writes reach the store
    /// in index order; taking them in ascending id order rules out a deadlock between two
    /// fan-outs.
    fn append_to_many(
        &self,
        targets: Vec<(Arc<Queue>, Vec<NewMessage>)>,
        records: Vec<Mutation>,
        now_ms: u64,
    ) -> (Vec<(Arc<Queue>, Appended)>, wharf_store::Commit) {
        let mut merged: BTreeMap<u64, (Arc<Queue>, Vec<NewMessage>)> = BTreeMap::new();
        for (queue, messages) in targets {
            merged.entry(queue.id).or_insert_with(|| (queue.clone(), Vec::new())).1.extend(messages);
        }
        let (queues, message_lists): (Vec<Arc<Queue>>, Vec<Vec<NewMessage>>) = merged.into_values().unzip();
        let mut guards = Vec::with_capacity(queues.len());
        let mut batch = records;
        let mut appended = Vec::new();
        for (queue, messages) in queues.iter().zip(message_lists) {
            let mut state = queue.lock();
            if !state.deleted {
                let mut done = append_locked(queue, &mut state, messages, now_ms);
                batch.append(&mut done.batch);
                appended.push((queue.clone(), done));
            }
            guards.push(state);
        }
        let commit = self.store.submit(crate::sharing::share_equal_contents(batch));
        drop(guards);
        (appended, commit)
    }

    async fn finish_append_to_many(
        &self,
        appended: Vec<(Arc<Queue>, Appended)>,
        commit: wharf_store::Commit,
    ) -> Result<(), DomainError> {
        self.pending(commit, appended).finish().await
    }

    /// What must follow a submitted append once its commit resolves: see [`PendingAppend`].
    fn pending(&self, commit: wharf_store::Commit, appended: Vec<(Arc<Queue>, Appended)>) -> PendingAppend {
        PendingAppend { clock: self.clock.clone(), commit: Some(commit), appended, forget_on_failure: None }
    }

    /// Leases up to `max_messages` messages, waiting up to `wait_ms` for one to become visible.
    pub async fn receive(&self, queue: &Arc<Queue>, request: ReceiveRequest) -> Result<Vec<Delivery>, DomainError> {
        if let Some(replayed) = self.replay_attempt(queue, &request) {
            let (leased, cached) = replayed?;
            return self.read_deliveries(queue, leased, cached);
        }
        let deadline_ms = self.clock.now_ms().saturating_add(request.wait_ms);
        let mut shutdown = self.shutdown.subscribe();
        loop {
            let arrival = queue.arrivals.notified();
            tokio::pin!(arrival);
            arrival.as_mut().enable();

            let (claim, cached, wakeup_ms, dead_letter_target) = {
                let mut state = queue.lock();
                if state.deleted {
                    return Err(DomainError::QueueDoesNotExist);
                }
                self.refresh(queue, &mut state);
                let visibility_seconds =
                    request.visibility_timeout_seconds.unwrap_or(state.settings.visibility_timeout_seconds);
                // A dead-letter policy whose target is gone leaves messages where they are.
                let dead_letter = state.settings.dead_letter.as_ref().and_then(|policy| {
                    let target = self.registry().get(&policy.target).cloned()?;
                    Some((target, policy.max_receive_count))
                });
                let counts = state.counts();
                let room = request.leased_messages_max.map_or(u64::MAX, |max| max.saturating_sub(counts.leased));
                if room == 0 && counts.visible > 0 {
                    return Err(DomainError::TooManyLeased);
                }
                let claim = state.claim(
                    self.clock.now_ms(),
                    request.max_messages.min(usize::try_from(room).unwrap_or(usize::MAX)),
                    u64::from(visibility_seconds) * 1000,
                    dead_letter.as_ref().map(|(_, limit)| *limit),
                );
                // A raised receive count is written when the lease ends without a delete (see
                // `refresh`, `change_visibility`, `persist_leases`), not on every receive: most
                // leased messages are deleted, and their counts never need to reach the disk.
                let cached: Vec<Option<MessageContent>> =
                    claim.leased.iter().map(|meta| state.cached_content(meta.seq)).collect();
                if let Some(id) =
                    request.attempt_id.as_ref().filter(|_| state.settings.fifo && !claim.leased.is_empty())
                {
                    let now_ms = self.clock.now_ms();
                    let leases = claim.leased.iter().map(LeaseRef::of).collect();
                    state.remember_attempt(id.clone(), now_ms, now_ms + DEDUP_WINDOW_MS, leases);
                }
                (claim, cached, state.next_wakeup_ms(), dead_letter.map(|(target, _)| target))
            };

            if let Some(target) = dead_letter_target {
                self.move_to_dead_letter(queue, &target, &claim.dead_lettered).await?;
            }
            let deliveries = self.read_deliveries(queue, claim.leased, cached)?;
            if !deliveries.is_empty() || *shutdown.borrow() {
                return Ok(deliveries);
            }
            let now_ms = self.clock.now_ms();
            if now_ms >= deadline_ms {
                return Ok(Vec::new());
            }
            let wake_ms = wakeup_ms.map_or(deadline_ms, |at| at.min(deadline_ms));
            tokio::select! {
                _ = &mut arrival => {}
                _ = self.clock.sleep_until(wake_ms) => {}
                _ = shutdown.changed() => return Ok(Vec::new()),
            }
        }
    }

    /// The messages an earlier receive attempt with the request's id got, leased again, if
    /// the queue is FIFO and they are all still leased by that attempt.
    #[allow(clippy::type_complexity)]
    fn replay_attempt(
        &self,
        queue: &Queue,
        request: &ReceiveRequest,
    ) -> Option<Result<(Vec<MessageMeta>, Vec<Option<MessageContent>>), DomainError>> {
        let id = request.attempt_id.as_deref()?;
        let mut state = queue.lock();
        if state.deleted {
            return Some(Err(DomainError::QueueDoesNotExist));
        }
        if !state.settings.fifo {
            return None;
        }
        self.refresh(queue, &mut state);
        let visibility_seconds =
            request.visibility_timeout_seconds.unwrap_or(state.settings.visibility_timeout_seconds);
        let leased = state.replay_attempt(id, self.clock.now_ms(), u64::from(visibility_seconds) * 1000)?;
        let cached = leased.iter().map(|meta| state.cached_content(meta.seq)).collect();
        Some(Ok((leased, cached)))
    }

    /// Up to `max` messages after `after_seq` with their contents, in sequence order, without
    /// leasing them: a queue read as a log (an archive a front-end replays from).
    pub fn read_after(
        &self,
        queue: &Queue,
        after_seq: u64,
        max: usize,
    ) -> Result<Vec<(MessageMeta, MessageContent)>, DomainError> {
        let (metas, cached): (Vec<MessageMeta>, Vec<Option<MessageContent>>) = {
            let state = queue.lock();
            let metas = state.metas_after(after_seq, max);
            let cached = metas.iter().map(|meta| state.cached_content(meta.seq)).collect();
            (metas, cached)
        };
        Ok(self
            .read_deliveries(queue, metas, cached)?
            .into_iter()
            .map(|delivery| (delivery.meta, delivery.content))
            .collect())
    }

    fn read_deliveries(
        &self,
        queue: &Queue,
        leased: Vec<MessageMeta>,
        cached: Vec<Option<MessageContent>>,
    ) -> Result<Vec<Delivery>, DomainError> {
        let mut deliveries = Vec::with_capacity(leased.len());
        for (meta, cached) in leased.into_iter().zip(cached) {
            let content = match cached {
                Some(content) => Some(content),
                None => self.store.read_content(queue.id, meta.seq)?,
            };
            // A message purged or deleted since it was claimed has no content any more.
            if let Some(content) = content {
                deliveries.push(Delivery { meta, content });
            }
        }
        Ok(deliveries)
    }

    /// Moves every receivable message of `queue` that was received as often as its dead-letter
    /// policy allows to the dead-letter queue now, instead of at the next receive. Returns how
    /// many moved.
    pub async fn dead_letter_exhausted(&self, queue: &Arc<Queue>) -> Result<usize, DomainError> {
        let (exhausted, target) = {
            let mut state = queue.lock();
            if state.deleted {
                return Err(DomainError::QueueDoesNotExist);
            }
            self.refresh(queue, &mut state);
            let Some(policy) = state.settings.dead_letter.clone() else { return Ok(0) };
            let Some(target) = self.registry().get(&policy.target).cloned() else { return Ok(0) };
            (state.take_exhausted(policy.max_receive_count), target)
        };
        self.move_to_dead_letter(queue, &target, &exhausted).await?;
        Ok(exhausted.len())
    }

    /// Moves messages already taken out of `source`'s index to its dead-letter queue. Every move
    /// is submitted before any is awaited, so a caller dropped while waiting (a receive whose
    /// client went away) leaves no message taken out of the index but never moved.
    async fn move_to_dead_letter(
        &self,
        source: &Queue,
        target: &Arc<Queue>,
        metas: &[MessageMeta],
    ) -> Result<(), DomainError> {
        let mut moves = Vec::with_capacity(metas.len());
        for meta in metas {
            let Some(mut content) = self.store.read_content(source.id, meta.seq)? else {
                continue;
            };
            content.dead_letter_source = Some(format!("{}/{}", source.account, source.name));
            moves.extend(self.begin_transfer(source, target, *meta, content, Vec::new()));
        }
        for pending in moves {
            pending.finish().await?;
        }
        Ok(())
    }

    /// Moves a message already taken out of `source`'s index into `target`, atomically on disk
    /// together with `also` (e.g. a task's progress). Returns false if `target` is gone.
    pub(crate) async fn transfer(
        &self,
        source: &Queue,
        target: &Arc<Queue>,
        meta: MessageMeta,
        content: MessageContent,
        also: Vec<Mutation>,
    ) -> Result<bool, DomainError> {
        match self.begin_transfer(source, target, meta, content, also) {
            Some(pending) => pending.finish().await.map(|()| true),
            None => Ok(false),
        }
    }

    /// Submits a [`transfer`](Self::transfer); `None` if `target` is gone.
    fn begin_transfer(
        &self,
        source: &Queue,
        target: &Arc<Queue>,
        meta: MessageMeta,
        content: MessageContent,
        also: Vec<Mutation>,
    ) -> Option<PendingAppend> {
        let now_ms = self.clock.now_ms();
        let (moved, commit) = {
            let mut state = target.lock();
            if state.deleted {
                return None;
            }
            // The message keeps its identity and sent time; retention counts from the original
            // send, as on AWS.
            let moved = MessageMeta {
                seq: state.reserve_seq(),
                available_ms: now_ms,
                receive_count: 0,
                first_receive_ms: 0,
                ..meta
            };
            let mut batch = vec![
                Mutation::PutMessage { queue: target.id, meta: moved, content: content.clone() },
                Mutation::DeleteMessage { queue: source.id, seq: meta.seq },
            ];
            if state.extend_seq_reservation(SEQ_RESERVATION_BLOCK) {
                batch.push(Mutation::PutQueue(record_of(target, &state)));
            }
            batch.extend(also);
            (moved, self.store.submit(batch))
        };
        let appended =
            Appended { sent: Vec::new(), fresh: vec![(moved, content)], remembered: Vec::new(), batch: Vec::new() };
        Some(self.pending(commit, vec![(target.clone(), appended)]))
    }

    /// Deletes messages by lease, answering for each one. A message that is already gone
    /// counts as deleted; on a FIFO queue a lease that ended is [`DomainError::LeaseExpired`].
    pub async fn delete_messages(
        &self,
        queue: &Queue,
        leases: &[LeaseRef],
    ) -> Result<Vec<Result<(), DomainError>>, DomainError> {
        let (outcomes, unlocked, commit) = {
            let mut state = queue.lock();
            if state.deleted {
                return Err(DomainError::QueueDoesNotExist);
            }
            self.refresh(queue, &mut state);
            let ready_before = state.ready_groups();
            let mut batch = Vec::new();
            let mut outcomes = Vec::with_capacity(leases.len());
            for lease in leases {
                match state.remove_leased(*lease) {
                    Ok(removed) => {
                        batch.extend(removed.map(|meta| Mutation::DeleteMessage { queue: queue.id, seq: meta.seq }));
                        outcomes.push(Ok(()));
                    }
                    Err(_) => outcomes.push(Err(DomainError::LeaseExpired)),
                }
            }
            if batch.is_empty() {
                return Ok(outcomes);
            }
            // On a FIFO queue a delete can unlock its group; wake a waiting receiver per group.
            let unlocked = state.ready_groups().saturating_sub(ready_before);
            (outcomes, unlocked, self.store.submit(batch))
        };
        for _ in 0..unlocked {
            queue.arrivals.notify_one();
        }
        commit.await?;
        Ok(outcomes)
    }

    /// Changes how long a leased message stays invisible; 0 releases it at once.
    pub fn change_visibility(
        &self,
        queue: &Queue,
        lease: LeaseRef,
        visibility_seconds: u32,
    ) -> Result<(), DomainError> {
        let became_visible = {
            let mut state = queue.lock();
            if state.deleted {
                return Err(DomainError::QueueDoesNotExist);
            }
            self.refresh(queue, &mut state);
            let released = state
                .change_visibility(self.clock.now_ms(), lease, u64::from(visibility_seconds) * 1000, LEASE_TOTAL_MS_MAX)
                .map_err(|error| match error {
                    VisibilityChangeError::NotInFlight => DomainError::MessageNotInFlight,
                    VisibilityChangeError::NotCurrent => DomainError::LeaseNotCurrent,
                    VisibilityChangeError::TooLong => {
                        DomainError::VisibilityTimeoutTooLong { max_seconds: LEASE_TOTAL_MS_MAX / 1000 }
                    }
                })?;
            if let Some(meta) = state.meta(lease.seq).filter(|_| released) {
                drop(self.store.submit(vec![Mutation::UpdateMessage { queue: queue.id, meta }]));
            }
            released
        };
        if became_visible {
            queue.arrivals.notify_one();
        }
        Ok(())
    }

    /// Deletes every message in the queue. Refused within [`PURGE_INTERVAL_MS`] of the last purge.
    pub async fn purge(&self, queue: &Queue) -> Result<(), DomainError> {
        let now_ms = self.clock.now_ms();
        let commit = {
            let mut state = queue.lock();
            if state.deleted {
                return Err(DomainError::QueueDoesNotExist);
            }
            if state.last_purge_ms.is_some_and(|last| now_ms < last + PURGE_INTERVAL_MS) {
                return Err(DomainError::PurgeInProgress);
            }
            state.last_purge_ms = Some(now_ms);
            let up_to_seq = state.purge();
            self.store.submit(vec![Mutation::PurgeMessages { queue: queue.id, up_to_seq }])
        };
        Ok(commit.await?)
    }
}

/// What appending messages to one queue decided, under its lock.
struct Appended {
    sent: Vec<SentMessage>,
    /// Messages to index once durable.
    fresh: Vec<(MessageMeta, MessageContent)>,
    /// Deduplication keys taken, to give back if the write fails.
    remembered: Vec<DedupKey>,
    batch: Vec<Mutation>,
}

impl Appended {
    fn forget(&self, queue: &Queue) {
        let mut state = queue.lock();
        for key in &self.remembered {
            state.forget_dedup(key);
        }
    }
}

/// An append (a send, a fan-out, a move) whose store batch is submitted, and what must follow
/// once its commit resolves: index the messages if it is durable, give back the deduplication
/// keys it took if it failed. The request that appended awaits [`finish`](Self::finish); if that
/// request is dropped first (its client went away mid-request), the rest moves to a task of its
/// own. Otherwise a write the store makes durable would stay unreceivable until a restart, and a
/// FIFO deduplication id would keep answering for a message nobody can receive.
struct PendingAppend {
    clock: Arc<dyn Clock>,
    /// `None` once resolved.
    commit: Option<wharf_store::Commit>,
    appended: Vec<(Arc<Queue>, Appended)>,
    /// A sequence log's deduplication key, given back if the write fails.
    forget_on_failure: Option<(Arc<Queue>, DedupKey)>,
}

impl PendingAppend {
    async fn finish(mut self) -> Result<(), DomainError> {
        let Some(commit) = self.commit.as_mut() else { return Ok(()) };
        let result = commit.await;
        self.commit = None;
        self.settle(result).map_err(DomainError::from)
    }

    fn settle(&mut self, result: Result<(), wharf_store::StoreError>) -> Result<(), wharf_store::StoreError> {
        let appended = std::mem::take(&mut self.appended);
        match &result {
            Ok(()) => {
                for (queue, done) in appended {
                    index_durable(self.clock.as_ref(), &queue, done.fresh);
                }
            }
            Err(_) => {
                for (queue, done) in &appended {
                    done.forget(queue);
                }
                if let Some((log, key)) = self.forget_on_failure.take() {
                    log.lock().forget_dedup(&key);
                }
            }
        }
        result
    }
}

impl Drop for PendingAppend {
    fn drop(&mut self) {
        let Some(commit) = self.commit.take() else { return };
        let mut rest = PendingAppend {
            clock: self.clock.clone(),
            commit: None,
            appended: std::mem::take(&mut self.appended),
            forget_on_failure: self.forget_on_failure.take(),
        };
        // Dropped outside a runtime only when the process is going away; a restart rebuilds the
        // index from the store.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let result = commit.await;
                let _ = rest.settle(result);
            });
        }
    }
}

/// Indexes messages whose write is durable, keeping their contents in memory if the budget
/// allows, and wakes a receiver per visible one.
fn index_durable(clock: &dyn Clock, queue: &Queue, messages: Vec<(MessageMeta, MessageContent)>) {
    let now_ms = clock.now_ms();
    let newly_visible = {
        let mut state = queue.lock();
        let mut visible = 0;
        for (meta, content) in messages {
            visible += usize::from(state.insert(meta, now_ms));
            state.cache_content(meta.seq, content);
        }
        visible
    };
    for _ in 0..newly_visible {
        queue.arrivals.notify_one();
    }
}

/// Assigns sequence numbers and ids, applies FIFO deduplication and builds the store batch for
/// messages appended to one queue whose lock the caller holds.
fn append_locked(queue: &Queue, state: &mut QueueState, messages: Vec<NewMessage>, now_ms: u64) -> Appended {
    let mut appended = Appended {
        sent: Vec::with_capacity(messages.len()),
        fresh: Vec::with_capacity(messages.len()),
        remembered: Vec::new(),
        batch: Vec::with_capacity(messages.len()),
    };
    for message in messages {
        let dedup_key = dedup_key(&state.settings, &message.content);
        if let Some(found) = dedup_key.and_then(|key| state.deduplicated(&key, now_ms)) {
            appended.sent.push(SentMessage { message_id: found.message_id, seq: found.seq });
            continue;
        }
        let delay_seconds = message.delay_seconds.unwrap_or(state.settings.delay_seconds);
        let meta = MessageMeta {
            seq: state.reserve_seq(),
            message_id: *uuid::Uuid::new_v4().as_bytes(),
            sent_ms: now_ms,
            available_ms: now_ms + u64::from(delay_seconds) * 1000,
            receive_count: 0,
            first_receive_ms: 0,
            size_bytes: message.size_bytes,
            group_key: message.content.group_id.as_deref().map_or(0, group_key),
        };
        if let Some(key) = dedup_key {
            let found =
                Deduplicated { message_id: meta.message_id, seq: meta.seq, expires_ms: now_ms + DEDUP_WINDOW_MS };
            let record =
                DedupRecord { key, message_id: found.message_id, seq: found.seq, expires_ms: found.expires_ms };
            state.remember_dedup(key, found);
            appended.remembered.push(key);
            appended.batch.push(Mutation::PutDedup { queue: queue.id, record });
        }
        appended.sent.push(SentMessage { message_id: meta.message_id, seq: meta.seq });
        appended.fresh.push((meta, message.content.clone()));
        appended.batch.push(Mutation::PutMessage { queue: queue.id, meta, content: message.content });
    }
    if state.extend_seq_reservation(SEQ_RESERVATION_BLOCK) {
        appended.batch.push(Mutation::PutQueue(record_of(queue, state)));
    }
    appended
}

fn record_of(queue: &Queue, state: &QueueState) -> QueueRecord {
    let mut attributes = state.settings.to_pairs();
    attributes.push((SEQ_RESERVED_PAIR.to_string(), state.seq_reserved.to_string()));
    QueueRecord {
        id: queue.id,
        account: queue.account.clone(),
        name: queue.name.clone(),
        created_ms: queue.created_ms,
        modified_ms: state.modified_ms,
        attributes,
        tags: state.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    }
}

/// A stable digest of a message group id (the first 8 bytes of its SHA-256, never 0, which
/// means "no group"). Stored with each message, so it must not change between versions.
pub fn group_key(group_id: &str) -> u64 {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(group_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first).max(1)
}

/// The key a FIFO queue deduplicates a message by: its deduplication id, within its group when
/// the queue deduplicates per group, as a [`DedupKey`] digest. None on standard queues and for
/// messages without an id.
fn dedup_key(settings: &QueueSettings, content: &MessageContent) -> Option<DedupKey> {
    use sha2::Digest as _;
    let id = content.deduplication_id.as_deref().filter(|_| settings.fifo)?;
    let mut hasher = sha2::Sha256::new();
    if settings.dedup_per_group {
        // Group and deduplication ids are printable characters, so NUL cannot be inside either.
        hasher.update(content.group_id.as_deref().unwrap_or("").as_bytes());
        hasher.update([0]);
    }
    hasher.update(id.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&hasher.finalize()[..16]);
    Some(key)
}
