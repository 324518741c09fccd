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
