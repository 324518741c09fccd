//! Shard iterators: sealed, tamper-evident tokens naming a stream, a shard, the position to read
//! from and when the iterator was issued. They expire five minutes after issue, as on AWS.

use crate::error_map::{ErrorKind, KinesisError};
use wharf_aws::token::{self, TokenKey};

const PURPOSE: &str = "kinesis-shard-iterator";
/// The model's limit on a ShardIterator's length; longer input is refused before decoding.
pub const SHARD_ITERATOR_CHARS_MAX: usize = 512;
/// How long an iterator may be used after it was issued.
pub const ITERATOR_LIFETIME_MS: u64 = 300_000;
/// Payload: stream id (8 bytes), shard index (4), position (8), issued at (8), big-endian.
const PAYLOAD_BYTES: usize = 28;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardIterator {
    pub stream_id: u64,
    pub shard_index: u32,
    pub position: u64,
    pub issued_ms: u64,
}

pub fn seal(key: &TokenKey, iterator: ShardIterator) -> String {
    let mut payload = [0u8; PAYLOAD_BYTES];
    payload[..8].copy_from_slice(&iterator.stream_id.to_be_bytes());
    payload[8..12].copy_from_slice(&iterator.shard_index.to_be_bytes());
    payload[12..20].copy_from_slice(&iterator.position.to_be_bytes());
    payload[20..].copy_from_slice(&iterator.issued_ms.to_be_bytes());
    token::seal(key, PURPOSE, &payload)
}

/// Opens an iterator and checks it has not expired at `now_ms`.
pub fn open(key: &TokenKey, text: &str, now_ms: u64) -> Result<ShardIterator, KinesisError> {
    let invalid = || KinesisError::invalid(format!("Invalid ShardIterator: {}", printable(text)));
    let payload = token::open(key, PURPOSE, text, SHARD_ITERATOR_CHARS_MAX).map_err(|_| invalid())?;
    let payload: [u8; PAYLOAD_BYTES] = payload.try_into().map_err(|_| invalid())?;
    let word = |range: std::ops::Range<usize>| -> u64 {
        payload[range].iter().fold(0u64, |value, byte| (value << 8) | u64::from(*byte))
    };
    let iterator = ShardIterator {
        stream_id: word(0..8),
        shard_index: u32::try_from(word(8..12)).map_err(|_| invalid())?,
        position: word(12..20),
        issued_ms: word(20..28),
    };
    if now_ms > iterator.issued_ms.saturating_add(ITERATOR_LIFETIME_MS) {
        return Err(KinesisError::new(
            ErrorKind::ExpiredIterator,
            format!(
                "Iterator expired. The iterator was created at time {} while right now it is {} which is further in the future than the tolerated delay of {ITERATOR_LIFETIME_MS} milliseconds.",
                iterator.issued_ms, now_ms
            ),
        ));
    }
    Ok(iterator)
}

/// An over-long or binary token is not echoed whole into an error message.
fn printable(text: &str) -> String {
    text.chars().take(SHARD_ITERATOR_CHARS_MAX).filter(|c| !c.is_control()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ShardIterator {
        ShardIterator { stream_id: 4, shard_index: 2, position: 99 << 20, issued_ms: 1_000 }
    }

    #[test]
    fn iterators_round_trip_until_they_expire() {
        let key = TokenKey::from_bytes([7; 32]);
        let sealed = seal(&key, sample());
        assert!(sealed.len() <= SHARD_ITERATOR_CHARS_MAX);
        assert_eq!(open(&key, &sealed, 1_000 + ITERATOR_LIFETIME_MS), Ok(sample()));
        let expired = open(&key, &sealed, 1_001 + ITERATOR_LIFETIME_MS).unwrap_err();
        assert_eq!(expired.kind, ErrorKind::ExpiredIterator);
    }

    #[test]
    fn forged_or_foreign_iterators_are_refused() {
        let key = TokenKey::from_bytes([7; 32]);
        let other = TokenKey::from_bytes([8; 32]);
        let sealed = seal(&key, sample());
        assert_eq!(open(&other, &sealed, 1_000).unwrap_err().kind, ErrorKind::InvalidArgument);
        assert_eq!(open(&key, "garbage", 1_000).unwrap_err().kind, ErrorKind::InvalidArgument);
        assert_eq!(open(&key, &"A".repeat(10_000), 1_000).unwrap_err().kind, ErrorKind::InvalidArgument);
        let receipt_like = token::seal(&key, "sqs-receipt-handle", &[0; 28]);
        assert_eq!(open(&key, &receipt_like, 1_000).unwrap_err().kind, ErrorKind::InvalidArgument);
    }
}
