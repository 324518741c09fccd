//! Message move tasks (dead-letter queue redrive) through aws-sdk-sqs.

mod common;

use aws_sdk_sqs::types::{ListMessageMoveTasksResultEntry, QueueAttributeName};
use common::{code, TestServer, ACCOUNT};
use std::time::Duration;

fn arn(name: &str) -> String {
    format!("arn:aws:sqs:us-east-1:{ACCOUNT}:{name}")
}

/// Creates `source` whose dead-letter queue is `dlq`, and dead-letters `count` messages.
async fn dead_letter(server: &TestServer, source: &str, dlq: &str, count: usize) -> (String, String) {
    let client = server.client();
    let dlq_url = server.create(dlq).await;
    let policy = format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":1}}"#, arn(dlq));
    let source_url = client
        .create_queue()
        .queue_name(source)
        .attributes(QueueAttributeName::RedrivePolicy, policy)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    for index in 0..count {
        client.send_message().queue_url(&source_url).message_body(format!("m{index}")).send().await.unwrap();
    }
    let mut received = 0;
    while received < count {
        let got = client
            .receive_message()
            .queue_url(&source_url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
        received += got.messages().len();
    }
    // The next receive finds every message past maxReceiveCount and dead-letters it.
    assert!(client
        .receive_message()
        .queue_url(&source_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages()
        .is_empty());
    assert_eq!(visible(server, &dlq_url).await, count as u64);
    (source_url, dlq_url)
}

async fn visible(server: &TestServer, url: &str) -> u64 {
    let name = QueueAttributeName::ApproximateNumberOfMessages;
    let got = server.client().get_queue_attributes().queue_url(url).attribute_names(name.clone()).send().await.unwrap();
    got.attributes().unwrap()[&name].parse().unwrap()
}

/// Waits (bounded) until the newest task of `source` satisfies `done`.
async fn wait_for_task(
    server: &TestServer,
    source: &str,
    done: impl Fn(&ListMessageMoveTasksResultEntry) -> bool,
) -> ListMessageMoveTasksResultEntry {
    for _ in 0..500 {
        let listed = server.client().list_message_move_tasks().source_arn(arn(source)).send().await.unwrap();
        if let Some(task) = listed.results().first().filter(|task| done(task)) {
            return task.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the move task never reached the expected state");
}

#[tokio::test]
async fn redrive_returns_messages_to_their_source_queue() {
    let server = TestServer::start().await;
    let client = server.client();
    let (source_url, dlq_url) = dead_letter(&server, "orders", "orders-dlq", 3).await;
    let started = client.start_message_move_task().source_arn(arn("orders-dlq")).send().await.unwrap();
    assert!(started.task_handle().is_some());
    let task = wait_for_task(&server, "orders-dlq", |task| task.status() == Some("COMPLETED")).await;
    assert_eq!(
        (task.approximate_number_of_messages_moved(), task.approximate_number_of_messages_to_move()),
        (3, Some(3))
    );
    assert_eq!(task.source_arn(), Some(arn("orders-dlq").as_str()));
    assert!(task.destination_arn().is_none());
    assert!(task.task_handle().is_none(), "only running tasks have a handle");
    assert!(task.started_timestamp() > 0);
    assert_eq!(visible(&server, &dlq_url).await, 0);
    let back = client
        .receive_message()
        .queue_url(&source_url)
        .max_number_of_messages(10)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let mut bodies: Vec<&str> = back.messages().iter().map(|message| message.body().unwrap()).collect();
    bodies.sort();
    assert_eq!(bodies, vec!["m0", "m1", "m2"]);
    let attributes = back.messages()[0].attributes().unwrap();
    assert!(!attributes.contains_key(&aws_sdk_sqs::types::MessageSystemAttributeName::DeadLetterQueueSourceArn));
}

#[tokio::test]
async fn rate_limited_task_to_a_destination_can_be_cancelled() {
    let server = TestServer::start_manual().await;
    let client = server.client();
    let (_, dlq_url) = dead_letter(&server, "payments", "payments-dlq", 3).await;
    let destination_url = server.create("payments-replay").await;
    let started = client
        .start_message_move_task()
        .source_arn(arn("payments-dlq"))
        .destination_arn(arn("payments-replay"))
        .max_number_of_messages_per_second(1)
        .send()
        .await
        .unwrap();
    let running = wait_for_task(&server, "payments-dlq", |task| task.approximate_number_of_messages_moved() == 1).await;
    assert_eq!(running.status(), Some("RUNNING"));
    assert_eq!(running.task_handle(), started.task_handle());
    assert_eq!(running.max_number_of_messages_per_second(), Some(1));
    assert_eq!(running.destination_arn(), Some(arn("payments-replay").as_str()));
    let again = client.start_message_move_task().source_arn(arn("payments-dlq")).send().await.unwrap_err();
    assert_eq!(code(&again), "InvalidParameterValue");

    server.advance_secs(1);
    wait_for_task(&server, "payments-dlq", |task| task.approximate_number_of_messages_moved() == 2).await;
    let cancelled = client.cancel_message_move_task().task_handle(started.task_handle().unwrap()).send().await.unwrap();
    assert_eq!(cancelled.approximate_number_of_messages_moved(), 2);
    server.advance_secs(5);
    let task = wait_for_task(&server, "payments-dlq", |task| task.status() == Some("CANCELLED")).await;
    assert_eq!(task.approximate_number_of_messages_moved(), 2);
    assert_eq!(visible(&server, &destination_url).await, 2);
    assert_eq!(visible(&server, &dlq_url).await, 1);
    let error = client.cancel_message_move_task().task_handle(started.task_handle().unwrap()).send().await.unwrap_err();
    assert_eq!(code(&error), "ResourceNotFoundException");
    // A new task may start once none is running.
    client
        .start_message_move_task()
        .source_arn(arn("payments-dlq"))
        .destination_arn(arn("payments-replay"))
        .send()
        .await
        .unwrap();
    let listed = client.list_message_move_tasks().source_arn(arn("payments-dlq")).max_results(10).send().await.unwrap();
    assert_eq!(listed.results().len(), 2, "newest first, the cancelled one second");
    assert_eq!(listed.results()[1].status(), Some("CANCELLED"));
}

#[tokio::test]
async fn a_deleted_destination_fails_the_task() {
    let server = TestServer::start_manual().await;
    let client = server.client();
    dead_letter(&server, "jobs", "jobs-dlq", 3).await;
    let destination_url = server.create("jobs-replay").await;
    client
        .start_message_move_task()
        .source_arn(arn("jobs-dlq"))
        .destination_arn(arn("jobs-replay"))
        .max_number_of_messages_per_second(1)
        .send()
        .await
        .unwrap();
    wait_for_task(&server, "jobs-dlq", |task| task.approximate_number_of_messages_moved() == 1).await;
    client.delete_queue().queue_url(&destination_url).send().await.unwrap();
    server.advance_secs(1);
    let task = wait_for_task(&server, "jobs-dlq", |task| task.status() == Some("FAILED")).await;
    assert_eq!(task.failure_reason(), Some("AWS.SimpleQueueService.NonExistentQueue"));
    assert_eq!(task.approximate_number_of_messages_moved(), 1);
}

#[tokio::test]
async fn move_task_requests_are_validated() {
    let server = TestServer::start().await;
    let client = server.client();
    dead_letter(&server, "src", "src-dlq", 1).await;
    server.create("plain").await;
    let error = client.start_message_move_task().source_arn(arn("plain")).send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidParameterValue");
    let error = client.start_message_move_task().source_arn(arn("missing")).send().await.unwrap_err();
    assert_eq!(code(&error), "ResourceNotFoundException");
    let error = client
        .start_message_move_task()
        .source_arn(arn("src-dlq"))
        .destination_arn(arn("missing"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "ResourceNotFoundException");
    for rate in [0, 501] {
        let error = client
            .start_message_move_task()
            .source_arn(arn("src-dlq"))
            .max_number_of_messages_per_second(rate)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&error), "InvalidParameterValue", "rate {rate}");
    }
    let error = client.cancel_message_move_task().task_handle("not-a-handle").send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidParameterValue");
    let error = client.list_message_move_tasks().source_arn(arn("src-dlq")).max_results(11).send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidParameterValue");
    let none = client.list_message_move_tasks().source_arn(arn("src-dlq")).send().await.unwrap();
    assert!(none.results().is_empty());
}

#[tokio::test]
async fn a_running_task_survives_a_restart() {
    let data_dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(wharf_domain::ManualClock::new(common::START_MS));
    let server = TestServer::start_with(common::config(Some(data_dir.path().to_path_buf())), Some(clock.clone())).await;
    let (source_url, _) = dead_letter(&server, "ledger", "ledger-dlq", 3).await;
    server
        .client()
        .start_message_move_task()
        .source_arn(arn("ledger-dlq"))
        .max_number_of_messages_per_second(1)
        .send()
        .await
        .unwrap();
    wait_for_task(&server, "ledger-dlq", |task| task.approximate_number_of_messages_moved() == 1).await;
    server.server.shutdown().await.unwrap();

    let clock = std::sync::Arc::new(wharf_domain::ManualClock::new(common::START_MS + 60_000));
    let server = TestServer::start_with(common::config(Some(data_dir.path().to_path_buf())), Some(clock.clone())).await;
    let task = wait_for_task(&server, "ledger-dlq", |task| task.approximate_number_of_messages_moved() >= 1).await;
    assert_eq!(task.approximate_number_of_messages_to_move(), Some(3));
    for _ in 0..3 {
        clock.advance_ms(1_000);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let task = wait_for_task(&server, "ledger-dlq", |task| task.status() == Some("COMPLETED")).await;
    assert_eq!(task.approximate_number_of_messages_moved(), 3);
    let url = source_url.replace(&source_url[..source_url.find("/000000000000").unwrap()], &server.endpoint);
    assert_eq!(visible(&server, &url).await, 3);
}
