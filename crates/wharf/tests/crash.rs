//! Crash safety of the real binary: a success reply means the write survives `kill -9`.
//!
//! Each test runs `wharf` on a temporary data directory, drives it with aws-sdk-sqs from several
//! concurrent tasks, kills it with SIGKILL while requests are still in flight, restarts it on the
//! same directory and checks that everything acknowledged is there. Messages whose send was in
//! flight at the kill may or may not exist; both are allowed.

mod common;

use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use common::{client_without_retries, drain, md5_hex, queue_attributes, queue_tags, WharfProcess, HANG_TIMEOUT};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Concurrent sending tasks.
const SENDERS: usize = 8;

/// Message id → body of every send that got a success reply.
type Acknowledged = Arc<Mutex<HashMap<String, String>>>;

/// Sends from [`SENDERS`] tasks (alternating SendMessage and ten-entry SendMessageBatch) until at
/// least `kill_after` messages are acknowledged, then SIGKILLs the process while the tasks are
/// still sending. Returns what was acknowledged.
async fn send_until_killed(
    process: &mut WharfProcess,
    url: &str,
    label: &str,
    kill_after: usize,
) -> HashMap<String, String> {
    let acknowledged: Acknowledged = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let reached = Arc::new(tokio::sync::Notify::new());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for task in 0..SENDERS {
        let client = client_without_retries(&process.endpoint);
        let url = url.to_string();
        let label = label.to_string();
        let (acknowledged, count, reached, stop) = (acknowledged.clone(), count.clone(), reached.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut round = 0usize;
            while !stop.load(Ordering::SeqCst) {
                // Bodies of varied length so records differ in size.
                let body_of = |index: usize| {
                    format!("{label}-t{task}-r{round}-i{index}-{}", "x".repeat((round * 37 + index * 101) % 3000))
                };
                let mut replies = Vec::new();
                if round.is_multiple_of(2) {
                    let body = body_of(0);
                    match client.send_message().queue_url(&url).message_body(&body).send().await {
                        Ok(sent) => {
                            assert_eq!(sent.md5_of_message_body(), Some(md5_hex(body.as_bytes()).as_str()));
                            replies.push((sent.message_id().expect("message id").to_string(), body));
                        }
                        Err(_) => break,
                    }
                } else {
                    let bodies: Vec<String> = (0..10).map(body_of).collect();
                    let entries = bodies
                        .iter()
                        .enumerate()
                        .map(|(index, body)| {
                            SendMessageBatchRequestEntry::builder()
                                .id(format!("e{index}"))
                                .message_body(body)
                                .build()
                                .unwrap()
                        })
                        .collect();
                    match client.send_message_batch().queue_url(&url).set_entries(Some(entries)).send().await {
                        Ok(sent) => {
                            assert!(sent.failed().is_empty(), "batch entries failed: {:?}", sent.failed());
                            for entry in sent.successful() {
                                let index: usize = entry.id()[1..].parse().unwrap();
                                replies.push((entry.message_id().to_string(), bodies[index].clone()));
                            }
                        }
                        Err(_) => break,
                    }
                }
                let added = replies.len();
                acknowledged.lock().unwrap().extend(replies);
                if count.fetch_add(added, Ordering::SeqCst) + added >= kill_after {
                    reached.notify_one();
                }
                round += 1;
            }
        }));
    }
    tokio::time::timeout(HANG_TIMEOUT, reached.notified()).await.expect("senders reached the kill point");
    process.kill9();
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        tokio::time::timeout(HANG_TIMEOUT, task).await.expect("sender stops").expect("sender task");
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= kill_after);
    acknowledged
}

/// Checks every acknowledged message is among `received` with its body, and no message id
/// appears twice.
fn assert_all_present(received: &[(String, String, String, u32)], acknowledged: &HashMap<String, String>, label: &str) {
    let mut by_id = HashMap::new();
    for (id, body, md5, _) in received {
        assert_eq!(md5, &md5_hex(body.as_bytes()), "MD5OfBody of {id}");
        assert!(by_id.insert(id.clone(), body.clone()).is_none(), "message {id} delivered twice");
    }
    let missing: Vec<&String> = acknowledged.keys().filter(|id| !by_id.contains_key(*id)).collect();
    assert!(
        missing.is_empty(),
        "{label}: {} of {} acknowledged messages lost, e.g. {:?}",
        missing.len(),
        acknowledged.len(),
        &missing[..missing.len().min(5)]
    );
    for (id, body) in acknowledged {
        assert_eq!(&by_id[id], body, "{label}: body of {id}");
    }
}

async fn url_of(client: &aws_sdk_sqs::Client, name: &str) -> String {
    client.get_queue_url().queue_name(name).send().await.expect("queue exists").queue_url.expect("url")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let mut process = WharfProcess::start_on(data.path());
    let client = process.client();

    // Queue settings and tags, set before the kill.
    let dlq = client.create_queue().queue_name("crash-dlq").send().await.unwrap().queue_url.unwrap();
    let dlq_arn = queue_attributes(&client, &dlq).await[&QueueAttributeName::QueueArn].clone();
    let url = client
        .create_queue()
        .queue_name("crash")
        .attributes(QueueAttributeName::MessageRetentionPeriod, "86400")
        .tags("team", "wharf")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    client
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::VisibilityTimeout, "77")
        .attributes(
            QueueAttributeName::RedrivePolicy,
            format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"5"}}"#),
        )
        .send()
        .await
        .unwrap();
    client.tag_queue().queue_url(&url).tags("env", "crash-test").send().await.unwrap();
    let attributes_before = queue_attributes(&client, &url).await;
    let tags_before = queue_tags(&client, &url).await;

    // A second queue holds messages that are in flight and messages that were deleted.
    let state = client.create_queue().queue_name("crash-state").send().await.unwrap().queue_url.unwrap();
    let mut state_ids = Vec::new();
    for index in 0..20 {
        let sent = client.send_message().queue_url(&state).message_body(format!("state-{index}")).send().await.unwrap();
        state_ids.push(sent.message_id.unwrap());
    }
    let mut leased = Vec::new();
    while leased.len() < 20 {
        let received = client
            .receive_message()
            .queue_url(&state)
            .max_number_of_messages(10)
            .visibility_timeout(3600)
            .send()
            .await
            .unwrap();
        assert!(!received.messages().is_empty(), "all 20 state messages are receivable");
        leased.extend(received.messages().iter().cloned());
    }
    leased.sort_by_key(|message| message.body().unwrap().to_string());
    let (deleted, in_flight) = leased.split_at(10);
    for message in deleted {
        client
            .delete_message()
            .queue_url(&state)
            .receipt_handle(message.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
    }
    let deleted_ids: HashSet<String> = deleted.iter().map(|m| m.message_id().unwrap().to_string()).collect();
    let in_flight_ids: HashSet<String> = in_flight.iter().map(|m| m.message_id().unwrap().to_string()).collect();

    let acknowledged = send_until_killed(&mut process, &url, "crash", 2000).await;
    drop(process);

    let process = WharfProcess::start_on(data.path());
    let client = process.client();
    let url = url_of(&client, "crash").await;
    let attributes_after = queue_attributes(&client, &url).await;
    for name in [
        QueueAttributeName::VisibilityTimeout,
        QueueAttributeName::MessageRetentionPeriod,
        QueueAttributeName::RedrivePolicy,
        QueueAttributeName::QueueArn,
        QueueAttributeName::CreatedTimestamp,
        QueueAttributeName::LastModifiedTimestamp,
        QueueAttributeName::DelaySeconds,
        QueueAttributeName::MaximumMessageSize,
    ] {
        assert_eq!(attributes_after.get(&name), attributes_before.get(&name), "attribute {name}");
    }
    assert_eq!(queue_tags(&client, &url).await, tags_before);

    let received = drain(&client, &url).await;
    assert_all_present(&received, &acknowledged, "crash");
    eprintln!("acknowledged {} received {}", acknowledged.len(), received.len());
    assert!(received.len() >= acknowledged.len());

    // Leases are not durable: the in-flight messages are visible again; deletes are durable.
    let state = url_of(&client, "crash-state").await;
    let state_received = drain(&client, &state).await;
    let state_received_ids: HashSet<String> = state_received.iter().map(|(id, ..)| id.clone()).collect();
    assert_eq!(state_received_ids, in_flight_ids);
    assert!(state_received_ids.is_disjoint(&deleted_ids));
    for (id, body, ..) in &state_received {
        let index = state_ids.iter().position(|sent| sent == id).expect("a message sent before the kill");
        assert_eq!(body, &format!("state-{index}"));
    }
    let dlq = url_of(&client, "crash-dlq").await;
    let counts = queue_attributes(&client, &dlq).await;
    assert_eq!(counts[&QueueAttributeName::ApproximateNumberOfMessages], "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_crashes_in_a_row() {
    let data = tempfile::tempdir().unwrap();

    // First run: create, send, crash.
    let mut process = WharfProcess::start_on(data.path());
    let client = process.client();
    let url = client.create_queue().queue_name("twice").tags("run", "1").send().await.unwrap().queue_url.unwrap();
    let first = send_until_killed(&mut process, &url, "first", 1000).await;
    drop(process);

    // Second run: everything from the first is there. Delete every other message (acknowledged
    // deletes), leave the rest in flight, tag, send more, and crash again.
    let mut process = WharfProcess::start_on(data.path());
    let client = process.client();
    let url = url_of(&client, "twice").await;
    let mut received = Vec::new();
    let mut deleted = HashSet::new();
    let mut kept = HashMap::new();
    loop {
        let batch = client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .visibility_timeout(3600)
            .send()
            .await
            .unwrap();
        if batch.messages().is_empty() {
            break;
        }
        for message in batch.messages() {
            let id = message.message_id().unwrap().to_string();
            let body = message.body().unwrap().to_string();
            received.push((id.clone(), body.clone(), message.md5_of_body().unwrap().to_string(), 1));
            if received.len().is_multiple_of(2) {
                client
                    .delete_message()
                    .queue_url(&url)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
                deleted.insert(id);
            } else {
                kept.insert(id, body);
            }
        }
    }
    assert_all_present(&received, &first, "after the first crash");
    assert!(!deleted.is_empty());
    client.tag_queue().queue_url(&url).tags("run", "2").send().await.unwrap();
    client
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::VisibilityTimeout, "123")
        .send()
        .await
        .unwrap();
    let second = send_until_killed(&mut process, &url, "second", 1000).await;
    drop(process);

    // Third start: the kept messages of the first run and every acknowledged one of the second.
    let process = WharfProcess::start_on(data.path());
    let client = process.client();
    let url = url_of(&client, "twice").await;
    assert_eq!(queue_tags(&client, &url).await.get("run").map(String::as_str), Some("2"));
    assert_eq!(queue_attributes(&client, &url).await[&QueueAttributeName::VisibilityTimeout], "123");
    let received = drain(&client, &url).await;
    let mut expected = kept.clone();
    expected.extend(second);
    assert_all_present(&received, &expected, "after the second crash");
    let received_ids: HashSet<&String> = received.iter().map(|(id, ..)| id).collect();
    for id in &deleted {
        assert!(!received_ids.contains(id), "message {id} deleted before the second crash came back");
    }
}
