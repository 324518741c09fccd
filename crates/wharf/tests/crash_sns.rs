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

/// An HTTP endpoint in the test process, so it outlives the server: while `accepting` it answers
/// 200 and keeps the `x-amz-sns-message-id` of every notification, else it answers 503; it hands
/// confirmations to the test.
struct Receiver {
    url: String,
    notified: Arc<Mutex<HashSet<String>>>,
    accepting: Arc<AtomicBool>,
    confirmations: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl Receiver {
    async fn start() -> Receiver {
        use http_body_util::BodyExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let notified: Arc<Mutex<HashSet<String>>> = Arc::default();
        let (sender, confirmations) = tokio::sync::mpsc::unbounded_channel();
        let accepting = Arc::new(AtomicBool::new(false));
        let (seen, open) = (notified.clone(), accepting.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (seen, sender, open) = (seen.clone(), sender.clone(), open.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                        let (seen, sender, open) = (seen.clone(), sender.clone(), open.clone());
                        async move {
                            let header = |name: &str| {
                                request.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
                            };
                            let (kind, id) = (header("x-amz-sns-message-type"), header("x-amz-sns-message-id"));
                            let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            let mut response = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::new()));
                            if kind == "SubscriptionConfirmation" {
                                let _ = sender.send(String::from_utf8_lossy(&body).into_owned());
                            } else if open.load(Ordering::SeqCst) {
                                seen.lock().unwrap().insert(id);
                            } else {
                                *response.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
                            }
                            Ok::<_, hyper::Error>(response)
                        }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
        Receiver { url, notified, accepting, confirmations }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_publications_reach_an_http_endpoint_across_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let mut receiver = Receiver::start().await;
    let mut process = WharfProcess::start_on(data.path());
    let sns = sns_client(&process.endpoint);
    let topic_arn = sns.create_topic().name("hooked").send().await.unwrap().topic_arn.unwrap();
    sns.subscribe().topic_arn(&topic_arn).protocol("http").endpoint(&receiver.url).send().await.unwrap();
    let confirmation = tokio::time::timeout(HANG_TIMEOUT, receiver.confirmations.recv()).await.unwrap().unwrap();
    let confirmation: serde_json::Value = serde_json::from_str(&confirmation).unwrap();
    let token = confirmation["Token"].as_str().unwrap();
    sns.confirm_subscription().topic_arn(&topic_arn).token(token).send().await.unwrap();

    // Publish from several tasks; kill the server while they are at it.
    let acknowledged: Arc<Mutex<HashSet<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let sns = sns_client_without_retries(&process.endpoint);
        let (topic_arn, acknowledged, stop) = (topic_arn.clone(), acknowledged.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                match sns.publish().topic_arn(&topic_arn).message("tick").send().await {
                    Ok(output) => acknowledged.lock().unwrap().insert(output.message_id.unwrap()),
                    Err(_) => break,
                };
            }
        }));
    }
    tokio::time::timeout(HANG_TIMEOUT, async {
        while acknowledged.lock().unwrap().len() < 300 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("publishers get going");
    process.kill9();
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        tokio::time::timeout(HANG_TIMEOUT, task).await.expect("publisher stops").expect("publisher task");
    }
    drop(process);
    let acknowledged = acknowledged.lock().unwrap().clone();

    // The endpoint refused every notification until now; after the restart the outbox delivers
    // each acknowledged publication, attempted before the kill or not.
    assert!(receiver.notified.lock().unwrap().is_empty());
    receiver.accepting.store(true, Ordering::SeqCst);
    let _process = WharfProcess::start_on(data.path());
    let missing = || -> usize {
        let notified = receiver.notified.lock().unwrap();
        acknowledged.iter().filter(|id| !notified.contains(*id)).count()
    };
    let delivered = tokio::time::timeout(HANG_TIMEOUT, async {
        while missing() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        delivered.is_ok(),
        "{} of {} acknowledged publications never reached the endpoint",
        missing(),
        acknowledged.len()
    );
}
