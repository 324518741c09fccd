//! Test harness: a Wharf server on an ephemeral 127.0.0.1 port and an aws-sdk-sqs client for it;
//! `tls` makes test CAs and TLS acceptors for endpoints Wharf delivers to.
#![allow(dead_code)]

pub mod tls;

use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use std::path::PathBuf;
use std::sync::Arc;
use wharf::config::{Config, LogFormat, UserConfig};
use wharf::Server;
use wharf_domain::{Clock, ManualClock, SystemClock};

pub const ACCOUNT: &str = "000000000000";
/// A time well after the epoch so timestamps look real.
pub const START_MS: u64 = 1_780_000_000_000;

pub fn config(data_dir: Option<PathBuf>) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir,
        advertised_url: None,
        account_id: ACCOUNT.to_string(),
        region: "us-east-1".to_string(),
        request_bytes_max: wharf::config::DEFAULT_REQUEST_BYTES_MAX,
        drain_timeout_ms: 5_000,
        header_read_timeout_ms: 30_000,
        body_read_timeout_ms: wharf::config::DEFAULT_BODY_READ_TIMEOUT_MS,
        log_format: LogFormat::Pretty,
        queue_recreate_delay_ms: 0,
        users: Vec::<UserConfig>::new(),
        queues: Vec::new(),
        sns_lambda_endpoint: None,
        sns_signing_key_file: None,
        sns_smtp_server: None,
        sns_https_ca_file: None,
        sns_email_from: wharf::config::DEFAULT_EMAIL_FROM.to_string(),
        sns_mobile_webhook: None,
        kinesis_shard_throughput_limits: false,
    }
}

pub struct TestServer {
    pub server: Server,
    pub clock: Option<Arc<ManualClock>>,
    pub endpoint: String,
}

impl TestServer {
    /// In memory, on the wall clock.
    pub async fn start() -> TestServer {
        Self::start_with(config(None), None).await
    }

    /// In memory, on a manual clock the test moves.
    pub async fn start_manual() -> TestServer {
        Self::start_with(config(None), Some(Arc::new(ManualClock::new(START_MS)))).await
    }

    pub async fn start_with(config: Config, clock: Option<Arc<ManualClock>>) -> TestServer {
        let engine_clock: Arc<dyn Clock> = match &clock {
            Some(manual) => manual.clone(),
            None => Arc::new(SystemClock),
        };
        let server = Server::start_with_clock(config, engine_clock).await.expect("server starts");
        let endpoint = format!("http://{}", server.local_addr);
        TestServer { server, clock, endpoint }
    }

    pub fn advance_secs(&self, seconds: u64) {
        self.clock.as_ref().expect("manual clock").advance_ms(seconds * 1000);
    }

    pub fn client(&self) -> aws_sdk_sqs::Client {
        client(&self.endpoint, "test", "test")
    }

    pub fn sns(&self) -> aws_sdk_sns::Client {
        sns_client(&self.endpoint)
    }

    pub fn kinesis(&self) -> aws_sdk_kinesis::Client {
        kinesis_client(&self.endpoint)
    }

    pub fn url(&self, name: &str) -> String {
        format!("{}/{ACCOUNT}/{name}", self.endpoint)
    }

    pub async fn create(&self, name: &str) -> String {
        self.client().create_queue().queue_name(name).send().await.expect("create queue").queue_url.expect("url")
    }
}

/// Creates a GCM platform application; returns its ARN.
pub async fn gcm_application(sns: &aws_sdk_sns::Client, name: &str) -> String {
    let created = sns
        .create_platform_application()
        .name(name)
        .platform("GCM")
        .attributes("PlatformCredential", "server-key")
        .send()
        .await
        .expect("create platform application");
    created.platform_application_arn.expect("application arn")
}

/// Registers a device token with a platform application; returns the endpoint ARN.
pub async fn platform_endpoint(sns: &aws_sdk_sns::Client, application_arn: &str, token: &str) -> String {
    let created = sns
        .create_platform_endpoint()
        .platform_application_arn(application_arn)
        .token(token)
        .send()
        .await
        .expect("create platform endpoint");
    created.endpoint_arn.expect("endpoint arn")
}

/// Waits until the SNS delivery outbox holds nothing: every delivery queued so far was handed
/// over (to an endpoint or the SMS and push recorder) or dropped.
pub async fn sns_outbox_drained(server: &TestServer) {
    let engine = server.server.engine().expect("serving");
    let outbox = engine.queue(wharf_sns::delivery::OUTBOX_ACCOUNT, wharf_sns::delivery::OUTBOX_QUEUE).expect("outbox");
    tokio::time::timeout(HANG_TIMEOUT, async {
        loop {
            let counts = engine.counts(&outbox);
            if counts.visible + counts.leased + counts.delayed == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the outbox drains");
}

/// SDK configuration for a Wharf at `endpoint`, over plain HTTP.
pub fn sdk_config(endpoint: &str, access_key: &str, secret: &str) -> aws_sdk_sqs::config::Builder {
    aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(access_key, secret, None, None, "test"))
        .endpoint_url(endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
}

pub fn client(endpoint: &str, access_key: &str, secret: &str) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(sdk_config(endpoint, access_key, secret).build())
}

/// An aws-sdk-sns client for a Wharf at `endpoint`, over plain HTTP.
pub fn sns_client(endpoint: &str) -> aws_sdk_sns::Client {
    sns_client_as(endpoint, "test", "test")
}

/// An SNS client signing with the given credentials.
pub fn sns_client_as(endpoint: &str, access_key: &str, secret: &str) -> aws_sdk_sns::Client {
    let config = aws_sdk_sns::Config::builder()
        .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
        .region(aws_sdk_sns::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sns::config::Credentials::new(access_key, secret, None, None, "test"))
        .endpoint_url(endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_sns::Client::from_conf(config)
}

fn kinesis_config(endpoint: &str) -> aws_sdk_kinesis::config::Builder {
    aws_sdk_kinesis::Config::builder()
        .behavior_version(aws_sdk_kinesis::config::BehaviorVersion::latest())
        .region(aws_sdk_kinesis::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_kinesis::config::Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
}

/// An aws-sdk-kinesis client for a Wharf at `endpoint`, over plain HTTP.
pub fn kinesis_client(endpoint: &str) -> aws_sdk_kinesis::Client {
    aws_sdk_kinesis::Client::from_conf(kinesis_config(endpoint).build())
}

/// A Kinesis client that reports a failed request instead of retrying it (crash tests).
pub fn kinesis_client_without_retries(endpoint: &str) -> aws_sdk_kinesis::Client {
    let config = kinesis_config(endpoint).retry_config(aws_sdk_kinesis::config::retry::RetryConfig::disabled());
    aws_sdk_kinesis::Client::from_conf(config.build())
}

/// The AWS error code of a failed SDK call.
pub fn code<E, R>(error: &aws_sdk_sqs::error::SdkError<E, R>) -> String
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata,
{
    error.as_service_error().and_then(|service| service.code()).unwrap_or("<not a service error>").to_string()
}

pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(bytes))
}

// ---------------------------------------------------------------------------------------------
// The real binary, raw HTTP and small parsing helpers, for the process, crash, durability,
// hostile-input and auth suites.

use std::io::BufRead as _;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// The `wharf` binary Cargo built for these tests.
pub const WHARF_BIN: &str = env!("CARGO_BIN_EXE_wharf");
/// Upper bound on anything a test waits for, so a broken server fails the test instead of
/// hanging it. Never a performance threshold.
pub const HANG_TIMEOUT: Duration = Duration::from_secs(60);

/// A `wharf` command with no `WHARF_*` variables inherited from the test environment.
pub fn wharf_command(args: &[&str]) -> Command {
    let mut command = Command::new(WHARF_BIN);
    command.args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("WHARF_") {
            command.env_remove(key);
        }
    }
    command
}

/// A running `wharf` process. Dropping it kills the process if it is still running.
pub struct WharfProcess {
    child: Child,
    /// `http://127.0.0.1:PORT` from the ready line.
    pub endpoint: String,
    /// Every line the process wrote to stdout so far.
    stdout_lines: Arc<Mutex<Vec<String>>>,
    stderr_file: tempfile::NamedTempFile,
}

impl WharfProcess {
    /// `wharf serve --listen 127.0.0.1:0 --data-dir DIR`.
    pub fn start_on(data_dir: &std::path::Path) -> WharfProcess {
        let data_dir = data_dir.to_str().expect("utf-8 path");
        Self::start(wharf_command(&["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir]))
    }

    /// Spawns `command` and waits for its ready line; panics (with its stderr) if it exits first.
    pub fn start(mut command: Command) -> WharfProcess {
        let stderr_file = tempfile::NamedTempFile::new().expect("stderr file");
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr_file.reopen().expect("reopen stderr file")));
        let mut child = command.spawn().expect("spawn wharf");
        let stdout = child.stdout.take().expect("stdout");
        let stdout_lines = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<String>();
        let lines = stdout_lines.clone();
        std::thread::spawn(move || {
            // Keeps draining stdout so the process never blocks on a full pipe.
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                lines.lock().unwrap().push(line.clone());
                let _ = ready_tx.send(line);
            }
        });
        let first_line = ready_rx.recv_timeout(HANG_TIMEOUT);
        let mut process = WharfProcess { child, endpoint: String::new(), stdout_lines, stderr_file };
        let line = match first_line {
            Ok(line) => line,
            Err(_) => {
                let status = process.child.try_wait().ok().flatten();
                panic!("wharf did not print its ready line (exit {status:?}); stderr:\n{}", process.stderr());
            }
        };
        let address = line.strip_prefix("wharf listening on ").unwrap_or_else(|| panic!("unexpected line {line:?}"));
        process.endpoint = address.to_string();
        process
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn client(&self) -> aws_sdk_sqs::Client {
        client(&self.endpoint, "test", "test")
    }

    /// `kill -9`, then reaps the process.
    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    /// Sends a signal by name (`TERM`, `INT`) with the `kill` command.
    pub fn signal(&self, name: &str) {
        let status =
            Command::new("kill").arg(format!("-{name}")).arg(self.pid().to_string()).status().expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits (up to [`HANG_TIMEOUT`]) for the process to exit.
    pub async fn wait_exit(&mut self) -> ExitStatus {
        let deadline = std::time::Instant::now() + HANG_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "wharf did not exit; stderr:\n{}", self.stderr());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, then waits for a clean exit.
    pub async fn stop(&mut self) {
        self.signal("TERM");
        let status = self.wait_exit().await;
        assert!(status.success(), "wharf exited with {status:?}; stderr:\n{}", self.stderr());
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr_file.path()).unwrap_or_default()
    }

    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout_lines.lock().unwrap().clone()
    }
}

impl Drop for WharfProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs a `wharf` command expected to exit by itself (a startup failure) and returns its output.
pub fn run_to_exit(mut command: Command) -> Output {
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = command.spawn().expect("spawn wharf");
    let pid = child.id();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait_with_output());
    });
    match done_rx.recv_timeout(HANG_TIMEOUT) {
        Ok(output) => output.expect("wait for wharf"),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("wharf kept running although it was expected to fail at startup");
        }
    }
}

/// Asserts a startup failure: non-zero exit, nothing on stdout, and exactly one stderr line,
/// starting `wharf: `. Returns that line.
pub fn assert_startup_failure(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!output.status.success(), "expected a failing exit, got {:?}; stderr: {stderr}", output.status);
    assert!(output.stdout.is_empty(), "stdout: {}", String::from_utf8_lossy(&output.stdout));
    let lines: Vec<&str> = stderr.lines().filter(|line| !line.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one stderr line, got:\n{stderr}");
    assert!(lines[0].starts_with("wharf: "), "stderr line does not start with `wharf: `: {:?}", lines[0]);
    lines[0].to_string()
}

/// An SDK client that does not retry, so a dead server fails calls at once.
pub fn client_without_retries(endpoint: &str) -> aws_sdk_sqs::Client {
    let config = sdk_config(endpoint, "test", "test").retry_config(aws_sdk_sqs::config::retry::RetryConfig::disabled());
    aws_sdk_sqs::Client::from_conf(config.build())
}

/// A raw HTTP reply.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

/// Sends one request with hyper over HTTP/1.1, or HTTP/2 with prior knowledge.
pub async fn raw_request(
    endpoint: &str,
    http2: bool,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: impl Into<bytes::Bytes>,
) -> RawResponse {
    use http_body_util::BodyExt as _;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(http2)
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let mut builder = http::Request::builder().method(method).uri(format!("{endpoint}{path_and_query}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(http_body_util::Full::new(body.into())).expect("request");
    let response =
        tokio::time::timeout(HANG_TIMEOUT, client.request(request)).await.expect("reply in time").expect("reply");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.expect("body").to_bytes().to_vec();
    RawResponse { status, headers, body }
}

/// An awsJson 1.0 SQS call, unsigned.
pub async fn json_call(endpoint: &str, operation: &str, body: &serde_json::Value) -> RawResponse {
    let target = format!("AmazonSQS.{operation}");
    raw_request(
        endpoint,
        false,
        "POST",
        "/",
        &[("x-amz-target", target.as_str()), ("content-type", "application/x-amz-json-1.0")],
        body.to_string(),
    )
    .await
}

/// An awsQuery form POST to `path`, unsigned.
pub async fn query_call(endpoint: &str, path: &str, form: &str) -> RawResponse {
    raw_request(
        endpoint,
        false,
        "POST",
        path,
        &[("content-type", "application/x-www-form-urlencoded; charset=utf-8")],
        form.to_string(),
    )
    .await
}

/// Percent-encodes a form value.
pub fn form_value(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// The contents of each `<tag>…</tag>` element in `xml`, in order (elements of one name must
/// not nest, which holds for the SQS replies checked here).
pub fn xml_elements(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        found.push(after[..end].to_string());
        rest = &after[end + close.len()..];
    }
    found
}

/// The contents of the first `<tag>` element.
pub fn xml_text(xml: &str, tag: &str) -> Option<String> {
    xml_elements(xml, tag).into_iter().next()
}

/// Undoes the XML escapes SQS uses.
pub fn xml_unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#xD;", "\r")
        .replace("&amp;", "&")
}

/// Reads every message a queue hands out, leasing each for an hour so none comes back, until a
/// receive returns nothing. Returns `(message id, body, md5 of body, receive count)` tuples.
pub async fn drain(client: &aws_sdk_sqs::Client, url: &str) -> Vec<(String, String, String, u32)> {
    let mut found = Vec::new();
    loop {
        let received = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(3600)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .expect("receive");
        if received.messages().is_empty() {
            return found;
        }
        for message in received.messages() {
            let receive_count = message
                .attributes()
                .and_then(|attributes| {
                    attributes.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
                })
                .and_then(|count| count.parse().ok())
                .unwrap_or(0);
            found.push((
                message.message_id().unwrap_or_default().to_string(),
                message.body().unwrap_or_default().to_string(),
                message.md5_of_body().unwrap_or_default().to_string(),
                receive_count,
            ));
        }
    }
}

/// Every attribute of a queue.
pub async fn queue_attributes(
    client: &aws_sdk_sqs::Client,
    url: &str,
) -> std::collections::HashMap<aws_sdk_sqs::types::QueueAttributeName, String> {
    client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .expect("get attributes")
        .attributes()
        .cloned()
        .unwrap_or_default()
}

/// A queue's tags.
pub async fn queue_tags(client: &aws_sdk_sqs::Client, url: &str) -> std::collections::BTreeMap<String, String> {
    let listed = client.list_queue_tags().queue_url(url).send().await.expect("list tags");
    listed.tags().map(|tags| tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
}

/// A queue's URL at `endpoint` in the default account (a restarted binary has a new port).
pub fn queue_url(endpoint: &str, name: &str) -> String {
    format!("{endpoint}/{ACCOUNT}/{name}")
}

/// Receives and deletes (in batches) until the queue is empty; returns the bodies in the order
/// received.
pub async fn drain_deleting(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    tokio::time::timeout(HANG_TIMEOUT * 5, async {
        loop {
            let received = sqs.receive_message().queue_url(url).max_number_of_messages(10).send().await.unwrap();
            if received.messages().is_empty() {
                return;
            }
            let mut entries = Vec::new();
            for (i, message) in received.messages().iter().enumerate() {
                bodies.push(message.body().unwrap_or_default().to_string());
                let entry = aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(format!("d{i}"))
                    .receipt_handle(message.receipt_handle().unwrap());
                entries.push(entry.build().unwrap());
            }
            let deleted = sqs.delete_message_batch().queue_url(url).set_entries(Some(entries)).send().await.unwrap();
            assert!(deleted.failed().is_empty(), "deletes failed: {:?}", deleted.failed());
        }
    })
    .await
    .expect("the queue drains");
    bodies
}

/// Every record of every shard of `stream`, in shard order: shard id → [(sequence number, data)].
pub async fn read_stream(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
) -> std::collections::BTreeMap<String, Vec<(String, String)>> {
    let mut all = std::collections::BTreeMap::new();
    for shard in kinesis.list_shards().stream_name(stream).send().await.unwrap().shards.unwrap() {
        let start = kinesis.get_shard_iterator().stream_name(stream).shard_id(&shard.shard_id);
        let mut iterator = start
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator;
        let mut records = Vec::new();
        while let Some(current) = iterator {
            let page = kinesis.get_records().shard_iterator(current).send().await.unwrap();
            let empty = page.records.is_empty();
            for record in page.records {
                records.push((record.sequence_number, String::from_utf8(record.data.into_inner()).unwrap()));
            }
            iterator = if empty { None } else { page.next_shard_iterator };
        }
        all.insert(shard.shard_id, records);
    }
    all
}

/// A body for hyper's client fed from a channel, so a test can stall it.
pub mod channel_body {
    use bytes::Bytes;
    use hyper::body::Frame;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    pub struct Frames(tokio::sync::mpsc::Receiver<Bytes>);

    impl hyper::body::Body for Frames {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            context: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            self.0.poll_recv(context).map(|chunk| chunk.map(|chunk| Ok(Frame::data(chunk))))
        }
    }

    pub fn channel() -> (tokio::sync::mpsc::Sender<Bytes>, Frames) {
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        (sender, Frames(receiver))
    }
}

/// Reads until the server closes the connection (a reset counts as closed); panics, naming
/// `what` and showing what was read, if it is still open after `within`. Returns what the
/// server wrote.
pub async fn read_until_closed(stream: &mut tokio::net::TcpStream, within: Duration, what: &str) -> Vec<u8> {
    use tokio::io::AsyncReadExt as _;
    let mut reply = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(read) => reply.extend_from_slice(&buf[..read]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "{what}: the server kept the connection open; read {:?}", String::from_utf8_lossy(&reply));
    reply
}

/// Creates queue `name` and subscribes it to `topic_arn` with raw message delivery.
pub async fn subscribe_new_raw_queue(
    sqs: &aws_sdk_sqs::Client,
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    name: &str,
) {
    sqs.create_queue().queue_name(name).send().await.unwrap();
    let arn = format!("arn:aws:sqs:us-east-1:{ACCOUNT}:{name}");
    let subscribed = sns.subscribe().topic_arn(topic_arn).protocol("sqs").endpoint(arn);
    let subscription = subscribed.return_subscription_arn(true).send().await.unwrap().subscription_arn.unwrap();
    sns.set_subscription_attributes()
        .subscription_arn(subscription)
        .attribute_name("RawMessageDelivery")
        .attribute_value("true")
        .send()
        .await
        .unwrap();
}

/// PutRecords entries carrying `data`, the i-th under partition key `key-i`.
pub fn record_entries(data: &[String]) -> Vec<aws_sdk_kinesis::types::PutRecordsRequestEntry> {
    data.iter()
        .enumerate()
        .map(|(i, d)| {
            aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                .partition_key(format!("key-{i}"))
                .data(aws_sdk_kinesis::primitives::Blob::new(d.clone()))
                .build()
                .unwrap()
        })
        .collect()
}
