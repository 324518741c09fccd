//! FIFO topic message archiving and replay through aws-sdk-sns: ArchivePolicy keeps every
//! publication, a subscription's ReplayPolicy redelivers those of its time window (original
//! MessageId, SequenceNumber and Timestamp, marked Replayed), on a manual clock.

mod common;

use common::{code, TestServer, START_MS};
use serde_json::Value;
use wharf_sns::delivery::OUTBOX_ACCOUNT;

const ARCHIVE_ONE_DAY: &str = r#"{"MessageRetentionPeriod":"1"}"#;

/// A Unix time in milliseconds in the ISO 8601 form SNS uses.
fn iso(unix_ms: u64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000).expect("in range");
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

async fn fifo_queue(server: &TestServer, name: &str) -> (String, String) {
    let url = server
        .client()
        .create_queue()
        .queue_name(name)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    (url, format!("arn:aws:sqs:us-east-1:000000000000:{name}"))
}

async fn envelopes(server: &TestServer, url: &str) -> Vec<Value> {
    let received = server.client().receive_message().queue_url(url).max_number_of_messages(10).send().await.unwrap();
    received.messages().iter().map(|message| serde_json::from_str(message.body().unwrap()).unwrap()).collect()
}

#[tokio::test]
async fn archived_publications_replay_to_a_new_subscription() {
    let server = TestServer::start_manual().await;
    let sns = server.sns();
    let topic_arn = sns
        .create_topic()
        .name("orders.fifo")
        .attributes("FifoTopic", "true")
        .attributes("ContentBasedDeduplication", "true")
        .attributes("ArchivePolicy", ARCHIVE_ONE_DAY)
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let (live_url, live_arn) = fifo_queue(&server, "live.fifo").await;
    sns.subscribe().topic_arn(&topic_arn).protocol("sqs").endpoint(&live_arn).send().await.unwrap();
    for (index, body) in ["first", "second", "third"].iter().enumerate() {
        if index > 0 {
            server.advance_secs(10);
        }
        sns.publish().topic_arn(&topic_arn).message(*body).message_group_id("g").send().await.unwrap();
    }
    let live = envelopes(&server, &live_url).await;
    assert_eq!(live.len(), 3);
    assert!(live.iter().all(|envelope| envelope.get("Replayed").is_none()));

    let attributes = sns.get_topic_attributes().topic_arn(&topic_arn).send().await.unwrap();
    let attributes = attributes.attributes().unwrap();
    assert_eq!(attributes["ArchivePolicy"], ARCHIVE_ONE_DAY);
    assert_eq!(attributes["BeginningArchiveTime"], iso(START_MS));
    let archive = server
        .server
        .engine()
        .expect("serving")
        .all_queues()
        .into_iter()
        .find(|queue| queue.account == OUTBOX_ACCOUNT && queue.name.ends_with("-archive"));
    assert_eq!(archive.expect("the topic's archive").settings().retention_seconds, 86_400);

    // A new subscriber asks for everything from the second publication on.
    let (replay_url, replay_arn) = fifo_queue(&server, "replay.fifo").await;
    let subscription_arn = sns
        .subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(&replay_arn)
        .send()
        .await
        .unwrap()
        .subscription_arn
        .unwrap();
    let policy = format!(r#"{{"PointType":"Timestamp","StartingPoint":"{}"}}"#, iso(START_MS + 5_000));
    sns.set_subscription_attributes()
        .subscription_arn(&subscription_arn)
        .attribute_name("ReplayPolicy")
        .attribute_value(&policy)
        .send()
        .await
        .unwrap();
    let replayed = envelopes(&server, &replay_url).await;
    let messages: Vec<&str> = replayed.iter().map(|envelope| envelope["Message"].as_str().unwrap()).collect();
    assert_eq!(messages, vec!["second", "third"]);
    for (replay, original) in replayed.iter().zip(&live[1..]) {
        assert_eq!(replay["Replayed"], true);
        for field in ["MessageId", "SequenceNumber", "Timestamp", "Signature"] {
            assert_eq!(replay[field], original[field], "{field}");
        }
    }
    let attributes = sns.get_subscription_attributes().subscription_arn(&subscription_arn).send().await.unwrap();
    let attributes = attributes.attributes().unwrap();
    assert_eq!(attributes["ReplayStatus"], "Completed");
    assert_eq!(attributes["ReplayPolicy"], policy);

    // A window that ends before the third publication.
    let (window_url, window_arn) = fifo_queue(&server, "window.fifo").await;
    let bounded = format!(
        r#"{{"PointType":"Timestamp","StartingPoint":"{}","EndingPoint":"{}"}}"#,
        iso(START_MS),
        iso(START_MS + 15_000)
    );
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(&window_arn)
        .attributes("ReplayPolicy", &bounded)
        .send()
        .await
        .unwrap();
    let messages: Vec<String> = envelopes(&server, &window_url)
        .await
        .iter()
        .map(|envelope| envelope["Message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(messages, vec!["first", "second"]);
}

#[tokio::test]
async fn archive_and_replay_policies_are_validated() {
    let server = TestServer::start_manual().await;
    let sns = server.sns();
    let standard = sns.create_topic().name("plain").send().await.unwrap().topic_arn.unwrap();
    let error = sns
        .set_topic_attributes()
        .topic_arn(&standard)
        .attribute_name("ArchivePolicy")
        .attribute_value(ARCHIVE_ONE_DAY)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidParameter", "only FIFO topics archive");

    let fifo =
        sns.create_topic().name("events.fifo").attributes("FifoTopic", "true").send().await.unwrap().topic_arn.unwrap();
    for bad in [r#"{"MessageRetentionPeriod":"0"}"#, r#"{"MessageRetentionPeriod":"366"}"#, "not json"] {
        let error = sns
            .set_topic_attributes()
            .topic_arn(&fifo)
            .attribute_name("ArchivePolicy")
            .attribute_value(bad)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&error), "InvalidParameter", "{bad}");
    }
    let (_, queue_arn) = fifo_queue(&server, "q.fifo").await;
    let policy = format!(r#"{{"PointType":"Timestamp","StartingPoint":"{}"}}"#, iso(START_MS));
    let error = sns
        .subscribe()
        .topic_arn(&fifo)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .attributes("ReplayPolicy", &policy)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidParameter", "no archive, nothing to replay");

    // Archiving on, then off: the archive goes with the policy.
    let archives = |server: &TestServer| {
        server
            .server
            .engine()
            .expect("serving")
            .all_queues()
            .iter()
            .filter(|queue| queue.name.ends_with("-archive"))
            .count()
    };
    sns.set_topic_attributes()
        .topic_arn(&fifo)
        .attribute_name("ArchivePolicy")
        .attribute_value(ARCHIVE_ONE_DAY)
        .send()
        .await
        .unwrap();
    assert_eq!(archives(&server), 1);
    sns.set_topic_attributes()
        .topic_arn(&fifo)
        .attribute_name("ArchivePolicy")
        .attribute_value("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(archives(&server), 0);
    let attributes = sns.get_topic_attributes().topic_arn(&fifo).send().await.unwrap();
    assert!(!attributes.attributes().unwrap().contains_key("BeginningArchiveTime"));
}
