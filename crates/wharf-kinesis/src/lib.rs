//! Wharf's Amazon Kinesis Data Streams front-end. It translates the Kinesis wire protocol
//! (`X-Amz-Target: Kinesis_20131202.<Op>` with awsJson 1.1 or CBOR bodies) into calls on the domain [`Engine`]'s
//! streams, validates input with AWS's limits and messages, and maps every failure to Kinesis's
//! own error code.
//!
//! It must not hold stream semantics (shard routing, positions, retention and resharding live
//! in `wharf-domain`) and never touches storage or another front-end.
//!
//! Layout: `protocol` (decode inputs, render outputs and errors), `error_map` (every Kinesis
//! error), `names` (stream names, ARNs, shard ids, sequence numbers), `iterator` (shard
//! iterators), `throttle` (the optional per-shard throughput limits), and `ops/` with the
//! operations grouped by what they act on.

mod error_map;
mod iterator;
mod names;
mod ops;
mod protocol;
mod throttle;

pub use error_map::{ErrorKind, KinesisError};

use std::sync::Arc;
use wharf_aws::service::{AwsRequest, AwsResponse, AwsService, EdgeError, Protocol, ResponseFuture};
use wharf_aws::token::TokenKey;
use wharf_domain::{Engine, Stream};

/// The operations of the Kinesis service model this front-end implements.
pub const OPERATIONS: &[&str] = ops::OPERATIONS;

/// How the Kinesis front-end behaves where AWS and local use differ.
#[derive(Debug, Clone, Copy, Default)]
pub struct KinesisOptions {
    /// Enforce AWS's per-shard throughput limits (ProvisionedThroughputExceededException).
    pub shard_throughput_limits: bool,
}

/// The account the domain queues behind Kinesis stream queues live in.
pub const INTERNAL_ACCOUNT: &str = ops::INTERNAL_ACCOUNT;

pub struct KinesisService {
    engine: Arc<Engine>,
    tokens: TokenKey,
    subscriptions: Arc<ops::Subscriptions>,
    throttle: throttle::Throttle,
}

impl KinesisService {
    pub fn new(engine: Arc<Engine>, options: KinesisOptions) -> Self {
        let tokens = TokenKey::from_bytes(engine.token_secret());
        let throttle = throttle::Throttle::new(options.shard_throughput_limits);
        // Stream queues keep filling from their streams while the server runs.
        ops::start_feeders(&engine);
        KinesisService { engine, tokens, subscriptions: Arc::default(), throttle }
    }
}

/// What an operation needs: the service, the request, and helpers to resolve streams.
pub(crate) struct Context<'a> {
    pub service: &'a KinesisService,
    pub request: &'a AwsRequest,
}

impl Context<'_> {
    pub fn engine(&self) -> &Engine {
        &self.service.engine
    }

    pub fn account(&self) -> &str {
        &self.request.caller.account_id
    }

    pub fn region(&self) -> &str {
        &self.request.region
    }

    pub fn now_ms(&self) -> u64 {
        self.engine().clock().now_ms()
    }

    /// The stream a request names by `StreamName` or `StreamARN` (at least one is required).
    pub fn stream(&self, name: Option<&str>, arn: Option<&str>) -> Result<Arc<Stream>, KinesisError> {
        let (account, name) = match (name, arn) {
            (_, Some(arn)) => {
                let (account, stream_name) = names::parse_stream_arn(arn).ok_or_else(|| {
                    KinesisError::validation(
                        arn,
                        "streamARN",
                        "Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+",
                    )
                })?;
                if name.is_some_and(|name| name != stream_name) {
                    return Err(KinesisError::invalid("StreamARN and StreamName name different streams."));
                }
                (account, stream_name)
            }
            (Some(name), None) => {
                names::check_stream_name(name, "streamName")?;
                (self.account().to_string(), name.to_string())
            }
            (None, None) => return Err(KinesisError::invalid("Either StreamName or StreamARN must be provided.")),
        };
        self.check_account(&account)?;
        self.engine().stream(&account, &name).ok_or_else(|| KinesisError::stream_not_found(&name, &account))
    }

    /// Resource policies are not evaluated, so a verified caller may use only its own account's
    /// streams; without configured users every caller may use every account's.
    pub fn check_account(&self, account: &str) -> Result<(), KinesisError> {
        let caller = &self.request.caller;
        if caller.authenticated && caller.account_id != account {
            return Err(KinesisError::new(
                ErrorKind::AccessDenied,
                format!("User {} is not authorized to access account {account}.", caller.access_key_id),
            ));
        }
        Ok(())
    }
}

impl AwsService for KinesisService {
    fn signing_name(&self) -> &'static str {
        "kinesis"
    }

    fn json_target_prefix(&self) -> &'static str {
        "Kinesis_20131202"
    }

    fn query_version(&self) -> &'static str {
        "2013-12-02"
    }

    fn handle(&self, request: AwsRequest) -> ResponseFuture<'_> {
        Box::pin(async move {
            let encoding = protocol::Encoding::of(&request);
            if request.protocol != Protocol::Json {
                let error = KinesisError::new(ErrorKind::UnknownOperation, "Kinesis speaks awsJson 1.1 and CBOR only.");
                return protocol::failure(encoding, &error);
            }
            let context = Context { service: self, request: &request };
            if request.operation == "SubscribeToShard" {
                // The reply is an event stream, not a document.
                return ops::subscribe_to_shard(&context)
                    .await
                    .unwrap_or_else(|error| protocol::failure(encoding, &error));
            }
            match ops::run(&context).await {
                Ok(output) => protocol::success(encoding, &output),
                Err(error) => protocol::failure(encoding, &error),
            }
        })
    }

    fn edge_error(&self, _protocol: Protocol, error: &EdgeError, _request_id: &str) -> AwsResponse {
        // The edge does not tell which encoding the request used; its errors go out as JSON,
        // which is also what AWS's front door answers before a request reaches the service.
        let encoding = protocol::Encoding::Json;
        let kind = match error.code {
            "UnknownOperationException" => ErrorKind::UnknownOperation,
            "MalformedQueryString" => ErrorKind::Serialization,
            "RequestEntityTooLarge" | "IncompleteBody" => ErrorKind::InvalidArgument,
            "InvalidClientTokenId" | "SignatureDoesNotMatch" | "IncompleteSignature" | "MissingAuthenticationToken" => {
                ErrorKind::AccessDenied
            }
            _ => ErrorKind::InternalFailure,
        };
        let mut response = protocol::failure(encoding, &KinesisError::new(kind, error.message.clone()));
        if kind == ErrorKind::AccessDenied || kind == ErrorKind::InternalFailure {
            // Authentication failures keep the code the edge chose, as AWS's front door does.
            response.body = bytes::Bytes::from(wharf_aws::wire::json::render_error("", error.code, &error.message));
            response.status = error.status;
        }
        response
    }
}
