//! The SNS fan-out scenario: one topic, N SQS queues subscribed to it with raw message
//! delivery (or, with `signed`, receiving the signed JSON notification); publishers publish (Publish or PublishBatch over awsQuery) while consumers drain
//! every queue (ReceiveMessage with long polling, DeleteMessageBatch over awsJson), so each
//! publication is counted once when published and N times when delivered.
//!
//! Setup is idempotent and never deletes anything: CreateTopic, CreateQueue for each queue,
//! GetQueueAttributes for its QueueArn, Subscribe (protocol `sqs`, RawMessageDelivery=true unless
//! `signed`).
//! Queues are not purged, so messages left by an earlier run are drained by the next one; every
//! body starts with a tag of its run, so those are counted apart (`stale`), not as deliveries.
//!
//! As in the SQS scenario each worker keeps its own histograms and hands them back at the end;
//! only message counters are shared atomics.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;
use tokio::time::Instant;

use crate::client::SqsClient;
use crate::query::{SnsClient, PUBLISH_BATCH_SIZE_MAX, SNS_PAYLOAD_BYTES_MAX};
use crate::report::{OperationSet, OperationStats, Report};
use crate::scenario::{
    delete_message_batch, join_workers, print_progress, receive_messages, record_call_failure,
    stop_on_deadline_or_interrupt, take_receipt_handles, tally_batch, unix_millis, BodyFactory, RunControl,
    SendSchedule, WindowedCounter,
};

/// SQS returns at most ten messages per receive (and deletes ten per batch).
const RECEIVE_MAX: u32 = 10;

/// With `--messages`, once publishers are done the run also ends if no delivery arrives for
/// this long (lost deliveries, or subscriptions that do not deliver), instead of waiting forever.
const DRAIN_STALL_LIMIT: Duration = Duration::from_secs(10);
const DRAIN_POLL_INTERVAL: Duration = Duration::from_millis(200);

#[derive(Clone, Debug)]
pub struct SnsSettings {
    pub endpoint: String,
    pub topic_name: String,
    /// Queues are named `{queue_prefix}-{index}`.
    pub queue_prefix: String,
    pub queues: u32,
    pub publishers: usize,
    /// 0 publishes only (deliveries pile up in the queues).
    pub consumers: usize,
    /// 1 means Publish, more means PublishBatch.
    pub batch_size: u32,
    pub body_bytes: usize,
    /// `None` runs until `messages_max` have been published (and delivered).
    pub duration: Option<Duration>,
    pub messages_max: Option<u64>,
    /// Target publish requests per second over all publishers; `None` publishes as fast as
    /// replies come.
    pub publish_rate_per_second: Option<f64>,
    pub wait_time_seconds: u32,
    /// Subscribe without RawMessageDelivery, so every delivery is the signed JSON notification.
    pub signed: bool,
    pub progress: bool,
}

impl SnsSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=PUBLISH_BATCH_SIZE_MAX).contains(&self.batch_size),
            "--batch must be 1..={PUBLISH_BATCH_SIZE_MAX}"
        );
        anyhow::ensure!(self.body_bytes >= 1, "--body-bytes must be at least 1");
        let batch_bytes = self.body_bytes as u64 * u64::from(self.batch_size);
        anyhow::ensure!(
            batch_bytes <= SNS_PAYLOAD_BYTES_MAX,
            "--body-bytes × --batch is {batch_bytes} bytes; SNS limits a publication (and a PublishBatch \
             together) to {SNS_PAYLOAD_BYTES_MAX} bytes"
        );
        anyhow::ensure!(self.publishers >= 1, "--publishers must be at least 1");
        anyhow::ensure!(self.queues >= 1, "--queues must be at least 1");
        anyhow::ensure!(
            self.duration.is_some() || self.messages_max.is_some(),
            "give --duration-secs or --messages so the run can end"
        );
        if let Some(rate) = self.publish_rate_per_second {
            anyhow::ensure!(rate.is_finite() && rate > 0.0, "--rate must be a positive number");
        }
        Ok(())
    }

    pub fn queue_name(&self, index: u32) -> String {
        format!("{}-{index}", self.queue_prefix)
    }

    fn publish_operation(&self) -> &'static str {
        if self.batch_size == 1 {
            "Publish"
        } else {
            "PublishBatch"
        }
    }
}

/// State every worker reads; counters only, no locks.
struct Shared {
    settings: SnsSettings,
    topic_arn: String,
    queue_urls: Vec<String>,
    /// Every body of this run starts with it (`{unix millis in hex}-`).
    run_tag: String,
    run: RunControl,
    publishers_running: AtomicUsize,
    published: WindowedCounter,
    received: WindowedCounter,
    /// This run's messages received and deleted: the deliveries.
    delivered: WindowedCounter,
    /// Earlier runs' messages received and deleted.
    stale: WindowedCounter,
    receive_md5_mismatches: AtomicU64,
    /// Bodies wrapped in the JSON notification envelope although the subscriptions asked for raw
    /// delivery (with `signed`, raw bodies although they did not).
    envelope_deliveries: AtomicU64,
    /// Set when `--messages` ended because deliveries stopped arriving.
    drain_stalled: AtomicBool,
}

impl Shared {
    /// Whether a received body was published by this run. Bodies too short to hold the whole
    /// tag cannot be told apart and all count as this run's.
    fn is_this_run(&self, body: &str) -> bool {
        self.settings.body_bytes < self.run_tag.len()
            || body.starts_with(&self.run_tag)
            || (is_notification_envelope(body) && body.contains(&self.run_tag))
    }

    /// Every publication is delivered once to each subscribed queue.
    fn expected_deliveries(&self) -> u64 {
        self.published.total().saturating_mul(self.queue_urls.len() as u64)
    }

    /// With `--messages`, the run is complete once every publisher has finished and consumers
    /// (if any) have deleted every delivery of what was published.
    fn stop_if_complete(&self) {
        if !self.run.has_budget() || self.publishers_running.load(Ordering::SeqCst) > 0 {
            return;
        }
        if self.settings.consumers == 0 || self.delivered.total() >= self.expected_deliveries() {
            self.run.request_stop();
        }
    }
}

/// A queue subscribed to the topic.
#[derive(Debug)]
struct SubscribedQueue {
    url: String,
    arn: String,
    subscription_arn: String,
}

/// Creates the topic and the queues and subscribes each queue; fails on the first error.
async fn set_up(
    settings: &SnsSettings,
    sns: &SnsClient,
    sqs: &SqsClient,
) -> anyhow::Result<(String, Vec<SubscribedQueue>)> {
    let topic_arn = sns
        .create_topic(&settings.topic_name)
        .await
        .with_context(|| format!("CreateTopic {} at {} failed", settings.topic_name, settings.endpoint))?;
    let mut queues = Vec::with_capacity(settings.queues as usize);
    for index in 0..settings.queues {
        let name = settings.queue_name(index);
        let url = sqs.create_queue(&name, &[]).await.with_context(|| format!("CreateQueue {name} failed"))?;
        let attributes = sqs
            .get_queue_attributes(&url, &["QueueArn"])
            .await
            .with_context(|| format!("GetQueueAttributes QueueArn of {url} failed"))?;
        let arn = attributes
            .get("QueueArn")
            .filter(|arn| !arn.is_empty())
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("GetQueueAttributes of {url} returned no QueueArn"))?;
        let raw: &[(&str, &str)] = if settings.signed { &[] } else { &[("RawMessageDelivery", "true")] };
        let subscription_arn = sns
            .subscribe(&topic_arn, "sqs", &arn, raw)
            .await
            .with_context(|| format!("Subscribe {arn} to {topic_arn} failed"))?;
        anyhow::ensure!(
            subscription_arn.starts_with("arn:"),
            "Subscribe {arn} to {topic_arn} answered SubscriptionArn {subscription_arn:?}: an SQS \
             subscription in the same account should be confirmed at once"
        );
        queues.push(SubscribedQueue { url, arn, subscription_arn });
    }
    Ok((topic_arn, queues))
}

/// Sets up the topic and queues, runs publishers and consumers until the window closes, and
/// returns the report. Fails only if setup fails or a worker panics.
pub async fn run(settings: SnsSettings, sns: SnsClient, sqs: SqsClient) -> anyhow::Result<Report> {
    settings.validate()?;
    let (topic_arn, queues) = set_up(&settings, &sns, &sqs).await?;
    if settings.progress {
        let delivery = if settings.signed { "signed notifications" } else { "RawMessageDelivery=true" };
        eprintln!("topic {topic_arn}: {} queues subscribed with {delivery}", queues.len());
        for queue in &queues {
            eprintln!("  {} <- {}", queue.arn, queue.subscription_arn);
        }
    }
    let publishers = settings.publishers;
    let consumers = settings.consumers;
    let shared = Arc::new(Shared {
        run: RunControl::new(settings.messages_max),
        settings,
        topic_arn,
        queue_urls: queues.into_iter().map(|queue| queue.url).collect(),
        run_tag: format!("{:x}-", unix_millis()),
        publishers_running: AtomicUsize::new(publishers),
        published: WindowedCounter::default(),
        received: WindowedCounter::default(),
        delivered: WindowedCounter::default(),
        stale: WindowedCounter::default(),
        receive_md5_mismatches: AtomicU64::new(0),
        envelope_deliveries: AtomicU64::new(0),
        drain_stalled: AtomicBool::new(false),
    });

    let mut workers = Vec::with_capacity(publishers + consumers);
    for index in 0..publishers {
        workers.push(tokio::spawn(publisher(Arc::clone(&shared), sns.clone(), index)));
    }
    for index in 0..consumers {
        workers.push(tokio::spawn(consumer(Arc::clone(&shared), sqs.clone(), index)));
    }
    let stopper = {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move { stop_on_deadline_or_interrupt(&shared.run, shared.settings.duration).await })
    };
    let drain_watch = tokio::spawn(stop_when_drain_stalls(Arc::clone(&shared)));
    let progress = shared.settings.progress.then(|| {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            print_progress(&shared.run, || {
                vec![
                    ("published", shared.published.total()),
                    ("received", shared.received.total()),
                    ("delivered", shared.delivered.total()),
                ]
            })
            .await
        })
    });

    let operations = join_workers(workers).await;
    stopper.abort();
    drain_watch.abort();
    if let Some(progress) = progress {
        progress.abort();
    }
    Ok(build_report(&shared, operations?))
}

/// With `--messages` and consumers: once the publishers are done, ends the run if deliveries
/// stop arriving for [`DRAIN_STALL_LIMIT`].
async fn stop_when_drain_stalls(shared: Arc<Shared>) {
    if !shared.run.has_budget() || shared.settings.consumers == 0 {
        return;
    }
    let mut last_count = shared.delivered.total();
    let mut last_change = Instant::now();
    while !shared.run.stopping() {
        tokio::time::sleep(DRAIN_POLL_INTERVAL).await;
        let count = shared.delivered.total();
        if count != last_count || shared.publishers_running.load(Ordering::SeqCst) > 0 {
            last_count = count;
            last_change = Instant::now();
        } else if last_change.elapsed() >= DRAIN_STALL_LIMIT {
            shared.drain_stalled.store(true, Ordering::SeqCst);
            shared.run.request_stop();
        }
    }
}

fn build_report(shared: &Shared, operations: OperationSet) -> Report {
    let settings = &shared.settings;
    let window = shared.run.window();
    let queues = shared.queue_urls.len() as u64;
    let published = shared.published.count("published");
    let mut messages = vec![published.clone()];
    let mut checks = Vec::new();
    let mut notes = Vec::new();
    if let Some(rate) = settings.publish_rate_per_second {
        let operation = settings.publish_operation();
        let requests = operations.get(operation).map_or(0, OperationStats::requests);
        let achieved = requests as f64 / window.as_secs_f64().max(f64::EPSILON);
        notes.push(format!(
            "open loop at {rate} publish requests/s (achieved {achieved:.1}/s): {operation} \
             latency is measured from each request's scheduled start (or its actual start when \
             the timer fired up to 1 ms early), so time spent queued behind a slow reply counts"
        ));
    }
    if settings.consumers > 0 {
        let delivered = shared.delivered.count("delivered");
        messages.push(shared.received.count("received"));
        messages.push(delivered.clone());
        messages.push(shared.stale.count("stale"));
        checks.push(("receive_md5_mismatches", shared.receive_md5_mismatches.load(Ordering::Relaxed)));
        checks.push(("envelope_deliveries", shared.envelope_deliveries.load(Ordering::Relaxed)));
        let ratio = if published.in_window > 0 {
            format!("{:.2}", delivered.in_window as f64 / published.in_window as f64)
        } else {
            "-".to_owned()
        };
        notes.push(format!(
            "delivered = this run's messages received and deleted from the {queues} subscribed queues; \
             at steady state delivered/s = {queues} × published/s; in the window delivered/published = {ratio}"
        ));
        let expected = shared.expected_deliveries();
        let delivered_total = shared.delivered.total();
        if delivered_total < expected {
            notes.push(format!(
                "{} of {expected} deliveries were not drained by the end (still queued, in flight or \
                 lost): consumers fell behind or the run stopped mid-delivery; the queues are not \
                 purged, so a later run drains them",
                expected - delivered_total
            ));
        }
        if delivered_total > expected {
            notes.push(
                "more deliveries than publications × queues: duplicates (SQS delivers at least once) or a \
                 queue subscribed more than once"
                    .to_owned(),
            );
        }
        let stale = shared.stale.total();
        if stale > 0 {
            notes.push(format!(
                "stale = {stale} messages left in the queues by earlier runs, drained (received and deleted) \
                 but not counted as delivered"
            ));
        }
        notes.push(format!(
            "ReceiveMessage latency includes up to {} s of long polling whenever a queue is empty",
            settings.wait_time_seconds
        ));
        if shared.drain_stalled.load(Ordering::SeqCst) {
            notes.push(format!(
                "stopped because no delivery arrived for {} s after the last publication",
                DRAIN_STALL_LIMIT.as_secs()
            ));
        }
    } else {
        notes.push(format!("no consumers: every publication is left in each of the {queues} queues"));
    }
    Report {
        scenario: "sns",
        settings: vec![
            ("endpoint", json!(settings.endpoint)),
            ("topic", json!(settings.topic_name)),
            ("topic_arn", json!(shared.topic_arn)),
            ("queues", json!(queues)),
            ("queue_prefix", json!(settings.queue_prefix)),
            ("publishers", json!(settings.publishers)),
            ("consumers", json!(settings.consumers)),
            ("batch", json!(settings.batch_size)),
            ("body_bytes", json!(settings.body_bytes)),
            ("duration_secs", json!(settings.duration.map(|duration| duration.as_secs_f64()))),
            ("messages", json!(settings.messages_max)),
            ("rate", json!(settings.publish_rate_per_second)),
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

async fn publisher(shared: Arc<Shared>, client: SnsClient, index: usize) -> OperationSet {
    let settings = &shared.settings;
    let mut operations = OperationSet::default();
    let mut bodies = BodyFactory::with_run_tag(settings.body_bytes, index, shared.run_tag.clone());
    let mut schedule = SendSchedule::new(settings.publish_rate_per_second, settings.publishers, index);
    let operation = settings.publish_operation();
    while !shared.run.stopping() {
        let count = shared.run.claim_messages(u64::from(settings.batch_size));
        if count == 0 {
            break;
        }
        let Some(scheduled) = schedule.next_start(&shared.run).await else {
            break;
        };
        let batch: Vec<String> = (0..count).map(|_| bodies.next_body()).collect();
        let stats = operations.operation(operation);
        let outcome = match (settings.batch_size, batch.as_slice()) {
            (1, [message]) => client.publish(&shared.topic_arn, message).await.map(|_message_id| {
                let completed = Instant::now();
                stats.record_success(completed.saturating_duration_since(scheduled));
                (completed, 1)
            }),
            _ => client.publish_batch(&shared.topic_arn, &batch).await.map(|reply| {
                let completed = Instant::now();
                stats.record_success(completed.saturating_duration_since(scheduled));
                let published = check_publish_batch(reply, batch.len(), |key| stats.record_error(key));
                (completed, published)
            }),
        };
        match outcome {
            Ok((completed, published)) => shared.published.add(published, shared.run.in_window(completed)),
            Err(error) => record_call_failure(stats, &error).await,
        }
    }
    shared.publishers_running.fetch_sub(1, Ordering::SeqCst);
    shared.stop_if_complete();
    operations
}

/// Counts the entries of a PublishBatch reply that were published (successful, with a
/// MessageId), reporting failed, unknown, duplicated, missing and id-less entries through
/// `record_error`.
fn check_publish_batch(
    reply: crate::query::PublishBatchReply,
    entries: usize,
    mut record_error: impl FnMut(&str),
) -> u64 {
    let accepted = tally_batch(entries, reply.successful, reply.failed, &mut record_error);
    let mut published = 0;
    for (_, message_id) in accepted {
        if message_id.is_some_and(|id| !id.is_empty()) {
            published += 1;
        } else {
            record_error("entry without MessageId");
        }
    }
    published
}

/// Consumers take the queues in turn, each starting at a different one, so every queue is
/// drained by about `consumers / queues` consumers at any time.
async fn consumer(shared: Arc<Shared>, client: SqsClient, index: usize) -> OperationSet {
    let settings = &shared.settings;
    let mut operations = OperationSet::default();
    let mut next_queue = index;
    while !shared.run.stopping() {
        let Some(queue_url) = shared.queue_urls.get(next_queue % shared.queue_urls.len().max(1)) else {
            break;
        };
        next_queue = next_queue.wrapping_add(1);
        let Some(messages) = receive_messages(
            &client,
            queue_url,
            (RECEIVE_MAX, settings.wait_time_seconds),
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
        let mut envelopes = 0;
        // Per receipt handle: whether the message is this run's.
        let mut this_run = Vec::with_capacity(messages.len());
        let (receipt_handles, mismatches) =
            take_receipt_handles(messages, operations.operation("ReceiveMessage"), |message| {
                let body = message.body.as_deref().unwrap_or("");
                envelopes += u64::from(is_notification_envelope(body) != shared.settings.signed);
                if message.receipt_handle.is_some() {
                    this_run.push(shared.is_this_run(body));
                }
            });
        if mismatches > 0 {
            shared.receive_md5_mismatches.fetch_add(mismatches, Ordering::Relaxed);
        }
        if envelopes > 0 {
            shared.envelope_deliveries.fetch_add(envelopes, Ordering::Relaxed);
        }
        // Messages received are deleted even after a stop request, so a run leaves nothing
        // in flight that it has already counted.
        for (chunk, chunk_this_run) in
            receipt_handles.chunks(RECEIVE_MAX as usize).zip(this_run.chunks(RECEIVE_MAX as usize))
        {
            let Some((completed, deleted)) = delete_message_batch(&client, queue_url, chunk, &mut operations).await
            else {
                continue;
            };
            let current = deleted.iter().filter(|index| chunk_this_run.get(**index).copied().unwrap_or(true)).count();
            let in_window = shared.run.in_window(completed);
            shared.delivered.add(current as u64, in_window);
            shared.stale.add((deleted.len() - current) as u64, in_window);
        }
        shared.stop_if_complete();
    }
    operations
}

/// The bench publishes alphanumeric bodies, so a body that is a JSON object is SNS's
/// notification envelope: the subscription ignored RawMessageDelivery.
fn is_notification_envelope(body: &str) -> bool {
    body.trim_start().starts_with('{') && body.contains("\"Type\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::BatchResultErrorEntry;
    use crate::query::PublishBatchReply;

    fn settings() -> SnsSettings {
        SnsSettings {
            endpoint: "http://localhost".into(),
            topic_name: "t".into(),
            queue_prefix: "q".into(),
            queues: 3,
            publishers: 2,
            consumers: 2,
            batch_size: 10,
            body_bytes: 1024,
            duration: Some(Duration::from_secs(1)),
            messages_max: None,
            publish_rate_per_second: None,
            wait_time_seconds: 1,
            signed: false,
            progress: false,
        }
    }

    #[test]
    fn settings_are_validated() {
        assert!(settings().validate().is_ok());
        assert_eq!(settings().queue_name(7), "q-7");
        let invalid: [fn(&mut SnsSettings); 8] = [
            |s| s.batch_size = 0,
            |s| s.batch_size = 11,
            |s| s.body_bytes = 0,
            |s| s.body_bytes = 26_215,
            |s| s.publishers = 0,
            |s| s.queues = 0,
            |s| s.duration = None,
            |s| s.publish_rate_per_second = Some(0.0),
        ];
        for (index, change) in invalid.iter().enumerate() {
            let mut candidate = settings();
            change(&mut candidate);
            assert!(candidate.validate().is_err(), "invalid settings #{index} were accepted");
        }
        let mut single = settings();
        single.batch_size = 1;
        single.body_bytes = 262_144;
        assert!(single.validate().is_ok());
        assert_eq!(single.publish_operation(), "Publish");
        assert_eq!(settings().publish_operation(), "PublishBatch");
    }

    #[test]
    fn publish_batch_reply_is_checked_entry_by_entry() {
        let reply = PublishBatchReply {
            successful: vec![
                (Some("0".into()), Some("m-0".into())),
                (Some("1".into()), None),
                (Some("7".into()), Some("m-7".into())),
            ],
            failed: vec![BatchResultErrorEntry { id: Some("2".into()), code: Some("InvalidParameter".into()) }],
        };
        let mut errors = Vec::new();
        let published = check_publish_batch(reply, 4, |key| errors.push(key.to_owned()));
        assert_eq!(published, 1);
        assert_eq!(
            errors,
            vec![
                "entry with unknown Id",
                "entry InvalidParameter",
                "entry missing from reply",
                "entry without MessageId"
            ]
        );
    }

    #[test]
    fn envelopes_are_told_from_raw_bodies() {
        assert!(is_notification_envelope(r#"{"Type" : "Notification", "MessageId" : "m", "Message" : "0-0-abc"}"#));
        assert!(!is_notification_envelope("0-0-abcdef"));
        assert!(!is_notification_envelope(""));
    }

    #[test]
    fn stale_messages_are_told_apart_and_a_messages_run_completes_when_every_delivery_is_drained() {
        let mut with_budget = settings();
        with_budget.duration = None;
        with_budget.messages_max = Some(20);
        let shared = Shared {
            settings: with_budget,
            topic_arn: "arn:t".into(),
            queue_urls: vec!["a".into(), "b".into(), "c".into()],
            run_tag: "18f-".into(),
            run: RunControl::new(Some(20)),
            publishers_running: AtomicUsize::new(0),
            published: WindowedCounter::default(),
            received: WindowedCounter::default(),
            delivered: WindowedCounter::default(),
            stale: WindowedCounter::default(),
            receive_md5_mismatches: AtomicU64::new(0),
            envelope_deliveries: AtomicU64::new(0),
            drain_stalled: AtomicBool::new(false),
        };
        assert!(shared.is_this_run("18f-0-1-abc"));
        assert!(!shared.is_this_run("17a-0-1-abc"));
        assert!(shared.is_this_run(r#"{"Type":"Notification","Message":"18f-0-1-abc"}"#));
        assert!(!shared.is_this_run(r#"{"Type":"Notification","Message":"17a-0-1-abc"}"#));
        shared.published.add(20, true);
        assert_eq!(shared.expected_deliveries(), 60);
        shared.delivered.add(59, true);
        shared.stop_if_complete();
        assert!(!shared.run.stopping());
        shared.delivered.add(1, true);
        shared.stop_if_complete();
        assert!(shared.run.stopping());
    }
}
