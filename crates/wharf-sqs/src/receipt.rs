//! Receipt handles: sealed, tamper-evident tokens naming a queue, a message and the receive that
//! leased it. A forged, truncated or foreign handle is rejected before any lookup.

use crate::error_map::SqsError;
use wharf_aws::token::{self, TokenKey};
use wharf_domain::LeaseRef;

const PURPOSE: &str = "sqs-receipt-handle";
/// Longer input is rejected before decoding.
pub const RECEIPT_HANDLE_CHARS_MAX: usize = 1024;

pub fn seal(key: &TokenKey, queue_id: u64, lease: LeaseRef) -> String {
    let mut payload = [0u8; 20];
    payload[..8].copy_from_slice(&queue_id.to_be_bytes());
    payload[8..16].copy_from_slice(&lease.seq.to_be_bytes());
    payload[16..].copy_from_slice(&lease.receive_count.to_be_bytes());
    token::seal(key, PURPOSE, &payload)
}

/// Opens a handle issued for `queue_id`.
pub fn open(key: &TokenKey, queue_id: u64, handle: &str) -> Result<LeaseRef, SqsError> {
    let payload = token::open(key, PURPOSE, handle, RECEIPT_HANDLE_CHARS_MAX)
        .map_err(|_| SqsError::invalid_receipt_handle(handle))?;
    let field =
        |range: std::ops::Range<usize>| payload.get(range).ok_or_else(|| SqsError::invalid_receipt_handle(handle));
    let owner = u64::from_be_bytes(field(0..8)?.try_into().map_err(|_| SqsError::invalid_receipt_handle(handle))?);
    let seq = u64::from_be_bytes(field(8..16)?.try_into().map_err(|_| SqsError::invalid_receipt_handle(handle))?);
    let receive_count =
        u32::from_be_bytes(field(16..20)?.try_into().map_err(|_| SqsError::invalid_receipt_handle(handle))?);
    if owner != queue_id || payload.len() != 20 {
        return Err(SqsError::invalid_receipt_handle(handle));
    }
    Ok(LeaseRef { seq, receive_count })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let key = TokenKey::from_bytes([7; 32]);
        let lease = LeaseRef { seq: 42, receive_count: 3 };
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
