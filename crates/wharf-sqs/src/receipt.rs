//! Receipt handles: sealed, tamper-evident tokens naming a queue, a message and the receive that
//! leased it. A forged, truncated or foreign handle is rejected before any lookup.

use crate::error_map::SqsError;
use wharf_aws::token::{self, TokenKey};
use wharf_domain::LeaseRef;

const PURPOSE: &str = "sqs-receipt-handle";
/// Longer input is rejected before decoding.
pub const RECEIPT_HANDLE_CHARS_MAX: usize = 1024;

/// Payload: queue id (8 bytes), sequence (8), message id (16), receive count (4), big-endian.
const PAYLOAD_BYTES: usize = 36;

pub fn seal(key: &TokenKey, queue_id: u64, lease: LeaseRef) -> String {
    let mut payload = [0u8; PAYLOAD_BYTES];
    payload[..8].copy_from_slice(&queue_id.to_be_bytes());
    payload[8..16].copy_from_slice(&lease.seq.to_be_bytes());
    payload[16..32].copy_from_slice(&lease.message_id);
    payload[32..].copy_from_slice(&lease.receive_count.to_be_bytes());
    token::seal(key, PURPOSE, &payload)
}

/// Opens the `ReceiptHandle` a request gave, which is required.
pub fn open_required(key: &TokenKey, queue_id: u64, handle: Option<&str>) -> Result<LeaseRef, SqsError> {
    open(key, queue_id, handle.ok_or_else(|| SqsError::missing("ReceiptHandle"))?)
}

/// Opens a handle issued for `queue_id`.
pub fn open(key: &TokenKey, queue_id: u64, handle: &str) -> Result<LeaseRef, SqsError> {
    let invalid = || SqsError::invalid_receipt_handle(handle);
    let payload = token::open(key, PURPOSE, handle, RECEIPT_HANDLE_CHARS_MAX).map_err(|_| invalid())?;
    let payload: [u8; PAYLOAD_BYTES] = payload.try_into().map_err(|_| invalid())?;
    let (owner, rest) = payload.split_at(8);
    let (seq, rest) = rest.split_at(8);
    let (message_id, receive_count) = rest.split_at(16);
    let owner = u64::from_be_bytes(owner.try_into().map_err(|_| invalid())?);
    if owner != queue_id {
        return Err(invalid());
    }
    Ok(LeaseRef {
        seq: u64::from_be_bytes(seq.try_into().map_err(|_| invalid())?),
        message_id: message_id.try_into().map_err(|_| invalid())?,
        receive_count: u32::from_be_bytes(receive_count.try_into().map_err(|_| invalid())?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let key = TokenKey::from_bytes([7; 32]);
        let lease = LeaseRef { seq: 42, message_id: [5; 16], receive_count: 3 };
        let handle = seal(&key, 9, lease);
        assert_eq!(open(&key, 9, &handle).unwrap(), lease);
        assert!(open(&key, 10, &handle).is_err());
        assert!(open(&TokenKey::from_bytes([8; 32]), 9, &handle).is_err());
        assert!(open(&key, 9, "garbage").is_err());
        assert!(open(&key, 9, &"A".repeat(5000)).is_err());
        let mut tampered = handle.clone().into_bytes();
        tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
        assert!(open(&key, 9, &String::from_utf8(tampered).unwrap()).is_err());
    }
}
