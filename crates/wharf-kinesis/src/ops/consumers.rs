//! Enhanced fan-out: registered stream consumers and SubscribeToShard, which pushes a shard's
//! records down an `application/vnd.amazon.eventstream` response for up to five minutes.
//!
//! Consumers are kept in the stream's attributes (`consumer/<name>` = creation time) and are
//! ACTIVE as soon as they are registered. Subscriptions live in memory: one per consumer and
//! shard; a new one within five seconds of the last is refused, a later one takes over.

use super::check_range;
use super::records::child_shards;
use super::records::{read_to_json, starting_position, StartingPosition};
use super::tags::CONSUMER_ATTRIBUTE_PREFIX;
use crate::error_map::{ErrorKind, KinesisError};
use crate::names;
use crate::protocol::{parse_input, timestamp, Encoding};
use crate::Context;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use wharf_aws::service::AwsResponse;
use wharf_aws::wire::event_stream;
use wharf_domain::{Engine, Stream};

/// Consumers one stream may have.
pub const CONSUMERS_PER_STREAM_MAX: usize = 20;
const CONSUMER_NAME_CHARS_MAX: usize = 128;
/// How long one SubscribeToShard call pushes events.
pub const SUBSCRIPTION_LIFETIME: Duration = Duration::from_secs(300);
/// A subscription sends an event at least this often, records or not.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
/// How soon after a subscription began another for the same consumer and shard is refused.
const RESUBSCRIBE_AFTER_MS: u64 = 5_000;
/// Records and bytes one event carries at most.
const EVENT_RECORDS_MAX: usize = 10_000;
const EVENT_BYTES_MAX: usize = 2 * 1024 * 1024;
/// Events buffered towards a slow client before the subscription waits for it.
const EVENTS_BUFFERED_MAX: usize = 4;

/// The live subscriptions by (consumer ARN, shard index): a serial number and when it began.
#[derive(Default)]
pub struct Subscriptions {
    live: std::sync::Mutex<std::collections::HashMap<(String, u32), (u64, u64)>>,
    next_serial: std::sync::atomic::AtomicU64,
}

impl Subscriptions {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<(String, u32), (u64, u64)>> {
        self.live.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the (consumer, shard) slot at `now_ms`, or says how recently it was taken.
    fn begin(&self, key: (String, u32), now_ms: u64) -> Result<u64, u64> {
        let mut live = self.lock();
        if let Some((_, began_ms)) = live.get(&key) {
            if now_ms < began_ms.saturating_add(RESUBSCRIBE_AFTER_MS) {
                return Err(*began_ms);
            }
        }
        let serial = self.next_serial.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        live.insert(key, (serial, now_ms));
        Ok(serial)
    }

    fn is_current(&self, key: &(String, u32), serial: u64) -> bool {
        self.lock().get(key).is_some_and(|(current, _)| *current == serial)
    }

    fn end(&self, key: &(String, u32), serial: u64) {
        let mut live = self.lock();
        if live.get(key).is_some_and(|(current, _)| *current == serial) {
            live.remove(key);
        }
    }
}

fn consumer_arn(stream_arn: &str, name: &str, created_ms: u64) -> String {
    format!("{stream_arn}/consumer/{name}:{}", created_ms / 1000)
}

/// (stream ARN, consumer name) from a consumer ARN.
fn parse_consumer_arn(arn: &str) -> Option<(&str, &str)> {
    let (stream_arn, rest) = arn.split_once("/consumer/")?;
    let (name, _created) = rest.rsplit_once(':')?;
    Some((stream_arn, name))
}

/// A registered consumer: the stream, its name and creation time.
struct Consumer {
    stream: Arc<Stream>,
    name: String,
    created_ms: u64,
}

fn consumer_created_ms(stream: &Stream, name: &str) -> Option<u64> {
    stream.lock().attributes.get(&format!("{CONSUMER_ATTRIBUTE_PREFIX}{name}")).and_then(|value| value.parse().ok())
}

fn consumer_not_found(name: &str) -> KinesisError {
    KinesisError::new(ErrorKind::ResourceNotFound, format!("Consumer {name} not found."))
}

/// Resolves a consumer by ARN, or by stream ARN and name.
fn find_consumer(
    context: &Context<'_>,
    consumer_arn: Option<&str>,
    stream_arn: Option<&str>,
    name: Option<&str>,
) -> Result<Consumer, KinesisError> {
    let (stream_arn, name) = match (consumer_arn, stream_arn, name) {
        (Some(arn), _, _) => {
            let (stream_arn, name) = parse_consumer_arn(arn).ok_or_else(|| {
                KinesisError::validation(arn, "consumerARN", "Member must satisfy regular expression pattern: ^(arn):aws.*:kinesis:.*:\\d{12}:.*stream\\/[a-zA-Z0-9_.-]+\\/consumer\\/[a-zA-Z0-9_.-]+:[0-9]+")
            })?;
            (stream_arn.to_string(), name.to_string())
        }
        (None, Some(stream_arn), Some(name)) => (stream_arn.to_string(), name.to_string()),
        _ => {
            return Err(KinesisError::invalid(
                "Either ConsumerARN or both StreamARN and ConsumerName must be provided.",
            ))
        }
    };
    let stream = context.stream(None, Some(&stream_arn))?;
    let created_ms = consumer_created_ms(&stream, &name).ok_or_else(|| consumer_not_found(&name))?;
    if let Some(arn) = consumer_arn {
        // An ARN with another creation time names an earlier consumer of the same name.
        if consumer_arn_of(context, &stream, &name, created_ms) != arn {
            return Err(consumer_not_found(&name));
        }
    }
    Ok(Consumer { stream, name, created_ms })
}

fn consumer_arn_of(context: &Context<'_>, stream: &Stream, name: &str, created_ms: u64) -> String {
    consumer_arn(&names::stream_arn(context.region(), stream), name, created_ms)
}

fn description(context: &Context<'_>, consumer: &Consumer) -> Value {
    json!({
        "ConsumerName": consumer.name,
        "ConsumerARN": consumer_arn_of(context, &consumer.stream, &consumer.name, consumer.created_ms),
        "ConsumerStatus": "ACTIVE",
        "ConsumerCreationTimestamp": timestamp(consumer.created_ms),
        "StreamARN": names::stream_arn(context.region(), &consumer.stream),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RegisterInput {
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    consumer_name: Option<String>,
}

fn check_consumer_name(name: &str) -> Result<(), KinesisError> {
    let valid = !name.is_empty()
        && name.len() <= CONSUMER_NAME_CHARS_MAX
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !valid {
        return Err(KinesisError::validation(
            name,
            "consumerName",
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 1 and 128",
        ));
    }
    Ok(())
}

pub async fn register_stream_consumer(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: RegisterInput = parse_input("RegisterStreamConsumer", context.request)?;
    let stream_arn = input.stream_arn.ok_or_else(|| KinesisError::missing("streamARN"))?;
    let name = input.consumer_name.ok_or_else(|| KinesisError::missing("consumerName"))?;
    check_consumer_name(&name)?;
    let stream = context.stream(None, Some(&stream_arn))?;
    let now_ms = context.now_ms();
    let key = format!("{CONSUMER_ATTRIBUTE_PREFIX}{name}");
    context
        .engine()
        .change_stream(&stream, |state| {
            if state.attributes.contains_key(&key) {
                return Ok(Err(KinesisError::new(
                    ErrorKind::ResourceInUse,
                    format!("Consumer {name} under stream {} already exists.", stream.name),
                )));
            }
            if super::tags::consumer_count(state) >= CONSUMERS_PER_STREAM_MAX {
                return Ok(Err(KinesisError::new(
                    ErrorKind::LimitExceeded,
                    format!("Stream {} already has {CONSUMERS_PER_STREAM_MAX} consumers.", stream.name),
                )));
            }
            state.attributes.insert(key.clone(), now_ms.to_string());
            Ok(Ok(()))
        })
        .await??;
    let consumer = Consumer { stream, name, created_ms: now_ms };
    let described = description(context, &consumer);
    Ok(json!({ "Consumer": {
        "ConsumerName": described["ConsumerName"],
        "ConsumerARN": described["ConsumerARN"],
        "ConsumerStatus": described["ConsumerStatus"],
        "ConsumerCreationTimestamp": described["ConsumerCreationTimestamp"],
    }}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConsumerRef {
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    consumer_name: Option<String>,
    #[serde(rename = "ConsumerARN")]
    consumer_arn: Option<String>,
}

pub async fn deregister_stream_consumer(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: ConsumerRef = parse_input("DeregisterStreamConsumer", context.request)?;
    let consumer = find_consumer(
        context,
        input.consumer_arn.as_deref(),
        input.stream_arn.as_deref(),
        input.consumer_name.as_deref(),
    )?;
    let key = format!("{CONSUMER_ATTRIBUTE_PREFIX}{}", consumer.name);
    context
        .engine()
        .change_stream(&consumer.stream, |state| {
            state.attributes.remove(&key);
            Ok(())
        })
        .await?;
    Ok(json!({}))
}

pub fn describe_stream_consumer(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: ConsumerRef = parse_input("DescribeStreamConsumer", context.request)?;
    let consumer = find_consumer(
        context,
        input.consumer_arn.as_deref(),
        input.stream_arn.as_deref(),
        input.consumer_name.as_deref(),
    )?;
    Ok(json!({ "ConsumerDescription": description(context, &consumer) }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListConsumersInput {
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

pub fn list_stream_consumers(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: ListConsumersInput = parse_input("ListStreamConsumers", context.request)?;
    let stream_arn = input.stream_arn.ok_or_else(|| KinesisError::missing("streamARN"))?;
    let limit = input.max_results.unwrap_or(100);
    check_range(limit, "maxResults", 1, 10_000)?;
    let stream = context.stream(None, Some(&stream_arn))?;
    // Consumer names are unique within a stream and listed in name order, so the next token is
    // the last name of the previous page.
    let after = input.next_token;
    let consumers: Vec<(String, u64)> = stream
        .lock()
        .attributes
        .iter()
        .filter_map(|(key, value)| {
            let name = key.strip_prefix(CONSUMER_ATTRIBUTE_PREFIX)?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .filter(|(name, _)| after.as_deref().is_none_or(|after| name.as_str() > after))
        .collect();
    let page = &consumers[..consumers.len().min(limit as usize)];
    let listed: Vec<Value> = page
        .iter()
        .map(|(name, created_ms)| {
            json!({
                "ConsumerName": name,
                "ConsumerARN": consumer_arn_of(context, &stream, name, *created_ms),
                "ConsumerStatus": "ACTIVE",
                "ConsumerCreationTimestamp": timestamp(*created_ms),
            })
        })
        .collect();
    let mut output = json!({ "Consumers": listed });
    if consumers.len() > page.len() {
        if let Some((last, _)) = page.last() {
            output["NextToken"] = json!(last);
        }
    }
    Ok(output)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SubscribeInput {
    #[serde(rename = "ConsumerARN")]
    consumer_arn: Option<String>,
    shard_id: Option<String>,
    starting_position: Option<StartingPosition>,
}

/// Starts pushing a shard's records to a registered consumer; the reply is the event stream.
pub async fn subscribe_to_shard(context: &Context<'_>) -> Result<AwsResponse, KinesisError> {
    let input: SubscribeInput = parse_input("SubscribeToShard", context.request)?;
    let arn = input.consumer_arn.ok_or_else(|| KinesisError::missing("consumerARN"))?;
    let id = input.shard_id.ok_or_else(|| KinesisError::missing("shardId"))?;
    let start = input.starting_position.ok_or_else(|| KinesisError::missing("startingPosition"))?;
    let consumer = find_consumer(context, Some(&arn), None, None)?;
    let stream = consumer.stream.clone();
    let missing = || {
        KinesisError::new(
            ErrorKind::ResourceNotFound,
            format!("Shard {id} in stream {} under account {} does not exist", stream.name, stream.account),
        )
    };
    let index = names::parse_shard_id(&id).ok_or_else(missing)?;
    let log = stream.lock().shard(index).map(|shard| shard.log).ok_or_else(missing)?;
    let position = starting_position(context, &stream, index, log, &id, &start)?;
    let key = (arn.clone(), index);
    let serial = context.service.subscriptions.begin(key.clone(), context.now_ms()).map_err(|began_ms| {
        KinesisError::new(
            ErrorKind::ResourceInUse,
            format!(
                "Another active subscription exists for consumer {arn} on shard {id}, started at {began_ms}; retry after {RESUBSCRIBE_AFTER_MS} ms."
            ),
        )
    })?;
    let encoding = Encoding::of(context.request);
    let (sender, receiver) = tokio::sync::mpsc::channel(EVENTS_BUFFERED_MAX);
    let subscription = Subscription {
        engine: context.service.engine.clone(),
        subscriptions: context.service.subscriptions.clone(),
        stream,
        shard_index: index,
        log,
        key,
        serial,
        sender,
        encoding,
    };
    tokio::spawn(subscription.run(position));
    let initial = event_stream::encode_event("initial-response", encoding.content_type(), &encoding.encode(&json!({})));
    Ok(AwsResponse {
        status: 200,
        content_type: "application/vnd.amazon.eventstream",
        headers: Vec::new(),
        body: Bytes::from(initial),
        stream: Some(receiver),
    })
}

/// One running SubscribeToShard.
struct Subscription {
    engine: Arc<Engine>,
    subscriptions: Arc<Subscriptions>,
    stream: Arc<Stream>,
    shard_index: u32,
    log: u64,
    key: (String, u32),
    serial: u64,
    sender: tokio::sync::mpsc::Sender<Bytes>,
    /// The request's encoding, which the events' payloads use too.
    encoding: Encoding,
}

impl Subscription {
    async fn run(self, mut position: u64) {
        let deadline = tokio::time::Instant::now() + SUBSCRIPTION_LIFETIME;
        let mut last_event = tokio::time::Instant::now();
        let mut first = true;
        let mut shutdown = self.engine.shutdown_signal();
        while tokio::time::Instant::now() < deadline
            && self.subscriptions.is_current(&self.key, self.serial)
            && !*shutdown.borrow()
        {
            let appended = self.stream.appends().notified();
            tokio::pin!(appended);
            appended.as_mut().enable();
            let read = match self.engine.read_shard(
                &self.stream,
                self.shard_index,
                position,
                EVENT_RECORDS_MAX,
                EVENT_BYTES_MAX,
            ) {
                Ok(read) => read,
                Err(_) => {
                    let payload = self.encoding.encode(&json!({ "message": "The shard no longer exists." }));
                    let exception = event_stream::encode_exception(
                        "ResourceNotFoundException",
                        self.encoding.content_type(),
                        &payload,
                    );
                    let _ = self.sender.send(Bytes::from(exception)).await;
                    break;
                }
            };
            let heartbeat_due = first || last_event.elapsed() >= HEARTBEAT_INTERVAL;
            if !read.records.is_empty() || read.end_of_closed_shard || heartbeat_due {
                let mut event = json!({
                    "Records": read_to_json(&read.records, self.log, false),
                    "MillisBehindLatest": read.millis_behind_latest,
                });
                if read.end_of_closed_shard {
                    event["ChildShards"] = json!(child_shards(&self.stream, self.shard_index));
                } else {
                    let continuation = read.next_position.saturating_sub(1);
                    event["ContinuationSequenceNumber"] = json!(names::sequence_number(self.log, continuation));
                }
                let frame = event_stream::encode_event(
                    "SubscribeToShardEvent",
                    self.encoding.content_type(),
                    &self.encoding.encode(&event),
                );
                if self.sender.send(Bytes::from(frame)).await.is_err() {
                    break;
                }
                first = false;
                last_event = tokio::time::Instant::now();
                position = read.next_position;
                if read.end_of_closed_shard {
                    break;
                }
                if !read.records.is_empty() {
                    continue;
                }
            }
            let wake_at = (last_event + HEARTBEAT_INTERVAL).min(deadline);
            tokio::select! {
                _ = &mut appended => {}
                _ = tokio::time::sleep_until(wake_at) => {}
                _ = self.sender.closed() => break,
                _ = shutdown.changed() => break,
            }
        }
        self.subscriptions.end(&self.key, self.serial);
    }
}

/// Refuses to delete a stream that has queues, or consumers unless told to remove them too.
pub fn check_deletable(engine: &Engine, stream: &Stream, enforce_consumer_deletion: bool) -> Result<(), KinesisError> {
    super::queues::check_no_queues(engine, stream, "deleted")?;
    let consumers = super::tags::consumer_count(&stream.lock());
    if consumers > 0 && !enforce_consumer_deletion {
        return Err(KinesisError::new(
            ErrorKind::ResourceInUse,
            format!(
                "Stream {} under account {} has {consumers} registered consumers; set EnforceConsumerDeletion to delete it with them.",
                stream.name, stream.account
            ),
        ));
    }
    Ok(())
}
