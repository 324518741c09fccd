//! The Kinesis Data Streams scenario: create a stream, ingest with PutRecords for a fixed
//! window, read every shard back from TRIM_HORIZON with GetRecords, compare, delete the stream.
//!
//! 1. Setup: CreateStream (a stream that already exists is refused: its records would be
//!    counted), then DescribeStreamSummary until ACTIVE.
//! 2. Ingest: `producers` tasks send PutRecords of `batch_records` records of `record_bytes`
//!    each, closed loop, for `duration`. A record refused with an ErrorCode (FailedRecordCount,
//!    e.g. ProvisionedThroughputExceededException), or in a request refused whole with a
//!    throttling error, is counted and sent again after a backoff; a request whose fate is
//!    unknown (transport error, timeout, malformed reply) is counted "in doubt" and not resent.
//! 3. Read: ListShards, then `readers` tasks take shards in turn and follow GetRecords from
//!    TRIM_HORIZON until a reply has no records and MillisBehindLatest is 0 (or a closed shard
//!    ends), bounded by `read_timeout`.
//! 4. Every record carries its run, producer and sequence ([`RecordCodec`]), so the read phase
//!    checks each record byte for byte and counts missing, duplicated, unacknowledged and
//!    foreign records; the count read must equal the count written.
//! 5. DeleteStream, whatever happened before.
//!
//! As in the other scenarios each worker keeps its own histograms and hands them back at the
//! end; only counters are shared atomics.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::CallError;
use crate::kinesis_api::{
    is_valid_stream_name, record_id, EntryOutcome, IteratorStart, KinesisClient, RecordCodec, GET_RECORDS_LIMIT_MAX,
    GET_RECORDS_REPLY_BUDGET, PARTITION_KEY_CHARS, PUT_RECORDS_BYTES_MAX, PUT_RECORDS_ENTRIES_MAX,
    RECORD_DATA_BYTES_MAX, RECORD_TAG_BYTES,
};
use crate::report::{OperationSet, Report};
use crate::scenario::{
    join_workers, print_progress, record_call_failure, stop_on_deadline_or_interrupt, unix_millis, RunControl,
    WindowedCounter, TRANSPORT_ERROR_PAUSE,
};

/// How long CreateStream may take to make the stream ACTIVE, and how often it is asked.
const STREAM_ACTIVE_TIMEOUT: Duration = Duration::from_secs(120);
const STREAM_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Backoff after throttling (records or whole requests): doubles from the first to the last.
const BACKOFF_FIRST: Duration = Duration::from_millis(20);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// A reader gives up a shard after this many failed calls in a row.
const READ_FAILURES_MAX: u32 = 10;
/// Pause between GetRecords that return nothing while the shard is still behind.
const EMPTY_PAGE_PAUSE: Duration = Duration::from_millis(200);

/// Errors after which the records were certainly not written and may be sent again.
const RETRYABLE_CODES: [&str; 4] = [
    "ProvisionedThroughputExceededException",
    "LimitExceededException",
    "ThrottlingException",
    "KMSThrottlingException",
];

#[derive(Clone, Debug)]
pub struct KinesisSettings {
    pub endpoint: String,
    pub stream_name: String,
    pub shards: u32,
    pub producers: usize,
    /// `None`: one reader per shard.
    pub readers: Option<usize>,
    pub record_bytes: usize,
    pub batch_records: u32,
    pub duration: Duration,
    pub get_records_limit: u32,
    pub read_timeout: Duration,
    pub progress: bool,
}

impl KinesisSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            is_valid_stream_name(&self.stream_name),
            "--stream must be 1 to 128 of a-z A-Z 0-9 _ . -, got {:?}",
            self.stream_name
        );
        anyhow::ensure!(self.shards >= 1, "--shards must be at least 1");
        anyhow::ensure!((1..=usize::from(u16::MAX)).contains(&self.producers), "--producers must be 1..=65535");
        anyhow::ensure!(self.readers != Some(0), "--readers must be at least 1");
        anyhow::ensure!(
            (RECORD_TAG_BYTES as u64..=RECORD_DATA_BYTES_MAX).contains(&(self.record_bytes as u64)),
            "--record-bytes must be {RECORD_TAG_BYTES}..={RECORD_DATA_BYTES_MAX} (each record carries a \
             {RECORD_TAG_BYTES}-byte tag)"
        );
        anyhow::ensure!(
            (1..=PUT_RECORDS_ENTRIES_MAX).contains(&self.batch_records),
            "--batch-records must be 1..={PUT_RECORDS_ENTRIES_MAX}"
        );
        let request_bytes = u64::from(self.batch_records) * (self.record_bytes + PARTITION_KEY_CHARS) as u64;
        anyhow::ensure!(
            request_bytes <= PUT_RECORDS_BYTES_MAX,
            "--batch-records × (--record-bytes + {PARTITION_KEY_CHARS}-byte partition key) is {request_bytes} bytes, \
             over PutRecords' {PUT_RECORDS_BYTES_MAX}"
        );
        anyhow::ensure!(
            (1..=GET_RECORDS_LIMIT_MAX).contains(&self.get_records_limit),
            "--get-records-limit must be 1..={GET_RECORDS_LIMIT_MAX}"
        );
        anyhow::ensure!(!self.duration.is_zero(), "--duration must be at least 1 s");
        Ok(())
    }

    /// The GetRecords `Limit` actually sent: the one asked for, lowered so a full page of this
    /// run's records stays within the reply budget (a peer without AWS's 10 MiB cap answers
    /// with every record asked for).
    pub fn effective_get_records_limit(&self, codec: &RecordCodec) -> u32 {
        const RECORD_JSON_OVERHEAD: usize = 200;
        let per_record = codec.encoded_len() + RECORD_JSON_OVERHEAD;
        let fitting = u32::try_from(GET_RECORDS_REPLY_BUDGET / per_record).unwrap_or(u32::MAX).max(1);
        self.get_records_limit.min(fitting)
    }
}

/// What the ingest phase leaves for the report and the read check.
struct Ingest {
    window: Duration,
    written: WindowedCounter,
    failed: WindowedCounter,
    throttled: WindowedCounter,
    in_doubt: AtomicU64,
    rejected: AtomicU64,
    /// Ids of every record acknowledged, from all producers (gathered when each ends).
    acknowledged: Mutex<Vec<u64>>,
}

/// What the read phase leaves.
struct Read {
    shards: usize,
    readers: usize,
    limit: u32,
    elapsed: Duration,
    records: AtomicU64,
    data_bytes: AtomicU64,
    foreign: AtomicU64,
    shards_not_drained: AtomicU64,
    ids: Mutex<Vec<u64>>,
}

/// How this run's records read back compare with those written.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    /// Acknowledged but never read.
    pub missing: u64,
    /// Read more than once (each extra copy counts one).
    pub duplicated: u64,
    /// Read (and this run's) but never acknowledged: from requests in doubt, or a peer's error.
    pub unacknowledged: u64,
}

/// Compares the ids written with those read; both are sorted here.
pub fn reconcile(mut written: Vec<u64>, mut read: Vec<u64>) -> Reconciliation {
    written.sort_unstable();
    written.dedup();
    read.sort_unstable();
    let read_total = read.len();
    read.dedup();
    let mut result = Reconciliation { duplicated: (read_total - read.len()) as u64, ..Default::default() };
    let (mut left, mut right) = (0, 0);
    while left < written.len() || right < read.len() {
        match (written.get(left), read.get(right)) {
            (Some(w), Some(r)) if w == r => {
                left += 1;
                right += 1;
            }
            (Some(w), Some(r)) if w < r => {
                result.missing += 1;
                left += 1;
            }
            (Some(_), None) => {
                result.missing += 1;
                left += 1;
            }
            _ => {
                result.unacknowledged += 1;
                right += 1;
            }
        }
    }
    result
}

/// Creates the stream, ingests, reads back and deletes the stream; returns the report. Fails if
/// the stream cannot be created or made ACTIVE, or a worker panics (the stream is still deleted
/// once it was created).
pub async fn run(settings: KinesisSettings, writer: KinesisClient, reader: KinesisClient) -> anyhow::Result<Report> {
    settings.validate()?;
    let mut setup = OperationSet::default();
    let setup_started = Instant::now();
    let created = create_stream(&settings, &writer, &mut setup).await;
    if let Err(error) = created {
        if error.downcast_ref::<StreamExists>().is_none() {
            // It may have been created before it failed to become ACTIVE.
            let _ = delete_stream(&settings, &writer, &mut setup).await;
        }
        return Err(error);
    }
    let active_after = setup_started.elapsed();
    let run_tag = u32::try_from(unix_millis() & u64::from(u32::MAX)).unwrap_or(0);
    let codec = RecordCodec::new(settings.record_bytes, run_tag);

    let phases = async {
        let (ingest, ingest_operations) = ingest(&settings, &writer, &codec).await?;
        let (read, read_operations) = read_back(&settings, &reader, &codec).await?;
        anyhow::Ok((ingest, ingest_operations, read, read_operations))
    }
    .await;
    let deleted = delete_stream(&settings, &writer, &mut setup).await;
    let (ingest, ingest_operations, read, read_operations) = phases?;

    let mut operations = setup;
    operations.merge(&ingest_operations);
    operations.merge(&read_operations);
    Ok(build_report(&settings, &codec, active_after, ingest, read, operations, deleted))
}

/// CreateStream refused because the stream exists: not deleted, it is not this run's.
#[derive(Debug)]
struct StreamExists;

impl std::fmt::Display for StreamExists {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("CreateStream: ResourceInUseException")
    }
}

impl std::error::Error for StreamExists {}

async fn create_stream(
    settings: &KinesisSettings,
    client: &KinesisClient,
    operations: &mut OperationSet,
) -> anyhow::Result<()> {
    let name = &settings.stream_name;
    let started = Instant::now();
    let created = client.create_stream(name, settings.shards).await;
    let stats = operations.operation("CreateStream");
    match created {
        Ok(()) => stats.record_success(started.elapsed()),
        Err(CallError::Status { code: Some(code), .. }) if code == "ResourceInUseException" => {
            stats.record_failure("HTTP 400 ResourceInUseException");
            return Err(anyhow::Error::new(StreamExists).context(format!(
                "stream {name} already exists at {}: its records would be counted; give another --stream \
                 (wharf-bench deletes its own stream at the end of a run)",
                settings.endpoint
            )));
        }
        Err(error) => {
            stats.record_failure(&error.key());
            anyhow::bail!(
                "CreateStream {name} with {} shards at {} failed: {error}",
                settings.shards,
                settings.endpoint
            );
        }
    }
    let deadline = Instant::now() + STREAM_ACTIVE_TIMEOUT;
    loop {
        let started = Instant::now();
        let summary = client.describe_stream_summary(name).await;
        let stats = operations.operation("DescribeStreamSummary");
        match summary {
            Ok(summary) => {
                stats.record_success(started.elapsed());
                if summary.stream_status == "ACTIVE" {
                    if let Some(open) = summary.open_shard_count.filter(|open| *open != u64::from(settings.shards)) {
                        anyhow::bail!("stream {name} is ACTIVE with {open} open shards, not {}", settings.shards);
                    }
                    return Ok(());
                }
            }
            // A stream just created may not be visible yet; the deadline bounds the wait.
            Err(error) => stats.record_failure(&error.key()),
        }
        if Instant::now() >= deadline {
            anyhow::bail!("stream {name} was not ACTIVE within {} s", STREAM_ACTIVE_TIMEOUT.as_secs());
        }
        tokio::time::sleep(STREAM_POLL_INTERVAL).await;
    }
}

async fn delete_stream(
    settings: &KinesisSettings,
    client: &KinesisClient,
    operations: &mut OperationSet,
) -> Result<(), CallError> {
    let started = Instant::now();
    let deleted = client.delete_stream(&settings.stream_name).await;
    let stats = operations.operation("DeleteStream");
    match &deleted {
        Ok(()) => stats.record_success(started.elapsed()),
        Err(error) => stats.record_failure(&error.key()),
    }
    deleted
}

/// Doubling pauses after throttling, reset by a request that went through.
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Self {
        Self { next: BACKOFF_FIRST }
    }

    fn reset(&mut self) {
        self.next = BACKOFF_FIRST;
    }

    async fn wait(&mut self, run: &RunControl) {
        if !run.stopping() {
            tokio::time::sleep(self.next).await;
        }
        self.next = (self.next * 2).min(BACKOFF_MAX);
    }
}

fn is_retryable(error: &CallError) -> bool {
    match error {
        CallError::Status { status: 503, .. } => true,
        CallError::Status { code: Some(code), .. } => RETRYABLE_CODES.contains(&code.as_str()),
        _ => false,
    }
}

struct IngestShared {
    settings: KinesisSettings,
    codec: RecordCodec,
    run: RunControl,
    ingest: Ingest,
}

async fn ingest(
    settings: &KinesisSettings,
    client: &KinesisClient,
    codec: &RecordCodec,
) -> anyhow::Result<(Ingest, OperationSet)> {
    let shared = Arc::new(IngestShared {
        settings: settings.clone(),
        codec: codec.clone(),
        run: RunControl::new(None),
        ingest: Ingest {
            window: Duration::ZERO,
            written: WindowedCounter::default(),
            failed: WindowedCounter::default(),
            throttled: WindowedCounter::default(),
            in_doubt: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            acknowledged: Mutex::new(Vec::new()),
        },
    });
    let workers = (0..settings.producers)
        .map(|index| tokio::spawn(producer(Arc::clone(&shared), client.clone(), index)))
        .collect();
    let stopper = {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move { stop_on_deadline_or_interrupt(&shared.run, Some(shared.settings.duration)).await })
    };
    let progress = settings.progress.then(|| {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            print_progress(&shared.run, || {
                vec![("written", shared.ingest.written.total()), ("failed", shared.ingest.failed.total())]
            })
            .await
        })
    });
    let operations = join_workers(workers).await;
    finish_helpers(stopper, progress).await;
    let operations = operations?;
    let window = shared.run.window();
    let shared = Arc::try_unwrap(shared).map_err(|_| anyhow::anyhow!("an ingest task outlived the phase"))?;
    Ok((Ingest { window, ..shared.ingest }, operations))
}

/// Ends a phase's stop timer and progress printer and waits until they are gone (they hold
/// the phase's shared state).
async fn finish_helpers(stopper: JoinHandle<()>, progress: Option<JoinHandle<()>>) {
    stopper.abort();
    let _ = stopper.await;
    if let Some(progress) = progress {
        progress.abort();
        let _ = progress.await;
    }
}

/// Sends PutRecords until the stop; failed and throttled records go first into the next request.
async fn producer(shared: Arc<IngestShared>, client: KinesisClient, index: usize) -> OperationSet {
    let settings = &shared.settings;
    let ingest = &shared.ingest;
    let run = &shared.run;
    let batch_records = settings.batch_records as usize;
    let producer_id = u16::try_from(index).unwrap_or(u16::MAX);
    let mut operations = OperationSet::default();
    let mut acknowledged = Vec::new();
    let mut sequence = 0u64;
    let mut resend: Vec<u64> = Vec::new();
    let mut backoff = Backoff::new();
    while !run.stopping() {
        let take = resend.len().min(batch_records);
        let mut batch: Vec<u64> = resend.drain(..take).collect();
        while batch.len() < batch_records {
            batch.push(record_id(producer_id, sequence));
            sequence += 1;
        }
        let body = shared.codec.put_records_body(&settings.stream_name, &batch);
        let started = Instant::now();
        let reply = client.put_records(body).await;
        let completed = Instant::now();
        let in_window = run.in_window(completed);
        let stats = operations.operation("PutRecords");
        match reply {
            Ok(outcome) => {
                stats.record_success(completed.saturating_duration_since(started));
                if outcome.entries.len() != batch.len() {
                    stats.record_error(&format!(
                        "reply has {} records for {} sent",
                        outcome.entries.len(),
                        batch.len()
                    ));
                    ingest.in_doubt.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    continue;
                }
                let (mut written, mut failed, mut unanswered) = (0u64, 0u64, 0u64);
                for (id, entry) in batch.iter().zip(&outcome.entries) {
                    match entry {
                        EntryOutcome::Written(_) => {
                            acknowledged.push(*id);
                            written += 1;
                        }
                        EntryOutcome::Failed(code) => {
                            stats.record_error(&format!("record {code}"));
                            resend.push(*id);
                            failed += 1;
                        }
                        EntryOutcome::Unanswered => {
                            stats.record_error("record without SequenceNumber or ErrorCode");
                            unanswered += 1;
                        }
                    }
                }
                if outcome.failed_record_count.is_some_and(|count| count != failed) {
                    stats.record_error("FailedRecordCount disagrees with the records' ErrorCodes");
                }
                ingest.written.add(written, in_window);
                if failed > 0 {
                    ingest.failed.add(failed, in_window);
                }
                if unanswered > 0 {
                    ingest.in_doubt.fetch_add(unanswered, Ordering::Relaxed);
                }
                if failed > 0 {
                    backoff.wait(run).await;
                } else {
                    backoff.reset();
                }
            }
            Err(error) if is_retryable(&error) => {
                stats.record_failure(&error.key());
                ingest.throttled.add(batch.len() as u64, in_window);
                batch.append(&mut resend);
                resend = batch;
                backoff.wait(run).await;
            }
            Err(error) => {
                // A 4xx other than throttling refused the records; after anything else (no
                // reply, 5xx, a reply that is not PutRecords output) they may or may not be
                // stored, so they are not sent again and not counted as written.
                let refused = matches!(&error, CallError::Status { status: 400..=499, .. });
                let counter = if refused { &ingest.rejected } else { &ingest.in_doubt };
                counter.fetch_add(batch.len() as u64, Ordering::Relaxed);
                record_call_failure(stats, &error).await;
                if !error.is_transport() {
                    tokio::time::sleep(TRANSPORT_ERROR_PAUSE).await;
                }
            }
        }
    }
    // One lock per producer, once, after its last request.
    if let Ok(mut all) = ingest.acknowledged.lock() {
        all.append(&mut acknowledged);
    }
    operations
}

struct ReadShared {
    settings: KinesisSettings,
    codec: RecordCodec,
    run: RunControl,
    shard_ids: Vec<String>,
    next_shard: AtomicUsize,
    read: Read,
}

async fn list_shards(
    settings: &KinesisSettings,
    client: &KinesisClient,
    operations: &mut OperationSet,
) -> anyhow::Result<Vec<String>> {
    let mut shard_ids = Vec::new();
    let mut next_token: Option<String> = None;
    // A peer that keeps answering with a NextToken cannot hold the bench forever.
    for _ in 0..10_000 {
        let started = Instant::now();
        let page = client.list_shards(&settings.stream_name, next_token.as_deref()).await;
        let stats = operations.operation("ListShards");
        match page {
            Ok((ids, token)) => {
                stats.record_success(started.elapsed());
                shard_ids.extend(ids);
                match token {
                    Some(token) => next_token = Some(token),
                    None => return Ok(shard_ids),
                }
            }
            Err(error) => {
                stats.record_failure(&error.key());
                anyhow::bail!("ListShards {} failed: {error}", settings.stream_name);
            }
        }
    }
    anyhow::bail!("ListShards {} kept answering with a NextToken", settings.stream_name)
}

async fn read_back(
    settings: &KinesisSettings,
    client: &KinesisClient,
    codec: &RecordCodec,
) -> anyhow::Result<(Read, OperationSet)> {
    let mut operations = OperationSet::default();
    let shard_ids = list_shards(settings, client, &mut operations).await?;
    let readers = settings.readers.unwrap_or(shard_ids.len()).clamp(1, shard_ids.len().max(1));
    if settings.progress {
        eprintln!(
            "read phase: {} shards, {readers} readers, GetRecords Limit {}",
            shard_ids.len(),
            settings.effective_get_records_limit(codec)
        );
    }
    let shared = Arc::new(ReadShared {
        settings: settings.clone(),
        codec: codec.clone(),
        run: RunControl::new(None),
        read: Read {
            shards: shard_ids.len(),
            readers,
            limit: settings.effective_get_records_limit(codec),
            elapsed: Duration::ZERO,
            records: AtomicU64::new(0),
            data_bytes: AtomicU64::new(0),
            foreign: AtomicU64::new(0),
            shards_not_drained: AtomicU64::new(0),
            ids: Mutex::new(Vec::new()),
        },
        shard_ids,
        next_shard: AtomicUsize::new(0),
    });
    let workers = (0..readers).map(|_| tokio::spawn(reader(Arc::clone(&shared), client.clone()))).collect();
    let stopper = {
        let shared = Arc::clone(&shared);
        tokio::spawn(
            async move { stop_on_deadline_or_interrupt(&shared.run, Some(shared.settings.read_timeout)).await },
        )
    };
    let progress = settings.progress.then(|| {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            print_progress(&shared.run, || vec![("read", shared.read.records.load(Ordering::Relaxed))]).await
        })
    });
    let worker_operations = join_workers(workers).await;
    let elapsed = shared.run.started.elapsed();
    finish_helpers(stopper, progress).await;
    operations.merge(&worker_operations?);
    let shared = Arc::try_unwrap(shared).map_err(|_| anyhow::anyhow!("a read task outlived the phase"))?;
    Ok((Read { elapsed, ..shared.read }, operations))
}

async fn reader(shared: Arc<ReadShared>, client: KinesisClient) -> OperationSet {
    let mut operations = OperationSet::default();
    let mut ids = Vec::new();
    loop {
        let index = shared.next_shard.fetch_add(1, Ordering::Relaxed);
        let Some(shard_id) = shared.shard_ids.get(index) else {
            break;
        };
        if !read_shard(&shared, &client, shard_id, &mut operations, &mut ids).await {
            shared.read.shards_not_drained.fetch_add(1, Ordering::Relaxed);
        }
    }
    if let Ok(mut all) = shared.read.ids.lock() {
        all.append(&mut ids);
    }
    operations
}

/// A shard iterator, from TRIM_HORIZON or after the last record read; `None` after
/// [`READ_FAILURES_MAX`] failures in a row or at the stop.
async fn shard_iterator(
    shared: &ReadShared,
    client: &KinesisClient,
    shard_id: &str,
    after: Option<&str>,
    operations: &mut OperationSet,
) -> Option<String> {
    let start = after.map_or(IteratorStart::TrimHorizon, IteratorStart::AfterSequenceNumber);
    let mut backoff = Backoff::new();
    for _ in 0..READ_FAILURES_MAX {
        if shared.run.stopping() {
            return None;
        }
        let started = Instant::now();
        let iterator = client.get_shard_iterator(&shared.settings.stream_name, shard_id, start).await;
        let stats = operations.operation("GetShardIterator");
        match iterator {
            Ok(iterator) => {
                stats.record_success(started.elapsed());
                return Some(iterator);
            }
            Err(error) => {
                record_call_failure(stats, &error).await;
                backoff.wait(&shared.run).await;
            }
        }
    }
    None
}

/// Reads one shard to its end; false if it was not drained (stop, or too many failures).
async fn read_shard(
    shared: &ReadShared,
    client: &KinesisClient,
    shard_id: &str,
    operations: &mut OperationSet,
    ids: &mut Vec<u64>,
) -> bool {
    let read = &shared.read;
    let Some(mut iterator) = shard_iterator(shared, client, shard_id, None, operations).await else {
        return false;
    };
    let mut last_sequence_number: Option<String> = None;
    let mut failures = 0;
    let mut backoff = Backoff::new();
    while !shared.run.stopping() {
        let started = Instant::now();
        let page = client.get_records(&iterator, read.limit, &shared.codec, ids).await;
        let stats = operations.operation("GetRecords");
        match page {
            Ok(page) => {
                stats.record_success(started.elapsed());
                failures = 0;
                backoff.reset();
                read.records.fetch_add(page.records, Ordering::Relaxed);
                read.data_bytes.fetch_add(page.data_bytes, Ordering::Relaxed);
                if page.foreign > 0 {
                    read.foreign.fetch_add(page.foreign, Ordering::Relaxed);
                }
                if page.last_sequence_number.is_some() {
                    last_sequence_number = page.last_sequence_number;
                }
                let caught_up = page.millis_behind_latest.unwrap_or(0) == 0;
                if page.records == 0 && caught_up {
                    return true;
                }
                match page.next_shard_iterator {
                    Some(next) => iterator = next,
                    // A closed shard read to its end.
                    None => return true,
                }
                if page.records == 0 {
                    tokio::time::sleep(EMPTY_PAGE_PAUSE).await;
                }
            }
            Err(error) => {
                let expired =
                    matches!(&error, CallError::Status { code: Some(code), .. } if code == "ExpiredIteratorException");
                record_call_failure(stats, &error).await;
                failures += 1;
                if failures >= READ_FAILURES_MAX {
                    return false;
                }
                if expired {
                    match shard_iterator(shared, client, shard_id, last_sequence_number.as_deref(), operations).await {
                        Some(fresh) => iterator = fresh,
                        None => return false,
                    }
                } else {
                    backoff.wait(&shared.run).await;
                }
            }
        }
    }
    false
}

fn megabytes_per_second(bytes: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        round3(bytes as f64 / 1e6 / secs)
    } else {
        0.0
    }
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

fn build_report(
    settings: &KinesisSettings,
    codec: &RecordCodec,
    active_after: Duration,
    ingest: Ingest,
    read: Read,
    operations: OperationSet,
    deleted: Result<(), CallError>,
) -> Report {
    let written = ingest.written.count("written");
    let in_doubt = ingest.in_doubt.load(Ordering::Relaxed);
    let rejected = ingest.rejected.load(Ordering::Relaxed);
    let records_read = read.records.load(Ordering::Relaxed);
    let read_bytes = read.data_bytes.load(Ordering::Relaxed);
    let acknowledged = ingest.acknowledged.into_inner().unwrap_or_default();
    let read_ids = read.ids.into_inner().unwrap_or_default();
    let reconciliation = reconcile(acknowledged, read_ids);
    let record_bytes = codec.record_bytes() as u64;
    let read_secs = read.elapsed.as_secs_f64();

    let figures = vec![
        ("ingest_mb_per_s", json!(megabytes_per_second(written.in_window * record_bytes, ingest.window))),
        ("records_written", json!(written.total)),
        ("records_in_doubt", json!(in_doubt)),
        ("records_rejected", json!(rejected)),
        ("records_read", json!(records_read)),
        ("read_secs", json!(round3(read_secs))),
        ("read_records_per_s", json!(if read_secs > 0.0 { round3(records_read as f64 / read_secs) } else { 0.0 })),
        ("read_mb_per_s", json!(megabytes_per_second(read_bytes, read.elapsed))),
        ("stream_active_after_ms", json!(round3(active_after.as_secs_f64() * 1000.0))),
    ];
    let checks = vec![
        ("records_read_vs_written_mismatch", records_read.abs_diff(written.total)),
        ("records_missing", reconciliation.missing),
        ("records_duplicated", reconciliation.duplicated),
        ("records_unacknowledged", reconciliation.unacknowledged),
        ("records_foreign_or_corrupt", read.foreign.load(Ordering::Relaxed)),
        ("shards_not_drained", read.shards_not_drained.load(Ordering::Relaxed)),
    ];
    let mut notes = vec![
        "ingest is closed loop (each producer sends its next PutRecords when the reply comes); \
         MB/s counts record data only (1 MB = 10^6 bytes), not base64, JSON or partition keys"
            .to_owned(),
        format!(
            "read phase after ingest: {} readers over {} shards, GetRecords Limit {} from TRIM_HORIZON \
             until empty and MillisBehindLatest 0; records/s and MB/s over the whole phase",
            read.readers, read.shards, read.limit
        ),
    ];
    if in_doubt > 0 {
        notes.push(format!(
            "{in_doubt} records were in requests whose outcome is unknown (no reply, 5xx or a malformed reply): \
             not counted as written, so they may show up as unacknowledged"
        ));
    }
    if records_read != written.total {
        notes.push(format!("MISMATCH: {records_read} records read but {} written (acknowledged)", written.total));
    }
    if let Err(error) = deleted {
        notes.push(format!("DeleteStream {} failed ({error}): the stream is left behind", settings.stream_name));
    }
    Report {
        scenario: "kinesis",
        settings: vec![
            ("endpoint", json!(settings.endpoint)),
            ("stream", json!(settings.stream_name)),
            ("shards", json!(settings.shards)),
            ("producers", json!(settings.producers)),
            ("readers", json!(read.readers)),
            ("record_bytes", json!(settings.record_bytes)),
            ("batch_records", json!(settings.batch_records)),
            ("duration_secs", json!(settings.duration.as_secs_f64())),
            ("get_records_limit", json!(read.limit)),
        ],
        window: ingest.window,
        messages: vec![written, ingest.failed.count("failed"), ingest.throttled.count("throttled")],
        figures,
        checks,
        operations,
        notes,
    }
}

/// For `main`: the check that must say loudly when it fails.
pub fn read_written_mismatch(report: &Report) -> Option<(u64, u64)> {
    let figure = |name: &str| {
        report.figures.iter().find(|(figure, _)| *figure == name).and_then(|(_, value)| value.as_u64()).unwrap_or(0)
    };
    let (read, written) = (figure("records_read"), figure("records_written"));
    (read != written).then_some((read, written))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::OperationStats;

    fn requests(operations: &OperationSet, name: &str) -> u64 {
        operations.get(name).map_or(0, OperationStats::requests)
    }

    fn settings() -> KinesisSettings {
        KinesisSettings {
            endpoint: "http://127.0.0.1:4567".into(),
            stream_name: "wharf-bench-1".into(),
            shards: 4,
            producers: 8,
            readers: None,
            record_bytes: 1024,
            batch_records: 500,
            duration: Duration::from_secs(20),
            get_records_limit: 10_000,
            read_timeout: Duration::from_secs(300),
            progress: false,
        }
    }

    #[test]
    fn settings_enforce_the_aws_limits() {
        assert!(settings().validate().is_ok());
        let mut too_big = settings();
        too_big.record_bytes = 20_000; // 500 × 20 kB is over 5 MiB
        assert!(too_big.validate().is_err());
        too_big.batch_records = 200;
        assert!(too_big.validate().is_ok());
        let cases: [fn(&mut KinesisSettings); 7] = [
            |s| s.stream_name = "no spaces".into(),
            |s| s.shards = 0,
            |s| s.producers = 0,
            |s| s.readers = Some(0),
            |s| s.record_bytes = RECORD_TAG_BYTES - 1,
            |s| s.batch_records = 501,
            |s| s.get_records_limit = 10_001,
        ];
        for change in cases {
            let mut invalid = settings();
            change(&mut invalid);
            assert!(invalid.validate().is_err(), "{invalid:?} was accepted");
        }
    }

    #[test]
    fn get_records_limit_keeps_pages_within_the_reply_budget() {
        let small = settings();
        assert_eq!(small.effective_get_records_limit(&RecordCodec::new(1024, 1)), 10_000);
        let mut large = settings();
        large.record_bytes = 1024 * 1024;
        let limit = large.effective_get_records_limit(&RecordCodec::new(large.record_bytes, 1));
        assert!((1..=40).contains(&limit), "{limit}");
    }

    #[test]
    fn reconciliation_counts_missing_duplicated_and_unacknowledged() {
        assert_eq!(reconcile(vec![3, 1, 2], vec![2, 1, 3]), Reconciliation::default());
        assert_eq!(
            reconcile(vec![1, 2, 3, 4], vec![4, 2, 2, 9, 9, 0]),
            Reconciliation { missing: 2, duplicated: 2, unacknowledged: 2 }
        );
        assert_eq!(reconcile(vec![], vec![]), Reconciliation::default());
        assert_eq!(reconcile(vec![5], vec![]), Reconciliation { missing: 1, ..Default::default() });
    }

    #[test]
    fn throttling_is_retried_and_other_errors_are_not() {
        let throttled = CallError::Status { status: 400, code: Some("ProvisionedThroughputExceededException".into()) };
        assert!(is_retryable(&throttled));
        assert!(is_retryable(&CallError::Status { status: 503, code: None }));
        assert!(!is_retryable(&CallError::Status { status: 400, code: Some("ValidationException".into()) }));
        assert!(!is_retryable(&CallError::Status { status: 500, code: Some("InternalFailure".into()) }));
        assert!(!is_retryable(&CallError::Timeout));
    }

    #[test]
    fn report_shows_mb_per_second_and_flags_a_mismatch() {
        let ingest = Ingest {
            window: Duration::from_secs(2),
            written: WindowedCounter::default(),
            failed: WindowedCounter::default(),
            throttled: WindowedCounter::default(),
            in_doubt: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            acknowledged: Mutex::new(vec![1, 2, 3]),
        };
        ingest.written.add(3, true);
        let read = Read {
            shards: 1,
            readers: 1,
            limit: 10_000,
            elapsed: Duration::from_secs(1),
            records: AtomicU64::new(2),
            data_bytes: AtomicU64::new(2048),
            foreign: AtomicU64::new(0),
            shards_not_drained: AtomicU64::new(0),
            ids: Mutex::new(vec![1, 2]),
        };
        let mut operations = OperationSet::default();
        operations.operation("PutRecords").record_success(Duration::from_millis(5));
        let report = build_report(
            &settings(),
            &RecordCodec::new(1024, 1),
            Duration::from_millis(3),
            ingest,
            read,
            operations,
            Ok(()),
        );
        let value = report.to_json();
        assert_eq!(value["messages"]["written"]["per_second"], json!(1.5));
        assert_eq!(value["figures"]["ingest_mb_per_s"], json!(0.002));
        assert_eq!(value["figures"]["read_mb_per_s"], json!(0.002));
        assert_eq!(value["checks"]["records_read_vs_written_mismatch"], json!(1));
        assert_eq!(value["checks"]["records_missing"], json!(1));
        assert_eq!(report.failed_checks(), 2);
        assert_eq!(read_written_mismatch(&report), Some((2, 3)));
        assert_eq!(requests(&report.operations, "PutRecords"), 1);
        assert!(report.render_text().contains("MISMATCH"));
    }
}
