//! StartMessageMoveTask, ListMessageMoveTasks and CancelMessageMoveTask: redriving the messages
//! of a dead-letter queue back to their source queues or to a chosen destination.

use crate::error_map::{ErrorKind, SqsError};
use crate::ops::required;
use crate::queue_attributes::queue_arn;
use crate::Context;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use wharf_aws::{arn, token};
use wharf_domain::{MoveFailure, MoveTask, MoveTaskStatus, Queue};

pub const MESSAGES_PER_SECOND_MAX: i64 = 500;
pub const LIST_RESULTS_MAX: i64 = 10;
const HANDLE_PURPOSE: &str = "sqs-message-move-task";
const HANDLE_CHARS_MAX: usize = 256;

fn not_found(parameter: &str) -> SqsError {
    SqsError::new(
        ErrorKind::ResourceNotFound,
        format!("The resource that you specified for the {parameter} parameter doesn't exist."),
    )
}

/// The queue an ARN names; `parameter` words the error.
fn queue_by_arn(context: &Context<'_>, text: &str, parameter: &str) -> Result<Arc<Queue>, SqsError> {
    let parsed = arn::parse(text).filter(|parsed| parsed.service == "sqs").ok_or_else(|| not_found(parameter))?;
    context.check_account(parsed.account, text)?;
    context.engine().queue(parsed.account, parsed.resource).ok_or_else(|| not_found(parameter))
}

/// A task handle seals the task id and its source queue's id.
fn handle_of(context: &Context<'_>, task: &MoveTask) -> String {
    let mut payload = [0u8; 16];
    payload[..8].copy_from_slice(&task.id.to_be_bytes());
    payload[8..].copy_from_slice(&task.source_queue_id.to_be_bytes());
    token::seal(&context.service.tokens, HANDLE_PURPOSE, &payload)
}

fn open_handle(context: &Context<'_>, handle: &str) -> Result<(u64, u64), SqsError> {
    let invalid = || SqsError::new(ErrorKind::InvalidParameterValue, "Value for parameter TaskHandle is invalid.");
    let payload =
        token::open(&context.service.tokens, HANDLE_PURPOSE, handle, HANDLE_CHARS_MAX).map_err(|_| invalid())?;
    let payload: [u8; 16] = payload.try_into().map_err(|_| invalid())?;
    let (task_id, source_queue_id) = payload.split_at(8);
    Ok((
        u64::from_be_bytes(task_id.try_into().map_err(|_| invalid())?),
        u64::from_be_bytes(source_queue_id.try_into().map_err(|_| invalid())?),
    ))
}

#[derive(Deserialize)]
pub struct StartInput {
    #[serde(rename = "SourceArn")]
    source_arn: Option<String>,
    #[serde(rename = "DestinationArn")]
    destination_arn: Option<String>,
    #[serde(rename = "MaxNumberOfMessagesPerSecond")]
    messages_per_second_max: Option<i64>,
}

pub async fn start(context: &Context<'_>, input: StartInput) -> Result<Value, SqsError> {
    let source = queue_by_arn(context, required(input.source_arn.as_deref(), "SourceArn")?, "SourceArn")?;
    if context.engine().dead_letter_sources(&source).is_empty() {
        return Err(SqsError::new(
            ErrorKind::InvalidParameterValue,
            "Source queue must be configured as a Dead Letter Queue.",
        ));
    }
    let destination = match input.destination_arn.as_deref().filter(|text| !text.is_empty()) {
        Some(text) => Some(queue_by_arn(context, text, "DestinationArn")?),
        None => None,
    };
    if let Some(rate) = input.messages_per_second_max {
        if !(1..=MESSAGES_PER_SECOND_MAX).contains(&rate) {
            return Err(SqsError::new(
                ErrorKind::InvalidParameterValue,
                "Value for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: You must enter a number that's between 1 and 500.",
            ));
        }
    }
    let rate = input.messages_per_second_max.map(|rate| rate as u32);
    let engine = context.service.engine.clone();
    let task = engine.start_move_task(&source, destination.as_deref(), rate).await?;
    Ok(json!({ "TaskHandle": handle_of(context, &task) }))
}

#[derive(Deserialize)]
pub struct ListInput {
    #[serde(rename = "SourceArn")]
    source_arn: Option<String>,
    #[serde(rename = "MaxResults")]
    max_results: Option<i64>,
}

pub fn list(context: &Context<'_>, input: ListInput) -> Result<Value, SqsError> {
    let source = queue_by_arn(context, required(input.source_arn.as_deref(), "SourceArn")?, "SourceArn")?;
    let max_results = input.max_results.unwrap_or(1);
    if !(1..=LIST_RESULTS_MAX).contains(&max_results) {
        return Err(SqsError::invalid_value(
            "MaxResults",
            max_results,
            "You must enter a number that's between 1 and 10.",
        ));
    }
    let region = &context.request.region;
    let results: Vec<Value> = context
        .engine()
        .list_move_tasks(&source, max_results as usize)
        .iter()
        .map(|task| {
            let mut entry = Map::new();
            entry.insert("ApproximateNumberOfMessagesMoved".into(), json!(task.moved));
            entry.insert("ApproximateNumberOfMessagesToMove".into(), json!(task.to_move));
            if let Some(destination) = &task.destination {
                entry.insert(
                    "DestinationArn".into(),
                    json!(arn::format("sqs", region, &destination.account, &destination.name)),
                );
            }
            if let Some(MoveFailure::QueueMissing) = task.failure {
                entry.insert("FailureReason".into(), json!("AWS.SimpleQueueService.NonExistentQueue"));
            }
            if let Some(rate) = task.messages_per_second_max {
                entry.insert("MaxNumberOfMessagesPerSecond".into(), json!(rate));
            }
            entry.insert("SourceArn".into(), json!(queue_arn(region, &source)));
            entry.insert("StartedTimestamp".into(), json!(task.started_ms));
            entry.insert("Status".into(), json!(status_name(task.status)));
            if task.status == MoveTaskStatus::Running {
                entry.insert("TaskHandle".into(), json!(handle_of(context, task)));
            }
            Value::Object(entry)
        })
        .collect();
    Ok(json!({ "Results": results }))
}

fn status_name(status: MoveTaskStatus) -> &'static str {
    match status {
        MoveTaskStatus::Running => "RUNNING",
        MoveTaskStatus::Completed => "COMPLETED",
        MoveTaskStatus::Cancelled => "CANCELLED",
        MoveTaskStatus::Failed => "FAILED",
    }
}

#[derive(Deserialize)]
pub struct CancelInput {
    #[serde(rename = "TaskHandle")]
    task_handle: Option<String>,
}

pub async fn cancel(context: &Context<'_>, input: CancelInput) -> Result<Value, SqsError> {
    let (task_id, source_queue_id) = open_handle(context, required(input.task_handle.as_deref(), "TaskHandle")?)?;
    let engine = context.engine();
    let task = engine.move_task(task_id).filter(|task| task.source_queue_id == source_queue_id);
    let source_exists = task.as_ref().is_some_and(|task| {
        engine.queue(&task.source.account, &task.source.name).is_some_and(|queue| queue.id == source_queue_id)
    });
    match task {
        Some(_) if !source_exists => Err(not_found("SourceArn")),
        Some(task) => {
            context.check_account(&task.source.account, "TaskHandle")?;
            let cancelled = engine.cancel_move_task(task.id).await?;
            Ok(json!({ "ApproximateNumberOfMessagesMoved": cancelled.moved }))
        }
        None => Err(SqsError::new(ErrorKind::ResourceNotFound, "Task does not exist.")),
    }
}
