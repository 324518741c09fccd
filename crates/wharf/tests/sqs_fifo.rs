//! FIFO queues and fair queues through aws-sdk-sqs: naming and attributes, group order and
//! locking, the deduplication window (on an injected clock), sequence numbers, receive attempts,
//! dead-letter redrive in group order, and state that must survive a restart.

mod common;

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry};
use common::{code, config, queue_attributes, TestServer};

const WINDOW_SECS: u64 = 300;

async fn create_fifo(server: &TestServer, name: &str, extra: &[(QueueAttributeName, &str)]) -> String {
    let mut request = server.client().create_queue().queue_name(name).attributes(QueueAttributeName::FifoQueue, "true");
    for (key, value) in extra {
        request = request.attributes(key.clone(), *value);
    }
    request.send().await.expect("create fifo queue").queue_url.expect("url")
}

/// Sends one message; returns (message id, sequence number).
async fn send(
    client: &aws_sdk_sqs::Client,
    url: &str,
    group: &str,
    dedup: Option<&str>,
    body: &str,
) -> (String, String) {
    let sent = client
        .send_message()
        .queue_url(url)
        .message_body(body)
        .message_group_id(group)
        .set_message_deduplication_id(dedup.map(str::to_string))
        .send()
        .await
        .expect("send");
    (sent.message_id.expect("id"), sent.sequence_number.expect("sequence number"))
}

/// Receives up to `max` messages without waiting; returns (body, receipt handle).
async fn receive(client: &aws_sdk_sqs::Client, url: &str, max: i32) -> Vec<(String, String)> {
    let received = client.receive_message().queue_url(url).max_number_of_messages(max).send().await.expect("receive");
    received
        .messages()
        .iter()
        .map(|m| (m.body().unwrap().to_string(), m.receipt_handle().unwrap().to_string()))
        .collect()
}

fn bodies(messages: &[(String, String)]) -> Vec<&str> {
    messages.iter().map(|(body, _)| body.as_str()).collect()
}

#[tokio::test]
async fn fifo_names_and_attributes_follow_aws_rules() {
    let server = TestServer::start().await;
    let client = server.client();
    let url = create_fifo(&server, "orders.fifo", &[]).await;
    let attributes = queue_attributes(&client, &url).await;
    assert_eq!(attributes.get(&QueueAttributeName::FifoQueue).map(String::as_str), Some("true"));
    assert_eq!(attributes.get(&QueueAttributeName::ContentBasedDeduplication).map(String::as_str), Some("false"));
    assert_eq!(attributes.get(&QueueAttributeName::DeduplicationScope).map(String::as_str), Some("queue"));
    assert_eq!(attributes.get(&QueueAttributeName::FifoThroughputLimit).map(String::as_str), Some("perQueue"));

    let standard = server.create("plain").await;
    let attributes = queue_attributes(&client, &standard).await;
    for name in ["FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"] {
        assert!(!attributes.contains_key(&QueueAttributeName::from(name)), "{name} on a standard queue");
    }

    for (name, fifo) in [("a.fifo", None), ("b", Some("true")), ("c.fifo", Some("false"))] {
        let error = client
            .create_queue()
            .queue_name(name)
            .set_attributes(fifo.map(|value| [(QueueAttributeName::FifoQueue, value.to_string())].into()))
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&error), "InvalidParameterValue", "{name}");
    }
    let error = client
        .create_queue()
        .queue_name("d")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "true")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidAttributeName");
    for (key, value) in [
        (QueueAttributeName::DeduplicationScope, "group"),
        (QueueAttributeName::FifoThroughputLimit, "perGroup"),
        (QueueAttributeName::FifoThroughputLimit, "perMessageGroupId"),
    ] {
        let error = client
            .create_queue()
            .queue_name("e.fifo")
            .attributes(QueueAttributeName::FifoQueue, "true")
            .attributes(key.clone(), value)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&error), "InvalidAttributeValue", "{key}={value}");
    }

    let high = create_fifo(
        &server,
        "high.fifo",
        &[
            (QueueAttributeName::DeduplicationScope, "messageGroup"),
            (QueueAttributeName::FifoThroughputLimit, "perMessageGroupId"),
        ],
    )
    .await;
    assert_eq!(
        queue_attributes(&client, &high).await.get(&QueueAttributeName::FifoThroughputLimit).unwrap(),
        "perMessageGroupId"
    );
    client
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::ContentBasedDeduplication, "true")
        .attributes(QueueAttributeName::DeduplicationScope, "messageGroup")
        .send()
        .await
        .expect("set fifo attributes");
    let attributes = queue_attributes(&client, &url).await;
    assert_eq!(attributes.get(&QueueAttributeName::ContentBasedDeduplication).unwrap(), "true");
    assert_eq!(attributes.get(&QueueAttributeName::DeduplicationScope).unwrap(), "messageGroup");
    let error = client
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::FifoQueue, "false")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidAttributeName");
}

#[tokio::test]
async fn fifo_sends_need_a_group_and_a_deduplication_id_and_take_no_delay() {
    let server = TestServer::start().await;
    let client = server.client();
    let url = create_fifo(&server, "rules.fifo", &[]).await;
    let error = client.send_message().queue_url(&url).message_body("x").message_deduplication_id("d").send().await;
    assert_eq!(code(&error.unwrap_err()), "MissingParameter");
    let error = client.send_message().queue_url(&url).message_body("x").message_group_id("g").send().await;
    let error = error.unwrap_err();
    assert_eq!(code(&error), "InvalidParameterValue");
    assert!(format!("{:?}", error.into_service_error()).contains("ContentBasedDeduplication"));
    let error = client
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_group_id("g")
        .message_deduplication_id("d")
        .delay_seconds(5)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidParameterValue");
    let error = client
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_group_id("has space")
        .message_deduplication_id("d")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidParameterValue");

    let mut previous = 0u128;
    for index in 0..5 {
        let (_, sequence) = send(&client, &url, "g", Some(&format!("d{index}")), "x").await;
        assert_eq!(sequence.len(), 20, "{sequence}");
        let number: u128 = sequence.parse().unwrap();
        assert!(number > previous, "sequence numbers increase");
        previous = number;
    }
}

#[tokio::test]
async fn duplicates_within_the_window_return_the_original_and_are_not_delivered_again() {
    let server = TestServer::start_manual().await;
    let client = server.client();
    let url = create_fifo(&server, "dedup.fifo", &[]).await;
    let original = send(&client, &url, "g", Some("order-1"), "first").await;
    server.advance_secs(WINDOW_SECS - 1);
    assert_eq!(send(&client, &url, "g", Some("order-1"), "second").await, original);
    assert_eq!(send(&client, &url, "other", Some("order-1"), "third").await, original, "scope is the queue");

    let received = receive(&client, &url, 10).await;
    assert_eq!(bodies(&received), ["first"]);
    client.delete_message().queue_url(&url).receipt_handle(&received[0].1).send().await.unwrap();
    assert_eq!(send(&client, &url, "g", Some("order-1"), "after delete").await, original, "a delete keeps the id");

    server.advance_secs(1);
    let fresh = send(&client, &url, "g", Some("order-1"), "after the window").await;
    assert_ne!(fresh.0, original.0);
    assert!(fresh.1 > original.1);
    assert_eq!(bodies(&receive(&client, &url, 10).await), ["after the window"]);
}

#[tokio::test]
async fn content_based_and_per_group_deduplication() {
    let server = TestServer::start().await;
    let client = server.client();
    let url = create_fifo(
        &server,
        "content.fifo",
        &[
            (QueueAttributeName::ContentBasedDeduplication, "true"),
            (QueueAttributeName::DeduplicationScope, "messageGroup"),
        ],
    )
    .await;
    let first = send(&client, &url, "a", None, "same body").await;
    assert_eq!(send(&client, &url, "a", None, "same body").await, first);
    assert_ne!(send(&client, &url, "b", None, "same body").await, first, "another group has its own scope");
    assert_ne!(send(&client, &url, "a", None, "other body").await, first);

    let received = client
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let messages = received.messages();
    let order: Vec<&str> = messages.iter().map(|m| m.body().unwrap()).collect();
    assert_eq!(order, ["same body", "other body", "same body"], "group a's run, then group b");
    let attributes = messages[0].attributes().unwrap();
    assert_eq!(attributes.get(&MessageSystemAttributeName::MessageDeduplicationId).unwrap(), &sha256_hex(b"same body"));
    assert_eq!(attributes.get(&MessageSystemAttributeName::MessageGroupId).unwrap(), "a");
    assert_eq!(attributes.get(&MessageSystemAttributeName::SequenceNumber).unwrap(), &first.1);
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[tokio::test]
async fn a_group_with_a_message_in_flight_is_locked_and_others_flow() {
    let server = TestServer::start_manual().await;
    let client = server.client();
    let url = create_fifo(&server, "lock.fifo", &[(QueueAttributeName::VisibilityTimeout, "30")]).await;
    for (group, body) in [("A", "a1"), ("A", "a2"), ("B", "b1")] {
        send(&client, &url, group, Some(body), body).await;
    }
    let first = receive(&client, &url, 1).await;
    assert_eq!(bodies(&first), ["a1"]);
    assert_eq!(bodies(&receive(&client, &url, 10).await), ["b1"], "A is locked while a1 is in flight");
    assert!(receive(&client, &url, 10).await.is_empty());

    // Visibility 0 puts a1 back at the head of its group.
    client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(&first[0].1)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let again = receive(&client, &url, 1).await;
    assert_eq!(bodies(&again), ["a1"]);

    // So does the lease running out.
    server.advance_secs(30);
    let third = receive(&client, &url, 1).await;
    assert_eq!(bodies(&third), ["a1"]);

    // The old handle's lease ended: on a FIFO queue deleting with it is refused.
    let error = client.delete_message().queue_url(&url).receipt_handle(&again[0].1).send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidParameterValue");
    client.delete_message().queue_url(&url).receipt_handle(&third[0].1).send().await.unwrap();
    // b1's lease ran out with the clock too.
    assert_eq!(bodies(&receive(&client, &url, 10).await), ["a2", "b1"]);
}

#[tokio::test]
async fn order_holds_within_a_group_across_receives_and_batches() {
    let server = TestServer::start().await;
    let client = server.client();
    let url = create_fifo(&server, "order.fifo", &[]).await;
    let mut sequences = Vec::new();
    for batch in 0..2 {
        let entries = (0..10)
            .map(|index| {
                let n = batch * 10 + index;
                SendMessageBatchRequestEntry::builder()
                    .id(format!("e{index}"))
                    .message_body(format!("m{n:02}"))
                    .message_group_id("g")
                    .message_deduplication_id(format!("d{n}"))
                    .build()
                    .unwrap()
            })
            .collect();
        let sent = client.send_message_batch().queue_url(&url).set_entries(Some(entries)).send().await.unwrap();
        assert!(sent.failed().is_empty());
        sequences.extend(sent.successful().iter().map(|entry| entry.sequence_number().unwrap().to_string()));
    }
    let mut sorted = sequences.clone();
    sorted.sort();
    assert_eq!(sequences, sorted, "entry order is sequence order");

    let mut seen = Vec::new();
    while seen.len() < 20 {
        let received = receive(&client, &url, 10).await;
        assert!(!received.is_empty());
        for (body, handle) in received {
            seen.push(body);
            client.delete_message().queue_url(&url).receipt_handle(handle).send().await.unwrap();
        }
    }
    let expected: Vec<String> = (0..20).map(|n| format!("m{n:02}")).collect();
    assert_eq!(seen, expected);

    // Two entries of one batch with the same deduplication id: the second is the first.
    let entries = ["x", "y"]
        .iter()
        .map(|id| {
            SendMessageBatchRequestEntry::builder()
                .id(*id)
                .message_body("dup")
                .message_group_id("g")
                .message_deduplication_id("same")
                .build()
                .unwrap()
        })
        .collect();
    let sent = client.send_message_batch().queue_url(&url).set_entries(Some(entries)).send().await.unwrap();
    let ids: Vec<&str> = sent.successful().iter().map(|entry| entry.message_id()).collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0], ids[1]);
    assert_eq!(receive(&client, &url, 10).await.len(), 1);
}

#[tokio::test]
async fn a_retried_receive_attempt_gets_the_same_messages() {
    let server = TestServer::start_manual().await;
    let client = server.client();
    let url = create_fifo(&server, "attempt.fifo", &[]).await;
    for body in ["a1", "a2"] {
        send(&client, &url, "A", Some(body), body).await;
    }
    let attempt = |id: &str| {
        client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .receive_request_attempt_id(id)
    };
    let first = attempt("try-1").send().await.unwrap();
    assert_eq!(first.messages().len(), 2);
    server.advance_secs(20);
    let retried = attempt("try-1").send().await.unwrap();
    let handles = |output: &aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput| {
        output.messages().iter().map(|m| m.receipt_handle().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(handles(&retried), handles(&first));
    assert!(attempt("try-2").send().await.unwrap().messages().is_empty(), "the group is locked");
    // The retry renewed the lease: 20 s later it still holds.
    server.advance_secs(20);
    assert!(attempt("try-3").send().await.unwrap().messages().is_empty());

    // Once a message of the attempt is deleted, the attempt no longer replays.
    client.delete_message().queue_url(&url).receipt_handle(&handles(&first)[0]).send().await.unwrap();
    assert!(attempt("try-1").send().await.unwrap().messages().is_empty());
    let error = client.receive_message().queue_url(&url).receive_request_attempt_id("bad id").send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidParameterValue");
}

#[tokio::test]
async fn fifo_dead_letter_queues_are_fifo_and_keep_group_order() {
    let server = TestServer::start().await;
    let client = server.client();
    let dlq = create_fifo(&server, "dead.fifo", &[]).await;
    let standard_dlq = server.create("dead-standard").await;
    let arn = |url: &str| {
        let name = url.rsplit('/').next().unwrap().to_string();
        format!("arn:aws:sqs:us-east-1:000000000000:{name}")
    };
    let policy = |target: &str| format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":1}}"#, arn(target));
    let error = client
        .create_queue()
        .queue_name("src.fifo")
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::RedrivePolicy, policy(&standard_dlq))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidParameterValue");
    let error = client
        .create_queue()
        .queue_name("src-standard")
        .attributes(QueueAttributeName::RedrivePolicy, policy(&dlq))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidParameterValue");

    let source = create_fifo(&server, "src.fifo", &[(QueueAttributeName::RedrivePolicy, &policy(&dlq))]).await;
    for body in ["a1", "a2", "a3"] {
        send(&client, &source, "A", Some(body), body).await;
    }
    // Each message is received once and released; its next receive moves it to the DLQ.
    let received = client.receive_message().queue_url(&source).max_number_of_messages(10).send().await.unwrap();
    assert_eq!(received.messages().len(), 3);
    for message in received.messages() {
        client
            .change_message_visibility()
            .queue_url(&source)
            .receipt_handle(message.receipt_handle().unwrap())
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
    }
    assert!(receive(&client, &source, 10).await.is_empty());
    let moved = client
        .receive_message()
        .queue_url(&dlq)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let order: Vec<&str> = moved.messages().iter().map(|m| m.body().unwrap()).collect();
    assert_eq!(order, ["a1", "a2", "a3"]);
    let group = moved.messages()[0].attributes().unwrap().get(&MessageSystemAttributeName::MessageGroupId);
    assert_eq!(group.map(String::as_str), Some("A"));

    // A move task back to the source keeps the group's order too.
    for message in moved.messages() {
        let handle = message.receipt_handle().unwrap();
        client
            .change_message_visibility()
            .queue_url(&dlq)
            .receipt_handle(handle)
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
    }
    client.start_message_move_task().source_arn(arn(&dlq)).send().await.unwrap();
    let mut finished = false;
    for _ in 0..500 {
        let listed = client.list_message_move_tasks().source_arn(arn(&dlq)).send().await.unwrap();
        if listed.results().first().and_then(|task| task.status()) == Some("COMPLETED") {
            finished = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(finished, "the move task completes");
    let back = client.receive_message().queue_url(&source).max_number_of_messages(10).send().await.unwrap();
    let order: Vec<&str> = back.messages().iter().map(|m| m.body().unwrap()).collect();
    assert_eq!(order, ["a1", "a2", "a3"]);
}

#[tokio::test]
async fn fair_queues_serve_a_quiet_group_despite_a_noisy_backlog() {
    let server = TestServer::start().await;
    let client = server.client();
    let url = server.create("fair").await;
    let send_batch = |group: &'static str, from: usize, count: usize| {
        let entries = (from..from + count)
            .map(|n| {
                SendMessageBatchRequestEntry::builder()
                    .id(format!("e{n}"))
                    .message_body(format!("{group}-{n}"))
                    .message_group_id(group)
                    .build()
                    .unwrap()
            })
            .collect();
        client.send_message_batch().queue_url(&url).set_entries(Some(entries)).send()
    };
    for start in (0..200).step_by(10) {
        send_batch("noisy", start, 10).await.unwrap();
    }
    send_batch("quiet", 0, 5).await.unwrap();
    let error = client.send_message().queue_url(&url).message_body("x").message_deduplication_id("d").send().await;
    assert_eq!(code(&error.unwrap_err()), "InvalidParameterValue", "no deduplication on standard queues");

    let mut received = Vec::new();
    for _ in 0..2 {
        let output = client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .send()
            .await
            .unwrap();
        for message in output.messages() {
            let group = message.attributes().unwrap().get(&MessageSystemAttributeName::MessageGroupId).unwrap();
            assert!(message.body().unwrap().starts_with(group.as_str()));
            received.push(message.body().unwrap().to_string());
        }
    }
    let quiet = received.iter().filter(|body| body.starts_with("quiet")).count();
    assert_eq!(quiet, 5, "every quiet message within the first 20 received: {received:?}");
}

#[tokio::test]
async fn dedup_records_and_sequence_numbers_survive_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(wharf_domain::ManualClock::new(common::START_MS));
    let (original, url) = {
        let server = TestServer::start_with(config(Some(data.path().to_path_buf())), Some(clock.clone())).await;
        let client = server.client();
        let url = create_fifo(&server, "kept.fifo", &[]).await;
        let original = send(&client, &url, "g", Some("once"), "body").await;
        let received = receive(&client, &url, 1).await;
        client.delete_message().queue_url(&url).receipt_handle(&received[0].1).send().await.unwrap();
        server.server.shutdown().await.expect("clean shutdown");
        (original, url.rsplit('/').next().unwrap().to_string())
    };
    clock.advance_ms(60_000);
    let server = TestServer::start_with(config(Some(data.path().to_path_buf())), Some(clock.clone())).await;
    let client = server.client();
    let url = server.url(&url);
    assert_eq!(send(&client, &url, "g", Some("once"), "body").await, original, "still a duplicate after restart");
    assert!(receive(&client, &url, 1).await.is_empty());
    let next = send(&client, &url, "g", Some("twice"), "body").await;
    assert!(next.1 > original.1, "numbers keep increasing though the queue was empty: {next:?} {original:?}");
    clock.advance_ms(WINDOW_SECS * 1000);
    let after = send(&client, &url, "g", Some("once"), "body").await;
    assert_ne!(after.0, original.0, "the window ended");
}
