//! HTTP/1.1 keep-alive client signed with SigV4 by [`wharf_aws::sigv4::sign`] ([`SignedHttp`]),
//! the AWS JSON protocol on top of it, and the SQS calls the bench makes.
//!
//! A peer may answer anything, so every reply is checked: a non-2xx status, a body that is not
//! the documented JSON shape, an oversized body or a timeout becomes a [`CallError`] whose
//! [`CallError::key`] the scenarios count; nothing here panics on what the server sends.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use wharf_aws::sigv4::{self, RequestToVerify, SigningParams};

/// No SQS reply comes near this (ten 1 MiB messages plus envelope); anything larger is a
/// misbehaving peer and is cut off instead of buffered. Services with larger replies (Kinesis
/// GetRecords) raise it with [`AwsJsonClient::with_response_bytes_max`].
const RESPONSE_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Why a call did not produce the documented reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// Connecting, writing or reading failed.
    Transport(String),
    /// No complete reply within the request timeout.
    Timeout,
    /// A non-2xx reply; `code` is the AWS error code when the peer sent one.
    Status { status: u16, code: Option<String> },
    /// A 2xx reply whose body was not the expected JSON document.
    Malformed(String),
}

impl CallError {
    /// A short, stable key for counting errors by kind.
    pub fn key(&self) -> String {
        match self {
            CallError::Transport(detail) => format!("transport: {detail}"),
            CallError::Timeout => "timeout".to_owned(),
            CallError::Status { status, code: Some(code) } => format!("HTTP {status} {code}"),
            CallError::Status { status, code: None } => format!("HTTP {status}"),
            CallError::Malformed(detail) => format!("malformed reply: {detail}"),
        }
    }

    /// Whether retrying at once would likely fail the same way without reaching the server.
    pub fn is_transport(&self) -> bool {
        matches!(self, CallError::Transport(_) | CallError::Timeout)
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.key())
    }
}

impl std::error::Error for CallError {}

/// Long-term or temporary AWS credentials.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Sent as `X-Amz-Security-Token` (and signed) when present, for temporary credentials.
    pub session_token: Option<String>,
}

/// Where to send requests and how to sign them.
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    pub endpoint: Uri,
    pub region: String,
    pub credentials: Credentials,
    pub request_timeout: Duration,
    /// Idle keep-alive connections kept per host; one per worker avoids reconnects.
    pub idle_connections_max: usize,
}

/// A reply as it came off the wire: any status, the headers and the complete body.
pub struct RawReply {
    pub status: hyper::StatusCode,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

/// HTTP/1.1 keep-alive POSTs to one endpoint, signed with SigV4 for one service; the
/// protocol clients ([`AwsJsonClient`], [`crate::query::AwsQueryClient`]) build on it.
#[derive(Clone)]
pub struct SignedHttp {
    http: Client<HttpConnector, Full<Bytes>>,
    endpoint: Uri,
    host: String,
    path: String,
    query: String,
    credentials: Credentials,
    region: String,
    /// The service name in the SigV4 credential scope (`sqs`, `sns`, `kinesis`).
    service: &'static str,
    request_timeout: Duration,
    /// Replies larger than this are cut off (a transport error) instead of buffered.
    response_bytes_max: usize,
}

impl SignedHttp {
    /// Fails on an endpoint that is not `http://host[:port][/path]`.
    pub fn new(config: &EndpointConfig, service: &'static str) -> anyhow::Result<Self> {
        let endpoint = config.endpoint.clone();
        match endpoint.scheme_str() {
            Some("http") => {}
            Some("https") => anyhow::bail!(
                "https endpoints are not supported yet (wharf-bench has no TLS client); \
                 use an http:// endpoint or a TLS-terminating proxy"
            ),
            _ => anyhow::bail!("endpoint must be an http:// URL, got {endpoint}"),
        }
        let host = endpoint
            .authority()
            .map(|authority| authority.as_str().to_owned())
            .ok_or_else(|| anyhow::anyhow!("endpoint {endpoint} has no host"))?;
        let path = match endpoint.path() {
            "" => "/".to_owned(),
            path => path.to_owned(),
        };
        let query = endpoint.query().unwrap_or("").to_owned();
        let mut connector = HttpConnector::new();
        // Small request/reply pairs on a kept-alive connection: Nagle would only add latency.
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(config.request_timeout));
        let http = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(config.idle_connections_max)
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Ok(Self {
            http,
            endpoint,
            host,
            path,
            query,
            credentials: config.credentials.clone(),
            region: config.region.clone(),
            service,
            request_timeout: config.request_timeout,
            response_bytes_max: RESPONSE_BYTES_MAX,
        })
    }

    /// POSTs `body` with `headers` (plus `host` and the signature) and reads the whole reply,
    /// whatever its status. `extra_timeout` extends the request timeout for calls the server
    /// may hold (long polls).
    pub async fn post(
        &self,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        extra_timeout: Duration,
    ) -> Result<RawReply, CallError> {
        let timeout = self.request_timeout + extra_timeout;
        match tokio::time::timeout(timeout, self.post_inner(headers, body)).await {
            Ok(result) => result,
            Err(_) => Err(CallError::Timeout),
        }
    }

    async fn post_inner(&self, headers: &[(&str, &str)], body: Vec<u8>) -> Result<RawReply, CallError> {
        let http_request = self.signed_request(headers, body)?;
        let response =
            self.http.request(http_request).await.map_err(|error| CallError::Transport(transport_detail(&error)))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = Limited::new(response.into_body(), self.response_bytes_max)
            .collect()
            .await
            .map_err(|error| CallError::Transport(format!("reading reply: {error}")))?
            .to_bytes();
        Ok(RawReply { status, headers, body })
    }

    fn signed_request(&self, headers: &[(&str, &str)], body: Vec<u8>) -> Result<Request<Full<Bytes>>, CallError> {
        let headers: Vec<(&str, &str)> = headers.iter().copied().chain([("host", self.host.as_str())]).collect();
        // A clock before 1970 or past year 9999 only yields a signature the server refuses.
        let unix_seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX));
        let signature_headers = sigv4::sign(
            &RequestToVerify { method: "POST", path: &self.path, query: &self.query, headers: &headers, body: &body },
            &SigningParams {
                access_key_id: &self.credentials.access_key_id,
                secret_access_key: &self.credentials.secret_access_key,
                session_token: self.credentials.session_token.as_deref(),
                region: &self.region,
                service: self.service,
                unix_seconds,
            },
        );
        let mut builder = Request::builder().method(Method::POST).uri(self.endpoint.clone());
        let signature_headers = signature_headers.iter().map(|(name, value)| (*name, value.as_str()));
        for (name, value) in headers.iter().copied().chain(signature_headers) {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|error| CallError::Malformed(format!("header name {name}: {error}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|error| CallError::Malformed(format!("header {name}: {error}")))?;
            builder = builder.header(name, value);
        }
        builder
            .body(Full::new(Bytes::from(body)))
            .map_err(|error| CallError::Malformed(format!("cannot build request: {error}")))
    }
}

/// A signed awsJson (1.0 or 1.1) client for one service.
#[derive(Clone)]
pub struct AwsJsonClient {
    http: SignedHttp,
    /// `AmazonSQS`, `Kinesis_20131202`, ...: the `X-Amz-Target` prefix.
    target_prefix: &'static str,
    content_type: &'static str,
}

impl AwsJsonClient {
    /// Fails on an endpoint that is not `http://host[:port][/path]`.
    pub fn new(
        config: &EndpointConfig,
        service: &'static str,
        target_prefix: &'static str,
        content_type: &'static str,
    ) -> anyhow::Result<Self> {
        Ok(Self { http: SignedHttp::new(config, service)?, target_prefix, content_type })
    }

    /// Accepts replies of up to `bytes` (default 16 MiB).
    pub fn with_response_bytes_max(mut self, bytes: usize) -> Self {
        self.http.response_bytes_max = bytes;
        self
    }

    /// Calls `operation` with `request` as the JSON body and decodes the reply as `Reply`.
    /// `extra_timeout` extends the request timeout for calls the server may hold (long polls).
    pub async fn call<Body: Serialize, Reply: DeserializeOwned>(
        &self,
        operation: &str,
        request: &Body,
        extra_timeout: Duration,
    ) -> Result<Reply, CallError> {
        let body = serde_json::to_vec(request)
            .map_err(|error| CallError::Malformed(format!("cannot encode request: {error}")))?;
        let reply = self.call_raw(operation, body, extra_timeout).await?;
        // Operations without output (DeleteMessage) may answer with an empty body.
        let document: &[u8] = if reply.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &reply };
        serde_json::from_slice(document).map_err(|error| CallError::Malformed(format!("{operation}: {error}")))
    }

    /// Calls `operation` with `body`, an already encoded JSON document, and returns the body of
    /// a 2xx reply undecoded (for large requests and replies built or read without copies).
    pub async fn call_raw(&self, operation: &str, body: Vec<u8>, extra_timeout: Duration) -> Result<Bytes, CallError> {
        let target = format!("{}.{operation}", self.target_prefix);
        let headers = [("content-type", self.content_type), ("x-amz-target", target.as_str())];
        let reply = self.http.post(&headers, body, extra_timeout).await?;
        if !reply.status.is_success() {
            let header_code =
                reply.headers.get("x-amzn-errortype").and_then(|value| value.to_str().ok()).map(str::to_owned);
            return Err(CallError::Status {
                status: reply.status.as_u16(),
                code: error_code(&reply.body, header_code.as_deref()),
            });
        }
        Ok(reply.body)
    }
}

/// The innermost cause of a client error, which names the real problem ("Connection refused").
fn transport_detail(error: &hyper_util::client::legacy::Error) -> String {
    let mut source: &dyn std::error::Error = error;
    while let Some(next) = source.source() {
        source = next;
    }
    let detail = source.to_string();
    let prefix = if error.is_connect() { "connect: " } else { "" };
    format!("{prefix}{detail}")
}

/// The AWS error code from an awsJson error reply: `__type` (or `code`) in the body, else the
/// `x-amzn-ErrorType` header; namespaces (`com.amazonaws.sqs#`) and URI suffixes (`:http://...`)
/// are dropped so the same error counts under one key whatever the peer's spelling.
pub fn error_code(body: &[u8], header: Option<&str>) -> Option<String> {
    #[derive(Deserialize)]
    struct ErrorDocument {
        #[serde(rename = "__type")]
        type_name: Option<String>,
        code: Option<String>,
    }
    let from_body =
        serde_json::from_slice::<ErrorDocument>(body).ok().and_then(|document| document.type_name.or(document.code));
    let raw = from_body.or_else(|| header.map(str::to_owned))?;
    let without_namespace = raw.rsplit('#').next().unwrap_or(&raw);
    let code = without_namespace.split(':').next().unwrap_or(without_namespace).trim();
    if code.is_empty() {
        None
    } else {
        Some(code.to_owned())
    }
}

/// Lowercase hex MD5, the digest SQS returns for message bodies.
pub fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(data))
}

// ---- SQS (awsJson1_0) -------------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CreateQueueRequest<'a> {
    queue_name: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    attributes: BTreeMap<&'a str, &'a str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateQueueReply {
    queue_url: String,
}

/// One message to send. The ids are `None` where the queue does not use them; there is no
/// DelaySeconds, which FIFO queues reject per message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub body: String,
    pub group_id: Option<String>,
    pub deduplication_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SendMessageRequest<'a> {
    queue_url: &'a str,
    message_body: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_group_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_deduplication_id: Option<&'a str>,
}

#[derive(Deserialize, Debug)]
pub struct SendMessageReply {
    #[serde(rename = "MD5OfMessageBody")]
    pub md5_of_message_body: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SendMessageBatchRequest<'a> {
    queue_url: &'a str,
    entries: Vec<SendMessageBatchRequestEntry<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SendMessageBatchRequestEntry<'a> {
    id: String,
    message_body: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_group_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_deduplication_id: Option<&'a str>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct SendMessageBatchReply {
    pub successful: Option<Vec<SendMessageBatchResultEntry>>,
    pub failed: Option<Vec<BatchResultErrorEntry>>,
}

#[derive(Deserialize, Debug)]
pub struct SendMessageBatchResultEntry {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "MD5OfMessageBody")]
    pub md5_of_message_body: Option<String>,
}

#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct BatchResultErrorEntry {
    pub id: Option<String>,
    pub code: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReceiveMessageRequest<'a> {
    queue_url: &'a str,
    max_number_of_messages: u32,
    wait_time_seconds: u32,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct ReceiveMessageReply {
    pub messages: Option<Vec<ReceivedMessage>>,
}

#[derive(Deserialize, Debug)]
pub struct ReceivedMessage {
    #[serde(rename = "ReceiptHandle")]
    pub receipt_handle: Option<String>,
    #[serde(rename = "Body")]
    pub body: Option<String>,
    #[serde(rename = "MD5OfBody")]
    pub md5_of_body: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteMessageRequest<'a> {
    queue_url: &'a str,
    receipt_handle: &'a str,
}

#[derive(Deserialize)]
struct EmptyReply {}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetQueueAttributesRequest<'a> {
    queue_url: &'a str,
    attribute_names: &'a [&'a str],
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
struct GetQueueAttributesReply {
    attributes: Option<BTreeMap<String, String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteMessageBatchRequest<'a> {
    queue_url: &'a str,
    entries: Vec<DeleteMessageBatchRequestEntry<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteMessageBatchRequestEntry<'a> {
    id: String,
    receipt_handle: &'a str,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteMessageBatchReply {
    pub successful: Option<Vec<DeleteMessageBatchResultEntry>>,
    pub failed: Option<Vec<BatchResultErrorEntry>>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteMessageBatchResultEntry {
    pub id: String,
}

/// The SQS operations the bench issues, over awsJson1_0.
#[derive(Clone)]
pub struct SqsClient {
    inner: AwsJsonClient,
}

impl SqsClient {
    pub fn new(config: &EndpointConfig) -> anyhow::Result<Self> {
        Ok(Self { inner: AwsJsonClient::new(config, "sqs", "AmazonSQS", "application/x-amz-json-1.0")? })
    }

    /// Creates the queue or returns the existing one's URL (CreateQueue is idempotent for
    /// equal attributes).
    pub async fn create_queue(&self, queue_name: &str, attributes: &[(&str, &str)]) -> Result<String, CallError> {
        let request = CreateQueueRequest { queue_name, attributes: attributes.iter().copied().collect() };
        let reply: CreateQueueReply = self.inner.call("CreateQueue", &request, Duration::ZERO).await?;
        Ok(reply.queue_url)
    }

    pub async fn send_message(
        &self,
        queue_url: &str,
        message: &OutgoingMessage,
    ) -> Result<SendMessageReply, CallError> {
        let request = SendMessageRequest {
            queue_url,
            message_body: &message.body,
            message_group_id: message.group_id.as_deref(),
            message_deduplication_id: message.deduplication_id.as_deref(),
        };
        self.inner.call("SendMessage", &request, Duration::ZERO).await
    }

    /// Entry `Id`s are the messages' indexes ("0", "1", ...).
    pub async fn send_message_batch(
        &self,
        queue_url: &str,
        messages: &[OutgoingMessage],
    ) -> Result<SendMessageBatchReply, CallError> {
        let entries = messages
            .iter()
            .enumerate()
            .map(|(index, message)| SendMessageBatchRequestEntry {
                id: index.to_string(),
                message_body: &message.body,
                message_group_id: message.group_id.as_deref(),
                message_deduplication_id: message.deduplication_id.as_deref(),
            })
            .collect();
        self.inner.call("SendMessageBatch", &SendMessageBatchRequest { queue_url, entries }, Duration::ZERO).await
    }

    pub async fn receive_message(
        &self,
        queue_url: &str,
        max_number_of_messages: u32,
        wait_time_seconds: u32,
    ) -> Result<ReceiveMessageReply, CallError> {
        self.inner
            .call(
                "ReceiveMessage",
                &ReceiveMessageRequest { queue_url, max_number_of_messages, wait_time_seconds },
                Duration::from_secs(u64::from(wait_time_seconds)),
            )
            .await
    }

    pub async fn delete_message(&self, queue_url: &str, receipt_handle: &str) -> Result<(), CallError> {
        let _: EmptyReply = self
            .inner
            .call("DeleteMessage", &DeleteMessageRequest { queue_url, receipt_handle }, Duration::ZERO)
            .await?;
        Ok(())
    }

    /// The queue's attributes named in `attribute_names` (those the peer returns).
    pub async fn get_queue_attributes(
        &self,
        queue_url: &str,
        attribute_names: &[&str],
    ) -> Result<BTreeMap<String, String>, CallError> {
        let reply: GetQueueAttributesReply = self
            .inner
            .call("GetQueueAttributes", &GetQueueAttributesRequest { queue_url, attribute_names }, Duration::ZERO)
            .await?;
        Ok(reply.attributes.unwrap_or_default())
    }

    /// Entry `Id`s are the handles' indexes ("0", "1", ...).
    pub async fn delete_message_batch(
        &self,
        queue_url: &str,
        receipt_handles: &[String],
    ) -> Result<DeleteMessageBatchReply, CallError> {
        let entries = receipt_handles
            .iter()
            .enumerate()
            .map(|(index, receipt_handle)| DeleteMessageBatchRequestEntry { id: index.to_string(), receipt_handle })
            .collect();
        self.inner.call("DeleteMessageBatch", &DeleteMessageBatchRequest { queue_url, entries }, Duration::ZERO).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_code_prefers_body_and_strips_namespaces() {
        assert_eq!(
            error_code(br#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"x"}"#, Some("Other")).as_deref(),
            Some("QueueDoesNotExist")
        );
        assert_eq!(
            error_code(br#"{"code":"AWS.SimpleQueueService.NonExistentQueue"}"#, None).as_deref(),
            Some("AWS.SimpleQueueService.NonExistentQueue")
        );
        assert_eq!(
            error_code(b"<html>bad gateway</html>", Some("ThrottlingException:http://internal.amazon.com/coral/"))
                .as_deref(),
            Some("ThrottlingException")
        );
        assert_eq!(error_code(b"", None), None);
        assert_eq!(error_code(br#"{"__type":""}"#, None), None);
    }

    #[test]
    fn md5_matches_known_digest() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"The quick brown fox jumps over the lazy dog"), "9e107d9d372bb6826bd81d3542a419d6");
    }

    #[test]
    fn requests_use_aws_field_spellings() {
        let request = SendMessageBatchRequest {
            queue_url: "http://localhost/000000000000/q",
            entries: vec![
                SendMessageBatchRequestEntry {
                    id: "0".into(),
                    message_body: "hello",
                    message_group_id: None,
                    message_deduplication_id: None,
                },
                SendMessageBatchRequestEntry {
                    id: "1".into(),
                    message_body: "fifo",
                    message_group_id: Some("g1"),
                    message_deduplication_id: Some("7-0-1"),
                },
            ],
        };
        assert_eq!(
            serde_json::to_string(&request).expect("serializes"),
            concat!(
                r#"{"QueueUrl":"http://localhost/000000000000/q","Entries":[{"Id":"0","MessageBody":"hello"},"#,
                r#"{"Id":"1","MessageBody":"fifo","MessageGroupId":"g1","MessageDeduplicationId":"7-0-1"}]}"#
            )
        );
        let standard = CreateQueueRequest { queue_name: "q", attributes: BTreeMap::new() };
        assert_eq!(serde_json::to_string(&standard).expect("serializes"), r#"{"QueueName":"q"}"#);
        let fifo = CreateQueueRequest { queue_name: "q.fifo", attributes: [("FifoQueue", "true")].into() };
        assert_eq!(
            serde_json::to_string(&fifo).expect("serializes"),
            r#"{"QueueName":"q.fifo","Attributes":{"FifoQueue":"true"}}"#
        );
        let receive = ReceiveMessageRequest { queue_url: "u", max_number_of_messages: 10, wait_time_seconds: 1 };
        assert_eq!(
            serde_json::to_string(&receive).expect("serializes"),
            r#"{"QueueUrl":"u","MaxNumberOfMessages":10,"WaitTimeSeconds":1}"#
        );
    }

    #[test]
    fn get_queue_attributes_asks_by_name_and_reads_the_map() {
        let request = GetQueueAttributesRequest { queue_url: "u", attribute_names: &["QueueArn"] };
        assert_eq!(
            serde_json::to_string(&request).expect("serializes"),
            r#"{"QueueUrl":"u","AttributeNames":["QueueArn"]}"#
        );
        let reply: GetQueueAttributesReply =
            serde_json::from_str(r#"{"Attributes":{"QueueArn":"arn:aws:sqs:us-east-1:000000000000:q"}}"#)
                .expect("parses");
        assert_eq!(
            reply.attributes.and_then(|attributes| attributes.get("QueueArn").cloned()).as_deref(),
            Some("arn:aws:sqs:us-east-1:000000000000:q")
        );
        let empty: GetQueueAttributesReply = serde_json::from_str("{}").expect("parses");
        assert!(empty.attributes.is_none());
    }

    #[test]
    fn replies_tolerate_missing_and_null_lists() {
        let empty: ReceiveMessageReply = serde_json::from_str("{}").expect("parses");
        assert!(empty.messages.is_none());
        let null: ReceiveMessageReply = serde_json::from_str(r#"{"Messages":null}"#).expect("parses");
        assert!(null.messages.is_none());
        let batch: SendMessageBatchReply = serde_json::from_str(
            r#"{"Successful":[{"Id":"0","MD5OfMessageBody":"abc","MessageId":"m"}],
                "Failed":[{"Id":"1","Code":"InvalidParameterValue","SenderFault":true}]}"#,
        )
        .expect("parses");
        assert_eq!(batch.successful.map(|entries| entries.len()), Some(1));
        assert_eq!(
            batch.failed.and_then(|entries| entries.into_iter().next()).and_then(|entry| entry.code).as_deref(),
            Some("InvalidParameterValue")
        );
    }
}
