//! Validating what a publisher sends: the message, its subject and structure, and message
//! attributes, with SNS's limits and wording.

use crate::error_map::{ErrorKind, SnsError};
use base64::Engine as _;
use bytes::Bytes;
use serde_json::Value;
use std::collections::BTreeMap;

/// The most a message and its attributes may add up to (256 KiB).
pub const MESSAGE_BYTES_MAX: usize = 262_144;
pub const MESSAGE_ATTRIBUTES_MAX: usize = 10;
pub const SUBJECT_CHARS_MAX: usize = 100;
const ATTRIBUTE_NAME_CHARS_MAX: usize = 256;

/// A message attribute as publishers send it (binary as base64).
pub use wharf_aws::wire::message_attribute::MessageAttributeValueInput as AttributeValueInput;

/// A validated attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub data_type: String,
    pub value: AttributeValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    Text(String),
    Binary(Bytes),
}

fn invalid_value(message: String) -> SnsError {
    SnsError::new(ErrorKind::InvalidParameterValue, message)
}

/// Checks and converts message attributes; returns them with their size in bytes.
pub fn attributes(input: &BTreeMap<String, AttributeValueInput>) -> Result<(Vec<Attribute>, usize), SnsError> {
    if input.len() > MESSAGE_ATTRIBUTES_MAX {
        return Err(invalid_value(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MESSAGE_ATTRIBUTES_MAX}].",
            input.len()
        )));
    }
    let mut out = Vec::with_capacity(input.len());
    let mut bytes = 0;
    for (name, value) in input {
        check_name(name)?;
        let data_type = value.data_type.as_deref().unwrap_or("");
        let base = data_type.split('.').next().unwrap_or("");
        let value = match base {
            "String" | "Number" => {
                let text = value.string_value.as_deref().ok_or_else(|| {
                    invalid_value(format!("The message attribute '{name}' must contain non-empty message attribute value for message attribute type '{data_type}'."))
                })?;
                if data_type.starts_with("Number") && text.trim().parse::<f64>().map_or(true, |number| !number.is_finite()) {
                    return Err(invalid_value(format!(
                        "Could not cast message attribute '{name}' value to number."
                    )));
                }
                if data_type == "String.Array" && !serde_json::from_str::<Value>(text).is_ok_and(|parsed| parsed.is_array()) {
                    return Err(invalid_value(format!(
                        "The message attribute '{name}' with type 'String.Array' has an invalid value."
                    )));
                }
                AttributeValue::Text(text.to_string())
            }
            "Binary" => {
                let encoded = value.binary_value.as_deref().unwrap_or("");
                let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|_| {
                    invalid_value(format!("The message attribute '{name}' has an invalid binary value."))
                })?;
                AttributeValue::Binary(Bytes::from(decoded))
            }
            _ => {
                return Err(invalid_value(format!(
                    "The message attribute '{name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String."
                )))
            }
        };
        bytes += name.len()
            + data_type.len()
            + match &value {
                AttributeValue::Text(text) => text.len(),
                AttributeValue::Binary(binary) => binary.len(),
            };
        out.push(Attribute { name: name.clone(), data_type: data_type.to_string(), value });
    }
    Ok((out, bytes))
}

fn check_name(name: &str) -> Result<(), SnsError> {
    let lower = name.to_ascii_lowercase();
    let valid = !name.is_empty()
        && name.len() <= ATTRIBUTE_NAME_CHARS_MAX
        && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.'))
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.");
    if !valid {
        return Err(invalid_value(format!("The message attribute name '{name}' is invalid.")));
    }
    Ok(())
}

/// Checks a Subject: at most 100 printable ASCII characters, no line breaks.
pub fn check_subject(subject: &str) -> Result<(), SnsError> {
    let valid = !subject.is_empty()
        && subject.chars().count() <= SUBJECT_CHARS_MAX
        && subject.chars().all(|ch| ch.is_ascii() && !ch.is_ascii_control());
    if !valid {
        return Err(SnsError::invalid("Subject"));
    }
    Ok(())
}

/// The message each protocol receives: with `MessageStructure=json` the message is a JSON
/// object of per-protocol texts that must include `default`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Structure {
    Single(String),
    PerProtocol(BTreeMap<String, String>),
}

impl Structure {
    pub fn parse(message: &str, structure: Option<&str>) -> Result<Structure, SnsError> {
        match structure {
            None | Some("") => Ok(Structure::Single(message.to_string())),
            Some("json") => {
                let parsed: Value = serde_json::from_str(message)
                    .map_err(|_| SnsError::invalid("Message Structure - JSON message body failed to parse"))?;
                let Value::Object(members) = parsed else {
                    return Err(SnsError::invalid("Message Structure - JSON message body failed to parse"));
                };
                let mut texts = BTreeMap::new();
                for (protocol, text) in members {
                    if let Value::String(text) = text {
                        texts.insert(protocol, text);
                    }
                }
                if !texts.contains_key("default") {
                    return Err(SnsError::invalid("Message Structure - No default entry in JSON message body"));
                }
                Ok(Structure::PerProtocol(texts))
            }
            Some(_) => Err(SnsError::invalid("MessageStructure")),
        }
    }

    /// The text a subscription of `protocol` receives.
    pub fn for_protocol(&self, protocol: &str) -> &str {
        match self {
            Structure::Single(text) => text,
            Structure::PerProtocol(texts) => {
                texts.get(protocol).or_else(|| texts.get("default")).map(String::as_str).unwrap_or("")
            }
        }
    }

    /// The text filter policies on the message body look at.
    pub fn default_text(&self) -> &str {
        self.for_protocol("default")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(data_type: &str, value: &str) -> BTreeMap<String, AttributeValueInput> {
        let value = AttributeValueInput {
            data_type: Some(data_type.into()),
            string_value: (!data_type.starts_with("Binary")).then(|| value.to_string()),
            binary_value: data_type.starts_with("Binary").then(|| value.to_string()),
        };
        BTreeMap::from([("attr".to_string(), value)])
    }

    #[test]
    fn attribute_rules() {
        assert!(attributes(&input("String", "x")).is_ok());
        assert!(attributes(&input("Number", "1.5")).is_ok());
        assert!(attributes(&input("Number", "one")).is_err());
        assert!(attributes(&input("String.Array", r#"["a", 1]"#)).is_ok());
        assert!(attributes(&input("String.Array", "a")).is_err());
        assert!(attributes(&input("Binary", "AAEC")).is_ok());
        assert!(attributes(&input("Binary", "***")).is_err());
        assert!(attributes(&input("Blob", "x")).is_err());
        assert_eq!(attributes(&input("String", "xyz")).unwrap().1, "attr".len() + "String".len() + 3);
        let many: BTreeMap<String, AttributeValueInput> =
            (0..11).map(|i| (format!("a{i}"), input("String", "x").remove("attr").unwrap())).collect();
        assert!(attributes(&many).is_err());
        for bad in ["", ".a", "a.", "a..b", "AWS.x", "amazon.y", "sp ace"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn subjects_and_structures() {
        assert!(check_subject("Order shipped").is_ok());
        assert!(check_subject("line\nbreak").is_err());
        assert!(check_subject(&"s".repeat(101)).is_err());
        let structure = Structure::parse(r#"{"default":"d","sqs":"q"}"#, Some("json")).unwrap();
        assert_eq!(structure.for_protocol("sqs"), "q");
        assert_eq!(structure.for_protocol("http"), "d");
        assert!(Structure::parse(r#"{"sqs":"q"}"#, Some("json")).is_err());
        assert!(Structure::parse("not json", Some("json")).is_err());
        assert_eq!(Structure::parse("plain", None).unwrap().for_protocol("sqs"), "plain");
    }
}
