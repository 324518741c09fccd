//! SNS fan-out across `kill -9` of the real binary: a publication answered with success is in
//! every subscribed queue after the restart, and topics and subscriptions survive.

mod common;

use aws_sdk_sns::types::PublishBatchRequestEntry;
use common::{drain, sns_client, WharfProcess, HANG_TIMEOUT};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const PUBLISHERS: usize = 6;
const QUEUES: [&str; 3] = ["fan-a", "fan-b", "fan-c"];
const KILL_AFTER: usize = 1500;

/// Publishes (singly and in batches of ten) from several tasks until the process is killed;
/// returns the bodies of every acknowledged publication.
async fn publish_until_killed(process: &mut WharfProcess, topic_arn: &str) -> HashSet<String> {
    let acknowledged: Arc<Mutex<HashSet<String>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let reached = Arc::new(tokio::sync::Notify::new());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for publisher in 0..PUBLISHERS {
        let sns = sns_client_without_retries(&process.endpoint);
        let topic_arn = topic_arn.to_string();
        let (acknowledged, count, reached, stop) = (acknowledged.clone(), count.clone(), reached.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut next = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let size = if next.is_multiple_of(20) { 1 } else { 10 };
                let bodies: Vec<String> = (next..next + size).map(|index| format!("p{publisher}-{index:06}")).collect();
                let accepted = if size == 1 {
                    sns.publish().topic_arn(&topic_arn).message(&bodies[0]).send().await.is_ok()
                } else {
                    let entries = bodies
                        .iter()
                        .enumerate()
                        .map(|(index, body)| {
                            PublishBatchRequestEntry::builder().id(format!("e{index}")).message(body).build().unwrap()
                        })
                        .collect();
                    match sns
                        .publish_batch()
                        .topic_arn(&topic_arn)
                        .set_publish_batch_request_entries(Some(entries))
                        .send()
                        .await
                    {
                        Ok(output) => {
                            assert!(output.failed().is_empty(), "entries failed: {:?}", output.failed());
                            true
                        }
                        Err(_) => false,
                    }
                };
                if !accepted {
                    break;
                }
                next += size;
                acknowledged.lock().unwrap().extend(bodies);
                if count.fetch_add(size, Ordering::SeqCst) + size >= KILL_AFTER {
                    reached.notify_one();
                }
            }
        }));
    }
    tokio::time::timeout(HANG_TIMEOUT, reached.notified()).await.expect("publishers reached the kill point");
    process.kill9();
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        tokio::time::timeout(HANG_TIMEOUT, task).await.expect("publisher stops").expect("publisher task");
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= KILL_AFTER);
    acknowledged
}

fn sns_client_without_retries(endpoint: &str) -> aws_sdk_sns::Client {
    let config = sns_client(endpoint)
        .config()
        .to_builder()
        .retry_config(aws_sdk_sns::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_sns::Client::from_conf(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_publications_reach_every_queue_across_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let mut process = WharfProcess::start_on(data.path());
    let sns = sns_client(&process.endpoint);
    let topic_arn = sns.create_topic().name("fan").send().await.unwrap().topic_arn.unwrap();
    for queue in QUEUES {
        process.client().create_queue().queue_name(queue).send().await.unwrap();
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(format!("arn:aws:sqs:us-east-1:000000000000:{queue}"))
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .unwrap();
    }
    let acknowledged = publish_until_killed(&mut process, &topic_arn).await;
    drop(process);

    let process = WharfProcess::start_on(data.path());
    let sns = sns_client(&process.endpoint);
    let listed = sns.list_subscriptions_by_topic().topic_arn(&topic_arn).send().await.unwrap();
    assert_eq!(listed.subscriptions().len(), QUEUES.len(), "subscriptions survive");
    let client = process.client();
    for queue in QUEUES {
        let url = client.get_queue_url().queue_name(queue).send().await.unwrap().queue_url.unwrap();
        let received = drain(&client, &url).await;
        let bodies: HashSet<String> = received.iter().map(|(_, body, _, _)| body.clone()).collect();
        assert_eq!(bodies.len(), received.len(), "{queue}: no publication delivered twice");
        let missing: Vec<&String> = acknowledged.iter().filter(|body| !bodies.contains(*body)).collect();
        assert!(
            missing.is_empty(),
            "{queue}: {} of {} acknowledged publications lost, e.g. {:?}",
            missing.len(),
            acknowledged.len(),
            &missing[..missing.len().min(5)]
        );
    }
}
