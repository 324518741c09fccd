//! Graceful shutdown under load: the real binary gets SIGTERM (or SIGINT) while producers,
//! consumers in long polls, SNS publishers and Kinesis writers are all busy. It must exit 0
//! within its drain timeout (plus a generous margin that only detects hangs), end every long
//! poll with an empty reply, and lose nothing it acknowledged: after a restart on the same data
//! directory every acknowledged send is there unless its delete was acknowledged, messages
//! received but not deleted can be received again, FIFO groups are in order without duplicates,
//! every acknowledged publication reached both subscribed queues and every acknowledged Kinesis
//! record kept its sequence number. A second case gives the drain 300 ms while slow uploads
//! (HTTP/1.1 and HTTP/2) cannot finish in time.

mod common;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, QueueAttributeName, SendMessageBatchRequestEntry};
use common::{
    client_without_retries, drain_deleting, kinesis_client, kinesis_client_without_retries, queue_url, read_stream,
    WharfProcess, HANG_TIMEOUT,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const STANDARD: &str = "shutdown-standard";
const FIFO: &str = "shutdown-fifo.fifo";
const FAN_OUT: [&str; 2] = ["shutdown-fan-a", "shutdown-fan-b"];
const TOPIC: &str = "shutdown-topic";
const STREAM: &str = "shutdown-stream";
/// Never written to: long polls on it can only end by the shutdown.
const IDLE: &str = "shutdown-idle";
/// Where the slow uploads of the short-drain case send to; must stay empty.
const SLOW: &str = "shutdown-slow";
const FIFO_GROUPS: usize = 3;
/// Added to the drain timeout when waiting for the exit. Detects a hang; not a speed target.
const MARGIN: Duration = Duration::from_secs(10);
/// How long the load runs before the signal.
const LOAD_BEFORE_SIGNAL: Duration = Duration::from_millis(1200);

/// Everything the clients tried and everything the server acknowledged.
#[derive(Default)]
struct Ledger {
    /// Bodies of every standard-queue send, acknowledged or not.
    standard_attempted: HashSet<String>,
    /// Bodies of standard-queue sends that got a success reply.
    standard_sent: HashSet<String>,
    /// Bodies a delete was sent for (maybe applied, maybe not).
    delete_attempted: HashSet<String>,
    /// Bodies whose delete got a success reply.
    delete_acknowledged: HashSet<String>,
    /// Bodies received with an hour's visibility timeout and never deleted.
    leased_kept: HashSet<String>,
    /// FIFO: per group, the highest message number acknowledged (numbers are sent in order).
    fifo_acknowledged: BTreeMap<usize, u64>,
    /// FIFO bodies received with an hour's visibility timeout and never deleted.
    fifo_leased_kept: HashSet<String>,
    /// Publications acknowledged by SNS.
    published: HashSet<String>,
    /// Kinesis: data → (shard id, sequence number).
    records: HashMap<String, (String, String)>,
    /// Failures seen before the signal was sent: none are expected.
    errors_before_signal: Vec<String>,
    /// Successful replies that arrived after the signal went out (requests the drain finished).
    replies_after_signal: usize,
}

/// The load: tasks that run until `stop`, and whether the signal went out yet.
struct Load {
    ledger: Arc<Mutex<Ledger>>,
    signalled: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// What each long poll on the idle queue ended with, and when.
type PollOutcome = (Result<usize, String>, Instant);

impl Load {
    /// Records a failed call; after the signal failures are expected (the server goes away).
    fn failed(ledger: &Mutex<Ledger>, signalled: &AtomicBool, what: &str, error: impl std::fmt::Debug) {
        if !signalled.load(Ordering::SeqCst) {
            ledger.lock().unwrap().errors_before_signal.push(format!("{what}: {error:?}"));
        }
    }

    /// Counts a successful reply that came after the signal.
    fn acknowledged(ledger: &Mutex<Ledger>, signalled: &AtomicBool) {
        if signalled.load(Ordering::SeqCst) {
            ledger.lock().unwrap().replies_after_signal += 1;
        }
    }

    /// Sends the signal (marking it first, so no failure it causes counts as unexpected).
    fn signal(&self, process: &WharfProcess, name: &str) -> Instant {
        self.signalled.store(true, Ordering::SeqCst);
        let sent = Instant::now();
        process.signal(name);
        sent
    }

    async fn finish(self) -> Ledger {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            tokio::time::timeout(HANG_TIMEOUT, task).await.expect("a load task ends").expect("a load task");
        }
        std::mem::take(&mut *self.ledger.lock().unwrap())
    }
}

fn topic_arn() -> String {
    format!("arn:aws:sns:us-east-1:{}:{TOPIC}", common::ACCOUNT)
}

/// `wharf serve` on `data_dir` with the given drain timeout (a config-file setting).
fn start(data_dir: &Path, config_dir: &Path, drain_timeout_ms: u64) -> WharfProcess {
    let config = config_dir.join("wharf.toml");
    std::fs::write(&config, format!("drain_timeout_ms = {drain_timeout_ms}\n")).unwrap();
    WharfProcess::start(common::wharf_command(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data_dir.to_str().unwrap(),
    ]))
}

async fn set_up(endpoint: &str) {
    let sqs = common::client(endpoint, "test", "test");
    for name in [STANDARD, IDLE, SLOW] {
        sqs.create_queue().queue_name(name).send().await.unwrap();
    }
    sqs.create_queue().queue_name(FIFO).attributes(QueueAttributeName::FifoQueue, "true").send().await.unwrap();
    let sns = common::sns_client(endpoint);
    let topic = sns.create_topic().name(TOPIC).send().await.unwrap().topic_arn.unwrap();
    for name in FAN_OUT {
        common::subscribe_new_raw_queue(&sqs, &sns, &topic, name).await;
    }
    kinesis_client(endpoint).create_stream().stream_name(STREAM).shard_count(2).send().await.unwrap();
}

/// Starts every producer and consumer. Each keeps going until `stop`, also after the signal
/// (its calls then fail, and a failed call is never counted as acknowledged).
fn start_load(endpoint: &str) -> Load {
    let ledger: Arc<Mutex<Ledger>> = Arc::default();
    let signalled = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let (standard, fifo) = (queue_url(endpoint, STANDARD), queue_url(endpoint, FIFO));
    let mut tasks = Vec::new();
    // After a failure a task pauses briefly, so a refused connection does not spin.
    let pause = || tokio::time::sleep(Duration::from_millis(10));

    // Standard queue: two producers sending batches of ten, two sending one at a time.
    for producer in 0..4 {
        let (sqs, url) = (client_without_retries(endpoint), standard.clone());
        let (ledger, signalled, stop) = (ledger.clone(), signalled.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut round = 0;
            while !stop.load(Ordering::SeqCst) {
                round += 1;
                if producer < 2 {
                    let bodies: Vec<String> = (0..10).map(|i| format!("s-p{producer}-b{round}-i{i}")).collect();
                    ledger.lock().unwrap().standard_attempted.extend(bodies.iter().cloned());
                    let entries = bodies
                        .iter()
                        .enumerate()
                        .map(|(i, body)| {
                            SendMessageBatchRequestEntry::builder()
                                .id(format!("e{i}"))
                                .message_body(body)
                                .build()
                                .unwrap()
                        })
                        .collect();
                    match sqs.send_message_batch().queue_url(&url).set_entries(Some(entries)).send().await {
                        Ok(sent) => {
                            Load::acknowledged(&ledger, &signalled);
                            let mut ledger = ledger.lock().unwrap();
                            for entry in sent.successful() {
                                let index: usize = entry.id()[1..].parse().unwrap();
                                ledger.standard_sent.insert(bodies[index].clone());
                            }
                            if !sent.failed().is_empty() && !signalled.load(Ordering::SeqCst) {
                                ledger.errors_before_signal.push(format!("send entries: {:?}", sent.failed()));
                            }
                        }
                        Err(error) => {
                            Load::failed(&ledger, &signalled, "send batch", error);
                            pause().await;
                        }
                    }
                } else {
                    let body = format!("s-p{producer}-m{round}");
                    ledger.lock().unwrap().standard_attempted.insert(body.clone());
                    match sqs.send_message().queue_url(&url).message_body(&body).send().await {
                        Ok(_) => {
                            Load::acknowledged(&ledger, &signalled);
                            ledger.lock().unwrap().standard_sent.insert(body);
                        }
                        Err(error) => {
                            Load::failed(&ledger, &signalled, "send", error);
                            pause().await;
                        }
                    }
                }
            }
        }));
    }
    // Standard queue: two consumers in long polls, deleting what they receive in batches.
    for _ in 0..2 {
        let (sqs, url) = (client_without_retries(endpoint), standard.clone());
        let (ledger, signalled, stop) = (ledger.clone(), signalled.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let receiving = sqs.receive_message().queue_url(&url).max_number_of_messages(10).wait_time_seconds(20);
                let received = match receiving.send().await {
                    Ok(received) => received,
                    Err(error) => {
                        Load::failed(&ledger, &signalled, "receive", error);
                        pause().await;
                        continue;
                    }
                };
                if received.messages().is_empty() {
                    continue;
                }
                let bodies: Vec<String> =
                    received.messages().iter().map(|m| m.body().unwrap_or_default().to_string()).collect();
                ledger.lock().unwrap().delete_attempted.extend(bodies.iter().cloned());
                let entries = received
                    .messages()
                    .iter()
                    .enumerate()
                    .map(|(i, message)| {
                        DeleteMessageBatchRequestEntry::builder()
                            .id(format!("d{i}"))
                            .receipt_handle(message.receipt_handle().unwrap())
                            .build()
                            .unwrap()
                    })
                    .collect();
                match sqs.delete_message_batch().queue_url(&url).set_entries(Some(entries)).send().await {
                    Ok(deleted) => {
                        Load::acknowledged(&ledger, &signalled);
                        let mut ledger = ledger.lock().unwrap();
                        for entry in deleted.successful() {
                            let index: usize = entry.id()[1..].parse().unwrap();
                            ledger.delete_acknowledged.insert(bodies[index].clone());
                        }
                        if !deleted.failed().is_empty() && !signalled.load(Ordering::SeqCst) {
                            ledger.errors_before_signal.push(format!("delete entries: {:?}", deleted.failed()));
                        }
                    }
                    Err(error) => {
                        Load::failed(&ledger, &signalled, "delete batch", error);
                        pause().await;
                    }
                }
            }
        }));
    }
    // Standard and FIFO queues: a consumer that receives with an hour's visibility timeout and
    // never deletes. What it holds at shutdown must be receivable after the restart.
    for (url, fifo_queue) in [(standard.clone(), false), (fifo.clone(), true)] {
        let sqs = client_without_retries(endpoint);
        let (ledger, signalled, stop) = (ledger.clone(), signalled.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let receiving = sqs
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(if fifo_queue { 3 } else { 5 })
                    .visibility_timeout(3600)
                    .wait_time_seconds(20);
                match receiving.send().await {
                    Ok(received) => {
                        Load::acknowledged(&ledger, &signalled);
                        let mut ledger = ledger.lock().unwrap();
                        let kept = if fifo_queue { &mut ledger.fifo_leased_kept } else { &mut ledger.leased_kept };
                        kept.extend(received.messages().iter().map(|m| m.body().unwrap_or_default().to_string()));
                    }
                    Err(error) => Load::failed(&ledger, &signalled, "receive and keep", error),
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        }));
    }
    // FIFO queue: each group sends numbers in order with a deduplication id per number; an
    // unacknowledged number is sent again, so deduplication must absorb a repeat.
    for group in 0..FIFO_GROUPS {
        let (sqs, url) = (client_without_retries(endpoint), fifo.clone());
        let (ledger, signalled, stop) = (ledger.clone(), signalled.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut number = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let body = format!("g{group}-{number:08}");
                let sending = sqs
                    .send_message()
                    .queue_url(&url)
                    .message_body(&body)
                    .message_group_id(format!("g{group}"))
                    .message_deduplication_id(&body);
                match sending.send().await {
                    Ok(_) => {
                        Load::acknowledged(&ledger, &signalled);
                        ledger.lock().unwrap().fifo_acknowledged.insert(group, number);
                        number += 1;
                    }
                    Err(error) => {
                        Load::failed(&ledger, &signalled, "FIFO send", error);
                        pause().await;
                    }
                }
            }
        }));
    }
    // SNS: two publishers, fanned out raw to two queues.
    for publisher in 0..2 {
        let sns = common::sns_client(endpoint);
        let (ledger, signalled, stop) = (ledger.clone(), signalled.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut index = 0;
            while !stop.load(Ordering::SeqCst) {
                index += 1;
                let message = format!("p{publisher}-{index}");
                match sns.publish().topic_arn(topic_arn()).message(&message).send().await {
                    Ok(_) => {
                        Load::acknowledged(&ledger, &signalled);
                        ledger.lock().unwrap().published.insert(message);
                    }
                    Err(error) => {
                        Load::failed(&ledger, &signalled, "publish", error);
                        pause().await;
                    }
                }
            }
        }));
    }
    // Kinesis: two writers, PutRecords of twenty over two shards.
    for writer in 0..2 {
        let kinesis = kinesis_client_without_retries(endpoint);
        let (ledger, signalled, stop) = (ledger.clone(), signalled.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut batch = 0;
            while !stop.load(Ordering::SeqCst) {
                batch += 1;
                let data: Vec<String> = (0..20).map(|i| format!("k-w{writer}-b{batch}-i{i}")).collect();
                let entries = common::record_entries(&data);
                match kinesis.put_records().stream_name(STREAM).set_records(Some(entries)).send().await {
                    Ok(put) => {
                        Load::acknowledged(&ledger, &signalled);
                        let mut ledger = ledger.lock().unwrap();
                        for (d, record) in data.into_iter().zip(put.records) {
                            if let (Some(shard), Some(sequence)) = (record.shard_id, record.sequence_number) {
                                ledger.records.insert(d, (shard, sequence));
                            }
                        }
                    }
                    Err(error) => {
                        Load::failed(&ledger, &signalled, "put records", error);
                        pause().await;
                    }
                }
            }
        }));
    }
    Load { ledger, signalled, stop, tasks }
}

/// Long polls (20 s) on the idle queue, one client each; each reports how it ended and when.
fn idle_long_polls(endpoint: &str, count: usize) -> Vec<tokio::task::JoinHandle<PollOutcome>> {
    (0..count)
        .map(|_| {
            let (sqs, url) = (client_without_retries(endpoint), queue_url(endpoint, IDLE));
            tokio::spawn(async move {
                let result = sqs.receive_message().queue_url(url).wait_time_seconds(20).send().await;
                (result.map(|received| received.messages().len()).map_err(|error| format!("{error:?}")), Instant::now())
            })
        })
        .collect()
}

/// Every long poll on the idle queue ended with a normal, empty reply after the signal, well
/// before its 20 seconds were up.
async fn check_idle_long_polls(polls: Vec<tokio::task::JoinHandle<PollOutcome>>, signalled_at: Instant) -> usize {
    let count = polls.len();
    for poll in polls {
        let (result, ended) = tokio::time::timeout(HANG_TIMEOUT, poll).await.expect("long poll ends").unwrap();
        assert!(ended >= signalled_at, "a long poll on the idle queue ended before the signal: {result:?}");
        assert_eq!(result, Ok(0), "a long poll in flight at shutdown gets an empty reply");
        let after = ended - signalled_at;
        assert!(after < Duration::from_secs(15), "a long poll ran on for {after:?} after the signal");
    }
    count
}

/// `count` TCP connections to the server, each having sent `first_bytes` and nothing more.
async fn open_connections(endpoint: &str, count: usize, first_bytes: &[u8]) -> Vec<tokio::net::TcpStream> {
    let address = endpoint.trim_start_matches("http://");
    let mut connections = Vec::new();
    for _ in 0..count {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream.write_all(first_bytes).await.unwrap();
        connections.push(stream);
    }
    connections
}

/// Waits for the exit after the signal; asserts status 0 within the drain timeout plus
/// [`MARGIN`] and no panic in the log. Returns how long the exit took.
async fn expect_clean_exit(process: &mut WharfProcess, signalled_at: Instant, drain: Duration) -> Duration {
    let status = process.wait_exit().await;
    let took = signalled_at.elapsed();
    let stderr = process.stderr();
    assert!(status.success(), "wharf exited with {status:?}; stderr:\n{stderr}");
    assert!(took < drain + MARGIN, "exit took {took:?}, drain timeout {drain:?}; stderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "a panic during shutdown:\n{stderr}");
    took
}

/// Every visible body of a queue with its receive count (leased for an hour so none comes
/// back), checked for repeats.
async fn bodies_once(sqs: &aws_sdk_sqs::Client, url: &str, name: &str) -> HashMap<String, u32> {
    let drained = tokio::time::timeout(HANG_TIMEOUT, common::drain(sqs, url)).await.expect("the queue drains");
    let mut bodies = HashMap::new();
    for (_, body, _, receive_count) in drained {
        assert!(bodies.insert(body.clone(), receive_count).is_none(), "{name}: {body} is in the queue twice");
    }
    bodies
}

/// Checks the restarted server against the ledger; returns a summary of what was checked.
async fn verify(endpoint: &str, ledger: &Ledger) -> String {
    assert!(
        ledger.errors_before_signal.is_empty(),
        "calls failed before the signal: {:?}",
        ledger.errors_before_signal
    );
    let url = |name: &str| queue_url(endpoint, name);
    let sqs = common::client(endpoint, "test", "test");

    // Standard queue: every acknowledged send is there unless a delete was sent for it; an
    // acknowledged delete stays applied; what was received and kept is receivable again.
    let present = bodies_once(&sqs, &url(STANDARD), STANDARD).await;
    let lost: Vec<&String> = ledger
        .standard_sent
        .iter()
        .filter(|body| !present.contains_key(*body) && !ledger.delete_attempted.contains(*body))
        .collect();
    assert!(lost.is_empty(), "{} acknowledged standard messages lost, e.g. {:?}", lost.len(), lost.first());
    let kept_lost: Vec<&String> = ledger.leased_kept.iter().filter(|body| !present.contains_key(*body)).collect();
    assert!(kept_lost.is_empty(), "{} received, undeleted messages not receivable again", kept_lost.len());
    // Their receive before the shutdown still counts (leases' receive counts are persisted).
    for body in &ledger.leased_kept {
        assert!(present[body] >= 2, "{body}: receive count {} after a receive before the restart", present[body]);
    }
    let resurrected: Vec<&String> =
        ledger.delete_acknowledged.iter().filter(|body| present.contains_key(*body)).collect();
    assert!(
        resurrected.is_empty(),
        "{} acknowledged deletes undone, e.g. {:?}",
        resurrected.len(),
        resurrected.first()
    );
    let invented: Vec<&String> = present.keys().filter(|body| !ledger.standard_attempted.contains(*body)).collect();
    assert!(invented.is_empty(), "messages nobody sent: {invented:?}");

    // FIFO: per group the numbers come in order, each once, up to at least the acknowledged one;
    // what the keeping consumer held comes back.
    // First each group sends its last acknowledged number and the one after it again, with the
    // same deduplication ids: the first is absorbed, the second is absorbed if it was in flight
    // at the shutdown and stored, so every group ends with 0..=next exactly once.
    let mut fifo_next = BTreeMap::new();
    for group in 0..FIFO_GROUPS {
        let acknowledged = ledger.fifo_acknowledged.get(&group).copied();
        let next = acknowledged.map_or(0, |number| number + 1);
        for number in acknowledged.unwrap_or(next)..=next {
            let body = format!("g{group}-{number:08}");
            let sending = sqs
                .send_message()
                .queue_url(url(FIFO))
                .message_body(&body)
                .message_group_id(format!("g{group}"))
                .message_deduplication_id(&body);
            sending.send().await.expect("FIFO send after the restart");
        }
        fifo_next.insert(group, next);
    }
    let fifo = drain_deleting(&sqs, &url(FIFO)).await;
    let mut per_group: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for body in &fifo {
        let (group, number) = body.trim_start_matches('g').split_once('-').unwrap();
        per_group.entry(group.parse().unwrap()).or_default().push(number.parse().unwrap());
    }
    for (group, next) in &fifo_next {
        let numbers = per_group.get(group).cloned().unwrap_or_default();
        let expected: Vec<u64> = (0..=*next).collect();
        assert_eq!(numbers, expected, "group {group}: in order, no gap, no duplicate");
    }
    let fifo_present: HashSet<&String> = fifo.iter().collect();
    assert!(
        ledger.fifo_leased_kept.iter().all(|body| fifo_present.contains(body)),
        "received, undeleted FIFO messages are receivable again"
    );

    // SNS: every acknowledged publication reached both queues.
    for name in FAN_OUT {
        let delivered = bodies_once(&sqs, &url(name), name).await;
        let missing: Vec<&String> =
            ledger.published.iter().filter(|message| !delivered.contains_key(*message)).collect();
        assert!(missing.is_empty(), "{name}: {} acknowledged publications missing: {missing:?}", missing.len());
    }

    // Kinesis: every acknowledged record kept its shard and sequence number; numbers rise.
    let stored = read_stream(&kinesis_client(endpoint), STREAM).await;
    let mut found: HashMap<&str, (&str, &str)> = HashMap::new();
    for (shard, records) in &stored {
        for pair in records.windows(2) {
            assert!((pair[0].0.len(), &pair[0].0) < (pair[1].0.len(), &pair[1].0), "{shard}: sequence numbers rise");
        }
        for (sequence, data) in records {
            assert!(found.insert(data, (shard, sequence)).is_none(), "{data} stored once");
        }
    }
    for (data, (shard, sequence)) in &ledger.records {
        assert_eq!(found.get(data.as_str()), Some(&(shard.as_str(), sequence.as_str())), "record {data} kept");
    }
    // Records written after the restart get higher sequence numbers than any stored before.
    let kinesis = kinesis_client(endpoint);
    for (shard, records) in &stored {
        let put = kinesis
            .put_record()
            .stream_name(STREAM)
            .partition_key("after-restart")
            .explicit_hash_key(if shard.ends_with('0') { "0" } else { "340282366920938463463374607431768211455" })
            .data(Blob::new("after-restart"))
            .send()
            .await
            .unwrap();
        assert_eq!(&put.shard_id, shard);
        if let Some((last, _)) = records.last() {
            let sequence = &put.sequence_number;
            assert!((last.len(), last) < (sequence.len(), sequence), "{shard}: {sequence} after {last}");
        }
    }

    // Nothing ever lands in the idle queue or from a slow upload.
    assert!(bodies_once(&sqs, &url(IDLE), IDLE).await.is_empty(), "the idle queue stays empty");
    assert!(bodies_once(&sqs, &url(SLOW), SLOW).await.is_empty(), "no slow upload was enqueued");

    format!(
        "{} standard sends ({} deletes acknowledged, {} received and kept), {} FIFO messages in {} groups \
         ({} kept), {} publications x2, {} Kinesis records",
        ledger.standard_sent.len(),
        ledger.delete_acknowledged.len(),
        ledger.leased_kept.len(),
        fifo.len(),
        per_group.len(),
        ledger.fifo_leased_kept.len(),
        ledger.published.len(),
        ledger.records.len()
    )
}

/// Load, the signal while it runs, a clean exit within the drain timeout, then a restart that
/// finds every acknowledged write.
async fn signal_under_load(signal: &str) {
    let (dir, config_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let drain = Duration::from_millis(5_000);
    let mut process = start(dir.path(), config_dir.path(), drain.as_millis() as u64);
    set_up(&process.endpoint).await;
    let load = start_load(&process.endpoint);
    let polls = idle_long_polls(&process.endpoint, 8);
    // Connections that never send a byte, or only part of a request head, hold no request, so
    // they must not hold up the drain.
    let silent = open_connections(&process.endpoint, 10, b"").await;
    let half_heads = open_connections(&process.endpoint, 5, b"POST / HTTP/1.1\r\nHost: loc").await;
    tokio::time::sleep(LOAD_BEFORE_SIGNAL).await;
    assert!(polls.iter().all(|poll| !poll.is_finished()), "a 20 second long poll returned early");

    let signalled_at = load.signal(&process, signal);
    let took = expect_clean_exit(&mut process, signalled_at, drain).await;
    let stderr = process.stderr();
    assert!(!stderr.contains("drain timeout passed"), "requests were still in flight after the drain:\n{stderr}");
    drop((silent, half_heads));
    let polls = check_idle_long_polls(polls, signalled_at).await;
    let ledger = load.finish().await;

    let process = start(dir.path(), config_dir.path(), drain.as_millis() as u64);
    let summary = verify(&process.endpoint, &ledger).await;
    eprintln!(
        "SIG{signal} under load: exit took {took:?} (drain timeout {drain:?}); {} replies after the signal; \
         {polls} idle long polls ended empty; checked {summary}",
        ledger.replies_after_signal
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_loses_nothing_and_exits_within_the_drain_timeout() {
    signal_under_load("TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigint_under_load_loses_nothing_and_exits_within_the_drain_timeout() {
    signal_under_load("INT").await;
}

/// An HTTP/1.1 SendMessage whose body (100,000 bytes declared) trickles in a byte per 50 ms, far
/// too slowly to finish. Returns what the server wrote back before closing the connection, and
/// when it closed.
async fn slow_http1_upload(address: String, url: String, index: usize) -> (Vec<u8>, Instant) {
    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = "POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: AmazonSQS.SendMessage\r\n\
                Content-Type: application/x-amz-json-1.0\r\nContent-Length: 100000\r\n\r\n";
    writer.write_all(head.as_bytes()).await.unwrap();
    writer.write_all(format!("{{\"QueueUrl\": \"{url}\", \"MessageBody\": \"slow-{index}-").as_bytes()).await.unwrap();
    let trickling = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if writer.write_all(b"x").await.is_err() {
                return;
            }
        }
    });
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(HANG_TIMEOUT, reader.read_to_end(&mut reply)).await.expect("connection closed");
    let closed = Instant::now();
    trickling.abort();
    (reply, closed)
}

/// A 300 ms drain with uploads that cannot finish in it (HTTP/1.1 bodies trickling, an HTTP/2
/// body stalled) and many long polls, under the same load: the process still exits 0 within
/// the drain timeout plus the margin, the slow uploads are cut off unacknowledged, and nothing
/// acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn short_drain_with_uploads_that_cannot_finish_still_exits_and_loses_nothing() {
    let (dir, config_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let drain = Duration::from_millis(300);
    let mut process = start(dir.path(), config_dir.path(), drain.as_millis() as u64);
    set_up(&process.endpoint).await;
    let slow_url = queue_url(&process.endpoint, SLOW);
    let address = process.endpoint.trim_start_matches("http://").to_string();
    let uploads: Vec<_> =
        (0..4).map(|index| tokio::spawn(slow_http1_upload(address.clone(), slow_url.clone(), index))).collect();
    // HTTP/2 with prior knowledge: the stream's body starts, then stalls for good.
    let h2 = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<common::channel_body::Frames>();
    let (h2_sender, frames) = common::channel_body::channel();
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("{}/", process.endpoint))
        .header("x-amz-target", "AmazonSQS.SendMessage")
        .header("content-type", "application/x-amz-json-1.0")
        .body(frames)
        .unwrap();
    h2_sender
        .send(bytes::Bytes::from(format!("{{\"QueueUrl\": \"{slow_url}\", \"MessageBody\": \"h2-")))
        .await
        .unwrap();
    let h2_upload = tokio::spawn(async move {
        let reply = tokio::time::timeout(HANG_TIMEOUT, h2.request(request)).await.expect("the HTTP/2 upload ends");
        (reply.map(|response| response.status().as_u16()).map_err(|error| format!("{error:?}")), Instant::now())
    });
    // Half a request head: hyper waits for the rest of it during the drain.
    let half_heads = open_connections(&process.endpoint, 4, b"POST / HTTP/1.1\r\nHost: loc").await;
    let load = start_load(&process.endpoint);
    let polls = idle_long_polls(&process.endpoint, 32);
    tokio::time::sleep(LOAD_BEFORE_SIGNAL).await;
    assert!(uploads.iter().all(|upload| !upload.is_finished()), "a slow upload ended before the signal");
    assert!(!h2_upload.is_finished(), "the stalled HTTP/2 upload ended before the signal");

    let signalled_at = load.signal(&process, "TERM");
    let took = expect_clean_exit(&mut process, signalled_at, drain).await;
    assert!(
        process.stderr().contains("drain timeout passed"),
        "the slow uploads were meant to outlast the drain; stderr:\n{}",
        process.stderr()
    );
    for upload in uploads {
        let (reply, closed) = upload.await.unwrap();
        let reply = String::from_utf8_lossy(&reply).to_string();
        assert!(!reply.starts_with("HTTP/1.1 2"), "a slow upload was acknowledged: {reply}");
        assert!(closed - signalled_at < drain + MARGIN, "a slow upload's connection outlived the exit");
    }
    let (h2_reply, h2_closed) = h2_upload.await.unwrap();
    assert!(!matches!(h2_reply, Ok(200..=299)), "the stalled HTTP/2 upload was acknowledged: {h2_reply:?}");
    assert!(h2_closed - signalled_at < drain + MARGIN, "the HTTP/2 upload outlived the exit");
    drop(h2_sender);
    for mut connection in half_heads {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(MARGIN, connection.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "a half-sent request head's connection stayed open after the exit");
        assert!(!String::from_utf8_lossy(&rest).starts_with("HTTP/1.1 2"), "a half-sent head got a 2xx");
    }
    let polls = check_idle_long_polls(polls, signalled_at).await;
    let ledger = load.finish().await;

    let process = start(dir.path(), config_dir.path(), drain.as_millis() as u64);
    let summary = verify(&process.endpoint, &ledger).await;
    eprintln!(
        "short drain: exit took {took:?} (drain timeout {drain:?}); 4 HTTP/1.1 and 1 HTTP/2 slow uploads and 4 half-sent heads cut off; \
         {} replies after the signal; {polls} idle long polls ended empty; h2 upload ended with {h2_reply:?}; \
         checked {summary}",
        ledger.replies_after_signal
    );
}
