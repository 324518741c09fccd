//! Enhanced fan-out through aws-sdk-kinesis: registered consumers and SubscribeToShard's event
//! stream, live records, resubscription rules and the end of a closed shard.

mod common;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{ShardIteratorType, StartingPosition, SubscribeToShardEventStream};
use common::{code, TestServer, HANG_TIMEOUT};

async fn stream_with_consumer(client: &aws_sdk_kinesis::Client, name: &str) -> (String, String) {
    client.create_stream().stream_name(name).shard_count(1).send().await.unwrap();
    let stream_arn = client
        .describe_stream_summary()
        .stream_name(name)
        .send()
        .await
        .unwrap()
        .stream_description_summary
        .unwrap()
        .stream_arn;
    let consumer = client.register_stream_consumer().stream_arn(&stream_arn).consumer_name("reader").send().await;
    let consumer = consumer.unwrap().consumer.unwrap();
    assert_eq!(consumer.consumer_status.as_str(), "ACTIVE");
    (stream_arn, consumer.consumer_arn)
}

fn position(kind: ShardIteratorType) -> StartingPosition {
    StartingPosition::builder().r#type(kind).build().unwrap()
}

/// Waits for the next SubscribeToShardEvent.
async fn next_event(
    stream: &mut aws_sdk_kinesis::primitives::event_stream::EventReceiver<
        SubscribeToShardEventStream,
        aws_sdk_kinesis::types::error::SubscribeToShardEventStreamError,
    >,
) -> aws_sdk_kinesis::types::SubscribeToShardEvent {
    let received = tokio::time::timeout(HANG_TIMEOUT, stream.recv()).await.expect("an event in time");
    match received.expect("a well-formed event").expect("the stream is open") {
        SubscribeToShardEventStream::SubscribeToShardEvent(event) => event,
        other => panic!("unexpected event {other:?}"),
    }
}

#[tokio::test]
async fn consumers_are_registered_described_listed_and_deregistered() {
    let server = TestServer::start().await;
    let client = server.kinesis();
    let (stream_arn, consumer_arn) = stream_with_consumer(&client, "fan").await;
    let again = client.register_stream_consumer().stream_arn(&stream_arn).consumer_name("reader").send().await;
    assert_eq!(code(&again.unwrap_err()), "ResourceInUseException");
    let described = client.describe_stream_consumer().consumer_arn(&consumer_arn).send().await.unwrap();
    let described = described.consumer_description.unwrap();
    assert_eq!((described.consumer_name.as_str(), described.stream_arn.as_str()), ("reader", stream_arn.as_str()));
    let by_name = client.describe_stream_consumer().stream_arn(&stream_arn).consumer_name("reader").send().await;
    assert_eq!(by_name.unwrap().consumer_description.unwrap().consumer_arn, consumer_arn);
    let listed = client.list_stream_consumers().stream_arn(&stream_arn).send().await.unwrap();
    assert_eq!(listed.consumers.unwrap().len(), 1);
    let summary = client.describe_stream_summary().stream_name("fan").send().await.unwrap();
    assert_eq!(summary.stream_description_summary.unwrap().consumer_count, Some(1));

    let refused = client.delete_stream().stream_name("fan").send().await;
    assert_eq!(code(&refused.unwrap_err()), "ResourceInUseException");
    client.deregister_stream_consumer().consumer_arn(&consumer_arn).send().await.unwrap();
    let gone = client.describe_stream_consumer().consumer_arn(&consumer_arn).send().await;
    assert_eq!(code(&gone.unwrap_err()), "ResourceNotFoundException");
    client.delete_stream().stream_name("fan").send().await.unwrap();
}

#[tokio::test]
async fn subscribe_to_shard_pushes_stored_and_live_records() {
    let server = TestServer::start().await;
    let client = server.kinesis();
    let (_, consumer_arn) = stream_with_consumer(&client, "live").await;
    for body in ["a", "b"] {
        client.put_record().stream_name("live").partition_key("k").data(Blob::new(body)).send().await.unwrap();
    }
    let subscribed = client
        .subscribe_to_shard()
        .consumer_arn(&consumer_arn)
        .shard_id("shardId-000000000000")
        .starting_position(position(ShardIteratorType::TrimHorizon))
        .send()
        .await
        .unwrap();
    let mut events = subscribed.event_stream;
    let first = next_event(&mut events).await;
    let bodies: Vec<_> = first.records.iter().map(|r| r.data.as_ref().to_vec()).collect();
    assert_eq!(bodies, vec![b"a".to_vec(), b"b".to_vec()]);
    assert_eq!(first.continuation_sequence_number, first.records[1].sequence_number);

    let resubscribe = client
        .subscribe_to_shard()
        .consumer_arn(&consumer_arn)
        .shard_id("shardId-000000000000")
        .starting_position(position(ShardIteratorType::Latest))
        .send()
        .await;
    assert_eq!(code(&resubscribe.unwrap_err()), "ResourceInUseException");

    let put = client.put_record().stream_name("live").partition_key("k").data(Blob::new("c")).send().await.unwrap();
    let live = loop {
        let event = next_event(&mut events).await;
        if !event.records.is_empty() {
            break event;
        }
    };
    assert_eq!(live.records[0].data.as_ref(), b"c");
    assert_eq!(live.records[0].sequence_number, put.sequence_number);
}

#[tokio::test]
async fn a_subscription_to_a_closed_shard_ends_with_its_children() {
    let server = TestServer::start().await;
    let client = server.kinesis();
    let (_, consumer_arn) = stream_with_consumer(&client, "closing").await;
    client.put_record().stream_name("closing").partition_key("k").data(Blob::new("x")).send().await.unwrap();
    client
        .split_shard()
        .stream_name("closing")
        .shard_to_split("shardId-000000000000")
        .new_starting_hash_key("1000")
        .send()
        .await
        .unwrap();
    let subscribed = client
        .subscribe_to_shard()
        .consumer_arn(&consumer_arn)
        .shard_id("shardId-000000000000")
        .starting_position(position(ShardIteratorType::TrimHorizon))
        .send()
        .await
        .unwrap();
    let mut events = subscribed.event_stream;
    let first = next_event(&mut events).await;
    assert_eq!(first.records.len(), 1);
    let last = next_event(&mut events).await;
    assert!(last.records.is_empty());
    let children = last.child_shards.unwrap();
    assert_eq!(children.len(), 2);
    let ended = tokio::time::timeout(HANG_TIMEOUT, events.recv()).await.expect("the stream ends in time");
    assert!(matches!(ended, Ok(None)), "the event stream ends after the child shards: {ended:?}");
}

/// One event-stream message: its string headers and its payload.
type EventMessage = (Vec<(String, String)>, Vec<u8>);

/// Splits an event-stream body into messages, checking lengths and CRCs.
fn event_messages(mut body: &[u8]) -> Vec<EventMessage> {
    let mut messages = Vec::new();
    while !body.is_empty() {
        let total = u32::from_be_bytes(body[0..4].try_into().unwrap()) as usize;
        let headers_length = u32::from_be_bytes(body[4..8].try_into().unwrap()) as usize;
        let message = &body[..total];
        assert_eq!(u32::from_be_bytes(message[8..12].try_into().unwrap()), crc32fast::hash(&message[..8]));
        assert_eq!(
            u32::from_be_bytes(message[total - 4..].try_into().unwrap()),
            crc32fast::hash(&message[..total - 4])
        );
        let mut headers = Vec::new();
        let mut rest = &message[12..12 + headers_length];
        while !rest.is_empty() {
            let name_length = rest[0] as usize;
            let name = String::from_utf8(rest[1..1 + name_length].to_vec()).unwrap();
            assert_eq!(rest[1 + name_length], 7, "string header");
            let value_at = 2 + name_length;
            let value_length = u16::from_be_bytes(rest[value_at..value_at + 2].try_into().unwrap()) as usize;
            let value = String::from_utf8(rest[value_at + 2..value_at + 2 + value_length].to_vec()).unwrap();
            headers.push((name, value));
            rest = &rest[value_at + 2 + value_length..];
        }
        messages.push((headers, message[12 + headers_length..total - 4].to_vec()));
        body = &body[total..];
    }
    messages
}

#[tokio::test]
async fn subscribe_to_shard_streams_over_http2_with_prior_knowledge() {
    let server = TestServer::start().await;
    let client = server.kinesis();
    let (_, consumer_arn) = stream_with_consumer(&client, "h2").await;
    client.put_record().stream_name("h2").partition_key("k").data(Blob::new("over h2")).send().await.unwrap();
    let split =
        client.split_shard().stream_name("h2").shard_to_split("shardId-000000000000").new_starting_hash_key("9");
    split.send().await.unwrap();
    let body = serde_json::json!({
        "ConsumerARN": consumer_arn,
        "ShardId": "shardId-000000000000",
        "StartingPosition": { "Type": "TRIM_HORIZON" },
    });
    let headers =
        [("x-amz-target", "Kinesis_20131202.SubscribeToShard"), ("content-type", "application/x-amz-json-1.1")];
    let reply = common::raw_request(&server.endpoint, true, "POST", "/", &headers, body.to_string()).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/vnd.amazon.eventstream"));
    let messages = event_messages(&reply.body);
    let event_types: Vec<&str> = messages
        .iter()
        .map(|(headers, _)| headers.iter().find(|(name, _)| name == ":event-type").unwrap().1.as_str())
        .collect();
    assert_eq!(event_types, vec!["initial-response", "SubscribeToShardEvent", "SubscribeToShardEvent"]);
    let first: serde_json::Value = serde_json::from_slice(&messages[1].1).unwrap();
    assert_eq!(first["Records"][0]["Data"], "b3ZlciBoMg==");
    let last: serde_json::Value = serde_json::from_slice(&messages[2].1).unwrap();
    assert_eq!(last["ChildShards"].as_array().unwrap().len(), 2);
    assert!(last.get("ContinuationSequenceNumber").is_none(), "no continuation after a closed shard's end");
}
