//! Properties over random and mutated requests to the SQS, SNS and Kinesis front-ends, which are
//! reachable only through the HTTP edge: whatever the body, the reply is 2xx, 4xx or 503 (never
//! another 5xx), every 4xx is a well-formed error document of the request's protocol, and the
//! server keeps answering afterwards. Random receipt handles and shard iterators are refused with
//! the services' own errors.
//!
//! Each test starts one server and drives a `proptest` runner from a plain thread, blocking on
//! the server's runtime for each request.

mod common;

use common::{form_value, json_call, raw_request, xml_text, RawResponse, TestServer, ACCOUNT};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};
use wharf_aws::wire::cbor::{decode_document, encode_document, CborLimits};

/// Cases per operation family; each is one HTTP request, so keep this modest for debug builds.
const CASES: u32 = 1000;

const SQS_JSON: &str = "application/x-amz-json-1.0";
const KINESIS_JSON: &str = "application/x-amz-json-1.1";
const CBOR: &str = "application/x-amz-cbor-1.1";
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

const QUEUE: &str = "prop-queue";
const TOPIC: &str = "prop-topic";
const STREAM: &str = "prop-stream";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn runner() -> TestRunner {
    TestRunner::new(Config { cases: CASES, failure_persistence: None, ..Config::default() })
}

// ---------------------------------------------------------------------------------------------
// Reply checks.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    Json,
    Cbor,
    Query,
}

/// The property every reply must have; returns the error code of a 4xx.
fn check_reply(reply: &RawResponse, wire: Wire, what: &str) -> Result<Option<String>, TestCaseError> {
    let status = reply.status;
    let describe = || format!("{what}: HTTP {status}: {}", reply.text());
    if !(200..300).contains(&status) && !(400..500).contains(&status) && status != 503 {
        return Err(TestCaseError::fail(format!("unexpected status; {}", describe())));
    }
    if wire == Wire::Query && (200..300).contains(&status) && !xml_text_is_clean(&reply.text()) {
        return Err(TestCaseError::fail(format!("reply is not well-formed XML text; {}", describe())));
    }
    if !(400..500).contains(&status) {
        return Ok(None);
    }
    let code = match wire {
        Wire::Json | Wire::Cbor => {
            // A CBOR request's errors are CBOR once the service has it; errors the HTTP edge
            // gives before routing (unknown operation, authentication) are JSON, as AWS's front
            // door answers. Either way the reply's content type names its encoding.
            let content_type = reply.header("content-type").unwrap_or_default();
            let document = if content_type.starts_with(CBOR) {
                decode_document(&reply.body, &CborLimits::default()).ok()
            } else if content_type.starts_with("application/x-amz-json-1.") {
                serde_json::from_slice::<Value>(&reply.body).ok()
            } else {
                return Err(TestCaseError::fail(format!("content type {content_type:?}; {}", describe())));
            };
            if wire == Wire::Json && content_type.starts_with(CBOR) {
                return Err(TestCaseError::fail(format!("CBOR reply to JSON; {}", describe())));
            }
            let Some(document) = document else {
                return Err(TestCaseError::fail(format!("error body does not decode; {}", describe())));
            };
            let Some(error_type) = document.get("__type").and_then(Value::as_str) else {
                return Err(TestCaseError::fail(format!("no __type; {}", describe())));
            };
            if error_type.is_empty() {
                return Err(TestCaseError::fail(format!("empty __type; {}", describe())));
            }
            error_type.rsplit('#').next().unwrap_or(error_type).to_owned()
        }
        Wire::Query => {
            let text = reply.text();
            let well_formed = text.starts_with("<?xml")
                && text.contains("<ErrorResponse")
                && text.trim_end().ends_with("</ErrorResponse>")
                && xml_text(&text, "Type").is_some_and(|kind| kind == "Sender" || kind == "Receiver")
                && xml_text(&text, "Message").is_some()
                && xml_text(&text, "RequestId").is_some_and(|id| !id.is_empty())
                && xml_text_is_clean(&text);
            let code = xml_text(&text, "Code").filter(|code| !code.is_empty());
            match code {
                Some(code) if well_formed => code,
                _ => return Err(TestCaseError::fail(format!("not a well-formed ErrorResponse; {}", describe()))),
            }
        }
    };
    Ok(Some(code))
}

/// XML text holds only characters XML 1.0 allows, and every `&` starts an entity the renderer
/// writes.
fn xml_text_is_clean(text: &str) -> bool {
    text.starts_with("<?xml")
        && !text.chars().any(|c| (c.is_control() && !matches!(c, '\t' | '\n')) || matches!(c, '\u{FFFE}' | '\u{FFFF}'))
        && text.match_indices('&').all(|(at, _)| {
            ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#xD;"].iter().any(|entity| text[at..].starts_with(entity))
        })
}

async fn assert_serving(server: &TestServer) {
    let reply = json_call(&server.endpoint, "ListQueues", &json!({})).await;
    assert_eq!(reply.status, 200, "the server still answers: {}", reply.text());
    let reply = kinesis_call(server, "ListStreams", KINESIS_JSON, b"{}".to_vec()).await;
    assert_eq!(reply.status, 200, "the server still answers Kinesis: {}", reply.text());
}

async fn target_call(server: &TestServer, target: &str, content_type: &str, body: Vec<u8>) -> RawResponse {
    raw_request(&server.endpoint, false, "POST", "/", &[("x-amz-target", target), ("content-type", content_type)], body)
        .await
}

async fn kinesis_call(server: &TestServer, operation: &str, content_type: &str, body: Vec<u8>) -> RawResponse {
    target_call(server, &format!("Kinesis_20131202.{operation}"), content_type, body).await
}

async fn form_call(server: &TestServer, path: &str, body: Vec<u8>) -> RawResponse {
    raw_request(&server.endpoint, false, "POST", path, &[("content-type", FORM)], body).await
}

// ---------------------------------------------------------------------------------------------
// Strategies: valid-looking requests, then mutated.

/// Any JSON value, weighted towards the awkward ones.
fn random_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop::sample::select(vec![0_i64, 1, -1, 10, 301, 65_536, i64::MAX, i64::MIN]).prop_map(Value::from),
        Just(json!(1e300)),
        Just(json!(-0.5)),
        Just(json!(u64::MAX)),
        "\\PC{0,16}".prop_map(Value::String),
        Just(Value::String("x".repeat(300))),
        Just(Value::String(String::new())),
        Just(Value::String("\u{0}\u{1}\u{ffff}".to_owned())),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[A-Za-z]{1,12}", inner), 0..4)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// How a valid body is damaged.
#[derive(Debug, Clone)]
enum Mutation {
    None,
    Truncate(prop::sample::Index),
    FlipBit(prop::sample::Index, u8),
    InsertByte(prop::sample::Index, u8),
    /// Replace one member's value with random JSON (JSON-shaped bodies) or random text (forms).
    ReplaceValue(prop::sample::Index, Value),
    DropMember(prop::sample::Index),
    AddMember(String, Value),
    Garbage(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        2 => Just(Mutation::None),
        2 => any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        2 => (any::<prop::sample::Index>(), 0_u8..8).prop_map(|(at, bit)| Mutation::FlipBit(at, bit)),
        1 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(at, byte)| Mutation::InsertByte(at, byte)),
        4 => (any::<prop::sample::Index>(), random_json()).prop_map(|(at, value)| Mutation::ReplaceValue(at, value)),
        2 => any::<prop::sample::Index>().prop_map(Mutation::DropMember),
        1 => ("[A-Za-z]{1,12}", random_json()).prop_map(|(name, value)| Mutation::AddMember(name, value)),
        1 => prop::collection::vec(any::<u8>(), 0..128).prop_map(Mutation::Garbage),
    ]
}

fn mutate_bytes(mut bytes: Vec<u8>, mutation: &Mutation) -> Vec<u8> {
    match mutation {
        Mutation::Truncate(at) => bytes.truncate(at.index(bytes.len() + 1)),
        Mutation::FlipBit(at, bit) if !bytes.is_empty() => {
            let index = at.index(bytes.len());
            bytes[index] ^= 1 << bit;
        }
        Mutation::InsertByte(at, byte) => {
            let index = at.index(bytes.len() + 1);
            bytes.insert(index, *byte);
        }
        Mutation::Garbage(garbage) => bytes = garbage.clone(),
        _ => {}
    }
    bytes
}

fn mutate_document(mut document: Map<String, Value>, mutation: &Mutation) -> Map<String, Value> {
    match mutation {
        Mutation::ReplaceValue(at, value) if !document.is_empty() => {
            let key = document.keys().nth(at.index(document.len())).cloned().unwrap_or_default();
            document.insert(key, value.clone());
        }
        Mutation::DropMember(at) if !document.is_empty() => {
            let key = document.keys().nth(at.index(document.len())).cloned().unwrap_or_default();
            document.remove(&key);
        }
        Mutation::AddMember(name, value) => {
            document.insert(name.clone(), value.clone());
        }
        _ => {}
    }
    // Long polls and long reads would make a case take seconds; everything else is fair.
    if let Some(wait) = document.get_mut("WaitTimeSeconds") {
        if wait.as_i64().is_some_and(|seconds| seconds > 0) {
            *wait = json!(0);
        }
    }
    document
}

/// A superset of the members SQS operations read, valid against the test queue.
fn sqs_template(server: &TestServer) -> Map<String, Value> {
    let url = server.url(QUEUE);
    let document = json!({
        "QueueUrl": url,
        "QueueName": "prop-created",
        "QueueNamePrefix": "prop",
        "MessageBody": "hello",
        "DelaySeconds": 0,
        "MaxNumberOfMessages": 10,
        "WaitTimeSeconds": 0,
        "VisibilityTimeout": 30,
        "ReceiptHandle": "not-a-handle",
        "AttributeNames": ["All"],
        "MessageAttributeNames": ["All"],
        "MessageSystemAttributeNames": ["All"],
        "Attributes": { "VisibilityTimeout": "30", "DelaySeconds": "0" },
        "Tags": { "team": "wharf" },
        "TagKeys": ["team"],
        "MessageAttributes": { "colour": { "DataType": "String", "StringValue": "blue" } },
        "Entries": [
            { "Id": "a", "MessageBody": "one", "ReceiptHandle": "x", "VisibilityTimeout": 5 },
            { "Id": "b", "MessageBody": "two", "DelaySeconds": 0 }
        ],
        "Label": "perm",
        "AWSAccountIds": [ACCOUNT],
        "Actions": ["SendMessage"],
        "SourceArn": format!("arn:aws:sqs:us-east-1:{ACCOUNT}:{QUEUE}"),
        "TaskHandle": "nope",
        "MaxResults": 10,
        "NextToken": "nope",
    });
    document.as_object().cloned().unwrap_or_default()
}

fn sns_template() -> Map<String, Value> {
    let topic = format!("arn:aws:sns:us-east-1:{ACCOUNT}:{TOPIC}");
    let document = json!({
        "TopicArn": topic,
        "Name": "prop-created",
        "Message": "hello",
        "Subject": "subject",
        "Protocol": "sqs",
        "Endpoint": format!("arn:aws:sqs:us-east-1:{ACCOUNT}:{QUEUE}"),
        "SubscriptionArn": format!("{topic}:00000000-0000-0000-0000-000000000000"),
        "AttributeName": "DisplayName",
        "AttributeValue": "display",
        "Token": "nope",
        "NextToken": "nope",
        "ResourceArn": topic,
        "Label": "perm",
        "PhoneNumber": "+15555550100",
        "Platform": "GCM",
        "PlatformApplicationArn": format!("arn:aws:sns:us-east-1:{ACCOUNT}:app/GCM/none"),
        "EndpointArn": format!("arn:aws:sns:us-east-1:{ACCOUNT}:endpoint/GCM/none/x"),
        "MessageStructure": "json",
        "ReturnSubscriptionArn": "true",
    });
    document.as_object().cloned().unwrap_or_default()
}

fn kinesis_template() -> Map<String, Value> {
    let document = json!({
        "StreamName": STREAM,
        "StreamARN": format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{STREAM}"),
        "ShardCount": 1,
        "ShardId": "shardId-000000000000",
        "ShardIteratorType": "TRIM_HORIZON",
        "StartingSequenceNumber": "0",
        "ShardIterator": "not-an-iterator",
        "PartitionKey": "pk",
        "Data": "aGVsbG8=",
        "Records": [{ "Data": "aGVsbG8=", "PartitionKey": "pk" }],
        "Limit": 10,
        "RetentionPeriodHours": 48,
        "Tags": { "team": "wharf" },
        "TagKeys": ["team"],
        "ConsumerName": "consumer",
        "ExclusiveStartShardId": "shardId-000000000000",
        "TargetShardCount": 2,
        "ScalingType": "UNIFORM_SCALING",
        "ShardToSplit": "shardId-000000000000",
        "NewStartingHashKey": "100",
        "EncryptionType": "KMS",
        "KeyId": "alias/aws/kinesis",
        "NextToken": "nope",
    });
    document.as_object().cloned().unwrap_or_default()
}

/// Flattens a JSON document into awsQuery pairs (`Entries.member.1.Id`, `Attributes.entry.1.key`,
/// `Tags.Tag.1.Key` shapes are all approximated by `Name.1.Key`/`Name.1.Value`).
fn to_form(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(members) => {
            for (index, (key, member)) in members.iter().enumerate() {
                if prefix.is_empty() {
                    to_form(key, member, out);
                } else {
                    out.push((format!("{prefix}.entry.{}.key", index + 1), key.clone()));
                    to_form(&format!("{prefix}.entry.{}.value", index + 1), member, out);
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                to_form(&format!("{prefix}.member.{}", index + 1), item, out);
            }
        }
        Value::String(text) => out.push((prefix.to_owned(), text.clone())),
        Value::Null => out.push((prefix.to_owned(), String::new())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

fn form_body(action: &str, version: Option<&str>, document: &Map<String, Value>) -> Vec<u8> {
    let mut pairs = Vec::new();
    to_form("", &Value::Object(document.clone()), &mut pairs);
    let mut body = format!("Action={}", form_value(action));
    if let Some(version) = version {
        body.push_str(&format!("&Version={version}"));
    }
    for (key, value) in &pairs {
        body.push_str(&format!("&{}={}", form_value(key), form_value(value)));
    }
    body.into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Fixtures.

async fn fixtures(server: &TestServer) {
    server.create(QUEUE).await;
    let sns = server.sns();
    sns.create_topic().name(TOPIC).send().await.expect("create topic");
    let kinesis = server.kinesis();
    kinesis.create_stream().stream_name(STREAM).shard_count(1).send().await.expect("create stream");
}

fn operation(operations: &[&str]) -> impl Strategy<Value = String> {
    let known: Vec<String> = operations.iter().map(|name| (*name).to_owned()).collect();
    prop_oneof![9 => prop::sample::select(known), 1 => "[A-Za-z]{0,12}"]
}

/// Runs `CASES` random requests built by `build` and checks each reply.
fn run_family<S>(
    name: &str,
    strategy: S,
    build: impl Fn(&TestServer, S::Value) -> (Wire, String, Vec<u8>, String) + Sync,
    send: impl Fn(&TestServer, String, Vec<u8>) -> std::pin::Pin<Box<dyn std::future::Future<Output = RawResponse> + '_>>
        + Sync,
) where
    S: Strategy,
    S::Value: std::fmt::Debug,
{
    let runtime = runtime();
    let server = runtime.block_on(async {
        let server = TestServer::start().await;
        fixtures(&server).await;
        server
    });
    let started = std::time::Instant::now();
    let statuses = std::sync::Mutex::new(std::collections::BTreeMap::<u16, u32>::new());
    let outcome = runner().run(&strategy, |input| {
        let (wire, route, body, what) = build(&server, input);
        let reply = runtime.block_on(send(&server, route, body));
        *statuses.lock().expect("statuses").entry(reply.status).or_default() += 1;
        check_reply(&reply, wire, &what).map(|_| ())
    });
    runtime.block_on(assert_serving(&server));
    eprintln!("{name}: {CASES} cases in {:?}, statuses {:?}", started.elapsed(), statuses.lock().expect("statuses"));
    if let Err(error) = outcome {
        panic!("{name}: {error}");
    }
    runtime.block_on(server.server.shutdown()).expect("server shuts down");
}

// ---------------------------------------------------------------------------------------------
// The families.

#[test]
fn sqs_json_requests_get_a_reply_or_an_error() {
    run_family(
        "sqs awsJson",
        (operation(wharf_sqs::OPERATIONS), mutation(), mutation()),
        |server, (operation, document_mutation, byte_mutation)| {
            let document = mutate_document(sqs_template(server), &document_mutation);
            let body = mutate_bytes(Value::Object(document).to_string().into_bytes(), &byte_mutation);
            (Wire::Json, format!("AmazonSQS.{operation}"), body, format!("SQS {operation}"))
        },
        |server, target, body| Box::pin(async move { target_call(server, &target, SQS_JSON, body).await }),
    );
}

#[test]
fn sqs_query_requests_get_a_reply_or_an_error() {
    run_family(
        "sqs awsQuery",
        (operation(wharf_sqs::OPERATIONS), mutation(), mutation(), any::<bool>()),
        |server, (operation, document_mutation, byte_mutation, on_queue_url)| {
            let document = mutate_document(sqs_template(server), &document_mutation);
            let body = mutate_bytes(form_body(&operation, Some("2012-11-05"), &document), &byte_mutation);
            let path = if on_queue_url { format!("/{ACCOUNT}/{QUEUE}") } else { "/".to_owned() };
            (Wire::Query, path, body, format!("SQS query {operation}"))
        },
        |server, path, body| Box::pin(async move { form_call(server, &path, body).await }),
    );
}

#[test]
fn sns_query_requests_get_a_reply_or_an_error() {
    run_family(
        "sns awsQuery",
        (operation(wharf_sns::OPERATIONS), mutation(), mutation()),
        |_, (operation, document_mutation, byte_mutation)| {
            let document = mutate_document(sns_template(), &document_mutation);
            let body = mutate_bytes(form_body(&operation, Some("2010-03-31"), &document), &byte_mutation);
            (Wire::Query, "/".to_owned(), body, format!("SNS {operation}"))
        },
        |server, path, body| Box::pin(async move { form_call(server, &path, body).await }),
    );
}

/// Kinesis operations that hold the connection open; a random body cannot reach their streaming
/// part (it needs a registered consumer's ARN), but they are left to the dedicated suites.
fn kinesis_operations() -> Vec<&'static str> {
    wharf_kinesis::OPERATIONS.iter().copied().filter(|operation| *operation != "SubscribeToShard").collect()
}

#[test]
fn kinesis_json_requests_get_a_reply_or_an_error() {
    run_family(
        "kinesis awsJson",
        (operation(&kinesis_operations()), mutation(), mutation()),
        |_, (operation, document_mutation, byte_mutation)| {
            let document = mutate_document(kinesis_template(), &document_mutation);
            let body = mutate_bytes(Value::Object(document).to_string().into_bytes(), &byte_mutation);
            (Wire::Json, operation.clone(), body, format!("Kinesis {operation}"))
        },
        |server, operation, body| Box::pin(async move { kinesis_call(server, &operation, KINESIS_JSON, body).await }),
    );
}

#[test]
fn kinesis_cbor_requests_get_a_reply_or_an_error() {
    run_family(
        "kinesis CBOR",
        (operation(&kinesis_operations()), mutation(), mutation()),
        |_, (operation, document_mutation, byte_mutation)| {
            let document = mutate_document(kinesis_template(), &document_mutation);
            let encoded = encode_document(&Value::Object(document), &["Data"], &[]);
            let body = mutate_bytes(encoded, &byte_mutation);
            (Wire::Cbor, operation.clone(), body, format!("Kinesis CBOR {operation}"))
        },
        |server, operation, body| Box::pin(async move { kinesis_call(server, &operation, CBOR, body).await }),
    );
}

// ---------------------------------------------------------------------------------------------
// Receipt handles and shard iterators.

fn random_token() -> impl Strategy<Value = String> {
    prop_oneof!["[A-Za-z0-9_-]{1,200}", "[A-Za-z0-9+/=]{1,120}", "\\PC{1,40}", "[ -~]{1,40}"]
}

#[test]
fn random_receipt_handles_are_invalid() {
    run_family(
        "receipt handles",
        (random_token(), prop::sample::select(vec!["DeleteMessage", "ChangeMessageVisibility"]), any::<bool>()),
        |server, (handle, operation, query)| {
            let document = json!({ "QueueUrl": server.url(QUEUE), "ReceiptHandle": handle, "VisibilityTimeout": 5 });
            let document = document.as_object().cloned().unwrap_or_default();
            if query {
                (Wire::Query, "query".to_owned(), form_body(operation, Some("2012-11-05"), &document), handle)
            } else {
                (Wire::Json, format!("AmazonSQS.{operation}"), Value::Object(document).to_string().into_bytes(), handle)
            }
        },
        |server, route, body| {
            Box::pin(async move {
                let reply = if route == "query" {
                    form_call(server, "/", body).await
                } else {
                    target_call(server, &route, SQS_JSON, body).await
                };
                let wire = if route == "query" { Wire::Query } else { Wire::Json };
                let code = check_reply(&reply, wire, "receipt handle").ok().flatten();
                assert_eq!(code.as_deref(), Some("ReceiptHandleIsInvalid"), "{}", reply.text());
                reply
            })
        },
    );
}

#[test]
fn random_shard_iterators_are_invalid() {
    run_family(
        "shard iterators",
        (random_token(), any::<bool>()),
        |_, (iterator, cbor)| {
            let document = json!({ "ShardIterator": iterator, "Limit": 10 });
            if cbor {
                (Wire::Cbor, CBOR.to_owned(), encode_document(&document, &[], &[]), iterator)
            } else {
                (Wire::Json, KINESIS_JSON.to_owned(), document.to_string().into_bytes(), iterator)
            }
        },
        |server, content_type, body| {
            Box::pin(async move {
                let reply = kinesis_call(server, "GetRecords", &content_type, body).await;
                let wire = if content_type == CBOR { Wire::Cbor } else { Wire::Json };
                let code = check_reply(&reply, wire, "shard iterator").ok().flatten();
                assert_eq!(code.as_deref(), Some("InvalidArgumentException"), "{}", reply.text());
                reply
            })
        },
    );
}

/// Found by `sns_query_requests_get_a_reply_or_an_error`: a flipped bit turned the `&` before
/// `Version` into U+0006, the action name echoed in the error message carried it, and the
/// ErrorResponse was not well-formed XML (XML 1.0 cannot carry U+0006 even as a reference).
#[test]
fn control_characters_echoed_in_errors_keep_the_xml_well_formed() {
    let runtime = runtime();
    runtime.block_on(async {
        let server = TestServer::start().await;
        for (path, form) in [
            ("/", "Action=ListOriginationNumbers%06Version=2010-03-31"),
            ("/", "Action=List%01Topics&Version=2010-03-31"),
            ("/", "Action=Get%00Queue%1FUrl&Version=2012-11-05&QueueName=q%07"),
        ] {
            let reply = form_call(&server, path, form.as_bytes().to_vec()).await;
            let code = check_reply(&reply, Wire::Query, form).unwrap_or_else(|error| panic!("{error}"));
            assert!(code.is_some(), "{}", reply.text());
            assert!(reply.text().contains('\u{FFFD}'), "{}", reply.text());
        }
        assert_serving(&server).await;
        server.server.shutdown().await.expect("server shuts down");
    });
}
