//! Topics and their subscriptions: who receives what a topic is given. A subscription delivers
//! either into a Wharf queue (written atomically with the publication) or to an endpoint outside
//! Wharf, which a front-end names with a protocol and an address the domain does not interpret.
//!
//! Subscriptions are immutable snapshots behind `Arc`s; a change replaces one, so a publication
//! in progress always sees one consistent version.

use crate::filter_policy::{AttributeView, FilterPolicy, FilterPolicyError, FilterScope};
use crate::settings::QueueName;
use std::collections::BTreeMap;
use std::sync::Arc;
use wharf_store::{SubscriptionRecord, TopicId, TopicRecord};

/// Where a subscription delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A Wharf queue: delivery is part of the publication's own durable write.
    Queue(QueueName),
    /// Anything else, delivered by the front-end that owns the protocol.
    External { protocol: String, address: String },
}

/// A topic's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicSettings {
    /// Ordered, deduplicated delivery to FIFO queues only.
    pub fifo: bool,
    pub content_based_deduplication: bool,
    /// Settings stored for a front-end without interpretation.
    pub opaque: BTreeMap<String, String>,
}

const FIFO_PAIR: &str = "fifo";
const CONTENT_BASED_DEDUPLICATION_PAIR: &str = "content_based_deduplication";
const OPAQUE_PREFIX: &str = "opaque.";

impl TopicSettings {
    fn to_pairs(&self) -> Vec<(String, String)> {
        let mut pairs = vec![
            (FIFO_PAIR.to_string(), self.fifo.to_string()),
            (CONTENT_BASED_DEDUPLICATION_PAIR.to_string(), self.content_based_deduplication.to_string()),
        ];
        pairs.extend(self.opaque.iter().map(|(name, value)| (format!("{OPAQUE_PREFIX}{name}"), value.clone())));
        pairs
    }

    fn from_pairs(pairs: &[(String, String)]) -> Self {
        let mut settings = TopicSettings::default();
        for (key, value) in pairs {
            match key.as_str() {
                FIFO_PAIR => settings.fifo = value == "true",
                CONTENT_BASED_DEDUPLICATION_PAIR => settings.content_based_deduplication = value == "true",
                other => {
                    if let Some(name) = other.strip_prefix(OPAQUE_PREFIX) {
                        settings.opaque.insert(name.to_string(), value.clone());
                    }
                }
            }
        }
        settings
    }
}

/// The subscription attributes the domain itself reads.
pub const FILTER_POLICY_ATTRIBUTE: &str = "FilterPolicy";
pub const FILTER_POLICY_SCOPE_ATTRIBUTE: &str = "FilterPolicyScope";

/// One subscription of one topic.
pub struct Subscription {
    /// Unique among all subscriptions, never reused.
    pub id: u64,
    /// The public identifier (a UUID) that names the subscription within its topic.
    pub key: String,
    pub topic: TopicId,
    /// The account that subscribed.
    pub owner: String,
    pub endpoint: Endpoint,
    pub confirmed: bool,
    /// Secret a confirmation must present while the subscription is pending.
    pub confirmation_token: Option<String>,
    /// Every attribute as the front-end set it, the filter policy's text included.
    pub attributes: BTreeMap<String, String>,
    /// The compiled filter policy, shared by every copy of this subscription.
    filter: Option<Arc<(FilterScope, FilterPolicy)>>,
}

impl Subscription {
    /// Builds a subscription, compiling its filter policy (an error if the policy is invalid).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: u64,
        key: String,
        topic: TopicId,
        owner: String,
        endpoint: Endpoint,
        confirmed: bool,
        confirmation_token: Option<String>,
        attributes: BTreeMap<String, String>,
    ) -> Result<Self, FilterPolicyError> {
        let filter = compile_filter(&attributes)?;
        Ok(Subscription { id, key, topic, owner, endpoint, confirmed, confirmation_token, attributes, filter })
    }

    /// A copy with other attributes (the filter policy recompiled).
    pub fn with_attributes(&self, attributes: BTreeMap<String, String>) -> Result<Self, FilterPolicyError> {
        Subscription::new(
            self.id,
            self.key.clone(),
            self.topic,
            self.owner.clone(),
            self.endpoint.clone(),
            self.confirmed,
            self.confirmation_token.clone(),
            attributes,
        )
    }

    /// A confirmed copy.
    pub fn confirmed(&self) -> Self {
        Subscription {
            id: self.id,
            key: self.key.clone(),
            topic: self.topic,
            owner: self.owner.clone(),
            endpoint: self.endpoint.clone(),
            confirmed: true,
            confirmation_token: None,
            attributes: self.attributes.clone(),
            filter: self.filter.clone(),
        }
    }

    /// Whether a publication with these attributes and body passes the filter policy.
    pub fn accepts(&self, attributes: &[AttributeView<'_>], body: &str) -> bool {
        match self.filter.as_deref() {
            None => true,
            Some((FilterScope::MessageBody, policy)) => policy.matches_body(body),
            Some((FilterScope::MessageAttributes, policy)) => policy.matches_attributes(attributes),
        }
    }

    pub(crate) fn to_record(&self) -> SubscriptionRecord {
        let mut attributes = vec![
            ("key".to_string(), self.key.clone()),
            ("owner".to_string(), self.owner.clone()),
            ("confirmed".to_string(), self.confirmed.to_string()),
        ];
        match &self.endpoint {
            Endpoint::Queue(queue) => {
                attributes.push(("queue_account".to_string(), queue.account.clone()));
                attributes.push(("queue_name".to_string(), queue.name.clone()));
            }
            Endpoint::External { protocol, address } => {
                attributes.push(("protocol".to_string(), protocol.clone()));
                attributes.push(("address".to_string(), address.clone()));
            }
        }
        if let Some(token) = &self.confirmation_token {
            attributes.push(("confirmation_token".to_string(), token.clone()));
        }
        attributes
            .extend(self.attributes.iter().map(|(name, value)| (format!("{OPAQUE_PREFIX}{name}"), value.clone())));
        SubscriptionRecord { topic: self.topic, id: self.id, attributes }
    }

    /// Rebuilds a stored subscription. A filter policy that no longer compiles (stored by a
    /// build with other rules) is dropped with the record's other attributes kept.
    pub(crate) fn from_record(record: &SubscriptionRecord) -> Option<Self> {
        let get = |name: &str| record.attributes.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
        let endpoint = match (get("queue_account"), get("queue_name")) {
            (Some(account), Some(name)) => Endpoint::Queue(QueueName { account, name }),
            _ => Endpoint::External { protocol: get("protocol")?, address: get("address")? },
        };
        let attributes: BTreeMap<String, String> = record
            .attributes
            .iter()
            .filter_map(|(key, value)| key.strip_prefix(OPAQUE_PREFIX).map(|name| (name.to_string(), value.clone())))
            .collect();
        let filter = compile_filter(&attributes).ok().flatten();
        Some(Subscription {
            id: record.id,
            key: get("key")?,
            topic: record.topic,
            owner: get("owner")?,
            endpoint,
            confirmed: get("confirmed").as_deref() == Some("true"),
            confirmation_token: get("confirmation_token"),
            attributes,
            filter,
        })
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Subscription")
            .field("id", &self.id)
            .field("key", &self.key)
            .field("topic", &self.topic)
            .field("endpoint", &self.endpoint)
            .field("confirmed", &self.confirmed)
            .finish_non_exhaustive()
    }
}

fn compile_filter(
    attributes: &BTreeMap<String, String>,
) -> Result<Option<Arc<(FilterScope, FilterPolicy)>>, FilterPolicyError> {
    let Some(text) = attributes.get(FILTER_POLICY_ATTRIBUTE).filter(|text| !text.trim().is_empty()) else {
        return Ok(None);
    };
    let body_scope = attributes.get(FILTER_POLICY_SCOPE_ATTRIBUTE).is_some_and(|scope| scope == "MessageBody");
    let scope = if body_scope { FilterScope::MessageBody } else { FilterScope::MessageAttributes };
    let policy = FilterPolicy::parse(text, scope)?;
    Ok(Some(Arc::new((scope, policy))))
}

/// A topic's mutable part, behind the topic's lock.
#[derive(Debug)]
pub(crate) struct TopicState {
    pub settings: TopicSettings,
    pub tags: BTreeMap<String, String>,
    pub subscriptions: BTreeMap<u64, Arc<Subscription>>,
    pub deleted: bool,
}

/// A topic: identity plus its settings and subscriptions behind one lock.
#[derive(Debug)]
pub struct Topic {
    pub id: TopicId,
    pub account: String,
    pub name: String,
    pub created_ms: u64,
    pub(crate) state: std::sync::Mutex<TopicState>,
}

impl Topic {
    pub(crate) fn from_record(record: &TopicRecord) -> Self {
        Topic {
            id: record.id,
            account: record.account.clone(),
            name: record.name.clone(),
            created_ms: record.created_ms,
            state: std::sync::Mutex::new(TopicState {
                settings: TopicSettings::from_pairs(&record.attributes),
                tags: record.tags.iter().cloned().collect(),
                subscriptions: BTreeMap::new(),
                deleted: false,
            }),
        }
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, TopicState> {
        // Updates never leave a half-done state behind a panic.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn record(&self, state: &TopicState) -> TopicRecord {
        TopicRecord {
            id: self.id,
            account: self.account.clone(),
            name: self.name.clone(),
            created_ms: self.created_ms,
            attributes: state.settings.to_pairs(),
            tags: state.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }

    pub fn settings(&self) -> TopicSettings {
        self.lock().settings.clone()
    }

    pub fn tags(&self) -> BTreeMap<String, String> {
        self.lock().tags.clone()
    }

    /// Every subscription, in creation order.
    pub fn subscriptions(&self) -> Vec<Arc<Subscription>> {
        self.lock().subscriptions.values().cloned().collect()
    }

    pub fn subscription(&self, key: &str) -> Option<Arc<Subscription>> {
        self.lock().subscriptions.values().find(|subscription| subscription.key == key).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_and_subscriptions_round_trip_through_records() {
        let mut settings = TopicSettings { fifo: true, content_based_deduplication: true, ..Default::default() };
        settings.opaque.insert("DisplayName".into(), "Orders".into());
        assert_eq!(TopicSettings::from_pairs(&settings.to_pairs()), settings);

        let attributes = BTreeMap::from([
            ("RawMessageDelivery".to_string(), "true".to_string()),
            (FILTER_POLICY_ATTRIBUTE.to_string(), r#"{"colour":["blue"]}"#.to_string()),
        ]);
        for endpoint in [
            Endpoint::Queue(QueueName { account: "000000000000".into(), name: "q".into() }),
            Endpoint::External { protocol: "https".into(), address: "https://example.test/hook".into() },
        ] {
            let subscription =
                Subscription::new(7, "k".into(), 3, "o".into(), endpoint, false, Some("t".into()), attributes.clone())
                    .unwrap();
            let back = Subscription::from_record(&subscription.to_record()).unwrap();
            assert_eq!(
                (back.id, back.key.as_str(), back.topic, back.owner.as_str(), &back.endpoint, back.confirmed),
                (7, "k", 3, "o", &subscription.endpoint, false)
            );
            assert_eq!(back.confirmation_token.as_deref(), Some("t"));
            assert_eq!(back.attributes, attributes);
            let blue = [AttributeView { name: "colour", data_type: "String", value: "blue" }];
            let red = [AttributeView { name: "colour", data_type: "String", value: "red" }];
            assert!(back.accepts(&blue, ""));
            assert!(!back.accepts(&red, ""));
        }
    }
}
