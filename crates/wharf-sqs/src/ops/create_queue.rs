//! CreateQueue: idempotent when every given attribute matches the existing queue.

use crate::error_map::{ErrorKind, SqsError};
use crate::ops::required;
use crate::ops::tags::{check_tags, TAGS_PER_QUEUE_MAX};
use crate::queue_attributes;
use crate::Context;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use wharf_domain::{DomainError, QueueName, QueueSettings};

pub const QUEUE_NAME_CHARS_MAX: usize = 80;

#[derive(Deserialize)]
pub struct Input {
    #[serde(rename = "QueueName")]
    queue_name: Option<String>,
    #[serde(rename = "Attributes", default)]
    attributes: BTreeMap<String, String>,
    #[serde(rename = "tags", default)]
    tags: BTreeMap<String, String>,
}

pub fn check_queue_name(name: &str) -> Result<(), SqsError> {
    let stem = name.strip_suffix(".fifo").unwrap_or(name);
    let valid = !stem.is_empty()
        && name.len() <= QUEUE_NAME_CHARS_MAX
        && stem.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if !valid {
        return Err(SqsError::new(
            ErrorKind::InvalidParameterValue,
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        ));
    }
    Ok(())
}

/// Checks a queue's name, type and tags before it is created.
pub fn check_declaration(
    name: &str,
    attributes: &BTreeMap<String, String>,
    tags: &BTreeMap<String, String>,
) -> Result<(), SqsError> {
    check_queue_name(name)?;
    let fifo_requested = attributes.get("FifoQueue").is_some_and(|value| value == "true");
    // A FIFO queue needs both the `.fifo` name and FifoQueue=true; either alone is an error.
    if fifo_requested != name.ends_with(".fifo") {
        return Err(SqsError::new(
            ErrorKind::InvalidParameterValue,
            "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.",
        ));
    }
    check_tags(tags, TAGS_PER_QUEUE_MAX)
}

pub async fn run(context: &Context<'_>, input: Input) -> Result<Value, SqsError> {
    let name = required(input.queue_name.as_deref(), "QueueName")?;
    check_declaration(name, &input.attributes, &input.tags)?;
    let account = context.account();
    if let Some(existing) = context.engine().queue(account, name) {
        return existing_queue(context, &existing, &input.attributes);
    }
    let mut settings = QueueSettings::default();
    queue_attributes::apply(&mut settings, &input.attributes, true, account)?;
    let source = QueueName { account: account.to_string(), name: name.to_string() };
    queue_attributes::check_redrive_allowed(context.engine(), &context.request.region, &source, &settings)?;
    match context.engine().create_queue(account, name, settings, input.tags).await {
        Ok(queue) => Ok(json!({ "QueueUrl": context.queue_url(&queue) })),
        Err(DomainError::QueueAlreadyExists) => match context.engine().queue(account, name) {
            Some(existing) => existing_queue(context, &existing, &input.attributes),
            None => Err(DomainError::QueueAlreadyExists.into()),
        },
        Err(error) => Err(error.into()),
    }
}

fn existing_queue(
    context: &Context<'_>,
    queue: &wharf_domain::Queue,
    attributes: &BTreeMap<String, String>,
) -> Result<Value, SqsError> {
    if !queue_attributes::matches(queue, attributes, context.account())? {
        return Err(DomainError::QueueAlreadyExists.into());
    }
    Ok(json!({ "QueueUrl": context.queue_url(queue) }))
}
