//! ChangeMessageVisibility and its batch form: 0 releases a message at once; a lease may not
//! extend beyond 12 hours from the receive that granted it.

use crate::error_map::SqsError;
use crate::ops::batch;
use crate::ops::required;
use crate::receipt;
use crate::Context;
use serde::Deserialize;
use serde_json::{json, Value};
use wharf_domain::{Queue, LEASE_TOTAL_MS_MAX};

#[derive(Deserialize)]
pub struct SingleInput {
    #[serde(rename = "QueueUrl")]
    queue_url: Option<String>,
    #[serde(rename = "ReceiptHandle")]
    receipt_handle: Option<String>,
    #[serde(rename = "VisibilityTimeout")]
    visibility_timeout: Option<i64>,
}

#[derive(Deserialize)]
pub struct Entry {
    #[serde(rename = "Id")]
    id: Option<String>,
    #[serde(rename = "ReceiptHandle")]
    receipt_handle: Option<String>,
    #[serde(rename = "VisibilityTimeout")]
    visibility_timeout: Option<i64>,
}

#[derive(Deserialize)]
pub struct BatchInput {
    #[serde(rename = "QueueUrl")]
    queue_url: Option<String>,
    #[serde(rename = "Entries", default)]
    entries: Vec<Entry>,
}

fn change(context: &Context<'_>, queue: &Queue, handle: Option<&str>, visibility: Option<i64>) -> Result<(), SqsError> {
    let handle = required(handle, "ReceiptHandle")?;
    let visibility = *required(visibility.as_ref(), "VisibilityTimeout")?;
    let visibility_max = (LEASE_TOTAL_MS_MAX / 1000) as i64;
    if !(0..=visibility_max).contains(&visibility) {
        return Err(SqsError::invalid_value(
            "VisibilityTimeout",
            visibility,
            "VisibilityTimeout must be an integer between 0 and 43200",
        ));
    }
    let lease = receipt::open(&context.service.tokens, queue.id, handle)?;
    context.engine().change_visibility(queue, lease, visibility as u32)?;
    Ok(())
}

pub fn single(context: &Context<'_>, input: SingleInput) -> Result<Value, SqsError> {
    let queue = context.queue(input.queue_url.as_deref())?;
    change(context, &queue, input.receipt_handle.as_deref(), input.visibility_timeout)?;
    Ok(json!({}))
}

pub fn batch(context: &Context<'_>, input: BatchInput) -> Result<Value, SqsError> {
    let queue = context.queue(input.queue_url.as_deref())?;
    batch::check_ids(
        input.entries.iter().map(|entry| entry.id.as_deref().unwrap_or("")),
        "ChangeMessageVisibilityBatchRequestEntry",
    )?;
    let mut successful = Vec::new();
    let mut failed = Vec::new();
    for entry in &input.entries {
        let id = entry.id.as_deref().unwrap_or("");
        match change(context, &queue, entry.receipt_handle.as_deref(), entry.visibility_timeout) {
            Ok(()) => successful.push(json!({ "Id": id })),
            Err(error) => failed.push(batch::failure(id, &error)),
        }
    }
    Ok(json!({ "Successful": successful, "Failed": failed }))
}
