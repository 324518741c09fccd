//! Pure wire codecs shared by the AWS front-ends: no tokio, no I/O, never panic on input.
//!
//! - [`query`]: awsQuery form parameters (`Action=…&Attribute.1.Name=…`) into a nested tree.
//! - [`xml`]: rendering a JSON-shaped document as awsQuery XML, with AWS's escaping.
//! - [`json`]: awsJson error bodies.
//! - [`message_attribute`]: the message attribute value shape SQS and SNS share.
//! - [`event_stream`]: `application/vnd.amazon.eventstream` message frames.
//! - [`cbor`]: `application/x-amz-cbor-1.1` bodies to and from awsJson documents.

pub mod cbor;
pub mod event_stream;
pub mod json;
pub mod message_attribute;
pub mod query;
pub mod xml;
