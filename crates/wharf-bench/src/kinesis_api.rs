//! The Kinesis Data Streams calls the bench makes (awsJson1_1, `X-Amz-Target:
//! Kinesis_20131202.<Op>`, SigV4 signing name `kinesis`) and the records it writes.
//!
//! PutRecords carries megabytes of base64 per second, so the generator must not spend the CPU
//! it measures on it: a request body is written straight into one buffer ([`RecordCodec`]; each
//! record is a 16-character base64 tag plus a suffix encoded once per run), and GetRecords
//! replies are parsed borrowing from the reply and checked against that same suffix without
//! decoding. As everywhere in the bench, a reply is checked, never trusted: a missing field or a
//! record that is not one of this run's becomes an error or a failed check, not a panic.

use std::borrow::Cow;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::client::{AwsJsonClient, CallError, EndpointConfig};

/// AWS limits: entries per PutRecords, bytes per record's data, bytes per PutRecords request
/// (data plus partition keys), records per GetRecords.
pub const PUT_RECORDS_ENTRIES_MAX: u32 = 500;
pub const RECORD_DATA_BYTES_MAX: u64 = 1024 * 1024;
pub const PUT_RECORDS_BYTES_MAX: u64 = 5 * 1024 * 1024;
pub const GET_RECORDS_LIMIT_MAX: u32 = 10_000;

/// Every record starts with this many tag bytes (run tag, producer, sequence), so it is the
/// smallest record the bench writes.
pub const RECORD_TAG_BYTES: usize = 12;
/// The tag's base64: 12 bytes are four whole base64 quanta, so a record's base64 is the tag's
/// followed by the suffix's, and the suffix can be encoded once.
const TAG_BASE64_CHARS: usize = 16;

/// Partition keys are 16 hex digits (64 random-looking bits; the server hashes them with MD5).
pub const PARTITION_KEY_CHARS: usize = 16;

/// AWS caps a GetRecords reply at 10 MiB of data; kinesalite has no cap (10,000 records of
/// 1 KiB are about 15 MB of JSON). Replies up to this size are read; the reader lowers its
/// `Limit` so that a full page of this run's records stays well below it.
pub const RESPONSE_BYTES_MAX: usize = 64 * 1024 * 1024;
pub const GET_RECORDS_REPLY_BUDGET: usize = 48 * 1024 * 1024;

/// Stream names AWS accepts.
pub fn is_valid_stream_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-'))
}

/// Identifies a record within a run: producer index (16 bits) and that producer's sequence (48
/// bits).
pub fn record_id(producer: u16, sequence: u64) -> u64 {
    (u64::from(producer) << 48) | (sequence & 0xFFFF_FFFF_FFFF)
}

/// A well-mixed 64-bit value from `value` (SplitMix64's finaliser): partition keys and seeds.
pub fn mix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// This run's records: `record_bytes` of data each, starting with a 12-byte tag (the run's tag,
/// then the record's [`record_id`], big-endian) followed by a suffix of pseudo-random bytes, the
/// same in every record of the run: a record does not compress on its own (a store that
/// compresses across records still finds the repeated suffix). With
/// [`RecordCodec::with_suffixes`], a record's suffix is one of several, chosen by its id, so
/// that neighbouring records differ too.
#[derive(Clone, Debug)]
pub struct RecordCodec {
    record_bytes: usize,
    run_tag: u32,
    key_seed: u64,
    /// At least one; record `id` carries `suffixes_base64[id % len]`.
    suffixes_base64: Vec<String>,
}

impl RecordCodec {
    /// `record_bytes` must be at least [`RECORD_TAG_BYTES`] (the settings check it).
    pub fn new(record_bytes: usize, run_tag: u32) -> Self {
        Self::with_suffixes(record_bytes, run_tag, 1)
    }

    /// Like [`RecordCodec::new`], with `suffixes` different suffixes (at least one) in turn.
    pub fn with_suffixes(record_bytes: usize, run_tag: u32, suffixes: usize) -> Self {
        let suffixes_base64 =
            (0..suffixes.max(1) as u64).map(|variant| STANDARD.encode(suffix_bytes(record_bytes, variant))).collect();
        Self { record_bytes, run_tag, key_seed: mix64(u64::from(run_tag)), suffixes_base64 }
    }

    pub fn record_bytes(&self) -> usize {
        self.record_bytes
    }

    /// Length of one record's data in base64.
    pub fn encoded_len(&self) -> usize {
        TAG_BASE64_CHARS + self.suffixes_base64[0].len()
    }

    fn suffix_base64(&self, id: u64) -> &str {
        &self.suffixes_base64[(id % self.suffixes_base64.len() as u64) as usize]
    }

    /// The record's partition key: derived from its id, so a retried record keeps its key (and
    /// its shard), as a real producer's would.
    pub fn partition_key(&self, id: u64) -> [u8; PARTITION_KEY_CHARS] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let bits = mix64(id ^ self.key_seed);
        let mut key = [0u8; PARTITION_KEY_CHARS];
        for (index, digit) in key.iter_mut().enumerate() {
            *digit = HEX[((bits >> (60 - 4 * index)) & 0xF) as usize];
        }
        key
    }

    fn tag(&self, id: u64) -> [u8; RECORD_TAG_BYTES] {
        let mut tag = [0u8; RECORD_TAG_BYTES];
        tag[..4].copy_from_slice(&self.run_tag.to_be_bytes());
        tag[4..].copy_from_slice(&id.to_be_bytes());
        tag
    }

    fn write_data(&self, out: &mut Vec<u8>, id: u64) {
        let mut tag_base64 = [0u8; TAG_BASE64_CHARS];
        // 12 bytes always encode to exactly 16 characters.
        let written = STANDARD.encode_slice(self.tag(id), &mut tag_base64).unwrap_or(0);
        out.extend_from_slice(&tag_base64[..written]);
        out.extend_from_slice(self.suffix_base64(id).as_bytes());
    }

    /// A PutRecords request for `stream_name` (a valid name, so nothing needs escaping) with
    /// one record per id, written directly as JSON.
    pub fn put_records_body(&self, stream_name: &str, ids: &[u64]) -> Vec<u8> {
        const ENTRY_OVERHEAD: usize = r#"{"Data":"","PartitionKey":""},"#.len();
        let mut body = Vec::with_capacity(
            64 + stream_name.len() + ids.len() * (self.encoded_len() + PARTITION_KEY_CHARS + ENTRY_OVERHEAD),
        );
        body.extend_from_slice(br#"{"StreamName":""#);
        body.extend_from_slice(stream_name.as_bytes());
        body.extend_from_slice(br#"","Records":["#);
        for (index, id) in ids.iter().enumerate() {
            if index > 0 {
                body.push(b',');
            }
            body.extend_from_slice(br#"{"Data":""#);
            self.write_data(&mut body, *id);
            body.extend_from_slice(br#"","PartitionKey":""#);
            body.extend_from_slice(&self.partition_key(*id));
            body.extend_from_slice(br#""}"#);
        }
        body.extend_from_slice(b"]}");
        body
    }

    /// The record's id if `data` (base64, as on the wire) is exactly one of this run's records:
    /// its tag names this run and the rest is the id's suffix byte for byte.
    pub fn check(&self, data: &str) -> Option<u64> {
        let (tag_base64, rest) = data.as_bytes().split_at_checked(TAG_BASE64_CHARS)?;
        let mut tag = [0u8; TAG_BASE64_CHARS];
        let decoded = STANDARD.decode_slice(tag_base64, &mut tag).ok()?;
        if decoded != RECORD_TAG_BYTES || tag[..4] != self.run_tag.to_be_bytes() {
            return None;
        }
        let mut id = [0u8; 8];
        id.copy_from_slice(&tag[4..RECORD_TAG_BYTES]);
        let id = u64::from_be_bytes(id);
        (rest == self.suffix_base64(id).as_bytes()).then_some(id)
    }
}

/// The bytes after the tag: pseudo-random, fixed for a record size and variant.
fn suffix_bytes(record_bytes: usize, variant: u64) -> Vec<u8> {
    (RECORD_TAG_BYTES..record_bytes.max(RECORD_TAG_BYTES))
        .map(|index| mix64(index as u64 ^ (variant << 40)).to_le_bytes()[0])
        .collect()
}

/// Orders sequence numbers, which are decimal strings of any length: shorter is smaller.
pub fn sequence_order(left: &str, right: &str) -> std::cmp::Ordering {
    left.len().cmp(&right.len()).then_with(|| left.cmp(right))
}

/// How many bytes `base64` decodes to (padding counted out), without decoding it.
pub fn decoded_len(base64: &str) -> u64 {
    let bytes = base64.as_bytes();
    let padding = bytes.iter().rev().take(2).take_while(|byte| **byte == b'=').count();
    ((bytes.len() / 4 * 3) as u64).saturating_sub(padding as u64)
}

// ---- requests and replies -------------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CreateStreamRequest<'a> {
    stream_name: &'a str,
    shard_count: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct StreamNameRequest<'a> {
    stream_name: &'a str,
}

#[derive(Deserialize)]
struct EmptyReply {}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
struct DescribeStreamSummaryReply {
    stream_description_summary: StreamSummary,
}

#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct StreamSummary {
    pub stream_status: String,
    pub open_shard_count: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListShardsRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<&'a str>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
struct ListShardsReply {
    #[serde(default)]
    shards: Vec<ShardEntry>,
    next_token: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
struct ShardEntry {
    shard_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetShardIteratorRequest<'a> {
    stream_name: &'a str,
    shard_id: &'a str,
    shard_iterator_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    starting_sequence_number: Option<&'a str>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase")]
struct GetShardIteratorReply {
    shard_iterator: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetRecordsRequest<'a> {
    shard_iterator: &'a str,
    limit: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutRecordsReply<'a> {
    failed_record_count: Option<u64>,
    #[serde(default, borrow)]
    records: Vec<PutRecordsResultEntry<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutRecordsResultEntry<'a> {
    #[serde(borrow)]
    error_code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    sequence_number: Option<Cow<'a, str>>,
    #[serde(borrow)]
    shard_id: Option<Cow<'a, str>>,
}

/// Where PutRecords put a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub shard_id: String,
    pub sequence_number: String,
}

/// What became of one record of a PutRecords request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryOutcome {
    /// Has a SequenceNumber and no ErrorCode; where it went only from
    /// [`KinesisClient::put_records_placed`], and only if the entry also names its ShardId.
    Written(Option<Placement>),
    /// Has an ErrorCode (`ProvisionedThroughputExceededException`, `InternalFailure`, ...).
    Failed(String),
    /// Neither: the peer did not say.
    Unanswered,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutRecordsOutcome {
    pub failed_record_count: Option<u64>,
    /// One per record of the reply, in order (the request's order, if the peer is right).
    pub entries: Vec<EntryOutcome>,
}

/// Reads a PutRecords reply; with `placements`, written entries keep their shard and sequence
/// number (two strings a record, which a writer that does not need them should not pay for).
fn parse_put_records_reply(body: &[u8], placements: bool) -> Result<PutRecordsOutcome, CallError> {
    let reply: PutRecordsReply<'_> =
        serde_json::from_slice(body).map_err(|error| CallError::Malformed(format!("PutRecords: {error}")))?;
    let entries = reply
        .records
        .into_iter()
        .map(|entry| match (entry.error_code, entry.sequence_number) {
            (Some(code), _) if !code.is_empty() => EntryOutcome::Failed(code.into_owned()),
            (_, Some(sequence)) if !sequence.is_empty() => EntryOutcome::Written(
                entry
                    .shard_id
                    .filter(|shard| placements && !shard.is_empty())
                    .map(|shard| Placement { shard_id: shard.into_owned(), sequence_number: sequence.into_owned() }),
            ),
            _ => EntryOutcome::Unanswered,
        })
        .collect();
    Ok(PutRecordsOutcome { failed_record_count: reply.failed_record_count, entries })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetRecordsReply<'a> {
    #[serde(default, borrow)]
    records: Vec<ReadRecord<'a>>,
    next_shard_iterator: Option<String>,
    millis_behind_latest: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReadRecord<'a> {
    #[serde(borrow)]
    data: Cow<'a, str>,
    #[serde(borrow)]
    sequence_number: Option<Cow<'a, str>>,
}

/// One GetRecords reply, summarised; the ids of this run's records went to the caller's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordsPage {
    pub records: u64,
    /// Decoded data bytes of all records in the page.
    pub data_bytes: u64,
    /// Records that are not exactly one of this run's (other size, content or run).
    pub foreign: u64,
    pub last_sequence_number: Option<String>,
    /// `None` once a closed shard has been read to its end.
    pub next_shard_iterator: Option<String>,
    pub millis_behind_latest: Option<u64>,
}

fn parse_get_records_reply(body: &[u8], codec: &RecordCodec, ids: &mut Vec<u64>) -> Result<RecordsPage, CallError> {
    let reply: GetRecordsReply<'_> =
        serde_json::from_slice(body).map_err(|error| CallError::Malformed(format!("GetRecords: {error}")))?;
    let mut page = RecordsPage {
        records: reply.records.len() as u64,
        data_bytes: 0,
        foreign: 0,
        last_sequence_number: None,
        next_shard_iterator: reply.next_shard_iterator,
        millis_behind_latest: reply.millis_behind_latest,
    };
    ids.reserve(reply.records.len());
    for record in &reply.records {
        page.data_bytes += decoded_len(&record.data);
        match codec.check(&record.data) {
            Some(id) => ids.push(id),
            None => page.foreign += 1,
        }
    }
    page.last_sequence_number =
        reply.records.last().and_then(|record| record.sequence_number.as_deref()).map(str::to_owned);
    Ok(page)
}

/// Where GetShardIterator starts.
#[derive(Debug, Clone, Copy)]
pub enum IteratorStart<'a> {
    /// The oldest record kept.
    TrimHorizon,
    /// The record with this sequence number.
    AtSequenceNumber(&'a str),
    /// The record after the one with this sequence number.
    AfterSequenceNumber(&'a str),
    /// After the newest record: only records written later.
    Latest,
}

impl<'a> IteratorStart<'a> {
    /// The request's `ShardIteratorType` and `StartingSequenceNumber`.
    fn wire(self) -> (&'static str, Option<&'a str>) {
        match self {
            IteratorStart::TrimHorizon => ("TRIM_HORIZON", None),
            IteratorStart::AtSequenceNumber(sequence) => ("AT_SEQUENCE_NUMBER", Some(sequence)),
            IteratorStart::AfterSequenceNumber(sequence) => ("AFTER_SEQUENCE_NUMBER", Some(sequence)),
            IteratorStart::Latest => ("LATEST", None),
        }
    }
}

/// The Kinesis operations the bench issues.
#[derive(Clone)]
pub struct KinesisClient {
    inner: AwsJsonClient,
}

impl KinesisClient {
    pub fn new(config: &EndpointConfig) -> anyhow::Result<Self> {
        let inner = AwsJsonClient::new(config, "kinesis", "Kinesis_20131202", "application/x-amz-json-1.1")?
            .with_response_bytes_max(RESPONSE_BYTES_MAX);
        Ok(Self { inner })
    }

    pub async fn create_stream(&self, stream_name: &str, shard_count: u32) -> Result<(), CallError> {
        let _: EmptyReply =
            self.inner.call("CreateStream", &CreateStreamRequest { stream_name, shard_count }, Duration::ZERO).await?;
        Ok(())
    }

    pub async fn describe_stream_summary(&self, stream_name: &str) -> Result<StreamSummary, CallError> {
        let reply: DescribeStreamSummaryReply =
            self.inner.call("DescribeStreamSummary", &StreamNameRequest { stream_name }, Duration::ZERO).await?;
        Ok(reply.stream_description_summary)
    }

    pub async fn delete_stream(&self, stream_name: &str) -> Result<(), CallError> {
        let _: EmptyReply = self.inner.call("DeleteStream", &StreamNameRequest { stream_name }, Duration::ZERO).await?;
        Ok(())
    }

    /// One page of ListShards: the first (by stream name) or the one `next_token` names.
    pub async fn list_shards(
        &self,
        stream_name: &str,
        next_token: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), CallError> {
        // AWS refuses StreamName together with NextToken.
        let request = match next_token {
            Some(token) => ListShardsRequest { stream_name: None, next_token: Some(token) },
            None => ListShardsRequest { stream_name: Some(stream_name), next_token: None },
        };
        let reply: ListShardsReply = self.inner.call("ListShards", &request, Duration::ZERO).await?;
        let next_token = reply.next_token.filter(|token| !token.is_empty());
        Ok((reply.shards.into_iter().map(|shard| shard.shard_id).collect(), next_token))
    }

    pub async fn get_shard_iterator(
        &self,
        stream_name: &str,
        shard_id: &str,
        start: IteratorStart<'_>,
    ) -> Result<String, CallError> {
        let (shard_iterator_type, starting_sequence_number) = start.wire();
        let request = GetShardIteratorRequest { stream_name, shard_id, shard_iterator_type, starting_sequence_number };
        let reply: GetShardIteratorReply = self.inner.call("GetShardIterator", &request, Duration::ZERO).await?;
        Ok(reply.shard_iterator)
    }

    /// One PutRecords of a body made by [`RecordCodec::put_records_body`].
    pub async fn put_records(&self, body: Vec<u8>) -> Result<PutRecordsOutcome, CallError> {
        let reply = self.inner.call_raw("PutRecords", body, Duration::ZERO).await?;
        parse_put_records_reply(&reply, false)
    }

    /// Like [`KinesisClient::put_records`], keeping each written record's [`Placement`].
    pub async fn put_records_placed(&self, body: Vec<u8>) -> Result<PutRecordsOutcome, CallError> {
        let reply = self.inner.call_raw("PutRecords", body, Duration::ZERO).await?;
        parse_put_records_reply(&reply, true)
    }

    /// One GetRecords of up to `limit` records; the ids of this run's records are appended to
    /// `ids`.
    pub async fn get_records(
        &self,
        shard_iterator: &str,
        limit: u32,
        codec: &RecordCodec,
        ids: &mut Vec<u64>,
    ) -> Result<RecordsPage, CallError> {
        let body = serde_json::to_vec(&GetRecordsRequest { shard_iterator, limit })
            .map_err(|error| CallError::Malformed(format!("cannot encode request: {error}")))?;
        let reply = self.inner.call_raw("GetRecords", body, Duration::ZERO).await?;
        parse_get_records_reply(&reply, codec, ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn put_records_body_is_the_documented_json() {
        let codec = RecordCodec::new(40, 7);
        let ids = [record_id(3, 0), record_id(3, 1)];
        let body = codec.put_records_body("s-1", &ids);
        let document: Value = serde_json::from_slice(&body).expect("valid JSON");
        assert_eq!(document["StreamName"], "s-1");
        let records = document["Records"].as_array().expect("records");
        assert_eq!(records.len(), 2);
        for (record, id) in records.iter().zip(ids) {
            let data = record["Data"].as_str().expect("data");
            let decoded = STANDARD.decode(data).expect("base64");
            assert_eq!(decoded.len(), 40);
            assert_eq!(&decoded[..4], &7u32.to_be_bytes());
            assert_eq!(&decoded[4..12], &id.to_be_bytes());
            assert_eq!(decoded[12..], suffix_bytes(40, 0));
            assert_eq!(decoded_len(data), 40);
            assert_eq!(codec.check(data), Some(id));
            let key = record["PartitionKey"].as_str().expect("key");
            assert_eq!(key.len(), PARTITION_KEY_CHARS);
            assert_eq!(key.as_bytes(), codec.partition_key(id));
        }
        assert_ne!(records[0]["PartitionKey"], records[1]["PartitionKey"]);
        assert_eq!(codec.put_records_body("s", &[]), br#"{"StreamName":"s","Records":[]}"#);
    }

    #[test]
    fn check_rejects_other_runs_sizes_and_contents() {
        let codec = RecordCodec::new(1024, 1);
        let mut body = Vec::new();
        codec.write_data(&mut body, record_id(0, 5));
        let data = String::from_utf8(body).expect("ascii");
        assert_eq!(data.len(), codec.encoded_len());
        assert_eq!(codec.check(&data), Some(record_id(0, 5)));
        assert_eq!(RecordCodec::new(1024, 2).check(&data), None, "another run's record");
        assert_eq!(RecordCodec::new(1023, 1).check(&data), None, "another size");
        let mut altered = data.clone().into_bytes();
        let last = altered.len() - 10;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(codec.check(std::str::from_utf8(&altered).expect("ascii")), None);
        assert_eq!(codec.check("short"), None);
        // The smallest record is its tag alone.
        let tag_only = RecordCodec::new(RECORD_TAG_BYTES, 9);
        let mut body = Vec::new();
        tag_only.write_data(&mut body, 42);
        assert_eq!(body.len(), 16);
        assert_eq!(tag_only.check(std::str::from_utf8(&body).expect("ascii")), Some(42));
    }

    #[test]
    fn records_take_their_suffix_by_id() {
        let codec = RecordCodec::with_suffixes(45, 5, 3);
        assert_eq!(codec.encoded_len(), 60);
        let data: Vec<String> = (0..4)
            .map(|id| {
                let mut body = Vec::new();
                codec.write_data(&mut body, id);
                String::from_utf8(body).expect("ascii")
            })
            .collect();
        for (id, data) in (0..).zip(&data) {
            assert_eq!(data.len(), codec.encoded_len());
            assert_eq!(STANDARD.decode(data).expect("base64")[12..], suffix_bytes(45, id % 3));
            assert_eq!(codec.check(data), Some(id));
        }
        assert_ne!(data[0][16..], data[1][16..]);
        assert_eq!(data[0][16..], data[3][16..]);
        // Record 1's tag with record 0's suffix is not one of the run's records.
        assert_eq!(codec.check(&format!("{}{}", &data[1][..16], &data[0][16..])), None);
        assert_eq!(RecordCodec::with_suffixes(45, 5, 0).suffixes_base64.len(), 1);
        assert_eq!(RecordCodec::new(45, 5).check(&data[0]), Some(0), "the first suffix is new's");
        assert_eq!(RecordCodec::new(45, 5).check(&data[1]), None);
    }

    #[test]
    fn sequence_numbers_order_numerically() {
        let mut list = vec!["100", "99", "101", "49590338271490256608559692538361571095921575989136588898"];
        list.sort_by(|left, right| sequence_order(left, right));
        assert_eq!(list, ["99", "100", "101", "49590338271490256608559692538361571095921575989136588898"]);
    }

    #[test]
    fn decoded_length_counts_padding_out() {
        for length in 0..10 {
            let encoded = STANDARD.encode(vec![0u8; length]);
            assert_eq!(decoded_len(&encoded), length as u64, "{encoded}");
        }
    }

    #[test]
    fn record_ids_keep_producer_and_sequence_apart() {
        assert_eq!(record_id(1, 2), (1 << 48) | 2);
        assert_ne!(record_id(1, 0), record_id(0, 1 << 48));
        assert!(is_valid_stream_name("wharf-bench_1.x"));
        assert!(!is_valid_stream_name(""));
        assert!(!is_valid_stream_name("a b"));
        assert!(!is_valid_stream_name("a\"b"));
        assert!(!is_valid_stream_name(&"a".repeat(129)));
    }

    #[test]
    fn put_records_reply_is_read_entry_by_entry() {
        let reply = br#"{"FailedRecordCount":1,"Records":[
                {"SequenceNumber":"4963","ShardId":"shardId-000000000000"},
                {"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"Rate exceeded for shard"},
                {"ShardId":"shardId-000000000001"},
                {"ErrorCode":null,"SequenceNumber":"4964","ShardId":"shardId-000000000001"},
                {"SequenceNumber":"4965"}]}"#;
        let outcome = parse_put_records_reply(reply, false).expect("parses");
        assert_eq!(outcome.failed_record_count, Some(1));
        assert_eq!(
            outcome.entries,
            vec![
                EntryOutcome::Written(None),
                EntryOutcome::Failed("ProvisionedThroughputExceededException".into()),
                EntryOutcome::Unanswered,
                EntryOutcome::Written(None),
                EntryOutcome::Written(None),
            ]
        );
        let placed = |shard: &str, sequence: &str| {
            EntryOutcome::Written(Some(Placement { shard_id: shard.into(), sequence_number: sequence.into() }))
        };
        assert_eq!(
            parse_put_records_reply(reply, true).expect("parses").entries,
            vec![
                placed("shardId-000000000000", "4963"),
                EntryOutcome::Failed("ProvisionedThroughputExceededException".into()),
                EntryOutcome::Unanswered,
                placed("shardId-000000000001", "4964"),
                EntryOutcome::Written(None),
            ]
        );
        assert!(parse_put_records_reply(b"{}", false).expect("parses").entries.is_empty());
        assert!(matches!(parse_put_records_reply(br#"{"Records": 5}"#, true), Err(CallError::Malformed(_))));
    }

    #[test]
    fn get_records_reply_counts_bytes_and_this_runs_ids() {
        let codec = RecordCodec::new(100, 3);
        let mut ours = Vec::new();
        codec.write_data(&mut ours, record_id(2, 9));
        let ours = String::from_utf8(ours).expect("ascii");
        let body = format!(
            r#"{{"Records":[{{"Data":"{ours}","PartitionKey":"k","SequenceNumber":"1","ApproximateArrivalTimestamp":1.5}},
                {{"Data":"aGVsbG8=","PartitionKey":"k","SequenceNumber":"2"}}],
               "NextShardIterator":"it-2","MillisBehindLatest":0}}"#
        );
        let mut ids = Vec::new();
        let page = parse_get_records_reply(body.as_bytes(), &codec, &mut ids).expect("parses");
        assert_eq!(ids, vec![record_id(2, 9)]);
        assert_eq!(
            page,
            RecordsPage {
                records: 2,
                data_bytes: 105,
                foreign: 1,
                last_sequence_number: Some("2".into()),
                next_shard_iterator: Some("it-2".into()),
                millis_behind_latest: Some(0),
            }
        );
        let closed =
            parse_get_records_reply(br#"{"Records":[],"MillisBehindLatest":0}"#, &codec, &mut ids).expect("parses");
        assert_eq!((closed.records, closed.next_shard_iterator), (0, None));
        assert!(parse_get_records_reply(br#"{"Records":[{}]}"#, &codec, &mut ids).is_err());
    }

    #[test]
    fn control_requests_use_aws_field_spellings() {
        let create = CreateStreamRequest { stream_name: "s", shard_count: 4 };
        assert_eq!(serde_json::to_string(&create).expect("serializes"), r#"{"StreamName":"s","ShardCount":4}"#);
        let first = ListShardsRequest { stream_name: Some("s"), next_token: None };
        assert_eq!(serde_json::to_string(&first).expect("serializes"), r#"{"StreamName":"s"}"#);
        let next = ListShardsRequest { stream_name: None, next_token: Some("t") };
        assert_eq!(serde_json::to_string(&next).expect("serializes"), r#"{"NextToken":"t"}"#);
        let iterator = GetShardIteratorRequest {
            stream_name: "s",
            shard_id: "shardId-000000000000",
            shard_iterator_type: "TRIM_HORIZON",
            starting_sequence_number: None,
        };
        assert_eq!(
            serde_json::to_string(&iterator).expect("serializes"),
            r#"{"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"TRIM_HORIZON"}"#
        );
        for (start, expected) in [
            (IteratorStart::TrimHorizon, ("TRIM_HORIZON", None)),
            (IteratorStart::AtSequenceNumber("7"), ("AT_SEQUENCE_NUMBER", Some("7"))),
            (IteratorStart::AfterSequenceNumber("8"), ("AFTER_SEQUENCE_NUMBER", Some("8"))),
            (IteratorStart::Latest, ("LATEST", None)),
        ] {
            assert_eq!(start.wire(), expected);
        }
        let records = GetRecordsRequest { shard_iterator: "it", limit: 10_000 };
        assert_eq!(serde_json::to_string(&records).expect("serializes"), r#"{"ShardIterator":"it","Limit":10000}"#);
        let summary: DescribeStreamSummaryReply = serde_json::from_str(
            r#"{"StreamDescriptionSummary":{"StreamName":"s","StreamStatus":"ACTIVE","OpenShardCount":4}}"#,
        )
        .expect("parses");
        assert_eq!(
            summary.stream_description_summary,
            StreamSummary { stream_status: "ACTIVE".into(), open_shard_count: Some(4) }
        );
        let shards: ListShardsReply =
            serde_json::from_str(r#"{"Shards":[{"ShardId":"shardId-000000000000","HashKeyRange":{}}]}"#)
                .expect("parses");
        assert_eq!(shards.shards.len(), 1);
        assert!(shards.next_token.is_none());
    }
}
