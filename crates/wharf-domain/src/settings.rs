//! A queue's settings and how they are stored as name/value pairs in a [`QueueRecord`].

use std::collections::BTreeMap;

/// Identifies a queue by owner and name; how a queue names another (its dead-letter queue).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueName {
    pub account: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterPolicy {
    pub target: QueueName,
    /// A message is moved once a receive would make its receive count exceed this.
    pub max_receive_count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    pub visibility_timeout_seconds: u32,
    pub delay_seconds: u32,
    pub message_bytes_max: u32,
    pub retention_seconds: u32,
    pub receive_wait_seconds: u32,
    pub dead_letter: Option<DeadLetterPolicy>,
    pub fifo: bool,
    pub content_based_deduplication: bool,
    /// FIFO: deduplication ids are scoped to their message group instead of the queue.
    pub dedup_per_group: bool,
    /// Settings the domain stores for a front-end without interpreting them.
    pub opaque: BTreeMap<String, String>,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            visibility_timeout_seconds: 30,
            delay_seconds: 0,
            message_bytes_max: 1_048_576,
            retention_seconds: 345_600,
            receive_wait_seconds: 0,
            dead_letter: None,
            fifo: false,
            content_based_deduplication: false,
            dedup_per_group: false,
            opaque: BTreeMap::new(),
        }
    }
}

const OPAQUE_PREFIX: &str = "opaque.";

impl QueueSettings {
    pub(crate) fn to_pairs(&self) -> Vec<(String, String)> {
        let mut pairs = vec![
            ("visibility_timeout_seconds".to_string(), self.visibility_timeout_seconds.to_string()),
            ("delay_seconds".to_string(), self.delay_seconds.to_string()),
            ("message_bytes_max".to_string(), self.message_bytes_max.to_string()),
            ("retention_seconds".to_string(), self.retention_seconds.to_string()),
            ("receive_wait_seconds".to_string(), self.receive_wait_seconds.to_string()),
            ("fifo".to_string(), self.fifo.to_string()),
            ("content_based_deduplication".to_string(), self.content_based_deduplication.to_string()),
            ("dedup_per_group".to_string(), self.dedup_per_group.to_string()),
        ];
        if let Some(policy) = &self.dead_letter {
            pairs.push(("dead_letter_account".to_string(), policy.target.account.clone()));
            pairs.push(("dead_letter_name".to_string(), policy.target.name.clone()));
            pairs.push(("dead_letter_max_receive_count".to_string(), policy.max_receive_count.to_string()));
        }
        for (name, value) in &self.opaque {
            pairs.push((format!("{OPAQUE_PREFIX}{name}"), value.clone()));
        }
        pairs
    }

    /// Rebuilds settings from stored pairs; unknown or unparsable pairs keep their defaults so a
    /// newer record never stops an older binary from starting.
    pub(crate) fn from_pairs(pairs: &[(String, String)]) -> Self {
        let mut settings = QueueSettings::default();
        let mut dead_letter_account = None;
        let mut dead_letter_name = None;
        let mut dead_letter_max = None;
        for (key, value) in pairs {
            let number = value.parse::<u32>().ok();
            match key.as_str() {
                "visibility_timeout_seconds" => set(&mut settings.visibility_timeout_seconds, number),
                "delay_seconds" => set(&mut settings.delay_seconds, number),
                "message_bytes_max" => set(&mut settings.message_bytes_max, number),
                "retention_seconds" => set(&mut settings.retention_seconds, number),
                "receive_wait_seconds" => set(&mut settings.receive_wait_seconds, number),
                "fifo" => settings.fifo = value == "true",
                "content_based_deduplication" => settings.content_based_deduplication = value == "true",
                "dedup_per_group" => settings.dedup_per_group = value == "true",
                "dead_letter_account" => dead_letter_account = Some(value.clone()),
                "dead_letter_name" => dead_letter_name = Some(value.clone()),
                "dead_letter_max_receive_count" => dead_letter_max = number,
                other => {
                    if let Some(name) = other.strip_prefix(OPAQUE_PREFIX) {
                        settings.opaque.insert(name.to_string(), value.clone());
                    }
                }
            }
        }
        if let (Some(account), Some(name), Some(max_receive_count)) =
            (dead_letter_account, dead_letter_name, dead_letter_max)
        {
            settings.dead_letter = Some(DeadLetterPolicy { target: QueueName { account, name }, max_receive_count });
        }
        settings
    }
}

fn set(field: &mut u32, value: Option<u32>) {
    if let Some(value) = value {
        *field = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_through_pairs() {
        let mut settings = QueueSettings {
            visibility_timeout_seconds: 5,
            delay_seconds: 7,
            message_bytes_max: 2048,
            retention_seconds: 60,
            receive_wait_seconds: 20,
            dead_letter: Some(DeadLetterPolicy {
                target: QueueName { account: "123456789012".into(), name: "dlq".into() },
                max_receive_count: 3,
            }),
            fifo: true,
            content_based_deduplication: true,
            dedup_per_group: true,
            opaque: BTreeMap::new(),
        };
        settings.opaque.insert("Policy".into(), "{\"Version\":\"2012-10-17\"}".into());
        assert_eq!(QueueSettings::from_pairs(&settings.to_pairs()), settings);
        assert_eq!(QueueSettings::from_pairs(&QueueSettings::default().to_pairs()), QueueSettings::default());
    }
}
