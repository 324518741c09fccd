//! Stream queues: a queue delivers a stream's records to consumers one by one, with visibility
//! timeouts, acknowledgements and built-in dead-letter handling (CreateQueue, ReceiveQueueRecords,
//! AcknowledgeQueueRecords and the dead-letter operations).
//!
//! Each Kinesis queue is two domain queues in the internal account — its records and its
//! dead-letter records — so visibility, redelivery, receive counts and the move to dead letter
//! after `MaxReceiveCount` receives are the same engine SQS uses. `queue_feeder` copies the
//! stream's records in.
//!
//! The queue's description lives in the catalog `kinesis-queues`, keyed `<account>/<name>`.

use super::check_range;
use super::records::starting_position;
use crate::error_map::{ErrorKind, KinesisError};
use crate::names;
use crate::protocol::{encode_blob, parse_input, timestamp};
use crate::Context;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use wharf_aws::token::{self, TokenKey};
use wharf_domain::catalog::{CatalogChange, Entry};
use wharf_domain::{
    DeadLetterPolicy, Engine, LeaseRef, MessageContent, NewMessage, Queue, QueueName, QueueSettings, ReceiveRequest,
    Stream,
};

pub(super) const QUEUE_CATALOG: &str = "kinesis-queues";
pub(super) const CURSOR_CATALOG: &str = "kinesis-queue-cursors";
/// The account the domain queues behind Kinesis queues live in; no client can name it.
pub const INTERNAL_ACCOUNT: &str = "wharf-internal";
const DEFAULT_VISIBILITY_SECONDS: i64 = 30;
const VISIBILITY_SECONDS_MAX: i64 = 43_200;
const DEFAULT_MAX_RECEIVE_COUNT: i64 = 6;
const RECEIVE_LIMIT_MAX: i64 = 10;
const DEFAULT_WAIT_SECONDS: i64 = 9;
const WAIT_SECONDS_MAX: i64 = 20;
const ENTRIES_MAX: usize = 10;
const QUEUE_NAME_CHARS_MAX: usize = 128;
const RECEIPT_PURPOSE: &str = "kinesis-queue-receipt";
const DEAD_LETTER_RECEIPT_PURPOSE: &str = "kinesis-queue-dead-letter-receipt";
const RECEIPT_CHARS_MAX: usize = 1024;
/// The largest record a queue carries (the largest a stream accepts).
const QUEUE_MESSAGE_BYTES_MAX: u32 = 11 * 1024 * 1024;

/// A queue's description, as kept in its catalog entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct QueueSpec {
    pub(super) account: String,
    pub(super) name: String,
    pub(super) created_ms: u64,
    pub(super) stream_account: String,
    pub(super) stream_name: String,
    pub(super) stream_created_ms: u64,
    /// TRIM_HORIZON, LATEST or AT_TIMESTAMP, and the timestamp for the last.
    pub(super) start_type: String,
    pub(super) start_ms: Option<u64>,
    pub(super) visibility_seconds: u32,
    /// None: dead-letter handling off (TargetType NONE).
    pub(super) max_receive_count: Option<u32>,
    pub(super) tags: BTreeMap<String, String>,
}

impl QueueSpec {
    pub(super) fn key(&self) -> String {
        format!("{}/{}", self.account, self.name)
    }

    pub(super) fn to_entry(&self) -> Entry {
        let mut entry = Entry::new();
        let mut put = |name: &str, value: String| {
            entry.insert(name.to_string(), value);
        };
        put("account", self.account.clone());
        put("name", self.name.clone());
        put("created_ms", self.created_ms.to_string());
        put("stream_account", self.stream_account.clone());
        put("stream_name", self.stream_name.clone());
        put("stream_created_ms", self.stream_created_ms.to_string());
        put("start_type", self.start_type.clone());
        if let Some(start_ms) = self.start_ms {
            put("start_ms", start_ms.to_string());
        }
        put("visibility_seconds", self.visibility_seconds.to_string());
        if let Some(count) = self.max_receive_count {
            put("max_receive_count", count.to_string());
        }
        for (key, value) in &self.tags {
            entry.insert(format!("tag/{key}"), value.clone());
        }
        entry
    }

    pub(super) fn from_entry(entry: &Entry) -> Option<QueueSpec> {
        let text = |name: &str| entry.get(name).cloned();
        let number = |name: &str| entry.get(name).and_then(|value| value.parse::<u64>().ok());
        Some(QueueSpec {
            account: text("account")?,
            name: text("name")?,
            created_ms: number("created_ms")?,
            stream_account: text("stream_account")?,
            stream_name: text("stream_name")?,
            stream_created_ms: number("stream_created_ms")?,
            start_type: text("start_type")?,
            start_ms: number("start_ms"),
            visibility_seconds: u32::try_from(number("visibility_seconds")?).ok()?,
            max_receive_count: number("max_receive_count").and_then(|count| u32::try_from(count).ok()),
            tags: entry
                .iter()
                .filter_map(|(key, value)| Some((key.strip_prefix("tag/")?.to_string(), value.clone())))
                .collect(),
        })
    }

    pub(super) fn records_queue_name(&self) -> String {
        format!("kinesis-queue/{}/{}/{}", self.account, self.name, self.created_ms)
    }

    pub(super) fn dead_letter_queue_name(&self) -> String {
        format!("kinesis-queue-dead-letter/{}/{}/{}", self.account, self.name, self.created_ms)
    }

    fn arn(&self, region: &str) -> String {
        wharf_aws::arn::format("kinesis", region, &self.account, &format!("queue/{}", self.name))
    }

    fn stream_arn(&self, region: &str) -> String {
        wharf_aws::arn::format("kinesis", region, &self.stream_account, &format!("stream/{}", self.stream_name))
    }

    /// The two domain queues' settings: the records queue moves a record to the dead-letter
    /// queue after `max_receive_count` receives; both keep records as long as the stream does.
    fn settings(&self, retention_ms: u64) -> (QueueSettings, QueueSettings) {
        let retention_seconds = u32::try_from(retention_ms / 1000).unwrap_or(u32::MAX);
        let dead_letter = QueueSettings {
            visibility_timeout_seconds: self.visibility_seconds,
            message_bytes_max: QUEUE_MESSAGE_BYTES_MAX,
            retention_seconds,
            ..QueueSettings::default()
        };
        let records = QueueSettings {
            dead_letter: self.max_receive_count.map(|max_receive_count| DeadLetterPolicy {
                target: QueueName { account: INTERNAL_ACCOUNT.to_string(), name: self.dead_letter_queue_name() },
                max_receive_count,
            }),
            ..dead_letter.clone()
        };
        (records, dead_letter)
    }
}

fn queue_not_found(arn: &str) -> KinesisError {
    KinesisError::new(ErrorKind::ResourceNotFound, format!("Queue {arn} not found."))
}

/// The queue a queue ARN names.
fn find_queue(context: &Context<'_>, arn: Option<&str>) -> Result<QueueSpec, KinesisError> {
    let arn = arn.ok_or_else(|| KinesisError::missing("queueARN"))?;
    let parsed = wharf_aws::arn::parse(arn).filter(|parsed| parsed.service == "kinesis");
    let (account, name) = parsed
        .and_then(|parsed| Some((parsed.account.to_string(), parsed.resource.strip_prefix("queue/")?.to_string())))
        .ok_or_else(|| {
            KinesisError::validation(
                arn,
                "queueARN",
                "Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:queue/\\S+",
            )
        })?;
    context.check_account(&account)?;
    context
        .engine()
        .catalog_entry(QUEUE_CATALOG, &format!("{account}/{name}"))
        .and_then(|entry| QueueSpec::from_entry(&entry))
        .ok_or_else(|| queue_not_found(arn))
}

/// The domain queue behind a Kinesis queue: its records, or its dead-letter records.
fn domain_queue(context: &Context<'_>, spec: &QueueSpec, dead_letter: bool) -> Result<Arc<Queue>, KinesisError> {
    let name = if dead_letter { spec.dead_letter_queue_name() } else { spec.records_queue_name() };
    context.engine().queue(INTERNAL_ACCOUNT, &name).ok_or_else(|| queue_not_found(&spec.arn(context.region())))
}

/// The Kinesis queues on a stream, for the stream summary's count and the deletion check.
pub fn queues_on_stream(engine: &Engine, stream: &Stream) -> usize {
    engine
        .catalog_entries(QUEUE_CATALOG, "", None, usize::MAX)
        .iter()
        .filter_map(|(_, entry)| QueueSpec::from_entry(entry))
        .filter(|spec| {
            spec.stream_account == stream.account
                && spec.stream_name == stream.name
                && spec.stream_created_ms == stream.created_ms
        })
        .count()
}

/// Refuses a change (deleting the stream, leaving ON_DEMAND) while queues read the stream.
pub fn check_no_queues(engine: &Engine, stream: &Stream, change: &str) -> Result<(), KinesisError> {
    let queues = queues_on_stream(engine, stream);
    if queues > 0 {
        return Err(KinesisError::new(
            ErrorKind::ResourceInUse,
            format!("Stream {} has {queues} queues; delete them before the stream can be {change}.", stream.name),
        ));
    }
    Ok(())
}

fn description(context: &Context<'_>, spec: &QueueSpec) -> Value {
    let mut start = json!({ "Type": spec.start_type });
    if let Some(start_ms) = spec.start_ms {
        start["Timestamp"] = timestamp(start_ms);
    }
    let dead_letter = match spec.max_receive_count {
        Some(count) => json!({ "TargetType": "BUILT_IN", "MaxReceiveCount": count }),
        None => json!({ "TargetType": "NONE" }),
    };
    json!({
        "QueueName": spec.name,
        "QueueARN": spec.arn(context.region()),
        "QueueStatus": "ACTIVE",
        "QueueCreationTimestamp": timestamp(spec.created_ms),
        "StreamConfigurationList": [{ "StreamARN": spec.stream_arn(context.region()), "StartingPosition": start }],
        "QueueAttributes": {
            "VisibilityTimeoutSeconds": spec.visibility_seconds,
            "DeadLetterConfiguration": dead_letter,
        },
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeadLetterInput {
    target_type: Option<String>,
    max_receive_count: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttributesInput {
    visibility_timeout_seconds: Option<i64>,
    dead_letter_configuration: Option<DeadLetterInput>,
}

/// Applies queue attributes to a spec, checking each against the model.
fn apply_attributes(spec: &mut QueueSpec, attributes: &AttributesInput) -> Result<(), KinesisError> {
    if let Some(seconds) = attributes.visibility_timeout_seconds {
        check_range(seconds, "queueAttributes.visibilityTimeoutSeconds", 0, VISIBILITY_SECONDS_MAX)?;
        spec.visibility_seconds = seconds as u32;
    }
    if let Some(dead_letter) = &attributes.dead_letter_configuration {
        match dead_letter.target_type.as_deref() {
            Some("BUILT_IN") => {
                let count = dead_letter.max_receive_count.unwrap_or(DEFAULT_MAX_RECEIVE_COUNT);
                check_range(count, "queueAttributes.deadLetterConfiguration.maxReceiveCount", 1, 1000)?;
                spec.max_receive_count = Some(count as u32);
            }
            Some("NONE") => {
                if dead_letter.max_receive_count.is_some() {
                    return Err(KinesisError::invalid("MaxReceiveCount cannot be set when TargetType is NONE."));
                }
                spec.max_receive_count = None;
            }
            Some(other) => {
                return Err(KinesisError::validation(
                    other,
                    "queueAttributes.deadLetterConfiguration.targetType",
                    "Member must satisfy enum value set: [BUILT_IN, NONE]",
                ))
            }
            None => return Err(KinesisError::missing("queueAttributes.deadLetterConfiguration.targetType")),
        }
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StartInput {
    r#type: Option<String>,
    timestamp: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StreamConfigurationInput {
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    starting_position: Option<StartInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateQueueInput {
    queue_name: Option<String>,
    stream_configuration_list: Option<Vec<StreamConfigurationInput>>,
    queue_attributes: Option<AttributesInput>,
    tags: Option<BTreeMap<String, String>>,
}

pub async fn create_queue(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: CreateQueueInput = parse_input("CreateQueue", context.request)?;
    let name = input.queue_name.ok_or_else(|| KinesisError::missing("queueName"))?;
    let valid_name = !name.is_empty()
        && name.len() <= QUEUE_NAME_CHARS_MAX
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !valid_name {
        return Err(KinesisError::validation(
            &name,
            "queueName",
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        ));
    }
    let configurations =
        input.stream_configuration_list.ok_or_else(|| KinesisError::missing("streamConfigurationList"))?;
    let [configuration] = configurations.as_slice() else {
        return Err(KinesisError::invalid("StreamConfigurationList must contain exactly one stream."));
    };
    let stream_arn = configuration
        .stream_arn
        .as_deref()
        .ok_or_else(|| KinesisError::missing("streamConfigurationList.member.streamARN"))?;
    let stream = context.stream(None, Some(stream_arn))?;
    if !stream.lock().on_demand {
        return Err(KinesisError::invalid(format!(
            "Queues are supported only on streams in ON_DEMAND mode; stream {} is PROVISIONED.",
            stream.name
        )));
    }
    let (start_type, start_ms) = match &configuration.starting_position {
        None => ("LATEST".to_string(), None),
        Some(start) => match start.r#type.as_deref() {
            Some(kind @ ("LATEST" | "TRIM_HORIZON")) => (kind.to_string(), None),
            Some("AT_TIMESTAMP") => {
                let seconds = start.timestamp.ok_or_else(|| {
                    KinesisError::invalid("Timestamp is required for the AT_TIMESTAMP starting position.")
                })?;
                ("AT_TIMESTAMP".to_string(), Some((seconds.max(0.0) * 1000.0) as u64))
            }
            Some(other) => {
                return Err(KinesisError::validation(
                    other,
                    "startingPosition.type",
                    "Member must satisfy enum value set: [TRIM_HORIZON, LATEST, AT_TIMESTAMP]",
                ))
            }
            None => return Err(KinesisError::missing("startingPosition.type")),
        },
    };
    let tags = input.tags.unwrap_or_default();
    super::tags::check_tags(&tags)?;
    let mut spec = QueueSpec {
        account: context.account().to_string(),
        name,
        created_ms: context.now_ms(),
        stream_account: stream.account.clone(),
        stream_name: stream.name.clone(),
        stream_created_ms: stream.created_ms,
        start_type,
        start_ms,
        visibility_seconds: DEFAULT_VISIBILITY_SECONDS as u32,
        max_receive_count: Some(DEFAULT_MAX_RECEIVE_COUNT as u32),
        tags,
    };
    if let Some(attributes) = &input.queue_attributes {
        apply_attributes(&mut spec, attributes)?;
    }
    let consumers = super::tags::consumer_count(&stream.lock()) + queues_on_stream(context.engine(), &stream);
    if consumers >= super::consumers::CONSUMERS_PER_STREAM_MAX {
        return Err(KinesisError::new(
            ErrorKind::LimitExceeded,
            format!(
                "Stream {} already has {} consumers and queues.",
                stream.name,
                super::consumers::CONSUMERS_PER_STREAM_MAX
            ),
        ));
    }
    // The starting positions are fixed now, so LATEST means after this call.
    let cursors = initial_cursors(context, &stream, &spec)?;
    let (records, dead_letter) = spec.settings(stream.lock().retention_ms);
    let engine = context.engine();
    let key = spec.key();
    let entry = spec.to_entry();
    let exists = engine
        .change_catalog(QUEUE_CATALOG, |queues| {
            if queues.contains_key(&key) {
                return Ok::<_, KinesisError>((Vec::new(), true));
            }
            Ok((vec![CatalogChange::Put { key: key.clone(), entry }], false))
        })
        .await?;
    if exists {
        return Err(KinesisError::new(
            ErrorKind::ResourceInUse,
            format!("Queue {} already exists in account {}.", spec.name, spec.account),
        ));
    }
    engine.create_queue(INTERNAL_ACCOUNT, &spec.dead_letter_queue_name(), dead_letter, BTreeMap::new()).await?;
    engine.create_queue(INTERNAL_ACCOUNT, &spec.records_queue_name(), records, BTreeMap::new()).await?;
    let changes = cursors
        .into_iter()
        .map(|(shard, position)| CatalogChange::Put {
            key: super::queue_feeder::cursor_key(&spec, shard),
            entry: super::queue_feeder::cursor_entry(position, false),
        })
        .collect::<Vec<_>>();
    engine.change_catalog(CURSOR_CATALOG, |_| Ok::<_, KinesisError>((changes, ()))).await?;
    super::queue_feeder::spawn_feeder(context.service.engine.clone(), spec.clone());
    Ok(json!({ "QueueDescription": description(context, &spec) }))
}

/// Where the queue starts in each shard the stream has now.
fn initial_cursors(context: &Context<'_>, stream: &Stream, spec: &QueueSpec) -> Result<Vec<(u32, u64)>, KinesisError> {
    let shards: Vec<(u32, u64, bool)> =
        stream.lock().shards.iter().map(|shard| (shard.index, shard.log, shard.is_open())).collect();
    let mut cursors = Vec::new();
    for (index, log, open) in shards {
        if spec.start_type == "LATEST" && !open {
            continue;
        }
        let start = super::records::StartingPosition::new(&spec.start_type, spec.start_ms);
        let id = names::shard_id(index);
        cursors.push((index, starting_position(context, stream, index, log, &id, &start)?));
    }
    Ok(cursors)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct QueueRef {
    #[serde(rename = "QueueARN")]
    queue_arn: Option<String>,
}

pub fn describe_queue(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: QueueRef = parse_input("DescribeQueue", context.request)?;
    let spec = find_queue(context, input.queue_arn.as_deref())?;
    Ok(json!({ "QueueDescription": description(context, &spec) }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateQueueInput {
    #[serde(rename = "QueueARN")]
    queue_arn: Option<String>,
    queue_attributes: Option<AttributesInput>,
}

pub async fn update_queue(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: UpdateQueueInput = parse_input("UpdateQueue", context.request)?;
    let attributes = input.queue_attributes.ok_or_else(|| KinesisError::missing("queueAttributes"))?;
    let mut spec = find_queue(context, input.queue_arn.as_deref())?;
    apply_attributes(&mut spec, &attributes)?;
    let records = domain_queue(context, &spec, false)?;
    let retention_ms = u64::from(records.settings().retention_seconds) * 1000;
    let (settings, _) = spec.settings(retention_ms);
    context.engine().update_queue(&records, |current, _| *current = settings).await?;
    let (key, entry) = (spec.key(), spec.to_entry());
    context
        .engine()
        .change_catalog(QUEUE_CATALOG, |_| Ok::<_, KinesisError>((vec![CatalogChange::Put { key, entry }], ())))
        .await?;
    Ok(json!({ "QueueDescription": description(context, &spec) }))
}

pub async fn delete_queue(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: QueueRef = parse_input("DeleteQueue", context.request)?;
    let spec = find_queue(context, input.queue_arn.as_deref())?;
    let key = spec.key();
    let cursor_prefix = format!("{}/{}/", spec.key(), spec.created_ms);
    let cursors: Vec<String> = context
        .engine()
        .catalog_entries(CURSOR_CATALOG, &cursor_prefix, None, usize::MAX)
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    context
        .engine()
        .change_catalog(QUEUE_CATALOG, |_| Ok::<_, KinesisError>((vec![CatalogChange::Delete { key }], ())))
        .await?;
    let deletes = cursors.into_iter().map(|key| CatalogChange::Delete { key }).collect();
    context.engine().change_catalog(CURSOR_CATALOG, |_| Ok::<_, KinesisError>((deletes, ()))).await?;
    for dead_letter in [false, true] {
        if let Ok(queue) = domain_queue(context, &spec, dead_letter) {
            context.engine().delete_queue(&queue).await?;
        }
    }
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StreamFilterInput {
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListQueuesInput {
    max_results: Option<i64>,
    next_token: Option<String>,
    stream_filter: Option<Vec<StreamFilterInput>>,
}

pub fn list_queues(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: ListQueuesInput = parse_input("ListQueues", context.request)?;
    let limit = input.max_results.unwrap_or(100);
    check_range(limit, "maxResults", 1, 10_000)?;
    let streams: Option<Vec<String>> =
        input.stream_filter.map(|filters| filters.into_iter().filter_map(|filter| filter.stream_arn).collect());
    let prefix = format!("{}/", context.account());
    // Queue names are unique in an account and listed in name order: the next token is the last
    // name of the previous page.
    let after = input.next_token.map(|name| format!("{prefix}{name}"));
    let matching: Vec<QueueSpec> = context
        .engine()
        .catalog_entries(QUEUE_CATALOG, &prefix, after.as_deref(), usize::MAX)
        .iter()
        .filter_map(|(_, entry)| QueueSpec::from_entry(entry))
        .filter(|spec| streams.as_ref().is_none_or(|arns| arns.contains(&spec.stream_arn(context.region()))))
        .collect();
    let page = &matching[..matching.len().min(limit as usize)];
    let summaries: Vec<Value> = page
        .iter()
        .map(|spec| {
            json!({
                "QueueName": spec.name,
                "QueueARN": spec.arn(context.region()),
                "QueueStatus": "ACTIVE",
                "QueueCreationTimestamp": timestamp(spec.created_ms),
                "Streams": [{
                    "StreamARN": spec.stream_arn(context.region()),
                    "StreamCreationTimestamp": timestamp(spec.stream_created_ms),
                }],
            })
        })
        .collect();
    let mut output = json!({ "QueueSummaries": summaries });
    if matching.len() > page.len() {
        if let Some(last) = page.last() {
            output["NextToken"] = json!(last.name);
        }
    }
    Ok(output)
}

fn purpose(dead_letter: bool) -> &'static str {
    if dead_letter {
        DEAD_LETTER_RECEIPT_PURPOSE
    } else {
        RECEIPT_PURPOSE
    }
}

/// Payload: queue id (8 bytes), sequence (8), message id (16), receive count (4), big-endian.
fn seal_receipt(key: &TokenKey, dead_letter: bool, queue_id: u64, lease: LeaseRef) -> String {
    let mut payload = Vec::with_capacity(36);
    payload.extend_from_slice(&queue_id.to_be_bytes());
    payload.extend_from_slice(&lease.seq.to_be_bytes());
    payload.extend_from_slice(&lease.message_id);
    payload.extend_from_slice(&lease.receive_count.to_be_bytes());
    token::seal(key, purpose(dead_letter), &payload)
}

fn open_receipt(key: &TokenKey, dead_letter: bool, queue_id: u64, handle: &str) -> Option<LeaseRef> {
    let payload = token::open(key, purpose(dead_letter), handle, RECEIPT_CHARS_MAX).ok()?;
    let payload: [u8; 36] = payload.try_into().ok()?;
    let word =
        |range: std::ops::Range<usize>| payload[range].iter().fold(0u64, |value, byte| (value << 8) | u64::from(*byte));
    if word(0..8) != queue_id {
        return None;
    }
    Some(LeaseRef {
        seq: word(8..16),
        message_id: payload[16..32].try_into().ok()?,
        receive_count: u32::try_from(word(32..36)).ok()?,
    })
}

fn attribute(content: &MessageContent, name: &str) -> Option<String> {
    content.system_attributes.iter().find(|attribute| attribute.name == name).and_then(|attribute| {
        match &attribute.value {
            wharf_domain::AttributeValue::Text(text) => Some(text.clone()),
            wharf_domain::AttributeValue::Binary(_) => None,
        }
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReceiveInput {
    #[serde(rename = "QueueARN")]
    queue_arn: Option<String>,
    limit: Option<i64>,
    wait_time_seconds: Option<i64>,
    visibility_timeout_seconds: Option<i64>,
}

pub async fn receive(context: &Context<'_>, dead_letter: bool) -> Result<Value, KinesisError> {
    let operation = if dead_letter { "ReceiveDeadLetterQueueRecords" } else { "ReceiveQueueRecords" };
    let input: ReceiveInput = parse_input(operation, context.request)?;
    let limit = input.limit.unwrap_or(RECEIVE_LIMIT_MAX);
    check_range(limit, "limit", 1, RECEIVE_LIMIT_MAX)?;
    let wait = input.wait_time_seconds.unwrap_or(DEFAULT_WAIT_SECONDS);
    check_range(wait, "waitTimeSeconds", 1, WAIT_SECONDS_MAX)?;
    if let Some(seconds) = input.visibility_timeout_seconds {
        check_range(seconds, "visibilityTimeoutSeconds", 0, VISIBILITY_SECONDS_MAX)?;
    }
    let spec = find_queue(context, input.queue_arn.as_deref())?;
    let queue = domain_queue(context, &spec, dead_letter)?;
    if dead_letter {
        // A record becomes a dead letter once received MaxReceiveCount times, not only when
        // the next ReceiveQueueRecords finds it.
        context.engine().dead_letter_exhausted(&domain_queue(context, &spec, false)?).await?;
    }
    let request = ReceiveRequest {
        max_messages: limit as usize,
        visibility_timeout_seconds: input.visibility_timeout_seconds.map(|seconds| seconds as u32),
        wait_ms: wait as u64 * 1000,
        leased_messages_max: None,
        attempt_id: None,
    };
    let deliveries = context.engine().receive(&queue, request).await?;
    let records: Vec<Value> = deliveries
        .iter()
        .map(|delivery| {
            let content = &delivery.content;
            let arrival_ms =
                attribute(content, "ApproximateArrivalTimestamp").and_then(|ms| ms.parse().ok()).unwrap_or(0);
            let mut record = json!({
                "ReceiptHandle": seal_receipt(&context.service.tokens, dead_letter, queue.id, delivery.lease()),
                "RecordId": delivery.meta.message_id.iter().map(|byte| format!("{byte:02x}")).collect::<String>(),
                "Data": encode_blob(&content.body),
                "ApproximateArrivalTimestamp": timestamp(arrival_ms),
                "FirstReceiveTimestamp": timestamp(delivery.meta.first_receive_ms),
                "ReceiveCount": delivery.meta.receive_count,
            });
            if let Some(key) = attribute(content, "PartitionKey") {
                record["PartitionKey"] = json!(key);
            }
            record
        })
        .collect();
    Ok(json!({ "QueueRecords": records }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EntryInput {
    receipt_handle: Option<String>,
    visibility_timeout_seconds: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EntriesInput {
    #[serde(rename = "QueueARN")]
    queue_arn: Option<String>,
    entries: Option<Vec<EntryInput>>,
}

/// What a batch operation does with one record.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum EntryAction {
    Acknowledge,
    ChangeVisibility,
    Restore,
}

/// AcknowledgeQueueRecords, UpdateQueueRecordsVisibility and their dead-letter forms, and
/// RestoreDeadLetterQueueRecords: up to 10 entries, each reported on its own.
pub async fn batch(
    context: &Context<'_>,
    operation: &str,
    dead_letter: bool,
    action: EntryAction,
) -> Result<Value, KinesisError> {
    let input: EntriesInput = parse_input(operation, context.request)?;
    let entries = input.entries.ok_or_else(|| KinesisError::missing("entries"))?;
    if entries.is_empty() || entries.len() > ENTRIES_MAX {
        return Err(KinesisError::validation(
            &format!("{} entries", entries.len()),
            "entries",
            "Member must have length less than or equal to 10 and greater than or equal to 1",
        ));
    }
    let spec = find_queue(context, input.queue_arn.as_deref())?;
    let queue = domain_queue(context, &spec, dead_letter)?;
    let engine = context.engine();
    let (mut successful, mut failed) = (Vec::new(), Vec::new());
    for entry in entries {
        let handle = entry.receipt_handle.clone().unwrap_or_default();
        let outcome = apply_entry(context, &spec, &queue, dead_letter, action, &entry, engine).await;
        match outcome {
            Ok(()) => successful.push(json!({ "ReceiptHandle": handle })),
            Err(error) => failed.push(json!({
                "ReceiptHandle": handle,
                "ErrorCode": error.kind.wire().0,
                "ErrorMessage": error.message,
            })),
        }
    }
    Ok(json!({ "Successful": successful, "Failed": failed }))
}

async fn apply_entry(
    context: &Context<'_>,
    spec: &QueueSpec,
    queue: &Queue,
    dead_letter: bool,
    action: EntryAction,
    entry: &EntryInput,
    engine: &Engine,
) -> Result<(), KinesisError> {
    let handle =
        entry.receipt_handle.as_deref().ok_or_else(|| KinesisError::missing("entries.member.receiptHandle"))?;
    let invalid = || KinesisError::invalid("The receipt handle is not valid for this queue.");
    let lease = open_receipt(&context.service.tokens, dead_letter, queue.id, handle).ok_or_else(invalid)?;
    let stale = |_| KinesisError::invalid("The receipt handle has expired: the record is no longer in flight with it.");
    match action {
        EntryAction::Acknowledge => {
            let outcomes = engine.delete_messages(queue, &[lease]).await?;
            outcomes.into_iter().next().unwrap_or(Ok(())).map_err(stale)
        }
        EntryAction::ChangeVisibility => {
            let seconds = entry
                .visibility_timeout_seconds
                .ok_or_else(|| KinesisError::missing("entries.member.visibilityTimeoutSeconds"))?;
            check_range(seconds, "entries.member.visibilityTimeoutSeconds", 0, VISIBILITY_SECONDS_MAX)?;
            engine.change_visibility(queue, lease, seconds as u32).map_err(stale)
        }
        EntryAction::Restore => {
            let content = engine
                .read_after(queue, lease.seq.saturating_sub(1), 1)?
                .into_iter()
                .find(|(meta, _)| meta.seq == lease.seq && meta.message_id == lease.message_id)
                .map(|(_, content)| content)
                .ok_or_else(invalid)?;
            let outcomes = engine.delete_messages(queue, &[lease]).await?;
            outcomes.into_iter().next().unwrap_or(Ok(())).map_err(stale)?;
            let records = domain_queue(context, spec, false)?;
            let size_bytes = u32::try_from(content.body.len()).unwrap_or(u32::MAX);
            engine.send(&records, vec![NewMessage { content, delay_seconds: None, size_bytes }]).await?;
            Ok(())
        }
    }
}
