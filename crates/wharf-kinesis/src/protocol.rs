//! Kinesis over its two encodings of the same shapes: awsJson 1.1 (blobs as base64 text,
//! timestamps as epoch seconds) and CBOR (`application/x-amz-cbor-1.1`, what the Java SDKs and
//! the KCL send: blobs as byte strings, timestamps as epoch milliseconds). A CBOR body is turned
//! into the awsJson document shape on the way in, so operations parse one shape; replies go out
//! in the encoding the request came in.

use crate::error_map::{ErrorKind, KinesisError};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;
use wharf_aws::service::{AwsRequest, AwsResponse};
use wharf_aws::wire::cbor;

pub const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";
pub const CBOR_CONTENT_TYPE: &str = "application/x-amz-cbor-1.1";
/// Members written as CBOR byte strings.
const BLOB_MEMBERS: &[&str] = &["Data"];
/// Members written as CBOR epoch milliseconds.
const TIMESTAMP_MEMBERS: &[&str] = &[
    "ApproximateArrivalTimestamp",
    "StreamCreationTimestamp",
    "ConsumerCreationTimestamp",
    "ChannelCreationTimestamp",
    "StartedAt",
    "EndedAt",
    "EarliestAllowedEndAt",
];

/// The encoding of a request and of its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Cbor,
}

impl Encoding {
    pub fn of(request: &AwsRequest) -> Encoding {
        if request.content_type.starts_with(CBOR_CONTENT_TYPE) {
            Encoding::Cbor
        } else {
            Encoding::Json
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Json => JSON_CONTENT_TYPE,
            Encoding::Cbor => CBOR_CONTENT_TYPE,
        }
    }

    /// A document in this encoding.
    pub fn encode(self, document: &Value) -> Vec<u8> {
        match self {
            Encoding::Json => serde_json::to_vec(document).unwrap_or_else(|_| b"{}".to_vec()),
            Encoding::Cbor => cbor::encode_document(document, BLOB_MEMBERS, TIMESTAMP_MEMBERS),
        }
    }
}

/// Parses an operation's input document; an empty body is an empty document.
pub fn parse_input<T: DeserializeOwned>(operation: &str, request: &AwsRequest) -> Result<T, KinesisError> {
    let body = &request.body;
    let invalid = |error: String| {
        KinesisError::new(ErrorKind::Serialization, format!("The request body is not valid for {operation}: {error}"))
    };
    if body.is_empty() {
        return serde_json::from_slice(b"{}").map_err(|error| invalid(error.to_string()));
    }
    match Encoding::of(request) {
        Encoding::Json => {
            let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { body };
            serde_json::from_slice(body).map_err(|error| invalid(error.to_string()))
        }
        Encoding::Cbor => {
            let document = cbor::decode_document(body, &cbor::CborLimits::default())
                .map_err(|error| invalid(error.to_string()))?;
            serde_json::from_value(document).map_err(|error| invalid(error.to_string()))
        }
    }
}

pub fn success(encoding: Encoding, output: &Value) -> AwsResponse {
    AwsResponse {
        stream: None,
        status: 200,
        content_type: encoding.content_type(),
        headers: Vec::new(),
        body: Bytes::from(encoding.encode(output)),
    }
}

pub fn failure(encoding: Encoding, error: &KinesisError) -> AwsResponse {
    let (code, status) = error.kind.wire();
    AwsResponse {
        stream: None,
        status,
        content_type: encoding.content_type(),
        headers: Vec::new(),
        body: Bytes::from(encoding.encode(&serde_json::json!({ "__type": code, "message": error.message }))),
    }
}

/// Decodes a base64 blob member. The SIMD codec (already used by the AWS SDK crates) is several
/// times faster than a scalar one, and record data is most of what PutRecords carries.
pub fn decode_blob(text: &str, member: &str) -> Result<Bytes, KinesisError> {
    base64_simd::STANDARD
        .decode_to_vec(text)
        .map(Bytes::from)
        .map_err(|_| KinesisError::new(ErrorKind::Serialization, format!("Member {member} is not valid base64.")))
}

pub fn encode_blob(data: &[u8]) -> String {
    base64_simd::STANDARD.encode_to_string(data)
}

/// Epoch milliseconds as awsJson epoch seconds.
pub fn timestamp(ms: u64) -> Value {
    serde_json::json!(ms as f64 / 1000.0)
}
