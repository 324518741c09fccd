//! Publish and PublishBatch: validate, pick the subscriptions whose filter policies accept the
//! message, and write it into every subscribed queue in one durable write before replying.

use super::required;
use crate::delivery::{self, Kind};
use crate::envelope::{self, Links, Notification};
use crate::error_map::{ErrorKind, SnsError};
use crate::message::{self, Attribute, AttributeValue, AttributeValueInput, Structure, MESSAGE_BYTES_MAX};
use crate::mobile::{self, EndpointId};
use crate::signing::SignatureVersion;
use crate::{archive, arns};
use crate::{Context, SIGNING_CERT_PATH};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use wharf_domain::filter_policy::AttributeView;
use wharf_domain::topic::{Endpoint, Subscription, Topic, TopicSettings};
use wharf_domain::{MessageAttribute, MessageContent, NewMessage, Queue};

/// The sender id SQS reports for messages SNS delivered.
pub(crate) const SNS_SENDER_ID: &str = "AIDAIT2UOQQY3AUEKVGXU";
pub const BATCH_ENTRIES_MAX: usize = 10;
const BATCH_ID_CHARS_MAX: usize = 80;
/// The subject of an email notification published without one.
const EMAIL_SUBJECT: &str = "AWS Notification Message";

#[derive(Deserialize)]
pub struct Entry {
    #[serde(rename = "Id")]
    id: Option<String>,
    #[serde(rename = "Message")]
    message: Option<String>,
    #[serde(rename = "Subject")]
    subject: Option<String>,
    #[serde(rename = "MessageStructure")]
    message_structure: Option<String>,
    #[serde(rename = "MessageAttributes", default)]
    message_attributes: BTreeMap<String, AttributeValueInput>,
    #[serde(rename = "MessageDeduplicationId")]
    deduplication_id: Option<String>,
    #[serde(rename = "MessageGroupId")]
    group_id: Option<String>,
}

#[derive(Deserialize)]
pub struct PublishInput {
    #[serde(rename = "TopicArn")]
    topic_arn: Option<String>,
    #[serde(rename = "TargetArn")]
    target_arn: Option<String>,
    #[serde(rename = "PhoneNumber")]
    phone_number: Option<String>,
    #[serde(flatten)]
    entry: Entry,
}

#[derive(Deserialize)]
pub struct BatchInput {
    #[serde(rename = "TopicArn")]
    topic_arn: Option<String>,
    #[serde(rename = "PublishBatchRequestEntries", default, deserialize_with = "super::list_or_empty")]
    entries: Vec<Entry>,
}

/// A validated publication.
struct Prepared {
    structure: Structure,
    subject: Option<String>,
    attributes: Vec<Attribute>,
    group_id: Option<String>,
    deduplication_id: Option<String>,
    size_bytes: usize,
}

/// Validates an entry for a topic with `settings` (the default settings for a message sent
/// straight to a phone or device).
fn prepare(settings: &TopicSettings, entry: Entry) -> Result<Prepared, SnsError> {
    let text = entry.message.ok_or_else(|| SnsError::missing("Message"))?;
    if text.is_empty() {
        return Err(SnsError::invalid("Empty message"));
    }
    if let Some(subject) = &entry.subject {
        message::check_subject(subject)?;
    }
    let (attributes, attribute_bytes) = message::attributes(&entry.message_attributes)?;
    let size_bytes = text.len() + attribute_bytes;
    if size_bytes > MESSAGE_BYTES_MAX {
        return Err(SnsError::invalid("Message too long"));
    }
    let structure = Structure::parse(&text, entry.message_structure.as_deref())?;
    let deduplication_id = if settings.fifo {
        let group = entry
            .group_id
            .as_deref()
            .ok_or_else(|| SnsError::invalid("The MessageGroupId parameter is required for FIFO topics"))?;
        check_client_id("MessageGroupId", group)?;
        match entry.deduplication_id {
            Some(id) => {
                check_client_id("MessageDeduplicationId", &id)?;
                Some(id)
            }
            None if settings.content_based_deduplication => Some(hex::encode(Sha256::digest(text.as_bytes()))),
            None => {
                return Err(SnsError::invalid(
                    "The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
                ))
            }
        }
    } else {
        if entry.deduplication_id.is_some() {
            return Err(SnsError::invalid(
                "MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type",
            ));
        }
        if let Some(group) = &entry.group_id {
            check_client_id("MessageGroupId", group)?;
        }
        None
    };
    Ok(Prepared {
        structure,
        subject: entry.subject,
        attributes,
        group_id: entry.group_id,
        deduplication_id,
        size_bytes,
    })
}

fn check_client_id(parameter: &str, value: &str) -> Result<(), SnsError> {
    let valid = !value.is_empty()
        && value.len() <= 128
        && value.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte.is_ascii_punctuation());
    if !valid {
        return Err(SnsError::invalid(parameter));
    }
    Ok(())
}

/// One subscription a publication reaches and the queue its delivery is written into (the
/// outbox for endpoints outside Wharf).
struct Reach {
    subscription: Arc<Subscription>,
    queue: Arc<Queue>,
    protocol: String,
    raw: bool,
    external: bool,
    fifo_queue: bool,
}

/// The subscriptions whose filter policies accept the publication, with their queues. All
/// registry lookups happen here, before any delivery is built.
fn reach(context: &Context<'_>, topic: &Topic, prepared: &Prepared) -> Vec<Reach> {
    let views = attribute_views(prepared);
    topic
        .subscriptions()
        .into_iter()
        .filter_map(|subscription| reach_one(context, subscription, prepared, &views))
        .collect()
}

/// The publication's text attributes, as filter policies read them.
fn attribute_views(prepared: &Prepared) -> Vec<AttributeView<'_>> {
    prepared
        .attributes
        .iter()
        .filter_map(|attribute| match &attribute.value {
            AttributeValue::Text(text) => {
                Some(AttributeView { name: &attribute.name, data_type: &attribute.data_type, value: text })
            }
            AttributeValue::Binary(_) => None,
        })
        .collect()
}

/// The subscription and its queue, if the subscription is confirmed and accepts the publication.
fn reach_one(
    context: &Context<'_>,
    subscription: Arc<Subscription>,
    prepared: &Prepared,
    views: &[AttributeView<'_>],
) -> Option<Reach> {
    if !subscription.confirmed || !subscription.accepts(views, prepared.structure.default_text()) {
        return None;
    }
    let (protocol, queue, external) = match &subscription.endpoint {
        // A subscribed queue that no longer exists receives nothing.
        Endpoint::Queue(name) => ("sqs".to_string(), context.engine().queue(&name.account, &name.name)?, false),
        Endpoint::External { protocol, .. } if delivery::DELIVERED_PROTOCOLS.contains(&protocol.as_str()) => {
            (protocol.clone(), context.service.outbox.clone(), true)
        }
        Endpoint::External { .. } => return None,
    };
    let raw =
        subscription.attributes.get("RawMessageDelivery").is_some_and(|raw| raw == "true") && protocol != "lambda";
    let fifo_queue = !external && queue.read_settings(|settings| settings.fifo);
    Some(Reach { subscription, queue, protocol, raw, external, fifo_queue })
}

/// What every delivery of one publication shares.
struct Publication<'a> {
    topic: &'a Topic,
    topic_arn: String,
    version: SignatureVersion,
    message_id: &'a str,
    sequence_number: Option<&'a str>,
    timestamp: &'a str,
    /// Delivered again from the topic's archive.
    replayed: bool,
}

/// The queue messages that deliver one publication to the subscriptions it reaches.
fn render(
    context: &Context<'_>,
    publication: &Publication<'_>,
    prepared: &Prepared,
    reached: &[Reach],
) -> Vec<(Arc<Queue>, Vec<NewMessage>)> {
    let base_url = &context.request.base_url;
    let signing_cert_url = format!("{base_url}{SIGNING_CERT_PATH}");
    let topic_arn = publication.topic_arn.as_str();
    // Signatures cover the message text, which may differ per protocol (MessageStructure=json);
    // each text is signed once however many subscriptions receive it.
    let mut signatures: HashMap<&str, String> = HashMap::new();
    let mut texts: HashMap<usize, Bytes> = HashMap::new();
    let mut targets = Vec::with_capacity(reached.len());
    for target in reached {
        let protocol = target.protocol.as_str();
        let text = prepared.structure.for_protocol(structure_key(&target.subscription.endpoint));
        // Phones and devices get the message text alone. Each text is copied once, so the store
        // keeps one copy for every queue receiving it raw.
        let body = if target.raw || protocol == "sms" || protocol == "application" {
            texts.entry(text.as_ptr() as usize).or_insert_with(|| Bytes::copy_from_slice(text.as_bytes())).clone()
        } else if protocol == "email" {
            let subscription_arn = arns::subscription(topic_arn, &target.subscription.key);
            Bytes::from(format!(
                "{text}\n\n--\nIf you wish to stop receiving notifications from this topic, please click or visit the link below to unsubscribe:\n{base_url}/?Action=Unsubscribe&SubscriptionArn={subscription_arn}\n"
            ))
        } else {
            let notification = Notification {
                message_id: publication.message_id,
                topic_arn,
                subject: prepared.subject.as_deref(),
                message: text,
                timestamp: publication.timestamp,
                attributes: &prepared.attributes,
                sequence_number: publication.sequence_number,
                replayed: publication.replayed,
            };
            let subscription_arn = arns::subscription(topic_arn, &target.subscription.key);
            let unsubscribe_url = format!("{base_url}/?Action=Unsubscribe&SubscriptionArn={subscription_arn}");
            let links = Links { signing_cert_url: &signing_cert_url, unsubscribe_url: &unsubscribe_url };
            let signature = signatures
                .entry(protocol)
                .or_insert_with(|| envelope::sign(&notification, publication.version, &context.service.signer));
            Bytes::from(if protocol == "lambda" {
                envelope::render_lambda_event(&notification, publication.version, signature, &links, &subscription_arn)
            } else {
                envelope::render(&notification, publication.version, signature, &links)
            })
        };
        let message = if target.external {
            let subject = prepared.subject.as_deref().unwrap_or(EMAIL_SUBJECT);
            delivery::outbox_message(
                publication.topic,
                &target.subscription,
                Kind::Notification,
                publication.message_id,
                target.raw,
                Some(subject).filter(|_| protocol.starts_with("email")),
                body,
            )
        } else {
            let size_bytes = u32::try_from(body.len()).unwrap_or(u32::MAX);
            let content = MessageContent {
                body,
                attributes: if target.raw {
                    prepared.attributes.iter().map(queue_attribute).collect()
                } else {
                    Vec::new()
                },
                sender_id: SNS_SENDER_ID.to_string(),
                group_id: prepared.group_id.clone(),
                deduplication_id: prepared.deduplication_id.clone().filter(|_| target.fifo_queue),
                ..MessageContent::default()
            };
            NewMessage { content, delay_seconds: None, size_bytes }
        };
        targets.push((target.queue.clone(), vec![message]));
    }
    targets
}

/// The key of a `MessageStructure=json` message whose text an endpoint receives: its protocol,
/// or for a mobile endpoint its platform (`GCM`, `APNS`, …).
fn structure_key(endpoint: &Endpoint) -> &str {
    match endpoint {
        Endpoint::Queue(_) => "sqs",
        Endpoint::External { protocol, address } if protocol == "application" => {
            address.split(":endpoint/").nth(1).and_then(|rest| rest.split('/').next()).unwrap_or("default")
        }
        Endpoint::External { protocol, .. } => protocol,
    }
}

/// Publishes one validated message; returns its MessageId and, on FIFO topics, its
/// SequenceNumber. A FIFO publication goes through the topic's sequence log, which deduplicates
/// it and orders it; a standard one is written straight into its subscriptions' queues.
async fn publish(
    context: &Context<'_>,
    topic: &Topic,
    prepared: &Prepared,
    timestamp: &str,
) -> Result<(String, Option<String>), SnsError> {
    let settings = topic.settings();
    let topic_arn = context.topic_arn(topic);
    let version = envelope::signature_version(&settings);
    let reached = reach(context, topic, prepared);
    if !settings.fifo {
        let message_id = uuid::Uuid::new_v4().to_string();
        let publication = Publication {
            topic,
            topic_arn,
            version,
            message_id: &message_id,
            sequence_number: None,
            timestamp,
            replayed: false,
        };
        context.engine().send_to_many(render(context, &publication, prepared, &reached)).await?;
        return Ok((message_id, None));
    }
    let log = delivery::open_sequence_log(context.engine(), topic).await?;
    let archive = match archive::retention_days(&settings) {
        Some(days) => archive::apply(context.engine(), topic, Some(days)).await?,
        None => None,
    };
    let sequenced = context
        .engine()
        .send_sequenced(&log, prepared.group_id.as_deref(), prepared.deduplication_id.as_deref(), |sent| {
            let message_id = uuid::Uuid::from_bytes(sent.message_id).to_string();
            let sequence_number = sequence_number(sent.seq);
            let publication = Publication {
                topic,
                topic_arn,
                version,
                message_id: &message_id,
                sequence_number: Some(&sequence_number),
                timestamp,
                replayed: false,
            };
            let mut targets = render(context, &publication, prepared, &reached);
            if let Some(archive) = &archive {
                let archived = archive::Archived {
                    message_id: message_id.clone(),
                    sequence_number: sequence_number.clone(),
                    timestamp: timestamp.to_string(),
                    subject: prepared.subject.clone(),
                    structure: prepared.structure.clone(),
                    attributes: prepared.attributes.clone(),
                    group_id: prepared.group_id.clone(),
                    deduplication_id: prepared.deduplication_id.clone(),
                };
                targets.push((archive.clone(), vec![archive::message(&archived)]));
            }
            targets
        })
        .await?;
    Ok((uuid::Uuid::from_bytes(sequenced.sent.message_id).to_string(), Some(sequence_number(sequenced.sent.seq))))
}

/// Archived publications read per write while replaying.
const REPLAY_PAGE: usize = 100;

/// Delivers a FIFO topic's archived publications from `window` to one subscription again, in
/// publication order, each with its original MessageId, SequenceNumber and Timestamp and marked
/// `Replayed`; the subscription's filter policy applies. Each page is one durable write.
pub(crate) async fn replay(
    context: &Context<'_>,
    topic: &Topic,
    subscription: &Arc<Subscription>,
    window: archive::ReplayWindow,
) -> Result<(), SnsError> {
    let Some(log) = archive::find(context.engine(), topic) else { return Ok(()) };
    let version = envelope::signature_version(&topic.settings());
    let mut after_seq = 0;
    loop {
        let page = context.engine().read_after(&log, after_seq, REPLAY_PAGE)?;
        let Some((last, _)) = page.last() else { return Ok(()) };
        after_seq = last.seq;
        let mut targets = Vec::new();
        for (meta, content) in &page {
            if meta.sent_ms < window.start_ms || meta.sent_ms > window.end_ms {
                continue;
            }
            let Some(archived) = archive::read(content) else { continue };
            let prepared = Prepared {
                structure: archived.structure,
                subject: archived.subject,
                attributes: archived.attributes,
                group_id: archived.group_id,
                deduplication_id: archived.deduplication_id,
                size_bytes: 0,
            };
            let views = attribute_views(&prepared);
            let Some(target) = reach_one(context, subscription.clone(), &prepared, &views) else { continue };
            let publication = Publication {
                topic,
                topic_arn: context.topic_arn(topic),
                version,
                message_id: &archived.message_id,
                sequence_number: Some(&archived.sequence_number),
                timestamp: &archived.timestamp,
                replayed: true,
            };
            targets.extend(render(context, &publication, &prepared, &[target]));
        }
        if !targets.is_empty() {
            context.engine().send_to_many(targets).await?;
        }
        if page.len() < REPLAY_PAGE {
            return Ok(());
        }
    }
}

/// A FIFO topic's SequenceNumber: its position in the topic's sequence log, 20 digits.
fn sequence_number(seq: u64) -> String {
    format!("{seq:020}")
}

/// An SNS message attribute as the SQS message attribute raw delivery turns it into.
fn queue_attribute(attribute: &Attribute) -> MessageAttribute {
    MessageAttribute {
        name: attribute.name.clone(),
        data_type: attribute.data_type.clone(),
        value: match &attribute.value {
            AttributeValue::Text(text) => wharf_domain::AttributeValue::Text(text.clone()),
            AttributeValue::Binary(bytes) => wharf_domain::AttributeValue::Binary(bytes.clone()),
        },
    }
}

pub async fn single(context: &Context<'_>, input: PublishInput) -> Result<Value, SnsError> {
    let named = [&input.topic_arn, &input.target_arn, &input.phone_number];
    if named.iter().filter(|target| target.is_some()).count() > 1 {
        return Err(SnsError::invalid(
            "TopicArn or TargetArn Reason: Only one of TopicArn, TargetArn or PhoneNumber may be specified",
        ));
    }
    if let Some(number) = &input.phone_number {
        return publish_sms(context, number, input.entry).await;
    }
    if let Some(endpoint) = input.target_arn.as_deref().and_then(EndpointId::parse_arn) {
        return publish_push(context, &endpoint, input.entry).await;
    }
    let arn = input.topic_arn.as_deref().or(input.target_arn.as_deref());
    let parameter = if input.topic_arn.is_some() { "TopicArn" } else { "TargetArn" };
    let topic = context.topic(Some(required(arn, "TopicArn")?), parameter)?;
    let prepared = prepare(&topic.settings(), input.entry)?;
    let timestamp = envelope::timestamp(context.engine().clock().now_ms());
    let (message_id, sequence_number) = publish(context, &topic, &prepared, &timestamp).await?;
    let mut output = json!({ "MessageId": message_id });
    if let Some(sequence_number) = sequence_number {
        output["SequenceNumber"] = json!(sequence_number);
    }
    Ok(output)
}

pub async fn batch(context: &Context<'_>, input: BatchInput) -> Result<Value, SnsError> {
    let topic = context.topic(input.topic_arn.as_deref(), "TopicArn")?;
    check_batch(&input.entries)?;
    // As on AWS, an invalid entry fails the whole request: entries are validated before
    // anything is written, and a batch is written whole or not at all, so `Failed` stays empty.
    let mut prepared = Vec::with_capacity(input.entries.len());
    for entry in input.entries {
        let id = entry.id.clone().unwrap_or_default();
        prepared.push((id, prepare(&topic.settings(), entry)?));
    }
    let total_bytes: usize = prepared.iter().map(|(_, entry)| entry.size_bytes).sum();
    if total_bytes > MESSAGE_BYTES_MAX {
        return Err(SnsError::new(
            ErrorKind::BatchRequestTooLong,
            format!("The length of all the messages put together is more than the limit of {MESSAGE_BYTES_MAX} bytes."),
        ));
    }
    let timestamp = envelope::timestamp(context.engine().clock().now_ms());
    let mut successful = Vec::with_capacity(prepared.len());
    if topic.settings().fifo {
        // FIFO entries go through the topic's sequence log one by one, in entry order.
        for (id, entry) in &prepared {
            let (message_id, sequence_number) = publish(context, &topic, entry, &timestamp).await?;
            successful.push(json!({ "Id": id, "MessageId": message_id, "SequenceNumber": sequence_number }));
        }
        return Ok(json!({ "Successful": successful, "Failed": [] }));
    }
    let settings = topic.settings();
    let mut targets = Vec::new();
    for (id, entry) in &prepared {
        let message_id = uuid::Uuid::new_v4().to_string();
        let publication = Publication {
            topic: &topic,
            topic_arn: context.topic_arn(&topic),
            version: envelope::signature_version(&settings),
            message_id: &message_id,
            sequence_number: None,
            timestamp: &timestamp,
            replayed: false,
        };
        targets.extend(render(context, &publication, entry, &reach(context, &topic, entry)));
        successful.push(json!({ "Id": id, "MessageId": message_id }));
    }
    context.engine().send_to_many(targets).await?;
    Ok(json!({ "Successful": successful, "Failed": [] }))
}

/// Publish with PhoneNumber: one SMS, through the outbox.
async fn publish_sms(context: &Context<'_>, number: &str, entry: Entry) -> Result<Value, SnsError> {
    if !mobile::valid_phone_number(number) {
        return Err(SnsError::invalid(format!("PhoneNumber Reason: {number} is not valid to publish to")));
    }
    let prepared = prepare(&TopicSettings::default(), entry)?;
    let opted_out = context.engine().catalog_entry(mobile::OPTED_OUT, &mobile::number_key(context.account(), number));
    if opted_out.is_some() {
        // As on AWS, the publish succeeds and nothing is sent.
        return Ok(json!({ "MessageId": uuid::Uuid::new_v4().to_string() }));
    }
    publish_direct(context, "sms", number, prepared.structure.for_protocol("sms")).await
}

/// Publish with a platform endpoint's TargetArn: one push message, through the outbox.
async fn publish_push(context: &Context<'_>, endpoint: &EndpointId, entry: Entry) -> Result<Value, SnsError> {
    context.check_account(&endpoint.application.account)?;
    let engine = context.engine();
    let Some(found) = engine.catalog_entry(mobile::ENDPOINTS, &endpoint.key()) else {
        return Err(SnsError::invalid("TargetArn Reason: No endpoint found for the target arn specified"));
    };
    if found.get("Enabled").is_some_and(|enabled| enabled == "false") {
        return Err(SnsError::new(ErrorKind::EndpointDisabled, "Endpoint is disabled"));
    }
    let application = engine.catalog_entry(mobile::APPLICATIONS, &endpoint.application.key());
    if application.is_some_and(|application| application.get("Enabled").is_some_and(|enabled| enabled == "false")) {
        return Err(SnsError::new(ErrorKind::PlatformApplicationDisabled, "Platform application is disabled"));
    }
    let prepared = prepare(&TopicSettings::default(), entry)?;
    let text = prepared.structure.for_protocol(&endpoint.application.platform);
    publish_direct(context, "application", &endpoint.arn(context.region()), text).await
}

async fn publish_direct(
    context: &Context<'_>,
    protocol: &str,
    destination: &str,
    text: &str,
) -> Result<Value, SnsError> {
    let message_id = uuid::Uuid::new_v4().to_string();
    let message = delivery::direct_message(context.account(), protocol, destination, &message_id, text.to_string());
    context.engine().send(&context.service.outbox, vec![message]).await?;
    Ok(json!({ "MessageId": message_id }))
}

fn check_batch(entries: &[Entry]) -> Result<(), SnsError> {
    if entries.is_empty() {
        return Err(SnsError::new(ErrorKind::EmptyBatchRequest, "The batch request doesn't contain any entries."));
    }
    if entries.len() > BATCH_ENTRIES_MAX {
        return Err(SnsError::new(
            ErrorKind::TooManyEntriesInBatchRequest,
            "The batch request contains more entries than permissible.",
        ));
    }
    let mut seen = HashSet::new();
    for entry in entries {
        let id = entry.id.as_deref().unwrap_or("");
        let valid = !id.is_empty()
            && id.len() <= BATCH_ID_CHARS_MAX
            && id.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
        if !valid {
            return Err(SnsError::new(
                ErrorKind::InvalidBatchEntryId,
                "The Id of a batch entry in a batch request doesn't abide by the specification.",
            ));
        }
        if !seen.insert(id) {
            return Err(SnsError::new(
                ErrorKind::BatchEntryIdsNotDistinct,
                "Two or more batch entries in the request have the same Id.",
            ));
        }
    }
    Ok(())
}
