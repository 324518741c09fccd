//! Settings that change no record: resource policies, account settings, the maximum record
//! size, on-demand warm throughput and the record distribution strategy. Each is stored and
//! reported; none of them throttles or reroutes anything.

use super::check_range;
use super::records::MAX_RECORD_SIZE_ATTRIBUTE;
use super::streams::StreamRef;
use super::tags::CONSUMER_ATTRIBUTE_PREFIX;
use crate::error_map::{ErrorKind, KinesisError};
use crate::names;
use crate::protocol::{parse_input, timestamp};
use crate::Context;
use serde::Deserialize;
use serde_json::{json, Value};
use wharf_domain::catalog::{CatalogChange, Entry};
use wharf_domain::StreamState;

const STREAM_POLICY_ATTRIBUTE: &str = "ResourcePolicy";
const CONSUMER_POLICY_PREFIX: &str = "consumer-policy/";
const WARM_THROUGHPUT_ATTRIBUTE: &str = "WarmThroughputMiBps";
const DISTRIBUTION_ATTRIBUTE: &str = "RecordDistributionStrategy";
/// The largest policy document AWS accepts.
const POLICY_CHARS_MAX: usize = 20_480;
const ACCOUNT_CATALOG: &str = "kinesis-account-settings";
/// How long a minimum throughput billing commitment lasts at least once enabled.
const COMMITMENT_MS_MIN: u64 = 24 * 3_600_000;

pub const MAX_RECORD_SIZE_KIB_MIN: i64 = 1024;
pub const MAX_RECORD_SIZE_KIB_MAX: i64 = 10_240;

/// The stream attribute a resource ARN's policy is kept in, and the stream it belongs to.
fn policy_target(context: &Context<'_>, arn: &str) -> Result<(StreamRef, String), KinesisError> {
    if let Some((stream_arn, rest)) = arn.split_once("/consumer/") {
        let (name, _) = rest.rsplit_once(':').ok_or_else(|| invalid_arn(arn))?;
        let stream = StreamRef { stream_name: None, stream_arn: Some(stream_arn.to_string()) };
        let resolved = stream.resolve(context)?;
        if !resolved.lock().attributes.contains_key(&format!("{CONSUMER_ATTRIBUTE_PREFIX}{name}")) {
            return Err(KinesisError::new(ErrorKind::ResourceNotFound, format!("Consumer {name} not found.")));
        }
        return Ok((stream, format!("{CONSUMER_POLICY_PREFIX}{name}")));
    }
    if names::parse_stream_arn(arn).is_none() {
        return Err(invalid_arn(arn));
    }
    Ok((StreamRef { stream_name: None, stream_arn: Some(arn.to_string()) }, STREAM_POLICY_ATTRIBUTE.to_string()))
}

fn invalid_arn(arn: &str) -> KinesisError {
    KinesisError::invalid(format!("Invalid ResourceARN: {arn}"))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PolicyInput {
    #[serde(rename = "ResourceARN")]
    resource_arn: Option<String>,
    policy: Option<String>,
}

pub async fn put_resource_policy(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: PolicyInput = parse_input("PutResourcePolicy", context.request)?;
    let arn = input.resource_arn.ok_or_else(|| KinesisError::missing("resourceARN"))?;
    let policy = input.policy.ok_or_else(|| KinesisError::missing("policy"))?;
    if policy.chars().count() > POLICY_CHARS_MAX {
        return Err(KinesisError::invalid(format!("The policy is longer than {POLICY_CHARS_MAX} characters.")));
    }
    let document: Value = serde_json::from_str(&policy)
        .map_err(|error| KinesisError::invalid(format!("The policy is not a valid JSON document: {error}")))?;
    if !document.is_object() {
        return Err(KinesisError::invalid("The policy must be a JSON object."));
    }
    let (stream, attribute) = policy_target(context, &arn)?;
    let stream = stream.resolve(context)?;
    context
        .engine()
        .change_stream(&stream, |state| {
            state.attributes.insert(attribute, policy);
            Ok(())
        })
        .await?;
    Ok(json!({}))
}

pub fn get_resource_policy(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: PolicyInput = parse_input("GetResourcePolicy", context.request)?;
    let arn = input.resource_arn.ok_or_else(|| KinesisError::missing("resourceARN"))?;
    let (stream, attribute) = policy_target(context, &arn)?;
    let stream = stream.resolve(context)?;
    let policy = stream.lock().attributes.get(&attribute).cloned().unwrap_or_else(|| "{}".to_string());
    Ok(json!({ "Policy": policy }))
}

pub async fn delete_resource_policy(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: PolicyInput = parse_input("DeleteResourcePolicy", context.request)?;
    let arn = input.resource_arn.ok_or_else(|| KinesisError::missing("resourceARN"))?;
    let (stream, attribute) = policy_target(context, &arn)?;
    let stream = stream.resolve(context)?;
    context
        .engine()
        .change_stream(&stream, |state| {
            Ok(match state.attributes.remove(&attribute) {
                Some(_) => Ok(()),
                None => {
                    Err(KinesisError::new(ErrorKind::ResourceNotFound, format!("No resource policy found for {arn}.")))
                }
            })
        })
        .await??;
    Ok(json!({}))
}

/// The account's minimum throughput billing commitment, as stored.
fn commitment_output(entry: Option<&Entry>, now_ms: u64) -> Value {
    let field = |name: &str| entry.and_then(|entry| entry.get(name)).and_then(|value| value.parse::<u64>().ok());
    let (Some(started), Some(earliest)) = (field("started_ms"), field("earliest_end_ms")) else {
        return json!({ "Status": "DISABLED" });
    };
    match field("ended_ms") {
        Some(ended) if ended <= now_ms => {
            json!({ "Status": "DISABLED", "StartedAt": timestamp(started), "EndedAt": timestamp(ended) })
        }
        Some(ended) => json!({
            "Status": "ENABLED_UNTIL_EARLIEST_ALLOWED_END",
            "StartedAt": timestamp(started),
            "EndedAt": timestamp(ended),
            "EarliestAllowedEndAt": timestamp(earliest),
        }),
        None => {
            json!({ "Status": "ENABLED", "StartedAt": timestamp(started), "EarliestAllowedEndAt": timestamp(earliest) })
        }
    }
}

pub fn describe_account_settings(context: &Context<'_>) -> Result<Value, KinesisError> {
    let entry = context.engine().catalog_entry(ACCOUNT_CATALOG, context.account());
    Ok(json!({ "MinimumThroughputBillingCommitment": commitment_output(entry.as_ref(), context.now_ms()) }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CommitmentInput {
    status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AccountSettingsInput {
    minimum_throughput_billing_commitment: Option<CommitmentInput>,
}

pub async fn update_account_settings(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: AccountSettingsInput = parse_input("UpdateAccountSettings", context.request)?;
    let commitment = input
        .minimum_throughput_billing_commitment
        .ok_or_else(|| KinesisError::missing("minimumThroughputBillingCommitment"))?;
    let enable = match commitment.status.as_deref() {
        Some("ENABLED") => true,
        Some("DISABLED") => false,
        Some(other) => {
            return Err(KinesisError::validation(
                other,
                "minimumThroughputBillingCommitment.status",
                "Member must satisfy enum value set: [ENABLED, DISABLED]",
            ))
        }
        None => return Err(KinesisError::missing("minimumThroughputBillingCommitment.status")),
    };
    let now_ms = context.now_ms();
    let account = context.account().to_string();
    let entry = context
        .engine()
        .change_catalog(ACCOUNT_CATALOG, |entries| {
            let current = entries.get(&account).cloned().unwrap_or_default();
            let active = current.contains_key("started_ms")
                && current.get("ended_ms").and_then(|v| v.parse::<u64>().ok()).is_none_or(|ended| ended > now_ms);
            let mut next = current.clone();
            match (enable, active) {
                (true, true) => {
                    next.remove("ended_ms");
                }
                (true, false) => {
                    next = Entry::new();
                    next.insert("started_ms".into(), now_ms.to_string());
                    next.insert("earliest_end_ms".into(), (now_ms + COMMITMENT_MS_MIN).to_string());
                }
                (false, true) => {
                    let earliest = current.get("earliest_end_ms").and_then(|v| v.parse::<u64>().ok()).unwrap_or(now_ms);
                    next.insert("ended_ms".into(), earliest.max(now_ms).to_string());
                }
                (false, false) => {}
            }
            let changes = vec![CatalogChange::Put { key: account.clone(), entry: next.clone() }];
            Ok::<_, KinesisError>((changes, next))
        })
        .await?;
    Ok(json!({ "MinimumThroughputBillingCommitment": commitment_output(Some(&entry), now_ms) }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MaxRecordSizeInput {
    #[serde(flatten)]
    stream: StreamRef,
    max_record_size_in_ki_b: Option<i64>,
}

pub async fn update_max_record_size(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: MaxRecordSizeInput = parse_input("UpdateMaxRecordSize", context.request)?;
    let kib = input.max_record_size_in_ki_b.ok_or_else(|| KinesisError::missing("maxRecordSizeInKiB"))?;
    check_range(kib, "maxRecordSizeInKiB", MAX_RECORD_SIZE_KIB_MIN, MAX_RECORD_SIZE_KIB_MAX)?;
    let stream = input.stream.resolve(context)?;
    context
        .engine()
        .change_stream(&stream, |state| {
            state.attributes.insert(MAX_RECORD_SIZE_ATTRIBUTE.into(), kib.to_string());
            Ok(())
        })
        .await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WarmThroughputInput {
    #[serde(flatten)]
    stream: StreamRef,
    warm_throughput_mi_bps: Option<i64>,
}

pub async fn update_stream_warm_throughput(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: WarmThroughputInput = parse_input("UpdateStreamWarmThroughput", context.request)?;
    let mibps = input.warm_throughput_mi_bps.ok_or_else(|| KinesisError::missing("warmThroughputMiBps"))?;
    check_range(mibps, "warmThroughputMiBps", 0, i64::from(i32::MAX))?;
    let stream = input.stream.resolve(context)?;
    if !stream.lock().on_demand {
        return Err(KinesisError::invalid("Warm throughput can be set only for streams in ON_DEMAND mode."));
    }
    context
        .engine()
        .change_stream(&stream, |state| {
            state.attributes.insert(WARM_THROUGHPUT_ATTRIBUTE.into(), mibps.to_string());
            Ok(())
        })
        .await?;
    Ok(json!({
        "StreamARN": names::stream_arn(context.region(), &stream),
        "StreamName": stream.name,
        "WarmThroughput": { "TargetMiBps": mibps, "CurrentMiBps": mibps },
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DistributionInput {
    #[serde(flatten)]
    stream: StreamRef,
    record_distribution_strategy: Option<String>,
}

pub fn check_distribution_strategy(strategy: &str) -> Result<(), KinesisError> {
    if !matches!(strategy, "AUTO" | "USER_PARTITION_KEY") {
        return Err(KinesisError::validation(
            strategy,
            "recordDistributionStrategy",
            "Member must satisfy enum value set: [AUTO, USER_PARTITION_KEY]",
        ));
    }
    Ok(())
}

pub async fn update_stream_record_distribution_strategy(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: DistributionInput = parse_input("UpdateStreamRecordDistributionStrategy", context.request)?;
    if input.stream.stream_arn.is_none() {
        return Err(KinesisError::missing("streamARN"));
    }
    let strategy =
        input.record_distribution_strategy.ok_or_else(|| KinesisError::missing("recordDistributionStrategy"))?;
    check_distribution_strategy(&strategy)?;
    let stream = input.stream.resolve(context)?;
    context
        .engine()
        .change_stream(&stream, |state| {
            state.attributes.insert(DISTRIBUTION_ATTRIBUTE.into(), strategy);
            Ok(())
        })
        .await?;
    Ok(json!({}))
}

/// The settings DescribeStreamSummary reports.
pub fn summary_fields(state: &StreamState, into: &mut Value) {
    let kib = state.attributes.get(MAX_RECORD_SIZE_ATTRIBUTE).and_then(|v| v.parse::<u64>().ok()).unwrap_or(1024);
    into["MaxRecordSizeInKiB"] = json!(kib);
    if let Some(mibps) = state.attributes.get(WARM_THROUGHPUT_ATTRIBUTE).and_then(|v| v.parse::<u64>().ok()) {
        into["WarmThroughput"] = json!({ "TargetMiBps": mibps, "CurrentMiBps": mibps });
    }
    if let Some(strategy) = state.attributes.get(DISTRIBUTION_ATTRIBUTE) {
        into["RecordDistributionStrategy"] = json!(strategy);
    }
}

/// Applies CreateStream's optional settings to a new stream's attributes.
pub fn creation_attributes(
    max_record_size_kib: Option<i64>,
    warm_throughput_mibps: Option<i64>,
    distribution: Option<&str>,
    on_demand: bool,
) -> Result<std::collections::BTreeMap<String, String>, KinesisError> {
    let mut attributes = std::collections::BTreeMap::new();
    if let Some(kib) = max_record_size_kib {
        check_range(kib, "maxRecordSizeInKiB", MAX_RECORD_SIZE_KIB_MIN, MAX_RECORD_SIZE_KIB_MAX)?;
        attributes.insert(MAX_RECORD_SIZE_ATTRIBUTE.to_string(), kib.to_string());
    }
    if let Some(mibps) = warm_throughput_mibps {
        check_range(mibps, "warmThroughputMiBps", 0, i64::from(i32::MAX))?;
        if !on_demand {
            return Err(KinesisError::invalid("Warm throughput can be set only for streams in ON_DEMAND mode."));
        }
        attributes.insert(WARM_THROUGHPUT_ATTRIBUTE.to_string(), mibps.to_string());
    }
    if let Some(strategy) = distribution {
        check_distribution_strategy(strategy)?;
        attributes.insert(DISTRIBUTION_ATTRIBUTE.to_string(), strategy.to_string());
    }
    Ok(attributes)
}
