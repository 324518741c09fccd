//! AWS's per-shard throughput limits, enforced only when configured: each shard takes 1 MiB and
//! 1,000 records per second in, and serves 2 MiB and 5 GetRecords calls per second out.
//!
//! Each limit is a token bucket holding one second of capacity, refilled continuously by the
//! engine's clock. A write is refused record by record (PutRecords reports
//! `ProvisionedThroughputExceededException` for just the records over the limit); a read is
//! refused whole, and a large read may overdraw the byte bucket, so the next calls wait as on AWS.

use std::collections::HashMap;
use std::sync::Mutex;

pub const WRITE_BYTES_PER_SECOND: f64 = 1024.0 * 1024.0;
pub const WRITE_RECORDS_PER_SECOND: f64 = 1_000.0;
pub const READ_BYTES_PER_SECOND: f64 = 2.0 * 1024.0 * 1024.0;
pub const READ_CALLS_PER_SECOND: f64 = 5.0;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    capacity: f64,
    updated_ms: u64,
}

impl Bucket {
    fn full(capacity: f64, now_ms: u64) -> Bucket {
        Bucket { tokens: capacity, capacity, updated_ms: now_ms }
    }

    fn refill(&mut self, now_ms: u64) {
        let elapsed_ms = now_ms.saturating_sub(self.updated_ms) as f64;
        self.tokens = (self.tokens + elapsed_ms * self.capacity / 1000.0).min(self.capacity);
        self.updated_ms = now_ms.max(self.updated_ms);
    }
}

/// The buckets of one shard.
#[derive(Debug, Clone, Copy)]
struct ShardBuckets {
    write_bytes: Bucket,
    write_records: Bucket,
    read_bytes: Bucket,
    read_calls: Bucket,
}

impl ShardBuckets {
    fn new(now_ms: u64) -> ShardBuckets {
        ShardBuckets {
            write_bytes: Bucket::full(WRITE_BYTES_PER_SECOND, now_ms),
            write_records: Bucket::full(WRITE_RECORDS_PER_SECOND, now_ms),
            read_bytes: Bucket::full(READ_BYTES_PER_SECOND, now_ms),
            read_calls: Bucket::full(READ_CALLS_PER_SECOND, now_ms),
        }
    }
}

/// Every shard's buckets, by (stream id, shard index); empty and unused when limits are off.
#[derive(Default)]
pub struct Throttle {
    enabled: bool,
    shards: Mutex<HashMap<(u64, u32), ShardBuckets>>,
}

impl Throttle {
    pub fn new(enabled: bool) -> Throttle {
        Throttle { enabled, shards: Mutex::default() }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn with_shard<T>(&self, key: (u64, u32), now_ms: u64, use_buckets: impl FnOnce(&mut ShardBuckets) -> T) -> T {
        let mut shards = self.shards.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let buckets = shards.entry(key).or_insert_with(|| ShardBuckets::new(now_ms));
        for bucket in
            [&mut buckets.write_bytes, &mut buckets.write_records, &mut buckets.read_bytes, &mut buckets.read_calls]
        {
            bucket.refill(now_ms);
        }
        use_buckets(buckets)
    }

    /// Takes room for one record of `bytes` on a shard; false if the shard is over its limit.
    pub fn admit_write(&self, stream_id: u64, shard_index: u32, bytes: usize, now_ms: u64) -> bool {
        if !self.enabled {
            return true;
        }
        self.with_shard((stream_id, shard_index), now_ms, |buckets| {
            let bytes = bytes as f64;
            if buckets.write_records.tokens < 1.0 || buckets.write_bytes.tokens < bytes {
                return false;
            }
            buckets.write_records.tokens -= 1.0;
            buckets.write_bytes.tokens -= bytes;
            true
        })
    }

    /// Takes one GetRecords call on a shard; false if the shard is over its limit.
    pub fn admit_read(&self, stream_id: u64, shard_index: u32, now_ms: u64) -> bool {
        if !self.enabled {
            return true;
        }
        self.with_shard((stream_id, shard_index), now_ms, |buckets| {
            if buckets.read_calls.tokens < 1.0 || buckets.read_bytes.tokens <= 0.0 {
                return false;
            }
            buckets.read_calls.tokens -= 1.0;
            true
        })
    }

    /// Charges the bytes a read returned; the bucket may go below zero.
    pub fn charge_read(&self, stream_id: u64, shard_index: u32, bytes: usize, now_ms: u64) {
        if self.enabled {
            self.with_shard((stream_id, shard_index), now_ms, |buckets| buckets.read_bytes.tokens -= bytes as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_stop_at_a_thousand_records_a_second_and_resume_as_time_passes() {
        let throttle = Throttle::new(true);
        let admitted = (0..1_200).filter(|_| throttle.admit_write(1, 0, 10, 1_000)).count();
        assert_eq!(admitted, 1_000);
        assert!(!throttle.admit_write(1, 0, 10, 1_000));
        assert!(throttle.admit_write(1, 0, 10, 1_001), "one millisecond refills one record");
        assert!(throttle.admit_write(1, 1, 10, 1_000), "another shard has its own budget");
    }

    #[test]
    fn writes_stop_at_a_mebibyte_a_second() {
        let throttle = Throttle::new(true);
        assert!(throttle.admit_write(1, 0, 1024 * 1024, 0));
        assert!(!throttle.admit_write(1, 0, 1, 0));
        assert!(throttle.admit_write(1, 0, 1024, 1));
    }

    #[test]
    fn reads_allow_five_calls_a_second_and_a_large_read_delays_the_next() {
        let throttle = Throttle::new(true);
        assert_eq!((0..7).filter(|_| throttle.admit_read(1, 0, 0)).count(), 5);
        assert!(throttle.admit_read(1, 0, 1_000));
        throttle.charge_read(1, 0, 10 * 1024 * 1024, 1_000);
        assert!(!throttle.admit_read(1, 0, 2_000), "10 MiB read takes five seconds to pay back");
        assert!(throttle.admit_read(1, 0, 6_100));
    }

    #[test]
    fn nothing_is_refused_when_limits_are_off() {
        let throttle = Throttle::new(false);
        assert!((0..10_000).all(|_| throttle.admit_write(1, 0, 1 << 20, 0)));
        assert!((0..100).all(|_| throttle.admit_read(1, 0, 0)));
    }
}
