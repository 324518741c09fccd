//! Crash safety of Kinesis records in the real binary: a record PutRecord(s) acknowledged
//! survives `kill -9` with its sequence number, each shard's records keep their order, and
//! sequence numbers keep rising after the restart.

mod common;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use common::{kinesis_client, kinesis_client_without_retries, WharfProcess};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const PRODUCERS: usize = 6;
const STREAM: &str = "crash";
const KILL_AFTER_RECORDS: usize = 3_000;

/// Data → (shard id, sequence number) of every acknowledged record.
type Acknowledged = Arc<Mutex<HashMap<String, (String, String)>>>;

async fn put_until_killed(process: &mut WharfProcess) -> HashMap<String, (String, String)> {
    let acknowledged: Acknowledged = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let reached = Arc::new(tokio::sync::Notify::new());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for task in 0..PRODUCERS {
        let client = kinesis_client_without_retries(&process.endpoint);
        let (acknowledged, count, reached, stop) = (acknowledged.clone(), count.clone(), reached.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut round = 0usize;
            while !stop.load(Ordering::SeqCst) {
                // Partition keys are short (at most 256 characters); data of varied length.
                let key_of = |index: usize| format!("t{task}-r{round}-i{index}");
                let data_of = |index: usize| format!("{}-{}", key_of(index), "x".repeat((round * 53 + index) % 900));
                let mut replies = Vec::new();
                if round.is_multiple_of(3) {
                    let data = data_of(0);
                    let put =
                        client.put_record().stream_name(STREAM).partition_key(key_of(0)).data(Blob::new(data.clone()));
                    match put.send().await {
                        Ok(put) => replies.push((data, (put.shard_id, put.sequence_number))),
                        Err(_) => break,
                    }
                } else {
                    let data: Vec<String> = (0..20).map(data_of).collect();
                    let entries = data
                        .iter()
                        .enumerate()
                        .map(|(index, d)| {
                            PutRecordsRequestEntry::builder()
                                .partition_key(key_of(index))
                                .data(Blob::new(d.clone()))
                                .build()
                                .unwrap()
                        })
                        .collect();
                    match client.put_records().stream_name(STREAM).set_records(Some(entries)).send().await {
                        Ok(put) => {
                            assert_eq!(put.failed_record_count, Some(0));
                            for (d, record) in data.into_iter().zip(put.records) {
                                replies.push((d, (record.shard_id.unwrap(), record.sequence_number.unwrap())));
                            }
                        }
                        Err(_) => break,
                    }
                }
                let added = replies.len();
                acknowledged.lock().unwrap().extend(replies);
                if count.fetch_add(added, Ordering::SeqCst) + added >= KILL_AFTER_RECORDS {
                    reached.notify_one();
                }
                round += 1;
            }
        }));
    }
    tokio::time::timeout(common::HANG_TIMEOUT, reached.notified()).await.expect("enough records acknowledged");
    process.kill9();
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.expect("producer task");
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    acknowledged
}

/// Sequence numbers are decimals too long for a u128 (AWS's have 56 digits), compared as numbers.
fn numeric_order(sequence: &str) -> (usize, &str) {
    assert!(sequence.bytes().all(|b| b.is_ascii_digit()) && !sequence.starts_with('0'), "{sequence}");
    (sequence.len(), sequence)
}

#[tokio::test]
async fn acknowledged_records_survive_kill_9_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut process = WharfProcess::start_on(dir.path());
    kinesis_client(&process.endpoint).create_stream().stream_name(STREAM).shard_count(4).send().await.unwrap();
    let acknowledged = put_until_killed(&mut process).await;
    assert!(acknowledged.len() >= KILL_AFTER_RECORDS);

    let process = WharfProcess::start_on(dir.path());
    let client = kinesis_client(&process.endpoint);
    let stored = common::read_stream(&client, STREAM).await;
    let mut found: HashMap<&str, (&str, &str)> = HashMap::new();
    for (shard, records) in &stored {
        let numbers: Vec<_> = records.iter().map(|(sequence, _)| numeric_order(sequence)).collect();
        assert!(numbers.windows(2).all(|pair| pair[0] < pair[1]), "{shard}: sequence numbers rise");
        for (sequence, data) in records {
            found.insert(data, (shard, sequence));
        }
    }
    for (data, (shard, sequence)) in &acknowledged {
        assert_eq!(found.get(data.as_str()), Some(&(shard.as_str(), sequence.as_str())), "acknowledged {data} kept");
    }

    // Records after the restart follow every record from before it on their shard.
    let put = client.put_record().stream_name(STREAM).partition_key("after").data(Blob::new("after")).send().await;
    let put = put.unwrap();
    let before = &stored[&put.shard_id];
    let last_before = before.last().map(|(sequence, _)| numeric_order(sequence)).expect("the shard had records");
    assert!(numeric_order(&put.sequence_number) > last_before);
}
