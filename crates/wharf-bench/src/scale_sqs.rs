//! The SQS scale scenarios, each on a server of its own (see `scale.rs`):
//!
//! - `scale-queues`: many queues. Creates --queues queues, sends one message to each and
//!   receives it back, pages ListQueues over all of them, restarts the server (SIGTERM, start
//!   on the same directory) and checks every queue and message survived; reports create and
//!   list rates, restart time and RSS before and after.
//! - `backlog`: one deep queue (or a few). Fills --queues queues with --messages messages in
//!   all (SendMessageBatch of 10, many senders), reports the fill rate, RSS above an empty
//!   server's per queued message and the data directory's size, restarts and measures the time
//!   until ReceiveMessage returns a message again, then receives and deletes a sample, checking
//!   every body byte for byte.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::time::Instant;

use crate::client::{md5_hex, AwsJsonClient, CallError, OutgoingMessage, SqsClient};
use crate::report::{MessageCount, OperationSet, Report};
use crate::scale::{self, mib, millis, per_item, progress, secs, wait_until, ServerArgs};
use crate::scenario::join_workers;

/// How long the server may take to serve again after a restart.
const READY_TIMEOUT: Duration = Duration::from_secs(900);
/// Attempts per call before a worker gives up on an item (each failure is counted).
const ATTEMPTS: u32 = 5;

#[derive(Args, Debug)]
pub struct ScaleQueuesArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Queues to create (named <PREFIX>-00000 ...).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub queues: u64,
    #[arg(long, value_name = "PREFIX", default_value = "scale-q")]
    pub queue_prefix: String,
    /// Concurrent clients, one connection each.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub concurrency: u64,
}

#[derive(Args, Debug)]
pub struct BacklogArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Messages to queue in all, spread evenly over the queues.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(10..))]
    pub messages: u64,
    /// Queues to fill (named <PREFIX>-0 ...).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub queues: u64,
    #[arg(long, value_name = "PREFIX", default_value = "backlog")]
    pub queue_prefix: String,
    /// Body size in bytes (at least 16: each body starts with its message number).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(16..=262_144))]
    pub body_bytes: u64,
    /// Concurrent SendMessageBatch senders, one connection each.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub senders: u64,
    /// Messages received, checked and deleted after the restart.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub sample: u64,
    /// Concurrent receivers of the sample.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub receivers: u64,
}

// ---- the calls the other scenarios do not make ------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListQueuesRequest<'a> {
    queue_name_prefix: &'a str,
    max_results: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<&'a str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListQueuesReply {
    #[serde(default)]
    queue_urls: Vec<String>,
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReceiveRequest<'a> {
    queue_url: &'a str,
    max_number_of_messages: u32,
    wait_time_seconds: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    visibility_timeout: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReceiveReply {
    #[serde(default)]
    messages: Vec<Received>,
}

#[derive(Deserialize)]
struct Received {
    #[serde(rename = "ReceiptHandle")]
    receipt_handle: String,
    #[serde(rename = "Body")]
    body: String,
    #[serde(rename = "MD5OfBody")]
    md5_of_body: String,
}

/// SqsClient plus ListQueues and ReceiveMessage with a VisibilityTimeout.
#[derive(Clone)]
struct ScaleSqs {
    sqs: SqsClient,
    json: AwsJsonClient,
}

impl ScaleSqs {
    fn new(server: &ServerArgs, workers: usize) -> anyhow::Result<Self> {
        let config = server.endpoint_config(workers)?;
        Ok(Self {
            sqs: SqsClient::new(&config)?,
            json: AwsJsonClient::new(&config, "sqs", "AmazonSQS", "application/x-amz-json-1.0")?,
        })
    }

    async fn list_queues(&self, prefix: &str, next_token: Option<&str>) -> Result<ListQueuesReply, CallError> {
        let request = ListQueuesRequest { queue_name_prefix: prefix, max_results: 1000, next_token };
        self.json.call("ListQueues", &request, Duration::ZERO).await
    }

    async fn receive(
        &self,
        queue_url: &str,
        max: u32,
        wait_secs: u32,
        visibility_timeout: Option<u32>,
    ) -> Result<Vec<Received>, CallError> {
        let request =
            ReceiveRequest { queue_url, max_number_of_messages: max, wait_time_seconds: wait_secs, visibility_timeout };
        let reply: ReceiveReply =
            self.json.call("ReceiveMessage", &request, Duration::from_secs(u64::from(wait_secs))).await?;
        Ok(reply.messages)
    }
}

/// Runs `call` until it succeeds, at most [`ATTEMPTS`] times, timing each attempt into `name`.
async fn with_retries<T, F, Fut>(operations: &mut OperationSet, name: &'static str, mut call: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, CallError>>,
{
    for _ in 0..ATTEMPTS {
        let started = Instant::now();
        match call().await {
            Ok(value) => {
                operations.operation(name).record_success(started.elapsed());
                return Some(value);
            }
            Err(error) => {
                operations.operation(name).record_failure(&error.key());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    None
}

/// Pages ListQueues over `prefix`; returns the URLs and the number of pages.
async fn list_all(
    client: &ScaleSqs,
    prefix: &str,
    operations: &mut OperationSet,
) -> anyhow::Result<(Vec<String>, u64)> {
    let mut urls = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let reply = with_retries(operations, "ListQueues", || client.list_queues(prefix, token.as_deref()))
            .await
            .context("ListQueues kept failing")?;
        pages += 1;
        urls.extend(reply.queue_urls);
        match reply.next_token.filter(|token| !token.is_empty()) {
            Some(next) => token = Some(next),
            None => return Ok((urls, pages)),
        }
    }
}

fn queue_body(index: u64) -> String {
    format!("scale-queue-{index}")
}

/// Runs `workers` tasks that take indexes 0..count in turn and call `step` for each.
async fn for_each_index<F, Fut>(count: u64, workers: u64, step: F) -> anyhow::Result<OperationSet>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = OperationSet> + Send,
{
    let next = Arc::new(AtomicU64::new(0));
    let step = Arc::new(step);
    let handles = (0..workers.min(count).max(1))
        .map(|_| {
            let next = Arc::clone(&next);
            let step = Arc::clone(&step);
            tokio::spawn(async move {
                let mut operations = OperationSet::default();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= count {
                        return operations;
                    }
                    operations.merge(&step(index).await);
                }
            })
        })
        .collect();
    join_workers(handles).await
}

// ---- scale-queues -----------------------------------------------------------------------

pub async fn run_scale_queues(args: ScaleQueuesArgs) -> anyhow::Result<Report> {
    let quiet = args.server.quiet;
    let concurrency = usize::try_from(args.concurrency)?;
    let mut server = args.server.server("queues")?;
    let spawn_to_listen = server.start().await?;
    let client = ScaleSqs::new(&args.server, concurrency)?;
    let empty = server.memory()?;
    progress(
        quiet,
        format!("wharf pid {:?} on {}; empty RSS {} MiB", server.pid(), server.data_dir.display(), mib(empty.rss)),
    );
    let mut operations = OperationSet::default();
    let count = args.queues;
    let prefix = args.queue_prefix.clone();
    let name = move |index: u64| format!("{prefix}-{index:05}");
    let failed = Arc::new(AtomicU64::new(0));
    let bad_replies = Arc::new(AtomicU64::new(0));

    // Create, send one, receive it back (leaving it visible, so it must survive the restart).
    let created_at = Instant::now();
    let phase = {
        let (client, name, failed, bad_replies) = (client.clone(), name.clone(), failed.clone(), bad_replies.clone());
        for_each_index(count, args.concurrency, move |index| {
            let (client, failed, bad_replies) = (client.clone(), failed.clone(), bad_replies.clone());
            let queue_name = name(index);
            async move {
                let mut operations = OperationSet::default();
                let Some(url) =
                    with_retries(&mut operations, "CreateQueue", || client.sqs.create_queue(&queue_name, &[])).await
                else {
                    failed.fetch_add(1, Ordering::Relaxed);
                    return operations;
                };
                let message = OutgoingMessage { body: queue_body(index), group_id: None, deduplication_id: None };
                let sent =
                    with_retries(&mut operations, "SendMessage", || client.sqs.send_message(&url, &message)).await;
                if sent.and_then(|reply| reply.md5_of_message_body) != Some(md5_hex(message.body.as_bytes())) {
                    bad_replies.fetch_add(1, Ordering::Relaxed);
                }
                let received =
                    with_retries(&mut operations, "ReceiveMessage", || client.receive(&url, 1, 1, Some(0))).await;
                match received.as_deref() {
                    Some([one]) if one.body == message.body && one.md5_of_body == md5_hex(one.body.as_bytes()) => {}
                    _ => {
                        bad_replies.fetch_add(1, Ordering::Relaxed);
                    }
                }
                operations
            }
        })
        .await?
    };
    let create_phase = created_at.elapsed();
    operations.merge(&phase);
    progress(quiet, format!("created {count} queues with one message each in {:.1} s", create_phase.as_secs_f64()));

    let listed_at = Instant::now();
    let (urls, pages) = list_all(&client, &args.queue_prefix, &mut operations).await?;
    let list_time = listed_at.elapsed();
    let listed_before = urls.len() as u64;
    let before = server.memory()?;
    let disk = server.disk_usage()?;

    // Restart.
    let shutdown = server.stop().await?;
    let restarted_at = Instant::now();
    let listening = server.start().await?;
    let probe_client = client.clone();
    let probe_prefix = args.queue_prefix.clone();
    let (ready, probes) = wait_until(restarted_at, READY_TIMEOUT, || {
        let (client, prefix) = (probe_client.clone(), probe_prefix.clone());
        async move { client.list_queues(&prefix, None).await.map(|reply| !reply.queue_urls.is_empty()) }
    })
    .await?;
    let after_ready = server.memory()?;
    progress(quiet, format!("restarted: listening after {listening:?}, ListQueues answers after {ready:?}"));

    // Everything survived?
    let relisted_at = Instant::now();
    let (urls_after, pages_after) = list_all(&client, &args.queue_prefix, &mut operations).await?;
    let relist_time = relisted_at.elapsed();
    let missing_messages = Arc::new(AtomicU64::new(0));
    let verified_at = Instant::now();
    let urls_after = Arc::new(urls_after);
    let phase = {
        let (client, urls, missing) = (client.clone(), Arc::clone(&urls_after), missing_messages.clone());
        let prefix = format!("{}-", args.queue_prefix);
        for_each_index(urls.len() as u64, args.concurrency, move |position| {
            let (client, urls, missing) = (client.clone(), Arc::clone(&urls), missing.clone());
            let prefix = prefix.clone();
            async move {
                let mut operations = OperationSet::default();
                let url = &urls[usize::try_from(position).unwrap_or(usize::MAX)];
                let index =
                    url.rsplit('/').next().and_then(|name| name.strip_prefix(&prefix)).and_then(|n| n.parse().ok());
                let received =
                    with_retries(&mut operations, "ReceiveMessage", || client.receive(url, 1, 1, None)).await;
                match (received.as_deref(), index) {
                    (Some([one]), Some(index)) if one.body == queue_body(index) => {
                        let handle = one.receipt_handle.clone();
                        with_retries(&mut operations, "DeleteMessage", || client.sqs.delete_message(url, &handle))
                            .await;
                    }
                    _ => {
                        missing.fetch_add(1, Ordering::Relaxed);
                    }
                }
                operations
            }
        })
        .await?
    };
    let verify_time = verified_at.elapsed();
    operations.merge(&phase);
    let after_verify = server.memory()?;
    let shutdown_after = server.stop().await?;
    drop(server);

    let listed_after = urls_after.len() as u64;
    let report = Report {
        scenario: "scale-queues",
        settings: vec![
            ("endpoint", json!(args.server.endpoint())),
            ("queues", json!(count)),
            ("concurrency", json!(args.concurrency)),
        ],
        window: create_phase,
        messages: vec![MessageCount { name: "queues", in_window: count - failed.load(Ordering::Relaxed), total: count }],
        figures: vec![
            ("create_send_receive_phase_s", secs(create_phase)),
            ("list_queues_all_s", secs(list_time)),
            ("list_queues_pages", json!(pages)),
            ("queues_listed_before_restart", json!(listed_before)),
            ("rss_empty_mib", mib(empty.rss)),
            ("rss_before_restart_mib", mib(before.rss)),
            ("rss_peak_before_restart_mib", mib(before.peak)),
            ("rss_per_queue_bytes", per_item(before.rss, empty.rss, count)),
            ("data_dir_mib", mib(disk.allocated)),
            ("data_dir_apparent_mib", mib(disk.apparent)),
            ("first_start_listen_ms", millis(spawn_to_listen)),
            ("shutdown_after_sigterm_ms", millis(shutdown)),
            ("restart_listen_ms", millis(listening)),
            ("restart_to_first_list_queues_ms", millis(ready)),
            ("restart_ready_probes", json!(probes)),
            ("rss_after_restart_mib", mib(after_ready.rss)),
            ("rss_after_verify_mib", mib(after_verify.rss)),
            ("list_queues_all_after_restart_s", secs(relist_time)),
            ("list_queues_pages_after_restart", json!(pages_after)),
            ("verify_receive_delete_all_s", secs(verify_time)),
            ("final_shutdown_ms", millis(shutdown_after)),
        ],
        checks: vec![
            ("queues_not_created", failed.load(Ordering::Relaxed)),
            ("bad_send_or_receive_replies", bad_replies.load(Ordering::Relaxed)),
            ("queues_missing_from_list_before_restart", count.saturating_sub(listed_before)),
            ("queues_missing_after_restart", count.saturating_sub(listed_after)),
            ("messages_missing_or_wrong_after_restart", missing_messages.load(Ordering::Relaxed)),
        ],
        operations,
        notes: vec![
            "measured window = create + send + receive phase; RSS is VmRSS of the wharf process".to_owned(),
            "restart: SIGTERM, wait for exit, start on the same data directory; ready = first ListQueues that lists a queue"
                .to_owned(),
        ],
    };
    Ok(report)
}

// ---- backlog ----------------------------------------------------------------------------

const BODY_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Message `number`'s body: its number in 12 digits, `:`, then filler derived from the number.
fn backlog_body(number: u64, body_bytes: usize) -> String {
    let mut body = format!("{number:012}:");
    let mut state = crate::kinesis_api::mix64(number);
    while body.len() < body_bytes {
        body.push(char::from(BODY_ALPHABET[(state & 63) as usize]));
        state = state.rotate_right(6) ^ (state >> 3);
        if state == 0 {
            state = number | 1;
        }
    }
    body.truncate(body_bytes);
    body
}

/// The message number if `body` is exactly one of this run's bodies.
fn check_backlog_body(body: &str, body_bytes: usize) -> Option<u64> {
    let number: u64 = body.get(..12)?.parse().ok()?;
    (backlog_body(number, body_bytes) == body).then_some(number)
}

/// Counts a received message of the backlog: its number into `seen` if it is exactly one of this
/// run's bodies with the right MD5, else one more in `corrupt`.
fn tally_backlog_message(
    message: &Received,
    body_bytes: usize,
    seen: &std::sync::Mutex<std::collections::HashSet<u64>>,
    corrupt: &AtomicU64,
) {
    match check_backlog_body(&message.body, body_bytes) {
        Some(number) if message.md5_of_body == md5_hex(message.body.as_bytes()) => {
            if let Ok(mut seen) = seen.lock() {
                seen.insert(number);
            }
        }
        _ => {
            corrupt.fetch_add(1, Ordering::Relaxed);
        }
    }
}

pub async fn run_backlog(args: BacklogArgs) -> anyhow::Result<Report> {
    let quiet = args.server.quiet;
    let body_bytes = usize::try_from(args.body_bytes)?;
    let total = args.messages;
    let mut server = args.server.server("backlog")?;
    let spawn_to_listen = server.start().await?;
    let client = ScaleSqs::new(&args.server, usize::try_from(args.senders.max(args.receivers))?)?;
    let mut operations = OperationSet::default();
    let mut urls = Vec::new();
    for index in 0..args.queues {
        let name = format!("{}-{index}", args.queue_prefix);
        let url = with_retries(&mut operations, "CreateQueue", || client.sqs.create_queue(&name, &[]))
            .await
            .context("CreateQueue kept failing")?;
        urls.push(url);
    }
    let urls = Arc::new(urls);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let empty = server.memory()?;
    let empty_disk = server.disk_usage()?;
    progress(
        quiet,
        format!("wharf pid {:?}; empty RSS {} MiB; filling {total} messages", server.pid(), mib(empty.rss)),
    );

    // Fill: batches of 10 consecutive numbers; batch b goes to queue b % queues.
    let batches = total.div_ceil(10);
    let sent = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let bad_md5 = Arc::new(AtomicU64::new(0));
    let fill_started = Instant::now();
    let reporter = {
        let sent = Arc::clone(&sent);
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let now = sent.load(Ordering::Relaxed);
                progress(quiet, format!("  sent {now} ({:.0}/s over the last 5 s)", (now - last) as f64 / 5.0));
                last = now;
            }
        })
    };
    let phase = {
        let (client, urls, sent, failed, bad_md5) =
            (client.clone(), Arc::clone(&urls), sent.clone(), failed.clone(), bad_md5.clone());
        for_each_index(batches, args.senders, move |batch| {
            let (client, urls, sent, failed, bad_md5) =
                (client.clone(), Arc::clone(&urls), sent.clone(), failed.clone(), bad_md5.clone());
            async move {
                let mut operations = OperationSet::default();
                let url = &urls[usize::try_from(batch % urls.len() as u64).unwrap_or(0)];
                let first = batch * 10;
                let messages: Vec<OutgoingMessage> = (first..(first + 10).min(total))
                    .map(|number| OutgoingMessage {
                        body: backlog_body(number, body_bytes),
                        group_id: None,
                        deduplication_id: None,
                    })
                    .collect();
                let mut pending: Vec<OutgoingMessage> = messages;
                for _ in 0..ATTEMPTS {
                    let started = Instant::now();
                    match client.sqs.send_message_batch(url, &pending).await {
                        Ok(reply) => {
                            operations.operation("SendMessageBatch").record_success(started.elapsed());
                            let mut done = vec![false; pending.len()];
                            for entry in reply.successful.unwrap_or_default() {
                                let Some(index) = entry.id.parse::<usize>().ok().filter(|i| *i < pending.len()) else {
                                    continue;
                                };
                                if entry.md5_of_message_body.as_deref()
                                    != Some(md5_hex(pending[index].body.as_bytes()).as_str())
                                {
                                    bad_md5.fetch_add(1, Ordering::Relaxed);
                                }
                                done[index] = true;
                            }
                            let ok = done.iter().filter(|done| **done).count() as u64;
                            sent.fetch_add(ok, Ordering::Relaxed);
                            pending = pending.into_iter().zip(done).filter(|(_, done)| !done).map(|(m, _)| m).collect();
                            if pending.is_empty() {
                                break;
                            }
                            operations.operation("SendMessageBatch").record_error("entries failed");
                        }
                        Err(error) => {
                            operations.operation("SendMessageBatch").record_failure(&error.key());
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
                failed.fetch_add(pending.len() as u64, Ordering::Relaxed);
                operations
            }
        })
        .await?
    };
    let fill_time = fill_started.elapsed();
    reporter.abort();
    operations.merge(&phase);
    let sent_total = sent.load(Ordering::Relaxed);
    progress(quiet, format!("filled {sent_total} in {:.1} s", fill_time.as_secs_f64()));

    // Let background work (group commit tail, allocator) settle, then measure.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let full = server.memory()?;
    let full_disk = server.disk_usage()?;
    let queued_before = approximate_messages(&client, &urls, &mut operations).await;

    let shutdown = server.stop().await?;
    let restarted_at = Instant::now();
    let listening = server.start().await?;
    let after_listen = server.memory()?;
    let probe_client = client.clone();
    let probe_url = urls[0].clone();
    let first: Arc<std::sync::Mutex<Vec<Received>>> = Arc::default();
    let first_slot = Arc::clone(&first);
    let (ready, probes) = wait_until(restarted_at, READY_TIMEOUT, || {
        let (client, url, slot) = (probe_client.clone(), probe_url.clone(), Arc::clone(&first_slot));
        async move {
            let messages = client.receive(&url, 1, 0, None).await?;
            let got = !messages.is_empty();
            if let Ok(mut slot) = slot.lock() {
                slot.extend(messages);
            }
            Ok(got)
        }
    })
    .await?;
    let after_ready = server.memory()?;
    progress(quiet, format!("restarted: listening after {listening:?}, first message after {ready:?}"));

    // Sample: receive, check and delete (the probe's message included).
    let sample = args.sample.min(sent_total);
    let corrupt = Arc::new(AtomicU64::new(0));
    let received = Arc::new(AtomicU64::new(0));
    let seen = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let first_messages: Vec<Received> = first.lock().map(|mut slot| std::mem::take(&mut *slot)).unwrap_or_default();
    for message in first_messages {
        received.fetch_add(1, Ordering::Relaxed);
        tally_backlog_message(&message, body_bytes, &seen, &corrupt);
        let handle = message.receipt_handle;
        with_retries(&mut operations, "DeleteMessage", || client.sqs.delete_message(&urls[0], &handle)).await;
    }
    let sampled_at = Instant::now();
    let receivers = args.receivers;
    let handles = (0..receivers)
        .map(|worker| {
            let (client, urls, corrupt, received, seen) =
                (client.clone(), Arc::clone(&urls), corrupt.clone(), received.clone(), Arc::clone(&seen));
            tokio::spawn(async move {
                let mut operations = OperationSet::default();
                let url = &urls[usize::try_from(worker % urls.len() as u64).unwrap_or(0)];
                let mut empty_replies = 0;
                while received.load(Ordering::Relaxed) < sample && empty_replies < 10 {
                    let Some(messages) =
                        with_retries(&mut operations, "ReceiveMessage", || client.receive(url, 10, 1, None)).await
                    else {
                        break;
                    };
                    if messages.is_empty() {
                        empty_replies += 1;
                        continue;
                    }
                    received.fetch_add(messages.len() as u64, Ordering::Relaxed);
                    let mut handles = Vec::with_capacity(messages.len());
                    for message in messages {
                        tally_backlog_message(&message, body_bytes, &seen, &corrupt);
                        handles.push(message.receipt_handle);
                    }
                    let deleted = with_retries(&mut operations, "DeleteMessageBatch", || {
                        client.sqs.delete_message_batch(url, &handles)
                    })
                    .await;
                    if let Some(reply) = deleted {
                        if !reply.failed.unwrap_or_default().is_empty() {
                            operations.operation("DeleteMessageBatch").record_error("entries failed");
                        }
                    }
                }
                operations
            })
        })
        .collect();
    operations.merge(&join_workers(handles).await?);
    let sample_time = sampled_at.elapsed();
    let received_total = received.load(Ordering::Relaxed);
    let distinct = seen.lock().map(|seen| seen.len() as u64).unwrap_or(0);
    let after_sample = server.memory()?;
    let queued_after = approximate_messages(&client, &urls, &mut operations).await;
    let final_shutdown = server.stop().await?;
    drop(server);

    let data_bytes = sent_total * args.body_bytes;
    Ok(Report {
        scenario: "backlog",
        settings: vec![
            ("endpoint", json!(args.server.endpoint())),
            ("messages", json!(total)),
            ("queues", json!(args.queues)),
            ("body_bytes", json!(args.body_bytes)),
            ("senders", json!(args.senders)),
            ("sample", json!(args.sample)),
        ],
        window: fill_time,
        messages: vec![
            MessageCount { name: "sent", in_window: sent_total, total: sent_total },
            MessageCount { name: "sampled", in_window: received_total, total: received_total },
        ],
        figures: vec![
            ("fill_s", secs(fill_time)),
            ("fill_messages_per_s", json!(scale::round2(sent_total as f64 / fill_time.as_secs_f64()))),
            ("approximate_messages_before_restart", json!(queued_before)),
            ("rss_empty_mib", mib(empty.rss)),
            ("rss_full_mib", mib(full.rss)),
            ("rss_peak_during_fill_mib", mib(full.peak)),
            ("rss_bytes_per_queued_message", per_item(full.rss, empty.rss, sent_total)),
            ("data_dir_empty_mib", mib(empty_disk.allocated)),
            ("data_dir_full_mib", mib(full_disk.allocated)),
            ("data_dir_full_apparent_mib", mib(full_disk.apparent)),
            ("disk_bytes_per_message", per_item(full_disk.allocated, empty_disk.allocated, sent_total)),
            ("disk_over_body_bytes", json!(scale::round2(full_disk.allocated as f64 / data_bytes.max(1) as f64))),
            ("first_start_listen_ms", millis(spawn_to_listen)),
            ("shutdown_after_sigterm_ms", millis(shutdown)),
            ("restart_listen_ms", millis(listening)),
            ("restart_to_first_message_ms", millis(ready)),
            ("restart_ready_probes", json!(probes)),
            ("rss_at_listen_after_restart_mib", mib(after_listen.rss)),
            ("rss_after_restart_mib", mib(after_ready.rss)),
            ("rss_after_restart_bytes_per_message", per_item(after_ready.rss, empty.rss, sent_total)),
            ("rss_after_sample_mib", mib(after_sample.rss)),
            ("rss_peak_after_restart_mib", mib(after_sample.peak)),
            ("sample_receive_delete_s", secs(sample_time)),
            ("approximate_messages_after_sample", json!(queued_after)),
            ("final_shutdown_ms", millis(final_shutdown)),
        ],
        checks: vec![
            ("messages_not_sent", failed.load(Ordering::Relaxed)),
            ("send_md5_mismatches", bad_md5.load(Ordering::Relaxed)),
            ("corrupt_bodies_after_restart", corrupt.load(Ordering::Relaxed)),
            ("sample_duplicates", received_total.saturating_sub(distinct)),
            ("sample_short", sample.saturating_sub(received_total)),
        ],
        operations,
        notes: vec![
            "measured window = fill; RSS is VmRSS of the wharf process (peak = VmHWM)".to_owned(),
            "restart: SIGTERM, wait for exit, start on the same data directory; ready = first ReceiveMessage \
             (WaitTimeSeconds=0) that returns a message"
                .to_owned(),
        ],
    })
}

/// Sum of ApproximateNumberOfMessages over the queues (None if any call failed).
async fn approximate_messages(client: &ScaleSqs, urls: &[String], operations: &mut OperationSet) -> Option<u64> {
    let mut sum = 0;
    for url in urls {
        let attributes: BTreeMap<String, String> = with_retries(operations, "GetQueueAttributes", || {
            client.sqs.get_queue_attributes(url, &["ApproximateNumberOfMessages"])
        })
        .await?;
        sum += attributes.get("ApproximateNumberOfMessages")?.parse::<u64>().ok()?;
    }
    Some(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backlog_bodies_have_their_size_and_check() {
        for size in [16, 200, 1000] {
            let body = backlog_body(123_456, size);
            assert_eq!(body.len(), size);
            assert!(body.starts_with("000000123456:"));
            assert_eq!(check_backlog_body(&body, size), Some(123_456));
            let mut wrong = body.clone().into_bytes();
            let last = wrong.len() - 1;
            wrong[last] = if wrong[last] == b'A' { b'B' } else { b'A' };
            assert_eq!(check_backlog_body(&String::from_utf8(wrong).expect("ascii"), size), None);
        }
        assert_ne!(backlog_body(1, 200), backlog_body(2, 200));
    }
}
