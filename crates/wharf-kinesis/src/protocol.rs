//! Kinesis over awsJson 1.1: decoding an operation's input document and rendering its output or
//! error. Blobs travel as base64 text and timestamps as epoch seconds.

use crate::error_map::{ErrorKind, KinesisError};
use base64::Engine as _;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;
use wharf_aws::service::AwsResponse;

pub const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// Parses an operation's input document; an empty body is an empty document.
pub fn parse_input<T: DeserializeOwned>(operation: &str, body: &Bytes) -> Result<T, KinesisError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { body };
    serde_json::from_slice(body).map_err(|error| {
        KinesisError::new(ErrorKind::Serialization, format!("The request body is not valid for {operation}: {error}"))
    })
}

pub fn success(output: &Value) -> AwsResponse {
    AwsResponse {
        stream: None,
        status: 200,
        content_type: JSON_CONTENT_TYPE,
        headers: Vec::new(),
        body: Bytes::from(serde_json::to_vec(output).unwrap_or_else(|_| b"{}".to_vec())),
    }
}

pub fn failure(error: &KinesisError) -> AwsResponse {
    let (code, status) = error.kind.wire();
    AwsResponse {
        stream: None,
        status,
        content_type: JSON_CONTENT_TYPE,
        headers: Vec::new(),
        body: Bytes::from(wharf_aws::wire::json::render_error("", code, &error.message)),
    }
}

/// Decodes a base64 blob member.
pub fn decode_blob(text: &str, member: &str) -> Result<Bytes, KinesisError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map(Bytes::from)
        .map_err(|_| KinesisError::new(ErrorKind::Serialization, format!("Member {member} is not valid base64.")))
}

pub fn encode_blob(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Epoch milliseconds as awsJson epoch seconds.
pub fn timestamp(ms: u64) -> Value {
    serde_json::json!(ms as f64 / 1000.0)
}
