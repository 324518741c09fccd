//! DeleteMessage and DeleteMessageBatch. Deleting a message that is already gone succeeds, as on
//! AWS; a handle that is not one of this queue's is ReceiptHandleIsInvalid; on a FIFO queue a
//! handle whose lease ended is refused as expired.

use crate::error_map::SqsError;
use crate::ops::batch;
use crate::receipt;
use crate::Context;
use serde::Deserialize;
use serde_json::{json, Value};
use wharf_domain::DomainError;

#[derive(Deserialize)]
pub struct SingleInput {
    #[serde(rename = "QueueUrl")]
    queue_url: Option<String>,
    #[serde(rename = "ReceiptHandle")]
    receipt_handle: Option<String>,
}

#[derive(Deserialize)]
pub struct Entry {
    #[serde(rename = "Id")]
    id: Option<String>,
    #[serde(rename = "ReceiptHandle")]
    receipt_handle: Option<String>,
}

#[derive(Deserialize)]
pub struct BatchInput {
    #[serde(rename = "QueueUrl")]
    queue_url: Option<String>,
    #[serde(rename = "Entries", default)]
    entries: Vec<Entry>,
}

pub async fn single(context: &Context<'_>, input: SingleInput) -> Result<Value, SqsError> {
    let queue = context.queue(input.queue_url.as_deref())?;
    let lease = receipt::open_required(&context.service.tokens, queue.id, input.receipt_handle.as_deref())?;
    let outcomes = context.engine().delete_messages(&queue, &[lease]).await?;
    for outcome in outcomes {
        outcome.map_err(|error| answer(error, input.receipt_handle.as_deref().unwrap_or("")))?;
    }
    Ok(json!({}))
}

fn answer(error: DomainError, handle: &str) -> SqsError {
    match error {
        DomainError::LeaseExpired => {
            SqsError::invalid_value("ReceiptHandle", handle, "The receipt handle has expired.")
        }
        other => other.into(),
    }
}

pub async fn batch(context: &Context<'_>, input: BatchInput) -> Result<Value, SqsError> {
    let queue = context.queue(input.queue_url.as_deref())?;
    batch::check_ids(
        input.entries.iter().map(|entry| entry.id.as_deref().unwrap_or("")),
        "DeleteMessageBatchRequestEntry",
    )?;
    let mut leases = Vec::new();
    let mut opened = Vec::new();
    let mut failed = Vec::new();
    for entry in &input.entries {
        let id = entry.id.as_deref().unwrap_or("");
        match receipt::open_required(&context.service.tokens, queue.id, entry.receipt_handle.as_deref()) {
            Ok(lease) => {
                leases.push(lease);
                opened.push(entry);
            }
            Err(error) => failed.push(batch::failure(id, &error)),
        }
    }
    let outcomes = context.engine().delete_messages(&queue, &leases).await?;
    let mut successful = Vec::new();
    for (entry, outcome) in opened.into_iter().zip(outcomes) {
        let id = entry.id.as_deref().unwrap_or("");
        match outcome {
            Ok(()) => successful.push(json!({ "Id": id })),
            Err(error) => {
                failed.push(batch::failure(id, &answer(error, entry.receipt_handle.as_deref().unwrap_or(""))))
            }
        }
    }
    Ok(json!({ "Successful": successful, "Failed": failed }))
}
