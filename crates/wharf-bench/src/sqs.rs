//! The SQS scenario: producers send (SendMessage or SendMessageBatch), consumers receive with
//! long polling and delete (DeleteMessage or DeleteMessageBatch), every digest is checked, and
//! throughput is measured over a fixed window. With `--fifo` the queue is a high-throughput
//! FIFO queue and every message carries a MessageGroupId and a unique MessageDeduplicationId.
//!
//! Each worker keeps its own latency histograms and error counts (no shared lock on the hot
//! path) and hands them back when it ends; only message counters are shared atomics, because
//! the stop condition and the progress line need them while the run goes on.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use serde_json::json;
use tokio::time::Instant;

use crate::client::{md5_hex, CallError, OutgoingMessage, SqsClient};
use crate::report::{MessageCount, OperationSet, OperationStats, Report};

/// SQS accepts at most ten entries in a batch and ten messages per receive.
pub const BATCH_SIZE_MAX: u32 = 10;

/// After a failure that never reached the server (refused connection), a worker pauses this
/// long so a dead endpoint does not turn the bench into a busy loop.
const TRANSPORT_ERROR_PAUSE: Duration = Duration::from_millis(10);

/// Granularity of tokio's timer wheel.
const TIMER_RESOLUTION: Duration = Duration::from_millis(1);

const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);

/// FIFO queues are created in AWS's high-throughput mode, so throughput is limited per message
/// group rather than per queue. ContentBasedDeduplication stays off: every message carries its
/// own MessageDeduplicationId.
const FIFO_ATTRIBUTES: [(&str, &str); 3] =
    [("FifoQueue", "true"), ("DeduplicationScope", "messageGroup"), ("FifoThroughputLimit", "perMessageGroupId")];

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Only producers run; messages stay in the queue.
    SendOnly,
    /// Producers send while consumers receive and delete.
    SendReceiveDelete,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::SendOnly => "send-only",
            Mode::SendReceiveDelete => "send-receive-delete",
        }
    }
}

#[derive(Clone, Debug)]
pub struct SqsSettings {
    pub endpoint: String,
    /// Ends in `.fifo` exactly when `fifo` is set.
    pub queue_name: String,
    pub fifo: bool,
    /// Messages are spread round-robin over this many MessageGroupIds; `None` sends none
    /// (standard queues unless `--groups` is given, for fair queues).
    pub message_groups: Option<u32>,
    pub mode: Mode,
    pub producers: usize,
    pub consumers: usize,
    /// 1 means SendMessage/DeleteMessage, more means the batch operations.
    pub batch_size: u32,
    pub body_bytes: usize,
    /// `None` runs until `messages_max` have been sent (and deleted).
    pub duration: Option<Duration>,
    pub messages_max: Option<u64>,
    /// Target send requests per second over all producers; `None` sends as fast as replies come.
    pub send_rate_per_second: Option<f64>,
    pub wait_time_seconds: u32,
    pub progress: bool,
}

impl SqsSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!((1..=BATCH_SIZE_MAX).contains(&self.batch_size), "--batch must be 1..={BATCH_SIZE_MAX}");
        anyhow::ensure!(self.body_bytes >= 1, "--body-bytes must be at least 1");
        anyhow::ensure!(self.producers >= 1, "--producers must be at least 1");
        anyhow::ensure!(
            self.queue_name.ends_with(".fifo") == self.fifo,
            "queue {} needs --fifo exactly when its name ends in .fifo",
            self.queue_name
        );
        anyhow::ensure!(!self.fifo || self.message_groups.is_some(), "a FIFO queue needs message groups");
        anyhow::ensure!(self.message_groups != Some(0), "--groups must be at least 1");
        anyhow::ensure!(
            self.duration.is_some() || self.messages_max.is_some(),
            "give --duration-secs or --messages so the run can end"
        );
        if let Some(rate) = self.send_rate_per_second {
            anyhow::ensure!(rate.is_finite() && rate > 0.0, "--rate must be a positive number");
        }
        Ok(())
    }

    fn consumers_running(&self) -> usize {
        match self.mode {
            Mode::SendOnly => 0,
            Mode::SendReceiveDelete => self.consumers,
        }
    }
}

/// A message counter split into what completed inside the measured window and in all.
#[derive(Default)]
struct WindowedCounter {
    in_window: AtomicU64,
    total: AtomicU64,
}

impl WindowedCounter {
    fn add(&self, count: u64, in_window: bool) {
        self.total.fetch_add(count, Ordering::Relaxed);
        if in_window {
            self.in_window.fetch_add(count, Ordering::Relaxed);
        }
    }

    fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    fn count(&self, name: &'static str) -> MessageCount {
        MessageCount { name, in_window: self.in_window.load(Ordering::Relaxed), total: self.total() }
    }
}

/// State every worker reads; counters only, no locks.
struct Shared {
    settings: SqsSettings,
    queue_url: String,
    /// Milliseconds since the Unix epoch at the start, in every MessageDeduplicationId so a
    /// rerun within the five-minute deduplication window is not silently dropped.
    run_id: u64,
    started: Instant,
    stop_requested: AtomicBool,
    /// Nanoseconds from `started` to the stop request; `u64::MAX` while running. Replies that
    /// complete after it still count in totals but not in the per-second figures.
    stop_at_nanos: AtomicU64,
    /// Messages producers may still send when `--messages` is given.
    send_budget: Option<AtomicU64>,
    producers_running: AtomicUsize,
    sent: WindowedCounter,
    received: WindowedCounter,
    deleted: WindowedCounter,
    send_md5_mismatches: AtomicU64,
    receive_md5_mismatches: AtomicU64,
}

impl Shared {
    fn elapsed_nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.started).as_nanos()).unwrap_or(u64::MAX)
    }

    fn request_stop(&self) {
        let now = self.elapsed_nanos(Instant::now());
        // The first request fixes the window's end; later ones change nothing.
        let _ = self.stop_at_nanos.compare_exchange(u64::MAX, now, Ordering::SeqCst, Ordering::SeqCst);
        self.stop_requested.store(true, Ordering::SeqCst);
    }

    fn stopping(&self) -> bool {
        self.stop_requested.load(Ordering::Relaxed)
    }

    fn in_window(&self, completed: Instant) -> bool {
        self.elapsed_nanos(completed) <= self.stop_at_nanos.load(Ordering::SeqCst)
    }

    fn window(&self) -> Duration {
        match self.stop_at_nanos.load(Ordering::SeqCst) {
            u64::MAX => self.started.elapsed(),
            nanos => Duration::from_nanos(nanos),
        }
    }

    /// Takes up to `wanted` messages from the `--messages` budget; 0 when it is spent.
    fn claim_messages(&self, wanted: u64) -> u64 {
        let Some(budget) = &self.send_budget else {
            return wanted;
        };
        match budget.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |remaining| {
            (remaining > 0).then(|| remaining - remaining.min(wanted))
        }) {
            Ok(remaining) => remaining.min(wanted),
            Err(_) => 0,
        }
    }

    /// With `--messages`, the run is complete once every producer has finished and consumers
    /// (if any) have deleted as many messages as were sent.
    fn stop_if_complete(&self) {
        if self.send_budget.is_none() || self.producers_running.load(Ordering::SeqCst) > 0 {
            return;
        }
        if self.settings.consumers_running() == 0 || self.deleted.total() >= self.sent.total() {
            self.request_stop();
        }
    }
}

/// Creates the queue, runs the producers and consumers until the window closes, and returns
/// the report. Fails only if the queue cannot be created or a worker panics.
pub async fn run(settings: SqsSettings, client: SqsClient) -> anyhow::Result<Report> {
    settings.validate()?;
    let attributes: &[(&str, &str)] = if settings.fifo { &FIFO_ATTRIBUTES } else { &[] };
    let queue_url = client
        .create_queue(&settings.queue_name, attributes)
        .await
        .with_context(|| format!("CreateQueue {} at {} failed", settings.queue_name, settings.endpoint))?;
    let producers = settings.producers;
    let consumers = settings.consumers_running();
    let shared = Arc::new(Shared {
        send_budget: settings.messages_max.map(AtomicU64::new),
        settings,
        queue_url,
        run_id: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX)),
        started: Instant::now(),
        stop_requested: AtomicBool::new(false),
        stop_at_nanos: AtomicU64::new(u64::MAX),
        producers_running: AtomicUsize::new(producers),
        sent: WindowedCounter::default(),
        received: WindowedCounter::default(),
        deleted: WindowedCounter::default(),
        send_md5_mismatches: AtomicU64::new(0),
        receive_md5_mismatches: AtomicU64::new(0),
    });

    let mut workers = Vec::with_capacity(producers + consumers);
    for index in 0..producers {
        workers.push(tokio::spawn(producer(Arc::clone(&shared), client.clone(), index)));
    }
    for _ in 0..consumers {
        workers.push(tokio::spawn(consumer(Arc::clone(&shared), client.clone())));
    }
    let stopper = tokio::spawn(stop_on_deadline_or_interrupt(Arc::clone(&shared)));
    let progress = shared.settings.progress.then(|| tokio::spawn(print_progress(Arc::clone(&shared))));

    let mut operations = OperationSet::default();
    let mut worker_failure = None;
    for worker in workers {
        match worker.await {
            Ok(stats) => operations.merge(&stats),
            Err(error) => worker_failure = Some(error),
        }
    }
    stopper.abort();
    if let Some(progress) = progress {
        progress.abort();
    }
    if let Some(error) = worker_failure {
        return Err(anyhow::anyhow!(error).context("a bench worker failed"));
    }
    Ok(build_report(&shared, operations))
}

fn build_report(shared: &Shared, operations: OperationSet) -> Report {
    let settings = &shared.settings;
    let window = shared.window();
    let mut messages = vec![shared.sent.count("sent")];
    if settings.mode == Mode::SendReceiveDelete {
        messages.push(shared.received.count("received"));
        messages.push(shared.deleted.count("deleted"));
    }
    let mut checks = vec![("send_md5_mismatches", shared.send_md5_mismatches.load(Ordering::Relaxed))];
    if settings.mode == Mode::SendReceiveDelete {
        checks.push(("receive_md5_mismatches", shared.receive_md5_mismatches.load(Ordering::Relaxed)));
    }
    let mut notes = Vec::new();
    if let Some(rate) = settings.send_rate_per_second {
        let send_operation = send_operation_name(settings.batch_size);
        let requests = operations.get(send_operation).map_or(0, OperationStats::requests);
        let achieved = requests as f64 / window.as_secs_f64().max(f64::EPSILON);
        notes.push(format!(
            "open loop at {rate} send requests/s (achieved {achieved:.1}/s): {send_operation} \
             latency is measured from each request's scheduled start (or its actual start when \
             the timer fired up to 1 ms early), so time spent queued behind a slow reply counts"
        ));
    }
    if settings.mode == Mode::SendReceiveDelete {
        notes.push(format!(
            "ReceiveMessage latency includes up to {} s of long polling whenever the queue is empty",
            settings.wait_time_seconds
        ));
    }
    if shared.received.total() > shared.sent.total() {
        notes.push("more messages were received than sent: the queue held messages from earlier runs".to_owned());
    }
    Report {
        scenario: "sqs",
        settings: vec![
            ("mode", json!(settings.mode.name())),
            ("endpoint", json!(settings.endpoint)),
            ("queue", json!(settings.queue_name)),
            ("queue_url", json!(shared.queue_url)),
            ("fifo", json!(settings.fifo)),
            ("groups", json!(settings.message_groups)),
            ("producers", json!(settings.producers)),
            ("consumers", json!(settings.consumers_running())),
            ("batch", json!(settings.batch_size)),
            ("body_bytes", json!(settings.body_bytes)),
            ("duration_secs", json!(settings.duration.map(|duration| duration.as_secs_f64()))),
            ("messages", json!(settings.messages_max)),
            ("rate", json!(settings.send_rate_per_second)),
            ("wait_secs", json!(settings.wait_time_seconds)),
        ],
        window,
        messages,
        checks,
        operations,
        notes,
    }
}

fn send_operation_name(batch_size: u32) -> &'static str {
    if batch_size == 1 {
        "SendMessage"
    } else {
        "SendMessageBatch"
    }
}

async fn stop_on_deadline_or_interrupt(shared: Arc<Shared>) {
    let deadline = shared.settings.duration.map(|duration| shared.started + duration);
    let wait_for_deadline = async {
        match deadline {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = wait_for_deadline => {}
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted: finishing requests in flight (Ctrl-C again to quit at once)");
        }
    }
    shared.request_stop();
    // Workers finish what they have in flight (at most one long poll); a second interrupt
    // means the user does not want to wait for that.
    if tokio::signal::ctrl_c().await.is_ok() {
        std::process::exit(130);
    }
}

async fn print_progress(shared: Arc<Shared>) {
    let mut previous = (0u64, 0u64, 0u64);
    let mut ticker = tokio::time::interval_at(shared.started + PROGRESS_INTERVAL, PROGRESS_INTERVAL);
    loop {
        ticker.tick().await;
        if shared.stopping() {
            return;
        }
        let current = (shared.sent.total(), shared.received.total(), shared.deleted.total());
        let per_second = |now: u64, before: u64| now.saturating_sub(before) as f64 / PROGRESS_INTERVAL.as_secs_f64();
        eprintln!(
            "[{:>7.1} s] sent {} ({:.0}/s)  received {} ({:.0}/s)  deleted {} ({:.0}/s)",
            shared.started.elapsed().as_secs_f64(),
            current.0,
            per_second(current.0, previous.0),
            current.1,
            per_second(current.1, previous.1),
            current.2,
            per_second(current.2, previous.2),
        );
        previous = current;
    }
}

/// Bodies are printable ASCII of exactly `body_bytes`, starting with a unique tag so every
/// message differs (a peer cannot get digests right by caching one).
struct BodyFactory {
    template: String,
    producer_index: usize,
    sequence: u64,
}

impl BodyFactory {
    fn new(body_bytes: usize, producer_index: usize) -> Self {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let template =
            (0..body_bytes).map(|index| char::from(ALPHABET[(index * 7 + index / 13) % ALPHABET.len()])).collect();
        Self { template, producer_index, sequence: 0 }
    }

    fn next_body(&mut self) -> String {
        let tag = format!("{}-{}-", self.producer_index, self.sequence);
        self.sequence += 1;
        let length = self.template.len();
        let mut body = String::with_capacity(length);
        if tag.len() >= length {
            // The tag and template are ASCII, so any byte index is a character boundary.
            body.push_str(tag.get(..length).unwrap_or(&tag));
        } else {
            body.push_str(&tag);
            body.push_str(self.template.get(tag.len()..).unwrap_or(""));
        }
        body
    }
}

/// Turns one producer's bodies into messages with its MessageGroupIds and, on FIFO queues,
/// MessageDeduplicationIds.
struct MessageIds {
    producer_index: usize,
    sequence: u64,
    groups: Option<u32>,
    /// `{run_id}-{producer_index}` on FIFO queues, `None` on standard ones.
    deduplication_prefix: Option<String>,
}

impl MessageIds {
    fn new(settings: &SqsSettings, run_id: u64, producer_index: usize) -> Self {
        let deduplication_prefix = settings.fifo.then(|| format!("{run_id}-{producer_index}"));
        Self { producer_index, sequence: 0, groups: settings.message_groups, deduplication_prefix }
    }

    /// Each message takes the next group in turn, so a batch of ten spans up to ten groups;
    /// producers start at different groups so together they spread evenly too.
    fn next_message(&mut self, body: String) -> OutgoingMessage {
        let group_id = self
            .groups
            .map(|groups| format!("g{}", (self.producer_index as u64 + self.sequence) % u64::from(groups.max(1))));
        let deduplication_id = self.deduplication_prefix.as_ref().map(|prefix| format!("{prefix}-{}", self.sequence));
        self.sequence += 1;
        OutgoingMessage { body, group_id, deduplication_id }
    }
}

/// When a producer's next request is due: as soon as possible (closed loop) or on a fixed
/// schedule that ignores how long replies take (open loop).
struct SendSchedule {
    interval_secs: Option<f64>,
    offset_secs: f64,
    sent_requests: u64,
}

impl SendSchedule {
    fn new(rate_total: Option<f64>, producers: usize, producer_index: usize) -> Self {
        let interval_secs = rate_total.map(|rate| producers as f64 / rate);
        // Producers are staggered so the combined schedule is evenly spaced.
        let offset_secs =
            interval_secs.map(|interval| interval * producer_index as f64 / producers as f64).unwrap_or(0.0);
        Self { interval_secs, offset_secs, sent_requests: 0 }
    }

    /// The next request's scheduled start, relative to `started`; `None` in closed loop.
    fn next_offset(&mut self) -> Option<Duration> {
        let interval = self.interval_secs?;
        let offset = self.offset_secs + interval * self.sent_requests as f64;
        self.sent_requests += 1;
        Some(Duration::from_secs_f64(offset))
    }
}

async fn producer(shared: Arc<Shared>, client: SqsClient, index: usize) -> OperationSet {
    let settings = &shared.settings;
    let mut operations = OperationSet::default();
    let mut bodies = BodyFactory::new(settings.body_bytes, index);
    let mut ids = MessageIds::new(settings, shared.run_id, index);
    let mut schedule = SendSchedule::new(settings.send_rate_per_second, settings.producers, index);
    let operation = send_operation_name(settings.batch_size);
    while !shared.stopping() {
        let count = shared.claim_messages(u64::from(settings.batch_size));
        if count == 0 {
            break;
        }
        // Latency runs from the scheduled start, not the actual one, so a stall that delays
        // later requests is charged to them (no coordinated omission).
        let scheduled = match schedule.next_offset() {
            Some(offset) => {
                let due = shared.started + offset;
                // Tokio's timer fires up to a tick after its deadline; aiming a tick early keeps
                // that slop out of the latency (a request sent early is timed from its actual
                // start), while a producer truly behind schedule sends at once and is charged.
                if due > Instant::now() + TIMER_RESOLUTION {
                    tokio::time::sleep_until(due - TIMER_RESOLUTION).await;
                    if shared.stopping() {
                        break;
                    }
                }
                due.min(Instant::now())
            }
            None => Instant::now(),
        };
        let batch: Vec<OutgoingMessage> = (0..count).map(|_| ids.next_message(bodies.next_body())).collect();
        let digests: Vec<String> = batch.iter().map(|message| md5_hex(message.body.as_bytes())).collect();
        let stats = operations.operation(operation);
        let outcome = match (settings.batch_size, batch.as_slice()) {
            (1, [message]) => client.send_message(&shared.queue_url, message).await.map(|reply| {
                let completed = Instant::now();
                stats.record_success(completed.saturating_duration_since(scheduled));
                let matches = reply.md5_of_message_body.as_deref() == digests.first().map(String::as_str);
                (completed, 1, u64::from(!matches))
            }),
            _ => client.send_message_batch(&shared.queue_url, &batch).await.map(|reply| {
                let completed = Instant::now();
                stats.record_success(completed.saturating_duration_since(scheduled));
                let (sent, mismatches) = check_send_batch(reply, &digests, |key| {
                    stats.record_error(key);
                });
                (completed, sent, mismatches)
            }),
        };
        match outcome {
            Ok((completed, sent, mismatches)) => {
                shared.sent.add(sent, shared.in_window(completed));
                if mismatches > 0 {
                    shared.send_md5_mismatches.fetch_add(mismatches, Ordering::Relaxed);
                }
            }
            Err(error) => record_call_failure(stats, &error).await,
        }
    }
    shared.producers_running.fetch_sub(1, Ordering::SeqCst);
    shared.stop_if_complete();
    operations
}

/// Counts accepted entries and digest mismatches in a SendMessageBatch reply, reporting
/// failed, unknown, duplicated and missing entries through `record_error`.
fn check_send_batch(
    reply: crate::client::SendMessageBatchReply,
    digests: &[String],
    mut record_error: impl FnMut(&str),
) -> (u64, u64) {
    let mut answered = vec![false; digests.len()];
    let mut sent = 0;
    let mut mismatches = 0;
    for entry in reply.successful.unwrap_or_default() {
        let index = entry.id.parse::<usize>().ok();
        let Some((expected, seen)) = index.and_then(|index| Some((digests.get(index)?, answered.get_mut(index)?)))
        else {
            record_error("entry with unknown Id");
            continue;
        };
        if std::mem::replace(seen, true) {
            record_error("entry answered twice");
            continue;
        }
        sent += 1;
        if entry.md5_of_message_body.as_deref() != Some(expected.as_str()) {
            mismatches += 1;
        }
    }
    for entry in reply.failed.unwrap_or_default() {
        if let Some(seen) =
            entry.id.as_deref().and_then(|id| id.parse::<usize>().ok()).and_then(|index| answered.get_mut(index))
        {
            *seen = true;
        }
        record_error(&format!("entry {}", entry.code.as_deref().unwrap_or("failed without Code")));
    }
    let missing = answered.iter().filter(|seen| !**seen).count();
    for _ in 0..missing {
        record_error("entry missing from reply");
    }
    (sent, mismatches)
}

async fn consumer(shared: Arc<Shared>, client: SqsClient) -> OperationSet {
    let settings = &shared.settings;
    let mut operations = OperationSet::default();
    while !shared.stopping() {
        let started = Instant::now();
        let reply = client.receive_message(&shared.queue_url, settings.batch_size, settings.wait_time_seconds).await;
        let completed = Instant::now();
        let stats = operations.operation("ReceiveMessage");
        let messages = match reply {
            Ok(reply) => {
                stats.record_success(completed.saturating_duration_since(started));
                reply.messages.unwrap_or_default()
            }
            Err(error) => {
                record_call_failure(stats, &error).await;
                continue;
            }
        };
        if messages.is_empty() {
            shared.stop_if_complete();
            continue;
        }
        shared.received.add(messages.len() as u64, shared.in_window(completed));
        let mut receipt_handles = Vec::with_capacity(messages.len());
        let mut mismatches = 0;
        for message in messages {
            let digest_matches = match (&message.body, &message.md5_of_body) {
                (Some(body), Some(digest)) => md5_hex(body.as_bytes()) == *digest,
                _ => false,
            };
            mismatches += u64::from(!digest_matches);
            match message.receipt_handle {
                Some(handle) => receipt_handles.push(handle),
                None => stats.record_error("message without ReceiptHandle"),
            }
        }
        if mismatches > 0 {
            shared.receive_md5_mismatches.fetch_add(mismatches, Ordering::Relaxed);
        }
        // Messages received are deleted even after a stop request, so a run leaves nothing
        // in flight that it has already counted.
        if settings.batch_size == 1 {
            for handle in &receipt_handles {
                delete_one(&shared, &client, &mut operations, handle).await;
            }
        } else {
            for chunk in receipt_handles.chunks(BATCH_SIZE_MAX as usize) {
                delete_batch(&shared, &client, &mut operations, chunk).await;
            }
        }
        shared.stop_if_complete();
    }
    operations
}

async fn delete_one(shared: &Shared, client: &SqsClient, operations: &mut OperationSet, receipt_handle: &str) {
    let started = Instant::now();
    let reply = client.delete_message(&shared.queue_url, receipt_handle).await;
    let completed = Instant::now();
    let stats = operations.operation("DeleteMessage");
    match reply {
        Ok(()) => {
            stats.record_success(completed.saturating_duration_since(started));
            shared.deleted.add(1, shared.in_window(completed));
        }
        Err(error) => record_call_failure(stats, &error).await,
    }
}

async fn delete_batch(shared: &Shared, client: &SqsClient, operations: &mut OperationSet, receipt_handles: &[String]) {
    let started = Instant::now();
    let reply = client.delete_message_batch(&shared.queue_url, receipt_handles).await;
    let completed = Instant::now();
    let stats = operations.operation("DeleteMessageBatch");
    match reply {
        Ok(reply) => {
            stats.record_success(completed.saturating_duration_since(started));
            let mut answered = vec![false; receipt_handles.len()];
            let mut deleted = 0;
            for entry in reply.successful.unwrap_or_default() {
                match entry.id.parse::<usize>().ok().and_then(|index| answered.get_mut(index)) {
                    Some(seen) if !*seen => {
                        *seen = true;
                        deleted += 1;
                    }
                    Some(_) => stats.record_error("entry answered twice"),
                    None => stats.record_error("entry with unknown Id"),
                }
            }
            for entry in reply.failed.unwrap_or_default() {
                if let Some(seen) = entry
                    .id
                    .as_deref()
                    .and_then(|id| id.parse::<usize>().ok())
                    .and_then(|index| answered.get_mut(index))
                {
                    *seen = true;
                }
                stats.record_error(&format!("entry {}", entry.code.as_deref().unwrap_or("failed without Code")));
            }
            for _ in answered.iter().filter(|seen| !**seen) {
                stats.record_error("entry missing from reply");
            }
            shared.deleted.add(deleted, shared.in_window(completed));
        }
        Err(error) => record_call_failure(stats, &error).await,
    }
}

async fn record_call_failure(stats: &mut OperationStats, error: &CallError) {
    stats.record_failure(&error.key());
    if error.is_transport() {
        tokio::time::sleep(TRANSPORT_ERROR_PAUSE).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{BatchResultErrorEntry, SendMessageBatchReply, SendMessageBatchResultEntry};

    #[test]
    fn bodies_have_the_requested_length_and_differ() {
        let mut factory = BodyFactory::new(64, 3);
        let first = factory.next_body();
        let second = factory.next_body();
        assert_eq!(first.len(), 64);
        assert_eq!(second.len(), 64);
        assert_ne!(first, second);
        assert!(first.starts_with("3-0-"));
        let mut tiny = BodyFactory::new(2, 12);
        assert_eq!(tiny.next_body(), "12");
    }

    fn settings(queue_name: &str, fifo: bool, message_groups: Option<u32>) -> SqsSettings {
        SqsSettings {
            endpoint: "http://localhost".into(),
            queue_name: queue_name.into(),
            fifo,
            message_groups,
            mode: Mode::SendReceiveDelete,
            producers: 2,
            consumers: 2,
            batch_size: 10,
            body_bytes: 8,
            duration: Some(Duration::from_secs(1)),
            messages_max: None,
            send_rate_per_second: None,
            wait_time_seconds: 0,
            progress: false,
        }
    }

    #[test]
    fn fifo_messages_cycle_through_groups_with_unique_deduplication_ids() {
        let mut ids = MessageIds::new(&settings("q.fifo", true, Some(3)), 42, 1);
        let messages: Vec<OutgoingMessage> = (0..4).map(|_| ids.next_message("b".into())).collect();
        let groups: Vec<_> = messages.iter().map(|message| message.group_id.as_deref()).collect();
        assert_eq!(groups, vec![Some("g1"), Some("g2"), Some("g0"), Some("g1")]);
        let deduplication: Vec<_> = messages.iter().map(|message| message.deduplication_id.as_deref()).collect();
        assert_eq!(deduplication, vec![Some("42-1-0"), Some("42-1-1"), Some("42-1-2"), Some("42-1-3")]);

        let mut plain = MessageIds::new(&settings("q", false, None), 42, 0);
        assert_eq!(
            plain.next_message("b".into()),
            OutgoingMessage { body: "b".into(), group_id: None, deduplication_id: None }
        );
        // Fair queues: standard queue, group ids but no deduplication ids.
        let mut fair = MessageIds::new(&settings("q", false, Some(2)), 42, 0);
        let fair_message = fair.next_message("b".into());
        assert_eq!((fair_message.group_id.as_deref(), fair_message.deduplication_id), (Some("g0"), None));
    }

    #[test]
    fn fifo_needs_a_fifo_name_and_groups() {
        assert!(settings("q.fifo", true, Some(1)).validate().is_ok());
        assert!(settings("q", false, Some(4)).validate().is_ok());
        assert!(settings("q", true, Some(1)).validate().is_err());
        assert!(settings("q.fifo", false, None).validate().is_err());
        assert!(settings("q.fifo", true, None).validate().is_err());
        assert!(settings("q", false, Some(0)).validate().is_err());
    }

    #[test]
    fn open_loop_schedule_is_evenly_spaced_across_producers() {
        // 100 requests/s over 4 producers: each producer every 40 ms, offset by 10 ms.
        let mut second = SendSchedule::new(Some(100.0), 4, 1);
        let offsets: Vec<Duration> = (0..3).filter_map(|_| second.next_offset()).collect();
        let millis: Vec<u128> = offsets.iter().map(|offset| (offset.as_secs_f64() * 1000.0).round() as u128).collect();
        assert_eq!(millis, vec![10, 50, 90]);
        let mut closed = SendSchedule::new(None, 4, 1);
        assert_eq!(closed.next_offset(), None);
    }

    #[test]
    fn send_batch_reply_is_checked_entry_by_entry() {
        let digests: Vec<String> = ["a", "b", "c", "d"].iter().map(|body| md5_hex(body.as_bytes())).collect();
        let reply = SendMessageBatchReply {
            successful: Some(vec![
                SendMessageBatchResultEntry { id: "0".into(), md5_of_message_body: Some(md5_hex(b"a")) },
                SendMessageBatchResultEntry { id: "1".into(), md5_of_message_body: Some(md5_hex(b"wrong")) },
                SendMessageBatchResultEntry { id: "9".into(), md5_of_message_body: None },
            ]),
            failed: Some(vec![BatchResultErrorEntry {
                id: Some("2".into()),
                code: Some("InvalidMessageContents".into()),
            }]),
        };
        let mut errors = Vec::new();
        let (sent, mismatches) = check_send_batch(reply, &digests, |key| errors.push(key.to_owned()));
        assert_eq!((sent, mismatches), (2, 1));
        assert_eq!(errors, vec!["entry with unknown Id", "entry InvalidMessageContents", "entry missing from reply"]);
    }

    #[test]
    fn budget_is_claimed_in_batches_until_spent() {
        let shared = Shared {
            settings: SqsSettings {
                endpoint: "http://localhost".into(),
                queue_name: "q".into(),
                fifo: false,
                message_groups: None,
                mode: Mode::SendOnly,
                producers: 1,
                consumers: 0,
                batch_size: 10,
                body_bytes: 1,
                duration: None,
                messages_max: Some(25),
                send_rate_per_second: None,
                wait_time_seconds: 0,
                progress: false,
            },
            queue_url: "u".into(),
            run_id: 0,
            started: Instant::now(),
            stop_requested: AtomicBool::new(false),
            stop_at_nanos: AtomicU64::new(u64::MAX),
            send_budget: Some(AtomicU64::new(25)),
            producers_running: AtomicUsize::new(1),
            sent: WindowedCounter::default(),
            received: WindowedCounter::default(),
            deleted: WindowedCounter::default(),
            send_md5_mismatches: AtomicU64::new(0),
            receive_md5_mismatches: AtomicU64::new(0),
        };
        let claims: Vec<u64> = (0..4).map(|_| shared.claim_messages(10)).collect();
        assert_eq!(claims, vec![10, 10, 5, 0]);
        assert!(!shared.stopping());
        shared.producers_running.store(0, Ordering::SeqCst);
        shared.stop_if_complete();
        assert!(shared.stopping());
        assert!(shared.in_window(shared.started));
    }
}
