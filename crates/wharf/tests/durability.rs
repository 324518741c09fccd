//! What survives a clean restart on the embedded engine: queues with their attributes, tags and
//! redrive policies, messages with their identity and attributes, receive counts, and queues
//! declared in the config file (re-provisioned idempotently).
//!
//! The in-process tests stop the server with `Server::shutdown` (what SIGTERM does) and start a
//! new one on the same data directory; the config-file test runs the real binary.

mod common;

use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use common::{
    code, config, md5_hex, queue_attributes, queue_tags, TestServer, WharfProcess, ACCOUNT, HANG_TIMEOUT, START_MS,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wharf::Server;
use wharf_domain::{Clock, ManualClock, SystemClock};

/// Starts a server on `dir`, waiting while the data directory's lock is still held: another test
/// in this process that starts the real binary forks, and until the child execs it shares the
/// previous server's lock-file descriptor (see tests/shutdown_release.rs, which runs alone). Any
/// other startup error fails the test.
async fn start(dir: &Path, clock: Option<Arc<ManualClock>>) -> TestServer {
    let deadline = Instant::now() + HANG_TIMEOUT;
    loop {
        let engine_clock: Arc<dyn Clock> = match &clock {
            Some(manual) => manual.clone(),
            None => Arc::new(SystemClock),
        };
        match Server::start_with_clock(config(Some(dir.to_path_buf())), engine_clock).await {
            Ok(server) => {
                let endpoint = format!("http://{}", server.local_addr);
                return TestServer { server, clock, endpoint };
            }
            Err(error) if format!("{error:#}").contains("already in use") && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(error) => panic!("server starts: {error:#}"),
        }
    }
}

/// Stops the server the way SIGTERM does and starts a new one on the same directory and clock.
async fn restart(server: TestServer, dir: &Path) -> TestServer {
    let TestServer { server, clock, .. } = server;
    server.shutdown().await.expect("clean shutdown");
    start(dir, clock).await
}

fn receive_count(message: &aws_sdk_sqs::types::Message) -> String {
    message.attributes().unwrap()[&MessageSystemAttributeName::ApproximateReceiveCount].clone()
}

#[tokio::test]
async fn queues_attributes_tags_and_redrive_policies_survive_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), None).await;
    let client = server.client();
    let dlq = server.create("orders-dlq").await;
    let dlq_arn = queue_attributes(&server.client(), &dlq).await[&QueueAttributeName::QueueArn].clone();
    let redrive = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"4"}}"#);
    let url = client
        .create_queue()
        .queue_name("orders")
        .attributes(QueueAttributeName::VisibilityTimeout, "45")
        .attributes(QueueAttributeName::DelaySeconds, "2")
        .attributes(QueueAttributeName::MaximumMessageSize, "2048")
        .attributes(QueueAttributeName::MessageRetentionPeriod, "3600")
        .attributes(QueueAttributeName::ReceiveMessageWaitTimeSeconds, "3")
        .attributes(QueueAttributeName::RedrivePolicy, &redrive)
        .tags("team", "wharf")
        .tags("cost-center", "42")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    client
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::DelaySeconds, "5")
        .send()
        .await
        .unwrap();
    client.tag_queue().queue_url(&url).tags("env", "test").send().await.unwrap();
    client.untag_queue().queue_url(&url).tag_keys("cost-center").send().await.unwrap();
    let gone = server.create("short-lived").await;
    client.delete_queue().queue_url(&gone).send().await.unwrap();
    let before = queue_attributes(&server.client(), &url).await;
    assert_eq!(before[&QueueAttributeName::DelaySeconds], "5");

    let server = restart(server, dir.path()).await;
    let client = server.client();
    let listed = client.list_queues().send().await.unwrap();
    assert_eq!(listed.queue_urls(), &[server.url("orders"), server.url("orders-dlq")]);
    let url = server.url("orders");
    assert_eq!(queue_attributes(&server.client(), &url).await, before);
    let after = queue_attributes(&server.client(), &url).await;
    let policy: serde_json::Value = serde_json::from_str(&after[&QueueAttributeName::RedrivePolicy]).unwrap();
    assert_eq!(policy["deadLetterTargetArn"], dlq_arn.as_str());
    assert_eq!(policy["maxReceiveCount"].to_string().trim_matches('"'), "4");
    assert_eq!(
        queue_tags(&server.client(), &url).await,
        BTreeMap::from([("env".to_string(), "test".to_string()), ("team".to_string(), "wharf".to_string())])
    );
    let sources = client.list_dead_letter_source_queues().queue_url(server.url("orders-dlq")).send().await.unwrap();
    assert_eq!(sources.queue_urls(), std::slice::from_ref(&url));
    let error = client.get_queue_url().queue_name("short-lived").send().await.unwrap_err();
    assert_eq!(code(&error), "AWS.SimpleQueueService.NonExistentQueue");

    // A second restart changes nothing either.
    let server = restart(server, dir.path()).await;
    assert_eq!(queue_attributes(&server.client(), &server.url("orders")).await, before);
    server.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn receive_counts_survive_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), Some(Arc::new(ManualClock::new(START_MS)))).await;
    let client = server.client();
    let url = server.create("counted").await;
    let sent = client.send_message().queue_url(&url).message_body("count me").send().await.unwrap();
    let receive = |client: aws_sdk_sqs::Client, url: String| async move {
        client
            .receive_message()
            .queue_url(url)
            .visibility_timeout(30)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap()
    };
    let first = receive(client.clone(), url.clone()).await;
    assert_eq!(receive_count(&first.messages()[0]), "1");
    let first_receive_ms = first.messages()[0].attributes().unwrap()
        [&MessageSystemAttributeName::ApproximateFirstReceiveTimestamp]
        .clone();
    server.advance_secs(31);
    let second = receive(client.clone(), url.clone()).await;
    assert_eq!(receive_count(&second.messages()[0]), "2");

    // Still leased at shutdown; leases are not durable, so it is visible again at once.
    server.advance_secs(1);
    let server = restart(server, dir.path()).await;
    let client = server.client();
    let third = receive(client.clone(), url.clone()).await;
    let message = &third.messages()[0];
    assert_eq!(message.message_id(), sent.message_id());
    assert_eq!(message.body(), Some("count me"));
    assert_eq!(receive_count(message), "3");
    assert_eq!(
        message.attributes().unwrap()[&MessageSystemAttributeName::ApproximateFirstReceiveTimestamp],
        first_receive_ms
    );
    assert_eq!(message.attributes().unwrap()[&MessageSystemAttributeName::SentTimestamp], START_MS.to_string());
    server.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn dead_lettering_counts_receives_from_before_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), Some(Arc::new(ManualClock::new(START_MS)))).await;
    let client = server.client();
    let dlq = server.create("poison-dlq").await;
    let dlq_arn = queue_attributes(&server.client(), &dlq).await[&QueueAttributeName::QueueArn].clone();
    let url = client
        .create_queue()
        .queue_name("poison")
        .attributes(
            QueueAttributeName::RedrivePolicy,
            format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"2"}}"#),
        )
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let sent = client.send_message().queue_url(&url).message_body("poison").send().await.unwrap();
    for _ in 0..2 {
        let received = client.receive_message().queue_url(&url).visibility_timeout(10).send().await.unwrap();
        assert_eq!(received.messages().len(), 1);
        server.advance_secs(11);
    }
    let server = restart(server, dir.path()).await;
    let client = server.client();
    // The third receive would exceed maxReceiveCount 2: the message moves to the DLQ instead.
    let received = client.receive_message().queue_url(&url).send().await.unwrap();
    assert!(received.messages().is_empty(), "a message received twice before the restart was delivered a third time");
    let moved = client.receive_message().queue_url(&dlq).send().await.unwrap();
    assert_eq!(moved.messages().len(), 1);
    assert_eq!(moved.messages()[0].message_id(), sent.message_id());
    assert_eq!(moved.messages()[0].body(), Some("poison"));
    server.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn messages_keep_identity_attributes_and_delays_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), Some(Arc::new(ManualClock::new(START_MS)))).await;
    let client = server.client();
    let url = server.create("kept").await;
    let sent = client
        .send_message()
        .queue_url(&url)
        .message_body("with attributes ✓")
        .message_attributes(
            "color",
            MessageAttributeValue::builder().data_type("String").string_value("blue").build().unwrap(),
        )
        .message_attributes(
            "blob",
            MessageAttributeValue::builder()
                .data_type("Binary")
                .binary_value(aws_sdk_sqs::primitives::Blob::new(vec![0u8, 1, 2, 255]))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let delayed = client.send_message().queue_url(&url).message_body("later").delay_seconds(600).send().await.unwrap();
    let deleted = client.send_message().queue_url(&url).message_body("deleted").send().await.unwrap();
    // Lease everything visible, delete one, leave the other in flight.
    let received = client.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    assert_eq!(received.messages().len(), 2);
    let to_delete = received.messages().iter().find(|m| m.message_id() == deleted.message_id()).unwrap();
    client.delete_message().queue_url(&url).receipt_handle(to_delete.receipt_handle().unwrap()).send().await.unwrap();

    let server = restart(server, dir.path()).await;
    let client = server.client();
    let counts = queue_attributes(&server.client(), &url).await;
    assert_eq!(counts[&QueueAttributeName::ApproximateNumberOfMessages], "1");
    assert_eq!(counts[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible], "0");
    assert_eq!(counts[&QueueAttributeName::ApproximateNumberOfMessagesDelayed], "1");
    let received = client
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    assert_eq!(received.messages().len(), 1);
    let message = &received.messages()[0];
    assert_eq!(message.message_id(), sent.message_id());
    assert_eq!(message.body(), Some("with attributes ✓"));
    assert_eq!(message.md5_of_body(), Some(md5_hex("with attributes ✓".as_bytes()).as_str()));
    assert_eq!(message.md5_of_message_attributes(), sent.md5_of_message_attributes());
    let attributes = message.message_attributes().unwrap();
    assert_eq!(attributes["color"].string_value(), Some("blue"));
    assert_eq!(attributes["blob"].binary_value().unwrap().as_ref(), &[0u8, 1, 2, 255]);
    assert_eq!(message.attributes().unwrap()[&MessageSystemAttributeName::SentTimestamp], START_MS.to_string());
    client.delete_message().queue_url(&url).receipt_handle(message.receipt_handle().unwrap()).send().await.unwrap();

    // The delay runs from the original send, not from the restart.
    server.advance_secs(599);
    assert!(client.receive_message().queue_url(&url).visibility_timeout(0).send().await.unwrap().messages().is_empty());
    server.advance_secs(1);
    let later = client.receive_message().queue_url(&url).send().await.unwrap();
    assert_eq!(later.messages()[0].message_id(), delayed.message_id());
    server.server.shutdown().await.unwrap();
}

/// On AWS a receipt handle names one message: using the handle of a message that was already
/// deleted never deletes a different message.
#[tokio::test]
async fn an_old_receipt_handle_does_not_delete_a_message_sent_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), None).await;
    let client = server.client();
    let url = server.create("handles").await;
    client.send_message().queue_url(&url).message_body("first").send().await.unwrap();
    client.send_message().queue_url(&url).message_body("second").send().await.unwrap();
    let received = client.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    let second = received.messages().iter().find(|m| m.body() == Some("second")).unwrap();
    let old_handle = second.receipt_handle().unwrap().to_string();
    client.delete_message().queue_url(&url).receipt_handle(&old_handle).send().await.unwrap();

    let server = restart(server, dir.path()).await;
    let client = server.client();
    let third = client.send_message().queue_url(&url).message_body("third").send().await.unwrap();
    // Deleting with the stale handle may succeed or be refused, but must not touch "third".
    if let Err(error) = client.delete_message().queue_url(&url).receipt_handle(&old_handle).send().await {
        assert_eq!(code(&error), "ReceiptHandleIsInvalid");
    }
    let received = client.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    let ids: Vec<&str> = received.messages().iter().filter_map(|m| m.message_id()).collect();
    assert!(ids.contains(&third.message_id().unwrap()), "the message sent after the restart was deleted");
    assert_eq!(received.messages().len(), 2);
    server.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn purged_messages_stay_purged_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), None).await;
    let client = server.client();
    let url = server.create("purged").await;
    for index in 0..5 {
        client.send_message().queue_url(&url).message_body(format!("old-{index}")).send().await.unwrap();
    }
    client.purge_queue().queue_url(&url).send().await.unwrap();
    let server = restart(server, dir.path()).await;
    let client = server.client();
    client.send_message().queue_url(&url).message_body("new").send().await.unwrap();
    let received = client.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    let bodies: Vec<&str> = received.messages().iter().filter_map(|m| m.body()).collect();
    assert_eq!(bodies, ["new"]);
    server.server.shutdown().await.unwrap();
}

const OTHER_ACCOUNT: &str = "111111111111";

fn write_config(path: &Path, data_dir: &Path) {
    // Users in both accounts, so each queue is reached by a caller of its own account.
    let text = format!(
        r#"
listen = "127.0.0.1:0"
data_dir = "{}"

[[auth.users]]
access_key_id = "AKIDDEFAULT"
secret_access_key = "default-secret"

[[auth.users]]
access_key_id = "AKIDOTHER"
secret_access_key = "other-secret"
account_id = "{OTHER_ACCOUNT}"

[[sqs.queues]]
name = "cfg-dlq"

[[sqs.queues]]
name = "cfg-main"
attributes = {{ VisibilityTimeout = "45", MessageRetentionPeriod = "7200", RedrivePolicy = '{{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:{ACCOUNT}:cfg-dlq","maxReceiveCount":"3"}}' }}
tags = {{ team = "wharf", tier = "gold" }}

[[sqs.queues]]
name = "cfg-other"
account_id = "{OTHER_ACCOUNT}"
attributes = {{ DelaySeconds = "7" }}

[[sqs.queues]]
name = "cfg-orders.fifo"
attributes = {{ FifoQueue = "true", ContentBasedDeduplication = "true" }}
"#,
        data_dir.display()
    );
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn queues_declared_in_the_config_file_exist_and_restarting_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config_path = dir.path().join("wharf.toml");
    write_config(&config_path, &data);
    let start = || WharfProcess::start(common::wharf_command(&["serve", "--config", config_path.to_str().unwrap()]));

    let mut process = start();
    let client = common::client(&process.endpoint, "AKIDDEFAULT", "default-secret");
    let other_client = common::client(&process.endpoint, "AKIDOTHER", "other-secret");
    let main = client.get_queue_url().queue_name("cfg-main").send().await.unwrap().queue_url.unwrap();
    assert_eq!(main, format!("{}/{ACCOUNT}/cfg-main", process.endpoint));
    let declared = queue_attributes(&client, &main).await;
    assert_eq!(declared[&QueueAttributeName::VisibilityTimeout], "45");
    assert_eq!(declared[&QueueAttributeName::MessageRetentionPeriod], "7200");
    let policy: serde_json::Value = serde_json::from_str(&declared[&QueueAttributeName::RedrivePolicy]).unwrap();
    assert_eq!(policy["deadLetterTargetArn"], format!("arn:aws:sqs:us-east-1:{ACCOUNT}:cfg-dlq"));
    let listed = client.list_queue_tags().queue_url(&main).send().await.unwrap();
    let listed_tags: BTreeMap<String, String> =
        listed.tags().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(
        listed_tags,
        BTreeMap::from([("team".to_string(), "wharf".to_string()), ("tier".to_string(), "gold".to_string())])
    );
    let other = other_client.get_queue_url().queue_name("cfg-other").send().await.unwrap().queue_url.unwrap();
    assert_eq!(other, format!("{}/{OTHER_ACCOUNT}/cfg-other", process.endpoint));
    let other_attributes = queue_attributes(&other_client, &other).await;
    assert_eq!(other_attributes[&QueueAttributeName::DelaySeconds], "7");
    assert_eq!(
        other_attributes[&QueueAttributeName::QueueArn],
        format!("arn:aws:sqs:us-east-1:{OTHER_ACCOUNT}:cfg-other")
    );
    let listed = client.list_queues().send().await.unwrap();
    assert_eq!(listed.queue_urls().len(), 3, "{:?}", listed.queue_urls());
    let orders = client.get_queue_url().queue_name("cfg-orders.fifo").send().await.unwrap().queue_url.unwrap();
    let orders_attributes = queue_attributes(&client, &orders).await;
    assert_eq!(orders_attributes[&QueueAttributeName::FifoQueue], "true");
    assert_eq!(orders_attributes[&QueueAttributeName::ContentBasedDeduplication], "true");
    for index in 0..3 {
        client.send_message().queue_url(&main).message_body(format!("kept-{index}")).send().await.unwrap();
    }
    process.stop().await;

    // Same config, same data: starts without error, nothing lost or changed.
    let mut process = start();
    let client = common::client(&process.endpoint, "AKIDDEFAULT", "default-secret");
    let other_client = common::client(&process.endpoint, "AKIDOTHER", "other-secret");
    let main = client.get_queue_url().queue_name("cfg-main").send().await.unwrap().queue_url.unwrap();
    let again = queue_attributes(&client, &main).await;
    for name in [
        QueueAttributeName::VisibilityTimeout,
        QueueAttributeName::MessageRetentionPeriod,
        QueueAttributeName::RedrivePolicy,
        QueueAttributeName::QueueArn,
        QueueAttributeName::CreatedTimestamp,
    ] {
        assert_eq!(again.get(&name), declared.get(&name), "attribute {name}");
    }
    assert_eq!(again[&QueueAttributeName::ApproximateNumberOfMessages], "3");
    let other = other_client.get_queue_url().queue_name("cfg-other").send().await.unwrap().queue_url.unwrap();
    assert_eq!(queue_attributes(&other_client, &other).await[&QueueAttributeName::DelaySeconds], "7");
    let listed = client.list_queues().send().await.unwrap();
    assert_eq!(listed.queue_urls().len(), 3, "{:?}", listed.queue_urls());
    let orders = client.get_queue_url().queue_name("cfg-orders.fifo").send().await.unwrap().queue_url.unwrap();
    let orders_attributes = queue_attributes(&client, &orders).await;
    assert_eq!(orders_attributes[&QueueAttributeName::FifoQueue], "true");
    assert_eq!(orders_attributes[&QueueAttributeName::ContentBasedDeduplication], "true");
    let received = client.receive_message().queue_url(&main).max_number_of_messages(10).send().await.unwrap();
    let mut bodies: Vec<&str> = received.messages().iter().filter_map(|m| m.body()).collect();
    bodies.sort();
    assert_eq!(bodies, ["kept-0", "kept-1", "kept-2"]);
    process.stop().await;
}
