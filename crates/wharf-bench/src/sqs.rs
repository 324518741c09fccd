//! The SQS scenario: producers send (SendMessage or SendMessageBatch), consumers receive with
//! long polling and delete (DeleteMessage or DeleteMessageBatch), every digest is checked, and
//! throughput is measured over a fixed window. With `--fifo` the queue is a high-throughput
//! FIFO queue and every message carries a MessageGroupId and a unique MessageDeduplicationId.
//!
//! Each worker keeps its own latency histograms and error counts (no shared lock on the hot
//! path) and hands them back when it ends; only message counters are shared atomics, because
//! the stop condition and the progress line need them while the run goes on.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;
use tokio::time::Instant;

use crate::client::{md5_hex, OutgoingMessage, SqsClient};
use crate::report::{OperationSet, OperationStats, Report};
use crate::scenario::{
    delete_message_batch, join_workers, print_progress, receive_messages, record_call_failure,
    stop_on_deadline_or_interrupt, take_receipt_handles, tally_batch, unix_millis, BodyFactory, RunControl,
    SendSchedule, WindowedCounter,
};

/// SQS accepts at most ten entries in a batch and ten messages per receive.
pub const BATCH_SIZE_MAX: u32 = 10;

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

/// State every worker reads; counters only, no locks.
struct Shared {
    settings: SqsSettings,
    queue_url: String,
    /// Milliseconds since the Unix epoch at the start, in every MessageDeduplicationId so a
    /// rerun within the five-minute deduplication window is not silently dropped.
    run_id: u64,
    run: RunControl,
    producers_running: AtomicUsize,
    sent: WindowedCounter,
    received: WindowedCounter,
    deleted: WindowedCounter,
    send_md5_mismatches: AtomicU64,
    receive_md5_mismatches: AtomicU64,
}

impl Shared {
    /// With `--messages`, the run is complete once every producer has finished and consumers
    /// (if any) have deleted as many messages as were sent.
    fn stop_if_complete(&self) {
        if !self.run.has_budget() || self.producers_running.load(Ordering::SeqCst) > 0 {
            return;
        }
        if self.settings.consumers_running() == 0 || self.deleted.total() >= self.sent.total() {
            self.run.request_stop();
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
        run: RunControl::new(settings.messages_max),
        settings,
        queue_url,
        run_id: unix_millis(),
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
    let stopper = {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move { stop_on_deadline_or_interrupt(&shared.run, shared.settings.duration).await })
    };
    let progress = shared.settings.progress.then(|| {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            print_progress(&shared.run, || {
                vec![
                    ("sent", shared.sent.total()),
                    ("received", shared.received.total()),
                    ("deleted", shared.deleted.total()),
                ]
            })
            .await
        })
    });

    let operations = join_workers(workers).await;
    stopper.abort();
    if let Some(progress) = progress {
        progress.abort();
    }
    Ok(build_report(&shared, operations?))
}

fn build_report(shared: &Shared, operations: OperationSet) -> Report {
    let settings = &shared.settings;
    let window = shared.run.window();
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
        figures: Vec::new(),
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

async fn producer(shared: Arc<Shared>, client: SqsClient, index: usize) -> OperationSet {
    let settings = &shared.settings;
    let mut operations = OperationSet::default();
    let mut bodies = BodyFactory::new(settings.body_bytes, index);
    let mut ids = MessageIds::new(settings, shared.run_id, index);
    let mut schedule = SendSchedule::new(settings.send_rate_per_second, settings.producers, index);
    let operation = send_operation_name(settings.batch_size);
    while !shared.run.stopping() {
        let count = shared.run.claim_messages(u64::from(settings.batch_size));
        if count == 0 {
            break;
        }
        let Some(scheduled) = schedule.next_start(&shared.run).await else {
            break;
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
                shared.sent.add(sent, shared.run.in_window(completed));
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
    record_error: impl FnMut(&str),
) -> (u64, u64) {
    let successful =
        reply.successful.unwrap_or_default().into_iter().map(|entry| (Some(entry.id), entry.md5_of_message_body));
    let accepted = tally_batch(digests.len(), successful, reply.failed.unwrap_or_default(), record_error);
    let mismatches =
        accepted.iter().filter(|(index, digest)| digest.as_deref() != digests.get(*index).map(String::as_str)).count();
    (accepted.len() as u64, mismatches as u64)
}

async fn consumer(shared: Arc<Shared>, client: SqsClient) -> OperationSet {
    let settings = &shared.settings;
    let mut operations = OperationSet::default();
    while !shared.run.stopping() {
        let Some(messages) = receive_messages(
            &client,
            &shared.queue_url,
            (settings.batch_size, settings.wait_time_seconds),
            &mut operations,
            &shared.run,
            &shared.received,
        )
        .await
        else {
            continue;
        };
        if messages.is_empty() {
            shared.stop_if_complete();
            continue;
        }
        let (receipt_handles, mismatches) =
            take_receipt_handles(messages, operations.operation("ReceiveMessage"), |_| {});
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
                if let Some((completed, deleted)) =
                    delete_message_batch(&client, &shared.queue_url, chunk, &mut operations).await
                {
                    shared.deleted.add(deleted.len() as u64, shared.run.in_window(completed));
                }
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
            shared.deleted.add(1, shared.run.in_window(completed));
        }
        Err(error) => record_call_failure(stats, &error).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{BatchResultErrorEntry, SendMessageBatchReply, SendMessageBatchResultEntry};

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
    fn send_only_run_stops_once_producers_are_done() {
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
            run: RunControl::new(Some(25)),
            producers_running: AtomicUsize::new(1),
            sent: WindowedCounter::default(),
            received: WindowedCounter::default(),
            deleted: WindowedCounter::default(),
            send_md5_mismatches: AtomicU64::new(0),
            receive_md5_mismatches: AtomicU64::new(0),
        };
        let claims: Vec<u64> = (0..4).map(|_| shared.run.claim_messages(10)).collect();
        assert_eq!(claims, vec![10, 10, 5, 0]);
        assert!(!shared.run.stopping());
        shared.stop_if_complete();
        assert!(!shared.run.stopping(), "stopped while a producer was still running");
        shared.producers_running.store(0, Ordering::SeqCst);
        shared.stop_if_complete();
        assert!(shared.run.stopping());
        assert!(shared.run.in_window(shared.run.started));
    }
}
