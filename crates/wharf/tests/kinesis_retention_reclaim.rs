//! Retention gives disk space back: once a stream's records expire, the space they took in the
//! data directory's file is reused by new records instead of the file growing (redb does not
//! shrink its file; freed pages are reused). Time moves on a manual clock.
//!
//! Its scale is set by `WHARF_RECLAIM_MIB` (data per round, default 48) and `WHARF_RECLAIM_SHARDS`
//! (shards holding the first round, default 2); docs/reliability.md has a 10 GiB, 100-shard run.

mod common;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ScalingType};
use common::*;
use std::sync::Arc;
use std::time::Duration;
use wharf_domain::ManualClock;

/// Records per PutRecords call and bytes per record: 3.2 MB per call, records of a size redb
/// packs without rounding (see docs/reliability.md, "Scale").
const RECORDS_PER_CALL: usize = 200;
const RECORD_BYTES: usize = 16_000;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

/// Calls per round: `WHARF_RECLAIM_MIB` of record data.
fn calls_per_round() -> usize {
    (env_or("WHARF_RECLAIM_MIB", 48) << 20) / (RECORDS_PER_CALL * RECORD_BYTES)
}

async fn put_round(client: &aws_sdk_kinesis::Client, round: usize) -> usize {
    let mut written = 0;
    for call in 0..calls_per_round() {
        let entries: Vec<_> = (0..RECORDS_PER_CALL)
            .map(|n| {
                let data = vec![(round * 31 + call * 7 + n) as u8; RECORD_BYTES];
                PutRecordsRequestEntry::builder()
                    .partition_key(format!("key-{call}-{n}"))
                    .data(Blob::new(data))
                    .build()
                    .unwrap()
            })
            .collect();
        let reply = client.put_records().stream_name("reclaim").set_records(Some(entries)).send().await.unwrap();
        assert_eq!(reply.failed_record_count(), Some(0));
        written += RECORDS_PER_CALL * RECORD_BYTES;
    }
    written
}

fn file_bytes(dir: &std::path::Path) -> u64 {
    std::fs::metadata(dir.join(wharf_store_embedded::DATABASE_FILE_NAME)).unwrap().len()
}

async fn shard_ids(client: &aws_sdk_kinesis::Client) -> Vec<String> {
    let shards = client.list_shards().stream_name("reclaim").send().await.unwrap();
    shards.shards().iter().map(|shard| shard.shard_id().to_string()).collect()
}

#[tokio::test]
async fn expired_records_free_their_space_for_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    let server = TestServer::start_with(config(Some(dir.path().to_path_buf())), Some(clock.clone())).await;
    let client = server.kinesis();
    let shards = env_or("WHARF_RECLAIM_SHARDS", 2) as i32;
    client.create_stream().stream_name("reclaim").shard_count(shards).send().await.unwrap();

    let first = put_round(&client, 0).await;
    // Close the shards that hold the first round (their children take the second), so the
    // sweeper removes them whole once everything in them has expired.
    let parents = shard_ids(&client).await;
    client
        .update_shard_count()
        .stream_name("reclaim")
        .target_shard_count(shards * 2)
        .scaling_type(ScalingType::UniformScaling)
        .send()
        .await
        .unwrap();
    let after_first = file_bytes(dir.path());
    assert!(after_first >= first as u64, "the file holds the {first} bytes written ({after_first})");

    clock.advance_ms(25 * 3600 * 1000);
    // The sweeper runs on its own every second; the expired parents disappear when it has.
    tokio::time::timeout(HANG_TIMEOUT, async {
        while shard_ids(&client).await.iter().any(|shard| parents.contains(shard)) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the sweeper removes the expired closed shards");

    let second = put_round(&client, 1).await;
    let after_second = file_bytes(dir.path());
    eprintln!(
        "file after {} MiB: {} MiB; after {} MiB more, past retention: {} MiB",
        first >> 20,
        after_first >> 20,
        second >> 20,
        after_second >> 20
    );
    // Without reclaiming, the file would hold both rounds: about twice its first size.
    assert!(
        after_second < after_first + after_first / 4,
        "expired records' space was not reused: {after_first} bytes, then {after_second}"
    );
    server.server.shutdown().await.unwrap();
}
