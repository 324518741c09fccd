//! The JSON notification SNS delivers to non-raw subscriptions (and to SQS queues as the message
//! body), signed so receivers can check it came from this server.

use crate::message::{Attribute, AttributeValue};
use crate::signing::{MessageKind, SignatureVersion, Signer, SigningFields};
use base64::Engine as _;
use serde_json::{json, Map, Value};

/// The signature version a topic's messages use (its SignatureVersion attribute; 1 if unset).
pub fn signature_version(settings: &wharf_domain::topic::TopicSettings) -> SignatureVersion {
    match settings.opaque.get("SignatureVersion").map(String::as_str) {
        Some("2") => SignatureVersion::V2,
        _ => SignatureVersion::V1,
    }
}

/// One notification's content.
pub struct Notification<'a> {
    pub message_id: &'a str,
    pub topic_arn: &'a str,
    pub subject: Option<&'a str>,
    pub message: &'a str,
    pub timestamp: &'a str,
    pub attributes: &'a [Attribute],
    /// FIFO topics only.
    pub sequence_number: Option<&'a str>,
    /// Set when an archived publication is delivered again (ReplayPolicy); not signed.
    pub replayed: bool,
}

/// Where receivers fetch the certificate and how they unsubscribe.
pub struct Links<'a> {
    pub signing_cert_url: &'a str,
    pub unsubscribe_url: &'a str,
}

/// Signs a notification. Nothing signed depends on the subscription, so one signature serves
/// every subscription a publication reaches (signing costs milliseconds).
pub fn sign(notification: &Notification<'_>, version: SignatureVersion, signer: &Signer) -> String {
    let fields = SigningFields {
        kind: MessageKind::Notification,
        message: notification.message,
        message_id: notification.message_id,
        subject: notification.subject,
        subscribe_url: None,
        timestamp: notification.timestamp,
        token: None,
        topic_arn: notification.topic_arn,
    };
    signer.sign(version, &fields)
}

/// Renders the notification with its signature, its members in the order AWS sends them.
pub fn render(
    notification: &Notification<'_>,
    version: SignatureVersion,
    signature: &str,
    links: &Links<'_>,
) -> String {
    let mut out = Map::new();
    out.insert("Type".into(), json!("Notification"));
    out.insert("MessageId".into(), json!(notification.message_id));
    if let Some(sequence_number) = notification.sequence_number {
        out.insert("SequenceNumber".into(), json!(sequence_number));
    }
    out.insert("TopicArn".into(), json!(notification.topic_arn));
    if let Some(subject) = notification.subject {
        out.insert("Subject".into(), json!(subject));
    }
    out.insert("Message".into(), json!(notification.message));
    out.insert("Timestamp".into(), json!(notification.timestamp));
    out.insert("SignatureVersion".into(), json!(version.as_str()));
    out.insert("Signature".into(), json!(signature));
    out.insert("SigningCertURL".into(), json!(links.signing_cert_url));
    out.insert("UnsubscribeURL".into(), json!(links.unsubscribe_url));
    if !notification.attributes.is_empty() {
        out.insert("MessageAttributes".into(), attributes_json(notification.attributes));
    }
    if notification.replayed {
        out.insert("Replayed".into(), json!(true));
    }
    Value::Object(out).to_string()
}

/// Renders the event a Lambda function subscribed to the topic is invoked with: one record
/// holding the signed notification (whose URL members are spelled `SigningCertUrl` and
/// `UnsubscribeUrl` there, as AWS does).
pub fn render_lambda_event(
    notification: &Notification<'_>,
    version: SignatureVersion,
    signature: &str,
    links: &Links<'_>,
    subscription_arn: &str,
) -> String {
    let mut sns = Map::new();
    sns.insert("Type".into(), json!("Notification"));
    sns.insert("MessageId".into(), json!(notification.message_id));
    sns.insert("TopicArn".into(), json!(notification.topic_arn));
    sns.insert("Subject".into(), notification.subject.map_or(Value::Null, |subject| json!(subject)));
    sns.insert("Message".into(), json!(notification.message));
    sns.insert("Timestamp".into(), json!(notification.timestamp));
    sns.insert("SignatureVersion".into(), json!(version.as_str()));
    sns.insert("Signature".into(), json!(signature));
    sns.insert("SigningCertUrl".into(), json!(links.signing_cert_url));
    sns.insert("UnsubscribeUrl".into(), json!(links.unsubscribe_url));
    sns.insert("MessageAttributes".into(), attributes_json(notification.attributes));
    json!({"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": subscription_arn,
        "Sns": Value::Object(sns),
    }]})
    .to_string()
}

fn attributes_json(attributes: &[Attribute]) -> Value {
    let mut out = Map::new();
    for attribute in attributes {
        let value = match &attribute.value {
            AttributeValue::Text(text) => text.clone(),
            AttributeValue::Binary(bytes) => base64::engine::general_purpose::STANDARD.encode(bytes),
        };
        out.insert(attribute.name.clone(), json!({"Type": attribute.data_type, "Value": value}));
    }
    Value::Object(out)
}

/// A subscription confirmation's content.
pub struct Confirmation<'a> {
    pub message_id: &'a str,
    pub token: &'a str,
    pub topic_arn: &'a str,
    pub subscribe_url: &'a str,
    pub timestamp: &'a str,
}

/// Renders the signed SubscriptionConfirmation message an HTTP/S endpoint receives.
pub fn render_confirmation(
    confirmation: &Confirmation<'_>,
    version: SignatureVersion,
    signer: &Signer,
    signing_cert_url: &str,
) -> String {
    let message = format!(
        "You have chosen to subscribe to the topic {}.\nTo confirm the subscription, visit the SubscribeURL included in this message.",
        confirmation.topic_arn
    );
    let fields = SigningFields {
        kind: MessageKind::SubscriptionConfirmation,
        message: &message,
        message_id: confirmation.message_id,
        subject: None,
        subscribe_url: Some(confirmation.subscribe_url),
        timestamp: confirmation.timestamp,
        token: Some(confirmation.token),
        topic_arn: confirmation.topic_arn,
    };
    let signature = signer.sign(version, &fields);
    let mut out = Map::new();
    out.insert("Type".into(), json!("SubscriptionConfirmation"));
    out.insert("MessageId".into(), json!(confirmation.message_id));
    out.insert("Token".into(), json!(confirmation.token));
    out.insert("TopicArn".into(), json!(confirmation.topic_arn));
    out.insert("Message".into(), json!(message));
    out.insert("SubscribeURL".into(), json!(confirmation.subscribe_url));
    out.insert("Timestamp".into(), json!(confirmation.timestamp));
    out.insert("SignatureVersion".into(), json!(version.as_str()));
    out.insert("Signature".into(), json!(signature));
    out.insert("SigningCertURL".into(), json!(signing_cert_url));
    Value::Object(out).to_string()
}

/// `2026-11-28T13:00:00.000Z`: UTC with milliseconds, as SNS writes timestamps.
pub fn timestamp(unix_ms: u64) -> String {
    let nanos = i128::from(unix_ms) * 1_000_000;
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp_nanos(nanos) else {
        return "1970-01-01T00:00:00.000Z".to_string();
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(1_780_000_000_123), "2026-05-28T20:26:40.123Z");
    }
}
