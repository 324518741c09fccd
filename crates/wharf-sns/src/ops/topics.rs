//! CreateTopic, DeleteTopic, ListTopics, GetTopicAttributes and SetTopicAttributes.

use super::paging::page;
use super::required;
use super::tags::{check_tags, TagInput};
use crate::error_map::{ErrorKind, SnsError};
use crate::Context;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use wharf_domain::topic::{Topic, TopicSettings};
use wharf_domain::DomainError;

pub const TOPIC_NAME_CHARS_MAX: usize = 256;
const LIST_PAGE_SIZE: usize = 100;

/// Attributes a client may set, on any topic.
const SETTABLE: &[&str] = &[
    "DeliveryPolicy",
    "DisplayName",
    "Policy",
    "TracingConfig",
    "KmsMasterKeyId",
    "SignatureVersion",
    "HTTPSuccessFeedbackRoleArn",
    "HTTPSuccessFeedbackSampleRate",
    "HTTPFailureFeedbackRoleArn",
    "FirehoseSuccessFeedbackRoleArn",
    "FirehoseSuccessFeedbackSampleRate",
    "FirehoseFailureFeedbackRoleArn",
    "LambdaSuccessFeedbackRoleArn",
    "LambdaSuccessFeedbackSampleRate",
    "LambdaFailureFeedbackRoleArn",
    "ApplicationSuccessFeedbackRoleArn",
    "ApplicationSuccessFeedbackSampleRate",
    "ApplicationFailureFeedbackRoleArn",
    "SQSSuccessFeedbackRoleArn",
    "SQSSuccessFeedbackSampleRate",
    "SQSFailureFeedbackRoleArn",
];
/// Attributes only FIFO topics have.
const FIFO_SETTABLE: &[&str] = &["ContentBasedDeduplication", "ArchivePolicy", "FifoThroughputScope"];

#[derive(Deserialize)]
pub struct CreateInput {
    #[serde(rename = "Name")]
    name: Option<String>,
    #[serde(rename = "Attributes", default)]
    attributes: BTreeMap<String, String>,
    #[serde(rename = "Tags", default, deserialize_with = "super::list_or_empty")]
    tags: Vec<TagInput>,
    #[serde(rename = "DataProtectionPolicy")]
    data_protection_policy: Option<String>,
}

pub fn check_topic_name(name: &str, fifo: bool) -> Result<(), SnsError> {
    let stem = if fifo { name.strip_suffix(".fifo") } else { Some(name) };
    let valid = stem.is_some_and(|stem| {
        !stem.is_empty()
            && name.len() <= TOPIC_NAME_CHARS_MAX
            && stem.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
    });
    if !valid {
        return Err(SnsError::invalid(if fifo {
            "Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long."
        } else {
            "Topic Name"
        }));
    }
    Ok(())
}

/// AWS's default quotas of topics per account: standard and FIFO.
const STANDARD_TOPICS_MAX: usize = 100_000;
const FIFO_TOPICS_MAX: usize = 1_000;

/// Whether the caller's account already has as many topics of this kind as AWS allows.
fn at_topic_limit(context: &Context<'_>, fifo: bool) -> bool {
    let topics = context.engine().list_topics(context.account());
    let same_kind = topics.iter().filter(|topic| topic.settings().fifo == fifo).count();
    same_kind >= if fifo { FIFO_TOPICS_MAX } else { STANDARD_TOPICS_MAX }
}

/// Applies client-given attributes to a topic's settings, with AWS's rules.
pub fn apply(settings: &mut TopicSettings, attributes: &BTreeMap<String, String>) -> Result<(), SnsError> {
    for (name, value) in attributes {
        match name.as_str() {
            "FifoTopic" => {}
            "ContentBasedDeduplication" | "ArchivePolicy" | "FifoThroughputScope" if !settings.fifo => {
                return Err(SnsError::invalid(format!("Attributes Reason: {name} can only be set for FIFO topics")));
            }
            "ContentBasedDeduplication" => {
                settings.content_based_deduplication =
                    value.parse::<bool>().map_err(|_| SnsError::invalid("ContentBasedDeduplication"))?;
            }
            "FifoThroughputScope" if value != "Topic" && value != "MessageGroup" => {
                return Err(SnsError::invalid("FifoThroughputScope: Invalid value [Topic, MessageGroup]"));
            }
            "SignatureVersion" if value != "1" && value != "2" => {
                return Err(SnsError::invalid("SignatureVersion: Invalid value [1, 2]"));
            }
            "TracingConfig" if value != "PassThrough" && value != "Active" => {
                return Err(SnsError::invalid("TracingConfig: Invalid value [PassThrough, Active]"));
            }
            "ArchivePolicy" if !value.is_empty() => {
                crate::archive::parse_policy(value)?;
                settings.opaque.insert(name.clone(), value.clone());
            }
            "Policy" | "DeliveryPolicy"
                if !value.is_empty()
                    && serde_json::from_str::<Value>(value).map_or(true, |parsed| !parsed.is_object()) =>
            {
                return Err(SnsError::invalid(format!("{name}: failed to parse JSON.")));
            }
            known if SETTABLE.contains(&known) || FIFO_SETTABLE.contains(&known) => {
                if value.is_empty() {
                    settings.opaque.remove(known);
                } else {
                    settings.opaque.insert(known.to_string(), value.clone());
                }
            }
            _ => return Err(SnsError::invalid("AttributeName")),
        }
    }
    Ok(())
}

pub async fn create(context: &Context<'_>, input: CreateInput) -> Result<Value, SnsError> {
    let name = required(input.name.as_deref(), "Name")?;
    let fifo = match input.attributes.get("FifoTopic").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(SnsError::invalid("FifoTopic: Invalid value [true, false]")),
    };
    check_topic_name(name, fifo)?;
    let tags = check_tags(&input.tags)?;
    let mut settings = TopicSettings { fifo, ..TopicSettings::default() };
    apply(&mut settings, &input.attributes)?;
    if let Some(policy) = input.data_protection_policy.filter(|policy| !policy.is_empty()) {
        settings.opaque.insert("DataProtectionPolicy".into(), policy);
    }
    let account = context.account().to_string();
    let topic = match context.engine().topic(&account, name) {
        Some(existing) => existing,
        None if at_topic_limit(context, fifo) => {
            return Err(SnsError::new(ErrorKind::TopicLimitExceeded, "Topic limit exceeded"));
        }
        None => match context.engine().create_topic(&account, name, settings.clone(), tags).await {
            Ok(topic) => {
                crate::archive::apply(context.engine(), &topic, crate::archive::retention_days(&settings)).await?;
                return Ok(json!({ "TopicArn": context.topic_arn(&topic) }));
            }
            Err(DomainError::TopicAlreadyExists) => {
                context.engine().topic(&account, name).ok_or_else(SnsError::topic_not_found)?
            }
            Err(error) => return Err(error.into()),
        },
    };
    // An existing topic is returned when every given attribute matches it.
    let current = topic.settings();
    let mut requested = current.clone();
    apply(&mut requested, &input.attributes)?;
    if requested != current || current.fifo != fifo {
        return Err(SnsError::invalid("Attributes Reason: Topic already exists with different attributes"));
    }
    Ok(json!({ "TopicArn": context.topic_arn(&topic) }))
}

#[derive(Deserialize)]
pub struct TopicInput {
    #[serde(rename = "TopicArn")]
    topic_arn: Option<String>,
}

pub async fn delete(context: &Context<'_>, input: TopicInput) -> Result<Value, SnsError> {
    // Deleting a topic that does not exist succeeds, as on AWS.
    let topic = match context.topic(input.topic_arn.as_deref(), "TopicArn") {
        Ok(topic) => topic,
        Err(error) if error == SnsError::topic_not_found() => return Ok(json!({})),
        Err(error) => return Err(error),
    };
    match context.engine().delete_topic(&topic).await {
        Ok(()) | Err(DomainError::TopicDoesNotExist) => {}
        Err(error) => return Err(error.into()),
    }
    if topic.settings().fifo {
        crate::delivery::close_sequence_log(context.engine(), &topic).await?;
        crate::archive::close(context.engine(), &topic).await?;
    }
    Ok(json!({}))
}

#[derive(Deserialize)]
pub struct ListInput {
    #[serde(rename = "NextToken")]
    next_token: Option<String>,
}

pub fn list(context: &Context<'_>, input: ListInput) -> Result<Value, SnsError> {
    let arns: Vec<String> =
        context.engine().list_topics(context.account()).iter().map(|topic| context.topic_arn(topic)).collect();
    let (arns, next) = page(&arns, input.next_token.as_deref(), LIST_PAGE_SIZE)?;
    let topics: Vec<Value> = arns.into_iter().map(|arn| json!({ "TopicArn": arn })).collect();
    let mut output = json!({ "Topics": topics });
    if let Some(next) = next {
        output["NextToken"] = json!(next);
    }
    Ok(output)
}

pub fn get_attributes(context: &Context<'_>, input: TopicInput) -> Result<Value, SnsError> {
    let topic = context.topic(input.topic_arn.as_deref(), "TopicArn")?;
    Ok(json!({ "Attributes": render(context, &topic) }))
}

/// Every attribute GetTopicAttributes returns.
fn render(context: &Context<'_>, topic: &Topic) -> BTreeMap<String, String> {
    let settings = topic.settings();
    let arn = context.topic_arn(topic);
    let subscriptions = topic.subscriptions();
    let confirmed = subscriptions.iter().filter(|subscription| subscription.confirmed).count();
    let mut out = BTreeMap::new();
    out.insert("TopicArn".to_string(), arn.clone());
    out.insert("Owner".to_string(), topic.account.clone());
    out.insert("DisplayName".to_string(), String::new());
    out.insert("SubscriptionsConfirmed".to_string(), confirmed.to_string());
    out.insert("SubscriptionsPending".to_string(), (subscriptions.len() - confirmed).to_string());
    out.insert("SubscriptionsDeleted".to_string(), "0".to_string());
    out.insert("Policy".to_string(), default_policy(&arn, &topic.account));
    out.insert("EffectiveDeliveryPolicy".to_string(), DEFAULT_DELIVERY_POLICY.to_string());
    if settings.fifo {
        out.insert("FifoTopic".to_string(), "true".to_string());
        out.insert("ContentBasedDeduplication".to_string(), settings.content_based_deduplication.to_string());
    }
    if crate::archive::retention_days(&settings).is_some() {
        out.insert("BeginningArchiveTime".to_string(), beginning_archive_time(context, topic));
    }
    for (name, value) in &settings.opaque {
        if name == "DeliveryPolicy" {
            out.insert("EffectiveDeliveryPolicy".to_string(), value.clone());
        }
        if name != "DataProtectionPolicy" {
            out.insert(name.clone(), value.clone());
        }
    }
    out
}

/// The earliest publication time a replay can start from: the oldest archived publication's,
/// or now when the archive is empty.
fn beginning_archive_time(context: &Context<'_>, topic: &Topic) -> String {
    let engine = context.engine();
    let oldest = crate::archive::find(engine, topic)
        .and_then(|archive| engine.read_after(&archive, 0, 1).ok())
        .and_then(|found| found.first().map(|(meta, _)| meta.sent_ms));
    crate::envelope::timestamp(oldest.unwrap_or_else(|| engine.clock().now_ms()))
}

/// What AWS reports for a topic's delivery policy when none is set.
const DEFAULT_DELIVERY_POLICY: &str = r#"{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},"disableSubscriptionOverrides":false,"defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}}"#;

/// The access policy AWS gives a new topic: its owner's account may use it.
pub fn default_policy(topic_arn: &str, account: &str) -> String {
    json!({
        "Version": "2008-10-17",
        "Id": "__default_policy_ID",
        "Statement": [{
            "Sid": "__default_statement_ID",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": [
                "SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission", "SNS:RemovePermission",
                "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic", "SNS:Publish"
            ],
            "Resource": topic_arn,
            "Condition": {"StringEquals": {"AWS:SourceOwner": account}}
        }]
    })
    .to_string()
}

#[derive(Deserialize)]
pub struct SetAttributeInput {
    #[serde(rename = "TopicArn")]
    topic_arn: Option<String>,
    #[serde(rename = "AttributeName")]
    attribute_name: Option<String>,
    #[serde(rename = "AttributeValue")]
    attribute_value: Option<String>,
}

pub async fn set_attribute(context: &Context<'_>, input: SetAttributeInput) -> Result<Value, SnsError> {
    let topic = context.topic(input.topic_arn.as_deref(), "TopicArn")?;
    let name = required(input.attribute_name.as_deref(), "AttributeName")?;
    if name == "FifoTopic" {
        return Err(SnsError::invalid("AttributeName"));
    }
    let value = input.attribute_value.unwrap_or_default();
    let mut settings = topic.settings();
    apply(&mut settings, &BTreeMap::from([(name.to_string(), value)]))?;
    let archive_days = crate::archive::retention_days(&settings);
    context.engine().update_topic(&topic, |current, _| *current = settings).await?;
    if name == "ArchivePolicy" {
        crate::archive::apply(context.engine(), &topic, archive_days).await?;
    }
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_attributes() {
        assert!(check_topic_name("orders_2-x", false).is_ok());
        assert!(check_topic_name("orders.fifo", true).is_ok());
        assert!(check_topic_name("orders", true).is_err());
        assert!(check_topic_name("has space", false).is_err());
        assert!(check_topic_name(&"t".repeat(257), false).is_err());
        let mut settings = TopicSettings::default();
        apply(&mut settings, &BTreeMap::from([("DisplayName".to_string(), "Shop".to_string())])).unwrap();
        assert_eq!(settings.opaque.get("DisplayName").map(String::as_str), Some("Shop"));
        assert!(apply(&mut settings, &BTreeMap::from([("Bogus".to_string(), "x".to_string())])).is_err());
        assert!(apply(&mut settings, &BTreeMap::from([("ContentBasedDeduplication".to_string(), "true".to_string())]))
            .is_err());
        assert!(apply(&mut settings, &BTreeMap::from([("SignatureVersion".to_string(), "3".to_string())])).is_err());
        let mut fifo = TopicSettings { fifo: true, ..TopicSettings::default() };
        apply(&mut fifo, &BTreeMap::from([("ContentBasedDeduplication".to_string(), "true".to_string())])).unwrap();
        assert!(fifo.content_based_deduplication);
    }
}
