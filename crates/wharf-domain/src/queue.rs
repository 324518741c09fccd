//! One queue's in-memory index: which messages are delayed, visible or leased, and in what
//! order. Every method takes the current time; none touches the store, so the index is tested
//! on its own and the engine decides what to persist.
//!
//! Message states: `delayed → visible → leased → (deleted | visible again | dead-lettered)`.
//! Each message sits in exactly one of the `delayed`, `visible` and `leased` sets, keyed so the
//! next one due comes first; `expiry` orders every message by sent time for retention.
//!
//! Delivery order comes from message groups (messages without a group form group 0). `ready`
//! holds every group that can deliver now, best first:
//! - FIFO queues: a group is ready when none of its messages is leased and its oldest message is
//!   visible; groups are served oldest head first, and a receive takes a run of one group.
//! - Standard queues ("fair queues"): a group with visible messages is ready, ranked by how many
//!   of its messages are leased, so a group with a large backlog in flight cannot starve others.

use crate::settings::QueueSettings;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use wharf_store::{DedupKey, MessageContent, MessageMeta, QueueId};

/// The memory all queues together may use to keep message contents they also hold on disk, so
/// a message received soon after it was sent is served without a disk read.
#[derive(Debug)]
pub struct ContentBudget {
    used_bytes: AtomicU64,
    limit_bytes: u64,
}

impl ContentBudget {
    pub fn new(limit_bytes: u64) -> Arc<Self> {
        Arc::new(ContentBudget { used_bytes: AtomicU64::new(0), limit_bytes })
    }

    fn try_take(&self, bytes: u64) -> bool {
        self.used_bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used + bytes <= self.limit_bytes).then_some(used + bytes)
            })
            .is_ok()
    }

    fn release(&self, bytes: u64) {
        self.used_bytes.fetch_sub(bytes, Ordering::AcqRel);
    }

    pub fn used_bytes(&self) -> u64 {
        self.used_bytes.load(Ordering::Acquire)
    }
}

/// Bytes a cached content is charged for: the body and attribute values plus a fixed overhead.
fn cache_cost(content: &MessageContent) -> u64 {
    const OVERHEAD_BYTES: u64 = 128;
    let attributes: usize = content
        .attributes
        .iter()
        .chain(&content.system_attributes)
        .map(|attribute| {
            attribute.name.len()
                + attribute.data_type.len()
                + match &attribute.value {
                    wharf_store::AttributeValueRecord::Text(text) => text.len(),
                    wharf_store::AttributeValueRecord::Binary(bytes) => bytes.len(),
                }
        })
        .sum();
    OVERHEAD_BYTES + (content.body.len() + attributes + content.sender_id.len()) as u64
}

/// Names one receive of one message. The message id guards against a sequence number that was
/// used again after a restart; a lease is current only while the message's receive count still
/// equals the count it was granted at, so a later receive supersedes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseRef {
    pub seq: u64,
    pub message_id: [u8; 16],
    pub receive_count: u32,
}

impl LeaseRef {
    /// The lease a message's current receive holds.
    pub fn of(meta: &MessageMeta) -> Self {
        LeaseRef { seq: meta.seq, message_id: meta.message_id, receive_count: meta.receive_count }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryState {
    Delayed { available_ms: u64 },
    Visible,
    Leased { deadline_ms: u64, leased_at_ms: u64 },
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    meta: MessageMeta,
    state: EntryState,
}

/// Message counts as of one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounts {
    pub visible: u64,
    pub leased: u64,
    pub delayed: u64,
}

/// What [`QueueState::refresh`] changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Refreshed {
    /// Messages dropped for being past the retention period.
    pub expired: Vec<u64>,
    /// Messages whose lease ran out; visible again with a raised receive count.
    pub returned: Vec<MessageMeta>,
    /// Deduplication keys whose window ended.
    pub dedup_expired: Vec<DedupKey>,
}

/// One message group's part of the delivery order.
#[derive(Debug, Default)]
struct Group {
    /// FIFO: every message of the group, in any state. Standard: its visible messages.
    pending: BTreeSet<u64>,
    /// How many of its messages are leased.
    leased: u32,
    /// The group's current key in `ready` (rank, next seq), if it is there.
    ready_key: Option<(u32, u64)>,
}

/// A deduplication id accepted within the window, and the message it produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deduplicated {
    pub message_id: [u8; 16],
    pub seq: u64,
    pub expires_ms: u64,
}

/// What a claim took off the queue.
#[derive(Debug, Default)]
pub(crate) struct Claim {
    /// Messages now leased to the caller, with their receive count already raised.
    pub leased: Vec<MessageMeta>,
    /// Messages whose receive count passed the dead-letter limit; removed from this queue.
    pub dead_lettered: Vec<MessageMeta>,
}

pub(crate) struct QueueState {
    pub settings: QueueSettings,
    pub tags: BTreeMap<String, String>,
    pub modified_ms: u64,
    pub deleted: bool,
    pub last_purge_ms: Option<u64>,
    entries: BTreeMap<u64, Entry>,
    visible: BTreeSet<u64>,
    delayed: BTreeSet<(u64, u64)>,
    leased: BTreeSet<(u64, u64)>,
    expiry: BTreeSet<(u64, u64)>,
    groups: HashMap<u64, Group>,
    /// Groups that can deliver now: (rank, seq of the group's next message, group key).
    ready: BTreeSet<(u32, u64, u64)>,
    dedup: HashMap<DedupKey, Deduplicated>,
    dedup_expiry: BTreeSet<(u64, DedupKey)>,
    /// FIFO receive attempts: id → (when it stops counting, the leases it got).
    attempts: HashMap<String, (u64, Vec<LeaseRef>)>,
    next_seq: u64,
    /// Sequence numbers up to this one may have been handed out before a restart; it is
    /// persisted ahead of use so a restarted queue never hands one out twice.
    pub seq_reserved: u64,
    /// Messages with `seq <= purged_up_to` were purged; a send that commits late must not
    /// bring one back.
    purged_up_to: u64,
    /// Contents kept in memory as well as on disk, within the shared budget.
    cached: HashMap<u64, (MessageContent, u64)>,
    budget: Arc<ContentBudget>,
}

impl QueueState {
    pub fn new(
        settings: QueueSettings,
        tags: BTreeMap<String, String>,
        modified_ms: u64,
        budget: Arc<ContentBudget>,
    ) -> Self {
        QueueState {
            settings,
            tags,
            modified_ms,
            deleted: false,
            last_purge_ms: None,
            entries: BTreeMap::new(),
            visible: BTreeSet::new(),
            delayed: BTreeSet::new(),
            leased: BTreeSet::new(),
            expiry: BTreeSet::new(),
            groups: HashMap::new(),
            ready: BTreeSet::new(),
            dedup: HashMap::new(),
            dedup_expiry: BTreeSet::new(),
            attempts: HashMap::new(),
            next_seq: 1,
            seq_reserved: 0,
            purged_up_to: 0,
            cached: HashMap::new(),
            budget,
        }
    }

    /// Keeps a present message's content in memory if the budget allows.
    pub fn cache_content(&mut self, seq: u64, content: MessageContent) {
        let cost = cache_cost(&content);
        if self.entries.contains_key(&seq) && self.budget.try_take(cost) {
            if let Some((_, replaced)) = self.cached.insert(seq, (content, cost)) {
                self.budget.release(replaced);
            }
        }
    }

    pub fn cached_content(&self, seq: u64) -> Option<MessageContent> {
        self.cached.get(&seq).map(|(content, _)| content.clone())
    }

    fn uncache(&mut self, seq: u64) {
        if let Some((_, cost)) = self.cached.remove(&seq) {
            self.budget.release(cost);
        }
    }

    fn uncache_all(&mut self) {
        let released: u64 = self.cached.drain().map(|(_, (_, cost))| cost).sum();
        self.budget.release(released);
    }

    /// Marks the queue deleted and gives back its cached contents.
    pub fn mark_deleted(&mut self) {
        self.deleted = true;
        self.uncache_all();
    }

    pub fn reserve_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Continues numbering after everything a previous run may have handed out.
    pub fn resume_seq_after(&mut self, reserved: u64) {
        self.seq_reserved = reserved;
        self.next_seq = self.next_seq.max(reserved + 1);
    }

    /// Extends the persisted reservation when the numbers handed out have reached it; the
    /// caller persists the queue record in the same batch as the messages. Returns whether it
    /// did.
    pub fn extend_seq_reservation(&mut self, block: u64) -> bool {
        if self.next_seq <= self.seq_reserved + 1 {
            return false;
        }
        self.seq_reserved = self.next_seq - 1 + block;
        true
    }

    /// The message a deduplication key produced, if the key is inside its window.
    pub fn deduplicated(&self, key: &DedupKey, now_ms: u64) -> Option<Deduplicated> {
        self.dedup.get(key).copied().filter(|found| found.expires_ms > now_ms)
    }

    pub fn remember_dedup(&mut self, key: DedupKey, found: Deduplicated) {
        if let Some(previous) = self.dedup.insert(key, found) {
            self.dedup_expiry.remove(&(previous.expires_ms, key));
        }
        self.dedup_expiry.insert((found.expires_ms, key));
    }

    /// Forgets a key whose message never became durable.
    pub fn forget_dedup(&mut self, key: &DedupKey) {
        if let Some(previous) = self.dedup.remove(key) {
            self.dedup_expiry.remove(&(previous.expires_ms, *key));
        }
    }

    /// Records what a receive attempt leased, so a retry can get the same messages.
    pub fn remember_attempt(&mut self, id: String, now_ms: u64, expires_ms: u64, leases: Vec<LeaseRef>) {
        self.attempts.retain(|_, (until_ms, _)| *until_ms > now_ms);
        self.attempts.insert(id, (expires_ms, leases));
    }

    /// Leases again, for `visibility_ms` from now, what an earlier attempt with this id got,
    /// provided every one of those leases is still current. Returns the messages.
    pub fn replay_attempt(&mut self, id: &str, now_ms: u64, visibility_ms: u64) -> Option<Vec<MessageMeta>> {
        let leases = self.attempts.get(id).filter(|(until_ms, _)| *until_ms > now_ms)?.1.clone();
        let mut renewed = Vec::with_capacity(leases.len());
        for lease in &leases {
            let entry = self.entries.get(&lease.seq)?;
            let EntryState::Leased { leased_at_ms, .. } = entry.state else { return None };
            if entry.meta.message_id != lease.message_id || entry.meta.receive_count != lease.receive_count {
                return None;
            }
            renewed.push((entry.meta, leased_at_ms));
        }
        let deadline_ms = now_ms.saturating_add(visibility_ms);
        for (meta, leased_at_ms) in &renewed {
            self.transition(meta.seq, EntryState::Leased { deadline_ms, leased_at_ms: *leased_at_ms });
        }
        Some(renewed.into_iter().map(|(meta, _)| meta).collect())
    }

    fn fifo(&self) -> bool {
        self.settings.fifo
    }

    /// Recomputes a group's place in `ready` after any change to it, and drops groups that
    /// hold nothing any more.
    fn rerank(&mut self, group_key: u64) {
        let Some(group) = self.groups.get_mut(&group_key) else { return };
        let key = match group.pending.first() {
            None => None,
            Some(&head) if self.settings.fifo => {
                let head_visible = self.entries.get(&head).is_some_and(|entry| entry.state == EntryState::Visible);
                (group.leased == 0 && head_visible).then_some((0, head))
            }
            Some(&head) => Some((group.leased, head)),
        };
        if group.ready_key != key {
            if let Some((rank, seq)) = group.ready_key {
                self.ready.remove(&(rank, seq, group_key));
            }
            if let Some((rank, seq)) = key {
                self.ready.insert((rank, seq, group_key));
            }
            group.ready_key = key;
        }
        if group.pending.is_empty() && group.leased == 0 {
            self.groups.remove(&group_key);
        }
    }

    /// Puts a message into the set of its state and updates its group.
    fn enter_state(&mut self, seq: u64, group_key: u64, state: EntryState) {
        let fifo = self.fifo();
        let group = self.groups.entry(group_key).or_default();
        match state {
            EntryState::Delayed { available_ms } => {
                self.delayed.insert((available_ms, seq));
            }
            EntryState::Visible => {
                self.visible.insert(seq);
                if !fifo {
                    group.pending.insert(seq);
                }
            }
            EntryState::Leased { deadline_ms, .. } => {
                self.leased.insert((deadline_ms, seq));
                group.leased += 1;
            }
        }
        self.rerank(group_key);
    }

    /// Takes a message out of the set of its state and updates its group.
    fn leave_state(&mut self, seq: u64, group_key: u64, state: EntryState) {
        let fifo = self.fifo();
        let group = self.groups.entry(group_key).or_default();
        match state {
            EntryState::Delayed { available_ms } => {
                self.delayed.remove(&(available_ms, seq));
            }
            EntryState::Visible => {
                self.visible.remove(&seq);
                if !fifo {
                    group.pending.remove(&seq);
                }
            }
            EntryState::Leased { deadline_ms, .. } => {
                self.leased.remove(&(deadline_ms, seq));
                group.leased = group.leased.saturating_sub(1);
            }
        }
        self.rerank(group_key);
    }

    /// Moves a present message to a new state.
    fn transition(&mut self, seq: u64, state: EntryState) {
        let Some(entry) = self.entries.get_mut(&seq) else { return };
        let (old, group_key) = (entry.state, entry.meta.group_key);
        entry.state = state;
        self.leave_state(seq, group_key, old);
        self.enter_state(seq, group_key, state);
    }

    /// Adds a message whose write is durable. Returns whether it is visible right away.
    pub fn insert(&mut self, meta: MessageMeta, now_ms: u64) -> bool {
        if self.deleted || meta.seq <= self.purged_up_to {
            return false;
        }
        self.next_seq = self.next_seq.max(meta.seq + 1);
        let state = if meta.available_ms > now_ms {
            EntryState::Delayed { available_ms: meta.available_ms }
        } else {
            EntryState::Visible
        };
        self.expiry.insert((meta.sent_ms, meta.seq));
        self.entries.insert(meta.seq, Entry { meta, state });
        if self.fifo() {
            self.groups.entry(meta.group_key).or_default().pending.insert(meta.seq);
        }
        self.enter_state(meta.seq, meta.group_key, state);
        state == EntryState::Visible
    }

    /// Moves due delayed and expired leased messages to visible and drops messages past the
    /// retention period.
    pub fn refresh(&mut self, now_ms: u64) -> Refreshed {
        let retention_ms = u64::from(self.settings.retention_seconds) * 1000;
        let mut expired = Vec::new();
        let mut returned = Vec::new();
        while let Some(&(sent_ms, seq)) = self.expiry.first() {
            if sent_ms.saturating_add(retention_ms) > now_ms {
                break;
            }
            self.remove(seq);
            expired.push(seq);
        }
        while let Some(&(available_ms, seq)) = self.delayed.first() {
            if available_ms > now_ms {
                break;
            }
            self.transition(seq, EntryState::Visible);
        }
        while let Some(&(deadline_ms, seq)) = self.leased.first() {
            if deadline_ms > now_ms {
                break;
            }
            self.transition(seq, EntryState::Visible);
            returned.extend(self.entries.get(&seq).map(|entry| entry.meta));
        }
        let mut dedup_expired = Vec::new();
        while let Some((expires_ms, _)) = self.dedup_expiry.first() {
            if *expires_ms > now_ms {
                break;
            }
            if let Some((_, key)) = self.dedup_expiry.pop_first() {
                self.dedup.remove(&key);
                dedup_expired.push(key);
            }
        }
        Refreshed { expired, returned, dedup_expired }
    }

    pub fn meta(&self, seq: u64) -> Option<MessageMeta> {
        self.entries.get(&seq).map(|entry| entry.meta)
    }

    /// Metadata of up to `max` stored messages after `after_seq`, in sequence order, whatever
    /// their state.
    pub fn metas_after(&self, after_seq: u64, max: usize) -> Vec<MessageMeta> {
        self.entries.range(after_seq.saturating_add(1)..).take(max).map(|(_, entry)| entry.meta).collect()
    }

    /// Metadata of every leased message (their receive counts are not yet on disk).
    pub fn leased_metas(&self) -> Vec<MessageMeta> {
        self.leased.iter().filter_map(|(_, seq)| self.meta(*seq)).collect()
    }

    /// Leases up to `max` visible messages for `visibility_ms`. With a dead-letter limit, a
    /// message already received that many times is removed instead and returned for moving.
    ///
    /// Messages come from the best ready group; on a FIFO queue a receive takes as long a run of
    /// one group's visible messages as it can before moving to the next group.
    pub fn claim(&mut self, now_ms: u64, max: usize, visibility_ms: u64, dead_letter_limit: Option<u32>) -> Claim {
        let mut claim = Claim::default();
        while claim.leased.len() < max {
            let Some(&(_, mut seq, group_key)) = self.ready.first() else { break };
            loop {
                let following = if self.fifo() { self.next_in_group(group_key, seq) } else { None };
                self.claim_one(seq, now_ms, visibility_ms, dead_letter_limit, &mut claim);
                match following {
                    Some(next) if claim.leased.len() < max => seq = next,
                    _ => break,
                }
            }
        }
        claim
    }

    /// Removes and returns every receivable message already received `limit` times or more (on a
    /// FIFO queue, only the heads of groups). Scans the receivable messages.
    pub fn take_exhausted(&mut self, limit: u32) -> Vec<MessageMeta> {
        let exhausted: Vec<u64> = self
            .ready
            .iter()
            .map(|&(_, seq, _)| seq)
            .filter(|seq| self.entries.get(seq).is_some_and(|entry| entry.meta.receive_count >= limit))
            .collect();
        exhausted.into_iter().filter_map(|seq| self.remove(seq)).collect()
    }

    /// The message after `seq` in a FIFO group, if it is visible.
    fn next_in_group(&self, group_key: u64, seq: u64) -> Option<u64> {
        let next = *self.groups.get(&group_key)?.pending.range(seq + 1..).next()?;
        self.entries.get(&next).filter(|entry| entry.state == EntryState::Visible).map(|_| next)
    }

    /// Leases one visible message, or removes it for the dead-letter queue.
    fn claim_one(
        &mut self,
        seq: u64,
        now_ms: u64,
        visibility_ms: u64,
        dead_letter_limit: Option<u32>,
        claim: &mut Claim,
    ) {
        let Some(entry) = self.entries.get_mut(&seq) else { return };
        if dead_letter_limit.is_some_and(|limit| entry.meta.receive_count >= limit) {
            let meta = entry.meta;
            self.remove(seq);
            claim.dead_lettered.push(meta);
            return;
        }
        entry.meta.receive_count = entry.meta.receive_count.saturating_add(1);
        if entry.meta.first_receive_ms == 0 {
            entry.meta.first_receive_ms = now_ms;
        }
        let meta = entry.meta;
        let deadline_ms = now_ms.saturating_add(visibility_ms);
        self.transition(seq, EntryState::Leased { deadline_ms, leased_at_ms: now_ms });
        claim.leased.push(meta);
    }

    /// Removes the message a lease names, if it is still the same message. On a FIFO queue the
    /// lease must also still be current: once it ended the message may be another receiver's,
    /// and deleting it would break the group's exactly-once processing.
    pub fn remove_leased(&mut self, lease: LeaseRef) -> Result<Option<MessageMeta>, LeaseExpired> {
        match self.entries.get(&lease.seq) {
            Some(entry) if entry.meta.message_id == lease.message_id => {
                let current =
                    matches!(entry.state, EntryState::Leased { .. }) && entry.meta.receive_count == lease.receive_count;
                if self.fifo() && !current {
                    return Err(LeaseExpired);
                }
                Ok(self.remove(lease.seq))
            }
            _ => Ok(None),
        }
    }

    /// Removes a message wherever it is. Returns its metadata if it was there.
    pub fn remove(&mut self, seq: u64) -> Option<MessageMeta> {
        let entry = self.entries.remove(&seq)?;
        self.uncache(seq);
        if self.fifo() {
            if let Some(group) = self.groups.get_mut(&entry.meta.group_key) {
                group.pending.remove(&seq);
            }
        }
        self.leave_state(seq, entry.meta.group_key, entry.state);
        self.expiry.remove(&(entry.meta.sent_ms, seq));
        Some(entry.meta)
    }

    /// Whether a visible message may leave the queue other than by a receive (a move task)
    /// without overtaking an earlier message of its FIFO group that is leased.
    fn movable(&self, meta: &MessageMeta) -> bool {
        !self.fifo() || self.groups.get(&meta.group_key).is_none_or(|group| group.leased == 0)
    }

    /// Up to `max` movable visible messages with `seq <= up_to_seq`, oldest first, left in place.
    pub fn visible_up_to(&self, up_to_seq: u64, max: usize) -> Vec<MessageMeta> {
        self.visible
            .range(..=up_to_seq)
            .filter_map(|seq| self.meta(*seq))
            .filter(|meta| self.movable(meta))
            .take(max)
            .collect()
    }

    /// Whether any message with `seq <= up_to_seq` is still in the queue, in any state.
    pub fn holds_any_up_to(&self, up_to_seq: u64) -> bool {
        self.entries.range(..=up_to_seq).next().is_some()
    }

    /// Takes a message out of the index if it is still visible.
    pub fn take_visible(&mut self, seq: u64) -> Option<MessageMeta> {
        let meta = self.meta(seq).filter(|meta| self.visible.contains(&seq) && self.movable(meta))?;
        self.remove(meta.seq)
    }

    /// The highest sequence number handed out so far.
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Every message in any state, for counting what a task will move.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    fn contains(&self, seq: u64) -> bool {
        self.entries.contains_key(&seq)
    }

    /// Changes the deadline of a current lease; 0 makes the message visible at once.
    /// `max_total_ms` bounds the lease measured from when it was granted.
    pub fn change_visibility(
        &mut self,
        now_ms: u64,
        lease: LeaseRef,
        visibility_ms: u64,
        max_total_ms: u64,
    ) -> Result<bool, VisibilityChangeError> {
        let entry = self
            .entries
            .get_mut(&lease.seq)
            .filter(|entry| entry.meta.message_id == lease.message_id)
            .ok_or(VisibilityChangeError::NotCurrent)?;
        let EntryState::Leased { leased_at_ms, .. } = entry.state else {
            return Err(VisibilityChangeError::NotInFlight);
        };
        if entry.meta.receive_count != lease.receive_count {
            return Err(VisibilityChangeError::NotCurrent);
        }
        let new_deadline_ms = now_ms.saturating_add(visibility_ms);
        if new_deadline_ms.saturating_sub(leased_at_ms) > max_total_ms {
            return Err(VisibilityChangeError::TooLong);
        }
        if visibility_ms == 0 {
            self.transition(lease.seq, EntryState::Visible);
            return Ok(true);
        }
        self.transition(lease.seq, EntryState::Leased { deadline_ms: new_deadline_ms, leased_at_ms });
        Ok(false)
    }

    /// Drops every message; returns the highest sequence number dropped (0 if none ever sent).
    pub fn purge(&mut self) -> u64 {
        self.uncache_all();
        self.entries.clear();
        self.visible.clear();
        self.delayed.clear();
        self.leased.clear();
        self.expiry.clear();
        self.groups.clear();
        self.ready.clear();
        self.purged_up_to = self.next_seq - 1;
        self.purged_up_to
    }

    /// How many groups can deliver now.
    pub fn ready_groups(&self) -> usize {
        self.ready.len()
    }

    pub fn counts(&self) -> QueueCounts {
        QueueCounts {
            visible: self.visible.len() as u64,
            leased: self.leased.len() as u64,
            delayed: self.delayed.len() as u64,
        }
    }

    /// The next instant something becomes visible by itself, if any.
    pub fn next_wakeup_ms(&self) -> Option<u64> {
        let delayed = self.delayed.first().map(|(at, _)| *at);
        let leased = self.leased.first().map(|(at, _)| *at);
        match (delayed, leased) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A FIFO message's lease ended before the delete that named it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LeaseExpired;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VisibilityChangeError {
    NotInFlight,
    NotCurrent,
    TooLong,
}

/// A queue: identity plus its index behind one lock.
pub struct Queue {
    pub id: QueueId,
    pub account: String,
    pub name: String,
    pub created_ms: u64,
    pub(crate) state: std::sync::Mutex<QueueState>,
    /// Wakes long-polling receivers when a message becomes visible.
    pub(crate) arrivals: tokio::sync::Notify,
}

impl Queue {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        // Index updates never leave a half-done state behind a panic, so a poisoned lock's data
        // is still consistent.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn settings(&self) -> QueueSettings {
        self.lock().settings.clone()
    }

    /// Reads one part of the settings without copying them all (for request paths).
    pub fn read_settings<T>(&self, read: impl FnOnce(&QueueSettings) -> T) -> T {
        read(&self.lock().settings)
    }

    pub fn tags(&self) -> BTreeMap<String, String> {
        self.lock().tags.clone()
    }

    pub fn modified_ms(&self) -> u64 {
        self.lock().modified_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(seq: u64, sent_ms: u64, available_ms: u64) -> MessageMeta {
        MessageMeta {
            seq,
            message_id: [0; 16],
            sent_ms,
            available_ms,
            receive_count: 0,
            first_receive_ms: 0,
            size_bytes: 1,
            group_key: 0,
        }
    }

    fn state() -> QueueState {
        QueueState::new(QueueSettings::default(), BTreeMap::new(), 0, ContentBudget::new(1 << 20))
    }

    #[test]
    fn delayed_message_becomes_visible_at_its_time() {
        let mut queue = state();
        assert!(!queue.insert(meta(1, 1000, 5000), 1000));
        assert_eq!(queue.counts(), QueueCounts { visible: 0, leased: 0, delayed: 1 });
        assert_eq!(queue.next_wakeup_ms(), Some(5000));
        queue.refresh(4999);
        assert_eq!(queue.counts().delayed, 1);
        queue.refresh(5000);
        assert_eq!(queue.counts(), QueueCounts { visible: 1, leased: 0, delayed: 0 });
    }

    #[test]
    fn lease_expires_and_message_returns_with_higher_receive_count() {
        let mut queue = state();
        queue.insert(meta(1, 0, 0), 0);
        let claim = queue.claim(0, 10, 30_000, None);
        assert_eq!(claim.leased.len(), 1);
        assert_eq!(claim.leased[0].receive_count, 1);
        assert_eq!(claim.leased[0].first_receive_ms, 0);
        assert!(queue.claim(29_999, 10, 30_000, None).leased.is_empty());
        let refreshed = queue.refresh(30_000);
        assert_eq!(refreshed.returned.iter().map(|meta| meta.receive_count).collect::<Vec<_>>(), vec![1]);
        let again = queue.claim(30_000, 10, 30_000, None);
        assert_eq!(again.leased[0].receive_count, 2);
    }

    #[test]
    fn dead_letter_limit_removes_instead_of_leasing() {
        let mut queue = state();
        queue.insert(meta(1, 0, 0), 0);
        for round in 0..2u64 {
            assert_eq!(queue.claim(round * 10, 1, 0, Some(2)).leased.len(), 1);
            queue.refresh(round * 10);
        }
        let claim = queue.claim(100, 1, 0, Some(2));
        assert!(claim.leased.is_empty());
        assert_eq!(claim.dead_lettered.len(), 1);
        assert!(!queue.contains(1));
    }

    #[test]
    fn change_visibility_rules() {
        let mut queue = state();
        queue.insert(meta(1, 0, 0), 0);
        queue.insert(meta(2, 0, 0), 0);
        let claim = queue.claim(0, 1, 10_000, None);
        let lease = LeaseRef { seq: claim.leased[0].seq, message_id: [0; 16], receive_count: 1 };
        let visible = LeaseRef { seq: 2, message_id: [0; 16], receive_count: 0 };
        assert_eq!(queue.change_visibility(0, visible, 5, 43_200_000), Err(VisibilityChangeError::NotInFlight));
        let stale = LeaseRef { seq: 1, message_id: [0; 16], receive_count: 7 };
        assert_eq!(queue.change_visibility(0, stale, 5, 43_200_000), Err(VisibilityChangeError::NotCurrent));
        let other_message = LeaseRef { message_id: [9; 16], ..lease };
        assert_eq!(queue.change_visibility(0, other_message, 5, 43_200_000), Err(VisibilityChangeError::NotCurrent));
        assert_eq!(queue.remove_leased(other_message), Ok(None));
        assert_eq!(queue.change_visibility(1000, lease, 43_200_000, 43_200_000), Err(VisibilityChangeError::TooLong));
        assert_eq!(queue.change_visibility(1000, lease, 60_000, 43_200_000), Ok(false));
        assert_eq!(queue.next_wakeup_ms(), Some(61_000));
        assert_eq!(queue.change_visibility(2000, lease, 0, 43_200_000), Ok(true));
        assert_eq!(queue.counts(), QueueCounts { visible: 2, leased: 0, delayed: 0 });
    }

    #[test]
    fn retention_drops_old_messages_in_any_state() {
        let mut queue = state();
        queue.settings.retention_seconds = 60;
        queue.insert(meta(1, 0, 0), 0);
        queue.insert(meta(2, 10_000, 10_000), 10_000);
        queue.claim(10_000, 1, 100_000, None);
        assert_eq!(queue.refresh(59_999).expired, Vec::<u64>::new());
        assert_eq!(queue.refresh(60_000).expired, vec![1]);
        assert_eq!(queue.refresh(70_000).expired, vec![2]);
        assert_eq!(queue.counts(), QueueCounts::default());
    }

    #[test]
    fn cached_contents_stay_within_the_budget_and_are_released() {
        let budget = ContentBudget::new(1000);
        let mut queue = QueueState::new(QueueSettings::default(), BTreeMap::new(), 0, budget.clone());
        let content = |size: usize| MessageContent { body: vec![b'x'; size].into(), ..Default::default() };
        queue.insert(meta(1, 0, 0), 0);
        queue.insert(meta(2, 0, 0), 0);
        queue.insert(meta(3, 0, 0), 0);
        queue.cache_content(1, content(500));
        assert_eq!(budget.used_bytes(), 628);
        queue.cache_content(2, content(500));
        assert!(queue.cached_content(2).is_none(), "over budget: left on disk only");
        queue.cache_content(3, content(100));
        queue.cache_content(9, content(10));
        assert!(queue.cached_content(9).is_none(), "absent messages are not cached");
        assert_eq!(queue.cached_content(1).map(|c| c.body.len()), Some(500));
        queue.remove(1);
        assert_eq!(budget.used_bytes(), 228);
        queue.purge();
        assert_eq!(budget.used_bytes(), 0);
    }

    fn grouped(seq: u64, group_key: u64) -> MessageMeta {
        MessageMeta { group_key, ..meta(seq, 0, 0) }
    }

    fn fifo_state() -> QueueState {
        let mut queue = state();
        queue.settings.fifo = true;
        queue
    }

    fn seqs(claim: &Claim) -> Vec<u64> {
        claim.leased.iter().map(|meta| meta.seq).collect()
    }

    #[test]
    fn fifo_groups_deliver_in_order_and_lock_while_leased() {
        let mut queue = fifo_state();
        for (seq, group) in [(1, 7), (2, 7), (3, 9), (4, 7)] {
            queue.insert(grouped(seq, group), 0);
        }
        assert_eq!(seqs(&queue.claim(0, 2, 1000, None)), [1, 2], "a run of one group");
        assert_eq!(seqs(&queue.claim(0, 10, 1000, None)), [3], "group 7 is locked");
        assert!(queue.claim(0, 10, 1000, None).leased.is_empty());
        // Releasing the head while 2 is still leased keeps the group locked.
        let head = LeaseRef { seq: 1, message_id: [0; 16], receive_count: 1 };
        assert_eq!(queue.change_visibility(0, head, 0, 43_200_000), Ok(true));
        assert!(queue.claim(0, 10, 1000, None).leased.is_empty());
        assert!(queue.remove_leased(LeaseRef { seq: 2, message_id: [0; 16], receive_count: 1 }).is_ok());
        assert_eq!(seqs(&queue.claim(0, 10, 1000, None)), [1, 4], "the released head comes first again");
        // A lease that ended cannot delete on a FIFO queue.
        queue.refresh(1000);
        assert_eq!(queue.remove_leased(LeaseRef { seq: 1, message_id: [0; 16], receive_count: 2 }), Err(LeaseExpired));
    }

    #[test]
    fn fair_ranking_serves_the_group_with_fewest_in_flight() {
        let mut queue = state();
        for seq in 1..=10 {
            queue.insert(grouped(seq, 1), 0);
        }
        queue.insert(grouped(11, 2), 0);
        queue.insert(grouped(12, 0), 0);
        // Group 1 is oldest; once one of its messages is in flight, the others go first.
        assert_eq!(seqs(&queue.claim(0, 4, 1000, None)), [1, 11, 12, 2]);
        assert_eq!(queue.counts().visible, 8);
    }

    #[test]
    fn receive_attempts_replay_only_while_untouched() {
        let mut queue = fifo_state();
        queue.insert(grouped(1, 5), 0);
        queue.insert(grouped(2, 5), 0);
        let claim = queue.claim(0, 10, 1000, None);
        let leases: Vec<LeaseRef> = claim.leased.iter().map(LeaseRef::of).collect();
        queue.remember_attempt("a".into(), 0, 300_000, leases.clone());
        let replayed = queue.replay_attempt("a", 500, 1000).expect("replayed");
        assert_eq!(replayed.iter().map(|meta| meta.seq).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(queue.next_wakeup_ms(), Some(1500), "the replay restarted the visibility timeout");
        assert!(queue.replay_attempt("b", 500, 1000).is_none());
        queue.remove_leased(leases[0]).unwrap();
        assert!(queue.replay_attempt("a", 600, 1000).is_none(), "a deleted message ends the attempt");
    }

    #[test]
    fn dedup_keys_expire_with_their_window() {
        let mut queue = fifo_state();
        let found = Deduplicated { message_id: [1; 16], seq: 1, expires_ms: 300_000 };
        queue.remember_dedup([1; 16], found);
        assert_eq!(queue.deduplicated(&[1; 16], 299_999), Some(found));
        assert_eq!(queue.deduplicated(&[1; 16], 300_000), None);
        assert_eq!(queue.refresh(300_000).dedup_expired, vec![[1; 16]]);
        queue.remember_dedup([2; 16], found);
        queue.forget_dedup(&[2; 16]);
        assert!(queue.refresh(400_000).dedup_expired.is_empty());
    }

    #[test]
    fn sequence_reservations_run_ahead_of_use() {
        let mut queue = state();
        queue.resume_seq_after(100);
        assert_eq!(queue.reserve_seq(), 101);
        assert!(queue.extend_seq_reservation(10));
        assert_eq!(queue.seq_reserved, 111);
        assert!(!queue.extend_seq_reservation(10));
    }

    #[test]
    fn purge_blocks_late_inserts_of_older_messages() {
        let mut queue = state();
        let early = queue.reserve_seq();
        let second = queue.reserve_seq();
        queue.insert(meta(second, 0, 0), 0);
        assert_eq!(queue.purge(), 2);
        assert!(!queue.insert(meta(early, 0, 0), 0));
        let later = queue.reserve_seq();
        assert!(queue.insert(meta(later, 0, 0), 0));
    }
}
