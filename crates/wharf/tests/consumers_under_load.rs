//! Slow and dead consumers: ten thousand long polls pending at once, clients that vanish in the
//! middle of a request, and visibility timeouts expiring under many concurrent consumers.
//!
//! Time moves on a manual clock. The server is started with a clock that wraps it and counts the
//! long polls waiting in the engine (every waiting receive holds exactly one clock sleep), so the
//! tests can tell when polls are pending and when the server has let go of a dead client's poll,
//! instead of sleeping. Every wall-clock wait is bounded by [`HANG`], which tells a hang from an
//! answer and is never a speed threshold.

mod common;

use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};
use bytes::Bytes;
use common::{config, TestServer, ACCOUNT, START_MS};
use http_body_util::{BodyExt as _, Full};
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use wharf_domain::clock::Sleep;
use wharf_domain::{Clock, ManualClock};

/// Upper bound on any wait for the server; detects hangs, never a performance threshold.
const HANG: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// A manual clock that counts its sleepers.

/// The manual clock, plus a count of the sleeps pending on it. Only a waiting long poll sleeps on
/// the clock (move tasks do too, and none runs here), so the count is the number of long polls the
/// engine holds: the tests' own, plus [`BACKGROUND_POLLS`].
struct CountingClock {
    manual: Arc<ManualClock>,
    sleepers: Arc<AtomicUsize>,
}

/// Counts one pending sleep until it is dropped (woken, or abandoned with its request).
struct Sleeper(Arc<AtomicUsize>);

impl Drop for Sleeper {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Clock for CountingClock {
    fn now_ms(&self) -> u64 {
        self.manual.now_ms()
    }

    fn sleep_until(&self, deadline_ms: u64) -> Sleep {
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        let sleeper = Sleeper(self.sleepers.clone());
        let sleep = self.manual.sleep_until(deadline_ms);
        Box::pin(async move {
            let _sleeper = sleeper;
            sleep.await
        })
    }
}

/// Long polls the server keeps for itself: the SNS deliverer's on its outbox queue.
const BACKGROUND_POLLS: usize = 1;

struct Harness {
    server: TestServer,
    sleepers: Arc<AtomicUsize>,
}

impl Harness {
    async fn start(data_dir: Option<PathBuf>) -> Harness {
        Self::start_at(data_dir, START_MS).await
    }

    async fn start_at(data_dir: Option<PathBuf>, now_ms: u64) -> Harness {
        let manual = Arc::new(ManualClock::new(now_ms));
        let sleepers = Arc::new(AtomicUsize::new(0));
        let clock = Arc::new(CountingClock { manual: manual.clone(), sleepers: sleepers.clone() });
        let server = wharf::Server::start_with_clock(config(data_dir), clock).await.expect("server starts");
        let endpoint = format!("http://{}", server.local_addr);
        let harness = Harness { server: TestServer { server, clock: Some(manual), endpoint }, sleepers };
        harness.polls_waiting(0, "the server's own polls").await;
        harness
    }

    fn addr(&self) -> SocketAddr {
        self.server.server.local_addr
    }

    fn now_ms(&self) -> u64 {
        self.server.clock.as_ref().expect("manual clock").now_ms()
    }

    /// Waits until exactly `expected` of the tests' long polls wait in the server.
    async fn polls_waiting(&self, expected: usize, what: &str) {
        let deadline = Instant::now() + HANG;
        loop {
            let waiting = self.sleepers.load(Ordering::SeqCst);
            if waiting == expected + BACKGROUND_POLLS {
                return;
            }
            let waiting = waiting.saturating_sub(BACKGROUND_POLLS);
            assert!(Instant::now() < deadline, "{what}: {waiting} long polls wait in the server, expected {expected}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Raw awsJson calls over hyper connections and over bare TCP.

fn receive_body(url: &str, wait_seconds: u32, visibility_seconds: u32) -> serde_json::Value {
    json!({
        "QueueUrl": url,
        "WaitTimeSeconds": wait_seconds,
        "MaxNumberOfMessages": 1,
        "VisibilityTimeout": visibility_seconds,
        "MessageSystemAttributeNames": ["ApproximateReceiveCount"],
    })
}

/// An awsJson 1.0 SQS request; `host` is set for HTTP/1.1 (origin-form URI), `None` for HTTP/2
/// (absolute URI).
fn sqs_request(addr: SocketAddr, http2: bool, operation: &str, body: &serde_json::Value) -> http::Request<Full<Bytes>> {
    let builder = http::Request::builder()
        .method("POST")
        .header("x-amz-target", format!("AmazonSQS.{operation}"))
        .header("content-type", "application/x-amz-json-1.0");
    let builder =
        if http2 { builder.uri(format!("http://{addr}/")) } else { builder.uri("/").header("host", addr.to_string()) };
    builder.body(Full::new(Bytes::from(body.to_string()))).expect("request")
}

/// The bytes of an HTTP/1.1 awsJson request, for bare TCP.
fn raw_sqs_request(addr: SocketAddr, operation: &str, body: &serde_json::Value) -> Vec<u8> {
    let body = body.to_string();
    format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: AmazonSQS.{operation}\r\n\
         Content-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn h2_connection(addr: SocketAddr) -> hyper::client::conn::http2::SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (sender, connection) = hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
        .handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .expect("HTTP/2 handshake");
    tokio::spawn(connection);
    sender
}

async fn h1_connection(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.expect("HTTP/1.1 handshake");
    tokio::spawn(connection);
    sender
}

async fn reply_of(response: hyper::Result<http::Response<hyper::body::Incoming>>) -> (u16, serde_json::Value) {
    let response = response.expect("a reply");
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.expect("reply body").to_bytes();
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|error| panic!("not JSON ({error}): {}", String::from_utf8_lossy(&body)));
    (status, value)
}

/// `(message id, receive count)` of each message in a ReceiveMessage reply.
fn received(reply: &serde_json::Value) -> Vec<(String, u32)> {
    reply["Messages"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .map(|message| {
                    let id = message["MessageId"].as_str().expect("message id").to_string();
                    let count = message["Attributes"]["ApproximateReceiveCount"]
                        .as_str()
                        .and_then(|count| count.parse().ok())
                        .expect("receive count");
                    (id, count)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// This process's resident set size in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

/// A well-behaved SDK client: send, receive and delete on its own queue, answered within [`HANG`].
async fn probe(server: &TestServer, url: &str, body: &str) {
    let client = server.client();
    let round_trip = async {
        client.send_message().queue_url(url).message_body(body).send().await.expect("probe send");
        let got = client.receive_message().queue_url(url).wait_time_seconds(0).send().await.expect("probe receive");
        assert_eq!(got.messages().len(), 1, "the probe's message");
        assert_eq!(got.messages()[0].body(), Some(body));
        let handle = got.messages()[0].receipt_handle().expect("handle");
        client.delete_message().queue_url(url).receipt_handle(handle).send().await.expect("probe delete");
    };
    tokio::time::timeout(HANG, round_trip).await.expect("the well-behaved client was answered");
}

async fn queue_counts(server: &TestServer, url: &str) -> (u64, u64, u64) {
    let attributes = common::queue_attributes(&server.client(), url).await;
    let get = |name: QueueAttributeName| attributes[&name].parse::<u64>().expect("count");
    (
        get(QueueAttributeName::ApproximateNumberOfMessages),
        get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        get(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
    )
}

// ---------------------------------------------------------------------------------------------
// 1. Ten thousand long polls pending at once.

const QUEUES: usize = 100;
const POLLS_PER_QUEUE: usize = 100;
/// HTTP/2 connections, each carrying [`STREAMS_PER_CONNECTION`] polls (under the server's 200).
const H2_CONNECTIONS: usize = 50;
const STREAMS_PER_CONNECTION: usize = 180;
/// The rest of the polls, one HTTP/1.1 connection each (two descriptors in this process).
const H1_POLLS: usize = QUEUES * POLLS_PER_QUEUE - H2_CONNECTIONS * STREAMS_PER_CONNECTION;
const MESSAGES_PER_QUEUE: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_concurrent_long_polls() {
    let harness = Harness::start(None).await;
    let server = &harness.server;
    let addr = harness.addr();
    let client = server.client();
    let bystander = server.create("bystander").await;
    let mut urls = Vec::new();
    for index in 0..QUEUES {
        urls.push(server.create(&format!("polled-{index:03}")).await);
    }
    let rss_before = rss_kib();

    // 10,000 polls, 100 on each queue: 9,000 over 50 HTTP/2 connections, 1,000 over HTTP/1.1.
    let started = Instant::now();
    let mut polls = tokio::task::JoinSet::new();
    let mut poll_index = 0usize;
    for _ in 0..H2_CONNECTIONS {
        let sender = h2_connection(addr).await;
        for _ in 0..STREAMS_PER_CONNECTION {
            let queue = poll_index % QUEUES;
            let request = sqs_request(addr, true, "ReceiveMessage", &receive_body(&urls[queue], 20, 600));
            let mut sender = sender.clone();
            polls.spawn(async move { (queue, reply_of(sender.send_request(request).await).await) });
            poll_index += 1;
        }
    }
    for _ in 0..H1_POLLS {
        let queue = poll_index % QUEUES;
        let mut sender = h1_connection(addr).await;
        let request = sqs_request(addr, false, "ReceiveMessage", &receive_body(&urls[queue], 20, 600));
        polls.spawn(async move {
            sender.ready().await.expect("connection ready");
            (queue, reply_of(sender.send_request(request).await).await)
        });
        poll_index += 1;
    }
    assert_eq!(poll_index, QUEUES * POLLS_PER_QUEUE);
    harness.polls_waiting(QUEUES * POLLS_PER_QUEUE, "all polls issued").await;
    let pending_after = started.elapsed();
    let rss_pending = rss_kib();
    eprintln!(
        "10,000 long polls pending after {:.2} s; RSS {} MiB with them pending ({} MiB before, client and server \
         share this process)",
        pending_after.as_secs_f64(),
        rss_pending / 1024,
        rss_before / 1024
    );

    // With every poll pending, a well-behaved client is served.
    probe(server, &bystander, "while 10,000 polls wait").await;
    assert!(polls.try_join_next().is_none(), "a poll ended before any message or clock change");

    // 50 messages per queue, sent in batches by 8 producers at once.
    let sent_started = Instant::now();
    let mut producers = tokio::task::JoinSet::new();
    let batches: Vec<(usize, usize)> =
        (0..QUEUES).flat_map(|queue| (0..MESSAGES_PER_QUEUE / 10).map(move |batch| (queue, batch))).collect();
    let batches = Arc::new(Mutex::new(batches));
    for _ in 0..8 {
        let (client, urls, batches) = (client.clone(), urls.clone(), batches.clone());
        producers.spawn(async move {
            let mut sent = Vec::new();
            loop {
                let Some((queue, batch)) = batches.lock().unwrap().pop() else { return sent };
                let entries = (0..10)
                    .map(|entry| {
                        SendMessageBatchRequestEntry::builder()
                            .id(format!("e{entry}"))
                            .message_body(format!("q{queue}-b{batch}-e{entry}"))
                            .build()
                            .unwrap()
                    })
                    .collect();
                let reply = client
                    .send_message_batch()
                    .queue_url(&urls[queue])
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .expect("send batch");
                assert!(reply.failed().is_empty(), "failed entries: {:?}", reply.failed());
                sent.extend(reply.successful().iter().map(|entry| (queue, entry.message_id().to_string())));
            }
        });
    }
    let mut sent: HashMap<String, usize> = HashMap::new();
    while let Some(done) = producers.join_next().await {
        for (queue, id) in done.expect("producer") {
            assert!(sent.insert(id, queue).is_none(), "a message id was handed out twice");
        }
    }
    assert_eq!(sent.len(), QUEUES * MESSAGES_PER_QUEUE);

    // Each message reaches exactly one waiting poll, which gets it alone (one per poll), before
    // the clock moves.
    let mut delivered: HashMap<String, usize> = HashMap::new();
    let collecting = async {
        while delivered.len() < sent.len() {
            let (queue, (status, reply)) = polls.join_next().await.expect("a poll").expect("poll task");
            assert_eq!(status, 200, "{reply}");
            let messages = received(&reply);
            assert_eq!(messages.len(), 1, "a poll ended without a message before the clock moved: {reply}");
            let (id, count) = messages.into_iter().next().unwrap();
            assert_eq!(count, 1, "message {id} was received before");
            assert_eq!(sent.get(&id), Some(&queue), "message {id} came from the wrong queue or was never sent");
            assert!(delivered.insert(id.clone(), queue).is_none(), "message {id} was delivered to two polls");
        }
    };
    tokio::time::timeout(HANG, collecting).await.expect("every message reached a waiting poll");
    eprintln!(
        "5,000 messages sent and each delivered to one of the waiting polls in {:.2} s",
        sent_started.elapsed().as_secs_f64()
    );
    let remaining = QUEUES * (POLLS_PER_QUEUE - MESSAGES_PER_QUEUE);
    harness.polls_waiting(remaining, "after the deliveries").await;
    assert_eq!(polls.len(), remaining);
    probe(server, &bystander, "while 5,000 polls wait").await;

    // The 20 s wait ends on the manual clock: every remaining poll returns empty.
    server.advance_secs(20);
    let ending = async {
        let mut ended = 0;
        while let Some(done) = polls.join_next().await {
            let (_, (status, reply)) = done.expect("poll task");
            assert_eq!(status, 200, "{reply}");
            assert!(received(&reply).is_empty(), "a poll got a message that was already delivered: {reply}");
            ended += 1;
        }
        ended
    };
    let ended = tokio::time::timeout(HANG, ending).await.expect("the remaining polls ended");
    assert_eq!(ended, remaining);
    harness.polls_waiting(0, "after the clock moved").await;

    // Nothing lost: every message is leased (600 s) and none visible.
    for url in &urls {
        assert_eq!(queue_counts(server, url).await, (0, MESSAGES_PER_QUEUE as u64, 0), "{url}");
    }
    probe(server, &bystander, "after the polls").await;
}

// ---------------------------------------------------------------------------------------------
// 2. Clients vanishing in the middle of a request.

/// How a dead long-poller leaves.
#[derive(Clone, Copy, Debug)]
enum Leaving {
    /// Half-closes (FIN) and keeps reading, so the test sees the server close without a reply.
    HalfClose,
    /// Closes the socket (FIN).
    Close,
    /// Closes with a reset (RST).
    Reset,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clients_vanishing_mid_request() {
    let data = tempfile::tempdir().expect("temp dir");
    let harness = Harness::start(Some(data.path().to_path_buf())).await;
    let server = &harness.server;
    let addr = harness.addr();
    let client = server.client();
    let bystander = server.create("bystander").await;
    let url = server.create("vanishing").await;

    // (a) Long polls whose clients vanish. The dead polls are registered first, so a server that
    // kept them would wake them first and lease the messages to nobody.
    let mut dead_h1 = Vec::new();
    for index in 0..60 {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(&raw_sqs_request(addr, "ReceiveMessage", &receive_body(&url, 20, 60))).await.unwrap();
        let leaving = [Leaving::HalfClose, Leaving::Close, Leaving::Reset][index % 3];
        dead_h1.push((stream, leaving));
    }
    // HTTP/2: streams reset one by one on one connection, and a whole connection dropped.
    let reset_streams = h2_connection(addr).await;
    let mut h2_dead = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let mut sender = reset_streams.clone();
        let request = sqs_request(addr, true, "ReceiveMessage", &receive_body(&url, 20, 60));
        h2_dead.spawn(async move { sender.send_request(request).await.map(|_| ()) });
    }
    let dropped_connection = {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (sender, connection) = hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .handshake::<_, Full<Bytes>>(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("HTTP/2 handshake");
        let driving = tokio::spawn(connection);
        for _ in 0..20 {
            let mut sender = sender.clone();
            let request = sqs_request(addr, true, "ReceiveMessage", &receive_body(&url, 20, 60));
            h2_dead.spawn(async move { sender.send_request(request).await.map(|_| ()) });
        }
        (sender, driving)
    };
    let dead = 60 + 40;
    harness.polls_waiting(dead, "dead pollers waiting").await;

    // Three live receivers, registered after the dead ones.
    let mut live = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let client = client.clone();
        let url = url.clone();
        live.spawn(async move {
            client
                .receive_message()
                .queue_url(&url)
                .wait_time_seconds(20)
                .visibility_timeout(60)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send()
                .await
                .expect("live receive")
        });
    }
    harness.polls_waiting(dead + 3, "live pollers waiting").await;

    // The dead clients go.
    let mut half_closed = Vec::new();
    for (mut stream, leaving) in dead_h1 {
        match leaving {
            Leaving::HalfClose => {
                stream.shutdown().await.expect("half-close");
                half_closed.push(stream);
            }
            Leaving::Close => drop(stream),
            Leaving::Reset => {
                stream.set_zero_linger().expect("linger");
                drop(stream);
            }
        }
    }
    h2_dead.abort_all();
    drop(reset_streams);
    let (sender, driving) = dropped_connection;
    driving.abort();
    drop(sender);
    for mut stream in half_closed {
        let reply = common::read_until_closed(&mut stream, HANG, "a half-closed long poll").await;
        assert!(reply.is_empty(), "a vanished poller was answered: {:?}", String::from_utf8_lossy(&reply));
    }
    // The server lets go of every dead poll; only the live ones wait.
    harness.polls_waiting(3, "after the dead pollers left").await;
    probe(server, &bystander, "after the dead pollers left").await;

    // Three messages reach the three live receivers, without the clock moving.
    for index in 0..3 {
        client.send_message().queue_url(&url).message_body(format!("live-{index}")).send().await.expect("send");
    }
    let mut bodies = BTreeMap::new();
    let collecting = async {
        while let Some(done) = live.join_next().await {
            let got = done.expect("live task");
            assert_eq!(got.messages().len(), 1, "a live receiver got no message");
            let message = &got.messages()[0];
            let count = &message.attributes().unwrap()[&MessageSystemAttributeName::ApproximateReceiveCount];
            assert_eq!(count, "1", "the message was leased before: {message:?}");
            *bodies.entry(message.body().unwrap().to_string()).or_insert(0) += 1;
        }
    };
    tokio::time::timeout(HANG, collecting).await.expect("the live receivers got the messages");
    assert_eq!(bodies, (0..3).map(|index| (format!("live-{index}"), 1)).collect::<BTreeMap<_, _>>());
    harness.polls_waiting(0, "after the live receivers were served").await;

    // (a2) A receiver that vanishes once the server may already have leased a message to it:
    // what the server guarantees is that the message comes back when the lease ends.
    let url_a2 = server.create("vanishing-after-lease").await;
    client.send_message().queue_url(&url_a2).message_body("maybe leased").send().await.expect("send");
    for _ in 0..5 {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(&raw_sqs_request(addr, "ReceiveMessage", &receive_body(&url_a2, 0, 30))).await.unwrap();
        stream.shutdown().await.expect("half-close");
        common::read_until_closed(&mut stream, HANG, "a receive that vanished").await;
    }
    server.advance_secs(31);
    let back = client
        .receive_message()
        .queue_url(&url_a2)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .expect("receive");
    assert_eq!(back.messages().len(), 1, "the message leased to a vanished receiver did not come back");
    assert_eq!(back.messages()[0].body(), Some("maybe leased"));
    let count: u32 =
        back.messages()[0].attributes().unwrap()[&MessageSystemAttributeName::ApproximateReceiveCount].parse().unwrap();
    assert!((1..=2).contains(&count), "receive count {count}: at most one vanished receiver could have leased it");

    // (b) SendMessage bodies cut off halfway: nothing is enqueued.
    let url_b = server.create("half-bodies").await;
    for index in 0..30 {
        let request = raw_sqs_request(
            addr,
            "SendMessage",
            &json!({"QueueUrl": url_b, "MessageBody": format!("half body {index} {}", "x".repeat(2000))}),
        );
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(&request[..request.len() / 2]).await.unwrap();
        match index % 3 {
            0 => {
                stream.shutdown().await.expect("half-close");
                let reply = String::from_utf8_lossy(&common::read_until_closed(&mut stream, HANG, "a half body").await)
                    .to_string();
                assert!(reply.is_empty() || reply.starts_with("HTTP/1.1 400"), "a half body was answered {reply}");
            }
            1 => drop(stream),
            _ => {
                stream.set_zero_linger().expect("linger");
                drop(stream);
            }
        }
    }
    probe(server, &bystander, "after the half bodies").await;

    // (c) Complete sends whose client leaves before reading the reply: each message is then in
    // the queue at most once, and exactly once if it was acknowledged, and what the running
    // server hands out is what is on disk (the same set after a restart).
    let url_c = server.create("unread-replies").await;
    let acknowledged = Arc::new(Mutex::new(HashSet::new()));
    let mut senders = tokio::task::JoinSet::new();
    const UNREAD: usize = 200;
    for worker in 0..10 {
        let (url_c, acknowledged) = (url_c.clone(), acknowledged.clone());
        senders.spawn(async move {
            for index in (worker..UNREAD).step_by(10) {
                let body = format!("unread-{index}");
                let request = raw_sqs_request(addr, "SendMessage", &json!({"QueueUrl": url_c, "MessageBody": body}));
                let mut stream = TcpStream::connect(addr).await.expect("connect");
                stream.write_all(&request).await.unwrap();
                stream.shutdown().await.expect("half-close");
                let reply = common::read_until_closed(&mut stream, HANG, "an unread send").await;
                let reply = String::from_utf8_lossy(&reply).to_string();
                if reply.starts_with("HTTP/1.1 200") {
                    acknowledged.lock().unwrap().insert(body);
                } else {
                    assert!(reply.is_empty(), "an abandoned send got {reply}");
                }
            }
        });
    }
    while let Some(done) = senders.join_next().await {
        done.expect("sender");
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    let before_restart = bodies_once(common::drain(&client, &url_c).await, "before the restart");
    for body in &acknowledged {
        assert!(before_restart.contains(body), "acknowledged {body} is not in the queue");
    }
    eprintln!(
        "{UNREAD} sends abandoned before their reply: {} acknowledged anyway, {} in the queue",
        acknowledged.len(),
        before_restart.len()
    );

    // Nothing from the cut-off bodies arrived meanwhile.
    assert_eq!(queue_counts(server, &url_b).await, (0, 0, 0), "a half-sent body was enqueued");
    probe(server, &bystander, "after the unread replies").await;

    let now_ms = harness.now_ms();
    drop(client);
    let Harness { server, .. } = harness;
    tokio::time::timeout(HANG, server.server.shutdown()).await.expect("shutdown in time").expect("shutdown");
    let harness = Harness::start_at(Some(data.path().to_path_buf()), now_ms).await;
    let client = harness.server.client();
    let after_restart = bodies_once(common::drain(&client, &url_c).await, "after the restart");
    assert_eq!(
        after_restart.difference(&before_restart).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "messages stored but never receivable before the restart"
    );
    assert_eq!(
        before_restart.difference(&after_restart).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "messages receivable before the restart but lost by it"
    );
    assert_eq!(queue_counts(&harness.server, &url_b).await, (0, 0, 0), "a half-sent body was stored");
}

/// The bodies drained from a queue, each of which must appear once.
fn bodies_once(drained: Vec<(String, String, String, u32)>, when: &str) -> HashSet<String> {
    let mut bodies = HashSet::new();
    for (_, body, _, _) in drained {
        assert!(bodies.insert(body.clone()), "{when}: {body} is in the queue twice");
    }
    bodies
}

// ---------------------------------------------------------------------------------------------
// 3. Visibility timeouts expiring under load.

const VISIBILITY_SECONDS: u64 = 30;
const LOAD_MESSAGES: usize = 3_000;
const CONSUMERS: usize = 8;
const MAX_RECEIVE_COUNT: u32 = 3;

/// On which receive a message is deleted; `None`: never (it goes to the dead-letter queue).
fn delete_on(body_index: usize) -> Option<u32> {
    match body_index % 4 {
        0 => None,
        kept => Some(kept as u32),
    }
}

fn body_index(body: &str) -> usize {
    body.strip_prefix("load-").and_then(|index| index.parse().ok()).expect("a load body")
}

/// What the consumers saw of one message.
#[derive(Default, Debug)]
struct Seen {
    receives: Vec<u32>,
    /// Lease end (manual clock ms) of the latest delivery.
    leased_until_ms: u64,
    deleted: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn visibility_expiry_under_load() {
    let harness = Arc::new(Harness::start(None).await);
    let server = &harness.server;
    let client = server.client();
    let dlq = server.create("load-dlq").await;
    let policy = format!(
        r#"{{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:{ACCOUNT}:load-dlq","maxReceiveCount":{MAX_RECEIVE_COUNT}}}"#
    );
    let url = client
        .create_queue()
        .queue_name("load")
        .attributes(QueueAttributeName::RedrivePolicy, policy)
        .attributes(QueueAttributeName::VisibilityTimeout, VISIBILITY_SECONDS.to_string())
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("url");

    let seen: Arc<Mutex<HashMap<String, Seen>>> = Arc::default();
    let ids: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let producing = Arc::new(AtomicUsize::new(4));
    // Four producers send while the first round of consumers receives.
    let mut producers = tokio::task::JoinSet::new();
    for producer in 0..4 {
        let (client, url, ids, producing) = (client.clone(), url.clone(), ids.clone(), producing.clone());
        producers.spawn(async move {
            for first in (producer * 10..LOAD_MESSAGES).step_by(40) {
                let entries = (first..first + 10)
                    .map(|index| {
                        SendMessageBatchRequestEntry::builder()
                            .id(format!("m{index}"))
                            .message_body(format!("load-{index}"))
                            .build()
                            .unwrap()
                    })
                    .collect();
                let reply =
                    client.send_message_batch().queue_url(&url).set_entries(Some(entries)).send().await.expect("send");
                assert!(reply.failed().is_empty(), "{:?}", reply.failed());
                let mut ids = ids.lock().unwrap();
                for entry in reply.successful() {
                    let index: usize = entry.id().strip_prefix('m').unwrap().parse().unwrap();
                    assert!(ids.insert(entry.message_id().to_string(), index).is_none());
                }
            }
            producing.fetch_sub(1, Ordering::SeqCst);
        });
    }

    let mut round = 0;
    let mut deliveries_per_round = Vec::new();
    loop {
        round += 1;
        assert!(round <= 6, "messages still delivered after {round} rounds: {deliveries_per_round:?}");
        let delivered = Arc::new(AtomicUsize::new(0));
        let mut consumers = tokio::task::JoinSet::new();
        for _ in 0..CONSUMERS {
            let (client, url, seen, harness, producing, delivered) =
                (client.clone(), url.clone(), seen.clone(), harness.clone(), producing.clone(), delivered.clone());
            consumers.spawn(async move {
                loop {
                    let producers_done = producing.load(Ordering::SeqCst) == 0;
                    let got = client
                        .receive_message()
                        .queue_url(&url)
                        .max_number_of_messages(10)
                        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                        .send()
                        .await
                        .expect("receive");
                    if got.messages().is_empty() {
                        if producers_done {
                            return;
                        }
                        tokio::task::yield_now().await;
                        continue;
                    }
                    let now_ms = harness.now_ms();
                    let mut deletes = Vec::new();
                    {
                        let mut seen = seen.lock().unwrap();
                        for message in got.messages() {
                            let id = message.message_id().unwrap().to_string();
                            let count: u32 = message.attributes().unwrap()
                                [&MessageSystemAttributeName::ApproximateReceiveCount]
                                .parse()
                                .unwrap();
                            let entry = seen.entry(id.clone()).or_default();
                            assert!(!entry.deleted, "{id} was delivered after it was deleted");
                            assert!(
                                entry.leased_until_ms <= now_ms,
                                "{id} delivered at {now_ms} while leased until {}",
                                entry.leased_until_ms
                            );
                            entry.receives.push(count);
                            entry.leased_until_ms = now_ms + VISIBILITY_SECONDS * 1000;
                            assert_eq!(
                                count as usize,
                                entry.receives.len(),
                                "{id}: receive count against the deliveries seen {:?}",
                                entry.receives
                            );
                            if delete_on(body_index(message.body().unwrap())) == Some(count) {
                                deletes.push((id, message.receipt_handle().unwrap().to_string()));
                            }
                        }
                    }
                    delivered.fetch_add(got.messages().len(), Ordering::SeqCst);
                    if deletes.is_empty() {
                        continue;
                    }
                    let entries = deletes
                        .iter()
                        .enumerate()
                        .map(|(index, (_, handle))| {
                            DeleteMessageBatchRequestEntry::builder()
                                .id(format!("d{index}"))
                                .receipt_handle(handle)
                                .build()
                                .unwrap()
                        })
                        .collect();
                    let reply = client
                        .delete_message_batch()
                        .queue_url(&url)
                        .set_entries(Some(entries))
                        .send()
                        .await
                        .expect("delete");
                    assert!(reply.failed().is_empty(), "deletes within the lease failed: {:?}", reply.failed());
                    let mut seen = seen.lock().unwrap();
                    for (id, _) in deletes {
                        seen.get_mut(&id).unwrap().deleted = true;
                    }
                }
            });
        }
        let consuming = async {
            while let Some(done) = consumers.join_next().await {
                done.expect("consumer");
            }
        };
        tokio::time::timeout(HANG, consuming).await.expect("the consumers finished the round");
        while let Some(done) = producers.join_next().await {
            done.expect("producer");
        }
        let delivered = delivered.load(Ordering::SeqCst);
        deliveries_per_round.push(delivered);
        // Every message left is leased: nothing comes back a second before the leases end.
        server.advance_secs(VISIBILITY_SECONDS - 1);
        let early = client.receive_message().queue_url(&url).max_number_of_messages(10).send().await.expect("receive");
        assert!(early.messages().is_empty(), "round {round}: a message came back before its lease ended");
        server.advance_secs(2);
        if delivered == 0 {
            break;
        }
    }
    eprintln!("deliveries per round: {deliveries_per_round:?}");

    // Every message was deleted exactly once on its chosen receive, or received three times and
    // moved to the dead-letter queue; none lost.
    let ids = ids.lock().unwrap().clone();
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(ids.len(), LOAD_MESSAGES);
    let mut expected_dead = HashSet::new();
    for (id, index) in &ids {
        let entry = seen.get(id).unwrap_or_else(|| panic!("load-{index} was never delivered"));
        match delete_on(*index) {
            Some(on) => {
                assert!(entry.deleted, "load-{index} was not deleted");
                assert_eq!(entry.receives, (1..=on).collect::<Vec<_>>(), "load-{index}");
            }
            None => {
                assert!(!entry.deleted);
                assert_eq!(entry.receives, (1..=MAX_RECEIVE_COUNT).collect::<Vec<_>>(), "load-{index}");
                expected_dead.insert(id.clone());
            }
        }
    }
    assert_eq!(queue_counts(server, &url).await, (0, 0, 0), "the source queue is empty");
    let dead = common::drain(&client, &dlq).await;
    let mut dead_ids = HashSet::new();
    for (id, body, _, _) in &dead {
        assert!(dead_ids.insert(id.clone()), "{body} is in the dead-letter queue twice");
        assert_eq!(delete_on(body_index(body)), None, "{body} was dead-lettered but should have been deleted");
    }
    assert_eq!(dead_ids, expected_dead, "the dead-letter queue holds exactly the never-deleted messages");
}
