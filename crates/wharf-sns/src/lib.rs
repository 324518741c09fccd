//! The Amazon SNS front-end: the awsQuery wire shapes of every SNS operation, their validation and
//! error mapping, the notification envelope and its signature, and delivery to endpoints outside
//! Wharf.
//!
//! Topics, subscriptions, filter policies and the fan-out into queues are domain semantics and
//! live in `wharf-domain`; this crate must not hold them, and must not touch storage.
//!
//! Layout: `protocol` (decode inputs, render outputs and errors), `error_map` (every SNS error),
//! `arns` (topic and subscription ARNs), `message` (message and attribute validation),
//! `envelope` (the JSON notification), `signing` (the RSA key, certificate and signatures),
//! `delivery` (the outbox and its deliverer) with `http_client` (the http/https client it uses),
//! `mail_relay` (the SMTP relay and its TLS) and `tls_roots` (the CAs trusted for outgoing TLS),
//! and `ops/` with one module per group of operations.

mod archive;
mod arns;
pub mod delivery;
mod delivery_policy;
mod envelope;
mod error_map;
pub mod http_client;
pub mod mail_relay;
mod message;
mod mobile;
mod ops;
mod protocol;
pub mod senders;
pub mod signing;
pub mod tls_roots;

pub use error_map::{ErrorKind, SnsError};

use std::sync::Arc;
use wharf_aws::service::{AwsRequest, AwsResponse, AwsService, EdgeError, Protocol, ResponseFuture};
use wharf_domain::topic::Topic;
use wharf_domain::{Engine, Queue};

/// The operations of the SNS service model this front-end implements.
pub const OPERATIONS: &[&str] = ops::OPERATIONS;

/// Where Wharf serves its signing certificate, below the server's base URL.
pub const SIGNING_CERT_PATH: &str = "/_wharf/sns/SimpleNotificationService-wharf.pem";

pub struct SnsService {
    engine: Arc<Engine>,
    signer: Arc<signing::Signer>,
    /// Deliveries to endpoints outside Wharf (see [`delivery`]).
    outbox: Arc<Queue>,
}

impl SnsService {
    pub fn new(engine: Arc<Engine>, signer: Arc<signing::Signer>, outbox: Arc<Queue>) -> Self {
        SnsService { engine, signer, outbox }
    }
}

/// What an operation needs: the service, the request, and helpers to resolve topics.
pub(crate) struct Context<'a> {
    pub service: &'a SnsService,
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

    /// The topic a topic ARN names.
    pub fn topic(&self, arn: Option<&str>, parameter: &str) -> Result<Arc<Topic>, SnsError> {
        let arn = arn.filter(|arn| !arn.is_empty()).ok_or_else(|| SnsError::missing(parameter))?;
        let (account, name) =
            arns::parse_topic(arn).ok_or_else(|| SnsError::invalid(format!("{parameter}: Invalid ARN")))?;
        self.check_account(account)?;
        self.engine().topic(account, name).ok_or_else(SnsError::topic_not_found)
    }

    /// Topic policies are not evaluated, so a verified caller may use only its own account's
    /// topics; without configured users every caller may use every account's.
    pub fn check_account(&self, account: &str) -> Result<(), SnsError> {
        let caller = &self.request.caller;
        if caller.authenticated && caller.account_id != account {
            return Err(SnsError::new(
                ErrorKind::AuthorizationError,
                format!("User: {} is not authorized to perform this action on this resource", caller.access_key_id),
            ));
        }
        Ok(())
    }

    pub fn topic_arn(&self, topic: &Topic) -> String {
        arns::topic(self.region(), &topic.account, &topic.name)
    }
}

/// Opts a phone number out of SMS from an account, as a STOP reply from the phone would;
/// OptInPhoneNumber undoes it.
pub async fn opt_out_phone_number(engine: &Engine, account: &str, number: &str) -> Result<(), SnsError> {
    ops::sms::opt_out(engine, account, number).await
}

impl AwsService for SnsService {
    fn signing_name(&self) -> &'static str {
        "sns"
    }

    fn json_target_prefix(&self) -> &'static str {
        "SNS_20100331"
    }

    fn query_version(&self) -> &'static str {
        "2010-03-31"
    }

    fn handle(&self, request: AwsRequest) -> ResponseFuture<'_> {
        Box::pin(async move {
            let context = Context { service: self, request: &request };
            match ops::run(&context).await {
                Ok(output) => protocol::success(request.protocol, &request.operation, &output, &request.request_id),
                Err(error) => protocol::failure(request.protocol, &error, &request.request_id),
            }
        })
    }

    /// The SubscribeURL and UnsubscribeURL handed to endpoints are followed without a signature.
    fn allows_unsigned(&self, operation: &str) -> bool {
        matches!(operation, "ConfirmSubscription" | "Unsubscribe")
    }

    fn edge_error(&self, protocol: Protocol, error: &EdgeError, request_id: &str) -> AwsResponse {
        let kind = match error.code {
            "UnknownOperationException" => Some(ErrorKind::InvalidAction),
            "MalformedQueryString" => Some(ErrorKind::MalformedQueryString),
            "MissingAction" => Some(ErrorKind::MissingParameter),
            _ => None,
        };
        match kind {
            Some(kind) => protocol::failure(protocol, &SnsError::new(kind, error.message.clone()), request_id),
            None => protocol::edge_failure(protocol, error, request_id),
        }
    }
}
