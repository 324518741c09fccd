//! ReceiveMessage: leases up to ten messages, long-polling when asked to, and returns the
//! requested system and message attributes with the digests SDKs verify.

use crate::error_map::SqsError;
use crate::md5;
use crate::message::{self, TRACE_HEADER_ATTRIBUTE};
use crate::ops::send_message::sequence_number;
use crate::receipt;
use crate::Context;
use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{json, Map, Value};
use wharf_aws::arn;
use wharf_domain::{AttributeValue, Delivery, MessageAttribute, ReceiveRequest, LEASE_TOTAL_MS_MAX};

pub const MAX_NUMBER_OF_MESSAGES_MAX: i64 = 10;
pub const WAIT_TIME_SECONDS_MAX: i64 = 20;

#[derive(Deserialize)]
pub struct Input {
    #[serde(rename = "QueueUrl")]
    queue_url: Option<String>,
    #[serde(rename = "AttributeNames", default)]
    attribute_names: Vec<String>,
    #[serde(rename = "MessageSystemAttributeNames", default)]
    system_attribute_names: Vec<String>,
    #[serde(rename = "MessageAttributeNames", default)]
    message_attribute_names: Vec<String>,
    #[serde(rename = "MaxNumberOfMessages")]
    max_number_of_messages: Option<i64>,
    #[serde(rename = "VisibilityTimeout")]
    visibility_timeout: Option<i64>,
    #[serde(rename = "WaitTimeSeconds")]
    wait_time_seconds: Option<i64>,
    #[serde(rename = "ReceiveRequestAttemptId")]
    receive_request_attempt_id: Option<String>,
}

/// The output, serialized straight from the delivered contents (no intermediate JSON value).
#[derive(Serialize)]
pub struct Output {
    #[serde(rename = "Messages", skip_serializing_if = "Vec::is_empty")]
    messages: Vec<MessageOutput>,
}

#[derive(Serialize)]
struct MessageOutput {
    #[serde(rename = "MessageId")]
    message_id: String,
    #[serde(rename = "ReceiptHandle")]
    receipt_handle: String,
    #[serde(rename = "MD5OfBody")]
    md5_of_body: String,
    #[serde(rename = "Body")]
    body: Utf8Body,
    #[serde(rename = "Attributes", skip_serializing_if = "Map::is_empty")]
    attributes: Map<String, Value>,
    #[serde(rename = "MD5OfMessageAttributes", skip_serializing_if = "Option::is_none")]
    md5_of_message_attributes: Option<String>,
    #[serde(rename = "MessageAttributes", skip_serializing_if = "Map::is_empty")]
    message_attributes: Map<String, Value>,
}

/// A body stored as bytes; bodies are checked to be text when sent.
struct Utf8Body(Bytes);

impl Serialize for Utf8Body {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => serializer.serialize_str(text),
            Err(_) => serializer.serialize_str(&String::from_utf8_lossy(&self.0)),
        }
    }
}

pub async fn run(context: &Context<'_>, input: Input) -> Result<Output, SqsError> {
    let queue = context.queue(input.queue_url.as_deref())?;
    let max_messages = input.max_number_of_messages.unwrap_or(1);
    if !(1..=MAX_NUMBER_OF_MESSAGES_MAX).contains(&max_messages) {
        return Err(SqsError::invalid_value(
            "MaxNumberOfMessages",
            max_messages,
            "Must be between 1 and 10, if provided.",
        ));
    }
    let visibility_max = (LEASE_TOTAL_MS_MAX / 1000) as i64;
    if let Some(visibility) = input.visibility_timeout {
        if !(0..=visibility_max).contains(&visibility) {
            return Err(SqsError::invalid_value(
                "VisibilityTimeout",
                visibility,
                "Must be >= 0 and <= 43200, if provided.",
            ));
        }
    }
    if let Some(wait) = input.wait_time_seconds {
        if !(0..=WAIT_TIME_SECONDS_MAX).contains(&wait) {
            return Err(SqsError::invalid_value("WaitTimeSeconds", wait, "Must be >= 0 and <= 20, if provided."));
        }
    }
    if let Some(attempt_id) = &input.receive_request_attempt_id {
        message::check_client_id("ReceiveRequestAttemptId", attempt_id)?;
    }
    let wait_seconds = input
        .wait_time_seconds
        .map_or_else(|| u64::from(queue.read_settings(|settings| settings.receive_wait_seconds)), |wait| wait as u64);
    let request = ReceiveRequest {
        max_messages: max_messages as usize,
        visibility_timeout_seconds: input.visibility_timeout.map(|visibility| visibility as u32),
        wait_ms: wait_seconds * 1000,
        leased_messages_max: Some(crate::error_map::IN_FLIGHT_MESSAGES_MAX),
        attempt_id: input.receive_request_attempt_id,
    };
    let deliveries = context.engine().receive(&queue, request).await?;
    let mut system_names = input.attribute_names;
    system_names.extend(input.system_attribute_names);
    let messages = deliveries
        .iter()
        .map(|delivery| render(context, queue.id, delivery, &system_names, &input.message_attribute_names))
        .collect();
    Ok(Output { messages })
}

fn render(
    context: &Context<'_>,
    queue_id: u64,
    delivery: &Delivery,
    system_names: &[String],
    attribute_names: &[String],
) -> MessageOutput {
    let content = &delivery.content;
    let selected: Vec<&MessageAttribute> =
        content.attributes.iter().filter(|attribute| is_selected(&attribute.name, attribute_names)).collect();
    let md5_of_message_attributes = md5::of_attributes(selected.iter().copied());
    let mut message_attributes = Map::new();
    if md5_of_message_attributes.is_some() {
        for attribute in selected {
            let value = match &attribute.value {
                AttributeValue::Text(text) => json!({"StringValue": text, "DataType": attribute.data_type}),
                AttributeValue::Binary(bytes) => json!({
                    "BinaryValue": base64::engine::general_purpose::STANDARD.encode(bytes),
                    "DataType": attribute.data_type,
                }),
            };
            message_attributes.insert(attribute.name.clone(), value);
        }
    }
    MessageOutput {
        message_id: uuid::Uuid::from_bytes(delivery.meta.message_id).to_string(),
        receipt_handle: receipt::seal(&context.service.tokens, queue_id, delivery.lease()),
        md5_of_body: md5::hex(&content.body_digest.unwrap_or_else(|| md5::body_digest(&content.body))),
        body: Utf8Body(content.body.clone()),
        attributes: system_attributes(context, delivery, system_names),
        md5_of_message_attributes,
        message_attributes,
    }
}

/// `All` and `.*` select every attribute, `prefix.*` those under a prefix, anything else one name.
fn is_selected(name: &str, requested: &[String]) -> bool {
    requested.iter().any(|wanted| match wanted.as_str() {
        "All" | ".*" => true,
        pattern => match pattern.strip_suffix(".*") {
            Some(prefix) => name.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('.')),
            None => pattern == name,
        },
    })
}

fn system_attributes(context: &Context<'_>, delivery: &Delivery, requested: &[String]) -> Map<String, Value> {
    let all = requested.iter().any(|name| name == "All");
    let wants = |name: &str| all || requested.iter().any(|wanted| wanted == name);
    let meta = &delivery.meta;
    let content = &delivery.content;
    let mut out = Map::new();
    if wants("SenderId") {
        out.insert("SenderId".into(), json!(content.sender_id));
    }
    if wants("SentTimestamp") {
        out.insert("SentTimestamp".into(), json!(meta.sent_ms.to_string()));
    }
    if wants("ApproximateReceiveCount") {
        out.insert("ApproximateReceiveCount".into(), json!(meta.receive_count.to_string()));
    }
    if wants("ApproximateFirstReceiveTimestamp") {
        out.insert("ApproximateFirstReceiveTimestamp".into(), json!(meta.first_receive_ms.to_string()));
    }
    if wants(TRACE_HEADER_ATTRIBUTE) {
        let trace = content.system_attributes.iter().find(|attribute| attribute.name == TRACE_HEADER_ATTRIBUTE);
        if let Some(AttributeValue::Text(value)) = trace.map(|attribute| &attribute.value) {
            out.insert(TRACE_HEADER_ATTRIBUTE.into(), json!(value));
        }
    }
    if let Some(group_id) = content.group_id.as_ref().filter(|_| wants("MessageGroupId")) {
        out.insert("MessageGroupId".into(), json!(group_id));
    }
    // Only FIFO messages carry a deduplication id, and only they have a SequenceNumber.
    if let Some(deduplication_id) = &content.deduplication_id {
        if wants("MessageDeduplicationId") {
            out.insert("MessageDeduplicationId".into(), json!(deduplication_id));
        }
        if wants("SequenceNumber") {
            out.insert("SequenceNumber".into(), json!(sequence_number(meta.seq)));
        }
    }
    if wants("DeadLetterQueueSourceArn") {
        if let Some((account, name)) = content.dead_letter_source.as_deref().and_then(|source| source.split_once('/')) {
            out.insert(
                "DeadLetterQueueSourceArn".into(),
                json!(arn::format("sqs", &context.request.region, account, name)),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::is_selected;

    #[test]
    fn attribute_name_patterns() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(is_selected("a", &names(&["All"])));
        assert!(is_selected("a", &names(&[".*"])));
        assert!(is_selected("bar.baz", &names(&["bar.*"])));
        assert!(!is_selected("barbaz", &names(&["bar.*"])));
        assert!(is_selected("x", &names(&["y", "x"])));
        assert!(!is_selected("x", &names(&[])));
    }
}
