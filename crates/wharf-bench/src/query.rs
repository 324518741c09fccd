//! The AWS Query protocol (form-encoded POST, XML replies) over [`SignedHttp`], and the SNS
//! calls the bench makes.
//!
//! Replies are read with the small extractor in [`crate::xml`]: only the fields the bench needs
//! (TopicArn, SubscriptionArn, MessageId, PublishBatchResult's Successful and Failed members).
//! A 2xx reply without them is a [`CallError::Malformed`], a non-2xx one a
//! [`CallError::Status`] with the `<Code>` of its `ErrorResponse`.

use std::time::Duration;

use crate::client::{error_code, BatchResultErrorEntry, CallError, EndpointConfig, SignedHttp};
use crate::xml;

const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// SNS accepts at most ten entries in a PublishBatch.
pub const PUBLISH_BATCH_SIZE_MAX: u32 = 10;

/// SNS messages (and a PublishBatch's entries together) are limited to 256 KiB.
pub const SNS_PAYLOAD_BYTES_MAX: u64 = 262_144;

/// A signed awsQuery client for one service and API version.
#[derive(Clone)]
pub struct AwsQueryClient {
    http: SignedHttp,
    /// `2010-03-31` for SNS: sent as `Version`.
    version: &'static str,
}

impl AwsQueryClient {
    /// Fails on an endpoint that is not `http://host[:port][/path]`.
    pub fn new(config: &EndpointConfig, service: &'static str, version: &'static str) -> anyhow::Result<Self> {
        Ok(Self { http: SignedHttp::new(config, service)?, version })
    }

    /// Calls `action` with `parameters` and returns the XML reply of a 2xx answer.
    pub async fn call(&self, action: &str, parameters: &[(&str, &str)]) -> Result<String, CallError> {
        let body = form_body(action, self.version, parameters);
        let reply = self.http.post(&[("content-type", FORM_CONTENT_TYPE)], body.into_bytes(), Duration::ZERO).await?;
        let text = String::from_utf8_lossy(&reply.body).into_owned();
        if !reply.status.is_success() {
            let header_code =
                reply.headers.get("x-amzn-errortype").and_then(|value| value.to_str().ok()).map(str::to_owned);
            return Err(CallError::Status {
                status: reply.status.as_u16(),
                code: query_error_code(&text, header_code.as_deref()),
            });
        }
        Ok(text)
    }
}

/// `Action=...&Version=...&name=value...`, every name and value percent-encoded.
fn form_body(action: &str, version: &str, parameters: &[(&str, &str)]) -> String {
    let mut body =
        String::with_capacity(64 + parameters.iter().map(|(name, value)| name.len() + value.len() + 2).sum::<usize>());
    for (index, (name, value)) in [("Action", action), ("Version", version)].iter().chain(parameters).enumerate() {
        if index > 0 {
            body.push('&');
        }
        percent_encode_into(&mut body, name);
        body.push('=');
        percent_encode_into(&mut body, value);
    }
    body
}

/// Percent-encodes everything but RFC 3986's unreserved characters (what SigV4 and every form
/// decoder accept).
fn percent_encode_into(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
}

/// The error code of an awsQuery error reply (`<ErrorResponse><Error><Code>`), else whatever
/// [`error_code`] finds (a JSON body or the `x-amzn-ErrorType` header).
pub fn query_error_code(body: &str, header: Option<&str>) -> Option<String> {
    xml::first_element(body, "Error")
        .and_then(|error| xml::first_text(error, "Code"))
        .filter(|code| !code.is_empty())
        .or_else(|| error_code(body.as_bytes(), header))
}

/// The outcome of a PublishBatch: successful entries as `(Id, MessageId)`, failed ones with
/// their `Code`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PublishBatchReply {
    pub successful: Vec<(Option<String>, Option<String>)>,
    pub failed: Vec<BatchResultErrorEntry>,
}

/// Reads a PublishBatch reply; an error unless it holds a `PublishBatchResult`.
pub fn parse_publish_batch(document: &str) -> Result<PublishBatchReply, CallError> {
    let result = xml::first_element(document, "PublishBatchResult")
        .ok_or_else(|| CallError::Malformed("PublishBatch: no PublishBatchResult".to_owned()))?;
    let members = |list: &str| xml::first_element(result, list).map(|list| xml::elements(list, "member"));
    let successful = members("Successful")
        .unwrap_or_default()
        .into_iter()
        .map(|member| (xml::first_text(member, "Id"), xml::first_text(member, "MessageId")))
        .collect();
    let failed = members("Failed")
        .unwrap_or_default()
        .into_iter()
        .map(|member| BatchResultErrorEntry {
            id: xml::first_text(member, "Id"),
            code: xml::first_text(member, "Code"),
        })
        .collect();
    Ok(PublishBatchReply { successful, failed })
}

/// The non-empty text of `field` in a 2xx reply to `action`, else a malformed-reply error.
pub fn required_text(document: &str, action: &str, field: &str) -> Result<String, CallError> {
    xml::first_text(document, field)
        .filter(|text| !text.is_empty())
        .ok_or_else(|| CallError::Malformed(format!("{action}: no {field}")))
}

/// The SNS operations the bench issues, over awsQuery.
#[derive(Clone)]
pub struct SnsClient {
    inner: AwsQueryClient,
}

impl SnsClient {
    pub fn new(config: &EndpointConfig) -> anyhow::Result<Self> {
        Ok(Self { inner: AwsQueryClient::new(config, "sns", "2010-03-31")? })
    }

    /// Creates the topic or returns the existing one's ARN (CreateTopic is idempotent).
    pub async fn create_topic(&self, name: &str) -> Result<String, CallError> {
        let reply = self.inner.call("CreateTopic", &[("Name", name)]).await?;
        required_text(&reply, "CreateTopic", "TopicArn")
    }

    /// Subscribes `endpoint` with subscription `attributes`; returns the SubscriptionArn
    /// (`pending confirmation` for protocols that need a confirmation).
    pub async fn subscribe(
        &self,
        topic_arn: &str,
        protocol: &str,
        endpoint: &str,
        attributes: &[(&str, &str)],
    ) -> Result<String, CallError> {
        let names: Vec<(String, String)> = (1..=attributes.len())
            .map(|number| (format!("Attributes.entry.{number}.key"), format!("Attributes.entry.{number}.value")))
            .collect();
        let mut parameters = vec![("TopicArn", topic_arn), ("Protocol", protocol), ("Endpoint", endpoint)];
        for ((key_name, value_name), (key, value)) in names.iter().zip(attributes) {
            parameters.push((key_name, key));
            parameters.push((value_name, value));
        }
        let reply = self.inner.call("Subscribe", &parameters).await?;
        required_text(&reply, "Subscribe", "SubscriptionArn")
    }

    /// Publishes one message; returns its MessageId.
    pub async fn publish(&self, topic_arn: &str, message: &str) -> Result<String, CallError> {
        let reply = self.inner.call("Publish", &[("TopicArn", topic_arn), ("Message", message)]).await?;
        required_text(&reply, "Publish", "MessageId")
    }

    /// Entry `Id`s are the messages' indexes ("0", "1", ...).
    pub async fn publish_batch(&self, topic_arn: &str, messages: &[String]) -> Result<PublishBatchReply, CallError> {
        let names = publish_batch_entry_names(messages.len());
        let mut parameters = vec![("TopicArn", topic_arn)];
        for ([id_name, id, message_name], message) in names.iter().zip(messages) {
            parameters.push((id_name, id));
            parameters.push((message_name, message));
        }
        let reply = self.inner.call("PublishBatch", &parameters).await?;
        parse_publish_batch(&reply)
    }
}

/// For each of `count` PublishBatch entries: the parameter name of its Id, the Id (its index)
/// and the parameter name of its Message. Members are numbered from 1.
fn publish_batch_entry_names(count: usize) -> Vec<[String; 3]> {
    (0..count)
        .map(|index| {
            let number = index + 1;
            [
                format!("PublishBatchRequestEntries.member.{number}.Id"),
                index.to_string(),
                format!("PublishBatchRequestEntries.member.{number}.Message"),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_are_percent_encoded_in_order() {
        let body = form_body(
            "Subscribe",
            "2010-03-31",
            &[("TopicArn", "arn:aws:sns:us-east-1:000000000000:t"), ("Attributes.entry.1.key", "Raw Message~&=é")],
        );
        assert_eq!(
            body,
            "Action=Subscribe&Version=2010-03-31&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3At\
             &Attributes.entry.1.key=Raw%20Message~%26%3D%C3%A9"
        );
        assert_eq!(form_body("CreateTopic", "2010-03-31", &[]), "Action=CreateTopic&Version=2010-03-31");
    }

    #[test]
    fn publish_batch_entries_are_numbered_from_one_with_index_ids() {
        let names = publish_batch_entry_names(2);
        assert_eq!(
            names,
            vec![
                [
                    "PublishBatchRequestEntries.member.1.Id".to_owned(),
                    "0".to_owned(),
                    "PublishBatchRequestEntries.member.1.Message".to_owned()
                ],
                [
                    "PublishBatchRequestEntries.member.2.Id".to_owned(),
                    "1".to_owned(),
                    "PublishBatchRequestEntries.member.2.Message".to_owned()
                ],
            ]
        );
    }

    #[test]
    fn publish_batch_result_lists_successful_and_failed_members() {
        let document = r#"<PublishBatchResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">
            <PublishBatchResult>
              <Failed><member><Code>InvalidParameter</Code><Id>1</Id><SenderFault>true</SenderFault>
                <Message>Invalid parameter: Message too long</Message></member></Failed>
              <Successful><member><MessageId>m-0</MessageId><Id>0</Id></member><member><Id>2</Id></member></Successful>
            </PublishBatchResult>
            <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>
          </PublishBatchResponse>"#;
        let reply = parse_publish_batch(document).expect("parses");
        assert_eq!(
            reply.successful,
            vec![(Some("0".to_owned()), Some("m-0".to_owned())), (Some("2".to_owned()), None)]
        );
        assert_eq!(
            reply.failed,
            vec![BatchResultErrorEntry { id: Some("1".into()), code: Some("InvalidParameter".into()) }]
        );
        // Empty lists may be written as <Failed/> or left out.
        let empty = parse_publish_batch(
            "<PublishBatchResponse><PublishBatchResult><Successful/><Failed/></PublishBatchResult>\
             </PublishBatchResponse>",
        )
        .expect("parses");
        assert_eq!(empty, PublishBatchReply::default());
        let bare = parse_publish_batch("<PublishBatchResult></PublishBatchResult>").expect("parses");
        assert_eq!(bare, PublishBatchReply::default());
    }

    #[test]
    fn malformed_replies_are_errors_not_panics() {
        for document in ["", "{}", "<PublishBatchResponse>", "<PublishBatchResult><Successful><member>", "\u{0}<<>"] {
            assert!(matches!(parse_publish_batch(document), Err(CallError::Malformed(_))), "{document:?} was accepted");
        }
        // A member that is never closed is not read (its entry then counts as missing).
        let unclosed = parse_publish_batch(
            "<PublishBatchResult><Successful><member><Id>0</Id></Successful><Failed><member><Id>1</Id>\
             <Code>X</Code></member></Failed></PublishBatchResult>",
        )
        .expect("has a result");
        assert!(unclosed.successful.is_empty());
        assert_eq!(unclosed.failed, vec![BatchResultErrorEntry { id: Some("1".into()), code: Some("X".into()) }]);
        let created = "<CreateTopicResponse><CreateTopicResult><TopicArn>arn:t</TopicArn></CreateTopicResult>\
                       </CreateTopicResponse>";
        assert_eq!(required_text(created, "CreateTopic", "TopicArn"), Ok("arn:t".to_owned()));
        assert_eq!(
            required_text("<CreateTopicResult><TopicArn></TopicArn></CreateTopicResult>", "CreateTopic", "TopicArn"),
            Err(CallError::Malformed("CreateTopic: no TopicArn".to_owned()))
        );
        assert_eq!(
            required_text("<PublishResult><MessageId>m", "Publish", "MessageId"),
            Err(CallError::Malformed("Publish: no MessageId".to_owned()))
        );
    }

    #[test]
    fn error_codes_come_from_the_error_response() {
        let document = r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">
            <Error><Type>Sender</Type><Code>NotFound</Code><Message>Topic does not exist</Message></Error>
            <RequestId>r</RequestId></ErrorResponse>"#;
        assert_eq!(query_error_code(document, None).as_deref(), Some("NotFound"));
        assert_eq!(
            query_error_code(r#"{"__type":"com.amazonaws.sns#NotFoundException"}"#, None).as_deref(),
            Some("NotFoundException")
        );
        assert_eq!(query_error_code("<html>502</html>", Some("Throttling")).as_deref(), Some("Throttling"));
        assert_eq!(query_error_code("<Error><Code></Code></Error>", None), None);
        assert_eq!(query_error_code("", None), None);
    }
}
