//! Kill -9 torture: concurrent producers and consumers on a standard queue, a FIFO queue, an SNS
//! topic fanning out to two queues and a Kinesis stream, while the real binary is killed with
//! SIGKILL at random moments and restarted on the same data directory, over and over. Then:
//! no acknowledged write is lost, FIFO order and deduplication held, every fan-out reached both
//! queues, and each Kinesis shard's records kept their sequence numbers in rising order.
//!
//! `WHARF_TORTURE_KILLS` sets how many kills (default 4, the short form CI runs); the full
//! suite is `WHARF_TORTURE_KILLS=25 cargo nextest run -p wharf --test torture` (see
//! docs/reliability.md). `WHARF_TORTURE_SEED` replays a run's kill timings.

mod common;

use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use common::{
    client_without_retries, drain_deleting, kinesis_client, kinesis_client_without_retries, queue_url, read_stream,
    WharfProcess,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const STANDARD: &str = "torture-standard";
const FIFO: &str = "torture-fifo.fifo";
const FAN_OUT: [&str; 2] = ["torture-fan-a", "torture-fan-b"];
const TOPIC: &str = "torture-topic";
const STREAM: &str = "torture-stream";
const FIFO_GROUPS: usize = 3;

/// Everything the server acknowledged, across every life of the process.
#[derive(Default)]
struct Ledger {
    /// Bodies of standard-queue sends that got a success reply.
    standard_sent: HashSet<String>,
    /// Bodies a delete was sent for (acknowledged or cut off by the kill, so maybe applied).
    standard_delete_attempted: HashSet<String>,
    /// FIFO: per group, the highest message number acknowledged (numbers are sent in order).
    fifo_acknowledged: BTreeMap<usize, u64>,
    /// Publications acknowledged by SNS.
    published: HashSet<String>,
    /// Kinesis: data → (shard id, sequence number).
    records: HashMap<String, (String, String)>,
}

/// Where each producer is, so a restart resumes without reusing a body or a FIFO number.
#[derive(Default)]
struct Progress {
    round: u64,
    /// FIFO: per group, the next message number and whether it was acknowledged.
    fifo_next: BTreeMap<usize, u64>,
}

fn kills() -> usize {
    std::env::var("WHARF_TORTURE_KILLS").ok().and_then(|value| value.parse().ok()).unwrap_or(4)
}

/// A small deterministic generator for kill timings, so a failing run can be replayed.
struct Timing(u64);

impl Timing {
    fn next_ms(&mut self, low: u64, high: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        low + self.0 % (high - low)
    }
}

async fn set_up(endpoint: &str) {
    let sqs = common::client(endpoint, "test", "test");
    sqs.create_queue().queue_name(STANDARD).send().await.unwrap();
    sqs.create_queue().queue_name(FIFO).attributes(QueueAttributeName::FifoQueue, "true").send().await.unwrap();
    let sns = common::sns_client(endpoint);
    let topic = sns.create_topic().name(TOPIC).send().await.unwrap().topic_arn.unwrap();
    for name in FAN_OUT {
        common::subscribe_new_raw_queue(&sqs, &sns, &topic, name).await;
    }
    kinesis_client(endpoint).create_stream().stream_name(STREAM).shard_count(2).send().await.unwrap();
}

/// One life of the process: every producer and consumer runs until `stop`.
async fn run_life(
    endpoint: &str,
    topic: &str,
    ledger: &Arc<Mutex<Ledger>>,
    progress: &Arc<Mutex<Progress>>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let (standard, fifo) = (queue_url(endpoint, STANDARD), queue_url(endpoint, FIFO));
    let mut tasks = Vec::new();
    let round = {
        let mut progress = progress.lock().unwrap();
        progress.round += 1;
        progress.round
    };

    // Standard queue: batches of ten sends.
    for producer in 0..2 {
        let (sqs, url, ledger, stop) =
            (client_without_retries(endpoint), standard.clone(), ledger.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut batch = 0;
            while !stop.load(Ordering::SeqCst) {
                let bodies: Vec<String> = (0..10).map(|i| format!("s-r{round}-p{producer}-b{batch}-i{i}")).collect();
                let entries = bodies
                    .iter()
                    .enumerate()
                    .map(|(i, body)| {
                        SendMessageBatchRequestEntry::builder().id(format!("e{i}")).message_body(body).build().unwrap()
                    })
                    .collect();
                match sqs.send_message_batch().queue_url(&url).set_entries(Some(entries)).send().await {
                    Ok(sent) => {
                        let mut ledger = ledger.lock().unwrap();
                        for entry in sent.successful() {
                            let index: usize = entry.id()[1..].parse().unwrap();
                            ledger.standard_sent.insert(bodies[index].clone());
                        }
                    }
                    Err(_) => break,
                }
                batch += 1;
            }
        }));
    }
    // Standard queue: a consumer deleting what it receives.
    {
        let (sqs, url, ledger, stop) =
            (client_without_retries(endpoint), standard.clone(), ledger.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let Ok(received) = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await else {
                    break;
                };
                for message in received.messages() {
                    let body = message.body().unwrap_or_default().to_string();
                    ledger.lock().unwrap().standard_delete_attempted.insert(body);
                    let handle = message.receipt_handle().unwrap_or_default();
                    if sqs.delete_message().queue_url(&url).receipt_handle(handle).send().await.is_err() {
                        return;
                    }
                }
            }
        }));
    }
    // FIFO queue: each group sends numbers in order; an unacknowledged number is sent again
    // (same deduplication id) in the next life, so deduplication must absorb the repeat.
    for group in 0..FIFO_GROUPS {
        let (sqs, url, ledger, progress, stop) =
            (client_without_retries(endpoint), fifo.clone(), ledger.clone(), progress.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let number = *progress.lock().unwrap().fifo_next.entry(group).or_insert(0);
                let body = format!("g{group}-{number:08}");
                let sent = sqs
                    .send_message()
                    .queue_url(&url)
                    .message_body(&body)
                    .message_group_id(format!("g{group}"))
                    .message_deduplication_id(&body)
                    .send()
                    .await;
                if sent.is_err() {
                    break;
                }
                ledger.lock().unwrap().fifo_acknowledged.insert(group, number);
                progress.lock().unwrap().fifo_next.insert(group, number + 1);
            }
        }));
    }
    // SNS: publications fanned out to two raw queues.
    {
        let (sns, topic, ledger, stop) =
            (common::sns_client(endpoint), topic.to_string(), ledger.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut index = 0;
            while !stop.load(Ordering::SeqCst) {
                let message = format!("p-r{round}-{index}");
                if sns.publish().topic_arn(&topic).message(&message).send().await.is_err() {
                    break;
                }
                ledger.lock().unwrap().published.insert(message);
                index += 1;
            }
        }));
    }
    // Kinesis: batches of twenty records over two shards.
    {
        let (kinesis, ledger, stop) = (kinesis_client_without_retries(endpoint), ledger.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut batch = 0;
            while !stop.load(Ordering::SeqCst) {
                let data: Vec<String> = (0..20).map(|i| format!("k-r{round}-b{batch}-i{i}")).collect();
                let entries = common::record_entries(&data);
                match kinesis.put_records().stream_name(STREAM).set_records(Some(entries)).send().await {
                    Ok(put) => {
                        let mut ledger = ledger.lock().unwrap();
                        for (d, record) in data.into_iter().zip(put.records) {
                            if let (Some(shard), Some(sequence)) = (record.shard_id, record.sequence_number) {
                                ledger.records.insert(d, (shard, sequence));
                            }
                        }
                    }
                    Err(_) => break,
                }
                batch += 1;
            }
        }));
    }
    tasks
}

#[tokio::test]
async fn acknowledged_writes_survive_repeated_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let seed = std::env::var("WHARF_TORTURE_SEED").ok().and_then(|value| value.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    eprintln!("torture seed {seed} (WHARF_TORTURE_SEED replays it), {} kills", kills());
    let mut timing = Timing(seed);
    let ledger: Arc<Mutex<Ledger>> = Arc::default();
    let progress: Arc<Mutex<Progress>> = Arc::default();

    let mut process = WharfProcess::start_on(dir.path());
    set_up(&process.endpoint).await;
    let topic = format!("arn:aws:sns:us-east-1:{}:{TOPIC}", common::ACCOUNT);
    for _ in 0..kills() {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = run_life(&process.endpoint, &topic, &ledger, &progress, &stop).await;
        tokio::time::sleep(Duration::from_millis(timing.next_ms(150, 900))).await;
        process.kill9();
        stop.store(true, Ordering::SeqCst);
        for task in tasks {
            task.await.expect("a producer or consumer task");
        }
        process = WharfProcess::start_on(dir.path());
    }

    let endpoint = process.endpoint.clone();
    let url = |name: &str| queue_url(&endpoint, name);
    let sqs = common::client(&endpoint, "test", "test");
    let ledger = std::mem::take(&mut *ledger.lock().unwrap());

    // Standard queue: every acknowledged send is still there unless a consumer deleted it.
    let remaining: HashSet<String> = drain_deleting(&sqs, &url(STANDARD)).await.into_iter().collect();
    let lost: Vec<&String> = ledger
        .standard_sent
        .iter()
        .filter(|body| !remaining.contains(*body) && !ledger.standard_delete_attempted.contains(*body))
        .collect();
    assert!(lost.is_empty(), "{} acknowledged standard messages lost, e.g. {:?}", lost.len(), lost.first());

    // FIFO: per group the numbers come in order, each once, up to at least the acknowledged one.
    let fifo = drain_deleting(&sqs, &url(FIFO)).await;
    let mut per_group: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for body in &fifo {
        let (group, number) = body.trim_start_matches('g').split_once('-').unwrap();
        per_group.entry(group.parse().unwrap()).or_default().push(number.parse().unwrap());
    }
    for (group, acknowledged) in &ledger.fifo_acknowledged {
        let numbers = per_group.get(group).cloned().unwrap_or_default();
        let expected: Vec<u64> = (0..numbers.len() as u64).collect();
        assert_eq!(numbers, expected, "group {group}: in order, no gap, no duplicate");
        assert!(numbers.len() as u64 > *acknowledged, "group {group}: acknowledged number {acknowledged} kept");
    }

    // SNS: every acknowledged publication reached both queues.
    for name in FAN_OUT {
        let delivered: HashSet<String> = drain_deleting(&sqs, &url(name)).await.into_iter().collect();
        let missing = ledger.published.iter().filter(|message| !delivered.contains(*message)).count();
        assert_eq!(missing, 0, "{name}: acknowledged publications missing");
    }

    // Kinesis: every acknowledged record kept its shard and sequence number; numbers rise.
    let kinesis = kinesis_client(&endpoint);
    let stored = read_stream(&kinesis, STREAM).await;
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
    eprintln!(
        "torture: {} kills; checked {} standard, {} FIFO, {} publications x2, {} Kinesis records",
        kills(),
        ledger.standard_sent.len(),
        fifo.len(),
        ledger.published.len(),
        ledger.records.len()
    );
}
