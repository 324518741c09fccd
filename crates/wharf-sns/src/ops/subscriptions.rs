//! Subscribe, ConfirmSubscription, Unsubscribe, ListSubscriptions(ByTopic) and Get/Set
//! SubscriptionAttributes.

use super::paging::page;
use super::publish;
use super::{lenient_bool, required};
use crate::delivery::{self, Kind};
use crate::envelope::{self, Confirmation};
use crate::error_map::{ErrorKind, SnsError};
use crate::{archive, arns};
use crate::{Context, SIGNING_CERT_PATH};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use wharf_aws::arn;
use wharf_domain::topic::{Endpoint, Subscription, Topic, FILTER_POLICY_ATTRIBUTE, FILTER_POLICY_SCOPE_ATTRIBUTE};
use wharf_domain::{DomainError, MessageContent, NewMessage, QueueName};

const LIST_PAGE_SIZE: usize = 100;
pub const PROTOCOLS: &[&str] =
    &["http", "https", "email", "email-json", "sms", "sqs", "application", "lambda", "firehose"];
/// Protocols whose subscriptions wait for the endpoint's owner to confirm them.
const CONFIRMED_BY_ENDPOINT: &[&str] = &["http", "https", "email", "email-json"];
const SETTABLE: &[&str] = &[
    "DeliveryPolicy",
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
    "SubscriptionRoleArn",
    "ReplayPolicy",
];
const PENDING_ARN: &str = "pending confirmation";
const CONFIRMATION_SUBJECT: &str = "AWS Notification - Subscription Confirmation";

/// The protocol and endpoint text of a subscription, as clients see them.
pub fn protocol_and_endpoint(region: &str, endpoint: &Endpoint) -> (String, String) {
    match endpoint {
        Endpoint::Queue(queue) => ("sqs".to_string(), arn::format("sqs", region, &queue.account, &queue.name)),
        Endpoint::External { protocol, address } => (protocol.clone(), address.clone()),
    }
}

fn parse_endpoint(protocol: &str, endpoint: &str) -> Result<Endpoint, SnsError> {
    if !PROTOCOLS.contains(&protocol) {
        return Err(SnsError::invalid(format!("Amazon SNS does not support this protocol string: {protocol}")));
    }
    let valid = match protocol {
        "sqs" => {
            let parsed = arn::parse(endpoint).filter(|parsed| parsed.service == "sqs" && !parsed.resource.is_empty());
            return match parsed {
                Some(parsed) => Ok(Endpoint::Queue(QueueName {
                    account: parsed.account.to_string(),
                    name: parsed.resource.to_string(),
                })),
                None => Err(SnsError::invalid("SQS endpoint ARN")),
            };
        }
        "http" => endpoint.starts_with("http://"),
        "https" => endpoint.starts_with("https://"),
        "email" | "email-json" => endpoint.contains('@') && !endpoint.contains(char::is_whitespace),
        "sms" => {
            let digits = endpoint.strip_prefix('+').unwrap_or(endpoint);
            !digits.is_empty() && digits.len() <= 15 && digits.bytes().all(|byte| byte.is_ascii_digit() || byte == b'-')
        }
        "lambda" => arn::parse(endpoint).is_some_and(|parsed| parsed.service == "lambda"),
        "firehose" => arn::parse(endpoint).is_some_and(|parsed| parsed.service == "firehose"),
        _ => arn::parse(endpoint).is_some_and(|parsed| parsed.service == "sns"),
    };
    if !valid {
        return Err(SnsError::invalid("Endpoint"));
    }
    Ok(Endpoint::External { protocol: protocol.to_string(), address: endpoint.to_string() })
}

/// Checks subscription attributes a client sets.
fn check_attributes(protocol: &str, attributes: &BTreeMap<String, String>) -> Result<(), SnsError> {
    for (name, value) in attributes {
        match name.as_str() {
            "RawMessageDelivery" => {
                if value != "true" && value != "false" {
                    return Err(SnsError::invalid("RawMessageDelivery: Invalid value [true, false]"));
                }
                if !matches!(protocol, "sqs" | "http" | "https" | "firehose") {
                    return Err(SnsError::invalid(format!(
                        "Delivery protocol [{protocol}] does not support raw message delivery."
                    )));
                }
            }
            "FilterPolicyScope" if value != "MessageAttributes" && value != "MessageBody" => {
                return Err(SnsError::invalid(
                    "FilterPolicyScope: Invalid filter policy scope, valid values are: MessageAttributes, MessageBody",
                ));
            }
            "DeliveryPolicy" | "RedrivePolicy" | "ReplayPolicy"
                if !value.is_empty()
                    && serde_json::from_str::<Value>(value).map_or(true, |parsed| !parsed.is_object()) =>
            {
                return Err(SnsError::invalid(format!("{name}: failed to parse JSON.")));
            }
            "RedrivePolicy" if !value.is_empty() => {
                let target = serde_json::from_str::<Value>(value)
                    .ok()
                    .and_then(|policy| policy.get("deadLetterTargetArn").and_then(Value::as_str).map(str::to_string));
                if target.as_deref().and_then(arn::parse).is_none_or(|parsed| parsed.service != "sqs") {
                    return Err(SnsError::invalid("RedrivePolicy: deadLetterTargetArn is invalid"));
                }
            }
            known if SETTABLE.contains(&known) => {}
            _ => return Err(SnsError::invalid("AttributeName")),
        }
    }
    Ok(())
}

fn subscription_arn(context: &Context<'_>, topic: &Topic, subscription: &Subscription) -> String {
    arns::subscription(&context.topic_arn(topic), &subscription.key)
}

#[derive(Deserialize)]
pub struct SubscribeInput {
    #[serde(rename = "TopicArn")]
    topic_arn: Option<String>,
    #[serde(rename = "Protocol")]
    protocol: Option<String>,
    #[serde(rename = "Endpoint")]
    endpoint: Option<String>,
    #[serde(rename = "Attributes", default)]
    attributes: BTreeMap<String, String>,
    #[serde(rename = "ReturnSubscriptionArn", default, deserialize_with = "lenient_bool")]
    return_subscription_arn: bool,
}

pub async fn subscribe(context: &Context<'_>, input: SubscribeInput) -> Result<Value, SnsError> {
    let topic = context.topic(input.topic_arn.as_deref(), "TopicArn")?;
    let protocol = required(input.protocol.as_deref(), "Protocol")?.to_ascii_lowercase();
    let endpoint_text = required(input.endpoint.as_deref(), "Endpoint")?;
    let endpoint = parse_endpoint(&protocol, endpoint_text)?;
    check_attributes(&protocol, &input.attributes)?;
    let fifo = topic.settings().fifo;
    if let Endpoint::Queue(queue) = &endpoint {
        if queue.name.ends_with(".fifo") && !fifo {
            return Err(SnsError::invalid(
                "Endpoint Reason: FIFO SQS Queues can not be subscribed to standard SNS topics",
            ));
        }
    } else if fifo {
        return Err(SnsError::invalid(format!("Invalid protocol type: {protocol}")));
    }
    let same_endpoint = topic.subscriptions().into_iter().find(|existing| existing.endpoint == endpoint);
    check_limits(&topic, same_endpoint.as_deref(), &input.attributes)?;
    let replay_window = match input.attributes.get("ReplayPolicy").filter(|policy| !policy.is_empty()) {
        Some(policy) => Some(replay_window(context, &topic, policy)?),
        None => None,
    };
    // A queue of another account confirms like an HTTP endpoint: its owner reads the
    // SubscriptionConfirmation from the queue and visits the SubscribeURL.
    let other_account_queue = matches!(&endpoint, Endpoint::Queue(queue) if queue.account != topic.account);
    let pending = CONFIRMED_BY_ENDPOINT.contains(&protocol.as_str()) || other_account_queue;
    let token = pending.then(confirmation_token);
    let (subscription, created) = context
        .engine()
        .subscribe(&topic, context.account(), endpoint, !pending, token, input.attributes.clone())
        .await?;
    if !created && subscription.attributes != input.attributes && !input.attributes.is_empty() {
        return Err(SnsError::invalid("Attributes Reason: Subscription already exists with different attributes"));
    }
    if created && pending {
        send_confirmation(context, &topic, &subscription, &protocol).await?;
    }
    if let Some(window) = replay_window.filter(|_| created) {
        run_replay(context, &topic, &subscription, window).await?;
    }
    let arn = if subscription.confirmed || input.return_subscription_arn {
        subscription_arn(context, &topic, &subscription)
    } else {
        PENDING_ARN.to_string()
    };
    Ok(json!({ "SubscriptionArn": arn }))
}

/// Queues the SubscriptionConfirmation for delivery to the new endpoint: the signed JSON
/// message (written straight into a subscribed queue of another account), or for `email` a
/// plain-text mail with the link.
async fn send_confirmation(
    context: &Context<'_>,
    topic: &Topic,
    subscription: &Subscription,
    protocol: &str,
) -> Result<(), SnsError> {
    let topic_arn = context.topic_arn(topic);
    let token = subscription.confirmation_token.as_deref().unwrap_or_default();
    let base_url = &context.request.base_url;
    let subscribe_url = format!("{base_url}/?Action=ConfirmSubscription&TopicArn={topic_arn}&Token={token}");
    let message_id = uuid::Uuid::new_v4().to_string();
    let timestamp = envelope::timestamp(context.engine().clock().now_ms());
    let confirmation = Confirmation {
        message_id: &message_id,
        token,
        topic_arn: &topic_arn,
        subscribe_url: &subscribe_url,
        timestamp: &timestamp,
    };
    let version = envelope::signature_version(&topic.settings());
    let signing_cert_url = format!("{base_url}{SIGNING_CERT_PATH}");
    let body = if protocol == "email" {
        format!(
            "You have chosen to subscribe to the topic:\n{topic_arn}\n\nTo confirm this subscription, click or visit the link below (If this was in error no action is necessary):\n{subscribe_url}\n"
        )
    } else {
        envelope::render_confirmation(&confirmation, version, &context.service.signer, &signing_cert_url)
    };
    if let Endpoint::Queue(name) = &subscription.endpoint {
        // A queue that is gone by now receives nothing, as a publication would not reach it.
        let Some(queue) = context.engine().queue(&name.account, &name.name) else { return Ok(()) };
        let fifo = queue.read_settings(|settings| settings.fifo);
        let size_bytes = u32::try_from(body.len()).unwrap_or(u32::MAX);
        let content = MessageContent {
            body: body.into(),
            sender_id: publish::SNS_SENDER_ID.to_string(),
            group_id: fifo.then(|| topic.name.clone()),
            deduplication_id: fifo.then(|| message_id.clone()),
            ..MessageContent::default()
        };
        context.engine().send(&queue, vec![NewMessage { content, delay_seconds: None, size_bytes }]).await?;
        return Ok(());
    }
    let subject = Some(CONFIRMATION_SUBJECT).filter(|_| protocol.starts_with("email"));
    let message = delivery::outbox_message(
        topic,
        subscription,
        Kind::SubscriptionConfirmation,
        &message_id,
        false,
        subject,
        body,
    );
    context.engine().send(&context.service.outbox, vec![message]).await?;
    Ok(())
}

/// A confirmation token: two random UUIDs as hex (244 random bits), opaque like AWS's tokens.
fn confirmation_token() -> String {
    let mut token = String::with_capacity(64);
    for _ in 0..2 {
        token.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    token
}

#[derive(Deserialize)]
pub struct ConfirmInput {
    #[serde(rename = "TopicArn")]
    topic_arn: Option<String>,
    #[serde(rename = "Token")]
    token: Option<String>,
}

pub async fn confirm(context: &Context<'_>, input: ConfirmInput) -> Result<Value, SnsError> {
    let token = required(input.token.as_deref(), "Token")?;
    let topic = context.topic(input.topic_arn.as_deref(), "TopicArn").map_err(|error| match error.kind {
        crate::ErrorKind::NotFound => SnsError::invalid("Topic"),
        _ => error,
    })?;
    let pending = topic
        .subscriptions()
        .into_iter()
        .find(|subscription| subscription.confirmation_token.as_deref() == Some(token))
        .ok_or_else(|| SnsError::invalid("Token"))?;
    let confirmed = context.engine().update_subscription(&topic, pending.id, |current| Ok(current.confirmed())).await?;
    Ok(json!({ "SubscriptionArn": subscription_arn(context, &topic, &confirmed) }))
}

/// The topic and subscription a subscription ARN names.
fn resolve(context: &Context<'_>, arn: Option<&str>) -> Result<(Arc<Topic>, Arc<Subscription>), SnsError> {
    let arn = required(arn, "SubscriptionArn")?;
    let (account, name, key) = arns::parse_subscription(arn).ok_or_else(|| SnsError::invalid("SubscriptionArn"))?;
    context.check_account(account)?;
    let topic = context.engine().topic(account, name).ok_or_else(SnsError::subscription_not_found)?;
    let subscription = topic.subscription(key).ok_or_else(SnsError::subscription_not_found)?;
    Ok((topic, subscription))
}

#[derive(Deserialize)]
pub struct SubscriptionInput {
    #[serde(rename = "SubscriptionArn")]
    subscription_arn: Option<String>,
}

/// Unsubscribing a subscription that is already gone succeeds, as on AWS.
pub async fn unsubscribe(context: &Context<'_>, input: SubscriptionInput) -> Result<Value, SnsError> {
    let (topic, subscription) = match resolve(context, input.subscription_arn.as_deref()) {
        Ok(found) => found,
        Err(error) if error.kind == crate::ErrorKind::NotFound => return Ok(json!({})),
        Err(error) => return Err(error),
    };
    match context.engine().unsubscribe(&topic, subscription.id).await {
        Ok(()) | Err(DomainError::SubscriptionDoesNotExist) => Ok(json!({})),
        Err(error) => Err(error.into()),
    }
}

fn summary(context: &Context<'_>, topic: &Topic, subscription: &Subscription) -> Value {
    let (protocol, endpoint) = protocol_and_endpoint(context.region(), &subscription.endpoint);
    let arn = if subscription.confirmed {
        subscription_arn(context, topic, subscription)
    } else {
        "PendingConfirmation".to_string()
    };
    json!({
        "SubscriptionArn": arn,
        "Owner": subscription.owner,
        "Protocol": protocol,
        "Endpoint": endpoint,
        "TopicArn": context.topic_arn(topic),
    })
}

#[derive(Deserialize)]
pub struct ListInput {
    #[serde(rename = "NextToken")]
    next_token: Option<String>,
}

pub fn list(context: &Context<'_>, input: ListInput) -> Result<Value, SnsError> {
    let mut all = Vec::new();
    for topic in context.engine().list_topics(context.account()) {
        for subscription in topic.subscriptions() {
            all.push(summary(context, &topic, &subscription));
        }
    }
    paged(all, input.next_token.as_deref())
}

#[derive(Deserialize)]
pub struct ListByTopicInput {
    #[serde(rename = "TopicArn")]
    topic_arn: Option<String>,
    #[serde(rename = "NextToken")]
    next_token: Option<String>,
}

pub fn list_by_topic(context: &Context<'_>, input: ListByTopicInput) -> Result<Value, SnsError> {
    let topic = context.topic(input.topic_arn.as_deref(), "TopicArn")?;
    let all: Vec<Value> =
        topic.subscriptions().iter().map(|subscription| summary(context, &topic, subscription)).collect();
    paged(all, input.next_token.as_deref())
}

fn paged(all: Vec<Value>, token: Option<&str>) -> Result<Value, SnsError> {
    let (items, next) = page(&all, token, LIST_PAGE_SIZE)?;
    let mut output = json!({ "Subscriptions": items });
    if let Some(next) = next {
        output["NextToken"] = json!(next);
    }
    Ok(output)
}

pub fn get_attributes(context: &Context<'_>, input: SubscriptionInput) -> Result<Value, SnsError> {
    let (topic, subscription) = resolve(context, input.subscription_arn.as_deref())?;
    let (protocol, endpoint) = protocol_and_endpoint(context.region(), &subscription.endpoint);
    let mut out = BTreeMap::new();
    out.insert("SubscriptionArn".to_string(), subscription_arn(context, &topic, &subscription));
    out.insert("TopicArn".to_string(), context.topic_arn(&topic));
    out.insert("Owner".to_string(), subscription.owner.clone());
    out.insert("Protocol".to_string(), protocol);
    out.insert("Endpoint".to_string(), endpoint);
    out.insert("PendingConfirmation".to_string(), (!subscription.confirmed).to_string());
    out.insert("ConfirmationWasAuthenticated".to_string(), subscription.confirmed.to_string());
    out.insert("RawMessageDelivery".to_string(), "false".to_string());
    out.insert(
        "EffectiveDeliveryPolicy".to_string(),
        topic
            .settings()
            .opaque
            .get("DeliveryPolicy")
            .cloned()
            .unwrap_or_else(|| DEFAULT_SUBSCRIPTION_DELIVERY_POLICY.to_string()),
    );
    if subscription.attributes.contains_key(FILTER_POLICY_ATTRIBUTE) {
        out.insert(FILTER_POLICY_SCOPE_ATTRIBUTE.to_string(), "MessageAttributes".to_string());
    }
    for (name, value) in &subscription.attributes {
        out.insert(name.clone(), value.clone());
    }
    Ok(json!({ "Attributes": out }))
}

/// What AWS reports as a subscription's effective delivery policy when none is set.
const DEFAULT_SUBSCRIPTION_DELIVERY_POLICY: &str = r#"{"healthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},"sicklyRetryPolicy":null,"throttlePolicy":null,"guaranteed":false}"#;

#[derive(Deserialize)]
pub struct SetAttributeInput {
    #[serde(rename = "SubscriptionArn")]
    subscription_arn: Option<String>,
    #[serde(rename = "AttributeName")]
    attribute_name: Option<String>,
    #[serde(rename = "AttributeValue")]
    attribute_value: Option<String>,
}

pub async fn set_attribute(context: &Context<'_>, input: SetAttributeInput) -> Result<Value, SnsError> {
    let (topic, subscription) = resolve(context, input.subscription_arn.as_deref())?;
    let name = required(input.attribute_name.as_deref(), "AttributeName")?.to_string();
    let value = input.attribute_value.unwrap_or_default();
    let (protocol, _) = protocol_and_endpoint(context.region(), &subscription.endpoint);
    let change = BTreeMap::from([(name.clone(), value.clone())]);
    check_attributes(&protocol, &change)?;
    check_limits(&topic, Some(&subscription), &change)?;
    let replay = name == "ReplayPolicy" && !value.is_empty();
    let replay_window = if replay { Some(replay_window(context, &topic, &value)?) } else { None };
    let updated = context
        .engine()
        .update_subscription(&topic, subscription.id, |current| {
            let mut attributes = current.attributes.clone();
            if value.is_empty() {
                attributes.remove(&name);
            } else {
                attributes.insert(name, value);
            }
            current.with_attributes(attributes).map_err(|error| DomainError::InvalidFilterPolicy(error.message))
        })
        .await?;
    if let Some(window) = replay_window {
        run_replay(context, &topic, &updated, window).await?;
    }
    Ok(json!({}))
}

/// AWS's default quotas: subscriptions of a FIFO topic, and filter policies per topic.
const FIFO_TOPIC_SUBSCRIPTIONS_MAX: usize = 100;
const FILTER_POLICIES_PER_TOPIC_MAX: usize = 200;

/// Refuses a new subscription (`existing` is `None`) or a change of `existing` that would take
/// the topic past AWS's subscription or filter-policy quotas.
fn check_limits(
    topic: &Topic,
    existing: Option<&Subscription>,
    attributes: &BTreeMap<String, String>,
) -> Result<(), SnsError> {
    let subscriptions = topic.subscriptions();
    if existing.is_none() && topic.settings().fifo && subscriptions.len() >= FIFO_TOPIC_SUBSCRIPTIONS_MAX {
        return Err(SnsError::new(ErrorKind::SubscriptionLimitExceeded, "Subscription limit exceeded"));
    }
    let sets_policy = attributes.get(FILTER_POLICY_ATTRIBUTE).is_some_and(|policy| !policy.trim().is_empty());
    let has_policy = |subscription: &Subscription| {
        subscription.attributes.get(FILTER_POLICY_ATTRIBUTE).is_some_and(|policy| !policy.trim().is_empty())
    };
    let adds_policy = sets_policy && !existing.is_some_and(has_policy);
    if adds_policy
        && subscriptions.iter().filter(|subscription| has_policy(subscription)).count() >= FILTER_POLICIES_PER_TOPIC_MAX
    {
        return Err(SnsError::new(ErrorKind::FilterPolicyLimitExceeded, "Filter policy limit exceeded"));
    }
    Ok(())
}

/// The publication times a ReplayPolicy asks for; only a FIFO topic that archives has any.
fn replay_window(context: &Context<'_>, topic: &Topic, policy: &str) -> Result<archive::ReplayWindow, SnsError> {
    if archive::retention_days(&topic.settings()).is_none() {
        return Err(SnsError::invalid("ReplayPolicy: the topic has no ArchivePolicy; only archived messages replay"));
    }
    archive::parse_replay_policy(policy, context.engine().clock().now_ms())
}

/// Replays the window to the subscription and records how it went in ReplayStatus.
async fn run_replay(
    context: &Context<'_>,
    topic: &Topic,
    subscription: &Arc<Subscription>,
    window: archive::ReplayWindow,
) -> Result<(), SnsError> {
    let outcome = publish::replay(context, topic, subscription, window).await;
    let status = if outcome.is_ok() { "Completed" } else { "Failed" };
    context
        .engine()
        .update_subscription(topic, subscription.id, |current| {
            let mut attributes = current.attributes.clone();
            attributes.insert("ReplayStatus".to_string(), status.to_string());
            current.with_attributes(attributes).map_err(|error| DomainError::InvalidFilterPolicy(error.message))
        })
        .await?;
    outcome
}
