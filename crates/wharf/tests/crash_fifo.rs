//! FIFO guarantees across `kill -9` of the real binary: every acknowledged message is there, each
//! group is delivered in send order with no message twice, an acknowledged deduplication id is
//! still recognised after the restart, and sequence numbers keep increasing.

mod common;

use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use common::{client_without_retries, WharfProcess, HANG_TIMEOUT};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Concurrent senders; each owns one message group, so its sends define the group's order.
const GROUPS: usize = 6;
const KILL_AFTER: usize = 1500;

/// What a send acknowledged: deduplication id → (message id, sequence number).
type Acknowledged = HashMap<String, (String, String)>;

fn dedup_id(group: usize, index: usize) -> String {
    format!("g{group}-{index:06}")
}

/// Each group's sender sends its messages in order (singly and in batches of ten) until the
/// process is killed. Returns what was acknowledged.
async fn send_until_killed(process: &mut WharfProcess, url: &str) -> Acknowledged {
    let acknowledged: Arc<Mutex<Acknowledged>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let reached = Arc::new(tokio::sync::Notify::new());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for group in 0..GROUPS {
        let client = client_without_retries(&process.endpoint);
        let url = url.to_string();
        let (acknowledged, count, reached, stop) = (acknowledged.clone(), count.clone(), reached.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut next = 0usize;
            let mut round = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let size = if round.is_multiple_of(2) { 1 } else { 10 };
                let entries: Vec<SendMessageBatchRequestEntry> = (next..next + size)
                    .map(|index| {
                        SendMessageBatchRequestEntry::builder()
                            .id(format!("e{}", index - next))
                            .message_body(dedup_id(group, index))
                            .message_group_id(format!("g{group}"))
                            .message_deduplication_id(dedup_id(group, index))
                            .build()
                            .unwrap()
                    })
                    .collect();
                let Ok(sent) = client.send_message_batch().queue_url(&url).set_entries(Some(entries)).send().await
                else {
                    break;
                };
                assert!(sent.failed().is_empty(), "entries failed: {:?}", sent.failed());
                let mut replies = Vec::new();
                for entry in sent.successful() {
                    let index = next + entry.id()[1..].parse::<usize>().unwrap();
                    let sequence = entry.sequence_number().expect("sequence number").to_string();
                    replies.push((dedup_id(group, index), (entry.message_id().to_string(), sequence)));
                }
                next += size;
                round += 1;
                acknowledged.lock().unwrap().extend(replies);
                if count.fetch_add(size, Ordering::SeqCst) + size >= KILL_AFTER {
                    reached.notify_one();
                }
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
    assert!(acknowledged.len() >= KILL_AFTER);
    acknowledged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifo_order_and_deduplication_survive_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let mut process = WharfProcess::start_on(data.path());
    let url = process
        .client()
        .create_queue()
        .queue_name("crash.fifo")
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let acknowledged = send_until_killed(&mut process, &url).await;
    drop(process);

    let process = WharfProcess::start_on(data.path());
    let client = process.client();
    let highest_acknowledged = acknowledged.values().map(|(_, sequence)| sequence.clone()).max().unwrap();

    // Every acknowledged deduplication id is still inside its window: sending it again is
    // answered with the original message and adds nothing.
    for (dedup, (message_id, sequence)) in acknowledged.iter().take(200) {
        let group = dedup.split('-').next().unwrap();
        let sent = client
            .send_message()
            .queue_url(&url)
            .message_body("duplicate")
            .message_group_id(group)
            .message_deduplication_id(dedup)
            .send()
            .await
            .unwrap();
        assert_eq!(sent.message_id(), Some(message_id.as_str()), "{dedup} recognised after the restart");
        assert_eq!(sent.sequence_number(), Some(sequence.as_str()));
    }

    // Drain: each group in order, nothing twice, nothing acknowledged missing.
    let mut by_group: HashMap<String, Vec<String>> = HashMap::new();
    loop {
        let received = client.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
        if received.messages().is_empty() {
            break;
        }
        for message in received.messages() {
            let body = message.body().unwrap().to_string();
            assert_ne!(body, "duplicate", "a duplicate was delivered");
            let group = body.split('-').next().unwrap().to_string();
            by_group.entry(group).or_default().push(body);
            client
                .delete_message()
                .queue_url(&url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    for (group, bodies) in &by_group {
        let mut sorted = bodies.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(bodies, &sorted, "group {group} delivered in order, each message once");
    }
    let delivered: usize = by_group.values().map(Vec::len).sum();
    let missing: Vec<&String> =
        acknowledged.keys().filter(|dedup| !by_group.values().any(|bodies| bodies.contains(dedup))).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged messages lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(delivered >= acknowledged.len());

    // New sends continue the numbering above everything handed out before the kill.
    let sent = client
        .send_message()
        .queue_url(&url)
        .message_body("after")
        .message_group_id("g0")
        .message_deduplication_id("after-restart")
        .send()
        .await
        .unwrap();
    assert!(sent.sequence_number().unwrap() > highest_acknowledged.as_str());
}
