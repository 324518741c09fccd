//! Stream lifecycle and settings: create, delete, describe, list, retention, capacity mode,
//! encryption, enhanced monitoring and the account's limits.

use super::check_range;
use crate::error_map::{ErrorKind, KinesisError};
use crate::names::{self, shard_id};
use crate::protocol::{parse_input, timestamp};
use crate::Context;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use wharf_domain::{NewStream, Shard, Stream, StreamState};

pub const RETENTION_HOURS_MIN: i64 = 24;
pub const RETENTION_HOURS_MAX: i64 = 8760;
/// Open shards an account may have (AWS's default in its largest regions).
pub const SHARD_LIMIT: usize = 20_000;
/// On-demand streams an account may have.
pub const ON_DEMAND_STREAM_LIMIT: usize = 50;
/// Shards an on-demand stream starts with (4 MB/s of write capacity).
pub const ON_DEMAND_INITIAL_SHARDS: u32 = 4;
const HOUR_MS: u64 = 3_600_000;

pub const ENCRYPTION_TYPE_ATTRIBUTE: &str = "EncryptionType";
pub const KEY_ID_ATTRIBUTE: &str = "KeyId";
const SHARD_LEVEL_METRICS_ATTRIBUTE: &str = "ShardLevelMetrics";
const SHARD_LEVEL_METRICS: &[&str] = &[
    "IncomingBytes",
    "IncomingRecords",
    "OutgoingBytes",
    "OutgoingRecords",
    "WriteProvisionedThroughputExceeded",
    "ReadProvisionedThroughputExceeded",
    "IteratorAgeMilliseconds",
];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamRef {
    pub stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    pub stream_arn: Option<String>,
}

impl StreamRef {
    pub fn resolve(&self, context: &Context<'_>) -> Result<std::sync::Arc<Stream>, KinesisError> {
        context.stream(self.stream_name.as_deref(), self.stream_arn.as_deref())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ModeDetails {
    stream_mode: Option<String>,
}

fn parse_mode(details: &ModeDetails) -> Result<bool, KinesisError> {
    match details.stream_mode.as_deref() {
        Some("PROVISIONED") => Ok(false),
        Some("ON_DEMAND") => Ok(true),
        Some(other) => Err(KinesisError::validation(
            other,
            "streamModeDetails.streamMode",
            "Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]",
        )),
        None => Err(KinesisError::missing("streamModeDetails.streamMode")),
    }
}

fn mode_details(state: &StreamState) -> Value {
    json!({ "StreamMode": if state.on_demand { "ON_DEMAND" } else { "PROVISIONED" } })
}

pub fn encryption_type(state: &StreamState) -> &str {
    state.attributes.get(ENCRYPTION_TYPE_ATTRIBUTE).map_or("NONE", String::as_str)
}

fn shard_level_metrics(state: &StreamState) -> Vec<String> {
    state
        .attributes
        .get(SHARD_LEVEL_METRICS_ATTRIBUTE)
        .map(|list| list.split(',').filter(|name| !name.is_empty()).map(str::to_string).collect())
        .unwrap_or_default()
}

fn retention_hours(state: &StreamState) -> u64 {
    state.retention_ms / HOUR_MS
}

fn open_shard_count(context: &Context<'_>) -> usize {
    context.engine().list_streams(context.account()).iter().map(|stream| stream.lock().open_shards().count()).sum()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateStreamInput {
    stream_name: Option<String>,
    shard_count: Option<i64>,
    stream_mode_details: Option<ModeDetails>,
    tags: Option<BTreeMap<String, String>>,
    max_record_size_in_ki_b: Option<i64>,
    warm_throughput_mi_bps: Option<i64>,
    record_distribution_strategy: Option<String>,
}

pub async fn create_stream(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: CreateStreamInput = parse_input("CreateStream", context.request)?;
    let name = input.stream_name.ok_or_else(|| KinesisError::missing("streamName"))?;
    names::check_stream_name(&name, "streamName")?;
    let on_demand = match &input.stream_mode_details {
        Some(details) => parse_mode(details)?,
        None => false,
    };
    let shard_count = match (input.shard_count, on_demand) {
        (Some(count), _) => {
            check_range(count, "shardCount", 1, 100_000)?;
            count as u32
        }
        (None, true) => ON_DEMAND_INITIAL_SHARDS,
        (None, false) => {
            return Err(KinesisError::invalid("ShardCount is required for a stream in PROVISIONED mode."));
        }
    };
    let tags = input.tags.unwrap_or_default();
    super::tags::check_tags(&tags)?;
    let attributes = super::settings::creation_attributes(
        input.max_record_size_in_ki_b,
        input.warm_throughput_mi_bps,
        input.record_distribution_strategy.as_deref(),
        on_demand,
    )?;
    if open_shard_count(context) + shard_count as usize > SHARD_LIMIT {
        return Err(KinesisError::new(
            ErrorKind::LimitExceeded,
            format!(
                "This request would exceed the shard limit for the account {} in {}. Current shard count for the account: {}. Limit: {SHARD_LIMIT}. Number of additional shards that would have resulted from this request: {shard_count}.",
                context.account(),
                context.region(),
                open_shard_count(context)
            ),
        ));
    }
    if on_demand {
        let streams = context.engine().list_streams(context.account());
        if streams.iter().filter(|stream| stream.lock().on_demand).count() >= ON_DEMAND_STREAM_LIMIT {
            return Err(KinesisError::new(
                ErrorKind::LimitExceeded,
                format!("The account already has {ON_DEMAND_STREAM_LIMIT} streams in ON_DEMAND mode."),
            ));
        }
    }
    let new =
        NewStream { shard_count, on_demand, retention_ms: RETENTION_HOURS_MIN as u64 * HOUR_MS, tags, attributes };
    match context.engine().create_stream(context.account(), &name, new).await {
        Ok(_) => Ok(json!({})),
        Err(wharf_domain::DomainError::StreamAlreadyExists) => Err(KinesisError::new(
            ErrorKind::ResourceInUse,
            format!("Stream {name} under account {} already exists.", context.account()),
        )),
        Err(error) => Err(error.into()),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteStreamInput {
    #[serde(flatten)]
    stream: StreamRef,
    enforce_consumer_deletion: Option<bool>,
}

pub async fn delete_stream(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: DeleteStreamInput = parse_input("DeleteStream", context.request)?;
    let stream = input.stream.resolve(context)?;
    super::channels::check_no_channels(context, &stream, "deleted")?;
    super::consumers::check_deletable(context.engine(), &stream, input.enforce_consumer_deletion.unwrap_or(false))?;
    context.engine().delete_stream(&stream).await?;
    Ok(json!({}))
}

fn shard_description(shard: &Shard) -> Value {
    let mut description = json!({
        "ShardId": shard_id(shard.index),
        "HashKeyRange": {
            "StartingHashKey": shard.hash_start.to_string(),
            "EndingHashKey": shard.hash_end.to_string(),
        },
        "SequenceNumberRange": {
            "StartingSequenceNumber": names::sequence_number(shard.log, shard.starting_position),
        },
    });
    if let Some(parent) = shard.parent {
        description["ParentShardId"] = json!(shard_id(parent));
    }
    if let Some(adjacent) = shard.adjacent_parent {
        description["AdjacentParentShardId"] = json!(shard_id(adjacent));
    }
    if let Some(ending) = shard.ending_position {
        description["SequenceNumberRange"]["EndingSequenceNumber"] = json!(names::sequence_number(shard.log, ending));
    }
    description
}

pub fn shard_descriptions<'a>(shards: impl Iterator<Item = &'a Shard>) -> Vec<Value> {
    shards.map(shard_description).collect()
}

fn encryption_fields(state: &StreamState, into: &mut Value) {
    into["EncryptionType"] = json!(encryption_type(state));
    if let Some(key) = state.attributes.get(KEY_ID_ATTRIBUTE) {
        into["KeyId"] = json!(key);
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeStreamInput {
    #[serde(flatten)]
    stream: StreamRef,
    limit: Option<i64>,
    exclusive_start_shard_id: Option<String>,
}

pub fn describe_stream(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: DescribeStreamInput = parse_input("DescribeStream", context.request)?;
    let limit = input.limit.unwrap_or(100);
    check_range(limit, "limit", 1, 10_000)?;
    let stream = input.stream.resolve(context)?;
    let state = stream.lock();
    let after = match input.exclusive_start_shard_id.as_deref() {
        Some(id) => Some(names::parse_shard_id(id).ok_or_else(|| {
            KinesisError::validation(
                id,
                "exclusiveStartShardId",
                "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
            )
        })?),
        None => None,
    };
    let remaining: Vec<&Shard> =
        state.shards.iter().filter(|shard| after.is_none_or(|after| shard.index > after)).collect();
    let page = &remaining[..remaining.len().min(limit as usize)];
    let mut description = json!({
        "StreamName": stream.name,
        "StreamARN": names::stream_arn(context.region(), &stream),
        "StreamStatus": "ACTIVE",
        "StreamModeDetails": mode_details(&state),
        "Shards": shard_descriptions(page.iter().copied()),
        "HasMoreShards": remaining.len() > page.len(),
        "RetentionPeriodHours": retention_hours(&state),
        "StreamCreationTimestamp": timestamp(stream.created_ms),
        "EnhancedMonitoring": [{ "ShardLevelMetrics": shard_level_metrics(&state) }],
    });
    encryption_fields(&state, &mut description);
    Ok(json!({ "StreamDescription": description }))
}

pub fn describe_stream_summary(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: StreamRef = parse_input("DescribeStreamSummary", context.request)?;
    let stream = input.resolve(context)?;
    let state = stream.lock();
    let consumers = super::tags::consumer_count(&state);
    let queues = super::queues::queues_on_stream(context.engine(), &stream);
    let mut summary = json!({
        "StreamName": stream.name,
        "StreamARN": names::stream_arn(context.region(), &stream),
        "StreamStatus": "ACTIVE",
        "StreamModeDetails": mode_details(&state),
        "RetentionPeriodHours": retention_hours(&state),
        "StreamCreationTimestamp": timestamp(stream.created_ms),
        "EnhancedMonitoring": [{ "ShardLevelMetrics": shard_level_metrics(&state) }],
        "OpenShardCount": state.open_shards().count(),
        "ConsumerCount": consumers,
        "QueueCount": queues,
        "ChannelCount": super::channels::channel_count(context, &names::stream_arn(context.region(), &stream)),
    });
    encryption_fields(&state, &mut summary);
    super::settings::summary_fields(&state, &mut summary);
    Ok(json!({ "StreamDescriptionSummary": summary }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListStreamsInput {
    limit: Option<i64>,
    exclusive_start_stream_name: Option<String>,
    next_token: Option<String>,
}

/// ListStreams returns at most this many names whatever its Limit, as on AWS.
const LIST_STREAMS_PAGE_MAX: i64 = 100;

pub fn list_streams(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: ListStreamsInput = parse_input("ListStreams", context.request)?;
    let limit = input.limit.unwrap_or(LIST_STREAMS_PAGE_MAX);
    check_range(limit, "limit", 1, 10_000)?;
    let limit = limit.min(LIST_STREAMS_PAGE_MAX);
    // The next token is the last name of the previous page: names are unique and sorted.
    let after = input.next_token.or(input.exclusive_start_stream_name);
    let streams = context.engine().list_streams(context.account());
    let remaining: Vec<_> =
        streams.iter().filter(|stream| after.as_deref().is_none_or(|after| stream.name.as_str() > after)).collect();
    let page = &remaining[..remaining.len().min(limit as usize)];
    let summaries: Vec<Value> = page
        .iter()
        .map(|stream| {
            let state = stream.lock();
            json!({
                "StreamName": stream.name,
                "StreamARN": names::stream_arn(context.region(), stream),
                "StreamStatus": "ACTIVE",
                "StreamModeDetails": mode_details(&state),
                "StreamCreationTimestamp": timestamp(stream.created_ms),
            })
        })
        .collect();
    let has_more = remaining.len() > page.len();
    let mut output = json!({
        "StreamNames": page.iter().map(|stream| stream.name.clone()).collect::<Vec<_>>(),
        "HasMoreStreams": has_more,
        "StreamSummaries": summaries,
    });
    if has_more {
        if let Some(last) = page.last() {
            output["NextToken"] = json!(last.name);
        }
    }
    Ok(output)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RetentionInput {
    #[serde(flatten)]
    stream: StreamRef,
    retention_period_hours: Option<i64>,
}

pub async fn change_retention(context: &Context<'_>, increase: bool) -> Result<Value, KinesisError> {
    let operation = if increase { "IncreaseStreamRetentionPeriod" } else { "DecreaseStreamRetentionPeriod" };
    let input: RetentionInput = parse_input(operation, context.request)?;
    // The model puts no range on the period: every out-of-range value is the service's own
    // InvalidArgumentException below.
    let hours = input.retention_period_hours.ok_or_else(|| KinesisError::missing("retentionPeriodHours"))?;
    let stream = input.stream.resolve(context)?;
    let name = stream.name.clone();
    context
        .engine()
        .change_stream(&stream, |state| {
            let current = retention_hours(state) as i64;
            let out_of_range = !(RETENTION_HOURS_MIN..=RETENTION_HOURS_MAX).contains(&hours);
            let wrong_way = if increase { hours < current } else { hours > current };
            if out_of_range {
                return Ok(Err(KinesisError::invalid(format!(
                    "Minimum allowed retention period is {RETENTION_HOURS_MIN} hours. Maximum allowed retention period is {RETENTION_HOURS_MAX} hours. Requested retention period ({hours} hours) is {} the {} retention period.",
                    if hours < RETENTION_HOURS_MIN { "too short" } else { "too long" },
                    if hours < RETENTION_HOURS_MIN { "minimum" } else { "maximum" },
                ))));
            }
            if wrong_way {
                let (relation, other) = if increase { ("shorter", "Decrease") } else { ("longer", "Increase") };
                return Ok(Err(KinesisError::invalid(format!(
                    "Requested retention period ({hours} hours) for stream {name} can not be {relation} than existing retention period ({current} hours). Use {other}RetentionPeriod API."
                ))));
            }
            state.retention_ms = hours as u64 * HOUR_MS;
            Ok(Ok(()))
        })
        .await??;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateStreamModeInput {
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    stream_mode_details: Option<ModeDetails>,
}

pub async fn update_stream_mode(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: UpdateStreamModeInput = parse_input("UpdateStreamMode", context.request)?;
    let arn = input.stream_arn.ok_or_else(|| KinesisError::missing("streamARN"))?;
    let on_demand =
        parse_mode(input.stream_mode_details.as_ref().ok_or_else(|| KinesisError::missing("streamModeDetails"))?)?;
    let stream = context.stream(None, Some(&arn))?;
    if !on_demand {
        super::queues::check_no_queues(context.engine(), &stream, "switched to PROVISIONED")?;
    }
    context
        .engine()
        .change_stream(&stream, |state| {
            state.on_demand = on_demand;
            Ok(())
        })
        .await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EncryptionInput {
    #[serde(flatten)]
    stream: StreamRef,
    encryption_type: Option<String>,
    key_id: Option<String>,
}

fn check_encryption(input: &EncryptionInput) -> Result<String, KinesisError> {
    match input.encryption_type.as_deref() {
        Some("KMS") => {}
        Some(other) => {
            return Err(KinesisError::validation(
                other,
                "encryptionType",
                "Member must satisfy enum value set: [KMS, NONE]",
            ));
        }
        None => return Err(KinesisError::missing("encryptionType")),
    }
    let key = input.key_id.clone().ok_or_else(|| KinesisError::missing("keyId"))?;
    if key.is_empty() || key.len() > 2048 {
        return Err(KinesisError::validation(
            &key,
            "keyId",
            "Member must have length less than or equal to 2048 and greater than or equal to 1",
        ));
    }
    Ok(key)
}

pub async fn start_stream_encryption(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: EncryptionInput = parse_input("StartStreamEncryption", context.request)?;
    let key = check_encryption(&input)?;
    let stream = input.stream.resolve(context)?;
    context
        .engine()
        .change_stream(&stream, |state| {
            state.attributes.insert(ENCRYPTION_TYPE_ATTRIBUTE.into(), "KMS".into());
            state.attributes.insert(KEY_ID_ATTRIBUTE.into(), key);
            Ok(())
        })
        .await?;
    Ok(json!({}))
}

pub async fn stop_stream_encryption(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: EncryptionInput = parse_input("StopStreamEncryption", context.request)?;
    check_encryption(&input)?;
    let stream = input.stream.resolve(context)?;
    context
        .engine()
        .change_stream(&stream, |state| {
            state.attributes.remove(ENCRYPTION_TYPE_ATTRIBUTE);
            state.attributes.remove(KEY_ID_ATTRIBUTE);
            Ok(())
        })
        .await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MonitoringInput {
    #[serde(flatten)]
    stream: StreamRef,
    shard_level_metrics: Option<Vec<String>>,
}

pub async fn change_monitoring(context: &Context<'_>, enable: bool) -> Result<Value, KinesisError> {
    let operation = if enable { "EnableEnhancedMonitoring" } else { "DisableEnhancedMonitoring" };
    let input: MonitoringInput = parse_input(operation, context.request)?;
    let requested = input.shard_level_metrics.ok_or_else(|| KinesisError::missing("shardLevelMetrics"))?;
    if requested.is_empty() || requested.len() > 7 {
        return Err(KinesisError::validation(
            &format!("[{}]", requested.join(", ")),
            "shardLevelMetrics",
            "Member must have length less than or equal to 7 and greater than or equal to 1",
        ));
    }
    for metric in &requested {
        if metric != "ALL" && !SHARD_LEVEL_METRICS.contains(&metric.as_str()) {
            return Err(KinesisError::validation(
                &format!("[{}]", requested.join(", ")),
                "shardLevelMetrics",
                "Member must satisfy constraint: [Member must satisfy enum value set: [IncomingBytes, OutgoingRecords, IteratorAgeMilliseconds, IncomingRecords, ReadProvisionedThroughputExceeded, WriteProvisionedThroughputExceeded, OutgoingBytes, ALL]]",
            ));
        }
    }
    let expanded: Vec<&str> = if requested.iter().any(|metric| metric == "ALL") {
        SHARD_LEVEL_METRICS.to_vec()
    } else {
        requested.iter().map(String::as_str).collect()
    };
    let stream = input.stream.resolve(context)?;
    let (current, desired) = context
        .engine()
        .change_stream(&stream, |state| {
            let current = shard_level_metrics(state);
            let mut desired: Vec<String> = SHARD_LEVEL_METRICS
                .iter()
                .filter(|metric| {
                    let was = current.iter().any(|name| name == *metric);
                    let named = expanded.contains(metric);
                    if enable {
                        was || named
                    } else {
                        was && !named
                    }
                })
                .map(|metric| metric.to_string())
                .collect();
            desired.dedup();
            state.attributes.insert(SHARD_LEVEL_METRICS_ATTRIBUTE.into(), desired.join(","));
            Ok((current, desired))
        })
        .await?;
    Ok(json!({
        "StreamName": stream.name,
        "StreamARN": names::stream_arn(context.region(), &stream),
        "CurrentShardLevelMetrics": current,
        "DesiredShardLevelMetrics": desired,
    }))
}

pub fn describe_limits(context: &Context<'_>) -> Result<Value, KinesisError> {
    let streams = context.engine().list_streams(context.account());
    let on_demand = streams.iter().filter(|stream| stream.lock().on_demand).count();
    Ok(json!({
        "ShardLimit": SHARD_LIMIT,
        "OpenShardCount": open_shard_count(context),
        "OnDemandStreamCount": on_demand,
        "OnDemandStreamCountLimit": ON_DEMAND_STREAM_LIMIT,
    }))
}
