//! Validating and converting what clients send as a message: body characters, message
//! attributes and system attributes, with AWS's rules and error messages.

use crate::error_map::{ErrorKind, SqsError};
use base64::Engine as _;
use bytes::Bytes;
use std::collections::BTreeMap;
use wharf_domain::{AttributeValue, MessageAttribute};

pub const MESSAGE_ATTRIBUTES_MAX: usize = 10;
pub const ATTRIBUTE_NAME_CHARS_MAX: usize = 256;
pub const ATTRIBUTE_TYPE_CHARS_MAX: usize = 256;
pub const DELAY_SECONDS_MAX: i64 = 900;
pub const TRACE_HEADER_ATTRIBUTE: &str = "AWSTraceHeader";

/// A message attribute value as both protocols send it (binary as base64).
pub use wharf_aws::wire::message_attribute::MessageAttributeValueInput as AttributeValueInput;

/// Checks a body against the characters SQS allows.
pub fn check_body(body: &str) -> Result<(), SqsError> {
    // A str is valid UTF-8 already, so only two things can be disallowed: control characters
    // other than tab and line breaks, and U+FFFE/U+FFFF (encoded EF BF BE/BF). The scan has no
    // early exit so it vectorises; the character-by-character pass runs only to name the culprit.
    let suspicious = body
        .bytes()
        .fold(false, |found, byte| found | (byte < 0x20 && !matches!(byte, b'\t' | b'\n' | b'\r')) | (byte == 0xEF));
    if !suspicious {
        return Ok(());
    }
    match body.chars().find(|ch| !is_allowed_char(*ch)) {
        None => Ok(()),
        Some(bad) => Err(SqsError::new(
            ErrorKind::InvalidMessageContents,
            format!(
                "Invalid binary character '#x{:X}' was found in the message body, the set of allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF",
                u32::from(bad)
            ),
        )),
    }
}

fn is_allowed_char(ch: char) -> bool {
    matches!(u32::from(ch), 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// Converts and validates message attributes; returns them with their size in bytes.
pub fn message_attributes(
    input: &BTreeMap<String, AttributeValueInput>,
) -> Result<(Vec<MessageAttribute>, usize), SqsError> {
    if input.len() > MESSAGE_ATTRIBUTES_MAX {
        return Err(SqsError::new(
            ErrorKind::InvalidParameterValue,
            format!(
                "Number of message attributes [{}] exceeds the allowed maximum [{MESSAGE_ATTRIBUTES_MAX}].",
                input.len()
            ),
        ));
    }
    let mut attributes = Vec::with_capacity(input.len());
    let mut size_bytes = 0;
    for (name, value) in input {
        check_attribute_name(name)?;
        let attribute = attribute(name, value)?;
        size_bytes += name.len() + attribute.data_type.len() + value_len(&attribute.value);
        attributes.push(attribute);
    }
    Ok((attributes, size_bytes))
}

/// Converts message system attributes; only `AWSTraceHeader` (a String) exists.
pub fn system_attributes(input: &BTreeMap<String, AttributeValueInput>) -> Result<Vec<MessageAttribute>, SqsError> {
    let mut attributes = Vec::new();
    for (name, value) in input {
        if name != TRACE_HEADER_ATTRIBUTE {
            return Err(SqsError::new(
                ErrorKind::InvalidParameterValue,
                format!("Message system attribute name '{name}' is invalid."),
            ));
        }
        let attribute = attribute(name, value)?;
        if attribute.data_type != "String" {
            return Err(SqsError::new(
                ErrorKind::InvalidParameterValue,
                format!("Message system attribute '{name}' must have the data type String."),
            ));
        }
        attributes.push(attribute);
    }
    Ok(attributes)
}

fn value_len(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::Text(text) => text.len(),
        AttributeValue::Binary(bytes) => bytes.len(),
    }
}

fn check_attribute_name(name: &str) -> Result<(), SqsError> {
    let invalid = |reason: &str| {
        SqsError::new(ErrorKind::InvalidParameterValue, format!("Message attribute name '{name}' is invalid. {reason}"))
    };
    if name.is_empty() {
        return Err(SqsError::new(
            ErrorKind::InvalidParameterValue,
            "The request must contain non-empty message attribute name.",
        ));
    }
    if name.len() > ATTRIBUTE_NAME_CHARS_MAX {
        return Err(invalid("The name must be 256 characters or fewer."));
    }
    if !name.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.')) {
        return Err(invalid("The name can contain only alphanumeric characters, hyphens, underscores and periods."));
    }
    if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        return Err(invalid("The name cannot start or end with a period, or contain successive periods."));
    }
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("aws.") || lower.starts_with("amazon.") {
        return Err(invalid("The name cannot start with AWS. or Amazon. (or any casing variations)."));
    }
    Ok(())
}

fn attribute(name: &str, input: &AttributeValueInput) -> Result<MessageAttribute, SqsError> {
    let data_type = input.data_type.as_deref().unwrap_or("");
    if data_type.is_empty() {
        return Err(SqsError::new(
            ErrorKind::InvalidParameterValue,
            format!("The message attribute '{name}' must contain non-empty message attribute type."),
        ));
    }
    if data_type.len() > ATTRIBUTE_TYPE_CHARS_MAX {
        return Err(SqsError::new(
            ErrorKind::InvalidParameterValue,
            format!("Message attribute type of '{name}' is longer than 256 characters."),
        ));
    }
    let (base, _custom) = data_type.split_once('.').unwrap_or((data_type, ""));
    let empty_value = || {
        SqsError::new(
            ErrorKind::InvalidParameterValue,
            format!("The message attribute '{name}' must contain non-empty message attribute value for message attribute type '{base}'."),
        )
    };
    let value = match base {
        "String" | "Number" => {
            let text = input.string_value.as_deref().filter(|text| !text.is_empty()).ok_or_else(empty_value)?;
            check_body(text).map_err(|_| {
                SqsError::new(
                    ErrorKind::InvalidParameterValue,
                    format!("Message attribute '{name}' has an invalid character in its value."),
                )
            })?;
            if base == "Number" && !is_number(text) {
                return Err(SqsError::new(
                    ErrorKind::InvalidParameterValue,
                    format!("Can't cast the value of message attribute '{name}' to a number."),
                ));
            }
            AttributeValue::Text(text.to_string())
        }
        "Binary" => {
            let encoded = input.binary_value.as_deref().filter(|text| !text.is_empty()).ok_or_else(empty_value)?;
            let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|_| {
                SqsError::new(
                    ErrorKind::InvalidParameterValue,
                    format!("The message attribute '{name}' has an invalid binary value; it must be base64-encoded."),
                )
            })?;
            if decoded.is_empty() {
                return Err(empty_value());
            }
            AttributeValue::Binary(Bytes::from(decoded))
        }
        _ => {
            return Err(SqsError::new(
                ErrorKind::InvalidParameterValue,
                format!("The type of message (user) attribute '{name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String."),
            ))
        }
    };
    Ok(MessageAttribute { name: name.to_string(), data_type: data_type.to_string(), value })
}

/// SQS numbers: optional sign, digits with an optional fraction, optional exponent; up to 38
/// significant digits.
fn is_number(text: &str) -> bool {
    let trimmed = text.trim();
    let digits = trimmed.bytes().filter(u8::is_ascii_digit).count();
    digits > 0 && digits <= 38 && trimmed.parse::<f64>().is_ok_and(f64::is_finite)
}

/// The longest MessageGroupId, MessageDeduplicationId or ReceiveRequestAttemptId.
pub const CLIENT_ID_CHARS_MAX: usize = 128;

/// Checks an id a client chooses: MessageGroupId, MessageDeduplicationId or
/// ReceiveRequestAttemptId, all 1 to 128 alphanumeric or punctuation characters.
pub fn check_client_id(parameter: &str, value: &str) -> Result<(), SqsError> {
    let valid = !value.is_empty()
        && value.len() <= CLIENT_ID_CHARS_MAX
        && value.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte.is_ascii_punctuation());
    if !valid {
        return Err(SqsError::invalid_value(
            parameter,
            value,
            &format!("{parameter} can only include alphanumeric and punctuation characters. 1 to 128 in length."),
        ));
    }
    Ok(())
}

/// Checks a per-message or per-request `DelaySeconds`.
pub fn check_delay(delay_seconds: i64) -> Result<u32, SqsError> {
    if !(0..=DELAY_SECONDS_MAX).contains(&delay_seconds) {
        return Err(SqsError::invalid_value("DelaySeconds", delay_seconds, "DelaySeconds must be >= 0 and <= 900."));
    }
    Ok(delay_seconds as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(value: &str) -> AttributeValueInput {
        AttributeValueInput { data_type: Some("String".into()), string_value: Some(value.into()), binary_value: None }
    }

    #[test]
    fn body_characters() {
        assert!(check_body("hello\t\n\r é 😀").is_ok());
        let error = check_body("bad\u{1}").unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidMessageContents);
        assert!(error.message.contains("#x1"));
        assert!(check_body("\u{FFFE}").is_err());
    }

    #[test]
    fn attribute_rules() {
        let mut input = BTreeMap::new();
        input.insert("ok.name-1_x".to_string(), string("v"));
        input.insert(
            "num".to_string(),
            AttributeValueInput {
                data_type: Some("Number.float".into()),
                string_value: Some("1.5e3".into()),
                binary_value: None,
            },
        );
        input.insert(
            "bin".to_string(),
            AttributeValueInput {
                data_type: Some("Binary".into()),
                string_value: None,
                binary_value: Some("AAEC".into()),
            },
        );
        let (attributes, size) = message_attributes(&input).unwrap();
        assert_eq!(attributes.len(), 3);
        assert_eq!(size, "bin".len() + 6 + 3 + "num".len() + 12 + 5 + "ok.name-1_x".len() + 6 + 1);

        for bad in ["AWS.x", "amazon.y", ".a", "a.", "a..b", "sp ace"] {
            let mut input = BTreeMap::new();
            input.insert(bad.to_string(), string("v"));
            assert_eq!(message_attributes(&input).unwrap_err().kind, ErrorKind::InvalidParameterValue, "{bad}");
        }
        let mut input = BTreeMap::new();
        input.insert(
            "n".to_string(),
            AttributeValueInput {
                data_type: Some("Number".into()),
                string_value: Some("abc".into()),
                binary_value: None,
            },
        );
        assert!(message_attributes(&input).unwrap_err().message.contains("to a number"));
        let mut input = BTreeMap::new();
        input.insert("t".to_string(), AttributeValueInput { data_type: Some("Date".into()), ..Default::default() });
        assert!(message_attributes(&input).is_err());
        let many: BTreeMap<String, AttributeValueInput> = (0..11).map(|i| (format!("a{i}"), string("v"))).collect();
        assert!(message_attributes(&many).unwrap_err().message.contains("[11]"));
    }

    #[test]
    fn group_ids() {
        assert!(check_client_id("MessageGroupId", "tenant-42/orders:eu").is_ok());
        assert!(check_client_id("MessageGroupId", "").is_err());
        assert!(check_client_id("MessageDeduplicationId", "has space").is_err());
        assert!(check_client_id("ReceiveRequestAttemptId", &"g".repeat(129)).is_err());
        assert!(check_client_id("ReceiveRequestAttemptId", &"g".repeat(128)).is_ok());
    }

    #[test]
    fn delay_range() {
        assert_eq!(check_delay(900).unwrap(), 900);
        assert!(check_delay(901).is_err());
        assert!(check_delay(-1).is_err());
    }
}
