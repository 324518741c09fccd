//! One module per SQS operation (a batch operation lives with its single form). Each parses its
//! input document, validates it, calls the engine and builds the awsJson-shaped output.

mod add_permission;
mod change_message_visibility;
mod create_queue;
mod delete_message;
mod delete_queue;
mod get_queue_attributes;
mod get_queue_url;
mod list_dead_letter_source_queues;
mod list_queues;
mod message_move_tasks;
mod paging;
mod purge_queue;
mod receive_message;
mod send_message;
mod set_queue_attributes;
mod tags;

use crate::error_map::{ErrorKind, SqsError};
use crate::protocol::{self, Output};
use crate::Context;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub(crate) use create_queue::check_declaration as check_queue_declaration;

pub const OPERATIONS: &[&str] = &[
    "AddPermission",
    "CancelMessageMoveTask",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
    "CreateQueue",
    "DeleteMessage",
    "DeleteMessageBatch",
    "DeleteQueue",
    "GetQueueAttributes",
    "GetQueueUrl",
    "ListDeadLetterSourceQueues",
    "ListMessageMoveTasks",
    "ListQueueTags",
    "ListQueues",
    "PurgeQueue",
    "ReceiveMessage",
    "RemovePermission",
    "SendMessage",
    "SendMessageBatch",
    "SetQueueAttributes",
    "StartMessageMoveTask",
    "TagQueue",
    "UntagQueue",
];

pub(crate) async fn run(context: &Context<'_>) -> Result<Box<dyn Output>, SqsError> {
    if context.request.operation == "ReceiveMessage" {
        let output = receive_message::run(context, input(context)?).await?;
        return Ok(Box::new(output));
    }
    let document: Value = match context.request.operation.as_str() {
        "AddPermission" => add_permission::add(context, input(context)?).await,
        "CancelMessageMoveTask" => message_move_tasks::cancel(context, input(context)?).await,
        "ListMessageMoveTasks" => message_move_tasks::list(context, input(context)?),
        "StartMessageMoveTask" => message_move_tasks::start(context, input(context)?).await,
        "RemovePermission" => add_permission::remove(context, input(context)?).await,
        "ChangeMessageVisibility" => change_message_visibility::single(context, input(context)?),
        "ChangeMessageVisibilityBatch" => change_message_visibility::batch(context, input(context)?),
        "CreateQueue" => create_queue::run(context, input(context)?).await,
        "DeleteMessage" => delete_message::single(context, input(context)?).await,
        "DeleteMessageBatch" => delete_message::batch(context, input(context)?).await,
        "DeleteQueue" => delete_queue::run(context, input(context)?).await,
        "GetQueueAttributes" => get_queue_attributes::run(context, input(context)?),
        "GetQueueUrl" => get_queue_url::run(context, input(context)?),
        "ListDeadLetterSourceQueues" => list_dead_letter_source_queues::run(context, input(context)?),
        "ListQueueTags" => tags::list(context, input(context)?),
        "ListQueues" => list_queues::run(context, input(context)?),
        "PurgeQueue" => purge_queue::run(context, input(context)?).await,
        "SendMessage" => send_message::single(context, input(context)?).await,
        "SendMessageBatch" => send_message::batch(context, input(context)?).await,
        "SetQueueAttributes" => set_queue_attributes::run(context, input(context)?).await,
        "TagQueue" => tags::tag(context, input(context)?).await,
        "UntagQueue" => tags::untag(context, input(context)?).await,
        other => Err(SqsError::new(
            ErrorKind::InvalidAction,
            format!("The action {other} is not valid for this web service."),
        )),
    }?;
    Ok(Box::new(document))
}

fn input<T: DeserializeOwned>(context: &Context<'_>) -> Result<T, SqsError> {
    let request = context.request;
    protocol::parse_input(request.protocol, &request.operation, &request.body, &request.params)
}

/// Returns a required member or AWS's MissingParameter error.
pub(crate) fn required<'a, T: ?Sized>(value: Option<&'a T>, name: &str) -> Result<&'a T, SqsError> {
    value.ok_or_else(|| SqsError::missing(name))
}

pub(crate) mod batch {
    //! The rules every SQS batch request shares.
    use crate::error_map::{ErrorKind, SqsError};
    use serde_json::{json, Value};
    use std::collections::HashSet;

    pub const BATCH_ENTRIES_MAX: usize = 10;
    pub const BATCH_ENTRY_ID_CHARS_MAX: usize = 80;

    /// Checks entry count and ids; `entry_kind` names the entry shape in messages.
    pub fn check_ids<'a>(ids: impl ExactSizeIterator<Item = &'a str>, entry_kind: &str) -> Result<(), SqsError> {
        if ids.len() == 0 {
            return Err(SqsError::new(
                ErrorKind::EmptyBatchRequest,
                format!("There should be at least one {entry_kind} in the request."),
            ));
        }
        if ids.len() > BATCH_ENTRIES_MAX {
            return Err(SqsError::new(
                ErrorKind::TooManyEntriesInBatchRequest,
                format!("Maximum number of entries per request are {BATCH_ENTRIES_MAX}. You have sent {}.", ids.len()),
            ));
        }
        let mut seen = HashSet::new();
        for id in ids {
            let valid = !id.is_empty()
                && id.len() <= BATCH_ENTRY_ID_CHARS_MAX
                && id.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
            if !valid {
                return Err(SqsError::new(
                    ErrorKind::InvalidBatchEntryId,
                    "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.",
                ));
            }
            if !seen.insert(id) {
                return Err(SqsError::new(ErrorKind::BatchEntryIdsNotDistinct, format!("Id {id} repeated.")));
            }
        }
        Ok(())
    }

    pub fn failure(id: &str, error: &SqsError) -> Value {
        let wire = error.kind.wire();
        let code = wire.query_code;
        json!({"Id": id, "SenderFault": wire.sender_fault, "Code": code, "Message": error.message})
    }
}
