//! Message archives of FIFO topics (the topic attribute ArchivePolicy) and the replay windows
//! subscriptions ask for (the subscription attribute ReplayPolicy).
//!
//! A topic with an ArchivePolicy keeps every publication in an internal queue of its own
//! (`topic-<id>-archive`, in the internal account) for the policy's retention period: the
//! publication is written there in the same atomic write as its deliveries, and the queue's
//! retention expires it. Nothing receives from that queue; replay reads it as a log, in
//! publication order (`Engine::read_after`). This module owns the archive's lifetime and the
//! archived message's layout; choosing the subscriptions and rendering deliveries stays in
//! `ops::publish`.

use crate::delivery::OUTBOX_ACCOUNT;
use crate::error_map::SnsError;
use crate::message::{Attribute, AttributeValue, Structure};
use bytes::Bytes;
use serde_json::Value;
use std::sync::Arc;
use wharf_domain::topic::{Topic, TopicSettings};
use wharf_domain::{DomainError, Engine, MessageAttribute, MessageContent, NewMessage, Queue, QueueSettings};

/// The longest retention an ArchivePolicy may ask for, in days.
pub const RETENTION_DAYS_MAX: u32 = 365;
const SECONDS_PER_DAY: u32 = 86_400;

/// The retention an ArchivePolicy value asks for: `None` for `{}` (archiving off).
pub fn parse_policy(value: &str) -> Result<Option<u32>, SnsError> {
    let invalid = || SnsError::invalid("ArchivePolicy: MessageRetentionPeriod must be a number of days from 1 to 365");
    let policy: Value =
        serde_json::from_str(value).map_err(|_| SnsError::invalid("ArchivePolicy: failed to parse JSON."))?;
    let Value::Object(members) = policy else { return Err(SnsError::invalid("ArchivePolicy: failed to parse JSON.")) };
    let Some(period) = members.get("MessageRetentionPeriod") else {
        return if members.is_empty() { Ok(None) } else { Err(invalid()) };
    };
    let days = match period {
        Value::String(text) => text.parse::<u32>().map_err(|_| invalid())?,
        Value::Number(number) => number.as_u64().and_then(|days| u32::try_from(days).ok()).ok_or_else(invalid)?,
        _ => return Err(invalid()),
    };
    if !(1..=RETENTION_DAYS_MAX).contains(&days) || members.len() > 1 {
        return Err(invalid());
    }
    Ok(Some(days))
}

/// The retention in days of a topic's archive, if it archives.
pub fn retention_days(settings: &TopicSettings) -> Option<u32> {
    let policy = settings.opaque.get("ArchivePolicy")?;
    parse_policy(policy).ok().flatten().filter(|_| settings.fifo)
}

fn archive_name(topic: &Topic) -> String {
    format!("topic-{}-archive", topic.id)
}

/// The topic's archive, if it has one.
pub fn find(engine: &Engine, topic: &Topic) -> Option<Arc<Queue>> {
    engine.queue(OUTBOX_ACCOUNT, &archive_name(topic))
}

/// Opens (creating on first use) the topic's archive with `days` of retention, or removes it
/// when archiving is off, as AWS deletes a topic's archive with its policy.
pub async fn apply(engine: &Engine, topic: &Topic, days: Option<u32>) -> Result<Option<Arc<Queue>>, DomainError> {
    let Some(days) = days else {
        close(engine, topic).await?;
        return Ok(None);
    };
    let retention_seconds = days * SECONDS_PER_DAY;
    if let Some(queue) = find(engine, topic) {
        if queue.read_settings(|settings| settings.retention_seconds) != retention_seconds {
            engine.update_queue(&queue, |settings, _| settings.retention_seconds = retention_seconds).await?;
        }
        return Ok(Some(queue));
    }
    let settings = QueueSettings { retention_seconds, ..QueueSettings::default() };
    match engine.create_queue(OUTBOX_ACCOUNT, &archive_name(topic), settings, Default::default()).await {
        Ok(queue) => Ok(Some(queue)),
        Err(DomainError::QueueAlreadyExists) => Ok(find(engine, topic)),
        Err(error) => Err(error),
    }
}

/// Removes the topic's archive, if any.
pub async fn close(engine: &Engine, topic: &Topic) -> Result<(), DomainError> {
    match find(engine, topic) {
        Some(queue) => match engine.delete_queue(&queue).await {
            Ok(()) | Err(DomainError::QueueDoesNotExist) => Ok(()),
            Err(error) => Err(error),
        },
        None => Ok(()),
    }
}

/// A publication as the archive keeps it.
pub struct Archived {
    pub message_id: String,
    pub sequence_number: String,
    pub timestamp: String,
    pub subject: Option<String>,
    pub structure: Structure,
    pub attributes: Vec<Attribute>,
    pub group_id: Option<String>,
    pub deduplication_id: Option<String>,
}

fn text(name: &str, value: &str) -> MessageAttribute {
    MessageAttribute {
        name: name.to_string(),
        data_type: "String".to_string(),
        value: wharf_domain::AttributeValue::Text(value.to_string()),
    }
}

/// The archive message of a publication: the message (a JSON object of per-protocol texts when
/// it was published with MessageStructure=json) as the body, its attributes as attributes, and
/// what identifies it as system attributes.
pub fn message(archived: &Archived) -> NewMessage {
    let (body, structured) = match &archived.structure {
        Structure::Single(text) => (text.clone(), "false"),
        Structure::PerProtocol(texts) => (serde_json::to_string(texts).unwrap_or_default(), "true"),
    };
    let mut system_attributes = vec![
        text("message_id", &archived.message_id),
        text("sequence_number", &archived.sequence_number),
        text("timestamp", &archived.timestamp),
        text("structured", structured),
    ];
    if let Some(subject) = &archived.subject {
        system_attributes.push(text("subject", subject));
    }
    let attributes = archived
        .attributes
        .iter()
        .map(|attribute| MessageAttribute {
            name: attribute.name.clone(),
            data_type: attribute.data_type.clone(),
            value: match &attribute.value {
                AttributeValue::Text(text) => wharf_domain::AttributeValue::Text(text.clone()),
                AttributeValue::Binary(bytes) => wharf_domain::AttributeValue::Binary(bytes.clone()),
            },
        })
        .collect();
    let size_bytes = u32::try_from(body.len()).unwrap_or(u32::MAX);
    NewMessage {
        content: MessageContent {
            body: Bytes::from(body),
            attributes,
            system_attributes,
            group_id: archived.group_id.clone(),
            deduplication_id: archived.deduplication_id.clone(),
            ..MessageContent::default()
        },
        delay_seconds: None,
        size_bytes,
    }
}

/// Reads an archive message back; `None` for one this module did not write.
pub fn read(content: &MessageContent) -> Option<Archived> {
    let system = |name: &str| {
        content.system_attributes.iter().find(|attribute| attribute.name == name).and_then(|attribute| match &attribute
            .value
        {
            wharf_domain::AttributeValue::Text(text) => Some(text.clone()),
            wharf_domain::AttributeValue::Binary(_) => None,
        })
    };
    let body = String::from_utf8(content.body.to_vec()).ok()?;
    let structure = if system("structured")? == "true" {
        Structure::PerProtocol(serde_json::from_str(&body).ok()?)
    } else {
        Structure::Single(body)
    };
    let attributes = content
        .attributes
        .iter()
        .map(|attribute| Attribute {
            name: attribute.name.clone(),
            data_type: attribute.data_type.clone(),
            value: match &attribute.value {
                wharf_domain::AttributeValue::Text(text) => AttributeValue::Text(text.clone()),
                wharf_domain::AttributeValue::Binary(bytes) => AttributeValue::Binary(bytes.clone()),
            },
        })
        .collect();
    Some(Archived {
        message_id: system("message_id")?,
        sequence_number: system("sequence_number")?,
        timestamp: system("timestamp")?,
        subject: system("subject"),
        structure,
        attributes,
        group_id: content.group_id.clone(),
        deduplication_id: content.deduplication_id.clone(),
    })
}

/// The publication times a ReplayPolicy asks for, in Unix milliseconds, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayWindow {
    pub start_ms: u64,
    pub end_ms: u64,
}

/// Reads a ReplayPolicy: `{"PointType": "Timestamp", "StartingPoint": "<ISO 8601>"}` with an
/// optional `"EndingPoint"`; without one the replay runs up to now.
pub fn parse_replay_policy(value: &str, now_ms: u64) -> Result<ReplayWindow, SnsError> {
    let invalid = |reason: &str| SnsError::invalid(format!("ReplayPolicy: {reason}"));
    let policy: Value = serde_json::from_str(value).map_err(|_| invalid("failed to parse JSON."))?;
    if policy.get("PointType").and_then(Value::as_str) != Some("Timestamp") {
        return Err(invalid("PointType must be Timestamp"));
    }
    let point = |name: &str| -> Result<Option<u64>, SnsError> {
        match policy.get(name) {
            None => Ok(None),
            Some(Value::String(text)) => {
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .ok()
                    .and_then(|moment| u64::try_from(moment.unix_timestamp_nanos() / 1_000_000).ok())
                    .map(Some)
                    .ok_or_else(|| invalid(&format!("{name} must be an ISO 8601 timestamp")))
            }
            Some(_) => Err(invalid(&format!("{name} must be an ISO 8601 timestamp"))),
        }
    };
    let start_ms = point("StartingPoint")?.ok_or_else(|| invalid("StartingPoint is required"))?;
    let end_ms = point("EndingPoint")?.unwrap_or(now_ms);
    if end_ms < start_ms {
        return Err(invalid("EndingPoint must not be before StartingPoint"));
    }
    if start_ms > now_ms {
        return Err(invalid("StartingPoint must not be in the future"));
    }
    Ok(ReplayWindow { start_ms, end_ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_policies() {
        assert_eq!(parse_policy(r#"{"MessageRetentionPeriod":"30"}"#).unwrap(), Some(30));
        assert_eq!(parse_policy(r#"{"MessageRetentionPeriod":365}"#).unwrap(), Some(365));
        assert_eq!(parse_policy("{}").unwrap(), None);
        for bad in
            [r#"{"MessageRetentionPeriod":"0"}"#, r#"{"MessageRetentionPeriod":"366"}"#, r#"{"Other":1}"#, "[]", "x"]
        {
            assert!(parse_policy(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn replay_windows() {
        let now_ms = 1_700_000_000_000;
        let window =
            parse_replay_policy(r#"{"PointType":"Timestamp","StartingPoint":"2023-11-14T22:13:00Z"}"#, now_ms).unwrap();
        assert_eq!(window, ReplayWindow { start_ms: 1_699_999_980_000, end_ms: now_ms });
        let bounded = parse_replay_policy(
            r#"{"PointType":"Timestamp","StartingPoint":"2023-11-14T22:13:00Z","EndingPoint":"2023-11-14T22:13:10.5Z"}"#,
            now_ms,
        )
        .unwrap();
        assert_eq!(bounded.end_ms, 1_699_999_990_500);
        for bad in [
            r#"{"PointType":"Other","StartingPoint":"2023-11-14T22:13:00Z"}"#,
            r#"{"PointType":"Timestamp"}"#,
            r#"{"PointType":"Timestamp","StartingPoint":"yesterday"}"#,
            r#"{"PointType":"Timestamp","StartingPoint":"2023-11-14T22:13:00Z","EndingPoint":"2023-11-14T22:12:00Z"}"#,
            r#"{"PointType":"Timestamp","StartingPoint":"2030-01-01T00:00:00Z"}"#,
        ] {
            assert!(parse_replay_policy(bad, now_ms).is_err(), "{bad}");
        }
    }

    #[test]
    fn archived_publications_read_back() {
        let archived = Archived {
            message_id: "m".into(),
            sequence_number: "00000000000000000001".into(),
            timestamp: "2026-01-01T00:00:00.000Z".into(),
            subject: Some("s".into()),
            structure: Structure::PerProtocol([("default".to_string(), "d".to_string())].into()),
            attributes: vec![Attribute {
                name: "a".into(),
                data_type: "String".into(),
                value: AttributeValue::Text("v".into()),
            }],
            group_id: Some("g".into()),
            deduplication_id: Some("x".into()),
        };
        let read_back = read(&message(&archived).content).unwrap();
        assert_eq!(read_back.message_id, "m");
        assert_eq!(read_back.subject.as_deref(), Some("s"));
        assert_eq!(read_back.structure.default_text(), "d");
        assert_eq!(read_back.attributes, archived.attributes);
        assert_eq!(read_back.group_id.as_deref(), Some("g"));
        assert!(read(&MessageContent::default()).is_none());
    }
}
