//! TagResource, UntagResource and ListTagsForResource on topics, with AWS's tag limits.

use super::required;
use crate::arns;
use crate::error_map::{ErrorKind, SnsError};
use crate::Context;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use wharf_domain::topic::Topic;

pub const TAGS_PER_TOPIC_MAX: usize = 50;
pub const TAG_KEY_CHARS_MAX: usize = 128;
pub const TAG_VALUE_CHARS_MAX: usize = 256;

#[derive(Deserialize, Clone)]
pub struct TagInput {
    #[serde(rename = "Key")]
    key: Option<String>,
    #[serde(rename = "Value")]
    value: Option<String>,
}

/// Checks tags and turns them into a map.
pub fn check_tags(tags: &[TagInput]) -> Result<BTreeMap<String, String>, SnsError> {
    let mut out = BTreeMap::new();
    for tag in tags {
        let key = tag.key.as_deref().unwrap_or("");
        let value = tag.value.as_deref().unwrap_or("");
        if key.is_empty() || key.chars().count() > TAG_KEY_CHARS_MAX || key.to_ascii_lowercase().starts_with("aws:") {
            return Err(SnsError::invalid("Tag Key"));
        }
        if value.chars().count() > TAG_VALUE_CHARS_MAX {
            return Err(SnsError::invalid("Tag Value"));
        }
        out.insert(key.to_string(), value.to_string());
    }
    if out.len() > TAGS_PER_TOPIC_MAX {
        return Err(tag_limit());
    }
    Ok(out)
}

fn tag_limit() -> SnsError {
    SnsError::new(ErrorKind::TagLimitExceeded, "Could not complete request: tag quota of per resource exceeded")
}

fn resource(context: &Context<'_>, arn: Option<&str>) -> Result<Arc<Topic>, SnsError> {
    let arn = required(arn, "ResourceArn")?;
    let not_found = || SnsError::new(ErrorKind::ResourceNotFound, "Resource does not exist");
    let (account, name) = arns::parse_topic(arn).ok_or_else(not_found)?;
    context.check_account(account)?;
    context.engine().topic(account, name).ok_or_else(not_found)
}

#[derive(Deserialize)]
pub struct TagResourceInput {
    #[serde(rename = "ResourceArn")]
    resource_arn: Option<String>,
    #[serde(rename = "Tags", default, deserialize_with = "super::list_or_empty")]
    tags: Vec<TagInput>,
}

pub async fn tag(context: &Context<'_>, input: TagResourceInput) -> Result<Value, SnsError> {
    let topic = resource(context, input.resource_arn.as_deref())?;
    let added = check_tags(&input.tags)?;
    let mut tags = topic.tags();
    tags.extend(added);
    if tags.len() > TAGS_PER_TOPIC_MAX {
        return Err(tag_limit());
    }
    context.engine().update_topic(&topic, |_, current| *current = tags).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
pub struct UntagResourceInput {
    #[serde(rename = "ResourceArn")]
    resource_arn: Option<String>,
    #[serde(rename = "TagKeys", default, deserialize_with = "super::list_or_empty")]
    tag_keys: Vec<String>,
}

pub async fn untag(context: &Context<'_>, input: UntagResourceInput) -> Result<Value, SnsError> {
    let topic = resource(context, input.resource_arn.as_deref())?;
    context
        .engine()
        .update_topic(&topic, |_, current| {
            for key in &input.tag_keys {
                current.remove(key);
            }
        })
        .await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
pub struct ListInput {
    #[serde(rename = "ResourceArn")]
    resource_arn: Option<String>,
}

pub fn list(context: &Context<'_>, input: ListInput) -> Result<Value, SnsError> {
    let topic = resource(context, input.resource_arn.as_deref())?;
    let tags: Vec<Value> = topic.tags().into_iter().map(|(key, value)| json!({"Key": key, "Value": value})).collect();
    Ok(json!({ "Tags": tags }))
}
