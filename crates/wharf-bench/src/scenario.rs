//! Pieces every scenario shares: the run's clock and stop condition ([`RunControl`]), message
//! counters split by measured window, the open-loop send schedule, message bodies, progress
//! lines, batch-reply bookkeeping, the SQS consumer's receive and delete steps and worker
//! plumbing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::{md5_hex, BatchResultErrorEntry, CallError, ReceivedMessage, SqsClient};
use crate::report::{MessageCount, OperationSet, OperationStats};

/// After a failure that never reached the server (refused connection), a worker pauses this
/// long so a dead endpoint does not turn the bench into a busy loop.
pub const TRANSPORT_ERROR_PAUSE: Duration = Duration::from_millis(10);

/// Granularity of tokio's timer wheel.
pub const TIMER_RESOLUTION: Duration = Duration::from_millis(1);

pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);

/// Milliseconds since the Unix epoch (0 if the clock is before it): identifies a run.
pub fn unix_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

/// A message counter split into what completed inside the measured window and in all.
#[derive(Default)]
pub struct WindowedCounter {
    in_window: AtomicU64,
    total: AtomicU64,
}

impl WindowedCounter {
    pub fn add(&self, count: u64, in_window: bool) {
        self.total.fetch_add(count, Ordering::Relaxed);
        if in_window {
            self.in_window.fetch_add(count, Ordering::Relaxed);
        }
    }

    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    pub fn count(&self, name: &'static str) -> MessageCount {
        MessageCount { name, in_window: self.in_window.load(Ordering::Relaxed), total: self.total() }
    }
}

/// The run's start, its stop request (which closes the measured window) and the `--messages`
/// budget; counters only, no locks.
pub struct RunControl {
    pub started: Instant,
    stop_requested: AtomicBool,
    /// Nanoseconds from `started` to the stop request; `u64::MAX` while running. Replies that
    /// complete after it still count in totals but not in the per-second figures.
    stop_at_nanos: AtomicU64,
    /// Messages producers may still send when `--messages` is given.
    send_budget: Option<AtomicU64>,
}

impl RunControl {
    /// Starts the clock now.
    pub fn new(messages_max: Option<u64>) -> Self {
        Self {
            started: Instant::now(),
            stop_requested: AtomicBool::new(false),
            stop_at_nanos: AtomicU64::new(u64::MAX),
            send_budget: messages_max.map(AtomicU64::new),
        }
    }

    fn elapsed_nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.started).as_nanos()).unwrap_or(u64::MAX)
    }

    pub fn request_stop(&self) {
        let now = self.elapsed_nanos(Instant::now());
        // The first request fixes the window's end; later ones change nothing.
        let _ = self.stop_at_nanos.compare_exchange(u64::MAX, now, Ordering::SeqCst, Ordering::SeqCst);
        self.stop_requested.store(true, Ordering::SeqCst);
    }

    pub fn stopping(&self) -> bool {
        self.stop_requested.load(Ordering::Relaxed)
    }

    pub fn in_window(&self, completed: Instant) -> bool {
        self.elapsed_nanos(completed) <= self.stop_at_nanos.load(Ordering::SeqCst)
    }

    pub fn window(&self) -> Duration {
        match self.stop_at_nanos.load(Ordering::SeqCst) {
            u64::MAX => self.started.elapsed(),
            nanos => Duration::from_nanos(nanos),
        }
    }

    /// Whether the run is bounded by `--messages` rather than only by time.
    pub fn has_budget(&self) -> bool {
        self.send_budget.is_some()
    }

    /// Takes up to `wanted` messages from the `--messages` budget; 0 when it is spent.
    pub fn claim_messages(&self, wanted: u64) -> u64 {
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
}

/// Requests the stop at the deadline (if any) or on Ctrl-C; a second Ctrl-C exits at once.
pub async fn stop_on_deadline_or_interrupt(run: &RunControl, duration: Option<Duration>) {
    let deadline = duration.map(|duration| run.started + duration);
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
    run.request_stop();
    // Workers finish what they have in flight (at most one long poll); a second interrupt
    // means the user does not want to wait for that.
    if tokio::signal::ctrl_c().await.is_ok() {
        std::process::exit(130);
    }
}

/// Prints `[elapsed] name total (rate/s)  ...` to stderr every [`PROGRESS_INTERVAL`] until the
/// stop request; `counts` gives the current totals, always in the same order.
pub async fn print_progress(run: &RunControl, counts: impl Fn() -> Vec<(&'static str, u64)>) {
    let mut previous: Vec<u64> = Vec::new();
    let mut ticker = tokio::time::interval_at(run.started + PROGRESS_INTERVAL, PROGRESS_INTERVAL);
    loop {
        ticker.tick().await;
        if run.stopping() {
            return;
        }
        let current = counts();
        let columns: Vec<String> = current
            .iter()
            .enumerate()
            .map(|(index, (name, now))| {
                let before = previous.get(index).copied().unwrap_or(0);
                let per_second = now.saturating_sub(before) as f64 / PROGRESS_INTERVAL.as_secs_f64();
                format!("{name} {now} ({per_second:.0}/s)")
            })
            .collect();
        eprintln!("[{:>7.1} s] {}", run.started.elapsed().as_secs_f64(), columns.join("  "));
        previous = current.into_iter().map(|(_, now)| now).collect();
    }
}

/// Waits for every worker and merges their statistics; fails if one panicked.
pub async fn join_workers(workers: Vec<JoinHandle<OperationSet>>) -> anyhow::Result<OperationSet> {
    let mut operations = OperationSet::default();
    let mut worker_failure = None;
    for worker in workers {
        match worker.await {
            Ok(stats) => operations.merge(&stats),
            Err(error) => worker_failure = Some(error),
        }
    }
    match worker_failure {
        Some(error) => Err(anyhow::anyhow!(error).context("a bench worker failed")),
        None => Ok(operations),
    }
}

/// Counts a failed call; after a transport failure, pauses briefly (see
/// [`TRANSPORT_ERROR_PAUSE`]).
pub async fn record_call_failure(stats: &mut OperationStats, error: &CallError) {
    stats.record_failure(&error.key());
    if error.is_transport() {
        tokio::time::sleep(TRANSPORT_ERROR_PAUSE).await;
    }
}

/// Matches a batch reply to a request of `entries` entries whose `Id`s are their indexes
/// ("0", "1", ...): returns the successful entries with their index and reports, through
/// `record_error`, successful entries with an unknown or repeated Id, every failed entry (by
/// its `Code`) and request entries the reply does not mention.
pub fn tally_batch<T>(
    entries: usize,
    successful: impl IntoIterator<Item = (Option<String>, T)>,
    failed: impl IntoIterator<Item = BatchResultErrorEntry>,
    mut record_error: impl FnMut(&str),
) -> Vec<(usize, T)> {
    let mut answered = vec![false; entries];
    let mut accepted = Vec::with_capacity(entries);
    for (id, value) in successful {
        let index = id.and_then(|id| id.parse::<usize>().ok());
        match index.and_then(|index| Some((index, answered.get_mut(index)?))) {
            Some((index, seen)) if !*seen => {
                *seen = true;
                accepted.push((index, value));
            }
            Some(_) => record_error("entry answered twice"),
            None => record_error("entry with unknown Id"),
        }
    }
    for entry in failed {
        if let Some(seen) =
            entry.id.as_deref().and_then(|id| id.parse::<usize>().ok()).and_then(|index| answered.get_mut(index))
        {
            *seen = true;
        }
        record_error(&format!("entry {}", entry.code.as_deref().unwrap_or("failed without Code")));
    }
    for _ in answered.iter().filter(|seen| !**seen) {
        record_error("entry missing from reply");
    }
    accepted
}

/// One ReceiveMessage of up to `max_messages` from `queue_url`, long polling `wait_seconds`:
/// records it under `ReceiveMessage` and counts what came back in `received`; `None` if the
/// call failed (already counted).
pub async fn receive_messages(
    client: &SqsClient,
    queue_url: &str,
    (max_messages, wait_seconds): (u32, u32),
    operations: &mut OperationSet,
    run: &RunControl,
    received: &WindowedCounter,
) -> Option<Vec<ReceivedMessage>> {
    let started = Instant::now();
    let reply = client.receive_message(queue_url, max_messages, wait_seconds).await;
    let completed = Instant::now();
    let stats = operations.operation("ReceiveMessage");
    match reply {
        Ok(reply) => {
            stats.record_success(completed.saturating_duration_since(started));
            let messages = reply.messages.unwrap_or_default();
            if !messages.is_empty() {
                received.add(messages.len() as u64, run.in_window(completed));
            }
            Some(messages)
        }
        Err(error) => {
            record_call_failure(stats, &error).await;
            None
        }
    }
}

/// Checks each received message's MD5OfBody and shows it to `inspect`; returns the receipt
/// handles (a message without one is an error in `stats`) and the number of digest mismatches.
pub fn take_receipt_handles(
    messages: Vec<ReceivedMessage>,
    stats: &mut OperationStats,
    mut inspect: impl FnMut(&ReceivedMessage),
) -> (Vec<String>, u64) {
    let mut receipt_handles = Vec::with_capacity(messages.len());
    let mut mismatches = 0;
    for message in messages {
        let digest_matches = match (&message.body, &message.md5_of_body) {
            (Some(body), Some(digest)) => md5_hex(body.as_bytes()) == *digest,
            _ => false,
        };
        mismatches += u64::from(!digest_matches);
        inspect(&message);
        match message.receipt_handle {
            Some(handle) => receipt_handles.push(handle),
            None => stats.record_error("message without ReceiptHandle"),
        }
    }
    (receipt_handles, mismatches)
}

/// One DeleteMessageBatch of `receipt_handles` (at most ten) from `queue_url`: records it under
/// `DeleteMessageBatch` and its failed and unanswered entries as errors. Returns when the reply
/// came and the indexes (into `receipt_handles`) of the messages deleted; `None` if the call
/// failed (already counted).
pub async fn delete_message_batch(
    client: &SqsClient,
    queue_url: &str,
    receipt_handles: &[String],
    operations: &mut OperationSet,
) -> Option<(Instant, Vec<usize>)> {
    let started = Instant::now();
    let reply = client.delete_message_batch(queue_url, receipt_handles).await;
    let completed = Instant::now();
    let stats = operations.operation("DeleteMessageBatch");
    match reply {
        Ok(reply) => {
            stats.record_success(completed.saturating_duration_since(started));
            let successful = reply.successful.unwrap_or_default().into_iter().map(|entry| (Some(entry.id), ()));
            let accepted = tally_batch(receipt_handles.len(), successful, reply.failed.unwrap_or_default(), |key| {
                stats.record_error(key);
            });
            Some((completed, accepted.into_iter().map(|(index, ())| index).collect()))
        }
        Err(error) => {
            record_call_failure(stats, &error).await;
            None
        }
    }
}

/// Bodies are printable ASCII of exactly `body_bytes`, starting with a unique tag
/// (`{run_tag}{producer}-{sequence}-`, cut to the body's length) so every message differs (a
/// peer cannot get digests right by caching one).
pub struct BodyFactory {
    template: String,
    run_tag: String,
    producer_index: usize,
    sequence: u64,
}

impl BodyFactory {
    pub fn new(body_bytes: usize, producer_index: usize) -> Self {
        Self::with_run_tag(body_bytes, producer_index, String::new())
    }

    /// Every body starts with `run_tag` (ASCII), so messages of this run can be told from
    /// earlier runs' when `body_bytes` leaves room for it.
    pub fn with_run_tag(body_bytes: usize, producer_index: usize, run_tag: String) -> Self {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let template =
            (0..body_bytes).map(|index| char::from(ALPHABET[(index * 7 + index / 13) % ALPHABET.len()])).collect();
        Self { template, run_tag, producer_index, sequence: 0 }
    }

    pub fn next_body(&mut self) -> String {
        let tag = format!("{}{}-{}-", self.run_tag, self.producer_index, self.sequence);
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

/// When a producer's next request is due: as soon as possible (closed loop) or on a fixed
/// schedule that ignores how long replies take (open loop).
pub struct SendSchedule {
    interval_secs: Option<f64>,
    offset_secs: f64,
    sent_requests: u64,
}

impl SendSchedule {
    pub fn new(rate_total: Option<f64>, producers: usize, producer_index: usize) -> Self {
        let interval_secs = rate_total.map(|rate| producers as f64 / rate);
        // Producers are staggered so the combined schedule is evenly spaced.
        let offset_secs =
            interval_secs.map(|interval| interval * producer_index as f64 / producers as f64).unwrap_or(0.0);
        Self { interval_secs, offset_secs, sent_requests: 0 }
    }

    /// The next request's scheduled start, relative to `started`; `None` in closed loop.
    pub fn next_offset(&mut self) -> Option<Duration> {
        let interval = self.interval_secs?;
        let offset = self.offset_secs + interval * self.sent_requests as f64;
        self.sent_requests += 1;
        Some(Duration::from_secs_f64(offset))
    }

    /// Waits until the next request is due and returns the instant its latency counts from:
    /// the scheduled start, not the actual one, so a stall that delays later requests is
    /// charged to them (no coordinated omission). `None` if the stop came while waiting.
    pub async fn next_start(&mut self, run: &RunControl) -> Option<Instant> {
        let Some(offset) = self.next_offset() else {
            return Some(Instant::now());
        };
        let due = run.started + offset;
        // Tokio's timer fires up to a tick after its deadline; aiming a tick early keeps
        // that slop out of the latency (a request sent early is timed from its actual
        // start), while a producer truly behind schedule sends at once and is charged.
        if due > Instant::now() + TIMER_RESOLUTION {
            tokio::time::sleep_until(due - TIMER_RESOLUTION).await;
            if run.stopping() {
                return None;
            }
        }
        Some(due.min(Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut tagged = BodyFactory::with_run_tag(16, 1, "r5-".to_owned());
        let body = tagged.next_body();
        assert_eq!(body.len(), 16);
        assert!(body.starts_with("r5-1-0-"), "{body}");
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
    fn budget_is_claimed_in_batches_until_spent() {
        let run = RunControl::new(Some(25));
        let claims: Vec<u64> = (0..4).map(|_| run.claim_messages(10)).collect();
        assert_eq!(claims, vec![10, 10, 5, 0]);
        assert!(run.has_budget());
        assert!(!run.stopping());
        assert!(run.in_window(run.started));
        run.request_stop();
        assert!(run.stopping());
        let unbounded = RunControl::new(None);
        assert_eq!(unbounded.claim_messages(7), 7);
        assert!(!unbounded.has_budget());
    }

    #[test]
    fn batch_tally_reports_unknown_repeated_failed_and_missing_entries() {
        let successful = [
            (Some("0".to_owned()), 'a'),
            (Some("0".to_owned()), 'b'),
            (Some("x".to_owned()), 'c'),
            (None, 'd'),
            (Some("3".to_owned()), 'e'),
        ];
        let failed = [
            BatchResultErrorEntry { id: Some("1".into()), code: Some("InvalidParameter".into()) },
            BatchResultErrorEntry { id: None, code: None },
        ];
        let mut errors = Vec::new();
        let accepted = tally_batch(4, successful, failed, |key| errors.push(key.to_owned()));
        assert_eq!(accepted, vec![(0, 'a'), (3, 'e')]);
        assert_eq!(
            errors,
            vec![
                "entry answered twice",
                "entry with unknown Id",
                "entry with unknown Id",
                "entry InvalidParameter",
                "entry failed without Code",
                "entry missing from reply",
            ]
        );
    }
}
