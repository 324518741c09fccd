//! The message attribute value SQS and SNS both accept: a data type and a string or base64
//! binary value. Each service validates it with its own rules and wording.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, Default)]
pub struct MessageAttributeValueInput {
    #[serde(rename = "DataType")]
    pub data_type: Option<String>,
    #[serde(rename = "StringValue")]
    pub string_value: Option<String>,
    #[serde(rename = "BinaryValue")]
    pub binary_value: Option<String>,
}
