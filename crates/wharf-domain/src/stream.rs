//! Streams and their shards: ordered, retained record logs that readers replay from any point.
//!
//! A stream divides a 128-bit key space among its open shards; a record goes to the shard whose
//! range holds its key. Each shard appends to its own log in the store, at positions that rise
//! strictly and are built from the arrival time (`arrival_ms << POSITION_TIME_SHIFT`, plus one
//! for each further record in the same millisecond), so positions never repeat across restarts
//! even when retention has emptied a log, and a time maps to a position without a lookup.
//!
//! Splitting or merging closes shards and opens children that remember their parents; a closed
//! shard stays readable until its records expire.
//!
//! This module is pure: the engine (`streams.rs`) decides what to persist.

use crate::catalog::Entry;
use std::collections::BTreeMap;
use wharf_store::ShardLogId;

/// Positions are `arrival_ms << POSITION_TIME_SHIFT` plus a counter within the millisecond.
pub const POSITION_TIME_SHIFT: u32 = 20;

/// The lowest position a record that arrived at `time_ms` can have.
pub fn position_floor(time_ms: u64) -> u64 {
    time_ms.saturating_mul(1 << POSITION_TIME_SHIFT)
}

/// One shard: its place in the key space and lineage, and where its log stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// Numbers shards of a stream in creation order, from 0; never reused within the stream.
    pub index: u32,
    pub log: ShardLogId,
    pub parent: Option<u32>,
    pub adjacent_parent: Option<u32>,
    /// The inclusive range of keys the shard takes.
    pub hash_start: u128,
    pub hash_end: u128,
    pub created_ms: u64,
    /// Lower than any position the shard gives a record.
    pub starting_position: u64,
    /// Set when the shard was closed: no record the shard holds is above it.
    pub ending_position: Option<u64>,
    /// The position the next record will take.
    pub(crate) next_position: u64,
    /// Every record below this position is durable; readers never look past it.
    pub(crate) durable_position: u64,
    /// Arrival time of the newest record, 0 when none was written since start.
    pub(crate) last_arrival_ms: u64,
    /// What the shard took since its load was last measured (on-demand scaling).
    pub(crate) load: ShardLoad,
}

/// Bytes and records a shard took since `since_ms`; kept in memory only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ShardLoad {
    pub since_ms: u64,
    pub bytes: u64,
    pub records: u64,
}

impl Shard {
    pub(crate) fn new(index: u32, log: ShardLogId, hash_start: u128, hash_end: u128, now_ms: u64) -> Shard {
        let starting_position = position_floor(now_ms);
        Shard {
            index,
            log,
            parent: None,
            adjacent_parent: None,
            hash_start,
            hash_end,
            created_ms: now_ms,
            starting_position,
            ending_position: None,
            next_position: starting_position,
            durable_position: starting_position,
            last_arrival_ms: 0,
            load: ShardLoad { since_ms: now_ms, bytes: 0, records: 0 },
        }
    }

    pub fn is_open(&self) -> bool {
        self.ending_position.is_none()
    }

    pub fn holds(&self, hash_key: u128) -> bool {
        self.hash_start <= hash_key && hash_key <= self.hash_end
    }

    /// Positions below this are durable and may be read.
    pub fn durable_position(&self) -> u64 {
        self.durable_position
    }

    pub fn last_arrival_ms(&self) -> u64 {
        self.last_arrival_ms
    }

    /// Takes the position for a record arriving at `now_ms`.
    pub(crate) fn take_position(&mut self, now_ms: u64) -> u64 {
        let position = self.next_position.max(position_floor(now_ms));
        self.next_position = position + 1;
        self.last_arrival_ms = self.last_arrival_ms.max(now_ms);
        position
    }

    /// Closes the shard after everything it was given. The ending position is at least the
    /// closing time's floor, so it also tells when the shard closed.
    pub(crate) fn close(&mut self, now_ms: u64) {
        let last = self.next_position.saturating_sub(1).max(self.starting_position);
        self.ending_position = Some(last.max(position_floor(now_ms)));
    }

    /// About when the shard was closed, if it was.
    pub fn closed_ms(&self) -> Option<u64> {
        self.ending_position.map(|position| position >> POSITION_TIME_SHIFT)
    }

    /// Whether the shard took records at `time_ms`. A stream's first shards count as open
    /// from the beginning of time.
    pub fn open_at(&self, time_ms: u64) -> bool {
        let started = self.created_ms <= time_ms || (self.parent.is_none() && self.adjacent_parent.is_none());
        started && self.closed_ms().is_none_or(|closed| closed > time_ms)
    }

    /// Resumes after a restart from the newest stored record, if any.
    pub(crate) fn resume(&mut self, last_position: Option<u64>, last_arrival_ms: u64) {
        if let Some(last) = last_position {
            self.next_position = self.next_position.max(last + 1);
        }
        self.durable_position = self.next_position;
        self.last_arrival_ms = last_arrival_ms;
    }

    fn to_pair_value(&self) -> String {
        let optional = |value: Option<u64>| value.map(|v| v.to_string()).unwrap_or_default();
        [
            self.log.to_string(),
            optional(self.parent.map(u64::from)),
            optional(self.adjacent_parent.map(u64::from)),
            self.hash_start.to_string(),
            self.hash_end.to_string(),
            self.created_ms.to_string(),
            self.starting_position.to_string(),
            optional(self.ending_position),
        ]
        .join(",")
    }

    fn from_pair_value(index: u32, value: &str) -> Option<Shard> {
        let fields: Vec<&str> = value.split(',').collect();
        let [log, parent, adjacent, start, end, created, starting, ending] = fields.as_slice() else {
            return None;
        };
        let optional = |field: &str| -> Option<Option<u64>> {
            if field.is_empty() {
                Some(None)
            } else {
                field.parse().ok().map(Some)
            }
        };
        let index_of = |value: Option<u64>| value.and_then(|v| u32::try_from(v).ok());
        let starting_position: u64 = starting.parse().ok()?;
        let created_ms: u64 = created.parse().ok()?;
        Some(Shard {
            index,
            log: log.parse().ok()?,
            parent: index_of(optional(parent)?),
            adjacent_parent: index_of(optional(adjacent)?),
            hash_start: start.parse().ok()?,
            hash_end: end.parse().ok()?,
            created_ms,
            starting_position,
            ending_position: optional(ending)?,
            next_position: starting_position,
            durable_position: starting_position,
            last_arrival_ms: 0,
            load: ShardLoad { since_ms: created_ms, bytes: 0, records: 0 },
        })
    }
}

/// Splits the whole key space into `count` ranges as even as integers allow.
pub fn even_ranges(count: u32) -> Vec<(u128, u128)> {
    let count = u128::from(count.max(1));
    // 2^128 = count * quotient + remainder + 1, so i * 2^128 / count never overflows this way.
    let quotient = u128::MAX / count;
    let remainder = u128::MAX % count;
    let start = |i: u128| i * quotient + i * (remainder + 1) / count;
    (0..count).map(|i| (start(i), if i + 1 == count { u128::MAX } else { start(i + 1) - 1 })).collect()
}

/// A stream's changeable state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamState {
    pub retention_ms: u64,
    /// Capacity follows the load: the engine splits shards that take more than their share.
    pub on_demand: bool,
    /// Settings stored for a front-end without interpretation.
    pub attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// Every shard not yet expired, by index.
    pub shards: Vec<Shard>,
    pub(crate) next_shard_index: u32,
    /// Set when the stream is deleted, so a change racing the deletion does nothing.
    pub(crate) deleted: bool,
}

impl StreamState {
    pub fn shard(&self, index: u32) -> Option<&Shard> {
        self.shards.iter().find(|shard| shard.index == index)
    }

    pub(crate) fn shard_mut(&mut self, index: u32) -> Option<&mut Shard> {
        self.shards.iter_mut().find(|shard| shard.index == index)
    }

    pub fn open_shards(&self) -> impl Iterator<Item = &Shard> {
        self.shards.iter().filter(|shard| shard.is_open())
    }

    /// The open shard that takes `hash_key`. Open shards always cover the whole key space.
    pub(crate) fn route(&mut self, hash_key: u128) -> Option<&mut Shard> {
        self.shards.iter_mut().find(|shard| shard.is_open() && shard.holds(hash_key))
    }

    pub(crate) fn take_shard_index(&mut self) -> u32 {
        let index = self.next_shard_index;
        self.next_shard_index += 1;
        index
    }

    pub(crate) fn to_entry(&self, account: &str, name: &str, created_ms: u64) -> Entry {
        let mut entry = Entry::new();
        entry.insert("account".into(), account.to_string());
        entry.insert("name".into(), name.to_string());
        entry.insert("created_ms".into(), created_ms.to_string());
        entry.insert("retention_ms".into(), self.retention_ms.to_string());
        entry.insert("on_demand".into(), self.on_demand.to_string());
        entry.insert("next_shard_index".into(), self.next_shard_index.to_string());
        for (key, value) in &self.attributes {
            entry.insert(format!("attribute/{key}"), value.clone());
        }
        for (key, value) in &self.tags {
            entry.insert(format!("tag/{key}"), value.clone());
        }
        for shard in &self.shards {
            entry.insert(format!("shard/{}", shard.index), shard.to_pair_value());
        }
        entry
    }

    /// Reads a stored entry: (account, name, created_ms, state).
    pub(crate) fn from_entry(entry: &Entry) -> Option<(String, String, u64, StreamState)> {
        let field = |name: &str| entry.get(name);
        let mut state = StreamState {
            retention_ms: field("retention_ms")?.parse().ok()?,
            on_demand: field("on_demand")? == "true",
            attributes: BTreeMap::new(),
            tags: BTreeMap::new(),
            shards: Vec::new(),
            next_shard_index: field("next_shard_index")?.parse().ok()?,
            deleted: false,
        };
        for (key, value) in entry {
            if let Some(name) = key.strip_prefix("attribute/") {
                state.attributes.insert(name.to_string(), value.clone());
            } else if let Some(name) = key.strip_prefix("tag/") {
                state.tags.insert(name.to_string(), value.clone());
            } else if let Some(index) = key.strip_prefix("shard/") {
                state.shards.push(Shard::from_pair_value(index.parse().ok()?, value)?);
            }
        }
        state.shards.sort_by_key(|shard| shard.index);
        Some((field("account")?.clone(), field("name")?.clone(), field("created_ms")?.parse().ok()?, state))
    }
}

/// A stream: a name, the shards, and a notifier woken whenever records become readable.
pub struct Stream {
    /// Unique among all streams, never reused.
    pub id: u64,
    pub account: String,
    pub name: String,
    pub created_ms: u64,
    pub(crate) state: std::sync::Mutex<StreamState>,
    pub(crate) appended: tokio::sync::Notify,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Stream")
            .field("id", &self.id)
            .field("account", &self.account)
            .field("name", &self.name)
            .finish()
    }
}

impl Stream {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, StreamState> {
        // The state is changed only by code that cannot panic half-way; a poisoned lock still
        // guards consistent data.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Notified whenever records of the stream become readable (and when it is deleted).
    pub fn appends(&self) -> &tokio::sync::Notify {
        &self.appended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_ranges_cover_the_key_space_without_gaps() {
        for count in [1, 2, 3, 4, 7, 100, 1000] {
            let ranges = even_ranges(count);
            assert_eq!(ranges.len(), count as usize);
            assert_eq!(ranges[0].0, 0);
            assert_eq!(ranges.last().map(|range| range.1), Some(u128::MAX));
            for pair in ranges.windows(2) {
                assert_eq!(pair[0].1 + 1, pair[1].0);
                assert!(pair[0].0 <= pair[0].1);
            }
        }
        // The split AWS itself makes for two shards.
        assert_eq!(even_ranges(2)[1].0, 170141183460469231731687303715884105728);
    }

    #[test]
    fn positions_rise_strictly_and_follow_time() {
        let mut shard = Shard::new(0, 1, 0, u128::MAX, 1_000);
        let first = shard.take_position(1_000);
        let second = shard.take_position(1_000);
        let later = shard.take_position(2_000);
        assert!(first < second && second < later);
        assert_eq!(later, position_floor(2_000));
        // A clock that steps back never makes a position repeat.
        assert!(shard.take_position(500) > later);
    }

    #[test]
    fn stream_state_round_trips_through_its_entry() {
        let mut state = StreamState {
            retention_ms: 86_400_000,
            on_demand: true,
            attributes: BTreeMap::from([("EncryptionType".to_string(), "KMS".to_string())]),
            tags: BTreeMap::from([("team".to_string(), "a,b".to_string())]),
            shards: Vec::new(),
            next_shard_index: 3,
            deleted: false,
        };
        let mut closed = Shard::new(0, 7, 0, 99, 5);
        closed.close(5);
        let mut child = Shard::new(2, 9, 0, 99, 6);
        child.parent = Some(0);
        child.adjacent_parent = Some(1);
        state.shards = vec![closed, child];
        let entry = state.to_entry("000000000000", "clicks", 42);
        let (account, name, created_ms, decoded) = StreamState::from_entry(&entry).expect("decodes");
        assert_eq!((account.as_str(), name.as_str(), created_ms), ("000000000000", "clicks", 42));
        assert_eq!(decoded, state);
    }
}
