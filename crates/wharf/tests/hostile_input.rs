//! Bad input never hurts: malformed and hostile requests on both SQS wire protocols get the
//! service's own error and status, and the server keeps serving afterwards. Also the wire details
//! older clients depend on: HTTP/2 with prior knowledge, awsQuery sent to the queue URL, and the
//! awsQuery XML shapes of ReceiveMessage and SendMessageBatch.

mod common;

use common::{
    form_value, json_call, md5_hex, query_call, raw_request, xml_elements, xml_text, xml_unescape, TestServer, ACCOUNT,
    HANG_TIMEOUT,
};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Asserts the server still answers a normal request.
async fn assert_serving(server: &TestServer) {
    let reply = json_call(&server.endpoint, "ListQueues", &json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

/// Asserts an awsJson error reply: status, `__type` suffix and, when given, the query code.
fn assert_json_error(reply: &common::RawResponse, status: u16, type_suffix: &str, query_code: Option<&str>) {
    assert_eq!(reply.status, status, "{}", reply.text());
    let body = reply.json();
    let error_type = body["__type"].as_str().unwrap_or_else(|| panic!("no __type in {body}"));
    assert!(error_type.ends_with(type_suffix), "__type {error_type:?} should end with {type_suffix:?}");
    assert!(body.get("message").is_some_and(|message| message.is_string()), "{body}");
    if let Some(code) = query_code {
        assert_eq!(reply.header("x-amzn-query-error"), Some(format!("{code};Sender").as_str()));
    }
}

/// Asserts an awsQuery `<ErrorResponse>` with `code` and `status`.
fn assert_query_error(reply: &common::RawResponse, status: u16, code: &str) {
    let text = reply.text();
    assert_eq!(reply.status, status, "{text}");
    assert!(text.contains("<ErrorResponse"), "{text}");
    let error = xml_text(&text, "Error").unwrap_or_else(|| panic!("no <Error> in {text}"));
    assert_eq!(xml_text(&error, "Code").as_deref(), Some(code), "{text}");
    assert_eq!(xml_text(&error, "Type").as_deref(), Some("Sender"), "{text}");
    assert!(xml_text(&error, "Message").is_some(), "{text}");
    assert!(xml_text(&text, "RequestId").is_some(), "{text}");
}

/// Writes `bytes` on a fresh connection, closes the sending side and reads until the server
/// closes (or the read fails). Returns what was read.
async fn raw_tcp(server: &TestServer, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(server.server.local_addr).await.unwrap();
    let _ = stream.write_all(bytes).await;
    let _ = stream.shutdown().await;
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(HANG_TIMEOUT, stream.read_to_end(&mut reply)).await.expect("server closes");
    reply
}

fn status_line(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).lines().next().unwrap_or("").to_string()
}

#[tokio::test]
async fn malformed_json_is_a_serialization_exception() {
    let server = TestServer::start().await;
    let url = server.create("json").await;
    for body in [
        "{".to_string(),
        "{\"QueueUrl\": ".to_string(),
        "not json at all".to_string(),
        "{\"QueueUrl\": \"x\",}".to_string(),
        "[".repeat(100_000),
        format!("{{\"QueueUrl\": \"{url}\", \"MessageBody\": \"\\ud800\"}}"),
    ] {
        let reply = raw_request(
            &server.endpoint,
            false,
            "POST",
            "/",
            &[("x-amz-target", "AmazonSQS.SendMessage"), ("content-type", "application/x-amz-json-1.0")],
            body.clone(),
        )
        .await;
        assert_json_error(&reply, 400, "SerializationException", None);
    }
    // Bytes that are not UTF-8 at all.
    let reply = raw_request(
        &server.endpoint,
        false,
        "POST",
        "/",
        &[("x-amz-target", "AmazonSQS.SendMessage"), ("content-type", "application/x-amz-json-1.0")],
        vec![b'{', 0xff, 0xfe, b'}'],
    )
    .await;
    assert_json_error(&reply, 400, "SerializationException", None);
    assert_serving(&server).await;
}

#[tokio::test]
async fn json_members_of_the_wrong_type_are_client_errors() {
    let server = TestServer::start().await;
    let url = server.create("types").await;
    let cases = [
        ("ReceiveMessage", json!({"QueueUrl": url, "MaxNumberOfMessages": "ten"})),
        ("ReceiveMessage", json!({"QueueUrl": url, "WaitTimeSeconds": 1.5})),
        ("ReceiveMessage", json!({"QueueUrl": url, "MaxNumberOfMessages": 1e300})),
        ("ReceiveMessage", json!({"QueueUrl": url, "AttributeNames": "All"})),
        ("SendMessage", json!({"QueueUrl": url, "MessageBody": 5})),
        ("SendMessage", json!({"QueueUrl": url, "MessageBody": "x", "DelaySeconds": "soon"})),
        ("SendMessage", json!({"QueueUrl": url, "MessageBody": "x", "MessageAttributes": []})),
        ("SendMessageBatch", json!({"QueueUrl": url, "Entries": "x"})),
        ("SendMessageBatch", json!({"QueueUrl": url, "Entries": [5]})),
        ("CreateQueue", json!({"QueueName": ["a"]})),
        ("CreateQueue", json!({"QueueName": "q", "Attributes": {"VisibilityTimeout": 30}})),
        ("DeleteMessage", json!({"QueueUrl": url, "ReceiptHandle": {}})),
        ("ListQueues", json!([])),
        ("ListQueues", json!(null)),
        ("ListQueues", json!("string")),
    ];
    for (operation, body) in cases {
        let reply = json_call(&server.endpoint, operation, &body).await;
        assert_eq!(reply.status, 400, "{operation} {body}: {}", reply.text());
        let error_type = reply.json()["__type"].as_str().unwrap_or_default().to_string();
        assert!(error_type.ends_with("SerializationException"), "{operation} {body}: {}", reply.text());
    }

    assert_serving(&server).await;
}

#[tokio::test]
async fn unknown_operations_are_invalid_action() {
    let server = TestServer::start().await;
    let reply = json_call(&server.endpoint, "Foo", &json!({})).await;
    assert_json_error(&reply, 400, "UnknownOperationException", Some("InvalidAction"));
    for target in ["AmazonSQS.", "AmazonSQS", "NotAService.ListQueues"] {
        let reply = raw_request(
            &server.endpoint,
            false,
            "POST",
            "/",
            &[("x-amz-target", target), ("content-type", "application/x-amz-json-1.0")],
            "{}",
        )
        .await;
        assert_eq!(reply.status, 400, "{target}: {}", reply.text());
        assert!(reply.json()["__type"].is_string(), "{target}: {}", reply.text());
    }

    let reply = query_call(&server.endpoint, "/", "Action=Foo&Version=2012-11-05").await;
    assert_query_error(&reply, 400, "InvalidAction");
    let reply = raw_request(&server.endpoint, false, "GET", "/?Action=Frobnicate", &[], "").await;
    assert_query_error(&reply, 400, "InvalidAction");
    // No Action at all.
    let reply = query_call(&server.endpoint, "/", "Version=2012-11-05").await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(reply.text().contains("<ErrorResponse"), "{}", reply.text());
    assert_serving(&server).await;
}

#[tokio::test]
async fn malformed_forms_are_errors_not_panics() {
    let server = TestServer::start().await;
    let url = form_value(&server.create("forms").await);
    let forms = [
        format!("Action=SendMessage&QueueUrl={url}&MessageBody=x&A=1&A.B=2"),
        format!("Action=SendMessage&QueueUrl={url}&MessageBody=x&MessageBody.1=y"),
        format!("Action=SendMessage&QueueUrl={url}&MessageAttribute.1.Name=n&MessageAttribute.1=oops&MessageBody=x"),
        format!("Action=SendMessage&QueueUrl={url}&a.b.c.d.e.f.g.h.i.j=1&MessageBody=x"),
        format!("Action=ReceiveMessage&QueueUrl={url}&MaxNumberOfMessages=ten"),
        format!("Action=ReceiveMessage&QueueUrl={url}&MaxNumberOfMessages=99999999999999999999999"),
        format!("Action=SendMessageBatch&QueueUrl={url}&SendMessageBatchRequestEntry.x.Id=a"),
        format!("Action=SendMessageBatch&QueueUrl={url}&SendMessageBatchRequestEntry.1=a"),
        format!("Action=SendMessage&QueueUrl={url}{}", "&p=1".repeat(20_000)),
    ];
    for form in forms {
        let reply = query_call(&server.endpoint, "/", &form).await;
        let text = reply.text();
        let short = &form[..form.len().min(200)];
        assert!(reply.status >= 400 && reply.status < 500, "{short}: {} {text}", reply.status);
        assert!(text.contains("<ErrorResponse"), "{short}: {text}");
    }
    // Bad percent escapes and empty pairs are decoded leniently; either way no server error.
    let reply =
        query_call(&server.endpoint, "/", &format!("Action=SendMessage&QueueUrl={url}&MessageBody=%ZZ%&&&==&")).await;
    assert!(reply.status < 500, "{}", reply.text());
    assert_serving(&server).await;
}

#[tokio::test]
async fn missing_queue_url_is_missing_parameter() {
    let server = TestServer::start().await;
    server.create("present").await;
    for operation in ["SendMessage", "ReceiveMessage", "GetQueueAttributes", "DeleteMessage", "PurgeQueue"] {
        let reply = json_call(&server.endpoint, operation, &json!({"MessageBody": "x", "ReceiptHandle": "h"})).await;
        assert_json_error(&reply, 400, "MissingRequiredParameterException", Some("MissingParameter"));
        let reply =
            query_call(&server.endpoint, "/", &format!("Action={operation}&MessageBody=x&ReceiptHandle=h")).await;
        assert_query_error(&reply, 400, "MissingParameter");
    }
    let reply = json_call(&server.endpoint, "CreateQueue", &json!({})).await;
    assert_json_error(&reply, 400, "MissingRequiredParameterException", Some("MissingParameter"));
}

#[tokio::test]
async fn oversized_bodies_are_refused_and_the_server_keeps_serving() {
    let server = TestServer::start().await;
    let url = server.create("big").await;
    let limit = wharf::config::DEFAULT_REQUEST_BYTES_MAX;

    // Declared too large: refused from the headers alone, before the body is sent.
    let mut stream = TcpStream::connect(server.server.local_addr).await.unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: AmazonSQS.SendMessage\r\n\
         Content-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\n\r\n",
        limit + 1
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut reply = vec![0u8; 4096];
    let read = tokio::time::timeout(HANG_TIMEOUT, stream.read(&mut reply)).await.expect("reply").unwrap();
    let text = String::from_utf8_lossy(&reply[..read]).to_string();
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("RequestEntityTooLarge"), "{text}");
    drop(stream);

    // Sent in full with a Content-Length.
    let body = json!({"QueueUrl": url, "MessageBody": "x".repeat(limit)}).to_string();
    let reply = raw_request(
        &server.endpoint,
        false,
        "POST",
        "/",
        &[("x-amz-target", "AmazonSQS.SendMessage"), ("content-type", "application/x-amz-json-1.0")],
        body,
    )
    .await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert_serving(&server).await;

    // Chunked, with no length: refused once the limit is passed.
    let mut stream = TcpStream::connect(server.server.local_addr).await.unwrap();
    let head = "POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: AmazonSQS.SendMessage\r\n\
                Content-Type: application/x-amz-json-1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent <= limit + chunk.len() {
            let framed = [format!("{:x}\r\n", chunk.len()).into_bytes(), chunk.clone(), b"\r\n".to_vec()].concat();
            if writer.write_all(&framed).await.is_err() {
                return;
            }
            sent += chunk.len();
        }
        let _ = writer.write_all(b"0\r\n\r\n").await;
        // Keep the write side open until the reply has been read.
        tokio::time::sleep(HANG_TIMEOUT).await;
    });
    let mut reply = vec![0u8; 4096];
    let read = tokio::time::timeout(HANG_TIMEOUT, reader.read(&mut reply)).await.expect("reply").unwrap();
    let text = String::from_utf8_lossy(&reply[..read]).to_string();
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    writing.abort();
    assert_serving(&server).await;

    // The same over HTTP/2.
    let body = json!({"QueueUrl": url, "MessageBody": "y".repeat(limit)}).to_string();
    let reply = raw_request(
        &server.endpoint,
        true,
        "POST",
        "/",
        &[("x-amz-target", "AmazonSQS.SendMessage"), ("content-type", "application/x-amz-json-1.0")],
        body,
    )
    .await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert_serving(&server).await;
    let counts = server
        .client()
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    assert_eq!(counts.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages], "0");
}

#[tokio::test]
async fn forged_truncated_and_foreign_receipt_handles_are_invalid() {
    let server = TestServer::start().await;
    let client = server.client();
    let url = server.create("handles").await;
    let other = server.create("other-handles").await;
    client.send_message().queue_url(&url).message_body("mine").send().await.unwrap();
    client.send_message().queue_url(&other).message_body("theirs").send().await.unwrap();
    let mine = client.receive_message().queue_url(&url).send().await.unwrap().messages()[0].clone();
    let theirs = client.receive_message().queue_url(&other).send().await.unwrap().messages()[0].clone();
    let handle = mine.receipt_handle().unwrap().to_string();
    let foreign = theirs.receipt_handle().unwrap().to_string();

    let mut tampered = handle.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let bad_handles = [
        "forged".to_string(),
        "AQEB".to_string() + &"A".repeat(300),
        handle[..handle.len() - 8].to_string(),
        handle[..handle.len() / 2].to_string(),
        tampered,
        format!("{handle}extra"),
        foreign,
        "€∂ƒ non-ascii".to_string(),
        "x".repeat(100_000),
    ];
    for bad in &bad_handles {
        let error = client.delete_message().queue_url(&url).receipt_handle(bad).send().await.unwrap_err();
        assert_eq!(common::code(&error), "ReceiptHandleIsInvalid", "delete with {:.40}", bad);
        let error = client
            .change_message_visibility()
            .queue_url(&url)
            .receipt_handle(bad)
            .visibility_timeout(0)
            .send()
            .await
            .unwrap_err();
        assert_eq!(common::code(&error), "ReceiptHandleIsInvalid", "change visibility with {:.40}", bad);
    }
    let batch = client
        .delete_message_batch()
        .queue_url(&url)
        .entries(
            aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                .id("bad")
                .receipt_handle("forged")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(batch.failed()[0].code(), "ReceiptHandleIsInvalid");
    assert!(batch.failed()[0].sender_fault());
    // Over awsQuery too.
    let reply = query_call(
        &server.endpoint,
        "/",
        &format!("Action=DeleteMessage&QueueUrl={}&ReceiptHandle=forged", form_value(&url)),
    )
    .await;
    assert_query_error(&reply, 400, "ReceiptHandleIsInvalid");

    // None of that touched either message: both are still in flight, and the real handles work.
    client.delete_message().queue_url(&url).receipt_handle(&handle).send().await.unwrap();
    client.delete_message().queue_url(&other).receipt_handle(theirs.receipt_handle().unwrap()).send().await.unwrap();
}

#[tokio::test]
async fn garbage_and_abandoned_connections_do_not_hurt() {
    let server = TestServer::start().await;
    let url = server.create("garbage").await;
    let garbage: Vec<u8> = (0..64 * 1024u32).map(|index| (index.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let reply = raw_tcp(&server, &garbage).await;
    let line = status_line(&reply);
    assert!(reply.is_empty() || line.starts_with("HTTP/1.1 4"), "{line}");
    assert_serving(&server).await;

    let half_sent = [
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nX-Amz-Target: AmazonSQS.SendMessage\r\n\r\n{\"Queue"
            .to_vec(),
        b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Tar".to_vec(),
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc".to_vec(),
        b"GET /_wharf/health HTTP/1.1\r\n".to_vec(),
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\x04\x00\x00\x00\x00".to_vec(),
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\ngarbage frames follow \xff\xff\xff\xff\xff\xff\xff\xff\xff".to_vec(),
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(),
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n".to_vec(),
        format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(200_000)).into_bytes(),
        format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "b".repeat(1_000_000)).into_bytes(),
    ];
    for request in &half_sent {
        raw_tcp(&server, request).await;
        assert_serving(&server).await;
    }
    // Connections opened and dropped without a byte, many at once.
    let mut open = Vec::new();
    for _ in 0..200 {
        open.push(TcpStream::connect(server.server.local_addr).await.unwrap());
    }
    drop(open);
    assert_serving(&server).await;
    // A request abandoned mid-body leaves nothing behind.
    let client = server.client();
    let counts = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    assert_eq!(counts.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages], "0");
    client.send_message().queue_url(&url).message_body("after the garbage").send().await.unwrap();
}

#[tokio::test]
async fn http2_prior_knowledge_send_and_receive() {
    let server = TestServer::start().await;
    let url = server.create("h2").await;
    let headers =
        |operation: &'static str| [("x-amz-target", operation), ("content-type", "application/x-amz-json-1.0")];
    let sent = raw_request(
        &server.endpoint,
        true,
        "POST",
        "/",
        &headers("AmazonSQS.SendMessage"),
        json!({"QueueUrl": url, "MessageBody": "over h2"}).to_string(),
    )
    .await;
    assert_eq!(sent.status, 200, "{}", sent.text());
    let sent = sent.json();
    assert_eq!(sent["MD5OfMessageBody"], md5_hex(b"over h2"));
    let received = raw_request(
        &server.endpoint,
        true,
        "POST",
        "/",
        &headers("AmazonSQS.ReceiveMessage"),
        json!({"QueueUrl": url, "MaxNumberOfMessages": 10}).to_string(),
    )
    .await;
    assert_eq!(received.status, 200, "{}", received.text());
    let received = received.json();
    assert_eq!(received["Messages"][0]["Body"], "over h2");
    assert_eq!(received["Messages"][0]["MessageId"], sent["MessageId"]);
    // awsQuery over HTTP/2 as well.
    let reply = raw_request(
        &server.endpoint,
        true,
        "POST",
        "/",
        &[("content-type", "application/x-www-form-urlencoded")],
        format!("Action=SendMessage&QueueUrl={}&MessageBody=query%20over%20h2", form_value(&url)),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply.text().contains("<SendMessageResponse"), "{}", reply.text());
}

#[tokio::test]
async fn awsquery_posted_to_the_queue_url_needs_no_queue_url_parameter() {
    let server = TestServer::start().await;
    server.create("by-path").await;
    let path = format!("/{ACCOUNT}/by-path");
    let reply =
        query_call(&server.endpoint, &path, "Action=SendMessage&MessageBody=via%20path&Version=2012-11-05").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let text = reply.text();
    assert_eq!(xml_text(&text, "MD5OfMessageBody"), Some(md5_hex(b"via path")));
    let reply = query_call(
        &server.endpoint,
        &path,
        "Action=GetQueueAttributes&AttributeName.1=ApproximateNumberOfMessages&Version=2012-11-05",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply.text().contains("<Name>ApproximateNumberOfMessages</Name><Value>1</Value>"), "{}", reply.text());
    // GET with the parameters in the query string, as the oldest clients do.
    let reply = raw_request(
        &server.endpoint,
        false,
        "GET",
        &format!("{path}?Action=ReceiveMessage&Version=2012-11-05"),
        &[],
        "",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(xml_text(&reply.text(), "Body").as_deref(), Some("via path"));
    // A path naming no queue.
    let reply = query_call(&server.endpoint, &format!("/{ACCOUNT}/missing"), "Action=SendMessage&MessageBody=x").await;
    assert_query_error(&reply, 400, "AWS.SimpleQueueService.NonExistentQueue");
}

#[tokio::test]
async fn awsquery_receive_message_xml_shape() {
    let server = TestServer::start().await;
    let url = server.create("xml-shape").await;
    let body = "<tag> & \"quotes\" 'apos'";
    let form = format!(
        "Action=SendMessage&Version=2012-11-05&QueueUrl={}&MessageBody={}\
         &MessageAttribute.1.Name=color&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=blue\
         &MessageAttribute.2.Name=raw&MessageAttribute.2.Value.DataType=Binary&MessageAttribute.2.Value.BinaryValue=AAEC%2F%2Fw%3D",
        form_value(&url),
        form_value(body)
    );
    let sent = query_call(&server.endpoint, "/", &form).await;
    assert_eq!(sent.status, 200, "{}", sent.text());
    let sent_text = sent.text();
    let message_id = xml_text(&sent_text, "MessageId").unwrap();
    assert!(sent_text.contains("<SendMessageResponse"), "{sent_text}");
    assert!(sent_text.contains("<SendMessageResult>"), "{sent_text}");
    assert!(xml_text(&sent_text, "MD5OfMessageAttributes").is_some(), "{sent_text}");

    let reply = query_call(
        &server.endpoint,
        "/",
        &format!(
            "Action=ReceiveMessage&Version=2012-11-05&QueueUrl={}&AttributeName.1=All&MessageAttributeName.1=All&MaxNumberOfMessages=10",
            form_value(&url)
        ),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let text = reply.text();
    assert!(text.contains("<ReceiveMessageResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\">"), "{text}");
    let result = xml_text(&text, "ReceiveMessageResult").unwrap_or_else(|| panic!("{text}"));
    // Flattened: <Message> elements straight in the result, no <Messages> or <member> wrappers.
    assert!(!text.contains("<Messages>") && !text.contains("<member>"), "{text}");
    let messages = xml_elements(&result, "Message");
    assert_eq!(messages.len(), 1, "{text}");
    let message = &messages[0];
    assert_eq!(xml_text(message, "MessageId"), Some(message_id));
    assert!(xml_text(message, "ReceiptHandle").is_some_and(|handle| !handle.is_empty()));
    assert_eq!(xml_text(message, "Body").map(|body| xml_unescape(&body)).as_deref(), Some(body));
    assert_eq!(xml_text(message, "MD5OfBody"), Some(md5_hex(body.as_bytes())));
    assert_eq!(xml_text(message, "MD5OfMessageAttributes"), xml_text(&sent_text, "MD5OfMessageAttributes"));
    // System attributes: flattened <Attribute><Name/><Value/></Attribute>.
    assert!(!message.contains("<Attributes>"), "{message}");
    let attributes: Vec<(String, String)> = xml_elements(message, "Attribute")
        .iter()
        .map(|attribute| (xml_text(attribute, "Name").unwrap(), xml_text(attribute, "Value").unwrap()))
        .collect();
    for name in ["SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp", "SenderId"] {
        assert!(attributes.iter().any(|(found, _)| found == name), "{name} missing from {attributes:?}");
    }
    assert!(attributes.contains(&("ApproximateReceiveCount".to_string(), "1".to_string())));
    // Message attributes: <MessageAttribute><Name/><Value><StringValue/><DataType/></Value>.
    assert!(!message.contains("<MessageAttributes>"), "{message}");
    let message_attributes = xml_elements(message, "MessageAttribute");
    assert_eq!(message_attributes.len(), 2, "{message}");
    let find = |name: &str| {
        message_attributes
            .iter()
            .find(|attribute| xml_text(attribute, "Name").as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no {name} in {message}"))
            .clone()
    };
    let color = xml_text(&find("color"), "Value").unwrap();
    assert_eq!(xml_text(&color, "StringValue").as_deref(), Some("blue"));
    assert_eq!(xml_text(&color, "DataType").as_deref(), Some("String"));
    let raw = xml_text(&find("raw"), "Value").unwrap();
    assert_eq!(xml_text(&raw, "BinaryValue").as_deref(), Some("AAEC//w="));
    assert_eq!(xml_text(&raw, "DataType").as_deref(), Some("Binary"));

    // An empty receive has an empty result, not a missing one.
    let reply =
        query_call(&server.endpoint, "/", &format!("Action=ReceiveMessage&QueueUrl={}", form_value(&url))).await;
    assert_eq!(reply.status, 200);
    assert!(!reply.text().contains("<Message>"), "{}", reply.text());
}

#[tokio::test]
async fn awsquery_send_message_batch_xml_shape() {
    let server = TestServer::start().await;
    let url = server.create("batch-shape").await;
    let form = format!(
        "Action=SendMessageBatch&Version=2012-11-05&QueueUrl={}\
         &SendMessageBatchRequestEntry.1.Id=good&SendMessageBatchRequestEntry.1.MessageBody=fine\
         &SendMessageBatchRequestEntry.2.Id=bad&SendMessageBatchRequestEntry.2.MessageBody=late&SendMessageBatchRequestEntry.2.DelaySeconds=9999\
         &SendMessageBatchRequestEntry.3.Id=also-good&SendMessageBatchRequestEntry.3.MessageBody=ok",
        form_value(&url)
    );
    let reply = query_call(&server.endpoint, "/", &form).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let text = reply.text();
    assert!(text.contains("<SendMessageBatchResponse"), "{text}");
    let result = xml_text(&text, "SendMessageBatchResult").unwrap_or_else(|| panic!("{text}"));
    assert!(!result.contains("<Successful>") && !result.contains("<Failed>") && !result.contains("<member>"), "{text}");
    let successes = xml_elements(&result, "SendMessageBatchResultEntry");
    assert_eq!(successes.len(), 2, "{text}");
    let good = successes.iter().find(|entry| xml_text(entry, "Id").as_deref() == Some("good")).unwrap();
    assert_eq!(xml_text(good, "MD5OfMessageBody"), Some(md5_hex(b"fine")));
    assert!(xml_text(good, "MessageId").is_some_and(|id| id.len() == 36), "{good}");
    let failures = xml_elements(&result, "BatchResultErrorEntry");
    assert_eq!(failures.len(), 1, "{text}");
    assert_eq!(xml_text(&failures[0], "Id").as_deref(), Some("bad"));
    assert_eq!(xml_text(&failures[0], "SenderFault").as_deref(), Some("true"));
    assert_eq!(xml_text(&failures[0], "Code").as_deref(), Some("InvalidParameterValue"));
    assert!(xml_text(&failures[0], "Message").is_some());

    // A whole-request failure is an ErrorResponse, not a result.
    let reply =
        query_call(&server.endpoint, "/", &format!("Action=SendMessageBatch&QueueUrl={}", form_value(&url))).await;
    assert_query_error(&reply, 400, "AWS.SimpleQueueService.EmptyBatchRequest");
}

#[tokio::test]
async fn a_client_that_stalls_while_sending_headers_is_disconnected() {
    let mut config = common::config(None);
    config.header_read_timeout_ms = 200;
    let server = TestServer::start_with(config, None).await;
    let mut stream = TcpStream::connect(server.server.local_addr).await.unwrap();
    stream.write_all(b"POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: AmazonSQS.ListQueues\r\n").await.unwrap();
    // The rest of the headers never comes; the server closes the connection instead of waiting.
    let mut reply = Vec::new();
    let closed = tokio::time::timeout(HANG_TIMEOUT, stream.read_to_end(&mut reply)).await;
    assert!(closed.is_ok(), "the stalled connection was not closed");
    assert_serving(&server).await;
}
