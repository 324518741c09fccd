//! Names and identifiers clients see: stream names, stream and consumer ARNs, shard ids and
//! sequence numbers.
//!
//! A sequence number is `49`, the shard's log id in 20 digits, then the record's position in 20
//! digits: decimal, strictly increasing within a shard, stable across restarts, and naming the
//! shard it belongs to so a number from another shard is refused.

use crate::error_map::KinesisError;
use wharf_domain::Stream;

pub const STREAM_NAME_CHARS_MAX: usize = 128;
const SHARD_ID_PREFIX: &str = "shardId-";
const SEQUENCE_PREFIX: &str = "49";
const SEQUENCE_DIGITS: usize = 42;

/// Checks a stream name against the model's pattern `[a-zA-Z0-9_.-]+`, 1 to 128 characters.
pub fn check_stream_name(name: &str, member: &str) -> Result<(), KinesisError> {
    if name.is_empty() || name.len() > STREAM_NAME_CHARS_MAX {
        return Err(KinesisError::validation(
            name,
            member,
            "Member must have length less than or equal to 128 and greater than or equal to 1",
        ));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        return Err(KinesisError::validation(
            name,
            member,
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        ));
    }
    Ok(())
}

pub fn stream_arn(region: &str, stream: &Stream) -> String {
    wharf_aws::arn::format("kinesis", region, &stream.account, &format!("stream/{}", stream.name))
}

/// The (account, stream name) a stream ARN names.
pub fn parse_stream_arn(arn: &str) -> Option<(String, String)> {
    let parsed = wharf_aws::arn::parse(arn)?;
    let name = parsed.resource.strip_prefix("stream/")?;
    if parsed.service != "kinesis" || name.contains('/') {
        return None;
    }
    Some((parsed.account.to_string(), name.to_string()))
}

pub fn shard_id(index: u32) -> String {
    let mut text = [b'0'; SHARD_ID_PREFIX.len() + 12];
    text[..SHARD_ID_PREFIX.len()].copy_from_slice(SHARD_ID_PREFIX.as_bytes());
    write_digits(&mut text[SHARD_ID_PREFIX.len()..], u64::from(index));
    ascii_string(&text)
}

/// The shard index a shard id names; AWS also accepts the bare number.
pub fn parse_shard_id(id: &str) -> Option<u32> {
    let digits = id.strip_prefix(SHARD_ID_PREFIX).unwrap_or(id);
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok().and_then(|index| u32::try_from(index).ok())
}

/// Formatted by hand: PutRecords and GetRecords write hundreds of these per call, and
/// zero-padded `format!` was a measurable part of their cost.
pub fn sequence_number(log: u64, position: u64) -> String {
    let mut text = [b'0'; SEQUENCE_DIGITS];
    text[..2].copy_from_slice(SEQUENCE_PREFIX.as_bytes());
    write_digits(&mut text[2..22], log);
    write_digits(&mut text[22..], position);
    ascii_string(&text)
}

/// Writes `value` in decimal into `slot`, right-aligned; the caller zero-fills the rest. A
/// value with more digits than `slot` keeps its low digits.
fn write_digits(slot: &mut [u8], mut value: u64) {
    for byte in slot.iter_mut().rev() {
        *byte = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

fn ascii_string(bytes: &[u8]) -> String {
    bytes.iter().map(|&byte| char::from(byte)).collect()
}

/// The (log, position) of a sequence number this server issued.
pub fn parse_sequence_number(text: &str) -> Option<(u64, u64)> {
    if text.len() != SEQUENCE_DIGITS || !text.starts_with(SEQUENCE_PREFIX) || !text.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let log = text.get(2..22)?.parse().ok()?;
    let position = text.get(22..)?.parse().ok()?;
    Some((log, position))
}

/// Checks a sequence number against the model's pattern `0|([1-9]\d{0,128})`.
pub fn is_sequence_number_shaped(text: &str) -> bool {
    text == "0"
        || (!text.is_empty() && text.len() <= 129 && !text.starts_with('0') && text.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_round_trip_and_order_like_numbers() {
        let low = sequence_number(3, 9);
        let high = sequence_number(3, 10);
        assert_eq!(parse_sequence_number(&low), Some((3, 9)));
        assert_eq!(low.len(), high.len());
        assert!(low < high);
        assert!(is_sequence_number_shaped(&low));
        assert_eq!(parse_sequence_number(&format!("{low}0")), None);
        assert_eq!(parse_sequence_number("12"), None);
        assert_eq!(parse_sequence_number(&low.replace('4', "x")), None);
    }

    #[test]
    fn shard_ids_and_arns() {
        assert_eq!(shard_id(7), "shardId-000000000007");
        assert_eq!(parse_shard_id("shardId-000000000007"), Some(7));
        assert_eq!(shard_id(u32::MAX), "shardId-004294967295");
        assert_eq!(sequence_number(u64::MAX, 0), format!("49{}{}", u64::MAX, "0".repeat(20)));
        assert_eq!(parse_shard_id("7"), Some(7));
        assert_eq!(parse_shard_id("shardId-"), None);
        assert_eq!(parse_shard_id("shardId-99999999999999999999"), None);
        assert_eq!(
            parse_stream_arn("arn:aws:kinesis:us-east-1:000000000000:stream/clicks"),
            Some(("000000000000".into(), "clicks".into()))
        );
        assert_eq!(parse_stream_arn("arn:aws:sqs:us-east-1:000000000000:stream/clicks"), None);
    }

    #[test]
    fn stream_names_follow_the_model() {
        assert!(check_stream_name("a.b-c_1", "streamName").is_ok());
        assert!(check_stream_name("", "streamName").is_err());
        assert!(check_stream_name("a b", "streamName").is_err());
        assert!(check_stream_name(&"a".repeat(129), "streamName").is_err());
    }
}
