//! The `application/vnd.amazon.eventstream` framing AWS uses to push events down a response
//! (Kinesis SubscribeToShard).
//!
//! A message is: total length (u32), headers length (u32), CRC32 of those 8 bytes, the headers,
//! the payload, and the CRC32 of everything before it, all big-endian. A header is a name
//! (u8 length + bytes), a value type (7 = string) and the value (u16 length + bytes).
//! Only encoding is here: Wharf sends event streams and never reads them.

/// The largest header value the format allows.
const HEADER_VALUE_BYTES_MAX: usize = u16::MAX as usize;
const STRING_VALUE_TYPE: u8 = 7;

/// Encodes one message with string headers. Names longer than 255 bytes or values longer than
/// 65,535 bytes are truncated; the callers' headers are fixed and short.
pub fn encode_message(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut encoded_headers = Vec::new();
    for (name, value) in headers {
        let name = &name.as_bytes()[..name.len().min(u8::MAX as usize)];
        let value = &value.as_bytes()[..value.len().min(HEADER_VALUE_BYTES_MAX)];
        encoded_headers.push(name.len() as u8);
        encoded_headers.extend_from_slice(name);
        encoded_headers.push(STRING_VALUE_TYPE);
        encoded_headers.extend_from_slice(&(value.len() as u16).to_be_bytes());
        encoded_headers.extend_from_slice(value);
    }
    let total = 12 + encoded_headers.len() + payload.len() + 4;
    let mut message = Vec::with_capacity(total);
    message.extend_from_slice(&(total as u32).to_be_bytes());
    message.extend_from_slice(&(encoded_headers.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&message);
    message.extend_from_slice(&prelude_crc.to_be_bytes());
    message.extend_from_slice(&encoded_headers);
    message.extend_from_slice(payload);
    let message_crc = crc32fast::hash(&message);
    message.extend_from_slice(&message_crc.to_be_bytes());
    message
}

/// An event: `:message-type: event`, the event type and the payload's content type.
pub fn encode_event(event_type: &str, content_type: &str, payload: &[u8]) -> Vec<u8> {
    encode_message(&[(":message-type", "event"), (":event-type", event_type), (":content-type", content_type)], payload)
}

/// A modelled error ending the stream: `:message-type: exception` and its type.
pub fn encode_exception(exception_type: &str, content_type: &str, payload: &[u8]) -> Vec<u8> {
    encode_message(
        &[(":message-type", "exception"), (":exception-type", exception_type), (":content-type", content_type)],
        payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_carries_its_lengths_and_checksums() {
        let message = encode_event("SubscribeToShardEvent", "application/json", b"{}");
        let total = u32::from_be_bytes(message[0..4].try_into().unwrap()) as usize;
        let headers = u32::from_be_bytes(message[4..8].try_into().unwrap()) as usize;
        assert_eq!(total, message.len());
        assert_eq!(u32::from_be_bytes(message[8..12].try_into().unwrap()), crc32fast::hash(&message[..8]));
        assert_eq!(&message[12 + headers..total - 4], b"{}");
        assert_eq!(
            u32::from_be_bytes(message[total - 4..].try_into().unwrap()),
            crc32fast::hash(&message[..total - 4])
        );
        // The first header: 13-byte name ":message-type", string type, 5-byte value "event".
        assert_eq!(message[12], 13);
        assert_eq!(&message[13..26], b":message-type");
        assert_eq!(message[26], 7);
        assert_eq!(&message[27..29], &[0, 5]);
        assert_eq!(&message[29..34], b"event");
    }

    #[test]
    fn the_empty_message_matches_the_published_vector() {
        // AWS's event-stream test suite: an empty message is 16 bytes with prelude CRC 0x05c248eb
        // and message CRC 0x7d98c8ff.
        let message = encode_message(&[], b"");
        assert_eq!(message, [0, 0, 0, 0x10, 0, 0, 0, 0, 0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff]);
    }
}
