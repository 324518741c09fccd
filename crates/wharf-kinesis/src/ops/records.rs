//! Writing records (PutRecord, PutRecords) and reading them back (GetShardIterator, GetRecords).

use super::check_range;
use super::shards::find_stream;
use super::streams::{encryption_type, StreamRef};
use crate::error_map::{ErrorKind, KinesisError};
use crate::iterator::{self, ShardIterator};
use crate::names::{self, shard_id};
use crate::protocol::{decode_blob, encode_blob, parse_input, timestamp};
use crate::Context;
use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::{json, Value};
use wharf_domain::{NewRecord, Stream};

/// The largest record's data unless the stream allows more (AWS's default maximum record size).
pub const RECORD_DATA_BYTES_MAX: usize = 1024 * 1024;
/// The most any stream may allow (UpdateMaxRecordSize up to 10,240 KiB).
pub const RECORD_DATA_BYTES_LIMIT: usize = 10 * 1024 * 1024;
/// The stream attribute holding UpdateMaxRecordSize's setting.
pub const MAX_RECORD_SIZE_ATTRIBUTE: &str = "MaxRecordSizeInKiB";

/// The largest record data `stream` accepts.
pub fn record_bytes_max(state: &wharf_domain::StreamState) -> usize {
    state
        .attributes
        .get(MAX_RECORD_SIZE_ATTRIBUTE)
        .and_then(|kib| kib.parse::<usize>().ok())
        .map_or(RECORD_DATA_BYTES_MAX, |kib| kib * 1024)
}

fn record_too_large(member: &str, limit: usize) -> KinesisError {
    KinesisError::new(
        ErrorKind::Validation,
        format!(
            "1 validation error detected: Value at '{member}data' failed to satisfy constraint: Member must have length less than or equal to {limit}"
        ),
    )
}

/// Refuses records larger than the stream allows.
fn check_record_sizes(
    stream: &Stream,
    records: &[NewRecord],
    member: impl Fn(usize) -> String,
) -> Result<(), KinesisError> {
    let limit = record_bytes_max(&stream.lock());
    match records.iter().position(|record| record.data.len() > limit) {
        Some(index) => Err(record_too_large(&member(index), limit)),
        None => Ok(()),
    }
}
pub const PARTITION_KEY_CHARS_MAX: usize = 256;
pub const PUT_RECORDS_ENTRIES_MAX: usize = 500;
/// Data plus partition keys of one PutRecords request.
pub const PUT_RECORDS_BYTES_MAX: usize = 5 * 1024 * 1024;
pub const GET_RECORDS_LIMIT_MAX: i64 = 10_000;
/// The most data one GetRecords call returns.
pub const GET_RECORDS_BYTES_MAX: usize = 10 * 1024 * 1024;

/// A partition key's place in the key space: its MD5 digest as a 128-bit big-endian integer.
pub fn hash_key_of(partition_key: &str) -> u128 {
    u128::from_be_bytes(Md5::digest(partition_key.as_bytes()).into())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RecordInput {
    data: Option<String>,
    partition_key: Option<String>,
    explicit_hash_key: Option<String>,
}

/// Validates one record; `member` prefixes member names in errors (`records.3.member.` style).
fn new_record(input: RecordInput, member: &str) -> Result<NewRecord, KinesisError> {
    let data = input.data.ok_or_else(|| KinesisError::missing(&format!("{member}data")))?;
    let data = decode_blob(&data, "Data")?;
    if data.len() > RECORD_DATA_BYTES_LIMIT {
        return Err(record_too_large(member, RECORD_DATA_BYTES_LIMIT));
    }
    let partition_key = input.partition_key.ok_or_else(|| KinesisError::missing(&format!("{member}partitionKey")))?;
    let chars = partition_key.chars().count();
    if chars == 0 || chars > PARTITION_KEY_CHARS_MAX {
        return Err(KinesisError::validation(
            &partition_key,
            &format!("{member}partitionKey"),
            "Member must have length less than or equal to 256 and greater than or equal to 1",
        ));
    }
    let hash_key = match input.explicit_hash_key.as_deref() {
        Some(text) => {
            let shaped = text == "0"
                || (!text.is_empty()
                    && !text.starts_with('0')
                    && text.len() <= 39
                    && text.bytes().all(|b| b.is_ascii_digit()));
            if !shaped {
                return Err(KinesisError::validation(
                    text,
                    &format!("{member}explicitHashKey"),
                    "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})",
                ));
            }
            text.parse::<u128>().map_err(|_| {
                KinesisError::invalid(format!(
                    "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was {text}"
                ))
            })?
        }
        None => hash_key_of(&partition_key),
    };
    Ok(NewRecord { partition_key, hash_key, data })
}

/// For each record, the shard whose write limit it would exceed (None: admitted). Always all
/// None when throughput limits are off.
fn over_write_limit(context: &Context<'_>, stream: &Stream, records: &[NewRecord]) -> Vec<Option<u32>> {
    let throttle = &context.service.throttle;
    if !throttle.enabled() {
        return vec![None; records.len()];
    }
    let now_ms = context.now_ms();
    let shards: Vec<(u32, u128, u128)> =
        stream.lock().open_shards().map(|shard| (shard.index, shard.hash_start, shard.hash_end)).collect();
    records
        .iter()
        .map(|record| {
            let shard = shards.iter().find(|(_, start, end)| *start <= record.hash_key && record.hash_key <= *end)?.0;
            let bytes = record.data.len() + record.partition_key.len();
            (!throttle.admit_write(stream.id, shard, bytes, now_ms)).then_some(shard)
        })
        .collect()
}

fn rate_exceeded(stream: &Stream, shard: u32) -> KinesisError {
    KinesisError::new(
        ErrorKind::ProvisionedThroughputExceeded,
        format!(
            "Rate exceeded for shard {} in stream {} under account {}.",
            shard_id(shard),
            stream.name,
            stream.account
        ),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutRecordInput {
    #[serde(flatten)]
    stream: StreamRef,
    #[serde(flatten)]
    record: RecordInput,
    sequence_number_for_ordering: Option<String>,
}

pub async fn put_record(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: PutRecordInput = parse_input("PutRecord", context.request)?;
    if let Some(ordering) = input.sequence_number_for_ordering.as_deref() {
        if !names::is_sequence_number_shaped(ordering) {
            return Err(KinesisError::validation(
                ordering,
                "sequenceNumberForOrdering",
                "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128})",
            ));
        }
    }
    let record = new_record(input.record, "")?;
    let stream = input.stream.resolve(context)?;
    check_record_sizes(&stream, std::slice::from_ref(&record), |_| String::new())?;
    if let Some(shard) = over_write_limit(context, &stream, std::slice::from_ref(&record)).first().copied().flatten() {
        return Err(rate_exceeded(&stream, shard));
    }
    let placed = context.engine().put_records(&stream, vec![record]).await?;
    let placed =
        placed.first().ok_or_else(|| KinesisError::new(ErrorKind::InternalFailure, "The record was not placed."))?;
    Ok(json!({
        "ShardId": shard_id(placed.shard_index),
        "SequenceNumber": names::sequence_number(placed.log, placed.position),
        "EncryptionType": encryption_type(&stream.lock()),
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutRecordsInput {
    #[serde(flatten)]
    stream: StreamRef,
    records: Option<Vec<RecordInput>>,
}

pub async fn put_records(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: PutRecordsInput = parse_input("PutRecords", context.request)?;
    let entries = input.records.ok_or_else(|| KinesisError::missing("records"))?;
    if entries.is_empty() || entries.len() > PUT_RECORDS_ENTRIES_MAX {
        return Err(KinesisError::new(
            ErrorKind::Validation,
            format!(
                "1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length less than or equal to {PUT_RECORDS_ENTRIES_MAX} and greater than or equal to 1"
            ),
        ));
    }
    let mut records = Vec::with_capacity(entries.len());
    let mut total_bytes = 0usize;
    for (index, entry) in entries.into_iter().enumerate() {
        let record = new_record(entry, &format!("records.{}.member.", index + 1))?;
        total_bytes += record.data.len() + record.partition_key.len();
        records.push(record);
    }
    if total_bytes > PUT_RECORDS_BYTES_MAX {
        return Err(KinesisError::invalid("Records size exceeds 5 MB limit"));
    }
    let stream = input.stream.resolve(context)?;
    check_record_sizes(&stream, &records, |index| format!("records.{}.member.", index + 1))?;
    let refused = over_write_limit(context, &stream, &records);
    let admitted: Vec<NewRecord> =
        records.into_iter().zip(&refused).filter(|(_, refused)| refused.is_none()).map(|(record, _)| record).collect();
    let mut placed = context.engine().put_records(&stream, admitted).await?.into_iter();
    let mut failed = 0;
    let results: Vec<Value> = refused
        .iter()
        .map(|refused| match refused {
            Some(shard) => {
                failed += 1;
                let error = rate_exceeded(&stream, *shard);
                json!({ "ErrorCode": error.kind.wire().0, "ErrorMessage": error.message })
            }
            None => match placed.next() {
                Some(placed) => json!({
                    "SequenceNumber": names::sequence_number(placed.log, placed.position),
                    "ShardId": shard_id(placed.shard_index),
                }),
                None => json!({ "ErrorCode": "InternalFailure", "ErrorMessage": "The record was not placed." }),
            },
        })
        .collect();
    Ok(json!({
        "FailedRecordCount": failed,
        "Records": results,
        "EncryptionType": encryption_type(&stream.lock()),
    }))
}

/// Where a reader starts: the shard-iterator type with its sequence number or timestamp.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartingPosition {
    #[serde(alias = "ShardIteratorType")]
    r#type: Option<String>,
    #[serde(alias = "StartingSequenceNumber")]
    sequence_number: Option<String>,
    timestamp: Option<f64>,
}

impl StartingPosition {
    /// A position of `kind` (TRIM_HORIZON, LATEST or AT_TIMESTAMP with `time_ms`).
    pub fn new(kind: &str, time_ms: Option<u64>) -> StartingPosition {
        StartingPosition {
            r#type: Some(kind.to_string()),
            sequence_number: None,
            timestamp: time_ms.map(|ms| ms as f64 / 1000.0),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetShardIteratorInput {
    #[serde(flatten)]
    stream: StreamRef,
    shard_id: Option<String>,
    #[serde(flatten)]
    start: StartingPosition,
}

fn shard_missing(stream: &Stream, id: &str) -> KinesisError {
    KinesisError::new(
        ErrorKind::ResourceNotFound,
        format!("Shard {id} in stream {} under account {} does not exist", stream.name, stream.account),
    )
}

const ITERATOR_TYPES: [&str; 5] =
    ["AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"];

/// The position a reader of shard `index` (whose log is `log`, named `id`) starts at.
pub fn starting_position(
    context: &Context<'_>,
    stream: &Stream,
    index: u32,
    log: u64,
    id: &str,
    start: &StartingPosition,
) -> Result<u64, KinesisError> {
    let kind = start.r#type.as_deref().ok_or_else(|| KinesisError::missing("shardIteratorType"))?;
    if !ITERATOR_TYPES.contains(&kind) {
        return Err(KinesisError::validation(
            kind,
            "shardIteratorType",
            "Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, AT_SEQUENCE_NUMBER, AT_TIMESTAMP, TRIM_HORIZON, LATEST]",
        ));
    }
    let engine = context.engine();
    Ok(match kind {
        "TRIM_HORIZON" => engine.trim_horizon(stream, index)?,
        "LATEST" => engine.latest_position(stream, index)?,
        "AT_TIMESTAMP" => {
            let seconds = start.timestamp.ok_or_else(|| {
                KinesisError::invalid("Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter.")
            })?;
            engine.position_at_time(stream, index, (seconds.max(0.0) * 1000.0) as u64)?
        }
        _ => {
            let text = start.sequence_number.as_deref().ok_or_else(|| {
                KinesisError::invalid(format!(
                    "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified {kind} and no StartingSequenceNumber."
                ))
            })?;
            let (sequence_log, position) = names::parse_sequence_number(text).ok_or_else(|| {
                KinesisError::invalid(format!(
                    "StartingSequenceNumber {text} used in GetShardIterator on shard {id} in stream {} under account {} is invalid.",
                    stream.name, stream.account
                ))
            })?;
            if sequence_log != log {
                let owner = stream
                    .lock()
                    .shards
                    .iter()
                    .find(|shard| shard.log == sequence_log)
                    .map(|shard| shard_id(shard.index));
                return Err(KinesisError::invalid(match owner {
                    Some(owner) => format!("Invalid StartingSequenceNumber. It encodes {owner}, while it was used in a call to a shard with {id}"),
                    None => format!("StartingSequenceNumber {text} used in GetShardIterator on shard {id} in stream {} under account {} is invalid because it did not come from this stream.", stream.name, stream.account),
                }));
            }
            if kind == "AFTER_SEQUENCE_NUMBER" {
                position.saturating_add(1)
            } else {
                position
            }
        }
    })
}

pub fn get_shard_iterator(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: GetShardIteratorInput = parse_input("GetShardIterator", context.request)?;
    let id = input.shard_id.ok_or_else(|| KinesisError::missing("shardId"))?;
    if input.start.r#type.is_none() {
        return Err(KinesisError::missing("shardIteratorType"));
    }
    let stream = input.stream.resolve(context)?;
    let index = names::parse_shard_id(&id).ok_or_else(|| shard_missing(&stream, &id))?;
    let log = stream.lock().shard(index).map(|shard| shard.log).ok_or_else(|| shard_missing(&stream, &id))?;
    let position = starting_position(context, &stream, index, log, &id, &input.start)?;
    let sealed = iterator::seal(
        &context.service.tokens,
        ShardIterator { stream_id: stream.id, shard_index: index, position, issued_ms: context.now_ms() },
    );
    Ok(json!({ "ShardIterator": sealed }))
}

/// Records in the awsJson shape GetRecords and SubscribeToShard share.
pub fn read_to_json(records: &[wharf_domain::StreamRecord], log: u64, encrypted: bool) -> Vec<Value> {
    records
        .iter()
        .map(|record| {
            let mut value = json!({
                "SequenceNumber": names::sequence_number(log, record.position),
                "ApproximateArrivalTimestamp": timestamp(record.arrival_ms),
                "Data": encode_blob(&record.data),
                "PartitionKey": record.partition_key,
            });
            if encrypted {
                value["EncryptionType"] = json!("KMS");
            }
            value
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetRecordsInput {
    shard_iterator: Option<String>,
    limit: Option<i64>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
}

pub fn get_records(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: GetRecordsInput = parse_input("GetRecords", context.request)?;
    let text = input.shard_iterator.ok_or_else(|| KinesisError::missing("shardIterator"))?;
    if text.is_empty() || text.len() > iterator::SHARD_ITERATOR_CHARS_MAX {
        return Err(KinesisError::validation(
            &text.chars().take(64).collect::<String>(),
            "shardIterator",
            "Member must have length less than or equal to 512 and greater than or equal to 1",
        ));
    }
    let limit = input.limit.unwrap_or(GET_RECORDS_LIMIT_MAX);
    check_range(limit, "limit", 1, GET_RECORDS_LIMIT_MAX)?;
    let now_ms = context.now_ms();
    let position = iterator::open(&context.service.tokens, &text, now_ms)?;
    let stream = find_stream(context, position.stream_id)?;
    if let Some(arn) = input.stream_arn.as_deref() {
        if names::parse_stream_arn(arn) != Some((stream.account.clone(), stream.name.clone())) {
            return Err(KinesisError::invalid("The StreamARN does not name the stream the shard iterator belongs to."));
        }
    }
    let throttle = &context.service.throttle;
    if !throttle.admit_read(stream.id, position.shard_index, now_ms) {
        return Err(rate_exceeded(&stream, position.shard_index));
    }
    let read = context
        .engine()
        .read_shard(&stream, position.shard_index, position.position, limit as usize, GET_RECORDS_BYTES_MAX)
        .map_err(|_| shard_missing(&stream, &shard_id(position.shard_index)))?;
    let bytes: usize = read.records.iter().map(|record| record.data.len() + record.partition_key.len()).sum();
    throttle.charge_read(stream.id, position.shard_index, bytes, now_ms);
    let (log, encrypted) = {
        let state = stream.lock();
        let log = state.shard(position.shard_index).map(|shard| shard.log).unwrap_or_default();
        (log, encryption_type(&state) == "KMS")
    };
    let records = read_to_json(&read.records, log, encrypted);
    let mut output = json!({ "Records": records, "MillisBehindLatest": read.millis_behind_latest });
    if read.end_of_closed_shard {
        output["ChildShards"] = json!(child_shards(&stream, position.shard_index));
    } else {
        let next = ShardIterator { position: read.next_position, issued_ms: now_ms, ..position };
        output["NextShardIterator"] = json!(iterator::seal(&context.service.tokens, next));
    }
    Ok(output)
}

/// The shards a closed shard's records continue in.
pub fn child_shards(stream: &Stream, parent: u32) -> Vec<Value> {
    let state = stream.lock();
    state
        .shards
        .iter()
        .filter(|shard| shard.parent == Some(parent) || shard.adjacent_parent == Some(parent))
        .map(|shard| {
            let parents: Vec<String> =
                shard.parent.iter().chain(shard.adjacent_parent.iter()).map(|index| shard_id(*index)).collect();
            json!({
                "ShardId": shard_id(shard.index),
                "ParentShards": parents,
                "HashKeyRange": {
                    "StartingHashKey": shard.hash_start.to_string(),
                    "EndingHashKey": shard.hash_end.to_string(),
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_keys_hash_like_aws() {
        // MD5("a") = 0cc175b9c0f1b6a831c399e269772661.
        assert_eq!(hash_key_of("a"), 0x0cc175b9c0f1b6a831c399e269772661);
    }

    #[test]
    fn explicit_hash_keys_must_be_in_range() {
        let record = |key: &str| RecordInput {
            data: Some("AA==".into()),
            partition_key: Some("p".into()),
            explicit_hash_key: Some(key.into()),
        };
        assert_eq!(new_record(record("0"), "").map(|r| r.hash_key), Ok(0));
        assert_eq!(new_record(record(&u128::MAX.to_string()), "").map(|r| r.hash_key), Ok(u128::MAX));
        assert_eq!(
            new_record(record("340282366920938463463374607431768211456"), "").unwrap_err().kind,
            ErrorKind::InvalidArgument
        );
        assert_eq!(new_record(record("01"), "").unwrap_err().kind, ErrorKind::Validation);
    }
}
