//! SendMessage and SendMessageBatch.

use crate::error_map::{ErrorKind, SqsError};
use crate::md5;
use crate::message::{self, AttributeValueInput};
use crate::ops::batch;
use crate::ops::required;
use crate::Context;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use wharf_domain::{MessageContent, NewMessage, Queue, SentMessage};

/// The most a batch's bodies and attributes may add up to.
pub const BATCH_BYTES_MAX: usize = 1_048_576;

#[derive(Deserialize)]
pub struct Entry {
    #[serde(rename = "Id")]
    id: Option<String>,
    #[serde(rename = "MessageBody")]
    message_body: Option<String>,
    #[serde(rename = "DelaySeconds")]
    delay_seconds: Option<i64>,
    #[serde(rename = "MessageAttributes", default)]
    message_attributes: BTreeMap<String, AttributeValueInput>,
    #[serde(rename = "MessageSystemAttributes", default)]
    message_system_attributes: BTreeMap<String, AttributeValueInput>,
    #[serde(rename = "MessageDeduplicationId")]
    deduplication_id: Option<String>,
    #[serde(rename = "MessageGroupId")]
    group_id: Option<String>,
}

#[derive(Deserialize)]
pub struct SingleInput {
    #[serde(rename = "QueueUrl")]
    queue_url: Option<String>,
    #[serde(flatten)]
    entry: Entry,
}

#[derive(Deserialize)]
pub struct BatchInput {
    #[serde(rename = "QueueUrl")]
    queue_url: Option<String>,
    #[serde(rename = "Entries", default)]
    entries: Vec<Entry>,
}

/// A validated message with the digests its reply carries.
struct Prepared {
    message: NewMessage,
    digests: Digests,
}

struct Digests {
    body_md5: String,
    attributes_md5: Option<String>,
    system_attributes_md5: Option<String>,
}

fn prepare(context: &Context<'_>, queue: &Queue, entry: Entry) -> Result<Prepared, SqsError> {
    let body = required(entry.message_body.as_deref(), "MessageBody")?;
    if body.is_empty() {
        return Err(SqsError::missing("MessageBody"));
    }
    message::check_body(body)?;
    let delay_seconds = entry.delay_seconds.map(message::check_delay).transpose()?;
    if let Some(group_id) = &entry.group_id {
        message::check_client_id("MessageGroupId", group_id)?;
    }
    if let Some(deduplication_id) = &entry.deduplication_id {
        message::check_client_id("MessageDeduplicationId", deduplication_id)?;
    }
    let (fifo, content_based_deduplication, max_bytes) = queue.read_settings(|settings| {
        (settings.fifo, settings.content_based_deduplication, settings.message_bytes_max as usize)
    });
    let deduplication_id = if fifo {
        check_fifo_entry(&entry, delay_seconds, content_based_deduplication)?;
        // Content-based deduplication uses the SHA-256 of the body, which is also what
        // receivers see as the MessageDeduplicationId.
        entry.deduplication_id.clone().or_else(|| Some(hex::encode(Sha256::digest(body.as_bytes()))))
    } else if entry.deduplication_id.is_some() {
        return Err(SqsError::new(
            ErrorKind::InvalidParameterValue,
            "The request include parameter MessageDeduplicationId which is not valid for this queue type",
        ));
    } else {
        None
    };
    let (attributes, attributes_bytes) = message::message_attributes(&entry.message_attributes)?;
    let system_attributes = message::system_attributes(&entry.message_system_attributes)?;
    let size_bytes = body.len() + attributes_bytes;
    if size_bytes > max_bytes {
        return Err(SqsError::new(
            ErrorKind::InvalidParameterValue,
            format!("One or more parameters are invalid. Reason: Message must be shorter than {max_bytes} bytes."),
        ));
    }
    let body_digest = md5::body_digest(body.as_bytes());
    Ok(Prepared {
        digests: Digests {
            body_md5: md5::hex(&body_digest),
            attributes_md5: md5::of_attributes(&attributes),
            system_attributes_md5: md5::of_attributes(&system_attributes),
        },
        message: NewMessage {
            content: MessageContent {
                body: Bytes::copy_from_slice(body.as_bytes()),
                attributes,
                system_attributes,
                sender_id: context.request.caller.access_key_id.clone(),
                group_id: entry.group_id,
                deduplication_id,
                dead_letter_source: None,
                body_digest: Some(body_digest),
            },
            delay_seconds,
            size_bytes: size_bytes as u32,
        },
    })
}

/// AWS's rules for a message sent to a FIFO queue.
fn check_fifo_entry(
    entry: &Entry,
    delay_seconds: Option<u32>,
    content_based_deduplication: bool,
) -> Result<(), SqsError> {
    if entry.group_id.is_none() {
        return Err(SqsError::missing("MessageGroupId"));
    }
    if let Some(delay) = delay_seconds.filter(|delay| *delay > 0) {
        return Err(SqsError::invalid_value(
            "DelaySeconds",
            delay,
            "The request include parameter that is not valid for this queue type.",
        ));
    }
    if entry.deduplication_id.is_none() && !content_based_deduplication {
        return Err(SqsError::new(
            ErrorKind::InvalidParameterValue,
            "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
        ));
    }
    Ok(())
}

/// A FIFO message's SequenceNumber: its position in the queue, as AWS's 20-digit decimal.
pub fn sequence_number(seq: u64) -> String {
    format!("{seq:020}")
}

fn result_fields(digests: &Digests, sent: &SentMessage, fifo: bool) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("MD5OfMessageBody".into(), json!(digests.body_md5));
    if let Some(digest) = &digests.attributes_md5 {
        fields.insert("MD5OfMessageAttributes".into(), json!(digest));
    }
    if let Some(digest) = &digests.system_attributes_md5 {
        fields.insert("MD5OfMessageSystemAttributes".into(), json!(digest));
    }
    fields.insert("MessageId".into(), json!(uuid::Uuid::from_bytes(sent.message_id).to_string()));
    if fifo {
        fields.insert("SequenceNumber".into(), json!(sequence_number(sent.seq)));
    }
    fields
}

pub async fn single(context: &Context<'_>, input: SingleInput) -> Result<Value, SqsError> {
    let queue = context.queue(input.queue_url.as_deref())?;
    let Prepared { message, digests } = prepare(context, &queue, input.entry)?;
    let sent = context.engine().send(&queue, vec![message]).await?;
    let first = sent.first().ok_or_else(|| SqsError::new(ErrorKind::Internal, "the message was not stored"))?;
    Ok(Value::Object(result_fields(&digests, first, queue.read_settings(|settings| settings.fifo))))
}

pub async fn batch(context: &Context<'_>, input: BatchInput) -> Result<Value, SqsError> {
    let queue = context.queue(input.queue_url.as_deref())?;
    batch::check_ids(
        input.entries.iter().map(|entry| entry.id.as_deref().unwrap_or("")),
        "SendMessageBatchRequestEntry",
    )?;
    let total_bytes: usize = input
        .entries
        .iter()
        .map(|entry| {
            entry.message_body.as_deref().map_or(0, str::len)
                + entry
                    .message_attributes
                    .iter()
                    .map(|(name, value)| {
                        name.len()
                            + value.data_type.as_deref().map_or(0, str::len)
                            + value.string_value.as_deref().map_or(0, str::len)
                            + value.binary_value.as_deref().map_or(0, |encoded| encoded.len() / 4 * 3)
                    })
                    .sum::<usize>()
        })
        .sum();
    if total_bytes > BATCH_BYTES_MAX {
        return Err(SqsError::new(
            ErrorKind::BatchRequestTooLong,
            format!("Batch requests cannot be longer than {BATCH_BYTES_MAX} bytes. You have sent {total_bytes} bytes."),
        ));
    }
    let mut failed = Vec::new();
    let mut accepted = Vec::new();
    for entry in input.entries {
        let id = entry.id.clone().unwrap_or_default();
        match prepare(context, &queue, entry) {
            Ok(Prepared { message, digests }) => accepted.push((id, message, digests)),
            Err(error) => failed.push(batch::failure(&id, &error)),
        }
    }
    let mut successful = Vec::with_capacity(accepted.len());
    if !accepted.is_empty() {
        let (ids_and_digests, messages): (Vec<_>, Vec<_>) =
            accepted.into_iter().map(|(id, message, digests)| ((id, digests), message)).unzip();
        let sent = context.engine().send(&queue, messages).await?;
        let fifo = queue.read_settings(|settings| settings.fifo);
        for ((id, digests), sent) in ids_and_digests.iter().zip(sent.iter()) {
            let mut fields = result_fields(digests, sent, fifo);
            fields.insert("Id".into(), json!(id));
            successful.push(Value::Object(fields));
        }
    }
    Ok(json!({ "Successful": successful, "Failed": failed }))
}
