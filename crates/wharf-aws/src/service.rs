//! The contract between the HTTP edge and an AWS service front-end.

use crate::wire::query::QueryParams;
use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;

/// The wire protocol a request arrived in; replies use the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// awsJson 1.0/1.1: `X-Amz-Target: <Prefix>.<Operation>` and a JSON body.
    Json,
    /// awsQuery: `Action=<Operation>` form parameters, XML replies.
    Query,
}

/// Who sent a request, after authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account_id: String,
    pub access_key_id: String,
    /// Whether a configured user's signature was verified; false in open (no users) mode, where
    /// every caller may use every account's resources.
    pub authenticated: bool,
}

/// A request routed to one service and operation.
#[derive(Debug, Clone)]
pub struct AwsRequest {
    pub protocol: Protocol,
    pub operation: String,
    /// The raw body (the JSON document for [`Protocol::Json`]).
    pub body: Bytes,
    /// Query-string and form parameters (for [`Protocol::Query`]).
    pub params: QueryParams,
    pub caller: Caller,
    /// Region used in ARNs.
    pub region: String,
    /// `scheme://host[:port]` clients should use to reach this server again.
    pub base_url: String,
    /// The request path, for services that address resources by URL.
    pub path: String,
    /// The `Content-Type` header (empty when absent): Kinesis reads CBOR or JSON by it.
    pub content_type: String,
    pub request_id: String,
}

#[derive(Debug)]
pub struct AwsResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
    /// When set, the body is streamed: `body` is sent first, then every chunk received here
    /// until the sender is dropped (event streams such as Kinesis SubscribeToShard).
    pub stream: Option<tokio::sync::mpsc::Receiver<Bytes>>,
}

/// How an error is told to a client of either protocol.
#[derive(Debug, Clone, Copy)]
pub struct ErrorReply<'a> {
    /// The awsJson `__type`.
    pub json_type: &'a str,
    /// The awsQuery error code, also sent with awsJson errors in `x-amzn-query-error`.
    pub query_code: &'a str,
    pub status: u16,
    pub sender_fault: bool,
    pub message: &'a str,
    /// The awsQuery `ErrorResponse` namespace; empty for none.
    pub query_namespace: &'a str,
}

/// Renders an error: an awsJson body with `x-amzn-query-error: <code>;Sender|Receiver` (SDKs use
/// it to raise the same exception classes as with awsQuery), or an awsQuery `ErrorResponse`.
pub fn error_response(protocol: Protocol, error: &ErrorReply<'_>, request_id: &str) -> AwsResponse {
    match protocol {
        Protocol::Json => {
            let fault = if error.sender_fault { "Sender" } else { "Receiver" };
            AwsResponse {
                stream: None,
                status: error.status,
                content_type: "application/x-amz-json-1.0",
                headers: vec![("x-amzn-query-error", format!("{};{fault}", error.query_code))],
                body: Bytes::from(crate::wire::json::render_error("", error.json_type, error.message)),
            }
        }
        Protocol::Query => AwsResponse {
            stream: None,
            status: error.status,
            content_type: "text/xml",
            headers: Vec::new(),
            body: Bytes::from(crate::wire::xml::render_error(
                error.query_namespace,
                error.sender_fault,
                error.query_code,
                error.message,
                request_id,
            )),
        },
    }
}

/// An error the edge raises before a service sees the request (authentication, size, routing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeError {
    pub code: &'static str,
    pub status: u16,
    pub message: String,
}

pub type ResponseFuture<'a> = Pin<Box<dyn Future<Output = AwsResponse> + Send + 'a>>;

/// An AWS service front-end.
pub trait AwsService: Send + Sync + 'static {
    /// The SigV4 signing name, e.g. `sqs`.
    fn signing_name(&self) -> &'static str;
    /// The `X-Amz-Target` prefix, e.g. `AmazonSQS`.
    fn json_target_prefix(&self) -> &'static str;
    /// The awsQuery `Version`, e.g. `2012-11-05`.
    fn query_version(&self) -> &'static str;
    fn handle(&self, request: AwsRequest) -> ResponseFuture<'_>;
    /// Renders an edge error in this service's error format.
    fn edge_error(&self, protocol: Protocol, error: &EdgeError, request_id: &str) -> AwsResponse;
    /// Operations AWS serves without a signature (links a service hands out, such as SNS's
    /// SubscribeURL); an unsigned request for one is let through as an unauthenticated caller.
    fn allows_unsigned(&self, _operation: &str) -> bool {
        false
    }
}
