//! The hand-written binary formats of every stored key and value.
//!
//! Keys are fixed-width big-endian integers, so byte order is numeric order and one queue's
//! messages (one topic's subscriptions, one shard log's records) form one contiguous, ascending
//! key range. Every value
//! starts with a format-version byte, so a later Wharf can read old records and an older Wharf
//! refuses newer ones instead of misreading them. Integers inside values are big-endian too (one
//! rule for the whole file); lengths and counts are LEB128 varints, so no length can overflow its
//! field.
//!
//! Decoders treat their input as untrusted: they never panic, never allocate more than the
//! input could describe, and report anything malformed as [`StoreError::Corrupt`].

use bytes::Bytes;
use wharf_store::{
    AttributeRecord, AttributeValueRecord, DedupKey, DedupRecord, MessageContent, MessageMeta, QueueId, QueueRecord,
    ShardLogId, SharedContentId, StoreError, StreamRecord, SubscriptionRecord, TopicId, TopicRecord,
};

/// The value format of every record except message metadata.
pub const VALUE_FORMAT_V1: u8 = 1;
/// Message metadata with a group key; metadata in format 1 (without one) is still read.
pub const VALUE_FORMAT_V2: u8 = 2;

/// Length of encoded [`MessageMeta`] in format 1: version byte, message id, sent, available,
/// receive count, first receive, size. The sequence number lives in the key.
const MESSAGE_META_V1_BYTES: usize = 1 + 16 + 8 + 8 + 4 + 8 + 4;
/// Format 2 appends the group key.
pub const MESSAGE_META_BYTES: usize = MESSAGE_META_V1_BYTES + 8;
/// Metadata of a message whose content is shared: format 2's fields, then the shared content's
/// id. Such a message has no row in the content table.
pub const VALUE_FORMAT_V3: u8 = 3;
pub const SHARING_META_BYTES: usize = MESSAGE_META_BYTES + 16;

/// Length of an encoded [`DedupRecord`] value: version byte, message id, seq, expiry. The
/// deduplication key lives in the table key.
pub const DEDUP_VALUE_BYTES: usize = 1 + 16 + 8 + 8;

/// A key of two big-endian integers: every key of one `owner` forms one contiguous range,
/// ascending by `item`.
fn two_part_key(owner: u64, item: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    let (owner_part, item_part) = key.split_at_mut(8);
    owner_part.copy_from_slice(&owner.to_be_bytes());
    item_part.copy_from_slice(&item.to_be_bytes());
    key
}

fn split_two_part_key(key: &[u8; 16]) -> (u64, u64) {
    let mut owner = [0u8; 8];
    let mut item = [0u8; 8];
    let (owner_part, item_part) = key.split_at(8);
    owner.copy_from_slice(owner_part);
    item.copy_from_slice(item_part);
    (u64::from_be_bytes(owner), u64::from_be_bytes(item))
}

/// A message's key: queue id then sequence number, both big-endian.
pub fn message_key(queue: QueueId, seq: u64) -> [u8; 16] {
    two_part_key(queue, seq)
}

/// Splits a message key into queue id and sequence number.
pub fn split_message_key(key: &[u8; 16]) -> (QueueId, u64) {
    split_two_part_key(key)
}

/// A queue record's key: the queue id, big-endian.
pub fn queue_key(queue: QueueId) -> [u8; 8] {
    queue.to_be_bytes()
}

/// A topic record's key: the topic id, big-endian.
pub fn topic_key(topic: TopicId) -> [u8; 8] {
    topic.to_be_bytes()
}

/// A subscription's key: topic id then subscription id, both big-endian, so one topic's
/// subscriptions form one contiguous key range.
pub fn subscription_key(topic: TopicId, id: u64) -> [u8; 16] {
    two_part_key(topic, id)
}

/// Splits a subscription key into topic id and subscription id.
pub fn split_subscription_key(key: &[u8; 16]) -> (TopicId, u64) {
    split_two_part_key(key)
}

/// A shard record's key: log id then position, both big-endian, so one log is one contiguous key
/// range, ascending by position.
pub fn shard_record_key(log: ShardLogId, position: u64) -> [u8; 16] {
    two_part_key(log, position)
}

/// Splits a shard record key into log id and position.
pub fn split_shard_record_key(key: &[u8; 16]) -> (ShardLogId, u64) {
    split_two_part_key(key)
}

pub fn encode_message_meta(meta: &MessageMeta) -> [u8; MESSAGE_META_BYTES] {
    let mut out = [0u8; MESSAGE_META_BYTES];
    let mut writer = FixedWriter { out: &mut out, position: 0 };
    writer.put(&[VALUE_FORMAT_V2]);
    writer.put(&meta.message_id);
    writer.put(&meta.sent_ms.to_be_bytes());
    writer.put(&meta.available_ms.to_be_bytes());
    writer.put(&meta.receive_count.to_be_bytes());
    writer.put(&meta.first_receive_ms.to_be_bytes());
    writer.put(&meta.size_bytes.to_be_bytes());
    writer.put(&meta.group_key.to_be_bytes());
    out
}

pub fn decode_message_meta(seq: u64, bytes: &[u8]) -> Result<MessageMeta, StoreError> {
    let mut reader = Reader::new(bytes, "message metadata");
    let version = reader.u8()?;
    if !matches!(version, VALUE_FORMAT_V1 | VALUE_FORMAT_V2 | VALUE_FORMAT_V3) {
        return Err(reader.corrupt(&format!("unknown format version {version}")));
    }
    let meta = MessageMeta {
        seq,
        message_id: reader.array::<16>()?,
        sent_ms: reader.u64()?,
        available_ms: reader.u64()?,
        receive_count: reader.u32()?,
        first_receive_ms: reader.u64()?,
        size_bytes: reader.u32()?,
        group_key: if version == VALUE_FORMAT_V1 { 0 } else { reader.u64()? },
    };
    if version == VALUE_FORMAT_V3 {
        reader.array::<16>()?;
    }
    reader.finish()?;
    Ok(meta)
}

/// Format 3 metadata: `meta` (format 2) referring to the shared content `id`.
pub fn encode_sharing_meta(meta: &[u8; MESSAGE_META_BYTES], id: &SharedContentId) -> [u8; SHARING_META_BYTES] {
    let mut out = [0u8; SHARING_META_BYTES];
    out[..MESSAGE_META_BYTES].copy_from_slice(meta);
    out[0] = VALUE_FORMAT_V3;
    out[MESSAGE_META_BYTES..].copy_from_slice(id);
    out
}

/// The shared content a metadata value refers to, if it is format 3.
pub fn shared_reference(meta: &[u8]) -> Option<SharedContentId> {
    match meta {
        [VALUE_FORMAT_V3, ..] if meta.len() == SHARING_META_BYTES => {
            <SharedContentId>::try_from(&meta[MESSAGE_META_BYTES..]).ok()
        }
        _ => None,
    }
}

/// A dedup record's table key: the queue id, big-endian, then the 16-byte deduplication key, so
/// one queue's records form one contiguous key range.
pub fn dedup_table_key(queue: QueueId, key: &DedupKey) -> [u8; 24] {
    let mut out = [0u8; 24];
    out[..8].copy_from_slice(&queue.to_be_bytes());
    out[8..].copy_from_slice(key);
    out
}

/// Splits a dedup table key into queue id and deduplication key.
pub fn split_dedup_table_key(bytes: &[u8; 24]) -> (QueueId, DedupKey) {
    let mut queue = [0u8; 8];
    let mut key = [0u8; 16];
    queue.copy_from_slice(&bytes[..8]);
    key.copy_from_slice(&bytes[8..]);
    (u64::from_be_bytes(queue), key)
}

pub fn encode_dedup(record: &DedupRecord) -> [u8; DEDUP_VALUE_BYTES] {
    let mut out = [0u8; DEDUP_VALUE_BYTES];
    let mut writer = FixedWriter { out: &mut out, position: 0 };
    writer.put(&[VALUE_FORMAT_V1]);
    writer.put(&record.message_id);
    writer.put(&record.seq.to_be_bytes());
    writer.put(&record.expires_ms.to_be_bytes());
    out
}

pub fn decode_dedup(key: DedupKey, bytes: &[u8]) -> Result<DedupRecord, StoreError> {
    let mut reader = Reader::new(bytes, "dedup record");
    reader.version()?;
    let record = DedupRecord { key, message_id: reader.array::<16>()?, seq: reader.u64()?, expires_ms: reader.u64()? };
    reader.finish()?;
    Ok(record)
}

pub fn encode_queue(record: &QueueRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + record.account.len() + record.name.len());
    out.push(VALUE_FORMAT_V1);
    out.extend_from_slice(&record.created_ms.to_be_bytes());
    out.extend_from_slice(&record.modified_ms.to_be_bytes());
    put_resource(&mut out, &record.account, &record.name, &record.attributes, &record.tags);
    out
}

pub fn decode_queue(id: QueueId, bytes: &[u8]) -> Result<QueueRecord, StoreError> {
    let mut reader = Reader::new(bytes, "queue record");
    reader.version()?;
    let created_ms = reader.u64()?;
    let modified_ms = reader.u64()?;
    let Resource { account, name, attributes, tags } = reader.resource()?;
    reader.finish()?;
    Ok(QueueRecord { id, account, name, created_ms, modified_ms, attributes, tags })
}

/// A topic record is laid out like a queue record without `modified_ms`.
pub fn encode_topic(record: &TopicRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + record.account.len() + record.name.len());
    out.push(VALUE_FORMAT_V1);
    out.extend_from_slice(&record.created_ms.to_be_bytes());
    put_resource(&mut out, &record.account, &record.name, &record.attributes, &record.tags);
    out
}

pub fn decode_topic(id: TopicId, bytes: &[u8]) -> Result<TopicRecord, StoreError> {
    let mut reader = Reader::new(bytes, "topic record");
    reader.version()?;
    let created_ms = reader.u64()?;
    let Resource { account, name, attributes, tags } = reader.resource()?;
    reader.finish()?;
    Ok(TopicRecord { id, account, name, created_ms, attributes, tags })
}

/// A subscription's value: the format byte, then its attributes (topic and id are in the key).
pub fn encode_subscription(record: &SubscriptionRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.push(VALUE_FORMAT_V1);
    put_pairs(&mut out, &record.attributes);
    out
}

pub fn decode_subscription(topic: TopicId, id: u64, bytes: &[u8]) -> Result<SubscriptionRecord, StoreError> {
    let mut reader = Reader::new(bytes, "subscription record");
    reader.version()?;
    let record = SubscriptionRecord { topic, id, attributes: reader.pairs()? };
    reader.finish()?;
    Ok(record)
}

pub fn encode_message_content(content: &MessageContent) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + content.body.len());
    out.push(VALUE_FORMAT_V1);
    put_bytes(&mut out, &content.body);
    put_attributes(&mut out, &content.attributes);
    put_attributes(&mut out, &content.system_attributes);
    put_str(&mut out, &content.sender_id);
    put_optional_str(&mut out, content.group_id.as_deref());
    put_optional_str(&mut out, content.deduplication_id.as_deref());
    put_optional_str(&mut out, content.dead_letter_source.as_deref());
    // An absent digest is stored as zero bytes.
    put_bytes(&mut out, content.body_digest.as_ref().map_or(&[][..], |digest| &digest[..]));
    out
}

pub fn encode_references(references: u32) -> [u8; 5] {
    let mut out = [VALUE_FORMAT_V1; 5];
    out[1..].copy_from_slice(&references.to_be_bytes());
    out
}

pub fn decode_references(bytes: &[u8]) -> Result<u32, StoreError> {
    let mut reader = Reader::new(bytes, "shared content references");
    reader.version()?;
    let references = reader.u32()?;
    reader.finish()?;
    Ok(references)
}

pub fn decode_message_content(bytes: &[u8]) -> Result<MessageContent, StoreError> {
    let mut reader = Reader::new(bytes, "message content");
    reader.version()?;
    let content =
        MessageContent {
            body: Bytes::copy_from_slice(reader.bytes()?),
            attributes: reader.attributes()?,
            system_attributes: reader.attributes()?,
            sender_id: reader.string()?,
            group_id: reader.optional_string()?,
            deduplication_id: reader.optional_string()?,
            dead_letter_source: reader.optional_string()?,
            body_digest: match reader.bytes()? {
                [] => None,
                digest => Some(<[u8; 16]>::try_from(digest).map_err(|_| {
                    StoreError::Corrupt(format!("message content: body digest of {} bytes", digest.len()))
                })?),
            },
        };
    reader.finish()?;
    Ok(content)
}

/// Bytes of a shard record value before its partition key's length: format byte, arrival time.
const STREAM_RECORD_HEADER_BYTES: usize = 1 + 8;

/// Appends a shard record's value to `out` (the position lives in the key): format byte,
/// `arrival_ms`, the partition key as a `str`, then the data to the end of the value, so data
/// needs no length of its own. Returns the bytes appended.
pub fn encode_stream_record_into(out: &mut Vec<u8>, record: &StreamRecord) -> usize {
    let start = out.len();
    out.reserve(STREAM_RECORD_HEADER_BYTES + 2 + record.partition_key.len() + record.data.len());
    out.push(VALUE_FORMAT_V1);
    out.extend_from_slice(&record.arrival_ms.to_be_bytes());
    put_str(out, &record.partition_key);
    out.extend_from_slice(&record.data);
    out.len() - start
}

/// A shard record's value, decoded without copying the partition key or the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamRecordView<'a> {
    pub arrival_ms: u64,
    pub partition_key: &'a str,
    pub data: &'a [u8],
}

impl StreamRecordView<'_> {
    /// What the record counts against a read's byte limit.
    pub fn size(self) -> usize {
        self.partition_key.len() + self.data.len()
    }

    pub fn to_record(self, position: u64) -> StreamRecord {
        StreamRecord {
            position,
            arrival_ms: self.arrival_ms,
            partition_key: self.partition_key.to_owned(),
            data: Bytes::copy_from_slice(self.data),
        }
    }
}

pub fn decode_stream_record(bytes: &[u8]) -> Result<StreamRecordView<'_>, StoreError> {
    let mut reader = Reader::new(bytes, "shard record");
    reader.version()?;
    let arrival_ms = reader.u64()?;
    let key = reader.bytes()?;
    let partition_key = std::str::from_utf8(key).map_err(|_| reader.corrupt("partition key is not UTF-8"))?;
    Ok(StreamRecordView { arrival_ms, partition_key, data: reader.rest() })
}

/// Only the arrival time of a shard record's value: what start-up and the search by time need.
/// Checks the format byte and that the value is long enough to hold its header, not the rest.
pub fn decode_stream_record_arrival(bytes: &[u8]) -> Result<u64, StoreError> {
    let mut reader = Reader::new(bytes, "shard record");
    reader.version()?;
    reader.u64()
}

/// A setting's value is opaque to the store; it is kept behind the version byte like every value.
pub fn encode_setting(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + value.len());
    out.push(VALUE_FORMAT_V1);
    out.extend_from_slice(value);
    out
}

pub fn decode_setting(bytes: &[u8]) -> Result<Vec<u8>, StoreError> {
    let mut reader = Reader::new(bytes, "setting");
    reader.version()?;
    Ok(reader.rest().to_vec())
}

/// Writes into a fixed array whose size was computed for exactly these fields.
struct FixedWriter<'a> {
    out: &'a mut [u8],
    position: usize,
}

impl FixedWriter<'_> {
    fn put(&mut self, bytes: &[u8]) {
        // The array is sized for the fields written, so the range is always inside it; `get_mut`
        // keeps a future layout mistake from becoming a panic (a test would catch the zeroes).
        if let Some(target) = self.out.get_mut(self.position..self.position + bytes.len()) {
            target.copy_from_slice(bytes);
        }
        self.position += bytes.len();
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_bytes(out, text.as_bytes());
}

fn put_optional_str(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        None => out.push(0),
        Some(text) => {
            out.push(1);
            put_str(out, text);
        }
    }
}

fn put_pairs(out: &mut Vec<u8>, pairs: &[(String, String)]) {
    put_varint(out, pairs.len() as u64);
    for (name, value) in pairs {
        put_str(out, name);
        put_str(out, value);
    }
}

/// What queue and topic records share, in stored order after their timestamps.
struct Resource {
    account: String,
    name: String,
    attributes: Vec<(String, String)>,
    tags: Vec<(String, String)>,
}

fn put_resource(
    out: &mut Vec<u8>,
    account: &str,
    name: &str,
    attributes: &[(String, String)],
    tags: &[(String, String)],
) {
    put_str(out, account);
    put_str(out, name);
    put_pairs(out, attributes);
    put_pairs(out, tags);
}

const ATTRIBUTE_TEXT: u8 = 0;
const ATTRIBUTE_BINARY: u8 = 1;

fn put_attributes(out: &mut Vec<u8>, attributes: &[AttributeRecord]) {
    put_varint(out, attributes.len() as u64);
    for attribute in attributes {
        put_str(out, &attribute.name);
        put_str(out, &attribute.data_type);
        match &attribute.value {
            AttributeValueRecord::Text(text) => {
                out.push(ATTRIBUTE_TEXT);
                put_str(out, text);
            }
            AttributeValueRecord::Binary(bytes) => {
                out.push(ATTRIBUTE_BINARY);
                put_bytes(out, bytes);
            }
        }
    }
}

/// A bounds-checked cursor over an untrusted value.
struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Reader { bytes, position: 0, what }
    }

    fn corrupt(&self, problem: &str) -> StoreError {
        StoreError::Corrupt(format!("{} at byte {}: {problem}", self.what, self.position))
    }

    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.position)
    }

    fn take(&mut self, count: usize) -> Result<&'a [u8], StoreError> {
        let end = self.position.checked_add(count).ok_or_else(|| self.corrupt("length overflows"))?;
        let slice = self.bytes.get(self.position..end).ok_or_else(|| self.corrupt("truncated"))?;
        self.position = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, StoreError> {
        let [byte] = self.array::<1>()?;
        Ok(byte)
    }

    fn u32(&mut self) -> Result<u32, StoreError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, StoreError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn version(&mut self) -> Result<(), StoreError> {
        match self.u8()? {
            VALUE_FORMAT_V1 => Ok(()),
            other => Err(self.corrupt(&format!("unknown format version {other}"))),
        }
    }

    fn varint(&mut self) -> Result<u64, StoreError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            let part = u64::from(byte & 0x7f);
            // The tenth byte may only carry the top bit of a u64.
            if shift == 63 && part > 1 {
                return Err(self.corrupt("varint overflows 64 bits"));
            }
            value |= part << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.corrupt("varint longer than 10 bytes"))
    }

    /// A length or count, checked against what is left so a corrupt value cannot ask for a huge
    /// allocation: every element takes at least `min_element_bytes` bytes.
    fn count(&mut self, min_element_bytes: usize) -> Result<usize, StoreError> {
        let count = self.varint()?;
        let limit = self.remaining() / min_element_bytes.max(1);
        match usize::try_from(count) {
            Ok(count) if count <= limit => Ok(count),
            _ => Err(self.corrupt(&format!("count {count} exceeds the remaining {} bytes", self.remaining()))),
        }
    }

    fn bytes(&mut self) -> Result<&'a [u8], StoreError> {
        let length = self.count(1)?;
        self.take(length)
    }

    fn string(&mut self) -> Result<String, StoreError> {
        let bytes = self.bytes()?;
        match std::str::from_utf8(bytes) {
            Ok(text) => Ok(text.to_owned()),
            Err(_) => Err(self.corrupt("string is not UTF-8")),
        }
    }

    fn optional_string(&mut self) -> Result<Option<String>, StoreError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.string()?)),
            other => Err(self.corrupt(&format!("option tag {other}"))),
        }
    }

    fn pairs(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        // Each pair is at least two one-byte lengths.
        let count = self.count(2)?;
        let mut pairs = Vec::with_capacity(count);
        for _ in 0..count {
            pairs.push((self.string()?, self.string()?));
        }
        Ok(pairs)
    }

    fn resource(&mut self) -> Result<Resource, StoreError> {
        Ok(Resource { account: self.string()?, name: self.string()?, attributes: self.pairs()?, tags: self.pairs()? })
    }

    fn attributes(&mut self) -> Result<Vec<AttributeRecord>, StoreError> {
        // Each attribute is at least two one-byte lengths, a tag and a one-byte length.
        let count = self.count(4)?;
        let mut attributes = Vec::with_capacity(count);
        for _ in 0..count {
            let name = self.string()?;
            let data_type = self.string()?;
            let value = match self.u8()? {
                ATTRIBUTE_TEXT => AttributeValueRecord::Text(self.string()?),
                ATTRIBUTE_BINARY => AttributeValueRecord::Binary(Bytes::copy_from_slice(self.bytes()?)),
                other => return Err(self.corrupt(&format!("attribute value tag {other}"))),
            };
            attributes.push(AttributeRecord { name, data_type, value });
        }
        Ok(attributes)
    }

    fn rest(&mut self) -> &'a [u8] {
        let rest = self.bytes.get(self.position..).unwrap_or_default();
        self.position = self.bytes.len();
        rest
    }

    /// Trailing bytes mean the value is not what we think it is.
    fn finish(&self) -> Result<(), StoreError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(self.corrupt(&format!("{} unexpected trailing bytes", self.remaining())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn sample_meta() -> MessageMeta {
        MessageMeta {
            seq: 42,
            message_id: *b"0123456789abcdef",
            sent_ms: 1_700_000_000_000,
            available_ms: 1_700_000_005_000,
            receive_count: 3,
            first_receive_ms: 1_700_000_006_000,
            size_bytes: 262_144,
            group_key: 0x0102_0304_0506_0708,
        }
    }

    fn sample_queue() -> QueueRecord {
        QueueRecord {
            id: 9,
            account: "000000000000".into(),
            name: "orders.fifo".into(),
            created_ms: 1,
            modified_ms: u64::MAX,
            attributes: vec![("FifoQueue".into(), "true".into()), ("Policy".into(), "{\"é\":1}".into())],
            tags: vec![],
        }
    }

    fn sample_topic() -> TopicRecord {
        TopicRecord {
            id: 11,
            account: "000000000000".into(),
            name: "orders.fifo".into(),
            created_ms: u64::MAX,
            attributes: vec![("DisplayName".into(), "Ordres reçues".into()), ("FifoTopic".into(), "true".into())],
            tags: vec![("team".into(), String::new())],
        }
    }

    fn sample_subscription() -> SubscriptionRecord {
        SubscriptionRecord {
            topic: 11,
            id: 1 << 40,
            attributes: vec![
                ("Protocol".into(), "sqs".into()),
                ("Endpoint".into(), "arn:aws:sqs:us-east-1:000000000000:orders".into()),
                ("FilterPolicy".into(), "{\"store\":[\"é\"]}".into()),
            ],
        }
    }

    fn sample_content() -> MessageContent {
        MessageContent {
            body: Bytes::from([0u8, 1, 2, 0xff].repeat(300)),
            attributes: vec![
                AttributeRecord {
                    name: "colour".into(),
                    data_type: "String".into(),
                    value: AttributeValueRecord::Text("blue".into()),
                },
                AttributeRecord {
                    name: "blob".into(),
                    data_type: "Binary".into(),
                    value: AttributeValueRecord::Binary(Bytes::from_static(&[9, 8, 7])),
                },
            ],
            system_attributes: vec![AttributeRecord {
                name: "AWSTraceHeader".into(),
                data_type: "String".into(),
                value: AttributeValueRecord::Text(String::new()),
            }],
            sender_id: "AIDAEXAMPLE".into(),
            group_id: Some("g".into()),
            deduplication_id: None,
            dead_letter_source: Some("arn:aws:sqs:us-east-1:000000000000:source".into()),
            body_digest: Some([7; 16]),
        }
    }

    fn encode_stream_record(record: &StreamRecord) -> Vec<u8> {
        let mut out = Vec::new();
        encode_stream_record_into(&mut out, record);
        out
    }

    fn sample_stream_record() -> StreamRecord {
        StreamRecord {
            position: 1 << 33,
            arrival_ms: 1_700_000_000_123,
            partition_key: "clé-7".into(),
            data: Bytes::from([0u8, 1, 2, 0xff].repeat(256)),
        }
    }

    #[test]
    fn message_keys_sort_by_queue_then_sequence() {
        let keys = [message_key(1, 255), message_key(1, 256), message_key(2, 0), message_key(u64::MAX, u64::MAX)];
        assert!(keys.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(split_message_key(&message_key(7, 1 << 40)), (7, 1 << 40));
        assert!(queue_key(255) < queue_key(256));
        assert!(topic_key(255) < topic_key(256));
        let keys = [subscription_key(1, 0), subscription_key(1, u64::MAX), subscription_key(2, 0)];
        assert!(keys.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(split_subscription_key(&subscription_key(7, 1 << 40)), (7, 1 << 40));
        let keys =
            [shard_record_key(1, 0), shard_record_key(1, 256), shard_record_key(1, u64::MAX), shard_record_key(2, 0)];
        assert!(keys.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(split_shard_record_key(&shard_record_key(7, 1 << 40)), (7, 1 << 40));
    }

    #[test]
    fn stream_records_round_trip_and_have_a_fixed_header() {
        let record = sample_stream_record();
        let encoded = encode_stream_record(&record);
        // The layout is part of the on-disk format documented in docs/storage.md.
        assert_eq!(encoded[0], VALUE_FORMAT_V1);
        assert_eq!(&encoded[1..9], &1_700_000_000_123u64.to_be_bytes());
        assert_eq!(usize::from(encoded[9]), "clé-7".len());
        assert_eq!(&encoded[10..16], "clé-7".as_bytes());
        assert_eq!(&encoded[16..], &record.data[..]);
        let view = decode_stream_record(&encoded).unwrap();
        assert_eq!(view.size(), 6 + 1024);
        assert_eq!(view.to_record(record.position), record);
        assert_eq!(decode_stream_record_arrival(&encoded).unwrap(), record.arrival_ms);

        // Empty key and data; several records appended to one buffer.
        let empty = StreamRecord { position: 0, arrival_ms: 0, partition_key: String::new(), data: Bytes::new() };
        let mut buffer = Vec::new();
        let first = encode_stream_record_into(&mut buffer, &empty);
        let second = encode_stream_record_into(&mut buffer, &record);
        assert_eq!((first, second), (10, encoded.len()));
        assert_eq!(decode_stream_record(&buffer[..first]).unwrap().to_record(0), empty);
        assert_eq!(&buffer[first..], &encoded[..]);
    }

    #[test]
    fn corrupt_stream_records_are_refused() {
        let encoded = encode_stream_record(&sample_stream_record());
        let corrupt = |bytes: &[u8]| matches!(decode_stream_record(bytes), Err(StoreError::Corrupt(_)));
        // Every prefix that cuts the header or the partition key.
        for length in 0..16 {
            assert!(corrupt(&encoded[..length]), "prefix of {length} bytes");
        }
        for length in 0..9 {
            assert!(matches!(decode_stream_record_arrival(&encoded[..length]), Err(StoreError::Corrupt(_))));
        }
        // An unknown format byte.
        let mut value = encoded.clone();
        value[0] = 2;
        assert!(corrupt(&value));
        assert!(matches!(decode_stream_record_arrival(&value), Err(StoreError::Corrupt(_))));
        // A partition key longer than the value.
        let mut value = encoded[..9].to_vec();
        put_varint(&mut value, u64::MAX);
        value.extend_from_slice(b"short");
        assert!(corrupt(&value));
        // A partition key that is not UTF-8.
        let mut value = encoded[..9].to_vec();
        value.extend_from_slice(&[2, 0xc3, 0x28, 7]);
        let message = match decode_stream_record(&value) {
            Err(StoreError::Corrupt(message)) => message,
            other => panic!("expected corruption, got {other:?}"),
        };
        assert!(message.starts_with("shard record"), "{message}");
    }

    #[test]
    fn records_round_trip() {
        let meta = sample_meta();
        let encoded = encode_message_meta(&meta);
        assert_eq!(encoded[0], VALUE_FORMAT_V2);
        assert_eq!(decode_message_meta(42, &encoded).unwrap(), meta);

        let record = DedupRecord { key: [9; 16], message_id: [3; 16], seq: 7, expires_ms: 300_000 };
        assert_eq!(decode_dedup(record.key, &encode_dedup(&record)).unwrap(), record);
        assert_eq!(split_dedup_table_key(&dedup_table_key(5, &record.key)), (5, record.key));
        assert!(dedup_table_key(5, &[255; 16]) < dedup_table_key(6, &[0; 16]));

        let queue = sample_queue();
        assert_eq!(decode_queue(9, &encode_queue(&queue)).unwrap(), queue);

        let topic = sample_topic();
        assert_eq!(decode_topic(11, &encode_topic(&topic)).unwrap(), topic);
        let bare = TopicRecord { attributes: vec![], tags: vec![], account: String::new(), ..sample_topic() };
        assert_eq!(decode_topic(11, &encode_topic(&bare)).unwrap(), bare);

        let subscription = sample_subscription();
        assert_eq!(decode_subscription(11, 1 << 40, &encode_subscription(&subscription)).unwrap(), subscription);
        let bare = SubscriptionRecord { topic: 0, id: 0, attributes: vec![] };
        assert_eq!(encode_subscription(&bare), vec![VALUE_FORMAT_V1, 0]);
        assert_eq!(decode_subscription(0, 0, &encode_subscription(&bare)).unwrap(), bare);

        let content = sample_content();
        assert_eq!(decode_message_content(&encode_message_content(&content)).unwrap(), content);
        let empty = MessageContent::default();
        assert_eq!(decode_message_content(&encode_message_content(&empty)).unwrap(), empty);

        assert_eq!(decode_setting(&encode_setting(&[1, 2, 3])).unwrap(), vec![1, 2, 3]);
        assert_eq!(decode_setting(&encode_setting(&[])).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn message_meta_layout_is_fixed() {
        // The layout is part of the on-disk format documented in docs/storage.md.
        let encoded = encode_message_meta(&sample_meta());
        assert_eq!(encoded.len(), 57);
        assert_eq!(&encoded[1..17], b"0123456789abcdef");
        assert_eq!(&encoded[17..25], &1_700_000_000_000u64.to_be_bytes());
        assert_eq!(&encoded[33..37], &3u32.to_be_bytes());
        assert_eq!(&encoded[45..49], &262_144u32.to_be_bytes());
        assert_eq!(&encoded[49..57], &0x0102_0304_0506_0708u64.to_be_bytes());
        // Format 1, written before group keys existed, reads with no group.
        let mut v1 = encoded[..49].to_vec();
        v1[0] = VALUE_FORMAT_V1;
        assert_eq!(decode_message_meta(42, &v1).unwrap(), MessageMeta { group_key: 0, ..sample_meta() });
    }

    #[test]
    fn a_topic_is_laid_out_as_a_queue_without_modified_ms() {
        // The shared layout is part of the on-disk format documented in docs/storage.md.
        let topic = sample_topic();
        let queue = QueueRecord {
            id: topic.id,
            account: topic.account.clone(),
            name: topic.name.clone(),
            created_ms: topic.created_ms,
            modified_ms: 5,
            attributes: topic.attributes.clone(),
            tags: topic.tags.clone(),
        };
        let mut expected = encode_queue(&queue);
        expected.drain(9..17);
        assert_eq!(encode_topic(&topic), expected);
        assert_eq!(&expected[1..9], &u64::MAX.to_be_bytes());
    }

    #[test]
    fn varints_round_trip_at_the_edges() {
        for value in [0, 1, 127, 128, 16_383, 16_384, u64::from(u32::MAX), u64::MAX - 1, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            let mut reader = Reader::new(&out, "test");
            assert_eq!(reader.varint().unwrap(), value);
            reader.finish().unwrap();
        }
        // Eleven continuation bytes, and a tenth byte carrying more than one bit.
        assert!(Reader::new(&[0xff; 11], "test").varint().is_err());
        let mut overflow = vec![0xff; 9];
        overflow.push(0x02);
        assert!(Reader::new(&overflow, "test").varint().is_err());
    }

    #[test]
    fn unknown_versions_and_trailing_bytes_are_corrupt() {
        let mut meta = encode_message_meta(&sample_meta());
        meta[0] = 3;
        assert!(matches!(decode_message_meta(1, &meta), Err(StoreError::Corrupt(_))));
        let mut dedup = encode_dedup(&DedupRecord { key: [0; 16], message_id: [0; 16], seq: 1, expires_ms: 1 });
        dedup[0] = 2;
        assert!(matches!(decode_dedup([0; 16], &dedup), Err(StoreError::Corrupt(_))));
        let mut queue = encode_queue(&sample_queue());
        queue.push(0);
        assert!(matches!(decode_queue(1, &queue), Err(StoreError::Corrupt(_))));
        let mut topic = encode_topic(&sample_topic());
        topic.push(0);
        assert!(matches!(decode_topic(1, &topic), Err(StoreError::Corrupt(_))));
        topic.pop();
        topic[0] = 2;
        assert!(matches!(decode_topic(1, &topic), Err(StoreError::Corrupt(_))));
        let mut subscription = encode_subscription(&sample_subscription());
        subscription.push(0);
        assert!(matches!(decode_subscription(1, 1, &subscription), Err(StoreError::Corrupt(_))));
        subscription.pop();
        subscription[0] = 0;
        assert!(matches!(decode_subscription(1, 1, &subscription), Err(StoreError::Corrupt(_))));
        // A string that is not UTF-8: one pair whose name is the single byte 0xff.
        let message = match decode_subscription(1, 1, &[VALUE_FORMAT_V1, 1, 1, 0xff, 0]) {
            Err(StoreError::Corrupt(message)) => message,
            other => panic!("expected corruption, got {other:?}"),
        };
        assert!(message.starts_with("subscription record at byte 4"), "{message}");
        assert!(matches!(decode_setting(&[]), Err(StoreError::Corrupt(_))));
        assert!(matches!(decode_setting(&[0]), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn huge_counts_are_refused_before_allocating() {
        // Version, then a body length of u64::MAX.
        let mut value = vec![VALUE_FORMAT_V1];
        put_varint(&mut value, u64::MAX);
        assert!(matches!(decode_message_content(&value), Err(StoreError::Corrupt(_))));
        let mut value = vec![VALUE_FORMAT_V1];
        value.extend_from_slice(&[0; 16]);
        put_varint(&mut value, 0); // account
        put_varint(&mut value, 0); // name
        put_varint(&mut value, 1 << 40); // attribute pairs
        assert!(matches!(decode_queue(1, &value), Err(StoreError::Corrupt(_))));
        let mut value = vec![VALUE_FORMAT_V1];
        value.extend_from_slice(&[0; 8]);
        put_varint(&mut value, 0); // account
        put_varint(&mut value, 0); // name
        put_varint(&mut value, 0); // attribute pairs
        put_varint(&mut value, u64::MAX); // tag pairs
        assert!(matches!(decode_topic(1, &value), Err(StoreError::Corrupt(_))));
        let mut value = vec![VALUE_FORMAT_V1];
        put_varint(&mut value, 1 << 40); // attribute pairs
        value.extend_from_slice(&[0; 8]);
        assert!(matches!(decode_subscription(1, 1, &value), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn every_truncation_is_corrupt() {
        let content = encode_message_content(&sample_content());
        for length in 0..content.len() {
            assert!(decode_message_content(&content[..length]).is_err(), "prefix of {length} bytes");
        }
        let queue = encode_queue(&sample_queue());
        for length in 0..queue.len() {
            assert!(decode_queue(1, &queue[..length]).is_err(), "prefix of {length} bytes");
        }
        let topic = encode_topic(&sample_topic());
        for length in 0..topic.len() {
            assert!(decode_topic(1, &topic[..length]).is_err(), "prefix of {length} bytes");
        }
        let subscription = encode_subscription(&sample_subscription());
        for length in 0..subscription.len() {
            assert!(decode_subscription(1, 1, &subscription[..length]).is_err(), "prefix of {length} bytes");
        }
        let meta = encode_message_meta(&sample_meta());
        for length in 0..meta.len() {
            assert!(decode_message_meta(1, &meta[..length]).is_err(), "prefix of {length} bytes");
        }
    }

    #[test]
    fn random_and_mutated_input_never_panics() {
        let mut rng = StdRng::seed_from_u64(0x5eed);
        let valid = [
            encode_message_content(&sample_content()),
            encode_queue(&sample_queue()),
            encode_topic(&sample_topic()),
            encode_subscription(&sample_subscription()),
            encode_stream_record(&sample_stream_record()),
        ];
        for round in 0..20_000 {
            let input: Vec<u8> = if round % 2 == 0 {
                let length = rng.random_range(0..96);
                (0..length).map(|_| rng.random()).collect()
            } else {
                let mut input = valid[round % valid.len()].clone();
                for _ in 0..rng.random_range(1..4) {
                    let index = rng.random_range(0..input.len());
                    input[index] = rng.random();
                }
                input
            };
            // Only the absence of panics matters here; a mutation may still decode.
            let _ = decode_message_content(&input);
            let _ = decode_queue(1, &input);
            let _ = decode_topic(1, &input);
            let _ = decode_subscription(1, 1, &input);
            let _ = decode_message_meta(1, &input);
            let _ = decode_setting(&input);
            let _ = decode_stream_record(&input);
            let _ = decode_stream_record_arrival(&input);
        }
    }
}
