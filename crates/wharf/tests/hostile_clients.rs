//! Hostile clients never starve well-behaved ones: slowloris headers, stalled and trickling
//! bodies, oversized heads, half-sent requests, thousands of idle connections and bursts of
//! forged signatures each run against a server while an SDK client keeps creating queues,
//! sending and receiving, and each hostile connection is closed or refused as documented.
//!
//! Timeouts are set short (`header_read_timeout_ms`, `body_read_timeout_ms`) so the suite is
//! quick. Every wait is bounded by [`PROBE_TIMEOUT`], which detects hangs and is never a speed
//! threshold.

mod common;

use common::{client, config, raw_request, TestServer};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use wharf::config::UserConfig;

/// Upper bound for the well-behaved probe and for a hostile connection to be closed. Generous:
/// it only tells a hang from an answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER_READ_TIMEOUT_MS: u64 = 300;
const BODY_READ_TIMEOUT_MS: u64 = 300;

async fn start() -> TestServer {
    let mut config = config(None);
    config.header_read_timeout_ms = HEADER_READ_TIMEOUT_MS;
    config.body_read_timeout_ms = BODY_READ_TIMEOUT_MS;
    TestServer::start_with(config, None).await
}

/// A well-behaved SDK client creates a queue, sends a message and receives it back, within
/// [`PROBE_TIMEOUT`].
async fn probe(server: &TestServer, name: &str) {
    let client = server.client();
    let round_trip = async {
        let url = client.create_queue().queue_name(name).send().await.expect("create queue").queue_url.unwrap();
        client.send_message().queue_url(&url).message_body("probe").send().await.expect("send");
        let received = client.receive_message().queue_url(&url).send().await.expect("receive");
        assert_eq!(received.messages()[0].body(), Some("probe"));
        let handle = received.messages()[0].receipt_handle().unwrap();
        client.delete_message().queue_url(&url).receipt_handle(handle).send().await.expect("delete");
    };
    tokio::time::timeout(PROBE_TIMEOUT, round_trip).await.expect("the well-behaved client was answered");
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

fn status_line(bytes: &[u8]) -> String {
    text(bytes).lines().next().unwrap_or("").to_string()
}

/// Sends `head` one byte at a time, then more header bytes forever, a byte every `pause`, until
/// the server closes the connection. Returns what the server wrote.
async fn slowloris(server_addr: std::net::SocketAddr, head: &'static [u8], pause: Duration) -> Vec<u8> {
    let stream = TcpStream::connect(server_addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let trickling = tokio::spawn(async move {
        for byte in head.iter().chain(std::iter::repeat(&b'a')) {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(pause).await;
        }
    });
    let mut reply = Vec::new();
    let closed = tokio::time::timeout(PROBE_TIMEOUT, reader.read_to_end(&mut reply)).await;
    trickling.abort();
    assert!(closed.is_ok(), "a slowloris connection was kept open: {:?}", text(&reply));
    reply
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_headers_are_cut_off_and_others_are_served() {
    let server = start().await;
    let address = server.server.local_addr;
    let heads: [&'static [u8]; 3] = [
        b"GET /_wharf/health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ",
        b"POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: AmazonSQS.ListQueues\r\nX-Slow: ",
        // Looks like the HTTP/2 preface for its first bytes, then is not.
        b"PRI * HTTP/1.1\r\nX-Slow: ",
    ];
    let mut slow = tokio::task::JoinSet::new();
    for index in 0..60 {
        slow.spawn(slowloris(address, heads[index % heads.len()], Duration::from_millis(50)));
    }
    // While they trickle, a normal client is served.
    probe(&server, "during-slowloris").await;
    while let Some(reply) = slow.join_next().await {
        let reply = reply.unwrap();
        let line = status_line(&reply);
        assert!(reply.is_empty() || line.starts_with("HTTP/1.1 4"), "a slowloris connection got {line:?}");
    }
    probe(&server, "after-slowloris").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_and_trickling_bodies_are_answered_408() {
    let server = start().await;
    let url = server.create("slow-bodies").await;
    let head = |framing: &str| {
        format!(
            "POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: AmazonSQS.SendMessage\r\n\
             Content-Type: application/x-amz-json-1.0\r\n{framing}\r\n\r\n"
        )
    };
    let body_start = format!("{{\"QueueUrl\": \"{url}\", \"MessageBody\": \"");
    // (head, first part of the body, then: trickle one byte per pause forever, or stall)
    let cases = [
        (head("Content-Length: 100000"), body_start.clone(), false),
        (head("Content-Length: 100000"), body_start.clone(), true),
        (head("Transfer-Encoding: chunked"), format!("{:x}\r\n{body_start}", body_start.len() + 1000), false),
        (head("Transfer-Encoding: chunked"), format!("{:x}\r\n{body_start}", body_start.len() + 1000), true),
        // Headers only: the body never starts.
        (head("Content-Length: 10"), String::new(), false),
    ];
    let mut hostile = tokio::task::JoinSet::new();
    for (round, (head, body, trickle)) in cases.into_iter().cycle().take(40).enumerate() {
        let address = server.server.local_addr;
        hostile.spawn(async move {
            let stream = TcpStream::connect(address).await.unwrap();
            let (mut reader, mut writer) = stream.into_split();
            writer.write_all(head.as_bytes()).await.unwrap();
            writer.write_all(body.as_bytes()).await.unwrap();
            let writing = tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    if trickle && writer.write_all(b"x").await.is_err() {
                        return;
                    }
                }
            });
            let mut reply = Vec::new();
            let closed = tokio::time::timeout(PROBE_TIMEOUT, reader.read_to_end(&mut reply)).await;
            writing.abort();
            assert!(closed.is_ok(), "round {round}: a slow body held the connection: {:?}", text(&reply));
            let reply = text(&reply);
            assert!(reply.starts_with("HTTP/1.1 408"), "round {round}: {reply}");
            assert!(reply.contains("RequestTimeout"), "round {round}: {reply}");
        });
    }
    probe(&server, "during-slow-bodies").await;
    while let Some(done) = hostile.join_next().await {
        done.unwrap();
    }
    // Nothing a slow body carried was sent.
    let counts = common::queue_attributes(&server.client(), &url).await;
    assert_eq!(counts[&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages], "0");
    probe(&server, "after-slow-bodies").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_http2_body_is_answered_408() {
    let server = start().await;
    let url = server.create("h2-slow-body").await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<common::channel_body::Frames>();
    let (sender, frames) = common::channel_body::channel();
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("{}/", server.endpoint))
        .header("x-amz-target", "AmazonSQS.SendMessage")
        .header("content-type", "application/x-amz-json-1.0")
        .body(frames)
        .unwrap();
    sender.send(bytes::Bytes::from(format!("{{\"QueueUrl\": \"{url}\", \"MessageBody\": \""))).await.unwrap();
    // The body never ends; the sender stays alive until the reply is in.
    let response = tokio::time::timeout(PROBE_TIMEOUT, client.request(request)).await.expect("a reply").unwrap();
    assert_eq!(response.status(), 408);
    drop(sender);
    probe(&server, "after-h2-slow-body").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_heads_are_refused_without_buffering_them() {
    let server = start().await;
    let address = server.server.local_addr;

    // An endless header value: the server must give up long before 64 MiB, which it could only
    // accept by buffering it all.
    let mut hostile = tokio::task::JoinSet::new();
    for _ in 0..8 {
        hostile.spawn(async move {
            let stream = TcpStream::connect(address).await.unwrap();
            let (mut reader, mut writer) = stream.into_split();
            let writing = tokio::spawn(async move {
                let _ = writer.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ").await;
                let chunk = vec![b'b'; 64 * 1024];
                let mut written = 0usize;
                while written < 64 * 1024 * 1024 {
                    if writer.write_all(&chunk).await.is_err() {
                        return written;
                    }
                    written += chunk.len();
                }
                written
            });
            let mut reply = Vec::new();
            let closed = tokio::time::timeout(PROBE_TIMEOUT, async {
                let mut buf = [0u8; 4096];
                loop {
                    match reader.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => reply.extend_from_slice(&buf[..read]),
                    }
                }
            })
            .await;
            assert!(closed.is_ok(), "an endless header kept the connection open");
            let written = tokio::time::timeout(PROBE_TIMEOUT, writing).await.expect("writes fail").unwrap();
            assert!(written < 64 * 1024 * 1024, "the server took 64 MiB of header");
            let line = status_line(&reply);
            assert!(reply.is_empty() || line.starts_with("HTTP/1.1 431"), "{line}");
        });
    }
    probe(&server, "during-big-heads").await;
    while let Some(done) = hostile.join_next().await {
        done.unwrap();
    }

    // 1 MiB of headers in one field, 1 MiB spread over many, and 10,000 small ones: all 431.
    let one_field = format!("X-Big: {}\r\n", "b".repeat(1024 * 1024));
    let spread: String = (0..1024).map(|index| format!("X-H{index}: {}\r\n", "v".repeat(1024))).collect();
    let many: String = (0..10_000).map(|index| format!("X-H{index}: v\r\n")).collect();
    for (label, headers) in [("1 MiB field", one_field), ("1 MiB of fields", spread), ("10,000 fields", many)] {
        let mut stream = TcpStream::connect(address).await.unwrap();
        let request = format!("GET /_wharf/health HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n");
        let (mut reader, mut writer) = stream.split();
        let (_, reply) = tokio::join!(writer.write_all(request.as_bytes()), async {
            let mut reply = Vec::new();
            let _ = tokio::time::timeout(PROBE_TIMEOUT, reader.read_to_end(&mut reply)).await;
            reply
        });
        let line = status_line(&reply);
        assert!(line.starts_with("HTTP/1.1 431"), "{label}: {line:?}");
        drop(stream);
    }

    // HTTP/2: 1 MiB of headers is refused too (by the server's 431, or by the client, which
    // honours the server's advertised SETTINGS_MAX_HEADER_LIST_SIZE).
    let big = "b".repeat(1024 * 1024);
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let request = http::Request::builder()
        .uri(format!("{}/_wharf/health", server.endpoint))
        .header("x-big", big.as_str())
        .body(http_body_util::Empty::new())
        .unwrap();
    match tokio::time::timeout(PROBE_TIMEOUT, client.request(request)).await.expect("an answer") {
        Ok(response) => assert_eq!(response.status(), 431),
        Err(_refused) => {}
    }
    probe(&server, "after-big-heads").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_held_open_are_closed() {
    let server = start().await;
    let address = server.server.local_addr;
    // Each is written and then the client neither sends more nor closes.
    let partial: Vec<(&str, Vec<u8>)> = vec![
        ("nothing at all", Vec::new()),
        ("half a request line", b"POST / HT".to_vec()),
        ("a request line only", b"GET /_wharf/health HTTP/1.1\r\n".to_vec()),
        ("half the HTTP/2 preface", b"PRI * HTTP/2.0\r\n".to_vec()),
        ("the HTTP/2 preface alone", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec()),
        (
            "the HTTP/2 preface and an empty SETTINGS frame",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00".to_vec(),
        ),
        (
            "the HTTP/2 preface and garbage",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\xff\xff\xff\xff\xff\xff\xff\xff\xff".to_vec(),
        ),
        ("garbage", (0..4096u32).map(|index| (index.wrapping_mul(2_654_435_761) >> 13) as u8).collect()),
        ("a TLS ClientHello start", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec()),
    ];
    let mut hostile = tokio::task::JoinSet::new();
    for copy in 0..10 {
        for (label, bytes) in partial.clone() {
            hostile.spawn(async move {
                let mut stream = TcpStream::connect(address).await.unwrap();
                stream.write_all(&bytes).await.unwrap();
                let reply = common::read_until_closed(&mut stream, PROBE_TIMEOUT, "a hostile connection").await;
                let line = status_line(&reply);
                assert!(
                    !line.starts_with("HTTP/1.1 2"),
                    "{label} (copy {copy}) was answered as if it were a request: {line}"
                );
            });
        }
    }
    probe(&server, "during-partials").await;
    while let Some(done) = hostile.join_next().await {
        done.unwrap();
    }
    // And the same sent then abandoned (the client closes at once).
    for (_, bytes) in &partial {
        let mut stream = TcpStream::connect(address).await.unwrap();
        let _ = stream.write_all(bytes).await;
        drop(stream);
    }
    probe(&server, "after-partials").await;
}

/// How many idle connections the idle test opens: 2,000, or fewer if the open-file limit
/// (each connection takes a descriptor in the test and one in the server) does not allow it.
fn idle_connection_count() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|soft| soft.parse::<usize>().ok())
        .unwrap_or(1024);
    2_000.min(soft.saturating_sub(256) / 2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_idle_connections_do_not_starve_others_and_are_closed() {
    let server = start().await;
    let count = idle_connection_count();
    assert!(count >= 500, "the open-file limit allows only {count} idle connections");
    let mut idle = Vec::with_capacity(count);
    for _ in 0..count {
        idle.push(TcpStream::connect(server.server.local_addr).await.unwrap());
    }
    // All of them open and silent: a normal client still gets answers.
    probe(&server, "among-idle").await;
    // Every idle connection is closed by the server after the header read timeout.
    let closed = Arc::new(AtomicUsize::new(0));
    let mut waiting = tokio::task::JoinSet::new();
    for mut stream in idle {
        let closed = closed.clone();
        waiting.spawn(async move {
            let reply = common::read_until_closed(&mut stream, PROBE_TIMEOUT, "a hostile connection").await;
            assert!(reply.is_empty(), "an idle connection got {:?}", text(&reply));
            closed.fetch_add(1, Ordering::Relaxed);
        });
    }
    while let Some(done) = waiting.join_next().await {
        done.unwrap();
    }
    assert_eq!(closed.load(Ordering::Relaxed), count);
    probe(&server, "after-idle").await;
}

const KEY: &str = "AKIDHOSTILE000001";
const SECRET: &str = "the-real-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_forged_signatures_is_refused_and_good_requests_go_on() {
    let mut config = config(None);
    config.header_read_timeout_ms = HEADER_READ_TIMEOUT_MS;
    config.users = vec![UserConfig { access_key_id: KEY.into(), secret_access_key: SECRET.into(), account_id: None }];
    let server = TestServer::start_with(config, None).await;
    let good = client(&server.endpoint, KEY, SECRET);
    let url = good.create_queue().queue_name("signed").send().await.unwrap().queue_url.unwrap();

    // 1,000 forged requests, 50 at a time: a wrong secret, an unknown key, a made-up header.
    let forged = Arc::new(AtomicUsize::new(0));
    let mut burst = tokio::task::JoinSet::new();
    for worker in 0..50 {
        let endpoint = server.endpoint.clone();
        let url = url.clone();
        let forged = forged.clone();
        burst.spawn(async move {
            let wrong_secret = client(&endpoint, KEY, "not-the-secret");
            let unknown_key = client(&endpoint, "AKIDNOBODY0000000", SECRET);
            for round in 0..20 {
                let status = match (worker + round) % 3 {
                    0 => {
                        let error = wrong_secret
                            .send_message()
                            .queue_url(&url)
                            .message_body("forged")
                            .send()
                            .await
                            .unwrap_err();
                        error.raw_response().map(|response| response.status().as_u16())
                    }
                    1 => {
                        let error = unknown_key.receive_message().queue_url(&url).send().await.unwrap_err();
                        error.raw_response().map(|response| response.status().as_u16())
                    }
                    _ => {
                        let authorization = format!(
                            "AWS4-HMAC-SHA256 Credential={KEY}/20990101/us-east-1/sqs/aws4_request, \
                             SignedHeaders=host;x-amz-date, Signature={}",
                            "0".repeat(64)
                        );
                        let reply = raw_request(
                            &endpoint,
                            round % 2 == 0,
                            "POST",
                            "/",
                            &[
                                ("x-amz-target", "AmazonSQS.SendMessage"),
                                ("content-type", "application/x-amz-json-1.0"),
                                ("x-amz-date", "20990101T000000Z"),
                                ("authorization", authorization.as_str()),
                            ],
                            serde_json::json!({"QueueUrl": url, "MessageBody": "forged"}).to_string(),
                        )
                        .await;
                        Some(reply.status)
                    }
                };
                assert_eq!(status, Some(403), "worker {worker} round {round}");
                forged.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    // Meanwhile the signed client goes on sending and receiving.
    let mut sent = 0;
    while forged.load(Ordering::Relaxed) < 1_000 && !burst.is_empty() {
        let round_trip = async {
            good.send_message().queue_url(&url).message_body(format!("good {sent}")).send().await.unwrap();
            let received = good.receive_message().queue_url(&url).send().await.unwrap();
            for message in received.messages() {
                good.delete_message()
                    .queue_url(&url)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        };
        tokio::time::timeout(PROBE_TIMEOUT, round_trip).await.expect("the signed client was answered");
        sent += 1;
        if burst.try_join_next().is_some_and(|done| done.is_err()) {
            break;
        }
    }
    while let Some(done) = burst.join_next().await {
        done.unwrap();
    }
    assert_eq!(forged.load(Ordering::Relaxed), 1_000);
    assert!(sent > 0);
    // None of the forged sends landed: only the good messages ever reached the queue, and all
    // of them were deleted.
    let counts = common::queue_attributes(&good, &url).await;
    assert_eq!(counts[&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages], "0");
    assert_eq!(counts[&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible], "0");
}

#[tokio::test]
async fn tampered_shard_iterators_are_invalid_and_the_real_one_still_reads() {
    let server = start().await;
    let kinesis = server.kinesis();
    kinesis.create_stream().stream_name("tamper").shard_count(1).send().await.unwrap();
    kinesis
        .put_record()
        .stream_name("tamper")
        .partition_key("k")
        .data(aws_sdk_kinesis::primitives::Blob::new("real"))
        .send()
        .await
        .unwrap();
    let shard = kinesis.list_shards().stream_name("tamper").send().await.unwrap().shards()[0].shard_id().to_string();
    let iterator = kinesis
        .get_shard_iterator()
        .stream_name("tamper")
        .shard_id(&shard)
        .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap();
    let mut forgeries = Vec::new();
    for position in [0, iterator.len() / 3, iterator.len() / 2, iterator.len() - 1] {
        let mut bytes = iterator.clone().into_bytes();
        bytes[position] = if bytes[position] == b'A' { b'B' } else { b'A' };
        forgeries.push(String::from_utf8(bytes).unwrap());
    }
    forgeries.push(iterator[..iterator.len() / 2].to_string());
    forgeries.push(format!("{iterator}A"));
    forgeries.push("A".repeat(iterator.len()));
    forgeries.push("€".repeat(100));
    for forged in &forgeries {
        let error = kinesis.get_records().shard_iterator(forged).send().await.unwrap_err();
        let code =
            error.as_service_error().and_then(|service| aws_sdk_kinesis::error::ProvideErrorMetadata::code(service));
        assert_eq!(code, Some("InvalidArgumentException"), "{forged:.40}: {error:?}");
    }
    let read = kinesis.get_records().shard_iterator(&iterator).send().await.unwrap();
    assert_eq!(read.records()[0].data().as_ref(), b"real");
    probe(&server, "after-iterators").await;
}
