//! Delivery to endpoints outside Wharf, through a durable outbox.
//!
//! The outbox is a Wharf queue in an internal account no client can address. A publication's
//! deliveries to HTTP endpoints are written into it in the same atomic write as its deliveries
//! to subscribed queues, so a publish answered with success is delivered even if Wharf is killed
//! right after. The [`Deliverer`] receives from the outbox like any consumer: a delivery that
//! succeeds is deleted; one that fails is made visible again after the subscription's retry
//! delay; one out of retries goes to the subscription's dead-letter queue, or is dropped.
//! A lease that ends because Wharf stopped is simply delivered again, as AWS may.

use crate::arns;
use crate::delivery_policy::{max_receives_per_second, Pacer, RetryPolicy};
use crate::http_client::DeliveryClient;
pub use crate::mail_relay::MailRelay;
use crate::mobile::{self, ApplicationId, EndpointId};
use crate::senders::{Channel, MobileMessage, MobileSender};
use bytes::Bytes;
use http_body_util::Full;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use std::sync::Arc;
use std::time::Duration;
use wharf_domain::topic::{Endpoint, Subscription, Topic};
use wharf_domain::{
    AttributeValue, Delivery, DomainError, Engine, MessageAttribute, MessageContent, NewMessage, Queue, QueueSettings,
    ReceiveRequest,
};

/// The protocols whose deliveries go into the outbox. Firehose deliveries are kept there, not
/// sent, until Wharf has a Firehose service to hand them to.
pub const DELIVERED_PROTOCOLS: &[&str] =
    &["http", "https", "email", "email-json", "lambda", "firehose", "sms", "application"];
/// How long a kept Firehose delivery stays out of the deliverer's way before it looks again.
const KEPT_DELIVERY_SECONDS: u32 = 43_200;

/// The internal account that owns the outbox; not an AWS account id, so no request names it.
pub const OUTBOX_ACCOUNT: &str = "wharf-internal";
pub const OUTBOX_QUEUE: &str = "sns-deliveries";
/// How long one delivery attempt may take before it counts as failed (AWS: 15 s).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// The lease a delivery attempt holds: longer than any attempt, so no two attempts overlap.
const ATTEMPT_LEASE_SECONDS: u32 = 60;
/// Deliveries in flight at once.
const DELIVERIES_IN_FLIGHT_MAX: usize = 64;
const OUTBOX_RETENTION_SECONDS: u32 = 1_209_600;

/// What kind of message a delivery carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Notification,
    SubscriptionConfirmation,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Notification => "Notification",
            Kind::SubscriptionConfirmation => "SubscriptionConfirmation",
        }
    }
}

/// Opens (creating on first start) the outbox queue.
pub async fn open_outbox(engine: &Engine) -> Result<Arc<Queue>, DomainError> {
    if let Some(queue) = engine.queue(OUTBOX_ACCOUNT, OUTBOX_QUEUE) {
        return Ok(queue);
    }
    let settings = QueueSettings {
        visibility_timeout_seconds: ATTEMPT_LEASE_SECONDS,
        retention_seconds: OUTBOX_RETENTION_SECONDS,
        ..QueueSettings::default()
    };
    match engine.create_queue(OUTBOX_ACCOUNT, OUTBOX_QUEUE, settings, Default::default()).await {
        Ok(queue) => Ok(queue),
        Err(DomainError::QueueAlreadyExists) => {
            engine.queue(OUTBOX_ACCOUNT, OUTBOX_QUEUE).ok_or(DomainError::QueueDoesNotExist)
        }
        Err(error) => Err(error),
    }
}

/// The name of a FIFO topic's sequence log: an internal FIFO queue that holds no messages, only
/// the topic's deduplication records and sequence numbers (see `Engine::send_sequenced`).
fn sequence_log_name(topic: &Topic) -> String {
    format!("topic-{}-sequence.fifo", topic.id)
}

/// Opens (creating on first use) a FIFO topic's sequence log.
pub async fn open_sequence_log(engine: &Engine, topic: &Topic) -> Result<Arc<Queue>, DomainError> {
    let name = sequence_log_name(topic);
    if let Some(queue) = engine.queue(OUTBOX_ACCOUNT, &name) {
        return Ok(queue);
    }
    let settings = QueueSettings { fifo: true, retention_seconds: 60, ..QueueSettings::default() };
    match engine.create_queue(OUTBOX_ACCOUNT, &name, settings, Default::default()).await {
        Ok(queue) => Ok(queue),
        Err(DomainError::QueueAlreadyExists) => {
            engine.queue(OUTBOX_ACCOUNT, &name).ok_or(DomainError::QueueDoesNotExist)
        }
        Err(error) => Err(error),
    }
}

/// Removes a deleted FIFO topic's sequence log.
pub async fn close_sequence_log(engine: &Engine, topic: &Topic) -> Result<(), DomainError> {
    match engine.queue(OUTBOX_ACCOUNT, &sequence_log_name(topic)) {
        Some(queue) => match engine.delete_queue(&queue).await {
            Ok(()) | Err(DomainError::QueueDoesNotExist) => Ok(()),
            Err(error) => Err(error),
        },
        None => Ok(()),
    }
}

fn text(name: &str, value: &str) -> MessageAttribute {
    MessageAttribute {
        name: name.to_string(),
        data_type: "String".to_string(),
        value: AttributeValue::Text(value.to_string()),
    }
}

/// The outbox message for one delivery to one subscription.
pub fn outbox_message(
    topic: &Topic,
    subscription: &Subscription,
    kind: Kind,
    message_id: &str,
    raw: bool,
    subject: Option<&str>,
    body: impl Into<Bytes>,
) -> NewMessage {
    let body = body.into();
    let size_bytes = u32::try_from(body.len()).unwrap_or(u32::MAX);
    NewMessage {
        content: MessageContent {
            body,
            attributes: vec![
                text("account", &topic.account),
                text("topic", &topic.name),
                text("subscription", &subscription.key),
                text("type", kind.as_str()),
                text("message_id", message_id),
                text("raw", if raw { "true" } else { "false" }),
                text("subject", subject.unwrap_or("")),
            ],
            ..MessageContent::default()
        },
        delay_seconds: None,
        size_bytes,
    }
}

/// The outbox message for a message sent straight to a phone number (`sms`) or a platform
/// endpoint (`application`), outside any topic.
pub fn direct_message(account: &str, protocol: &str, destination: &str, message_id: &str, body: String) -> NewMessage {
    let size_bytes = u32::try_from(body.len()).unwrap_or(u32::MAX);
    NewMessage {
        content: MessageContent {
            body: Bytes::from(body),
            attributes: vec![
                text("account", account),
                text("direct_protocol", protocol),
                text("destination", destination),
                text("type", Kind::Notification.as_str()),
                text("message_id", message_id),
            ],
            ..MessageContent::default()
        },
        delay_seconds: None,
        size_bytes,
    }
}

fn attribute<'a>(content: &'a MessageContent, name: &str) -> Option<&'a str> {
    content.attributes.iter().find(|attribute| attribute.name == name).and_then(|attribute| match &attribute.value {
        AttributeValue::Text(text) => Some(text.as_str()),
        AttributeValue::Binary(_) => None,
    })
}

/// Sends what the outbox holds; runs until `shutdown` turns true.
pub struct Deliverer {
    engine: Arc<Engine>,
    outbox: Arc<Queue>,
    region: String,
    /// The Lambda Invoke API `lambda` subscriptions are delivered through, if configured.
    lambda_endpoint: Option<String>,
    /// The SMTP relay `email` and `email-json` subscriptions are delivered through, if configured.
    mail: Option<MailRelay>,
    /// Speaks http and https (see [`crate::http_client`]).
    client: DeliveryClient,
    /// Where `sms` and `application` deliveries go.
    mobile: Arc<dyn MobileSender>,
    /// Keeps HTTP/S deliveries within their subscriptions' throttlePolicy.
    pacer: Pacer,
    /// The origin of the pacer's times.
    started: std::time::Instant,
}

/// The topic and subscription a delivery came through.
struct Source {
    topic_arn: String,
    subscription_arn: String,
}

impl Deliverer {
    pub fn new(
        engine: Arc<Engine>,
        outbox: Arc<Queue>,
        region: String,
        lambda_endpoint: Option<String>,
        mail: Option<MailRelay>,
        mobile: Arc<dyn MobileSender>,
        client: DeliveryClient,
    ) -> Arc<Self> {
        Arc::new(Deliverer {
            engine,
            outbox,
            region,
            lambda_endpoint,
            mail,
            client,
            mobile,
            pacer: Pacer::default(),
            started: std::time::Instant::now(),
        })
    }

    pub async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let slots = Arc::new(tokio::sync::Semaphore::new(DELIVERIES_IN_FLIGHT_MAX));
        loop {
            let request = ReceiveRequest {
                max_messages: 10,
                visibility_timeout_seconds: Some(ATTEMPT_LEASE_SECONDS),
                wait_ms: 20_000,
                leased_messages_max: None,
                attempt_id: None,
            };
            let received = tokio::select! {
                received = self.engine.receive(&self.outbox, request) => received,
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            let deliveries = match received {
                Ok(deliveries) => deliveries,
                Err(error) => {
                    tracing::warn!(%error, "cannot read the SNS delivery outbox; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            for delivery in deliveries {
                let Ok(slot) = slots.clone().acquire_owned().await else { return };
                let deliverer = self.clone();
                tokio::spawn(async move {
                    deliverer.deliver(delivery).await;
                    drop(slot);
                });
            }
        }
    }

    async fn deliver(&self, delivery: Delivery) {
        let content = &delivery.content;
        if let Some(protocol) = attribute(content, "direct_protocol") {
            let destination = attribute(content, "destination").unwrap_or("");
            return self.deliver_mobile(&delivery, protocol, destination, None).await;
        }
        let target = (|| {
            let topic = self.engine.topic(attribute(content, "account")?, attribute(content, "topic")?)?;
            let subscription = topic.subscription(attribute(content, "subscription")?)?;
            Some((topic, subscription))
        })();
        // A delivery whose subscription is gone has nowhere to go.
        let Some((topic, subscription)) = target else { return self.finish(&delivery).await };
        let (delivered, policy) = match &subscription.endpoint {
            Endpoint::External { protocol, address } if protocol == "http" || protocol == "https" => {
                let own_policy = subscription.attributes.get("DeliveryPolicy").map(String::as_str);
                let topic_policy = topic.settings().opaque.get("DeliveryPolicy").cloned();
                let policy = RetryPolicy::effective(own_policy, topic_policy.as_deref());
                if let Some(rate) = max_receives_per_second(own_policy, topic_policy.as_deref()) {
                    self.pace(&delivery, &subscription.key, rate).await;
                }
                (self.post(&topic, &subscription, address, content).await, policy)
            }
            Endpoint::External { protocol, address } if protocol.starts_with("email") => {
                let policy = RetryPolicy::effective(None, None);
                (self.mail(address, content).await, policy)
            }
            Endpoint::External { protocol, address } if protocol == "lambda" => {
                (self.invoke(address, content).await, RetryPolicy::aws_managed())
            }
            Endpoint::External { protocol, address } if protocol == "sms" || protocol == "application" => {
                let topic_arn = arns::topic(&self.region, &topic.account, &topic.name);
                let subscription_arn = arns::subscription(&topic_arn, &subscription.key);
                let source = Source { topic_arn, subscription_arn };
                return self.deliver_mobile(&delivery, protocol, address, Some(source)).await;
            }
            Endpoint::External { protocol, .. } if protocol == "firehose" => {
                if let Err(error) = self.engine.change_visibility(&self.outbox, delivery.lease(), KEPT_DELIVERY_SECONDS)
                {
                    tracing::warn!(%error, "cannot keep a Firehose delivery in the outbox");
                }
                return;
            }
            _ => return self.finish(&delivery).await,
        };
        if delivered {
            return self.finish(&delivery).await;
        }
        if !self.retry(&delivery, &policy) {
            self.dead_letter(&subscription, content).await;
            self.finish(&delivery).await;
        }
    }

    /// Waits for the subscription's next slot under its throttlePolicy, first extending the
    /// delivery's lease when the wait is long, so no second attempt starts meanwhile.
    async fn pace(&self, delivery: &Delivery, subscription: &str, rate: u32) {
        let now_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let wait_ms = self.pacer.reserve(subscription, rate, now_ms);
        if wait_ms == 0 {
            return;
        }
        let wait_seconds = u32::try_from(wait_ms.div_ceil(1_000)).unwrap_or(u32::MAX);
        let attempt_seconds = u32::try_from(ATTEMPT_TIMEOUT.as_secs()).unwrap_or(u32::MAX);
        if wait_seconds.saturating_add(attempt_seconds) >= ATTEMPT_LEASE_SECONDS {
            let lease_seconds = wait_seconds.saturating_add(ATTEMPT_LEASE_SECONDS);
            if let Err(error) = self.engine.change_visibility(&self.outbox, delivery.lease(), lease_seconds) {
                tracing::warn!(%error, "cannot extend a throttled SNS delivery's lease");
            }
        }
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
    }

    /// Schedules the next attempt; false when the policy has none left.
    fn retry(&self, delivery: &Delivery, policy: &RetryPolicy) -> bool {
        let Some(delay_seconds) = policy.delay_before(delivery.meta.receive_count) else { return false };
        if let Err(error) = self.engine.change_visibility(&self.outbox, delivery.lease(), delay_seconds) {
            tracing::warn!(%error, "cannot schedule an SNS delivery retry");
        }
        true
    }

    /// Hands an SMS or push message to the mobile sender. Messages for a number that opted out,
    /// or for an endpoint or application that is disabled or gone, are dropped, as AWS does.
    async fn deliver_mobile(&self, delivery: &Delivery, protocol: &str, destination: &str, source: Option<Source>) {
        let content = &delivery.content;
        let account = attribute(content, "account").unwrap_or("");
        let (channel, token) = if protocol == "sms" {
            let opted_out = self.engine.catalog_entry(mobile::OPTED_OUT, &mobile::number_key(account, destination));
            if opted_out.is_some() {
                tracing::debug!(destination, "an SMS to a number that opted out is dropped");
                return self.finish(delivery).await;
            }
            (Channel::Sms, None)
        } else {
            match self.enabled_endpoint_token(destination) {
                Some(token) => (Channel::Push, Some(token)),
                None => {
                    tracing::debug!(destination, "a push message to a disabled or deleted endpoint is dropped");
                    return self.finish(delivery).await;
                }
            }
        };
        let (topic_arn, subscription_arn) = source.map(|source| (source.topic_arn, source.subscription_arn)).unzip();
        let message = MobileMessage {
            channel,
            message_id: attribute(content, "message_id").unwrap_or("").to_string(),
            account: account.to_string(),
            destination: destination.to_string(),
            message: String::from_utf8_lossy(&content.body).into_owned(),
            topic_arn,
            subscription_arn,
            token,
            timestamp: crate::envelope::timestamp(self.engine.clock().now_ms()),
        };
        if self.mobile.send(message).await || !self.retry(delivery, &RetryPolicy::aws_managed()) {
            self.finish(delivery).await;
        }
    }

    /// The platform token of an endpoint that exists and is enabled, in an enabled application.
    fn enabled_endpoint_token(&self, endpoint_arn: &str) -> Option<String> {
        let endpoint = EndpointId::parse_arn(endpoint_arn)?;
        let entry = self.engine.catalog_entry(mobile::ENDPOINTS, &endpoint.key())?;
        let application: &ApplicationId = &endpoint.application;
        let application = self.engine.catalog_entry(mobile::APPLICATIONS, &application.key())?;
        let enabled = |entry: &wharf_domain::catalog::Entry| entry.get("Enabled").is_none_or(|value| value != "false");
        (enabled(&entry) && enabled(&application)).then(|| entry.get("Token").cloned().unwrap_or_default())
    }

    /// POSTs the message; true on a 2xx answer.
    async fn post(&self, topic: &Topic, subscription: &Subscription, address: &str, content: &MessageContent) -> bool {
        let kind = attribute(content, "type").unwrap_or("Notification");
        let topic_arn = arns::topic(&self.region, &topic.account, &topic.name);
        let mut request = hyper::Request::post(address)
            .header("content-type", "text/plain; charset=UTF-8")
            .header("user-agent", "Amazon Simple Notification Service Agent")
            .header("x-amz-sns-message-type", kind)
            .header("x-amz-sns-message-id", attribute(content, "message_id").unwrap_or(""))
            .header("x-amz-sns-topic-arn", &topic_arn);
        if kind == Kind::Notification.as_str() {
            request = request.header("x-amz-sns-subscription-arn", arns::subscription(&topic_arn, &subscription.key));
        }
        if attribute(content, "raw") == Some("true") {
            request = request.header("x-amz-sns-rawdelivery", "true");
        }
        let Ok(request) = request.body(Full::new(content.body.clone())) else {
            tracing::warn!(address, "an SNS subscription endpoint is not a valid URL");
            return false;
        };
        match tokio::time::timeout(ATTEMPT_TIMEOUT, self.client.request(request)).await {
            Ok(Ok(response)) => response.status().is_success(),
            Ok(Err(error)) => {
                tracing::debug!(address, %error, "SNS delivery failed");
                false
            }
            Err(_) => false,
        }
    }

    /// Sends an email notification through the configured SMTP relay; true once it is accepted.
    async fn mail(&self, address: &str, content: &MessageContent) -> bool {
        use lettre::AsyncTransport as _;
        let Some(relay) = &self.mail else {
            tracing::warn!(address, "no sns.smtp_server is configured; the email delivery waits");
            return false;
        };
        let (Ok(from), Ok(to)) = (relay.from.parse(), address.parse()) else {
            tracing::warn!(address, "an SNS email address or sns.email_from is not a valid mailbox");
            return false;
        };
        let subject = attribute(content, "subject").unwrap_or("");
        let body = String::from_utf8_lossy(&content.body).into_owned();
        let Ok(mail) = lettre::Message::builder().from(from).to(to).subject(subject).body(body) else { return false };
        match relay.transport(ATTEMPT_TIMEOUT).send(mail).await {
            Ok(_) => true,
            Err(error) => {
                tracing::debug!(address, %error, "SNS email delivery failed");
                false
            }
        }
    }

    /// Invokes a Lambda function asynchronously with the SNS event; true once it is accepted.
    async fn invoke(&self, function_arn: &str, content: &MessageContent) -> bool {
        let Some(endpoint) = &self.lambda_endpoint else {
            tracing::warn!(function_arn, "no sns.lambda_endpoint is configured; the delivery waits");
            return false;
        };
        let function = utf8_percent_encode(function_arn, NON_ALPHANUMERIC);
        let request = hyper::Request::post(format!("{endpoint}/2015-03-31/functions/{function}/invocations"))
            .header("content-type", "application/json")
            .header("x-amz-invocation-type", "Event")
            .body(Full::new(content.body.clone()));
        let Ok(request) = request else { return false };
        match tokio::time::timeout(ATTEMPT_TIMEOUT, self.client.request(request)).await {
            Ok(Ok(response)) => response.status().is_success(),
            _ => false,
        }
    }

    /// Moves a message out of retries to the subscription's dead-letter queue, if it has one.
    async fn dead_letter(&self, subscription: &Subscription, content: &MessageContent) {
        let target = subscription
            .attributes
            .get("RedrivePolicy")
            .and_then(|policy| serde_json::from_str::<serde_json::Value>(policy).ok())
            .and_then(|policy| policy.get("deadLetterTargetArn").and_then(|arn| arn.as_str().map(str::to_string)));
        let Some(target) = target else { return };
        let Some(parsed) = wharf_aws::arn::parse(&target) else { return };
        let Some(queue) = self.engine.queue(parsed.account, parsed.resource) else { return };
        let message = NewMessage {
            content: MessageContent { body: content.body.clone(), ..MessageContent::default() },
            delay_seconds: None,
            size_bytes: u32::try_from(content.body.len()).unwrap_or(u32::MAX),
        };
        if let Err(error) = self.engine.send(&queue, vec![message]).await {
            tracing::warn!(%error, "cannot move an undeliverable SNS message to its dead-letter queue");
        }
    }

    async fn finish(&self, delivery: &Delivery) {
        if let Err(error) = self.engine.delete_messages(&self.outbox, &[delivery.lease()]).await {
            tracing::warn!(%error, "cannot remove a finished SNS delivery from the outbox");
        }
    }
}
