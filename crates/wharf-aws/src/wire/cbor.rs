//! `application/x-amz-cbor-1.1`: the awsJson 1.1 operations and shapes with a CBOR (RFC 8949)
//! body, what the AWS SDKs for Java, the KCL and the KPL send to Kinesis by default.
//!
//! The front-ends work on awsJson documents (`serde_json::Value`), so this is a pure converter at
//! the boundary: [`decode_document`] turns a request body into the document awsJson would have
//! carried, and [`encode_document`] writes a response document as CBOR.
//!
//! The codec is written here rather than taken from a CBOR crate because the conversion is
//! not a plain data-model mapping (byte strings become base64 text, tag 1 timestamps change unit,
//! response members need per-name treatment), and because hostile input must be bounded in ways
//! that are easiest to guarantee directly: the decoder never panics, never recurses past
//! [`CborLimits::depth_max`], stops after [`CborLimits::items_max`] data items, and never
//! allocates from a declared length before the bytes it declares are actually present (a 9-byte
//! header can claim a 2^64-byte string or a 2^64-item array).
//!
//! ## Timestamps
//!
//! RFC 8949 tag 1 is "epoch-based date/time" in SECONDS. The AWS SDKs for Java (v1 and v2, hence
//! the KCL and KPL) instead write a timestamp as tag 1 around an integer of epoch MILLISECONDS
//! (`writeTag(1); writeNumber(date.getTime())`), and kinesis-mock reads it that way. So the decoder
//! takes a tag-1 INTEGER as milliseconds, because that is what the SDKs send, and a tag-1 FLOAT
//! as seconds (the RFC's meaning; no AWS SDK is known to send one). Either way the document gets
//! the awsJson form: epoch seconds as a float. On the way out, timestamp members are written as a
//! plain (untagged) integer of epoch milliseconds, as kinesis-mock does and the Java SDKs read.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{Map, Number, Value};
use std::borrow::Cow;

/// Bounds on what one body may make the decoder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CborLimits {
    /// The deepest nesting of arrays, maps and tags (a top-level scalar is depth 0; `{"a": [1]}`
    /// is depth 2). The decoder recurses once per level, so keep this small.
    pub depth_max: usize,
    /// The most data items in one body: every header counts (map keys and values, array
    /// elements, tags, and each chunk of an indefinite-length string).
    pub items_max: usize,
}

impl Default for CborLimits {
    fn default() -> Self {
        CborLimits { depth_max: 64, items_max: 1_000_000 }
    }
}

/// Why a body is not an acceptable CBOR document. Offsets are byte positions in the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CborError {
    #[error("the CBOR body ends inside a data item (at byte {offset})")]
    Truncated { offset: usize },
    #[error("malformed CBOR at byte {offset}: {reason}")]
    Malformed { offset: usize, reason: &'static str },
    #[error("CBOR nested deeper than {depth_max} levels")]
    TooDeep { depth_max: usize },
    #[error("more than {items_max} CBOR data items")]
    TooManyItems { items_max: usize },
    #[error("unexpected bytes after the CBOR document (at byte {offset})")]
    TrailingBytes { offset: usize },
    #[error("CBOR map key at byte {offset} is not a text string")]
    NonTextKey { offset: usize },
    #[error("CBOR integer at byte {offset} does not fit in 64 bits")]
    IntegerOutOfRange { offset: usize },
    #[error("CBOR float at byte {offset} is NaN or infinite")]
    NonFiniteFloat { offset: usize },
    #[error("CBOR text string at byte {offset} is not valid UTF-8")]
    InvalidUtf8 { offset: usize },
    #[error("CBOR simple value {value} at byte {offset} is not supported")]
    UnsupportedSimpleValue { value: u8, offset: usize },
    #[error("CBOR timestamp (tag 1) at byte {offset} is not a number in range")]
    InvalidTimestamp { offset: usize },
}

/// Decodes a CBOR request body into the awsJson document shape.
///
/// - Maps become objects; their keys must be text strings. A repeated key keeps its last value,
///   as `serde_json` does for awsJson bodies.
/// - Byte strings become base64 text (standard alphabet, padded), so blob members read as in
///   awsJson; text strings stay text.
/// - Integers stay integers; one below `i64::MIN` (or a bignum, tags 2 and 3, beyond `i64`/`u64`)
///   is refused. Half, single and double floats become numbers; NaN and infinities are refused.
/// - Tag 1 (a timestamp) becomes epoch seconds as a float: an integer inside is taken as
///   milliseconds, a float as seconds (see the module documentation). Other tags are unwrapped.
/// - `false`/`true` become booleans, `null` and `undefined` become null; other simple values are
///   refused.
/// - Definite and indefinite lengths are both accepted for strings, arrays and maps.
/// - The body must hold exactly one data item: an empty body is [`CborError::Truncated`] and
///   anything after the item is [`CborError::TrailingBytes`].
pub fn decode_document(bytes: &[u8], limits: &CborLimits) -> Result<Value, CborError> {
    let mut decoder = Decoder { input: bytes, pos: 0, limits, items: 0 };
    let document = decoder.item(0)?;
    if decoder.pos != bytes.len() {
        return Err(CborError::TrailingBytes { offset: decoder.pos });
    }
    Ok(document)
}

/// Encodes a response document as CBOR.
///
/// - A member (at any depth) whose key is in `blob_members` and whose value is a string is
///   base64-decoded (standard alphabet, padded) and written as a byte string; a string that is
///   not valid base64 is written as text.
/// - A member whose key is in `timestamp_members` and whose value is a number (epoch seconds,
///   possibly fractional) is written as an integer of epoch milliseconds (rounded), untagged;
///   one out of range for `i64` milliseconds is written as an ordinary number.
/// - Otherwise: objects become definite-length maps with text keys, arrays definite-length
///   arrays, integers CBOR integers in their shortest form, other numbers doubles, and strings,
///   booleans and null their CBOR counterparts.
///
/// Matching is by key alone, so a map entry whose key happens to be a listed name (a stream tag
/// called `Data`, say) is treated the same way.
pub fn encode_document(document: &Value, blob_members: &[&str], timestamp_members: &[&str]) -> Vec<u8> {
    let mut encoder = Encoder { out: Vec::with_capacity(128), blob_members, timestamp_members };
    encoder.value(document, Role::Plain);
    encoder.out
}

// Major types (RFC 8949 §3.1).
const MAJOR_UNSIGNED: u8 = 0;
const MAJOR_NEGATIVE: u8 = 1;
const MAJOR_BYTES: u8 = 2;
const MAJOR_TEXT: u8 = 3;
const MAJOR_ARRAY: u8 = 4;
const MAJOR_MAP: u8 = 5;
const MAJOR_TAG: u8 = 6;
const MAJOR_SIMPLE: u8 = 7;

const TAG_EPOCH_TIME: u64 = 1;
const TAG_POSITIVE_BIGNUM: u64 = 2;
const TAG_NEGATIVE_BIGNUM: u64 = 3;

const BREAK: u8 = 0xff;

/// At most this many array elements or map entries are reserved ahead of decoding them, however
/// many a header declares; collections beyond it grow as their items actually arrive.
const PREALLOCATE_ITEMS_MAX: usize = 64;

/// A data item's initial byte and argument.
struct Head {
    major: u8,
    /// The additional information (low five bits of the initial byte).
    info: u8,
    /// The argument; `None` for an indefinite length (additional information 31).
    argument: Option<u64>,
}

struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    limits: &'a CborLimits,
    items: usize,
}

impl<'a> Decoder<'a> {
    fn truncated(&self) -> CborError {
        CborError::Truncated { offset: self.input.len() }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    /// Takes `count` bytes, only once they are known to be present.
    fn take(&mut self, count: u64) -> Result<&'a [u8], CborError> {
        let remaining = self.input.len() - self.pos;
        let count = match usize::try_from(count) {
            Ok(count) if count <= remaining => count,
            _ => return Err(self.truncated()),
        };
        let taken = &self.input[self.pos..self.pos + count];
        self.pos += count;
        Ok(taken)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], CborError> {
        let bytes = self.take(N as u64)?;
        let mut array = [0; N];
        array.copy_from_slice(bytes);
        Ok(array)
    }

    /// Reads one data item's head, counting it against the item limit.
    fn head(&mut self) -> Result<Head, CborError> {
        let offset = self.pos;
        let initial = *self.input.get(self.pos).ok_or_else(|| self.truncated())?;
        self.pos += 1;
        self.items += 1;
        if self.items > self.limits.items_max {
            return Err(CborError::TooManyItems { items_max: self.limits.items_max });
        }
        let major = initial >> 5;
        let info = initial & 0x1f;
        let argument = match info {
            0..=23 => Some(u64::from(info)),
            24 => Some(u64::from(self.take_array::<1>()?[0])),
            25 => Some(u64::from(u16::from_be_bytes(self.take_array()?))),
            26 => Some(u64::from(u32::from_be_bytes(self.take_array()?))),
            27 => Some(u64::from_be_bytes(self.take_array()?)),
            28..=30 => return Err(CborError::Malformed { offset, reason: "reserved additional information" }),
            _ => match major {
                MAJOR_BYTES | MAJOR_TEXT | MAJOR_ARRAY | MAJOR_MAP => None,
                MAJOR_SIMPLE => return Err(CborError::Malformed { offset, reason: "unexpected break" }),
                _ => return Err(CborError::Malformed { offset, reason: "indefinite length on an integer or tag" }),
            },
        };
        Ok(Head { major, info, argument })
    }

    /// Consumes a break if one is next.
    fn at_break(&mut self) -> Result<bool, CborError> {
        match self.peek() {
            Some(BREAK) => {
                self.pos += 1;
                Ok(true)
            }
            Some(_) => Ok(false),
            None => Err(self.truncated()),
        }
    }

    fn deeper(&self, depth: usize) -> Result<usize, CborError> {
        let depth = depth + 1;
        if depth > self.limits.depth_max {
            return Err(CborError::TooDeep { depth_max: self.limits.depth_max });
        }
        Ok(depth)
    }

    /// The content of a byte or text string (of major type `major`) whose head was just read:
    /// definite, or the concatenation of definite chunks of the same type up to a break. Text is
    /// not checked here, except that each chunk of an indefinite-length text string must be valid
    /// UTF-8 on its own (RFC 8949 §3.2.3).
    fn string_content(&mut self, major: u8, argument: Option<u64>) -> Result<Cow<'a, [u8]>, CborError> {
        if let Some(length) = argument {
            return self.take(length).map(Cow::Borrowed);
        }
        let mut content = Vec::new();
        while !self.at_break()? {
            let chunk_offset = self.pos;
            let chunk = self.head()?;
            let Some(length) = chunk.argument.filter(|_| chunk.major == major) else {
                return Err(CborError::Malformed {
                    offset: chunk_offset,
                    reason: "an indefinite-length string chunk is not a definite string of the same type",
                });
            };
            let bytes = self.take(length)?;
            if major == MAJOR_TEXT && std::str::from_utf8(bytes).is_err() {
                return Err(CborError::InvalidUtf8 { offset: chunk_offset });
            }
            content.extend_from_slice(bytes);
        }
        Ok(Cow::Owned(content))
    }

    fn text(&mut self, argument: Option<u64>, offset: usize) -> Result<String, CborError> {
        let content = self.string_content(MAJOR_TEXT, argument)?;
        match content {
            Cow::Borrowed(bytes) => std::str::from_utf8(bytes).map(str::to_owned).ok(),
            Cow::Owned(bytes) => String::from_utf8(bytes).ok(),
        }
        .ok_or(CborError::InvalidUtf8 { offset })
    }

    fn item(&mut self, depth: usize) -> Result<Value, CborError> {
        let offset = self.pos;
        let head = self.head()?;
        match head.major {
            MAJOR_UNSIGNED => Ok(Value::from(head.argument.unwrap_or_default())),
            MAJOR_NEGATIVE => negative(head.argument.unwrap_or_default(), offset).map(Value::from),
            MAJOR_BYTES => Ok(Value::String(STANDARD.encode(self.string_content(MAJOR_BYTES, head.argument)?))),
            MAJOR_TEXT => Ok(Value::String(self.text(head.argument, offset)?)),
            MAJOR_ARRAY => {
                let depth = self.deeper(depth)?;
                self.array(head.argument, depth)
            }
            MAJOR_MAP => {
                let depth = self.deeper(depth)?;
                self.map(head.argument, depth)
            }
            MAJOR_TAG => {
                let depth = self.deeper(depth)?;
                self.tagged(head.argument.unwrap_or_default(), depth, offset)
            }
            _ => simple(&head, offset),
        }
    }

    fn array(&mut self, length: Option<u64>, depth: usize) -> Result<Value, CborError> {
        let mut items = Vec::with_capacity(self.preallocation(length));
        match length {
            Some(length) => {
                for _ in 0..length {
                    items.push(self.item(depth)?);
                }
            }
            None => {
                while !self.at_break()? {
                    items.push(self.item(depth)?);
                }
            }
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, length: Option<u64>, depth: usize) -> Result<Value, CborError> {
        let mut members = Map::with_capacity(self.preallocation(length));
        match length {
            Some(length) => {
                for _ in 0..length {
                    let key = self.key()?;
                    let value = self.item(depth)?;
                    members.insert(key, value);
                }
            }
            None => {
                while !self.at_break()? {
                    let key = self.key()?;
                    if self.peek() == Some(BREAK) {
                        return Err(CborError::Malformed {
                            offset: self.pos,
                            reason: "a map ends between a key and its value",
                        });
                    }
                    let value = self.item(depth)?;
                    members.insert(key, value);
                }
            }
        }
        Ok(Value::Object(members))
    }

    /// A small reservation: never more than the bytes left could hold, nor a fixed cap.
    fn preallocation(&self, length: Option<u64>) -> usize {
        let declared = length.and_then(|length| usize::try_from(length).ok()).unwrap_or(0);
        declared.min(self.input.len() - self.pos).min(PREALLOCATE_ITEMS_MAX)
    }

    fn key(&mut self) -> Result<String, CborError> {
        let offset = self.pos;
        let head = self.head()?;
        if head.major != MAJOR_TEXT {
            return Err(CborError::NonTextKey { offset });
        }
        self.text(head.argument, offset)
    }

    /// The item inside tag `tag`, whose head (at `offset`) was just read.
    fn tagged(&mut self, tag: u64, depth: usize, offset: usize) -> Result<Value, CborError> {
        match tag {
            TAG_EPOCH_TIME => {
                let content_offset = self.pos;
                let seconds = match self.item(depth)? {
                    Value::Number(number) => epoch_seconds(&number),
                    _ => None,
                };
                seconds
                    .and_then(Number::from_f64)
                    .map(Value::Number)
                    .ok_or(CborError::InvalidTimestamp { offset: content_offset })
            }
            TAG_POSITIVE_BIGNUM | TAG_NEGATIVE_BIGNUM => {
                let head = self.head()?;
                if head.major != MAJOR_BYTES {
                    return Err(CborError::Malformed { offset, reason: "a bignum tag does not hold a byte string" });
                }
                let magnitude = self.string_content(MAJOR_BYTES, head.argument)?;
                bignum(&magnitude, tag == TAG_NEGATIVE_BIGNUM).ok_or(CborError::IntegerOutOfRange { offset })
            }
            _ => self.item(depth),
        }
    }
}

/// `-1 - argument`, the value of a negative integer, if it fits in `i64`.
fn negative(argument: u64, offset: usize) -> Result<i64, CborError> {
    i64::try_from(argument).map(|argument| -1 - argument).map_err(|_| CborError::IntegerOutOfRange { offset })
}

/// A tag-1 number as epoch seconds: an integer is milliseconds (what the AWS SDKs for Java
/// send), a float is seconds (RFC 8949's meaning).
fn epoch_seconds(number: &Number) -> Option<f64> {
    if let Some(millis) = number.as_i64() {
        Some(millis as f64 / 1000.0)
    } else if let Some(millis) = number.as_u64() {
        Some(millis as f64 / 1000.0)
    } else {
        number.as_f64()
    }
}

/// A bignum's value if it fits: tag 2 is the magnitude, tag 3 is `-1 - magnitude`.
fn bignum(magnitude: &[u8], negative_bignum: bool) -> Option<Value> {
    let significant = magnitude.iter().position(|&byte| byte != 0).map_or(&[][..], |start| &magnitude[start..]);
    if significant.len() > 8 {
        return None;
    }
    let magnitude = significant.iter().fold(0_u64, |value, &byte| (value << 8) | u64::from(byte));
    if negative_bignum {
        negative(magnitude, 0).ok().map(Value::from)
    } else {
        Some(Value::from(magnitude))
    }
}

fn simple(head: &Head, offset: usize) -> Result<Value, CborError> {
    let argument = head.argument.unwrap_or_default();
    let finite = |float: f64| Number::from_f64(float).map(Value::Number).ok_or(CborError::NonFiniteFloat { offset });
    match head.info {
        20 => Ok(Value::Bool(false)),
        21 => Ok(Value::Bool(true)),
        22 | 23 => Ok(Value::Null),
        // One-byte simple values below 32 must use the short form (RFC 8949 §3.3).
        24 if argument < 32 => {
            Err(CborError::Malformed { offset, reason: "a simple value in the two-byte form below 32" })
        }
        25 => finite(half_to_f64(argument as u16)),
        26 => finite(f64::from(f32::from_bits(argument as u32))),
        27 => finite(f64::from_bits(argument)),
        _ => Err(CborError::UnsupportedSimpleValue { value: argument as u8, offset }),
    }
}

/// An IEEE 754 half-precision float (RFC 8949 Appendix D).
fn half_to_f64(bits: u16) -> f64 {
    let exponent = i32::from((bits >> 10) & 0x1f);
    let mantissa = f64::from(bits & 0x3ff);
    let magnitude = match exponent {
        0 => mantissa * 2_f64.powi(-24),
        31 if mantissa == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (1.0 + mantissa / 1024.0) * 2_f64.powi(exponent - 15),
    };
    if bits & 0x8000 == 0 {
        magnitude
    } else {
        -magnitude
    }
}

/// How a member is written, from its key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Plain,
    Blob,
    Timestamp,
}

struct Encoder<'a> {
    out: Vec<u8>,
    blob_members: &'a [&'a str],
    timestamp_members: &'a [&'a str],
}

impl Encoder<'_> {
    /// The head of a data item with argument `argument`, in its shortest form.
    fn head(&mut self, major: u8, argument: u64) {
        let major = major << 5;
        if argument < 24 {
            self.out.push(major | argument as u8);
        } else if let Ok(argument) = u8::try_from(argument) {
            self.out.extend_from_slice(&[major | 24, argument]);
        } else if let Ok(argument) = u16::try_from(argument) {
            self.out.push(major | 25);
            self.out.extend_from_slice(&argument.to_be_bytes());
        } else if let Ok(argument) = u32::try_from(argument) {
            self.out.push(major | 26);
            self.out.extend_from_slice(&argument.to_be_bytes());
        } else {
            self.out.push(major | 27);
            self.out.extend_from_slice(&argument.to_be_bytes());
        }
    }

    fn integer(&mut self, value: i64) {
        match u64::try_from(value) {
            Ok(value) => self.head(MAJOR_UNSIGNED, value),
            // -1 - value, which cannot overflow for a negative value.
            Err(_) => self.head(MAJOR_NEGATIVE, (-1 - value) as u64),
        }
    }

    fn string(&mut self, major: u8, bytes: &[u8]) {
        self.head(major, bytes.len() as u64);
        self.out.extend_from_slice(bytes);
    }

    fn number(&mut self, number: &Number) {
        if let Some(value) = number.as_u64() {
            self.head(MAJOR_UNSIGNED, value);
        } else if let Some(value) = number.as_i64() {
            self.integer(value);
        } else {
            let float = number.as_f64().unwrap_or_default();
            self.out.push((MAJOR_SIMPLE << 5) | 27);
            self.out.extend_from_slice(&float.to_bits().to_be_bytes());
        }
    }

    fn value(&mut self, value: &Value, role: Role) {
        match value {
            Value::Null => self.out.push(0xf6),
            Value::Bool(false) => self.out.push(0xf4),
            Value::Bool(true) => self.out.push(0xf5),
            Value::Number(number) => match role {
                Role::Timestamp => match epoch_millis(number) {
                    Some(millis) => self.integer(millis),
                    None => self.number(number),
                },
                _ => self.number(number),
            },
            Value::String(text) => match role {
                Role::Blob => match STANDARD.decode(text) {
                    Ok(bytes) => self.string(MAJOR_BYTES, &bytes),
                    Err(_) => self.string(MAJOR_TEXT, text.as_bytes()),
                },
                _ => self.string(MAJOR_TEXT, text.as_bytes()),
            },
            Value::Array(items) => {
                self.head(MAJOR_ARRAY, items.len() as u64);
                for item in items {
                    self.value(item, Role::Plain);
                }
            }
            Value::Object(members) => {
                self.head(MAJOR_MAP, members.len() as u64);
                for (key, member) in members {
                    self.string(MAJOR_TEXT, key.as_bytes());
                    let role = if self.blob_members.contains(&key.as_str()) {
                        Role::Blob
                    } else if self.timestamp_members.contains(&key.as_str()) {
                        Role::Timestamp
                    } else {
                        Role::Plain
                    };
                    self.value(member, role);
                }
            }
        }
    }
}

/// Epoch seconds (possibly fractional) as whole milliseconds, rounded, if they fit in `i64`.
fn epoch_millis(seconds: &Number) -> Option<i64> {
    if let Some(seconds) = seconds.as_i64() {
        return seconds.checked_mul(1000);
    }
    if let Some(seconds) = seconds.as_u64() {
        return i64::try_from(seconds).ok()?.checked_mul(1000);
    }
    let millis = (seconds.as_f64()? * 1000.0).round();
    // i64::MAX is not representable as f64; 2^63 is the first value out of range.
    (millis.is_finite() && millis >= -(2_f64.powi(63)) && millis < 2_f64.powi(63)).then_some(millis as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(bytes: &[u8]) -> Result<Value, CborError> {
        decode_document(bytes, &CborLimits::default())
    }

    #[test]
    fn integers_in_every_width() {
        assert_eq!(decode(&[0x00]).unwrap(), json!(0));
        assert_eq!(decode(&[0x17]).unwrap(), json!(23));
        assert_eq!(decode(&[0x18, 0x18]).unwrap(), json!(24));
        assert_eq!(decode(&[0x19, 0x03, 0xe8]).unwrap(), json!(1000));
        assert_eq!(decode(&[0x1a, 0x00, 0x0f, 0x42, 0x40]).unwrap(), json!(1_000_000));
        assert_eq!(decode(&[0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap(), json!(u64::MAX));
        assert_eq!(decode(&[0x20]).unwrap(), json!(-1));
        assert_eq!(decode(&[0x38, 0x63]).unwrap(), json!(-100));
        assert_eq!(decode(&[0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap(), json!(i64::MIN));
        // -2^64 (RFC 8949 Appendix A) does not fit.
        assert_eq!(
            decode(&[0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Err(CborError::IntegerOutOfRange { offset: 0 })
        );
    }

    #[test]
    fn bignums_that_fit_are_integers_and_the_rest_are_refused() {
        assert_eq!(decode(&[0xc2, 0x42, 0x01, 0x00]).unwrap(), json!(256));
        assert_eq!(decode(&[0xc3, 0x41, 0x00]).unwrap(), json!(-1));
        // 2^64 (RFC 8949 Appendix A).
        assert_eq!(
            decode(&[0xc2, 0x49, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(CborError::IntegerOutOfRange { offset: 0 })
        );
        assert!(matches!(decode(&[0xc2, 0x01]), Err(CborError::Malformed { .. })));
    }

    #[test]
    fn floats_in_every_width() {
        // RFC 8949 Appendix A vectors.
        assert_eq!(decode(&[0xf9, 0x3c, 0x00]).unwrap(), json!(1.0));
        assert_eq!(decode(&[0xf9, 0x3e, 0x00]).unwrap(), json!(1.5));
        assert_eq!(decode(&[0xf9, 0x7b, 0xff]).unwrap(), json!(65504.0));
        assert_eq!(decode(&[0xf9, 0x00, 0x01]).unwrap(), json!(5.960464477539063e-8));
        assert_eq!(decode(&[0xf9, 0xc4, 0x00]).unwrap(), json!(-4.0));
        assert_eq!(decode(&[0xfa, 0x47, 0xc3, 0x50, 0x00]).unwrap(), json!(100000.0));
        assert_eq!(decode(&[0xfb, 0x3f, 0xf1, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a]).unwrap(), json!(1.1));
        for non_finite in [
            &[0xf9, 0x7c, 0x00][..],
            &[0xf9, 0x7e, 0x00],
            &[0xf9, 0xfc, 0x00],
            &[0xfa, 0x7f, 0x80, 0x00, 0x00],
            &[0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0],
        ] {
            assert_eq!(decode(non_finite), Err(CborError::NonFiniteFloat { offset: 0 }), "{non_finite:02x?}");
        }
    }

    #[test]
    fn simple_values() {
        assert_eq!(decode(&[0xf4]).unwrap(), json!(false));
        assert_eq!(decode(&[0xf5]).unwrap(), json!(true));
        assert_eq!(decode(&[0xf6]).unwrap(), Value::Null);
        assert_eq!(decode(&[0xf7]).unwrap(), Value::Null);
        assert_eq!(decode(&[0xf0]), Err(CborError::UnsupportedSimpleValue { value: 16, offset: 0 }));
        assert_eq!(decode(&[0xf8, 0xff]), Err(CborError::UnsupportedSimpleValue { value: 255, offset: 0 }));
        assert!(matches!(decode(&[0xf8, 0x14]), Err(CborError::Malformed { .. })));
    }

    #[test]
    fn half_floats_match_the_rfc_decoder() {
        assert_eq!(half_to_f64(0x0000), 0.0);
        assert!(half_to_f64(0x8000).is_sign_negative());
        assert_eq!(half_to_f64(0x0400), 6.103515625e-5);
        assert_eq!(half_to_f64(0x3555), 0.333251953125);
    }

    #[test]
    fn epoch_millis_rounds_and_refuses_overflow() {
        assert_eq!(epoch_millis(&Number::from(1_700_000_000)), Some(1_700_000_000_000));
        assert_eq!(epoch_millis(&Number::from_f64(1_700_000_000.123).unwrap()), Some(1_700_000_000_123));
        assert_eq!(epoch_millis(&Number::from_f64(-1.5).unwrap()), Some(-1500));
        assert_eq!(epoch_millis(&Number::from(u64::MAX)), None);
        assert_eq!(epoch_millis(&Number::from(i64::MAX / 10)), None);
        assert_eq!(epoch_millis(&Number::from_f64(1e300).unwrap()), None);
    }

    #[test]
    fn encodes_heads_in_their_shortest_form() {
        let encode = |value: Value| encode_document(&value, &[], &[]);
        assert_eq!(encode(json!(0)), [0x00]);
        assert_eq!(encode(json!(24)), [0x18, 0x18]);
        assert_eq!(encode(json!(256)), [0x19, 0x01, 0x00]);
        assert_eq!(encode(json!(65536)), [0x1a, 0x00, 0x01, 0x00, 0x00]);
        assert_eq!(encode(json!(u64::MAX)), [0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(encode(json!(-1)), [0x20]);
        assert_eq!(encode(json!(i64::MIN)), [0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(encode(json!(1.5)), [0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]);
        assert_eq!(encode(json!("a")), [0x61, b'a']);
        assert_eq!(encode(json!([])), [0x80]);
        assert_eq!(encode(json!({})), [0xa0]);
        assert_eq!(encode(json!(null)), [0xf6]);
    }
}
