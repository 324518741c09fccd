//! Wharf's Amazon SQS front-end. It translates both SQS wire protocols (awsJson 1.0 and the
//! legacy awsQuery) into calls on the domain [`Engine`], validates input with AWS's limits and
//! messages, and maps every failure to SQS's own error code and HTTP status.
//!
//! It must not hold queue semantics (visibility, redrive, retention live in `wharf-domain`) and
//! never touches storage or another front-end.
//!
//! Layout: `protocol` (decode inputs, render outputs and errors), `error_map` (every SQS error),
//! `message` (body and attribute validation), `queue_attributes`, `md5`, `queue_url`,
//! `receipt` (receipt handles), and `ops/` with one module per operation.

mod error_map;
mod md5;
mod message;
mod ops;
mod protocol;
mod queue_attributes;
mod queue_url;
mod receipt;

pub use error_map::{ErrorKind, SqsError};

use std::sync::Arc;
use wharf_aws::service::{AwsRequest, AwsResponse, AwsService, EdgeError, Protocol, ResponseFuture};
use wharf_aws::token::TokenKey;
use wharf_domain::{Engine, Queue};

/// The operations of the SQS service model this front-end implements.
pub const OPERATIONS: &[&str] = ops::OPERATIONS;

pub struct SqsService {
    engine: Arc<Engine>,
    tokens: TokenKey,
}

impl SqsService {
    pub fn new(engine: Arc<Engine>) -> Self {
        let tokens = TokenKey::from_bytes(engine.token_secret());
        SqsService { engine, tokens }
    }
}

/// What an operation needs: the service, the request, and helpers to resolve queues.
pub(crate) struct Context<'a> {
    pub service: &'a SqsService,
    pub request: &'a AwsRequest,
}

impl Context<'_> {
    pub fn engine(&self) -> &Engine {
        &self.service.engine
    }

    pub fn account(&self) -> &str {
        &self.request.caller.account_id
    }

    /// The queue a `QueueUrl` names; without one, the queue URL the request was sent to.
    pub fn queue(&self, queue_url: Option<&str>) -> Result<Arc<Queue>, SqsError> {
        let url = match queue_url {
            Some(url) if !url.is_empty() => url,
            _ if self.request.path.len() > 1 => self.request.path.as_str(),
            _ => return Err(SqsError::missing("QueueUrl")),
        };
        let (account, name) = queue_url::parse(url).ok_or_else(SqsError::queue_does_not_exist)?;
        let account = account.unwrap_or(self.account());
        self.check_account(account, url)?;
        self.engine().queue(account, name).ok_or_else(SqsError::queue_does_not_exist)
    }

    /// Queue policies are not evaluated, so a verified caller may use only its own account's
    /// queues; without configured users every caller may use every account's.
    pub fn check_account(&self, account: &str, resource: &str) -> Result<(), SqsError> {
        let caller = &self.request.caller;
        if caller.authenticated && caller.account_id != account {
            return Err(SqsError::new(
                ErrorKind::AccessDenied,
                format!("Access to the resource {resource} is denied."),
            ));
        }
        Ok(())
    }

    pub fn queue_url(&self, queue: &Queue) -> String {
        queue_url::format(&self.request.base_url, &queue.account, &queue.name)
    }
}

impl AwsService for SqsService {
    fn signing_name(&self) -> &'static str {
        "sqs"
    }

    fn json_target_prefix(&self) -> &'static str {
        "AmazonSQS"
    }

    fn query_version(&self) -> &'static str {
        "2012-11-05"
    }

    fn handle(&self, request: AwsRequest) -> ResponseFuture<'_> {
        Box::pin(async move {
            let context = Context { service: self, request: &request };
            match ops::run(&context).await {
                Ok(output) => {
                    protocol::success(request.protocol, &request.operation, output.as_ref(), &request.request_id)
                }
                Err(error) => protocol::failure(request.protocol, &error, &request.request_id),
            }
        })
    }

    fn edge_error(&self, protocol: Protocol, error: &EdgeError, request_id: &str) -> AwsResponse {
        let kind = match error.code {
            "UnknownOperationException" => ErrorKind::InvalidAction,
            "MalformedQueryString" => ErrorKind::Serialization,
            "MissingAction" => ErrorKind::MissingParameter,
            _ => ErrorKind::Internal,
        };
        match kind {
            ErrorKind::Internal => protocol::edge_failure(protocol, error, request_id),
            _ => protocol::failure(protocol, &SqsError::new(kind, error.message.clone()), request_id),
        }
    }
}

/// Creates a queue declared in configuration, or brings an existing one's attributes and tags
/// up to the declaration.
pub async fn provision_queue(
    engine: &Engine,
    region: &str,
    account: &str,
    name: &str,
    attributes: &std::collections::BTreeMap<String, String>,
    tags: &std::collections::BTreeMap<String, String>,
) -> Result<(), SqsError> {
    ops::check_queue_declaration(name, attributes, tags)?;
    let source = wharf_domain::QueueName { account: account.to_string(), name: name.to_string() };
    match engine.queue(account, name) {
        Some(queue) => {
            // The queue's type was fixed at creation and the declaration was checked to agree
            // with its name; FifoQueue is a creation-only attribute.
            let changeable = attributes.iter().filter(|(name, _)| *name != "FifoQueue");
            let changeable = changeable.map(|(name, value)| (name.clone(), value.clone())).collect();
            let mut settings = queue.settings();
            queue_attributes::apply(&mut settings, &changeable, false, account)?;
            queue_attributes::check_redrive_allowed(engine, region, &source, &settings)?;
            let tags = tags.clone();
            engine
                .update_queue(&queue, |current, current_tags| {
                    *current = settings;
                    current_tags.extend(tags);
                })
                .await?;
        }
        None => {
            let mut settings = wharf_domain::QueueSettings::default();
            queue_attributes::apply(&mut settings, attributes, true, account)?;
            queue_attributes::check_redrive_allowed(engine, region, &source, &settings)?;
            engine.create_queue(account, name, settings, tags.clone()).await?;
        }
    }
    Ok(())
}
