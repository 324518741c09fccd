//! SQS over its two wire protocols. Inputs from either arrive as the awsJson document shape
//! (awsQuery's flattened parameters are reshaped here), so each operation parses one shape;
//! outputs are built in the awsJson shape and rendered as JSON or as awsQuery XML.

use crate::error_map::{ErrorKind, SqsError};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use wharf_aws::service::{error_response, AwsResponse, EdgeError, ErrorReply, Protocol};
use wharf_aws::wire::query::{list_members, QueryParams};
use wharf_aws::wire::xml::{self, XmlShape};

pub const QUERY_NAMESPACE: &str = "http://queue.amazonaws.com/doc/2012-11-05/";
const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.0";
const XML_CONTENT_TYPE: &str = "text/xml";

/// Parses an operation's input document.
pub fn parse_input<T: DeserializeOwned>(
    protocol: Protocol,
    operation: &str,
    body: &Bytes,
    params: &QueryParams,
) -> Result<T, SqsError> {
    match protocol {
        Protocol::Json => {
            let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { body };
            serde_json::from_slice(body).map_err(|error| {
                SqsError::new(
                    ErrorKind::Serialization,
                    format!("The request body is not valid for {operation}: {error}"),
                )
            })
        }
        Protocol::Query => serde_json::from_value(query_to_document(operation, params)?).map_err(|error| {
            SqsError::new(ErrorKind::InvalidParameterValue, format!("Invalid parameters for {operation}: {error}"))
        }),
    }
}

/// Members whose awsQuery text must become JSON numbers.
const INTEGER_MEMBERS: &[&str] = &[
    "DelaySeconds",
    "MaxNumberOfMessages",
    "VisibilityTimeout",
    "WaitTimeSeconds",
    "MaxResults",
    "MaxNumberOfMessagesPerSecond",
];

fn query_to_document(operation: &str, params: &QueryParams) -> Result<Value, SqsError> {
    let tree = params
        .to_tree()
        .map_err(|error| SqsError::new(ErrorKind::Serialization, format!("The query string is malformed: {error}")))?;
    Ok(Value::Object(reshape(operation, &tree)))
}

fn reshape(operation: &str, tree: &Map<String, Value>) -> Map<String, Value> {
    let mut document = Map::new();
    for (name, value) in tree {
        match name.as_str() {
            "Action" | "Version" => {}
            "Attribute" => {
                document.insert("Attributes".into(), pairs_to_map(tree, name, "Name", "Value"));
            }
            "Tag" => {
                let key = if operation == "CreateQueue" { "tags" } else { "Tags" };
                document.insert(key.into(), pairs_to_map(tree, name, "Key", "Value"));
            }
            "MessageAttribute" | "MessageSystemAttribute" => {
                document.insert(format!("{name}s"), typed_values_to_map(tree, name));
            }
            "AttributeName" | "MessageAttributeName" | "MessageSystemAttributeName" | "TagKey" | "AWSAccountId" => {
                document.insert(format!("{name}s"), Value::Array(list_members(tree, name)));
            }
            "ActionName" => {
                document.insert("Actions".into(), Value::Array(list_members(tree, name)));
            }
            "SendMessageBatchRequestEntry"
            | "DeleteMessageBatchRequestEntry"
            | "ChangeMessageVisibilityBatchRequestEntry" => {
                let entries = list_members(tree, name)
                    .iter()
                    .map(|entry| match entry {
                        Value::Object(fields) => Value::Object(reshape(operation, fields)),
                        other => other.clone(),
                    })
                    .collect();
                document.insert("Entries".into(), Value::Array(entries));
            }
            _ if INTEGER_MEMBERS.contains(&name.as_str()) => {
                let number = value.as_str().and_then(|text| text.trim().parse::<i64>().ok());
                document.insert(name.clone(), number.map_or_else(|| value.clone(), Value::from));
            }
            _ => {
                document.insert(name.clone(), value.clone());
            }
        }
    }
    document
}

fn pairs_to_map(tree: &Map<String, Value>, name: &str, key_field: &str, value_field: &str) -> Value {
    let mut map = Map::new();
    for member in list_members(tree, name) {
        if let (Some(key), Some(value)) = (member.get(key_field).and_then(Value::as_str), member.get(value_field)) {
            map.insert(key.to_string(), value.clone());
        }
    }
    Value::Object(map)
}

fn typed_values_to_map(tree: &Map<String, Value>, name: &str) -> Value {
    let mut map = Map::new();
    for member in list_members(tree, name) {
        if let (Some(key), Some(value)) = (member.get("Name").and_then(Value::as_str), member.get("Value")) {
            map.insert(key.to_string(), value.clone());
        }
    }
    Value::Object(map)
}

/// How SQS writes list and map members in awsQuery XML.
fn xml_shape(name: &str) -> XmlShape {
    match name {
        "QueueUrls" | "queueUrls" => XmlShape::FlatList { member: "QueueUrl" },
        "Messages" => XmlShape::FlatList { member: "Message" },
        "Attributes" => XmlShape::FlatMap { entry: "Attribute", key: "Name", value: "Value" },
        "MessageAttributes" => XmlShape::FlatMap { entry: "MessageAttribute", key: "Name", value: "Value" },
        "Tags" => XmlShape::FlatMap { entry: "Tag", key: "Key", value: "Value" },
        "Failed" => XmlShape::FlatList { member: "BatchResultErrorEntry" },
        "Results" => XmlShape::FlatList { member: "ListMessageMoveTasksResultEntry" },
        _ => XmlShape::Plain,
    }
}

/// Operations whose model has no output shape: their awsQuery reply has no Result element.
const NO_OUTPUT_OPERATIONS: &[&str] = &[
    "AddPermission",
    "ChangeMessageVisibility",
    "DeleteMessage",
    "DeleteQueue",
    "PurgeQueue",
    "RemovePermission",
    "SetQueueAttributes",
    "TagQueue",
    "UntagQueue",
];

/// An operation's output in the awsJson shape. Most operations build a JSON value; hot ones
/// serialize typed structs straight to bytes, and are turned into a value only for awsQuery.
pub trait Output: Send {
    fn to_json(&self) -> Vec<u8>;
    fn to_document(&self) -> Value;
}

impl<T: serde::Serialize + Send> Output for T {
    fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec())
    }

    fn to_document(&self) -> Value {
        serde_json::to_value(self).unwrap_or_else(|_| Value::Object(Map::new()))
    }
}

/// Renders a successful output.
pub fn success(protocol: Protocol, operation: &str, output: &dyn Output, request_id: &str) -> AwsResponse {
    match protocol {
        Protocol::Json => AwsResponse {
            stream: None,
            status: 200,
            content_type: JSON_CONTENT_TYPE,
            headers: Vec::new(),
            body: Bytes::from(output.to_json()),
        },
        Protocol::Query => {
            let output = output.to_document();
            let successful_member = match operation {
                "SendMessageBatch" => "SendMessageBatchResultEntry",
                "DeleteMessageBatch" => "DeleteMessageBatchResultEntry",
                _ => "ChangeMessageVisibilityBatchResultEntry",
            };
            let shape_of = |name: &str| match name {
                "Successful" => XmlShape::FlatList { member: successful_member },
                other => xml_shape(other),
            };
            AwsResponse {
                stream: None,
                status: 200,
                content_type: XML_CONTENT_TYPE,
                headers: Vec::new(),
                body: Bytes::from(xml::render_response(
                    operation,
                    QUERY_NAMESPACE,
                    (!NO_OUTPUT_OPERATIONS.contains(&operation)).then_some(&output),
                    request_id,
                    &shape_of,
                )),
            }
        }
    }
}

/// Renders an error in the request's protocol.
pub fn failure(protocol: Protocol, error: &SqsError, request_id: &str) -> AwsResponse {
    let wire = error.kind.wire();
    let query_code = wire.query_code;
    let message = match protocol {
        Protocol::Json => error.message.clone(),
        Protocol::Query => error.query_message(),
    };
    render_error(protocol, wire.json_type, query_code, wire.status, wire.sender_fault, &message, request_id)
}

/// Renders an error raised before SQS saw the request (authentication, size), keeping the edge's
/// own code and status.
pub fn edge_failure(protocol: Protocol, error: &EdgeError, request_id: &str) -> AwsResponse {
    let json_type = format!("com.amazon.coral.service#{}", error.code);
    render_error(protocol, &json_type, error.code, error.status, true, &error.message, request_id)
}

fn render_error(
    protocol: Protocol,
    json_type: &str,
    query_code: &str,
    status: u16,
    sender_fault: bool,
    message: &str,
    request_id: &str,
) -> AwsResponse {
    let reply = ErrorReply { json_type, query_code, status, sender_fault, message, query_namespace: "" };
    error_response(protocol, &reply, request_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn document(operation: &str, form: &str) -> Value {
        query_to_document(operation, &QueryParams::parse(&[form.as_bytes()]).unwrap()).unwrap()
    }

    #[test]
    fn reshapes_flattened_query_parameters() {
        assert_eq!(
            document(
                "SendMessageBatch",
                "Action=SendMessageBatch&QueueUrl=u&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=x\
                 &SendMessageBatchRequestEntry.1.DelaySeconds=5\
                 &SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=n&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType=String\
                 &SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue=v"
            ),
            json!({"QueueUrl": "u", "Entries": [{"Id": "a", "MessageBody": "x", "DelaySeconds": 5,
                   "MessageAttributes": {"n": {"DataType": "String", "StringValue": "v"}}}]})
        );
        assert_eq!(
            document(
                "CreateQueue",
                "QueueName=q&Attribute.1.Name=DelaySeconds&Attribute.1.Value=3&Tag.1.Key=k&Tag.1.Value=v"
            ),
            json!({"QueueName": "q", "Attributes": {"DelaySeconds": "3"}, "tags": {"k": "v"}})
        );
        assert_eq!(
            document("ReceiveMessage", "AttributeName.1=All&MaxNumberOfMessages=x"),
            json!({"AttributeNames": ["All"], "MaxNumberOfMessages": "x"})
        );
    }

    #[test]
    fn json_errors_carry_the_query_code_header() {
        let response = failure(Protocol::Json, &SqsError::queue_does_not_exist(), "r");
        assert_eq!(response.status, 400);
        assert_eq!(
            response.headers,
            vec![("x-amzn-query-error", "AWS.SimpleQueueService.NonExistentQueue;Sender".to_string())]
        );
        let body: Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(
            body,
            json!({"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "The specified queue does not exist."})
        );
        let query = failure(Protocol::Query, &SqsError::queue_does_not_exist(), "r");
        let text = String::from_utf8(query.body.to_vec()).unwrap();
        assert!(text.contains("<Code>AWS.SimpleQueueService.NonExistentQueue</Code>"));
        assert!(text.contains("does not exist for this wsdl version."));
    }
}
