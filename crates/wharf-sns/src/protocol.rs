//! SNS over the wire. awsQuery (what every SDK sends) arrives as form parameters whose lists are
//! `Name.member.N` and maps `Name.entry.N.key/value`; they are reshaped into the awsJson
//! document shape so each operation parses one shape. Outputs are built in that shape and
//! rendered as awsQuery XML (lists as `<member>`, maps as `<entry><key/><value/></entry>`), or
//! as JSON for clients that send `X-Amz-Target: SNS_20100331.<Operation>`.

use crate::error_map::{ErrorKind, SnsError};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use wharf_aws::service::{error_response, AwsResponse, EdgeError, ErrorReply, Protocol};
use wharf_aws::wire::query::{list_members, QueryParams};
use wharf_aws::wire::xml::{self, XmlShape};

pub const QUERY_NAMESPACE: &str = "http://sns.amazonaws.com/doc/2010-03-31/";
const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.0";
const XML_CONTENT_TYPE: &str = "text/xml";

/// Parses an operation's input document.
pub fn parse_input<T: DeserializeOwned>(
    protocol: Protocol,
    operation: &str,
    body: &Bytes,
    params: &QueryParams,
) -> Result<T, SnsError> {
    let document = match protocol {
        Protocol::Json => {
            let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { body };
            serde_json::from_slice(body).map_err(|error| {
                SnsError::new(
                    ErrorKind::InvalidParameter,
                    format!("The request body is not valid for {operation}: {error}"),
                )
            })?
        }
        Protocol::Query => {
            let tree = params.to_tree().map_err(|error| {
                SnsError::new(ErrorKind::MalformedQueryString, format!("The query string is malformed: {error}"))
            })?;
            let mut document = normalize(&Value::Object(tree));
            if let Value::Object(members) = &mut document {
                members.remove("Action");
                members.remove("Version");
            }
            document
        }
    };
    serde_json::from_value(document).map_err(|error| {
        SnsError::new(ErrorKind::InvalidParameter, format!("Invalid parameters for {operation}: {error}"))
    })
}

/// Turns awsQuery's `member`/`entry` nesting into JSON arrays and objects.
fn normalize(value: &Value) -> Value {
    let Value::Object(members) = value else { return value.clone() };
    if members.len() == 1 {
        if members.contains_key("member") {
            return Value::Array(list_members(members, "member").iter().map(normalize).collect());
        }
        if members.contains_key("entry") {
            let mut map = Map::new();
            for entry in list_members(members, "entry") {
                let key = entry.get("key").or_else(|| entry.get("Name")).and_then(Value::as_str);
                let value = entry.get("value").or_else(|| entry.get("Value"));
                if let (Some(key), Some(value)) = (key, value) {
                    map.insert(key.to_string(), normalize(value));
                }
            }
            return Value::Object(map);
        }
    }
    Value::Object(members.iter().map(|(name, member)| (name.clone(), normalize(member))).collect())
}

/// Operations whose model has no output shape: their awsQuery reply has no Result element.
const NO_OUTPUT_OPERATIONS: &[&str] = &[
    "AddPermission",
    "DeleteEndpoint",
    "DeletePlatformApplication",
    "DeleteTopic",
    "RemovePermission",
    "SetEndpointAttributes",
    "SetPlatformApplicationAttributes",
    "SetSubscriptionAttributes",
    "SetTopicAttributes",
    "Unsubscribe",
    "PutDataProtectionPolicy",
];

/// Renders a successful output.
pub fn success(protocol: Protocol, operation: &str, output: &Value, request_id: &str) -> AwsResponse {
    match protocol {
        Protocol::Json => AwsResponse {
            stream: None,
            status: 200,
            content_type: JSON_CONTENT_TYPE,
            headers: Vec::new(),
            body: Bytes::from(serde_json::to_vec(output).unwrap_or_else(|_| b"{}".to_vec())),
        },
        Protocol::Query => {
            let shape_of = |name: &str| match name {
                // `attributes`: GetSMSAttributes' map, named in lower camel case by the model.
                "Attributes" | "attributes" => XmlShape::WrappedMap,
                _ => XmlShape::Plain,
            };
            let result = (!NO_OUTPUT_OPERATIONS.contains(&operation)).then_some(output);
            AwsResponse {
                stream: None,
                status: 200,
                content_type: XML_CONTENT_TYPE,
                headers: Vec::new(),
                body: Bytes::from(xml::render_response(operation, QUERY_NAMESPACE, result, request_id, &shape_of)),
            }
        }
    }
}

/// Renders an error in the request's protocol.
pub fn failure(protocol: Protocol, error: &SnsError, request_id: &str) -> AwsResponse {
    let (code, status, sender_fault) = error.kind.wire();
    render_error(protocol, code, status, sender_fault, &error.message, request_id)
}

/// Renders an error raised before SNS saw the request, keeping the edge's code and status.
pub fn edge_failure(protocol: Protocol, error: &EdgeError, request_id: &str) -> AwsResponse {
    render_error(protocol, error.code, error.status, true, &error.message, request_id)
}

fn render_error(
    protocol: Protocol,
    code: &str,
    status: u16,
    sender_fault: bool,
    message: &str,
    request_id: &str,
) -> AwsResponse {
    let reply = ErrorReply {
        json_type: code,
        query_code: code,
        status,
        sender_fault,
        message,
        query_namespace: QUERY_NAMESPACE,
    };
    error_response(protocol, &reply, request_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn document(form: &str) -> Value {
        let params = QueryParams::parse(&[form.as_bytes()]).unwrap();
        let mut document = normalize(&Value::Object(params.to_tree().unwrap()));
        document.as_object_mut().unwrap().remove("Action");
        document
    }

    #[test]
    fn reshapes_members_and_entries() {
        assert_eq!(
            document(
                "Action=CreateTopic&Name=t&Attributes.entry.1.key=DisplayName&Attributes.entry.1.value=D\
                 &Tags.member.1.Key=k&Tags.member.1.Value=v&Tags.member.2.Key=k2&Tags.member.2.Value=v2"
            ),
            json!({"Name": "t", "Attributes": {"DisplayName": "D"}, "Tags": [{"Key": "k", "Value": "v"}, {"Key": "k2", "Value": "v2"}]})
        );
        assert_eq!(
            document(
                "TopicArn=a&PublishBatchRequestEntries.member.1.Id=1&PublishBatchRequestEntries.member.1.Message=m\
                 &PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Name=n\
                 &PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Value.DataType=String\
                 &PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Value.StringValue=v"
            ),
            json!({"TopicArn": "a", "PublishBatchRequestEntries": [{"Id": "1", "Message": "m",
                   "MessageAttributes": {"n": {"DataType": "String", "StringValue": "v"}}}]})
        );
    }

    #[test]
    fn reshapes_lower_camel_sms_members() {
        assert_eq!(
            document(
                "Action=SetSMSAttributes&attributes.entry.1.key=DefaultSMSType&attributes.entry.1.value=Promotional"
            ),
            json!({"attributes": {"DefaultSMSType": "Promotional"}})
        );
        assert_eq!(
            document("Action=GetSMSAttributes&attributes.member.1=DefaultSMSType&attributes.member.2=DefaultSenderID"),
            json!({"attributes": ["DefaultSMSType", "DefaultSenderID"]})
        );
    }

    fn rendered(operation: &str, output: Value) -> String {
        let response = success(Protocol::Query, operation, &output, "r");
        String::from_utf8(response.body.to_vec()).unwrap()
    }

    #[test]
    fn renders_sms_maps_and_lists_as_query_xml() {
        let text = rendered("GetSMSAttributes", json!({"attributes": {"DefaultSMSType": "Promotional"}}));
        assert!(text.contains(
            "<GetSMSAttributesResult><attributes><entry><key>DefaultSMSType</key><value>Promotional</value></entry></attributes></GetSMSAttributesResult>"
        ));
        let text = rendered("ListPhoneNumbersOptedOut", json!({"phoneNumbers": ["+15555550100"], "nextToken": "t"}));
        assert!(text.contains("<phoneNumbers><member>+15555550100</member></phoneNumbers><nextToken>t</nextToken>"));
        let text = rendered(
            "ListPlatformApplications",
            json!({"PlatformApplications": [{"PlatformApplicationArn": "arn", "Attributes": {"Enabled": "true"}}]}),
        );
        assert!(text.contains(
            "<PlatformApplications><member><PlatformApplicationArn>arn</PlatformApplicationArn><Attributes><entry><key>Enabled</key><value>true</value></entry></Attributes></member></PlatformApplications>"
        ));
        let text = rendered("CheckIfPhoneNumberIsOptedOut", json!({"isOptedOut": true}));
        assert!(text.contains(
            "<CheckIfPhoneNumberIsOptedOutResult><isOptedOut>true</isOptedOut></CheckIfPhoneNumberIsOptedOutResult>"
        ));
        let text = rendered("DeleteEndpoint", json!({}));
        assert!(!text.contains("DeleteEndpointResult"));
    }

    #[test]
    fn query_errors_name_the_sns_namespace() {
        let response = failure(Protocol::Query, &SnsError::topic_not_found(), "r");
        assert_eq!(response.status, 404);
        let text = String::from_utf8(response.body.to_vec()).unwrap();
        assert!(text.contains("<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">"));
        assert!(text.contains("<Code>NotFound</Code>"));
    }
}
