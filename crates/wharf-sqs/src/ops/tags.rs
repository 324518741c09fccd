//! TagQueue, UntagQueue and ListQueueTags.

use crate::error_map::{ErrorKind, SqsError};
use crate::ops::required;
use crate::Context;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub const TAGS_PER_QUEUE_MAX: usize = 50;
pub const TAG_KEY_CHARS_MAX: usize = 128;
pub const TAG_VALUE_CHARS_MAX: usize = 256;

/// Checks tag keys and values and that at most `limit` tags would result.
pub fn check_tags(tags: &BTreeMap<String, String>, limit: usize) -> Result<(), SqsError> {
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > TAG_KEY_CHARS_MAX {
            return Err(SqsError::new(
                ErrorKind::InvalidParameterValue,
                format!("Tag key {key} must be 1 to 128 characters long."),
            ));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(SqsError::new(
                ErrorKind::InvalidParameterValue,
                format!("Tag key {key} uses the reserved prefix aws:."),
            ));
        }
        if value.chars().count() > TAG_VALUE_CHARS_MAX {
            return Err(SqsError::new(
                ErrorKind::InvalidParameterValue,
                format!("Tag value for key {key} must be at most 256 characters long."),
            ));
        }
    }
    if tags.len() > limit {
        return Err(SqsError::new(
            ErrorKind::InvalidParameterValue,
            format!("Too many tags added for queue. A queue can have at most {TAGS_PER_QUEUE_MAX} tags."),
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
pub struct TagInput {
    #[serde(rename = "QueueUrl")]
    queue_url: Option<String>,
    #[serde(rename = "Tags")]
    tags: Option<BTreeMap<String, String>>,
}

pub async fn tag(context: &Context<'_>, input: TagInput) -> Result<Value, SqsError> {
    let queue = context.queue(input.queue_url.as_deref())?;
    let tags = required(input.tags.as_ref(), "Tags")?;
    if tags.is_empty() {
        return Err(SqsError::new(ErrorKind::InvalidParameterValue, "The request must contain at least one tag."));
    }
    let mut merged = queue.tags();
    merged.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
    check_tags(&merged, TAGS_PER_QUEUE_MAX)?;
    context.engine().update_queue(&queue, |_, current| *current = merged).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
pub struct UntagInput {
    #[serde(rename = "QueueUrl")]
    queue_url: Option<String>,
    #[serde(rename = "TagKeys")]
    tag_keys: Option<Vec<String>>,
}

pub async fn untag(context: &Context<'_>, input: UntagInput) -> Result<Value, SqsError> {
    let queue = context.queue(input.queue_url.as_deref())?;
    let keys = required(input.tag_keys.as_ref(), "TagKeys")?;
    context
        .engine()
        .update_queue(&queue, |_, current| {
            for key in keys {
                current.remove(key);
            }
        })
        .await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
pub struct ListInput {
    #[serde(rename = "QueueUrl")]
    queue_url: Option<String>,
}

pub fn list(context: &Context<'_>, input: ListInput) -> Result<Value, SqsError> {
    let queue = context.queue(input.queue_url.as_deref())?;
    let tags = queue.tags();
    if tags.is_empty() {
        return Ok(json!({}));
    }
    Ok(json!({ "Tags": tags }))
}
