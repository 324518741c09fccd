//! Tags on streams, by stream name (the older operations) or by resource ARN.

use super::check_range;
use super::streams::StreamRef;
use crate::error_map::{ErrorKind, KinesisError};
use crate::protocol::parse_input;
use crate::Context;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use wharf_domain::StreamState;

pub const TAGS_PER_STREAM_MAX: usize = 50;
const TAG_KEY_CHARS_MAX: usize = 128;
const TAG_VALUE_CHARS_MAX: usize = 256;
/// Names consumers in a stream's attributes, kept for the stream summary's count.
pub const CONSUMER_ATTRIBUTE_PREFIX: &str = "consumer/";

pub fn consumer_count(state: &StreamState) -> usize {
    state.attributes.keys().filter(|key| key.starts_with(CONSUMER_ATTRIBUTE_PREFIX)).count()
}

/// Checks tag keys and values against AWS's lengths.
pub fn check_tags(tags: &BTreeMap<String, String>) -> Result<(), KinesisError> {
    if tags.len() > TAGS_PER_STREAM_MAX {
        return Err(KinesisError::validation(
            "tags",
            "tags",
            &format!("Member must have length less than or equal to {TAGS_PER_STREAM_MAX}"),
        ));
    }
    check_tag_characters(tags)?;
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > TAG_KEY_CHARS_MAX {
            return Err(KinesisError::invalid(format!(
                "Tag key {key} must be between 1 and {TAG_KEY_CHARS_MAX} characters long."
            )));
        }
        if value.chars().count() > TAG_VALUE_CHARS_MAX {
            return Err(KinesisError::invalid(format!(
                "Tag value for key {key} must be at most {TAG_VALUE_CHARS_MAX} characters long."
            )));
        }
    }
    Ok(())
}

/// Refuses tag keys and values with characters other than Unicode letters, digits, white space
/// and `_ . : / = + - @` (streams and channels alike).
pub fn check_tag_characters(tags: &BTreeMap<String, String>) -> Result<(), KinesisError> {
    let allowed = |c: char| {
        c.is_alphanumeric() || c.is_whitespace() || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
    };
    let mut texts = tags.iter().flat_map(|(key, value)| [key, value]);
    if let Some(text) = texts.find(|text| !text.chars().all(allowed)) {
        return Err(KinesisError::invalid(format!(
            "Tag {text} contains characters other than Unicode letters, digits, white space and _ . : / = + - @."
        )));
    }
    Ok(())
}

fn check_tag_keys(keys: &[String]) -> Result<(), KinesisError> {
    if keys.is_empty() || keys.len() > TAGS_PER_STREAM_MAX {
        return Err(KinesisError::validation(
            &format!("[{}]", keys.join(", ")),
            "tagKeys",
            "Member must have length less than or equal to 50 and greater than or equal to 1",
        ));
    }
    Ok(())
}

async fn add(context: &Context<'_>, stream: &StreamRef, tags: BTreeMap<String, String>) -> Result<(), KinesisError> {
    if tags.is_empty() {
        return Err(KinesisError::validation("{}", "tags", "Member must have length greater than or equal to 1"));
    }
    check_tags(&tags)?;
    let stream = stream.resolve(context)?;
    context
        .engine()
        .change_stream(&stream, |state| {
            let mut merged = state.tags.clone();
            merged.extend(tags);
            if merged.len() > TAGS_PER_STREAM_MAX {
                return Ok(Err(KinesisError::invalid(format!(
                    "Failed to add tags to stream {} under account {} because a given stream cannot have more than {TAGS_PER_STREAM_MAX} tags.",
                    stream.name, stream.account
                ))));
            }
            state.tags = merged;
            Ok(Ok(()))
        })
        .await?
}

async fn remove(context: &Context<'_>, stream: &StreamRef, keys: Vec<String>) -> Result<(), KinesisError> {
    check_tag_keys(&keys)?;
    let stream = stream.resolve(context)?;
    context
        .engine()
        .change_stream(&stream, |state| {
            for key in &keys {
                state.tags.remove(key);
            }
            Ok(())
        })
        .await?;
    Ok(())
}

fn tag_list<'a>(tags: impl Iterator<Item = (&'a String, &'a String)>) -> Vec<Value> {
    tags.map(|(key, value)| json!({ "Key": key, "Value": value })).collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AddTagsInput {
    #[serde(flatten)]
    stream: StreamRef,
    tags: Option<BTreeMap<String, String>>,
}

pub async fn add_tags_to_stream(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: AddTagsInput = parse_input("AddTagsToStream", context.request)?;
    let tags = input.tags.ok_or_else(|| KinesisError::missing("tags"))?;
    add(context, &input.stream, tags).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RemoveTagsInput {
    #[serde(flatten)]
    stream: StreamRef,
    tag_keys: Option<Vec<String>>,
}

pub async fn remove_tags_from_stream(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: RemoveTagsInput = parse_input("RemoveTagsFromStream", context.request)?;
    let keys = input.tag_keys.ok_or_else(|| KinesisError::missing("tagKeys"))?;
    remove(context, &input.stream, keys).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListTagsForStreamInput {
    #[serde(flatten)]
    stream: StreamRef,
    exclusive_start_tag_key: Option<String>,
    limit: Option<i64>,
}

pub fn list_tags_for_stream(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: ListTagsForStreamInput = parse_input("ListTagsForStream", context.request)?;
    let limit = input.limit.unwrap_or(50);
    check_range(limit, "limit", 1, 50)?;
    let stream = input.stream.resolve(context)?;
    let state = stream.lock();
    let after = input.exclusive_start_tag_key;
    let remaining: Vec<_> =
        state.tags.iter().filter(|(key, _)| after.as_ref().is_none_or(|after| *key > after)).collect();
    let page = remaining.len().min(limit as usize);
    Ok(json!({
        "Tags": tag_list(remaining[..page].iter().copied()),
        "HasMoreTags": remaining.len() > page,
    }))
}

/// The stream a resource ARN names; only streams carry tags here.
fn resource(arn: Option<String>) -> Result<StreamRef, KinesisError> {
    let arn = arn.ok_or_else(|| KinesisError::missing("resourceARN"))?;
    if crate::names::parse_stream_arn(&arn).is_none() {
        return Err(KinesisError::new(ErrorKind::InvalidArgument, format!("Invalid ResourceARN: {arn}")));
    }
    Ok(StreamRef { stream_name: None, stream_arn: Some(arn) })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagResourceInput {
    #[serde(rename = "ResourceARN")]
    resource_arn: Option<String>,
    tags: Option<BTreeMap<String, String>>,
}

pub async fn tag_resource(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: TagResourceInput = parse_input("TagResource", context.request)?;
    let stream = resource(input.resource_arn)?;
    let tags = input.tags.ok_or_else(|| KinesisError::missing("tags"))?;
    add(context, &stream, tags).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UntagResourceInput {
    #[serde(rename = "ResourceARN")]
    resource_arn: Option<String>,
    tag_keys: Option<Vec<String>>,
}

pub async fn untag_resource(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: UntagResourceInput = parse_input("UntagResource", context.request)?;
    let stream = resource(input.resource_arn)?;
    let keys = input.tag_keys.ok_or_else(|| KinesisError::missing("tagKeys"))?;
    remove(context, &stream, keys).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListTagsForResourceInput {
    #[serde(rename = "ResourceARN")]
    resource_arn: Option<String>,
}

pub fn list_tags_for_resource(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: ListTagsForResourceInput = parse_input("ListTagsForResource", context.request)?;
    let stream = resource(input.resource_arn)?.resolve(context)?;
    let state = stream.lock();
    Ok(json!({ "Tags": tag_list(state.tags.iter()) }))
}
