//! Queue attributes: applying the names and values clients set (with AWS's ranges and errors)
//! to domain settings, and rendering them for GetQueueAttributes.

use crate::error_map::{ErrorKind, SqsError};
use serde_json::Value;
use std::collections::BTreeMap;
use wharf_aws::arn;
use wharf_domain::{DeadLetterPolicy, Engine, Queue, QueueName, QueueSettings};

pub const MAX_RECEIVE_COUNT_MAX: u32 = 1000;
pub const REDRIVE_ALLOW_SOURCES_MAX: usize = 10;

/// Every attribute name GetQueueAttributes knows for a standard queue, in AWS's order.
pub const READABLE: &[&str] = &[
    "Policy",
    "VisibilityTimeout",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
    "ApproximateNumberOfMessagesDelayed",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "RedrivePolicy",
    "FifoQueue",
    "ContentBasedDeduplication",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "RedriveAllowPolicy",
    "SqsManagedSseEnabled",
];

fn invalid_value(name: &str) -> SqsError {
    SqsError::new(ErrorKind::InvalidAttributeValue, format!("Invalid value for the parameter {name}."))
}

fn unknown(name: &str) -> SqsError {
    SqsError::new(ErrorKind::InvalidAttributeName, format!("Unknown Attribute {name}."))
}

fn ranged(name: &str, value: &str, min: u32, max: u32) -> Result<u32, SqsError> {
    value.trim().parse::<u32>().ok().filter(|number| (min..=max).contains(number)).ok_or_else(|| invalid_value(name))
}

/// The attributes only FIFO queues have (besides `FifoQueue`).
const FIFO_ONLY: &[&str] = &["ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"];

/// Applies client-given attributes to `settings`. `creating` allows the creation-only ones.
pub fn apply(
    settings: &mut QueueSettings,
    attributes: &BTreeMap<String, String>,
    creating: bool,
    caller_account: &str,
) -> Result<(), SqsError> {
    if creating && attributes.get("FifoQueue").is_some_and(|value| value == "true") {
        settings.fifo = true;
    }
    for (name, value) in attributes {
        if FIFO_ONLY.contains(&name.as_str()) && !settings.fifo {
            return Err(unknown(name));
        }
        match name.as_str() {
            "VisibilityTimeout" => settings.visibility_timeout_seconds = ranged(name, value, 0, 43_200)?,
            "DelaySeconds" => settings.delay_seconds = ranged(name, value, 0, 900)?,
            "MaximumMessageSize" => settings.message_bytes_max = ranged(name, value, 1_024, 1_048_576)?,
            "MessageRetentionPeriod" => settings.retention_seconds = ranged(name, value, 60, 1_209_600)?,
            "ReceiveMessageWaitTimeSeconds" => settings.receive_wait_seconds = ranged(name, value, 0, 20)?,
            "RedrivePolicy" => settings.dead_letter = redrive_policy(value, caller_account)?,
            "FifoQueue" if creating => {
                if value != "false" && value != "true" {
                    return Err(invalid_value(name));
                }
            }
            "ContentBasedDeduplication" => {
                settings.content_based_deduplication = value.parse::<bool>().map_err(|_| invalid_value(name))?;
            }
            "DeduplicationScope" => {
                settings.dedup_per_group = match value.as_str() {
                    "queue" => false,
                    "messageGroup" => true,
                    _ => return Err(invalid_value(name)),
                }
            }
            "FifoThroughputLimit" => match value.as_str() {
                "perQueue" | "perMessageGroupId" => set_opaque(settings, name, value),
                _ => return Err(invalid_value(name)),
            },
            "Policy" => {
                if !value.is_empty() && serde_json::from_str::<Value>(value).map_or(true, |policy| !policy.is_object())
                {
                    return Err(invalid_value(name));
                }
                set_opaque(settings, name, value);
            }
            "RedriveAllowPolicy" => {
                check_redrive_allow_policy(value)?;
                set_opaque(settings, name, value);
            }
            "KmsMasterKeyId" => {
                set_opaque(settings, name, value);
                if !value.is_empty() {
                    // A customer key replaces SQS-managed encryption.
                    settings.opaque.insert("SqsManagedSseEnabled".into(), "false".into());
                }
            }
            "KmsDataKeyReusePeriodSeconds" => {
                ranged(name, value, 60, 86_400)?;
                set_opaque(settings, name, value.trim());
            }
            "SqsManagedSseEnabled" => {
                let enabled = value.parse::<bool>().map_err(|_| invalid_value(name))?;
                settings.opaque.insert(name.clone(), enabled.to_string());
                if enabled {
                    settings.opaque.remove("KmsMasterKeyId");
                }
            }
            _ => return Err(unknown(name)),
        }
    }
    if settings.opaque.get("FifoThroughputLimit").is_some_and(|limit| limit == "perMessageGroupId")
        && !settings.dedup_per_group
    {
        return Err(SqsError::new(
            ErrorKind::InvalidAttributeValue,
            "Invalid value for the parameter FifoThroughputLimit. Reason: perMessageGroupId is allowed only when DeduplicationScope is messageGroup.",
        ));
    }
    Ok(())
}

fn set_opaque(settings: &mut QueueSettings, name: &str, value: &str) {
    if value.is_empty() {
        settings.opaque.remove(name);
    } else {
        settings.opaque.insert(name.to_string(), value.to_string());
    }
}

fn redrive_policy(value: &str, caller_account: &str) -> Result<Option<DeadLetterPolicy>, SqsError> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    let invalid = |reason: &str| {
        SqsError::new(
            ErrorKind::InvalidParameterValue,
            format!("Value {value} for parameter RedrivePolicy is invalid. Reason: {reason}"),
        )
    };
    let policy: Value = serde_json::from_str(value).ok().filter(Value::is_object).ok_or_else(|| {
        SqsError::new(
            ErrorKind::InvalidAttributeValue,
            "Invalid value for the parameter RedrivePolicy. Reason: Redrive policy is not a valid JSON map.",
        )
    })?;
    let target = policy
        .get("deadLetterTargetArn")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("Redrive policy does not contain mandatory attribute: deadLetterTargetArn."))?;
    let max_receive_count = match policy.get("maxReceiveCount") {
        Some(Value::Number(number)) => number.as_u64(),
        Some(Value::String(text)) => text.trim().parse::<u64>().ok(),
        None => return Err(invalid("Redrive policy does not contain mandatory attribute: maxReceiveCount.")),
        _ => None,
    }
    .filter(|count| (1..=u64::from(MAX_RECEIVE_COUNT_MAX)).contains(count))
    .ok_or_else(|| invalid("Invalid value for maxReceiveCount: must be an integer from 1 to 1000."))?;
    let parsed = arn::parse(target)
        .filter(|parsed| parsed.service == "sqs" && !parsed.resource.is_empty())
        .ok_or_else(|| invalid("Invalid value for deadLetterTargetArn."))?;
    let account = if parsed.account.is_empty() { caller_account } else { parsed.account };
    Ok(Some(DeadLetterPolicy {
        target: QueueName { account: account.to_string(), name: parsed.resource.to_string() },
        max_receive_count: max_receive_count as u32,
    }))
}

fn check_redrive_allow_policy(value: &str) -> Result<(), SqsError> {
    if value.trim().is_empty() {
        return Ok(());
    }
    let invalid = |reason: &str| {
        SqsError::new(
            ErrorKind::InvalidParameterValue,
            format!("Value {value} for parameter RedriveAllowPolicy is invalid. Reason: {reason}"),
        )
    };
    let policy: Value =
        serde_json::from_str(value).map_err(|_| invalid("Redrive allow policy is not a valid JSON map."))?;
    let permission = policy
        .get("redrivePermission")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("Redrive allow policy does not contain mandatory attribute: redrivePermission."))?;
    let sources = policy.get("sourceQueueArns").and_then(Value::as_array);
    match permission {
        "allowAll" | "denyAll" if sources.is_some_and(|sources| !sources.is_empty()) => {
            Err(invalid("Only byQueue redrive permission allows sourceQueueArns."))
        }
        "allowAll" | "denyAll" => Ok(()),
        "byQueue" => match sources {
            Some(sources) if !sources.is_empty() && sources.len() <= REDRIVE_ALLOW_SOURCES_MAX => Ok(()),
            _ => Err(invalid("byQueue redrive permission requires 1 to 10 sourceQueueArns.")),
        },
        _ => Err(invalid("Invalid value for redrivePermission.")),
    }
}

/// Refuses a dead-letter policy whose target is not of the source's type (FIFO or standard) or
/// whose RedriveAllowPolicy does not admit `source`.
pub fn check_redrive_allowed(
    engine: &Engine,
    region: &str,
    source: &QueueName,
    settings: &QueueSettings,
) -> Result<(), SqsError> {
    let Some(policy) = &settings.dead_letter else { return Ok(()) };
    let Some(target) = engine.queue(&policy.target.account, &policy.target.name) else { return Ok(()) };
    if target.read_settings(|target| target.fifo) != settings.fifo {
        return Err(SqsError::new(
            ErrorKind::InvalidParameterValue,
            format!(
                "Value {} for parameter RedrivePolicy is invalid. Reason: Dead-letter queue must be of the same type as the source queue (FIFO or standard).",
                queue_arn(region, &target)
            ),
        ));
    }
    let Some(allow) =
        target.settings().opaque.get("RedriveAllowPolicy").and_then(|text| serde_json::from_str::<Value>(text).ok())
    else {
        return Ok(());
    };
    let source_arn = arn::format("sqs", region, &source.account, &source.name);
    let allowed = match allow.get("redrivePermission").and_then(Value::as_str) {
        Some("denyAll") => false,
        Some("byQueue") => allow
            .get("sourceQueueArns")
            .and_then(Value::as_array)
            .is_some_and(|sources| sources.iter().any(|arn| arn.as_str() == Some(source_arn.as_str()))),
        _ => true,
    };
    if allowed {
        return Ok(());
    }
    Err(SqsError::new(
        ErrorKind::InvalidParameterValue,
        format!(
            "Value for parameter RedrivePolicy is invalid. Reason: Queue {} does not allow {source_arn} to use it as a dead-letter queue.",
            queue_arn(region, &target)
        ),
    ))
}

pub fn queue_arn(region: &str, queue: &Queue) -> String {
    arn::format("sqs", region, &queue.account, &queue.name)
}

/// Renders the requested attributes (`All` for every one). Unknown names are an error.
pub fn render(
    engine: &Engine,
    queue: &Queue,
    region: &str,
    names: &[String],
) -> Result<BTreeMap<&'static str, String>, SqsError> {
    let mut wanted: Vec<&'static str> = Vec::new();
    for name in names {
        if name == "All" {
            wanted.extend_from_slice(READABLE);
        } else {
            let known = READABLE.iter().find(|known| **known == name.as_str()).ok_or_else(|| unknown(name))?;
            wanted.push(known);
        }
    }
    let settings = queue.settings();
    let counts = engine.counts(queue);
    let mut out = BTreeMap::new();
    for name in wanted {
        let value = match name {
            "VisibilityTimeout" => settings.visibility_timeout_seconds.to_string(),
            "MaximumMessageSize" => settings.message_bytes_max.to_string(),
            "MessageRetentionPeriod" => settings.retention_seconds.to_string(),
            "ApproximateNumberOfMessages" => counts.visible.to_string(),
            "ApproximateNumberOfMessagesNotVisible" => counts.leased.to_string(),
            "ApproximateNumberOfMessagesDelayed" => counts.delayed.to_string(),
            "CreatedTimestamp" => (queue.created_ms / 1000).to_string(),
            "LastModifiedTimestamp" => (queue.modified_ms() / 1000).to_string(),
            "QueueArn" => queue_arn(region, queue),
            "DelaySeconds" => settings.delay_seconds.to_string(),
            "ReceiveMessageWaitTimeSeconds" => settings.receive_wait_seconds.to_string(),
            "RedrivePolicy" => match &settings.dead_letter {
                Some(policy) => serde_json::json!({
                    "deadLetterTargetArn": arn::format("sqs", region, &policy.target.account, &policy.target.name),
                    "maxReceiveCount": policy.max_receive_count,
                })
                .to_string(),
                None => continue,
            },
            "SqsManagedSseEnabled" => settings
                .opaque
                .get(name)
                .cloned()
                .unwrap_or_else(|| (!settings.opaque.contains_key("KmsMasterKeyId")).to_string()),
            // FIFO attributes exist only on FIFO queues.
            "FifoQueue" | "ContentBasedDeduplication" | "DeduplicationScope" | "FifoThroughputLimit"
                if !settings.fifo =>
            {
                continue
            }
            "FifoQueue" => "true".to_string(),
            "ContentBasedDeduplication" => settings.content_based_deduplication.to_string(),
            "DeduplicationScope" => (if settings.dedup_per_group { "messageGroup" } else { "queue" }).to_string(),
            "FifoThroughputLimit" => settings.opaque.get(name).cloned().unwrap_or_else(|| "perQueue".to_string()),
            other => match settings.opaque.get(other) {
                Some(value) => value.clone(),
                None => continue,
            },
        };
        out.insert(name, value);
    }
    Ok(out)
}

/// Whether every given attribute already has the given value on `queue` (CreateQueue's
/// idempotence rule).
pub fn matches(queue: &Queue, attributes: &BTreeMap<String, String>, caller_account: &str) -> Result<bool, SqsError> {
    let current = queue.settings();
    let mut requested = current.clone();
    apply(&mut requested, attributes, true, caller_account)?;
    Ok(requested == current)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn ranges_and_names() {
        let mut settings = QueueSettings::default();
        apply(&mut settings, &attrs(&[("VisibilityTimeout", "60"), ("DelaySeconds", "900")]), false, "a").unwrap();
        assert_eq!((settings.visibility_timeout_seconds, settings.delay_seconds), (60, 900));
        for (name, value) in [
            ("VisibilityTimeout", "43201"),
            ("DelaySeconds", "-1"),
            ("MaximumMessageSize", "1023"),
            ("MaximumMessageSize", "1048577"),
            ("MessageRetentionPeriod", "59"),
            ("ReceiveMessageWaitTimeSeconds", "21"),
            ("KmsDataKeyReusePeriodSeconds", "59"),
            ("VisibilityTimeout", "abc"),
        ] {
            let error = apply(&mut settings, &attrs(&[(name, value)]), false, "a").unwrap_err();
            assert_eq!(error.kind, ErrorKind::InvalidAttributeValue, "{name}={value}");
            assert_eq!(error.message, format!("Invalid value for the parameter {name}."));
        }
        let error = apply(&mut settings, &attrs(&[("Bogus", "1")]), false, "a").unwrap_err();
        assert_eq!((error.kind, error.message.as_str()), (ErrorKind::InvalidAttributeName, "Unknown Attribute Bogus."));
        assert_eq!(
            apply(&mut settings, &attrs(&[("FifoQueue", "false")]), false, "a").unwrap_err().kind,
            ErrorKind::InvalidAttributeName
        );
    }

    #[test]
    fn redrive_policies() {
        let policy = redrive_policy(
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":"3"}"#,
            "a",
        )
        .unwrap()
        .unwrap();
        assert_eq!(policy.max_receive_count, 3);
        assert_eq!(policy.target.name, "dlq");
        assert!(redrive_policy(r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:0:dlq","maxReceiveCount":0}"#, "a")
            .is_err());
        assert!(redrive_policy(r#"{"maxReceiveCount":1}"#, "a").is_err());
        assert_eq!(redrive_policy("not json", "a").unwrap_err().kind, ErrorKind::InvalidAttributeValue);
        assert_eq!(redrive_policy("", "a").unwrap(), None);
        assert!(check_redrive_allow_policy(
            r#"{"redrivePermission":"byQueue","sourceQueueArns":["arn:aws:sqs:r:a:q"]}"#
        )
        .is_ok());
        assert!(check_redrive_allow_policy(r#"{"redrivePermission":"byQueue"}"#).is_err());
        assert!(check_redrive_allow_policy(r#"{"redrivePermission":"sometimes"}"#).is_err());
    }
}
