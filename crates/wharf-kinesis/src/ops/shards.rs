//! Shards: listing them with every filter, and resharding (split, merge, uniform scaling).

use super::check_range;
use super::streams::{shard_descriptions, StreamRef};
use crate::error_map::{ErrorKind, KinesisError};
use crate::names::{self, shard_id};
use crate::protocol::parse_input;
use crate::Context;
use serde::Deserialize;
use serde_json::{json, Value};
use wharf_aws::token;
use wharf_domain::{Shard, Stream};

const NEXT_TOKEN_PURPOSE: &str = "kinesis-list-shards";
const NEXT_TOKEN_CHARS_MAX: usize = 1048;
/// How long a ListShards NextToken may be used, as on AWS.
const NEXT_TOKEN_LIFETIME_MS: u64 = 300_000;

/// Which shards a listing includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShardFilter {
    All,
    AfterShard(u32),
    AtLatest,
    AtTrimHorizon,
    FromTrimHorizon,
    AtTimestamp(u64),
    FromTimestamp(u64),
}

impl ShardFilter {
    fn accepts(self, shard: &Shard, trim_horizon_ms: u64) -> bool {
        match self {
            ShardFilter::All | ShardFilter::FromTrimHorizon => true,
            ShardFilter::AfterShard(index) => shard.index > index,
            ShardFilter::AtLatest => shard.is_open(),
            ShardFilter::AtTrimHorizon => shard.open_at(trim_horizon_ms),
            ShardFilter::AtTimestamp(time_ms) => shard.open_at(time_ms),
            ShardFilter::FromTimestamp(time_ms) => shard.closed_ms().is_none_or(|closed| closed >= time_ms),
        }
    }

    fn code(self) -> (u8, u64) {
        match self {
            ShardFilter::All => (0, 0),
            ShardFilter::AfterShard(index) => (1, u64::from(index)),
            ShardFilter::AtLatest => (2, 0),
            ShardFilter::AtTrimHorizon => (3, 0),
            ShardFilter::FromTrimHorizon => (4, 0),
            ShardFilter::AtTimestamp(time_ms) => (5, time_ms),
            ShardFilter::FromTimestamp(time_ms) => (6, time_ms),
        }
    }

    fn from_code(code: u8, value: u64) -> Option<ShardFilter> {
        Some(match code {
            0 => ShardFilter::All,
            1 => ShardFilter::AfterShard(u32::try_from(value).ok()?),
            2 => ShardFilter::AtLatest,
            3 => ShardFilter::AtTrimHorizon,
            4 => ShardFilter::FromTrimHorizon,
            5 => ShardFilter::AtTimestamp(value),
            6 => ShardFilter::FromTimestamp(value),
            _ => return None,
        })
    }
}

/// Where a listing resumes: stream, filter, the last shard listed and when the token was issued.
struct PageToken {
    stream_id: u64,
    filter: ShardFilter,
    after: Option<u32>,
    issued_ms: u64,
}

fn seal_token(context: &Context<'_>, page: &PageToken) -> String {
    let (code, value) = page.filter.code();
    let mut payload = Vec::with_capacity(30);
    payload.extend_from_slice(&page.stream_id.to_be_bytes());
    payload.push(code);
    payload.extend_from_slice(&value.to_be_bytes());
    payload.extend_from_slice(&page.after.map_or(u64::MAX, u64::from).to_be_bytes());
    payload.extend_from_slice(&page.issued_ms.to_be_bytes());
    token::seal(&context.service.tokens, NEXT_TOKEN_PURPOSE, &payload)
}

fn open_token(context: &Context<'_>, text: &str) -> Result<PageToken, KinesisError> {
    let invalid = || KinesisError::invalid(format!("Invalid NextToken: {}", text.chars().take(64).collect::<String>()));
    let payload =
        token::open(&context.service.tokens, NEXT_TOKEN_PURPOSE, text, NEXT_TOKEN_CHARS_MAX).map_err(|_| invalid())?;
    if payload.len() != 33 {
        return Err(invalid());
    }
    let word = |at: usize| payload[at..at + 8].iter().fold(0u64, |value, byte| (value << 8) | u64::from(*byte));
    let after = word(17);
    let page = PageToken {
        stream_id: word(0),
        filter: ShardFilter::from_code(payload[8], word(9)).ok_or_else(invalid)?,
        after: if after == u64::MAX { None } else { Some(u32::try_from(after).map_err(|_| invalid())?) },
        issued_ms: word(25),
    };
    if context.now_ms() > page.issued_ms.saturating_add(NEXT_TOKEN_LIFETIME_MS) {
        return Err(KinesisError::new(ErrorKind::ExpiredNextToken, "The NextToken has expired."));
    }
    Ok(page)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FilterInput {
    r#type: Option<String>,
    shard_id: Option<String>,
    timestamp: Option<f64>,
}

fn parse_filter(filter: &FilterInput) -> Result<ShardFilter, KinesisError> {
    let time = || -> Result<u64, KinesisError> {
        let seconds = filter.timestamp.ok_or_else(|| {
            KinesisError::invalid("Timestamp must be specified for the AT_TIMESTAMP and FROM_TIMESTAMP shard filters.")
        })?;
        Ok((seconds.max(0.0) * 1000.0) as u64)
    };
    match filter.r#type.as_deref() {
        Some("AFTER_SHARD_ID") => {
            let id = filter
                .shard_id
                .as_deref()
                .ok_or_else(|| KinesisError::invalid("ShardId must be specified for the AFTER_SHARD_ID shard filter."))?;
            let index = names::parse_shard_id(id).ok_or_else(|| KinesisError::invalid(format!("Invalid ShardId: {id}")))?;
            Ok(ShardFilter::AfterShard(index))
        }
        Some("AT_LATEST") => Ok(ShardFilter::AtLatest),
        Some("AT_TRIM_HORIZON") => Ok(ShardFilter::AtTrimHorizon),
        Some("FROM_TRIM_HORIZON") => Ok(ShardFilter::FromTrimHorizon),
        Some("AT_TIMESTAMP") => Ok(ShardFilter::AtTimestamp(time()?)),
        Some("FROM_TIMESTAMP") => Ok(ShardFilter::FromTimestamp(time()?)),
        Some(other) => Err(KinesisError::validation(
            other,
            "shardFilter.type",
            "Member must satisfy enum value set: [AFTER_SHARD_ID, AT_TRIM_HORIZON, FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP, FROM_TIMESTAMP]",
        )),
        None => Err(KinesisError::missing("shardFilter.type")),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListShardsInput {
    #[serde(flatten)]
    stream: StreamRef,
    next_token: Option<String>,
    exclusive_start_shard_id: Option<String>,
    max_results: Option<i64>,
    shard_filter: Option<FilterInput>,
}

pub fn list_shards(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: ListShardsInput = parse_input("ListShards", context.request)?;
    let limit = input.max_results.unwrap_or(1000);
    check_range(limit, "maxResults", 1, 10_000)?;
    let (stream, filter, after) = match input.next_token.as_deref() {
        Some(text) => {
            let together = [
                ("StreamName", input.stream.stream_name.is_some()),
                ("StreamARN", input.stream.stream_arn.is_some()),
                ("ExclusiveStartShardId", input.exclusive_start_shard_id.is_some()),
                ("ShardFilter", input.shard_filter.is_some()),
            ];
            if let Some((member, _)) = together.iter().find(|(_, given)| *given) {
                return Err(KinesisError::invalid(format!("NextToken and {member} cannot be provided together.")));
            }
            let page = open_token(context, text)?;
            let stream = find_stream(context, page.stream_id)?;
            (stream, page.filter, page.after)
        }
        None => {
            let stream = input.stream.resolve(context)?;
            let filter = match &input.shard_filter {
                Some(filter) => parse_filter(filter)?,
                None => ShardFilter::All,
            };
            let after = match input.exclusive_start_shard_id.as_deref() {
                Some(id) => Some(
                    names::parse_shard_id(id).ok_or_else(|| KinesisError::invalid(format!("Invalid ShardId: {id}")))?,
                ),
                None => None,
            };
            (stream, filter, after)
        }
    };
    let state = stream.lock();
    let trim_horizon_ms = context.now_ms().saturating_sub(state.retention_ms);
    let matching: Vec<&Shard> = state
        .shards
        .iter()
        .filter(|shard| after.is_none_or(|after| shard.index > after) && filter.accepts(shard, trim_horizon_ms))
        .collect();
    let page = &matching[..matching.len().min(limit as usize)];
    let mut output = json!({ "Shards": shard_descriptions(page.iter().copied()) });
    if matching.len() > page.len() {
        let token = PageToken {
            stream_id: stream.id,
            filter,
            after: page.last().map(|shard| shard.index),
            issued_ms: context.now_ms(),
        };
        output["NextToken"] = json!(seal_token(context, &token));
    }
    Ok(output)
}

/// The stream with this id, if it still exists and the caller may use it.
pub fn find_stream(context: &Context<'_>, id: u64) -> Result<std::sync::Arc<Stream>, KinesisError> {
    let stream = context
        .engine()
        .all_streams()
        .into_iter()
        .find(|stream| stream.id == id)
        .ok_or_else(|| KinesisError::new(ErrorKind::ResourceNotFound, "The stream no longer exists."))?;
    context.check_account(&stream.account)?;
    Ok(stream)
}

fn parse_hash_key(text: &str, member: &str) -> Result<u128, KinesisError> {
    let shaped =
        text == "0" || (!text.starts_with('0') && text.len() <= 39 && text.bytes().all(|b| b.is_ascii_digit()));
    if text.is_empty() || !shaped {
        return Err(KinesisError::validation(
            text,
            member,
            "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})",
        ));
    }
    text.parse::<u128>()
        .map_err(|_| KinesisError::invalid(format!("{member} {text} is above the largest hash key, 2^128 - 1.")))
}

fn shard_index(id: Option<&str>, member: &str) -> Result<u32, KinesisError> {
    let id = id.ok_or_else(|| KinesisError::missing(member))?;
    names::parse_shard_id(id).ok_or_else(|| {
        KinesisError::validation(id, member, "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
    })
}

fn shard_not_found(stream: &Stream, index: u32) -> KinesisError {
    KinesisError::new(
        ErrorKind::ResourceNotFound,
        format!("Could not find shard {} in stream {} under account {}.", shard_id(index), stream.name, stream.account),
    )
}

fn reshard_error(stream: &Stream, index: u32, error: wharf_domain::DomainError) -> KinesisError {
    match error {
        wharf_domain::DomainError::ShardDoesNotExist => shard_not_found(stream, index),
        wharf_domain::DomainError::ShardNotOpen => KinesisError::new(
            ErrorKind::ResourceInUse,
            format!("Shard {} in stream {} under account {} has already been merged or split, and thus is not eligible for merging or splitting.", shard_id(index), stream.name, stream.account),
        ),
        other => other.into(),
    }
}

fn check_provisioned(stream: &Stream, operation: &str) -> Result<(), KinesisError> {
    if stream.lock().on_demand {
        return Err(KinesisError::new(
            ErrorKind::Validation,
            format!("{operation} is not supported for streams in ON_DEMAND mode."),
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SplitShardInput {
    #[serde(flatten)]
    stream: StreamRef,
    shard_to_split: Option<String>,
    new_starting_hash_key: Option<String>,
}

pub async fn split_shard(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: SplitShardInput = parse_input("SplitShard", context.request)?;
    let index = shard_index(input.shard_to_split.as_deref(), "shardToSplit")?;
    let key = input.new_starting_hash_key.ok_or_else(|| KinesisError::missing("newStartingHashKey"))?;
    let new_start = parse_hash_key(&key, "newStartingHashKey")?;
    let stream = input.stream.resolve(context)?;
    check_provisioned(&stream, "SplitShard")?;
    context
        .engine()
        .split_shard(&stream, index, new_start)
        .await
        .map_err(|error| reshard_error(&stream, index, error))?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MergeShardsInput {
    #[serde(flatten)]
    stream: StreamRef,
    shard_to_merge: Option<String>,
    adjacent_shard_to_merge: Option<String>,
}

pub async fn merge_shards(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: MergeShardsInput = parse_input("MergeShards", context.request)?;
    let first = shard_index(input.shard_to_merge.as_deref(), "shardToMerge")?;
    let second = shard_index(input.adjacent_shard_to_merge.as_deref(), "adjacentShardToMerge")?;
    let stream = input.stream.resolve(context)?;
    check_provisioned(&stream, "MergeShards")?;
    for index in [first, second] {
        if stream.lock().shard(index).is_none() {
            return Err(shard_not_found(&stream, index));
        }
    }
    let closed =
        [first, second].into_iter().find(|index| stream.lock().shard(*index).is_some_and(|shard| !shard.is_open()));
    context
        .engine()
        .merge_shards(&stream, first, second)
        .await
        .map_err(|error| reshard_error(&stream, closed.unwrap_or(first), error))?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateShardCountInput {
    #[serde(flatten)]
    stream: StreamRef,
    target_shard_count: Option<i64>,
    scaling_type: Option<String>,
}

pub async fn update_shard_count(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: UpdateShardCountInput = parse_input("UpdateShardCount", context.request)?;
    let target = input.target_shard_count.ok_or_else(|| KinesisError::missing("targetShardCount"))?;
    check_range(target, "targetShardCount", 1, 100_000)?;
    match input.scaling_type.as_deref() {
        Some("UNIFORM_SCALING") => {}
        Some(other) => {
            return Err(KinesisError::validation(
                other,
                "scalingType",
                "Member must satisfy enum value set: [UNIFORM_SCALING]",
            ));
        }
        None => return Err(KinesisError::missing("scalingType")),
    }
    let stream = input.stream.resolve(context)?;
    check_provisioned(&stream, "UpdateShardCount")?;
    let current = stream.lock().open_shards().count() as i64;
    if target > current * 2 || target * 2 < current {
        return Err(KinesisError::new(
            ErrorKind::LimitExceeded,
            format!(
                "UpdateShardCount can scale a stream to between half and double its open shard count; stream {} has {current} open shards and the target is {target}.",
                stream.name
            ),
        ));
    }
    if target != current {
        context.engine().update_shard_count(&stream, target as u32).await?;
    }
    Ok(json!({
        "StreamName": stream.name,
        "StreamARN": names::stream_arn(context.region(), &stream),
        "CurrentShardCount": current,
        "TargetShardCount": target,
    }))
}
