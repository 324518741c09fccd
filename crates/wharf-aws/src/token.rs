//! Opaque, tamper-evident tokens: SQS receipt handles now, Kinesis shard iterators and
//! pagination tokens later.
//!
//! A token is `base64url_nopad(payload || tag)` where `tag` is the first [`TAG_BYTES`] bytes of
//! `HMAC-SHA256(key, len(purpose) || purpose || payload)`. The purpose string separates token
//! kinds, so a receipt handle can never be accepted as a shard iterator; its length prefix
//! stops `("ab", "c…")` and `("a", "bc…")` from producing the same MAC input.
//!
//! Tokens are authenticated, not encrypted: the payload is readable by whoever holds the
//! token, so it must carry nothing secret.
//!
//! What it must not do: no I/O, no global state, no panics on any input, and no work
//! proportional to an over-long token (length is checked before decoding). Tags are compared in
//! constant time.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::digest::generic_array::GenericArray;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use sha2::Sha256;

/// Bytes of truncated HMAC appended to the payload. 128 bits leaves forging a token at 2^-128
/// per guess, while keeping tokens short.
pub const TAG_BYTES: usize = 16;

/// The secret that seals and opens tokens. Keep one per server (or cluster) and persist it if
/// tokens must survive a restart.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenKey([u8; 32]);

impl TokenKey {
    /// A fresh random key from the operating system's CSPRNG (through `rand`'s thread RNG,
    /// which is a ChaCha generator seeded and reseeded from the OS).
    pub fn generate() -> Self {
        let mut bytes = [0_u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }
}

impl fmt::Debug for TokenKey {
    // The key must never reach a log line through `{:?}`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("TokenKey(<redacted>)")
    }
}

/// Why [`open`] refused a token. Callers map every variant to their service's own "invalid
/// token" error; the variants exist for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is longer than allowed")]
    TooLong,
    #[error("token is not valid base64url")]
    Malformed,
    #[error("token is too short to hold a tag")]
    TooShort,
    #[error("token failed authentication")]
    BadTag,
}

/// Seals `payload` for `purpose`: URL-safe base64 without padding of `payload || tag`.
pub fn seal(key: &TokenKey, purpose: &str, payload: &[u8]) -> String {
    let tag = compute_tag(key, purpose, payload);
    let mut sealed = Vec::with_capacity(payload.len() + TAG_BYTES);
    sealed.extend_from_slice(payload);
    sealed.extend(tag.iter().take(TAG_BYTES));
    URL_SAFE_NO_PAD.encode(sealed)
}

/// Opens a token made by [`seal`] with the same key and purpose and returns its payload.
/// `max_len` is the longest token text accepted, checked before any decoding.
pub fn open(key: &TokenKey, purpose: &str, token: &str, max_len: usize) -> Result<Vec<u8>, TokenError> {
    if token.len() > max_len {
        return Err(TokenError::TooLong);
    }
    // The strict engine rejects padding and non-zero trailing bits, so each payload has exactly
    // one token text.
    let mut sealed = URL_SAFE_NO_PAD.decode(token).map_err(|_| TokenError::Malformed)?;
    let Some(payload_len) = sealed.len().checked_sub(TAG_BYTES) else {
        return Err(TokenError::TooShort);
    };
    let tag = sealed.split_off(payload_len);
    let mut mac = keyed_mac(key, purpose);
    mac.update(&sealed);
    // Constant-time comparison of the first TAG_BYTES bytes of the computed tag.
    mac.verify_truncated_left(&tag).map_err(|_| TokenError::BadTag)?;
    Ok(sealed)
}

fn compute_tag(key: &TokenKey, purpose: &str, payload: &[u8]) -> [u8; 32] {
    let mut mac = keyed_mac(key, purpose);
    mac.update(payload);
    mac.finalize().into_bytes().into()
}

/// A MAC keyed with `key` that has already absorbed the length-prefixed purpose.
fn keyed_mac(key: &TokenKey, purpose: &str) -> Hmac<Sha256> {
    // A 32-byte key zero-padded to the 64-byte block is the same HMAC key (RFC 2104); building
    // the block ourselves avoids the fallible `new_from_slice`.
    let mut block = [0_u8; 64];
    for (slot, byte) in block.iter_mut().zip(key.0) {
        *slot = byte;
    }
    let mut mac = <Hmac<Sha256> as Mac>::new(&GenericArray::from(block));
    mac.update(&(purpose.len() as u64).to_be_bytes());
    mac.update(purpose.as_bytes());
    mac
}
