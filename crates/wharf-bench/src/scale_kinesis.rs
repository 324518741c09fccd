//! `stream-scale`, on a server of its own (see `scale.rs`): a --shards stream filled with
//! --bytes of record data (PutRecords from many producers, random partition keys so records
//! spread over every shard), then: the data directory's size against the data written, RSS,
//! and GetRecords latency at the head (TRIM_HORIZON, the oldest records), at the tail
//! (AT_SEQUENCE_NUMBER of the --read-limit'th newest record of the shard, so head and tail
//! reads return as many records) and at LATEST (nothing to return), a few hundred of each over
//! the shards in turn; then a restart and the time until the head is served again.
//!
//! Records: a 12-byte tag (`WSCL` and the record's number) then one of 64 pseudo-random
//! payloads, so the data does not compress and every record read back is checked byte for byte.
//! Retention reclaim is not measured: the real binary's minimum retention is 24 hours.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use serde_json::json;
use tokio::time::Instant;

use crate::kinesis_api::{
    sequence_order, EntryOutcome, IteratorStart, KinesisClient, Placement, RecordCodec, PUT_RECORDS_BYTES_MAX,
    PUT_RECORDS_ENTRIES_MAX,
};
use crate::report::{MessageCount, OperationSet, Report};
use crate::scale::{self, mib, millis, progress, secs, wait_until, ServerArgs};
use crate::scenario::join_workers;

/// The records' run tag ([`RecordCodec`]).
const TAG: u32 = u32::from_be_bytes(*b"WSCL");
/// Different payloads (record suffixes) the records take in turn.
const PAYLOADS: usize = 64;
const READY_TIMEOUT: Duration = Duration::from_secs(900);
const ATTEMPTS: u32 = 5;

#[derive(Args, Debug)]
pub struct StreamScaleArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Shards of the stream.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub shards: u32,
    /// Record data to write in all, in bytes (suffixes K, M, G for KiB, MiB, GiB).
    #[arg(long, default_value = "10G", value_parser = parse_bytes)]
    pub bytes: u64,
    /// Data bytes per record (a multiple of 3 plus 12 keeps base64 unpadded; any size ≥ 12 works).
    #[arg(long, default_value_t = 20_481, value_parser = clap::value_parser!(u64).range(12..=1_048_576))]
    pub record_bytes: u64,
    /// Records per PutRecords (the request's data and keys must stay within 5 MiB).
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u32).range(1..=i64::from(PUT_RECORDS_ENTRIES_MAX)))]
    pub batch_records: u32,
    /// Concurrent PutRecords producers, one connection each.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub producers: u64,
    /// Reads of each kind (head, tail, latest), over the shards in turn.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub reads: u64,
    /// GetRecords Limit for head and tail reads.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub read_limit: u32,
}

fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((index, _)) => text.split_at(index),
        None => (text, ""),
    };
    let number: u64 = number.parse().map_err(|_| format!("{text} is not a size"))?;
    let unit = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KIB" => 1 << 10,
        "M" | "MIB" => 1 << 20,
        "G" | "GIB" => 1 << 30,
        _ => return Err(format!("unknown unit in {text}")),
    };
    number.checked_mul(unit).filter(|bytes| *bytes > 0).ok_or_else(|| format!("{text} is out of range"))
}

pub async fn run_stream_scale(args: StreamScaleArgs) -> anyhow::Result<Report> {
    let quiet = args.server.quiet;
    let record_bytes = usize::try_from(args.record_bytes)?;
    let request_bytes = u64::from(args.batch_records) * (args.record_bytes + 16);
    anyhow::ensure!(
        request_bytes <= PUT_RECORDS_BYTES_MAX,
        "--batch-records × (--record-bytes + key) is {request_bytes} bytes, over PutRecords' 5 MiB"
    );
    let total_records = args.bytes.div_ceil(args.record_bytes);
    let producers = usize::try_from(args.producers)?;
    let mut server = args.server.server("stream")?;
    let spawn_to_listen = server.start().await?;
    let config = args.server.endpoint_config(producers)?;
    let kinesis = KinesisClient::new(&config)?;
    let stream = "stream-scale".to_owned();
    let mut operations = OperationSet::default();

    kinesis.create_stream(&stream, args.shards).await.context("CreateStream")?;
    let created = Instant::now();
    loop {
        if let Ok(summary) = kinesis.describe_stream_summary(&stream).await {
            if summary.stream_status == "ACTIVE" {
                break;
            }
        }
        anyhow::ensure!(created.elapsed() < Duration::from_secs(120), "stream not ACTIVE within 120 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut shard_ids = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let (ids, next) = kinesis.list_shards(&stream, token.as_deref()).await.context("ListShards")?;
        shard_ids.extend(ids);
        match next {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let empty = server.memory()?;
    let empty_disk = server.disk_usage()?;
    progress(
        quiet,
        format!(
            "wharf pid {:?}: stream of {} shards; empty RSS {} MiB; writing {total_records} records of {record_bytes} B",
            server.pid(),
            shard_ids.len(),
            mib(empty.rss)
        ),
    );

    // Fill.
    let records = Arc::new(RecordCodec::with_suffixes(record_bytes, TAG, PAYLOADS));
    let batches = total_records.div_ceil(u64::from(args.batch_records));
    let next_batch = Arc::new(AtomicU64::new(0));
    let written = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let sequences: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
    let fill_started = Instant::now();
    let reporter = {
        let written = Arc::clone(&written);
        let record_bytes = args.record_bytes;
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let now = written.load(Ordering::Relaxed);
                progress(
                    quiet,
                    format!(
                        "  written {now} records ({:.1} MB/s over the last 5 s)",
                        (now - last) as f64 * record_bytes as f64 / 5e6
                    ),
                );
                last = now;
            }
        })
    };
    let handles = (0..producers)
        .map(|_| {
            let (kinesis, records, next_batch, written, failed, sequences) = (
                kinesis.clone(),
                Arc::clone(&records),
                Arc::clone(&next_batch),
                Arc::clone(&written),
                Arc::clone(&failed),
                Arc::clone(&sequences),
            );
            let stream = stream.clone();
            let batch_records = u64::from(args.batch_records);
            tokio::spawn(async move {
                let mut operations = OperationSet::default();
                let mut local: HashMap<String, Vec<String>> = HashMap::new();
                loop {
                    let batch = next_batch.fetch_add(1, Ordering::Relaxed);
                    if batch >= batches {
                        break;
                    }
                    let first = batch * batch_records;
                    let mut pending: Vec<u64> = (first..(first + batch_records).min(total_records)).collect();
                    for _ in 0..ATTEMPTS {
                        let body = records.put_records_body(&stream, &pending);
                        let started = Instant::now();
                        match kinesis.put_records_placed(body).await {
                            Ok(reply) if reply.entries.len() == pending.len() => {
                                operations.operation("PutRecords").record_success(started.elapsed());
                                let mut retry = Vec::new();
                                for (id, entry) in pending.iter().zip(reply.entries) {
                                    match entry {
                                        EntryOutcome::Written(Some(Placement { shard_id, sequence_number })) => {
                                            local.entry(shard_id).or_default().push(sequence_number);
                                        }
                                        _ => retry.push(*id),
                                    }
                                }
                                written.fetch_add((pending.len() - retry.len()) as u64, Ordering::Relaxed);
                                if !retry.is_empty() {
                                    operations.operation("PutRecords").record_error("records failed");
                                }
                                pending = retry;
                            }
                            Ok(_) => {
                                operations.operation("PutRecords").record_failure("reply has the wrong record count")
                            }
                            Err(error) => {
                                operations.operation("PutRecords").record_failure(&error.key());
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                        }
                        if pending.is_empty() {
                            break;
                        }
                    }
                    failed.fetch_add(pending.len() as u64, Ordering::Relaxed);
                }
                if let Ok(mut all) = sequences.lock() {
                    for (shard, mut list) in local {
                        all.entry(shard).or_default().append(&mut list);
                    }
                }
                operations
            })
        })
        .collect();
    operations.merge(&join_workers(handles).await?);
    let fill_time = fill_started.elapsed();
    reporter.abort();
    let written_records = written.load(Ordering::Relaxed);
    let written_bytes = written_records * args.record_bytes;
    progress(
        quiet,
        format!("wrote {written_records} records, {} MiB, in {:.1} s", mib(written_bytes), fill_time.as_secs_f64()),
    );
    let mut sequences = std::mem::take(&mut *sequences.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    for list in sequences.values_mut() {
        list.sort_by(|left, right| sequence_order(left, right));
    }
    let per_shard: Vec<usize> = shard_ids.iter().map(|id| sequences.get(id).map_or(0, Vec::len)).collect();
    let (min_shard, max_shard) =
        (per_shard.iter().copied().min().unwrap_or(0), per_shard.iter().copied().max().unwrap_or(0));

    tokio::time::sleep(Duration::from_secs(2)).await;
    let full = server.memory()?;
    let full_disk = server.disk_usage()?;

    // Reads: head, tail and latest on each shard in turn, one at a time.
    let bad_records = AtomicU64::new(0);
    let short_reads = AtomicU64::new(0);
    let read_limit = args.read_limit;
    let read_once = |shard: String, kind: &'static str| {
        let kinesis = kinesis.clone();
        let stream = stream.clone();
        let records = Arc::clone(&records);
        let start_sequence: Option<String> = match kind {
            "tail" => sequences.get(&shard).and_then(|list| {
                list.get(list.len().saturating_sub(usize::try_from(read_limit).unwrap_or(usize::MAX))).cloned()
            }),
            _ => None,
        };
        let expected = match kind {
            "latest" => 0,
            _ => u64::from(read_limit).min(sequences.get(&shard).map_or(0, |list| list.len() as u64)),
        };
        let mut local = OperationSet::default();
        let (bad_records, short_reads) = (&bad_records, &short_reads);
        async move {
            let start = match (kind, &start_sequence) {
                ("head", _) => IteratorStart::TrimHorizon,
                ("tail", Some(sequence)) => IteratorStart::AtSequenceNumber(sequence),
                _ => IteratorStart::Latest,
            };
            let started = Instant::now();
            let iterator = match kinesis.get_shard_iterator(&stream, &shard, start).await {
                Ok(iterator) => {
                    local.operation("GetShardIterator").record_success(started.elapsed());
                    iterator
                }
                Err(error) => {
                    local.operation("GetShardIterator").record_failure(&error.key());
                    return local;
                }
            };
            let name = match kind {
                "head" => "GetRecords head",
                "tail" => "GetRecords tail",
                _ => "GetRecords latest",
            };
            let started = Instant::now();
            match kinesis.get_records(&iterator, read_limit, &records, &mut Vec::new()).await {
                Ok(page) => {
                    local.operation(name).record_success(started.elapsed());
                    bad_records.fetch_add(page.foreign, Ordering::Relaxed);
                    if page.records < expected {
                        short_reads.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(error) => local.operation(name).record_failure(&error.key()),
            }
            local
        }
    };
    let read_started = Instant::now();
    for index in 0..args.reads {
        let shard = shard_ids[usize::try_from(index % shard_ids.len() as u64).unwrap_or(0)].clone();
        for kind in ["head", "tail", "latest"] {
            let result = read_once(shard.clone(), kind).await;
            operations.merge(&result);
        }
    }
    let read_time = read_started.elapsed();
    let after_reads = server.memory()?;
    progress(quiet, format!("{} reads of each kind in {:.1} s", args.reads, read_time.as_secs_f64()));

    // Restart: time until the head of the first shard is served.
    let shutdown = server.stop().await?;
    let restarted_at = Instant::now();
    let listening = server.start().await?;
    let first_shard = shard_ids.first().cloned().context("the stream has no shards")?;
    let (ready, probes) = wait_until(restarted_at, READY_TIMEOUT, || {
        let (kinesis, stream, shard, records) =
            (kinesis.clone(), stream.clone(), first_shard.clone(), Arc::clone(&records));
        async move {
            let iterator = kinesis.get_shard_iterator(&stream, &shard, IteratorStart::TrimHorizon).await?;
            let page = kinesis.get_records(&iterator, 1, &records, &mut Vec::new()).await?;
            Ok(page.records > 0)
        }
    })
    .await?;
    let after_restart = server.memory()?;
    progress(quiet, format!("restarted: listening after {listening:?}, head served after {ready:?}"));
    let final_shutdown = server.stop().await?;
    drop(server);

    let stored = full_disk.allocated.saturating_sub(empty_disk.allocated);
    Ok(Report {
        scenario: "stream-scale",
        settings: vec![
            ("endpoint", json!(args.server.endpoint())),
            ("shards", json!(args.shards)),
            ("bytes", json!(args.bytes)),
            ("record_bytes", json!(args.record_bytes)),
            ("batch_records", json!(args.batch_records)),
            ("producers", json!(args.producers)),
            ("reads", json!(args.reads)),
            ("read_limit", json!(args.read_limit)),
        ],
        window: fill_time,
        messages: vec![MessageCount { name: "records", in_window: written_records, total: written_records }],
        figures: vec![
            ("fill_s", secs(fill_time)),
            ("fill_mb_per_s", json!(scale::round2(written_bytes as f64 / 1e6 / fill_time.as_secs_f64()))),
            ("written_data_mib", mib(written_bytes)),
            ("records_per_shard_min", json!(min_shard)),
            ("records_per_shard_max", json!(max_shard)),
            ("data_dir_empty_mib", mib(empty_disk.allocated)),
            ("data_dir_full_mib", mib(full_disk.allocated)),
            ("data_dir_full_apparent_mib", mib(full_disk.apparent)),
            ("disk_over_data_written", json!(scale::round3(stored as f64 / written_bytes.max(1) as f64))),
            ("rss_empty_mib", mib(empty.rss)),
            ("rss_full_mib", mib(full.rss)),
            ("rss_peak_during_fill_mib", mib(full.peak)),
            ("rss_after_reads_mib", mib(after_reads.rss)),
            ("reads_s", secs(read_time)),
            ("retention_reclaim", json!("not measured (minimum retention is 24 h)")),
            ("first_start_listen_ms", millis(spawn_to_listen)),
            ("shutdown_after_sigterm_ms", millis(shutdown)),
            ("restart_listen_ms", millis(listening)),
            ("restart_to_head_served_ms", millis(ready)),
            ("restart_ready_probes", json!(probes)),
            ("rss_after_restart_mib", mib(after_restart.rss)),
            ("final_shutdown_ms", millis(final_shutdown)),
        ],
        checks: vec![
            ("records_not_written", failed.load(Ordering::Relaxed)),
            ("records_read_wrong", bad_records.load(Ordering::Relaxed)),
            ("short_head_or_tail_reads", short_reads.load(Ordering::Relaxed)),
        ],
        operations,
        notes: vec![
            "measured window = fill; reads are sequential (one at a time), so their latency has no queueing".to_owned(),
            "head = TRIM_HORIZON, tail = AT_SEQUENCE_NUMBER of the read_limit'th newest record, latest = LATEST (empty)"
                .to_owned(),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_bytes("10G"), Ok(10 << 30));
        assert_eq!(parse_bytes("64m"), Ok(64 << 20));
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("5X").is_err());
    }
}
