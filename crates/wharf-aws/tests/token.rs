//! Sealed tokens: round trips, and every way a token can be forged, altered or misused.

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use wharf_aws::token::{open, seal, TokenError, TokenKey, TAG_BYTES};

const MAX_LEN: usize = 1024;

fn key() -> TokenKey {
    TokenKey::from_bytes([7; 32])
}

#[test]
fn round_trip() {
    let key = key();
    for payload in [&b""[..], b"x", b"queue-17/message-42", &[0_u8; 200], &[0xff_u8; 31]] {
        let token = seal(&key, "sqs-receipt-handle", payload);
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(open(&key, "sqs-receipt-handle", &token, MAX_LEN), Ok(payload.to_vec()));
    }
}

#[test]
fn seal_is_deterministic_and_keyed() {
    let token = seal(&key(), "p", b"payload");
    assert_eq!(token, seal(&key(), "p", b"payload"));
    assert_ne!(token, seal(&TokenKey::from_bytes([8; 32]), "p", b"payload"));
}

#[test]
fn any_changed_character_fails() {
    let key = key();
    let token = seal(&key, "p", b"queue-17/message-42");
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for index in 0..token.len() {
        for &replacement in alphabet {
            let mut bytes = token.clone().into_bytes();
            if bytes[index] == replacement {
                continue;
            }
            bytes[index] = replacement;
            let altered = String::from_utf8(bytes).expect("ascii");
            assert!(open(&key, "p", &altered, MAX_LEN).is_err(), "accepted {altered} (position {index})");
        }
    }
}

#[test]
fn any_changed_byte_of_the_sealed_bytes_fails() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let key = key();
    let token = seal(&key, "p", b"0123456789");
    let sealed = URL_SAFE_NO_PAD.decode(&token).expect("valid");
    assert_eq!(sealed.len(), 10 + TAG_BYTES);
    for index in 0..sealed.len() {
        for bit in 0..8 {
            let mut altered = sealed.clone();
            altered[index] ^= 1 << bit;
            let altered = URL_SAFE_NO_PAD.encode(altered);
            assert_eq!(open(&key, "p", &altered, MAX_LEN), Err(TokenError::BadTag));
        }
    }
    // Truncating or extending also fails.
    let shorter = URL_SAFE_NO_PAD.encode(&sealed[..sealed.len() - 1]);
    assert_eq!(open(&key, "p", &shorter, MAX_LEN), Err(TokenError::BadTag));
    let mut longer = sealed.clone();
    longer.push(0);
    let longer = URL_SAFE_NO_PAD.encode(longer);
    assert_eq!(open(&key, "p", &longer, MAX_LEN), Err(TokenError::BadTag));
}

#[test]
fn wrong_purpose_fails() {
    let key = key();
    let token = seal(&key, "sqs-receipt-handle", b"shard-0001");
    assert_eq!(open(&key, "kinesis-shard-iterator", &token, MAX_LEN), Err(TokenError::BadTag));
    assert_eq!(open(&key, "", &token, MAX_LEN), Err(TokenError::BadTag));
    // The purpose is length-prefixed: without that, the tag of ("ab", "cd") would also be the
    // tag of ("a", "bcd"), and a token of one kind could be re-spelled as the other.
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let sealed = URL_SAFE_NO_PAD.decode(seal(&key, "ab", b"cd")).expect("valid");
    let mut moved = b"b".to_vec();
    moved.extend_from_slice(&sealed);
    let moved = URL_SAFE_NO_PAD.encode(moved);
    assert_eq!(open(&key, "a", &moved, MAX_LEN), Err(TokenError::BadTag));
}

#[test]
fn wrong_key_fails() {
    let token = seal(&key(), "p", b"payload");
    assert_eq!(open(&TokenKey::from_bytes([8; 32]), "p", &token, MAX_LEN), Err(TokenError::BadTag));
    assert_eq!(open(&TokenKey::generate(), "p", &token, MAX_LEN), Err(TokenError::BadTag));
}

#[test]
fn oversize_is_rejected_before_decoding() {
    let key = key();
    let token = seal(&key, "p", &[1_u8; 100]);
    assert_eq!(open(&key, "p", &token, token.len()), Ok(vec![1_u8; 100]));
    assert_eq!(open(&key, "p", &token, token.len() - 1), Err(TokenError::TooLong));
    // Invalid text longer than the limit reports TooLong, proving no decode happened.
    let junk = "!".repeat(1 << 20);
    assert_eq!(open(&key, "p", &junk, MAX_LEN), Err(TokenError::TooLong));
}

#[test]
fn garbage_is_rejected() {
    let key = key();
    for garbage in [
        "",
        "A",
        "AA",
        "not base64!",
        "====",
        "AAAAAAAAAAAAAAAAAAAAAA==",
        "AAAA AAAA",
        "🦀🦀🦀",
        "AAAAAAAAAAAAAAAAAAAAAAB", // non-canonical trailing bits
    ] {
        let result = open(&key, "p", garbage, MAX_LEN);
        assert!(
            matches!(result, Err(TokenError::Malformed | TokenError::TooShort | TokenError::BadTag)),
            "{garbage:?}: {result:?}"
        );
    }
    // Exactly a tag's worth of bytes is an empty payload with a wrong tag.
    let sixteen = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, [0_u8; TAG_BYTES]);
    assert_eq!(open(&key, "p", &sixteen, MAX_LEN), Err(TokenError::BadTag));
    let fifteen = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, [0_u8; TAG_BYTES - 1]);
    assert_eq!(open(&key, "p", &fifteen, MAX_LEN), Err(TokenError::TooShort));
    // Standard-alphabet or padded spellings are not accepted.
    let token = seal(&key, "p", &[0xfb_u8; 30]);
    assert!(token.contains('-') || token.contains('_'));
    let standard = token.replace('-', "+").replace('_', "/");
    assert_eq!(open(&key, "p", &standard, MAX_LEN), Err(TokenError::Malformed));
}

#[test]
fn random_tokens_never_open_and_never_panic() {
    let key = key();
    let mut rng = StdRng::seed_from_u64(0x70c3);
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ ";
    for _ in 0..20_000 {
        let length = rng.random_range(0..80);
        let text: String = if rng.random_bool(0.2) {
            let mut raw = vec![0_u8; length];
            rng.fill_bytes(&mut raw);
            String::from_utf8_lossy(&raw).into_owned()
        } else {
            (0..length).map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())])).collect()
        };
        assert!(open(&key, "p", &text, 64).is_err(), "{text:?} opened");
    }
}

#[test]
fn keys_round_trip_and_hide_in_debug() {
    let key = TokenKey::generate();
    let again = TokenKey::from_bytes(key.to_bytes());
    let token = seal(&key, "p", b"x");
    assert_eq!(open(&again, "p", &token, MAX_LEN), Ok(b"x".to_vec()));
    assert_ne!(TokenKey::generate().to_bytes(), key.to_bytes());
    assert_eq!(format!("{key:?}"), "TokenKey(<redacted>)");
}
