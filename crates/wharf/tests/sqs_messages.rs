//! Sending, receiving, visibility, delays, long polls, dead-lettering and retention through
//! aws-sdk-sqs. Time moves on a manual clock.

mod common;

use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, MessageAttributeValue,
    MessageSystemAttributeName, MessageSystemAttributeNameForSends, MessageSystemAttributeValue, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use common::{code, md5_hex, TestServer, ACCOUNT};
use std::time::Duration;

fn string_attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder().data_type("String").string_value(value).build().unwrap()
}

async fn count(server: &TestServer, url: &str, name: QueueAttributeName) -> u64 {
    let got = server.client().get_queue_attributes().queue_url(url).attribute_names(name.clone()).send().await.unwrap();
    got.attributes().unwrap()[&name].parse().unwrap()
}

#[tokio::test]
async fn send_receive_delete_with_digests() {
    let server = TestServer::start_manual().await;
    let client = server.client();
    let url = server.create("basic").await;
    let sent = client
        .send_message()
        .queue_url(&url)
        .message_body("hello wharf")
        .message_attributes("attribName1", string_attribute("attribValue 1"))
        .message_attributes(
            "customNumberTypeAttrib",
            MessageAttributeValue::builder()
                .data_type("Number.float")
                .string_value("4563442423554324324264524243.32543234")
                .build()
                .unwrap(),
        )
        .message_attributes(
            "binaryAttribute",
            MessageAttributeValue::builder()
                .data_type("Binary")
                .binary_value(Blob::new("Hello binary world!"))
                .build()
                .unwrap(),
        )
        .message_system_attributes(
            MessageSystemAttributeNameForSends::AwsTraceHeader,
            MessageSystemAttributeValue::builder()
                .data_type("String")
                .string_value("Root=1-5759e988-bd862e3fe1be46a994272793")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(sent.md5_of_message_body(), Some(md5_hex(b"hello wharf").as_str()));
    assert_eq!(sent.md5_of_message_attributes(), Some("c932db14a896c663f83c260297d594ff"));
    assert!(sent.md5_of_message_system_attributes().is_some());
    assert_eq!(count(&server, &url, QueueAttributeName::ApproximateNumberOfMessages).await, 1);

    let received = client
        .receive_message()
        .queue_url(&url)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let message = &received.messages()[0];
    assert_eq!(message.message_id(), sent.message_id());
    assert_eq!(message.body(), Some("hello wharf"));
    assert_eq!(message.md5_of_body(), Some(md5_hex(b"hello wharf").as_str()));
    assert_eq!(message.md5_of_message_attributes(), Some("c932db14a896c663f83c260297d594ff"));
    let attributes = message.message_attributes().unwrap();
    assert_eq!(attributes["binaryAttribute"].binary_value().unwrap().as_ref(), b"Hello binary world!");
    assert_eq!(attributes["customNumberTypeAttrib"].data_type(), "Number.float");
    let system = message.attributes().unwrap();
    assert_eq!(system[&MessageSystemAttributeName::ApproximateReceiveCount], "1");
    assert_eq!(system[&MessageSystemAttributeName::SentTimestamp], common::START_MS.to_string());
    assert_eq!(system[&MessageSystemAttributeName::AwsTraceHeader], "Root=1-5759e988-bd862e3fe1be46a994272793");
    assert!(system.contains_key(&MessageSystemAttributeName::SenderId));
    assert_eq!(count(&server, &url, QueueAttributeName::ApproximateNumberOfMessagesNotVisible).await, 1);

    client.delete_message().queue_url(&url).receipt_handle(message.receipt_handle().unwrap()).send().await.unwrap();
    // Deleting again succeeds, as on AWS.
    client.delete_message().queue_url(&url).receipt_handle(message.receipt_handle().unwrap()).send().await.unwrap();
    assert_eq!(count(&server, &url, QueueAttributeName::ApproximateNumberOfMessagesNotVisible).await, 0);
    server.advance_secs(31);
    assert!(client.receive_message().queue_url(&url).send().await.unwrap().messages().is_empty());
}

#[tokio::test]
async fn message_attribute_name_filters_select_and_digest_what_is_returned() {
    let server = TestServer::start().await;
    let client = server.client();
    let url = server.create("filters").await;
    client
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_attributes("attribName1", string_attribute("attribValue 1"))
        .message_attributes("other.one", string_attribute("1"))
        .send()
        .await
        .unwrap();
    let received = client
        .receive_message()
        .queue_url(&url)
        .message_attribute_names("attribName1")
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let message = &received.messages()[0];
    assert_eq!(message.message_attributes().unwrap().len(), 1);
    assert_eq!(message.md5_of_message_attributes(), Some("19e27d4e946b072f3f58da80d94fd778"));
    let received = client
        .receive_message()
        .queue_url(&url)
        .message_attribute_names("other.*")
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    assert_eq!(received.messages()[0].message_attributes().unwrap().keys().collect::<Vec<_>>(), vec!["other.one"]);
    let received = client.receive_message().queue_url(&url).send().await.unwrap();
    assert!(received.messages()[0].message_attributes().is_none());
    assert!(received.messages()[0].md5_of_message_attributes().is_none());
    assert!(received.messages()[0].attributes().is_none());
}

#[tokio::test]
async fn invalid_messages_get_aws_errors() {
    let server = TestServer::start().await;
    let client = server.client();
    let url = server.create("invalid").await;
    let error = client.send_message().queue_url(&url).message_body("bad \u{1} char").send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidMessageContents");
    let error = client.send_message().queue_url(&url).message_body("x".repeat(1_048_577)).send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidParameterValue");
    client.send_message().queue_url(&url).message_body("x".repeat(1_048_576)).send().await.unwrap();
    let error = client.send_message().queue_url(&url).message_body("x").delay_seconds(901).send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidParameterValue");
    let error = client
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_attributes("AWS.reserved", string_attribute("v"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidParameterValue");
    let error = client
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_attributes(
            "n",
            MessageAttributeValue::builder().data_type("Number").string_value("twelve").build().unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidParameterValue");
    client
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::MaximumMessageSize, "1024")
        .send()
        .await
        .unwrap();
    let error = client.send_message().queue_url(&url).message_body("x".repeat(1025)).send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidParameterValue");
    let error = client.receive_message().queue_url(&url).max_number_of_messages(11).send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidParameterValue");
    let error = client.receive_message().queue_url(&url).wait_time_seconds(21).send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidParameterValue");
    let error = client.delete_message().queue_url(&url).receipt_handle("forged-handle").send().await.unwrap_err();
    assert_eq!(code(&error), "ReceiptHandleIsInvalid");
    let error = client.send_message().queue_url(server.url("missing")).message_body("x").send().await.unwrap_err();
    assert!(error.into_service_error().is_queue_does_not_exist());
}

#[tokio::test]
async fn batches_report_per_entry_results_and_enforce_rules() {
    let server = TestServer::start().await;
    let client = server.client();
    let url = server.create("batches").await;
    let entry =
        |id: &str, body: &str| SendMessageBatchRequestEntry::builder().id(id).message_body(body).build().unwrap();
    let sent = client
        .send_message_batch()
        .queue_url(&url)
        .entries(entry("a", "one"))
        .entries(entry("b", "bad \u{1}"))
        .entries(entry("c", "three"))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.successful().iter().map(|ok| ok.id()).collect::<Vec<_>>(), vec!["a", "c"]);
    assert_eq!(sent.successful()[0].md5_of_message_body(), md5_hex(b"one"));
    assert_eq!(sent.failed().len(), 1);
    assert_eq!(
        (sent.failed()[0].id(), sent.failed()[0].code(), sent.failed()[0].sender_fault()),
        ("b", "InvalidMessageContents", true)
    );

    let error = client
        .send_message_batch()
        .queue_url(&url)
        .entries(entry("a", "x"))
        .entries(entry("a", "y"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "AWS.SimpleQueueService.BatchEntryIdsNotDistinct");
    let error = client.send_message_batch().queue_url(&url).entries(entry("bad id!", "x")).send().await.unwrap_err();
    assert_eq!(code(&error), "AWS.SimpleQueueService.InvalidBatchEntryId");
    let mut eleven = client.send_message_batch().queue_url(&url);
    for index in 0..11 {
        eleven = eleven.entries(entry(&format!("e{index}"), "x"));
    }
    assert_eq!(code(&eleven.send().await.unwrap_err()), "AWS.SimpleQueueService.TooManyEntriesInBatchRequest");
    let error = client.send_message_batch().queue_url(&url).set_entries(Some(vec![])).send().await.unwrap_err();
    assert_eq!(code(&error), "AWS.SimpleQueueService.EmptyBatchRequest");
    let error = client
        .send_message_batch()
        .queue_url(&url)
        .entries(entry("big1", &"x".repeat(600_000)))
        .entries(entry("big2", &"x".repeat(600_000)))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "AWS.SimpleQueueService.BatchRequestTooLong");

    let received = client.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    assert_eq!(received.messages().len(), 2);
    let mut change = client.change_message_visibility_batch().queue_url(&url);
    let mut delete = client.delete_message_batch().queue_url(&url);
    for (index, message) in received.messages().iter().enumerate() {
        let handle = message.receipt_handle().unwrap();
        change = change.entries(
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id(format!("m{index}"))
                .receipt_handle(handle)
                .visibility_timeout(60)
                .build()
                .unwrap(),
        );
        delete = delete.entries(
            DeleteMessageBatchRequestEntry::builder().id(format!("m{index}")).receipt_handle(handle).build().unwrap(),
        );
    }
    change = change.entries(
        ChangeMessageVisibilityBatchRequestEntry::builder()
            .id("forged")
            .receipt_handle("nope")
            .visibility_timeout(1)
            .build()
            .unwrap(),
    );
    delete =
        delete.entries(DeleteMessageBatchRequestEntry::builder().id("forged").receipt_handle("nope").build().unwrap());
    let changed = change.send().await.unwrap();
    assert_eq!(changed.successful().len(), 2);
    assert_eq!(changed.failed()[0].code(), "ReceiptHandleIsInvalid");
    let deleted = delete.send().await.unwrap();
    assert_eq!(deleted.successful().len(), 2);
    assert_eq!(deleted.failed()[0].id(), "forged");
    assert_eq!(count(&server, &url, QueueAttributeName::ApproximateNumberOfMessagesNotVisible).await, 0);
}

#[tokio::test]
async fn visibility_timeout_expiry_and_changes() {
    let server = TestServer::start_manual().await;
    let client = server.client();
    let url = server.create("visibility").await;
    client.send_message().queue_url(&url).message_body("m").send().await.unwrap();
    let first = client.receive_message().queue_url(&url).visibility_timeout(10).send().await.unwrap();
    let handle = first.messages()[0].receipt_handle().unwrap().to_string();
    server.advance_secs(9);
    assert!(client.receive_message().queue_url(&url).send().await.unwrap().messages().is_empty());
    server.advance_secs(1);
    let second = client
        .receive_message()
        .queue_url(&url)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let message = &second.messages()[0];
    assert_eq!(message.attributes().unwrap()[&MessageSystemAttributeName::ApproximateReceiveCount], "2");
    assert_eq!(
        message.attributes().unwrap()[&MessageSystemAttributeName::ApproximateFirstReceiveTimestamp],
        common::START_MS.to_string()
    );
    // The first receive's handle no longer governs the message.
    let error = client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(&handle)
        .visibility_timeout(5)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidParameterValue");
    let current = message.receipt_handle().unwrap();
    client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(current)
        .visibility_timeout(100)
        .send()
        .await
        .unwrap();
    server.advance_secs(99);
    assert!(client.receive_message().queue_url(&url).send().await.unwrap().messages().is_empty());
    client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(current)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let third = client.receive_message().queue_url(&url).visibility_timeout(1000).send().await.unwrap();
    assert_eq!(third.messages().len(), 1);
    // Twelve hours from the receive is the most a lease can last.
    let handle = third.messages()[0].receipt_handle().unwrap();
    server.advance_secs(100);
    let error = client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(handle)
        .visibility_timeout(43_200)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidParameterValue");
    client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(handle)
        .visibility_timeout(43_100)
        .send()
        .await
        .unwrap();
    server.advance_secs(43_100);
    let released = client.receive_message().queue_url(&url).send().await.unwrap();
    let error = client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(released.messages()[0].receipt_handle().unwrap())
        .visibility_timeout(0)
        .send()
        .await;
    assert!(error.is_ok());
    let error = client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(released.messages()[0].receipt_handle().unwrap())
        .visibility_timeout(10)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "AWS.SimpleQueueService.MessageNotInflight");
}

#[tokio::test]
async fn queue_and_message_delays() {
    let server = TestServer::start_manual().await;
    let client = server.client();
    let url = client
        .create_queue()
        .queue_name("delayed")
        .attributes(QueueAttributeName::DelaySeconds, "20")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    client.send_message().queue_url(&url).message_body("queue delay").send().await.unwrap();
    client.send_message().queue_url(&url).message_body("own delay").delay_seconds(5).send().await.unwrap();
    assert_eq!(count(&server, &url, QueueAttributeName::ApproximateNumberOfMessagesDelayed).await, 2);
    server.advance_secs(5);
    let received = client.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    assert_eq!(received.messages().iter().map(|m| m.body().unwrap()).collect::<Vec<_>>(), vec!["own delay"]);
    server.advance_secs(15);
    let received = client.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    assert_eq!(received.messages()[0].body(), Some("queue delay"));
}

#[tokio::test]
async fn long_poll_returns_as_soon_as_a_message_arrives() {
    let server = TestServer::start().await;
    let client = server.client();
    let url = server.create("long-poll").await;
    let waiting = {
        let client = client.clone();
        let url = url.clone();
        tokio::spawn(async move { client.receive_message().queue_url(&url).wait_time_seconds(20).send().await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    client.send_message().queue_url(&url).message_body("wake up").send().await.unwrap();
    // Well under the 20-second wait: the receive was woken by the send.
    let received = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("woken before its wait ended")
        .unwrap()
        .unwrap();
    assert_eq!(received.messages()[0].body(), Some("wake up"));
}

#[tokio::test]
async fn long_poll_uses_the_queue_wait_time_and_sees_delayed_messages() {
    let server = TestServer::start_manual().await;
    let client = server.client();
    let url = client
        .create_queue()
        .queue_name("queue-wait")
        .attributes(QueueAttributeName::ReceiveMessageWaitTimeSeconds, "20")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    client.send_message().queue_url(&url).message_body("soon").delay_seconds(3).send().await.unwrap();
    let waiting = {
        let client = client.clone();
        let url = url.clone();
        tokio::spawn(async move { client.receive_message().queue_url(&url).send().await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "the queue's wait time applies when the request has none");
    server.advance_secs(3);
    let received = tokio::time::timeout(Duration::from_secs(10), waiting).await.unwrap().unwrap().unwrap();
    assert_eq!(received.messages()[0].body(), Some("soon"));
    // With the clock past the wait time and nothing to deliver, a long poll ends empty.
    let empty = {
        let client = client.clone();
        let url = url.clone();
        tokio::spawn(async move { client.receive_message().queue_url(&url).wait_time_seconds(2).send().await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.advance_secs(2);
    let received = tokio::time::timeout(Duration::from_secs(10), empty).await.unwrap().unwrap().unwrap();
    assert!(received.messages().is_empty());
}

#[tokio::test]
async fn dead_letter_queue_receives_after_max_receive_count() {
    let server = TestServer::start_manual().await;
    let client = server.client();
    let dlq = server.create("poison-dlq").await;
    let policy =
        format!(r#"{{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:{ACCOUNT}:poison-dlq","maxReceiveCount":2}}"#);
    let source = client
        .create_queue()
        .queue_name("poison")
        .attributes(QueueAttributeName::RedrivePolicy, policy)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let sent = client.send_message().queue_url(&source).message_body("poison pill").send().await.unwrap();
    for _ in 0..2 {
        let received = client.receive_message().queue_url(&source).visibility_timeout(0).send().await.unwrap();
        assert_eq!(received.messages().len(), 1);
    }
    assert!(client.receive_message().queue_url(&source).send().await.unwrap().messages().is_empty());
    let moved = client
        .receive_message()
        .queue_url(&dlq)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let message = &moved.messages()[0];
    assert_eq!(message.message_id(), sent.message_id());
    assert_eq!(message.body(), Some("poison pill"));
    assert_eq!(
        message.attributes().unwrap()[&MessageSystemAttributeName::DeadLetterQueueSourceArn],
        format!("arn:aws:sqs:us-east-1:{ACCOUNT}:poison")
    );
}

#[tokio::test]
async fn retention_expires_messages() {
    let server = TestServer::start_manual().await;
    let client = server.client();
    let url = client
        .create_queue()
        .queue_name("short")
        .attributes(QueueAttributeName::MessageRetentionPeriod, "60")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    client.send_message().queue_url(&url).message_body("old").send().await.unwrap();
    server.advance_secs(30);
    client.send_message().queue_url(&url).message_body("new").send().await.unwrap();
    server.advance_secs(30);
    let received = client.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    assert_eq!(received.messages().iter().map(|m| m.body().unwrap()).collect::<Vec<_>>(), vec!["new"]);
}

#[tokio::test]
async fn purge_deletes_everything_once_a_minute() {
    let server = TestServer::start_manual().await;
    let client = server.client();
    let url = server.create("purge").await;
    for index in 0..5 {
        client.send_message().queue_url(&url).message_body(format!("m{index}")).send().await.unwrap();
    }
    client.receive_message().queue_url(&url).send().await.unwrap();
    client.purge_queue().queue_url(&url).send().await.unwrap();
    assert_eq!(count(&server, &url, QueueAttributeName::ApproximateNumberOfMessages).await, 0);
    assert_eq!(count(&server, &url, QueueAttributeName::ApproximateNumberOfMessagesNotVisible).await, 0);
    let error = client.purge_queue().queue_url(&url).send().await.unwrap_err();
    assert_eq!(code(&error), "AWS.SimpleQueueService.PurgeQueueInProgress");
    server.advance_secs(60);
    client.purge_queue().queue_url(&url).send().await.unwrap();
    client.send_message().queue_url(&url).message_body("after").send().await.unwrap();
    assert_eq!(count(&server, &url, QueueAttributeName::ApproximateNumberOfMessages).await, 1);
}

#[tokio::test]
async fn standard_queues_keep_a_message_group_id() {
    let server = TestServer::start().await;
    let client = server.client();
    let url = server.create("fair").await;
    client.send_message().queue_url(&url).message_body("x").message_group_id("tenant-1").send().await.unwrap();
    let received = client
        .receive_message()
        .queue_url(&url)
        .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
        .send()
        .await
        .unwrap();
    assert_eq!(received.messages()[0].attributes().unwrap()[&MessageSystemAttributeName::MessageGroupId], "tenant-1");
    let error =
        client.send_message().queue_url(&url).message_body("x").message_group_id("bad group").send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidParameterValue");
    let error =
        client.send_message().queue_url(&url).message_body("x").message_deduplication_id("d").send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidParameterValue");
}
