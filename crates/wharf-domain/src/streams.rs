//! The stream registry and every stream operation: appending records in shard order, reading
//! them back, resharding, retention, and what to persist for each.
//!
//! A stream's description (settings, tags, shards and their lineage) is one setting, rewritten
//! whole when it changes; its records live in one store log per shard. Appends to a stream are
//! decided and submitted under the stream's lock, so each shard's records reach the store in
//! position order, and become readable only once durable.

use crate::catalog;
use crate::engine::Engine;
use crate::error::DomainError;
use crate::settings::QueueName;
use crate::stream::{even_ranges, position_floor, Shard, Stream, StreamState};
use crate::topics::counter;
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use wharf_store::{Mutation, ShardLogExtent, ShardLogId, StreamRecord};

const STREAM_SETTING_PREFIX: &str = "stream/";
const NEXT_STREAM_ID_SETTING: &str = "next_stream_id";
const NEXT_SHARD_LOG_ID_SETTING: &str = "next_shard_log_id";
/// Expired records are removed from the store at most this often per stream; reads skip them
/// from the moment they expire.
const TRIM_INTERVAL_MS: u64 = 60_000;
/// A shard's write capacity; an on-demand stream splits a shard that takes more.
pub const SHARD_WRITE_BYTES_PER_SECOND: u64 = 1024 * 1024;
pub const SHARD_WRITE_RECORDS_PER_SECOND: u64 = 1_000;
/// How long a shard's load is measured before an on-demand stream decides to split it.
const LOAD_WINDOW_MS: u64 = 1_000;
/// The most open shards an on-demand stream grows to by itself (about 1 GiB/s of writes).
pub const ON_DEMAND_OPEN_SHARDS_MAX: usize = 1_024;

/// A record to append.
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub partition_key: String,
    /// Where the record falls in the stream's key space.
    pub hash_key: u128,
    pub data: Bytes,
}

/// Where an appended record was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendedRecord {
    pub shard_index: u32,
    pub log: ShardLogId,
    pub position: u64,
}

/// What one read of a shard found.
#[derive(Debug, Clone)]
pub struct ShardRead {
    pub records: Vec<StreamRecord>,
    /// Where the next read should start.
    pub next_position: u64,
    /// The shard is closed and every record it holds has been read: there is nothing after.
    pub end_of_closed_shard: bool,
    /// How far the newest record read is behind the newest record of the shard.
    pub millis_behind_latest: u64,
}

/// A stream's new settings.
#[derive(Debug, Clone)]
pub struct NewStream {
    pub shard_count: u32,
    pub on_demand: bool,
    pub retention_ms: u64,
    pub tags: BTreeMap<String, String>,
    pub attributes: BTreeMap<String, String>,
}

/// Every stream by (account, name), and the id counters.
pub(crate) struct Streams {
    registry: RwLock<HashMap<QueueName, Arc<Stream>>>,
    next_stream_id: AtomicU64,
    next_log_id: AtomicU64,
    /// When each stream last had expired records trimmed, by stream id.
    trimmed_ms: std::sync::Mutex<HashMap<u64, u64>>,
}

fn stream_setting_key(id: u64) -> String {
    format!("{STREAM_SETTING_PREFIX}{id:020}")
}

impl Streams {
    pub(crate) fn load(settings: &[(String, Vec<u8>)], extents: &[ShardLogExtent]) -> Streams {
        let mut next_stream_id = counter(settings, NEXT_STREAM_ID_SETTING);
        let mut next_log_id = counter(settings, NEXT_SHARD_LOG_ID_SETTING);
        let extents: HashMap<ShardLogId, &ShardLogExtent> = extents.iter().map(|extent| (extent.log, extent)).collect();
        let mut registry = HashMap::new();
        for (key, value) in settings {
            let Some(id) = key.strip_prefix(STREAM_SETTING_PREFIX).and_then(|id| id.parse::<u64>().ok()) else {
                continue;
            };
            let Some((account, name, created_ms, mut state)) =
                catalog::decode(value).as_ref().and_then(StreamState::from_entry)
            else {
                tracing::warn!(stream = id, "skipping a stored stream that does not decode");
                continue;
            };
            next_stream_id = next_stream_id.max(id + 1);
            for shard in &mut state.shards {
                next_log_id = next_log_id.max(shard.log + 1);
                let extent = extents.get(&shard.log);
                shard.resume(extent.map(|extent| extent.last_position), extent.map_or(0, |e| e.last_arrival_ms));
            }
            let stream = Stream {
                id,
                account: account.clone(),
                name: name.clone(),
                created_ms,
                state: std::sync::Mutex::new(state),
                appended: tokio::sync::Notify::new(),
            };
            registry.insert(QueueName { account, name }, Arc::new(stream));
        }
        Streams {
            registry: RwLock::new(registry),
            next_stream_id: AtomicU64::new(next_stream_id),
            next_log_id: AtomicU64::new(next_log_id),
            trimmed_ms: std::sync::Mutex::new(HashMap::new()),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<QueueName, Arc<Stream>>> {
        self.registry.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<QueueName, Arc<Stream>>> {
        self.registry.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn take_log_id(&self) -> ShardLogId {
        self.next_log_id.fetch_add(1, Ordering::SeqCst)
    }

    /// The mutations that persist a stream's description and the id counters it used.
    fn persist(&self, stream: &Stream, state: &StreamState) -> Vec<Mutation> {
        let entry = state.to_entry(&stream.account, &stream.name, stream.created_ms);
        vec![
            Mutation::PutSetting { key: stream_setting_key(stream.id), value: catalog::encode(&entry) },
            Mutation::PutSetting {
                key: NEXT_SHARD_LOG_ID_SETTING.into(),
                value: self.next_log_id.load(Ordering::SeqCst).to_be_bytes().to_vec(),
            },
        ]
    }
}

impl Engine {
    pub fn stream(&self, account: &str, name: &str) -> Option<Arc<Stream>> {
        self.streams.read().get(&QueueName { account: account.to_string(), name: name.to_string() }).cloned()
    }

    /// The account's streams, sorted by name.
    pub fn list_streams(&self, account: &str) -> Vec<Arc<Stream>> {
        let mut found: Vec<Arc<Stream>> =
            self.streams.read().values().filter(|stream| stream.account == account).cloned().collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        found
    }

    /// Every stream of every account.
    pub fn all_streams(&self) -> Vec<Arc<Stream>> {
        self.streams.read().values().cloned().collect()
    }

    /// Creates a stream whose open shards split the key space evenly.
    pub async fn create_stream(&self, account: &str, name: &str, new: NewStream) -> Result<Arc<Stream>, DomainError> {
        let now_ms = self.clock.now_ms();
        let (stream, commit) = {
            let mut registry = self.streams.write();
            let key = QueueName { account: account.to_string(), name: name.to_string() };
            if registry.contains_key(&key) {
                return Err(DomainError::StreamAlreadyExists);
            }
            let id = self.streams.next_stream_id.fetch_add(1, Ordering::SeqCst);
            let mut state = StreamState {
                retention_ms: new.retention_ms,
                on_demand: new.on_demand,
                attributes: new.attributes,
                tags: new.tags,
                shards: Vec::new(),
                next_shard_index: 0,
                deleted: false,
            };
            for (start, end) in even_ranges(new.shard_count) {
                let index = state.take_shard_index();
                state.shards.push(Shard::new(index, self.streams.take_log_id(), start, end, now_ms));
            }
            let stream = Arc::new(Stream {
                id,
                account: account.to_string(),
                name: name.to_string(),
                created_ms: now_ms,
                state: std::sync::Mutex::new(state.clone()),
                appended: tokio::sync::Notify::new(),
            });
            let mut batch = self.streams.persist(&stream, &state);
            batch.push(Mutation::PutSetting {
                key: NEXT_STREAM_ID_SETTING.into(),
                value: (id + 1).to_be_bytes().to_vec(),
            });
            registry.insert(key, stream.clone());
            (stream, self.store.submit(batch))
        };
        commit.await?;
        Ok(stream)
    }

    /// Deletes a stream with every record it holds.
    pub async fn delete_stream(&self, stream: &Arc<Stream>) -> Result<(), DomainError> {
        let commit = {
            let mut registry = self.streams.write();
            let key = QueueName { account: stream.account.clone(), name: stream.name.clone() };
            match registry.get(&key) {
                Some(current) if current.id == stream.id => registry.remove(&key),
                _ => return Err(DomainError::StreamDoesNotExist),
            };
            let mut state = stream.lock();
            state.deleted = true;
            let mut batch = vec![Mutation::DeleteSetting { key: stream_setting_key(stream.id) }];
            batch.extend(state.shards.iter().map(|shard| Mutation::DeleteShardLog { log: shard.log }));
            self.store.submit(batch)
        };
        stream.appended.notify_waiters();
        commit.await?;
        Ok(())
    }

    /// Changes a stream's settings under its lock and persists them; `change` fails without
    /// changing anything.
    pub async fn change_stream<T>(
        &self,
        stream: &Stream,
        change: impl FnOnce(&mut StreamState) -> Result<T, DomainError>,
    ) -> Result<T, DomainError> {
        let (result, commit) = {
            let mut state = stream.lock();
            if state.deleted {
                return Err(DomainError::StreamDoesNotExist);
            }
            let mut changed = state.clone();
            let result = change(&mut changed)?;
            *state = changed;
            (result, self.store.submit(self.streams.persist(stream, &state)))
        };
        commit.await?;
        Ok(result)
    }

    /// Appends records, each to the open shard that takes its hash key; returns once they are
    /// durable, in the order given.
    pub async fn put_records(
        &self,
        stream: &Arc<Stream>,
        records: Vec<NewRecord>,
    ) -> Result<Vec<AppendedRecord>, DomainError> {
        let now_ms = self.clock.now_ms();
        let (placed, commit) = {
            let mut state = stream.lock();
            if state.deleted {
                return Err(DomainError::StreamDoesNotExist);
            }
            let mut placed = Vec::with_capacity(records.len());
            let mut by_log: BTreeMap<ShardLogId, (u32, Vec<StreamRecord>)> = BTreeMap::new();
            for record in records {
                let Some(shard) = state.route(record.hash_key) else {
                    return Err(DomainError::ShardDoesNotExist);
                };
                let position = shard.take_position(now_ms);
                shard.load.bytes += (record.data.len() + record.partition_key.len()) as u64;
                shard.load.records += 1;
                placed.push(AppendedRecord { shard_index: shard.index, log: shard.log, position });
                by_log.entry(shard.log).or_insert_with(|| (shard.index, Vec::new())).1.push(StreamRecord {
                    position,
                    arrival_ms: now_ms,
                    partition_key: record.partition_key,
                    data: record.data,
                });
            }
            let batch: Vec<Mutation> =
                by_log.into_iter().map(|(log, (_, records))| Mutation::AppendRecords { log, records }).collect();
            (placed, self.store.submit(batch))
        };
        // The records become readable in a task of their own once durable, so a request
        // dropped while waiting (its client went away) cannot leave stored records unreadable.
        let positions: Vec<(u32, u64)> = placed.iter().map(|record| (record.shard_index, record.position)).collect();
        let stream = stream.clone();
        let readable = tokio::spawn(async move {
            commit.await?;
            {
                // Commits resolve in submission order, so this batch's end makes everything
                // before it durable too.
                let mut state = stream.lock();
                for (shard_index, position) in positions {
                    if let Some(shard) = state.shard_mut(shard_index) {
                        shard.durable_position = shard.durable_position.max(position + 1);
                    }
                }
            }
            stream.appended.notify_waiters();
            Ok::<(), wharf_store::StoreError>(())
        });
        match readable.await {
            Ok(result) => result?,
            Err(_) => return Err(wharf_store::StoreError::Closed.into()),
        }
        Ok(placed)
    }

    /// The lowest position a read of the shard may start at: its start, or the oldest record
    /// still inside retention.
    pub fn trim_horizon(&self, stream: &Stream, shard_index: u32) -> Result<u64, DomainError> {
        let state = stream.lock();
        let shard = state.shard(shard_index).ok_or(DomainError::ShardDoesNotExist)?;
        Ok(shard.starting_position.max(self.retention_floor(&state)))
    }

    /// The position after the newest durable record of the shard.
    pub fn latest_position(&self, stream: &Stream, shard_index: u32) -> Result<u64, DomainError> {
        let state = stream.lock();
        let shard = state.shard(shard_index).ok_or(DomainError::ShardDoesNotExist)?;
        Ok(shard.durable_position())
    }

    /// The position of the first record that arrived at or after `time_ms` (or where the next
    /// record will go, if none has yet).
    pub fn position_at_time(&self, stream: &Stream, shard_index: u32, time_ms: u64) -> Result<u64, DomainError> {
        let (log, durable, floor) = {
            let state = stream.lock();
            let shard = state.shard(shard_index).ok_or(DomainError::ShardDoesNotExist)?;
            (shard.log, shard.durable_position(), shard.starting_position.max(self.retention_floor(&state)))
        };
        let found = self.store.find_position_at(log, time_ms)?;
        Ok(found.map_or(durable, |position| position.min(durable)).max(floor))
    }

    fn retention_floor(&self, state: &StreamState) -> u64 {
        position_floor(self.clock.now_ms().saturating_sub(state.retention_ms))
    }

    /// Reads up to `records_max` records (and about `bytes_max` bytes) of a shard from
    /// `from_position`, skipping records that expired.
    pub fn read_shard(
        &self,
        stream: &Stream,
        shard_index: u32,
        from_position: u64,
        records_max: usize,
        bytes_max: usize,
    ) -> Result<ShardRead, DomainError> {
        let now_ms = self.clock.now_ms();
        let (log, durable, closed_complete, last_arrival_ms, from) = {
            let state = stream.lock();
            let shard = state.shard(shard_index).ok_or(DomainError::ShardDoesNotExist)?;
            let complete = !shard.is_open() && shard.durable_position == shard.next_position;
            let from = from_position.max(self.retention_floor(&state));
            (shard.log, shard.durable_position, complete, shard.last_arrival_ms, from)
        };
        let mut records =
            if from < durable { self.store.read_records(log, from, records_max, bytes_max)? } else { Vec::new() };
        records.retain(|record| record.position < durable);
        let next_position = records.last().map_or(from, |record| record.position + 1);
        let millis_behind_latest = match records.last() {
            Some(_) if next_position < durable => now_ms.saturating_sub(records[records.len() - 1].arrival_ms),
            Some(_) => 0,
            None if from < durable => now_ms.saturating_sub(last_arrival_ms),
            None => 0,
        };
        let end_of_closed_shard = closed_complete && records.is_empty() && next_position >= durable;
        Ok(ShardRead { records, next_position, end_of_closed_shard, millis_behind_latest })
    }

    /// Splits an open shard in two at `new_starting_hash`.
    pub async fn split_shard(
        &self,
        stream: &Stream,
        shard_index: u32,
        new_starting_hash: u128,
    ) -> Result<(), DomainError> {
        let now_ms = self.clock.now_ms();
        self.change_stream(stream, |state| self.split_in(state, shard_index, new_starting_hash, now_ms)).await
    }

    /// Merges two open shards whose key ranges touch.
    pub async fn merge_shards(
        &self,
        stream: &Stream,
        shard_index: u32,
        adjacent_index: u32,
    ) -> Result<(), DomainError> {
        let now_ms = self.clock.now_ms();
        self.change_stream(stream, |state| self.merge_in(state, shard_index, adjacent_index, now_ms)).await
    }

    /// Reshards to `target` open shards over even key ranges, by splitting at every boundary the
    /// target needs and then merging what lies within each target range.
    pub async fn update_shard_count(&self, stream: &Stream, target: u32) -> Result<(), DomainError> {
        let now_ms = self.clock.now_ms();
        self.change_stream(stream, |state| {
            let ranges = even_ranges(target);
            for &(boundary, _) in ranges.iter().skip(1) {
                let inside =
                    state.open_shards().find(|shard| shard.hash_start < boundary && boundary <= shard.hash_end);
                if let Some(index) = inside.map(|shard| shard.index) {
                    self.split_in(state, index, boundary, now_ms)?;
                }
            }
            for (start, end) in ranges {
                loop {
                    let mut within: Vec<(u128, u32)> = state
                        .open_shards()
                        .filter(|shard| start <= shard.hash_start && shard.hash_end <= end)
                        .map(|shard| (shard.hash_start, shard.index))
                        .collect();
                    if within.len() < 2 {
                        break;
                    }
                    within.sort();
                    self.merge_in(state, within[0].1, within[1].1, now_ms)?;
                }
            }
            Ok(())
        })
        .await
    }

    fn split_in(&self, state: &mut StreamState, index: u32, new_start: u128, now_ms: u64) -> Result<(), DomainError> {
        let parent = state.shard(index).ok_or(DomainError::ShardDoesNotExist)?;
        if !parent.is_open() {
            return Err(DomainError::ShardNotOpen);
        }
        if new_start <= parent.hash_start || new_start > parent.hash_end {
            return Err(DomainError::InvalidReshard(
                "NewStartingHashKey must be above the shard's starting hash key and within its range".into(),
            ));
        }
        let (start, end) = (parent.hash_start, parent.hash_end);
        let children = [(start, new_start - 1), (new_start, end)];
        if let Some(parent) = state.shard_mut(index) {
            parent.close(now_ms);
        }
        for (child_start, child_end) in children {
            let child_index = state.take_shard_index();
            let mut child = Shard::new(child_index, self.streams.take_log_id(), child_start, child_end, now_ms);
            child.parent = Some(index);
            state.shards.push(child);
        }
        Ok(())
    }

    fn merge_in(&self, state: &mut StreamState, index: u32, adjacent: u32, now_ms: u64) -> Result<(), DomainError> {
        let first = state.shard(index).ok_or(DomainError::ShardDoesNotExist)?;
        let second = state.shard(adjacent).ok_or(DomainError::ShardDoesNotExist)?;
        if !first.is_open() || !second.is_open() {
            return Err(DomainError::ShardNotOpen);
        }
        let touching = first.hash_end.checked_add(1) == Some(second.hash_start)
            || second.hash_end.checked_add(1) == Some(first.hash_start);
        if !touching {
            return Err(DomainError::InvalidReshard("the shards to merge must have adjacent hash key ranges".into()));
        }
        let (start, end) = (first.hash_start.min(second.hash_start), first.hash_end.max(second.hash_end));
        for closing in [index, adjacent] {
            if let Some(shard) = state.shard_mut(closing) {
                shard.close(now_ms);
            }
        }
        let child_index = state.take_shard_index();
        let mut child = Shard::new(child_index, self.streams.take_log_id(), start, end, now_ms);
        child.parent = Some(index);
        child.adjacent_parent = Some(adjacent);
        state.shards.push(child);
        Ok(())
    }

    /// Periodic upkeep, run by the server: splits hot shards of on-demand streams, removes
    /// expired records from the store, and closed shards whose records have all expired.
    pub fn sweep_streams(&self) {
        let now_ms = self.clock.now_ms();
        for stream in self.all_streams() {
            let mut batch = Vec::new();
            let mut state = stream.lock();
            if state.deleted {
                continue;
            }
            let mut changed = state.on_demand && self.split_hot_shards(&mut state, now_ms);
            if self.trim_due(stream.id, now_ms) {
                let floor = self.retention_floor(&state);
                let expired: Vec<u32> = state
                    .shards
                    .iter()
                    .filter(|shard| shard.ending_position.is_some_and(|end| end < floor))
                    .map(|shard| shard.index)
                    .collect();
                for shard in &state.shards {
                    if expired.contains(&shard.index) {
                        batch.push(Mutation::DeleteShardLog { log: shard.log });
                    } else {
                        batch.push(Mutation::TrimRecords { log: shard.log, before_position: floor });
                    }
                }
                if !expired.is_empty() {
                    state.shards.retain(|shard| !expired.contains(&shard.index));
                    changed = true;
                }
            }
            if changed {
                batch.extend(self.streams.persist(&stream, &state));
            }
            if !batch.is_empty() {
                // Nothing waits for this write: reads skip expired records whether or not it
                // lands, and a split that is lost leaves the parent open, as before.
                drop(self.store.submit(batch));
            }
        }
    }

    /// Whether the stream's expired records are due to be removed (at most once a minute).
    fn trim_due(&self, stream_id: u64, now_ms: u64) -> bool {
        let mut trimmed = self.streams.trimmed_ms.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let last = trimmed.entry(stream_id).or_insert(0);
        if *last != 0 && now_ms.saturating_sub(*last) < TRIM_INTERVAL_MS {
            return false;
        }
        *last = now_ms;
        true
    }

    /// Splits, at the middle of its key range, every open shard that took more than a shard's
    /// write capacity since it was last measured (at least a second ago). Returns whether any
    /// shard was split.
    fn split_hot_shards(&self, state: &mut StreamState, now_ms: u64) -> bool {
        let mut hot = Vec::new();
        for shard in state.shards.iter_mut().filter(|shard| shard.is_open()) {
            let elapsed_ms = now_ms.saturating_sub(shard.load.since_ms);
            if elapsed_ms < LOAD_WINDOW_MS {
                continue;
            }
            let bytes_per_second = shard.load.bytes.saturating_mul(1000) / elapsed_ms;
            let records_per_second = shard.load.records.saturating_mul(1000) / elapsed_ms;
            if (bytes_per_second > SHARD_WRITE_BYTES_PER_SECOND || records_per_second > SHARD_WRITE_RECORDS_PER_SECOND)
                && shard.hash_end > shard.hash_start
            {
                hot.push((shard.index, shard.hash_start + (shard.hash_end - shard.hash_start) / 2 + 1));
            }
            shard.load = crate::stream::ShardLoad { since_ms: now_ms, bytes: 0, records: 0 };
        }
        let mut split = false;
        for (index, middle) in hot {
            if state.open_shards().count() >= ON_DEMAND_OPEN_SHARDS_MAX {
                break;
            }
            split |= self.split_in(state, index, middle, now_ms).is_ok();
        }
        split
    }
}
