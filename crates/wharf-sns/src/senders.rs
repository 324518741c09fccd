//! Where SMS and mobile push messages go. Wharf holds no carrier or push-platform connection;
//! the outbox hands each message to a [`MobileSender`]. The default, [`Recorder`], keeps the most
//! recent messages of each kind so a test or a developer can read them back over HTTP under
//! `/_wharf/sns/`. [`Webhook`] (`[sns] mobile_webhook`) also POSTs each message as JSON to a
//! gateway of the user's own that talks to a carrier or a push service; an embedding program can
//! plug in its own sender instead.

use crate::http_client::DeliveryClient;
use bytes::Bytes;
use http_body_util::Full;
use serde::Serialize;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

/// Whether a message goes to a phone or to an app on a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Sms,
    Push,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Push => "push",
        }
    }
}

/// One message for one phone number or platform endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MobileMessage {
    #[serde(skip)]
    pub channel: Channel,
    pub message_id: String,
    /// The account that sent it.
    pub account: String,
    /// The phone number (SMS) or the endpoint ARN (push).
    pub destination: String,
    pub message: String,
    /// The topic it was published to, when it came through one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_arn: Option<String>,
    /// The platform token of the endpoint (push only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// When Wharf handed it to the sender (ISO 8601, UTC).
    pub timestamp: String,
}

/// Delivers SMS and push messages; `true` once a message is accepted, `false` to retry later.
pub trait MobileSender: Send + Sync + 'static {
    fn send<'a>(&'a self, message: MobileMessage) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>>;
}

/// How many messages of each kind the recorder keeps; older ones are dropped first.
pub const RECORDED_MESSAGES_MAX: usize = 10_000;

/// The default sender: records every message, keeping the most recent of each kind.
#[derive(Default)]
pub struct Recorder {
    sms: Mutex<VecDeque<MobileMessage>>,
    push: Mutex<VecDeque<MobileMessage>>,
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    fn log(&self, channel: Channel) -> std::sync::MutexGuard<'_, VecDeque<MobileMessage>> {
        let log = match channel {
            Channel::Sms => &self.sms,
            Channel::Push => &self.push,
        };
        log.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The recorded messages of one kind, oldest first, optionally only those for `destination`.
    pub fn messages(&self, channel: Channel, destination: Option<&str>) -> Vec<MobileMessage> {
        self.log(channel)
            .iter()
            .filter(|message| destination.is_none_or(|wanted| message.destination == wanted))
            .cloned()
            .collect()
    }

    /// Forgets the recorded messages of one kind.
    pub fn clear(&self, channel: Channel) {
        self.log(channel).clear();
    }

    pub fn record(&self, message: MobileMessage) {
        let mut log = self.log(message.channel);
        if log.len() == RECORDED_MESSAGES_MAX {
            log.pop_front();
        }
        log.push_back(message);
    }
}

impl MobileSender for Recorder {
    fn send<'a>(&'a self, message: MobileMessage) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        self.record(message);
        Box::pin(std::future::ready(true))
    }
}

/// How long the gateway may take to accept one message.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(15);

/// Forwards every message to a gateway URL as a JSON POST (the recorded fields plus `Channel`,
/// `sms` or `push`), and records it once the gateway answered 2xx; anything else is retried
/// on AWS's schedule for endpoints it manages.
pub struct Webhook {
    url: String,
    client: DeliveryClient,
    recorder: Arc<Recorder>,
}

impl Webhook {
    pub fn new(url: String, client: DeliveryClient, recorder: Arc<Recorder>) -> Self {
        Webhook { url, client, recorder }
    }

    async fn forward(&self, message: &MobileMessage) -> bool {
        let mut payload = serde_json::to_value(message).unwrap_or_default();
        payload["Channel"] = serde_json::json!(message.channel.as_str());
        let request = hyper::Request::post(&self.url)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(payload.to_string())));
        let Ok(request) = request else { return false };
        match tokio::time::timeout(WEBHOOK_TIMEOUT, self.client.request(request)).await {
            Ok(Ok(response)) => response.status().is_success(),
            _ => false,
        }
    }
}

impl MobileSender for Webhook {
    fn send<'a>(&'a self, message: MobileMessage) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        Box::pin(async move {
            let accepted = self.forward(&message).await;
            if accepted {
                self.recorder.record(message);
            }
            accepted
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(channel: Channel, destination: &str, text: &str) -> MobileMessage {
        MobileMessage {
            channel,
            message_id: "id".into(),
            account: "000000000000".into(),
            destination: destination.into(),
            message: text.into(),
            topic_arn: None,
            subscription_arn: None,
            token: None,
            timestamp: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    #[tokio::test]
    async fn records_each_kind_apart_and_filters_by_destination() {
        let recorder = Recorder::new();
        assert!(recorder.send(message(Channel::Sms, "+15550100", "one")).await);
        assert!(recorder.send(message(Channel::Sms, "+15550199", "two")).await);
        assert!(recorder.send(message(Channel::Push, "arn:endpoint", "three")).await);
        let texts = |found: Vec<MobileMessage>| found.into_iter().map(|message| message.message).collect::<Vec<_>>();
        assert_eq!(texts(recorder.messages(Channel::Sms, None)), vec!["one", "two"]);
        assert_eq!(texts(recorder.messages(Channel::Sms, Some("+15550199"))), vec!["two"]);
        assert_eq!(texts(recorder.messages(Channel::Push, None)), vec!["three"]);
        recorder.clear(Channel::Sms);
        assert!(recorder.messages(Channel::Sms, None).is_empty());
        assert_eq!(recorder.messages(Channel::Push, None).len(), 1);
    }

    #[tokio::test]
    async fn keeps_only_the_most_recent_messages() {
        let recorder = Recorder::new();
        for index in 0..RECORDED_MESSAGES_MAX + 5 {
            recorder.send(message(Channel::Sms, "+15550100", &index.to_string())).await;
        }
        let kept = recorder.messages(Channel::Sms, None);
        assert_eq!(kept.len(), RECORDED_MESSAGES_MAX);
        assert_eq!(kept[0].message, "5");
    }

    #[test]
    fn serializes_with_aws_style_names() {
        let json = serde_json::to_value(message(Channel::Sms, "+15550100", "hi")).unwrap();
        assert_eq!(json["Destination"], "+15550100");
        assert_eq!(json["MessageId"], "id");
        assert!(json.get("TopicArn").is_none());
        assert!(json.get("Channel").is_none());
    }
}
