//! awsQuery XML responses. Output documents are built as JSON values (the shape the awsJson
//! protocol sends) and rendered here; a front-end supplies the rules naming list members and
//! map entries, which differ per service.

use serde_json::Value;

/// How a JSON array or object member is written in XML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XmlShape {
    /// A nested element of the same name holding the value (objects are structures).
    Plain,
    /// A list written as repeated elements named `member` without a wrapper (flattened).
    FlatList { member: &'static str },
    /// A list wrapped in the key's element with `<member>` children.
    WrappedList,
    /// A map written as repeated `<entry_name><key_name>k</key_name><value_name>v</value_name>`.
    FlatMap { entry: &'static str, key: &'static str, value: &'static str },
    /// A map wrapped in the key's element with `<entry><key/><value/></entry>` children.
    WrappedMap,
}

/// Escapes text the way AWS does in query responses (`"` and carriage return included).
/// Characters XML 1.0 cannot carry at all, not even as character references (C0 controls other
/// than tab, newline and carriage return, and U+FFFE/U+FFFF), become U+FFFD, so text echoed from a
/// request (an `Action` with a control character in it) cannot make the document malformed.
pub fn escape_into(out: &mut String, text: &str) {
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            '\t' | '\n' => out.push(ch),
            '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => out.push(char::REPLACEMENT_CHARACTER),
            other => out.push(other),
        }
    }
}

/// Renders `<{action}Response xmlns=…><{action}Result>…</…Result><ResponseMetadata>…`. `None`
/// omits the Result element, as AWS does for operations that have no output shape; an empty
/// output of an operation that has one is an empty Result element.
pub fn render_response(
    action: &str,
    namespace: &str,
    result: Option<&Value>,
    request_id: &str,
    shape_of: &dyn Fn(&str) -> XmlShape,
) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("<?xml version=\"1.0\"?>");
    out.push_str(&format!("<{action}Response xmlns=\"{namespace}\">"));
    if let Some(result) = result {
        out.push_str(&format!("<{action}Result>"));
        render_members(&mut out, result, shape_of);
        out.push_str(&format!("</{action}Result>"));
    }
    out.push_str("<ResponseMetadata><RequestId>");
    escape_into(&mut out, request_id);
    out.push_str(&format!("</RequestId></ResponseMetadata></{action}Response>"));
    out
}

fn render_members(out: &mut String, value: &Value, shape_of: &dyn Fn(&str) -> XmlShape) {
    let Value::Object(members) = value else { return };
    for (name, member) in members {
        render_named(out, name, member, shape_of);
    }
}

fn render_named(out: &mut String, name: &str, value: &Value, shape_of: &dyn Fn(&str) -> XmlShape) {
    match (shape_of(name), value) {
        (_, Value::Null) => {}
        (XmlShape::FlatList { member }, Value::Array(items)) => {
            for item in items {
                element(out, member, item, shape_of);
            }
        }
        (XmlShape::WrappedList, Value::Array(items)) => {
            out.push_str(&format!("<{name}>"));
            for item in items {
                element(out, "member", item, shape_of);
            }
            out.push_str(&format!("</{name}>"));
        }
        (XmlShape::FlatMap { entry, key, value: value_name }, Value::Object(entries)) => {
            for (entry_key, entry_value) in entries {
                out.push_str(&format!("<{entry}><{key}>"));
                escape_into(out, entry_key);
                out.push_str(&format!("</{key}>"));
                element(out, value_name, entry_value, shape_of);
                out.push_str(&format!("</{entry}>"));
            }
        }
        (XmlShape::WrappedMap, Value::Object(entries)) => {
            out.push_str(&format!("<{name}>"));
            for (entry_key, entry_value) in entries {
                out.push_str("<entry><key>");
                escape_into(out, entry_key);
                out.push_str("</key>");
                element(out, "value", entry_value, shape_of);
                out.push_str("</entry>");
            }
            out.push_str(&format!("</{name}>"));
        }
        _ => element(out, name, value, shape_of),
    }
}

fn element(out: &mut String, name: &str, value: &Value, shape_of: &dyn Fn(&str) -> XmlShape) {
    out.push_str(&format!("<{name}>"));
    match value {
        Value::String(text) => escape_into(out, text),
        Value::Number(number) => out.push_str(&number.to_string()),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Object(_) => render_members(out, value, shape_of),
        Value::Array(items) => {
            for item in items {
                element(out, "member", item, shape_of);
            }
        }
        Value::Null => {}
    }
    out.push_str(&format!("</{name}>"));
}

/// Renders an awsQuery error document. `namespace` is omitted when empty (SQS sends none).
pub fn render_error(namespace: &str, sender_fault: bool, code: &str, message: &str, request_id: &str) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("<?xml version=\"1.0\"?>");
    if namespace.is_empty() {
        out.push_str("<ErrorResponse>");
    } else {
        out.push_str(&format!("<ErrorResponse xmlns=\"{namespace}\">"));
    }
    out.push_str("<Error><Type>");
    out.push_str(if sender_fault { "Sender" } else { "Receiver" });
    out.push_str("</Type><Code>");
    escape_into(&mut out, code);
    out.push_str("</Code><Message>");
    escape_into(&mut out, message);
    out.push_str("</Message><Detail/></Error><RequestId>");
    escape_into(&mut out, request_id);
    out.push_str("</RequestId></ErrorResponse>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn characters_xml_cannot_carry_become_replacement_characters() {
        let mut out = String::new();
        escape_into(&mut out, "a\u{0}\u{6}\t\n\r\u{1F}\u{FFFE}\u{FFFF}\u{FFFD}é");
        assert_eq!(out, "a\u{FFFD}\u{FFFD}\t\n&#xD;\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}é");
    }

    #[test]
    fn renders_flattened_lists_and_maps() {
        let result = json!({
            "Messages": [{"MessageId": "m1", "Body": "a<b & \"c\"\r", "Attributes": {"SenderId": "x"}}],
        });
        let shape_of = |name: &str| match name {
            "Messages" => XmlShape::FlatList { member: "Message" },
            "Attributes" => XmlShape::FlatMap { entry: "Attribute", key: "Name", value: "Value" },
            _ => XmlShape::Plain,
        };
        let xml = render_response(
            "ReceiveMessage",
            "http://queue.amazonaws.com/doc/2012-11-05/",
            Some(&result),
            "r1",
            &shape_of,
        );
        assert_eq!(
            xml,
            "<?xml version=\"1.0\"?><ReceiveMessageResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\">\
             <ReceiveMessageResult><Message><MessageId>m1</MessageId><Body>a&lt;b &amp; &quot;c&quot;&#xD;</Body>\
             <Attribute><Name>SenderId</Name><Value>x</Value></Attribute></Message></ReceiveMessageResult>\
             <ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></ReceiveMessageResponse>"
        );
    }

    #[test]
    fn result_element_only_for_operations_with_output() {
        let xml = render_response("DeleteQueue", "ns", None, "r", &|_| XmlShape::Plain);
        assert!(!xml.contains("DeleteQueueResult"));
        let xml = render_response("ListQueues", "ns", Some(&json!({})), "r", &|_| XmlShape::Plain);
        assert!(xml.contains("<ListQueuesResult></ListQueuesResult>"));
    }
}
