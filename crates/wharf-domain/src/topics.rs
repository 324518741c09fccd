//! The topic registry and every topic and subscription operation: what to persist and when.
//! Publishing into queues is `Engine::send_to_many`; choosing the subscriptions a publication
//! reaches is `Subscription::accepts`.

use crate::engine::Engine;
use crate::error::DomainError;
use crate::settings::QueueName;
use crate::topic::{Endpoint, Subscription, Topic, TopicSettings};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use wharf_store::{Mutation, SubscriptionRecord, TopicRecord};

const NEXT_TOPIC_ID_SETTING: &str = "next_topic_id";
const NEXT_SUBSCRIPTION_ID_SETTING: &str = "next_subscription_id";

/// Every topic by (account, name), and the id counters.
pub(crate) struct Topics {
    registry: RwLock<HashMap<QueueName, Arc<Topic>>>,
    next_topic_id: AtomicU64,
    next_subscription_id: AtomicU64,
}

/// An id counter kept as a big-endian setting; 1 when it was never stored.
pub(crate) fn counter(settings: &[(String, Vec<u8>)], key: &str) -> u64 {
    settings
        .iter()
        .find(|(name, _)| name == key)
        .and_then(|(_, value)| <[u8; 8]>::try_from(value.as_slice()).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(1)
}

impl Topics {
    pub(crate) fn load(
        topics: &[TopicRecord],
        subscriptions: &[SubscriptionRecord],
        settings: &[(String, Vec<u8>)],
    ) -> Topics {
        let mut next_topic_id = counter(settings, NEXT_TOPIC_ID_SETTING);
        let mut next_subscription_id = counter(settings, NEXT_SUBSCRIPTION_ID_SETTING);
        let mut by_id = HashMap::new();
        let mut registry = HashMap::new();
        for record in topics {
            next_topic_id = next_topic_id.max(record.id + 1);
            let topic = Arc::new(Topic::from_record(record));
            by_id.insert(record.id, topic.clone());
            registry.insert(QueueName { account: record.account.clone(), name: record.name.clone() }, topic);
        }
        for record in subscriptions {
            next_subscription_id = next_subscription_id.max(record.id + 1);
            let (Some(topic), Some(subscription)) = (by_id.get(&record.topic), Subscription::from_record(record))
            else {
                continue;
            };
            topic.lock().subscriptions.insert(record.id, Arc::new(subscription));
        }
        Topics {
            registry: RwLock::new(registry),
            next_topic_id: AtomicU64::new(next_topic_id),
            next_subscription_id: AtomicU64::new(next_subscription_id),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<QueueName, Arc<Topic>>> {
        self.registry.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<QueueName, Arc<Topic>>> {
        self.registry.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Engine {
    pub fn topic(&self, account: &str, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().get(&QueueName { account: account.to_string(), name: name.to_string() }).cloned()
    }

    /// The account's topics, sorted by name.
    pub fn list_topics(&self, account: &str) -> Vec<Arc<Topic>> {
        let mut found: Vec<Arc<Topic>> =
            self.topics.read().values().filter(|topic| topic.account == account).cloned().collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        found
    }

    /// Every topic of every account.
    pub fn all_topics(&self) -> Vec<Arc<Topic>> {
        self.topics.read().values().cloned().collect()
    }

    /// Creates a topic. Fails with `TopicAlreadyExists` if the name is taken; callers decide
    /// whether the existing topic matches their request.
    pub async fn create_topic(
        &self,
        account: &str,
        name: &str,
        settings: TopicSettings,
        tags: BTreeMap<String, String>,
    ) -> Result<Arc<Topic>, DomainError> {
        let key = QueueName { account: account.to_string(), name: name.to_string() };
        let (topic, commit) = {
            let mut registry = self.topics.write();
            if registry.contains_key(&key) {
                return Err(DomainError::TopicAlreadyExists);
            }
            let id = self.topics.next_topic_id.fetch_add(1, Ordering::SeqCst);
            let record = TopicRecord {
                id,
                account: account.to_string(),
                name: name.to_string(),
                created_ms: self.clock.now_ms(),
                attributes: Vec::new(),
                tags: Vec::new(),
            };
            let topic = Arc::new(Topic::from_record(&record));
            {
                let mut state = topic.lock();
                state.settings = settings;
                state.tags = tags;
            }
            let record = topic.record(&topic.lock());
            let commit = self.store.submit(vec![
                Mutation::PutSetting { key: NEXT_TOPIC_ID_SETTING.into(), value: (id + 1).to_be_bytes().to_vec() },
                Mutation::PutTopic(record),
            ]);
            registry.insert(key.clone(), topic.clone());
            (topic, commit)
        };
        if let Err(error) = commit.await {
            self.topics.write().remove(&key);
            return Err(error.into());
        }
        Ok(topic)
    }

    /// Deletes a topic with its subscriptions.
    pub async fn delete_topic(&self, topic: &Topic) -> Result<(), DomainError> {
        let key = QueueName { account: topic.account.clone(), name: topic.name.clone() };
        let commit = {
            let mut registry = self.topics.write();
            let mut state = topic.lock();
            if state.deleted {
                return Err(DomainError::TopicDoesNotExist);
            }
            state.deleted = true;
            registry.remove(&key);
            self.store.submit(vec![Mutation::DeleteTopic(topic.id)])
        };
        Ok(commit.await?)
    }

    /// Changes a topic's settings and tags through `change`, then persists them.
    pub async fn update_topic(
        &self,
        topic: &Topic,
        change: impl FnOnce(&mut TopicSettings, &mut BTreeMap<String, String>),
    ) -> Result<(), DomainError> {
        let commit = {
            let mut state = topic.lock();
            if state.deleted {
                return Err(DomainError::TopicDoesNotExist);
            }
            let mut settings = state.settings.clone();
            let mut tags = state.tags.clone();
            change(&mut settings, &mut tags);
            state.settings = settings;
            state.tags = tags;
            self.store.submit(vec![Mutation::PutTopic(topic.record(&state))])
        };
        Ok(commit.await?)
    }

    /// Subscribes `endpoint` to `topic`. An existing subscription of the same endpoint is
    /// returned as it is (`false`): callers decide whether it matches their request.
    #[allow(clippy::too_many_arguments)]
    pub async fn subscribe(
        &self,
        topic: &Topic,
        owner: &str,
        endpoint: Endpoint,
        confirmed: bool,
        confirmation_token: Option<String>,
        attributes: BTreeMap<String, String>,
    ) -> Result<(Arc<Subscription>, bool), DomainError> {
        let (subscription, commit) = {
            let mut state = topic.lock();
            if state.deleted {
                return Err(DomainError::TopicDoesNotExist);
            }
            if let Some(existing) = state.subscriptions.values().find(|existing| existing.endpoint == endpoint) {
                return Ok((existing.clone(), false));
            }
            let id = self.topics.next_subscription_id.fetch_add(1, Ordering::SeqCst);
            let key = uuid::Uuid::new_v4().to_string();
            let subscription = Subscription::new(
                id,
                key,
                topic.id,
                owner.to_string(),
                endpoint,
                confirmed,
                confirmation_token,
                attributes,
            )
            .map_err(|error| DomainError::InvalidFilterPolicy(error.message))?;
            let subscription = Arc::new(subscription);
            let commit = self.store.submit(vec![
                Mutation::PutSetting {
                    key: NEXT_SUBSCRIPTION_ID_SETTING.into(),
                    value: (id + 1).to_be_bytes().to_vec(),
                },
                Mutation::PutSubscription(subscription.to_record()),
            ]);
            state.subscriptions.insert(id, subscription.clone());
            (subscription, commit)
        };
        if let Err(error) = commit.await {
            topic.lock().subscriptions.remove(&subscription.id);
            return Err(error.into());
        }
        Ok((subscription, true))
    }

    /// Replaces a subscription with a changed copy (`change` returns it) and persists it.
    pub async fn update_subscription(
        &self,
        topic: &Topic,
        id: u64,
        change: impl FnOnce(&Subscription) -> Result<Subscription, DomainError>,
    ) -> Result<Arc<Subscription>, DomainError> {
        let (updated, commit) = {
            let mut state = topic.lock();
            let current = state.subscriptions.get(&id).cloned().ok_or(DomainError::SubscriptionDoesNotExist)?;
            let updated = Arc::new(change(&current)?);
            let commit = self.store.submit(vec![Mutation::PutSubscription(updated.to_record())]);
            state.subscriptions.insert(id, updated.clone());
            (updated, commit)
        };
        commit.await?;
        Ok(updated)
    }

    pub async fn unsubscribe(&self, topic: &Topic, id: u64) -> Result<(), DomainError> {
        let commit = {
            let mut state = topic.lock();
            if state.subscriptions.remove(&id).is_none() {
                return Err(DomainError::SubscriptionDoesNotExist);
            }
            self.store.submit(vec![Mutation::DeleteSubscription { topic: topic.id, id }])
        };
        Ok(commit.await?)
    }
}
