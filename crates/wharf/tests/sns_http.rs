//! SNS delivery to an HTTP endpoint (a receiver on 127.0.0.1 in the test): the confirmation flow
//! through the SubscribeURL, notifications with the `x-amz-sns-*` headers, retries on the
//! delivery policy's schedule (an injected clock), and the subscription's dead-letter queue; and
//! to a Lambda function through a configured Invoke API endpoint (the same receiver).

mod common;

use bytes::Bytes;
use common::{code, raw_request, TestServer, HANG_TIMEOUT};
use http_body_util::{BodyExt as _, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// One request the endpoint received.
struct Received {
    path: String,
    headers: HashMap<String, String>,
    body: Value,
}

/// An HTTP endpoint on 127.0.0.1 that reports every request and answers with `status`.
struct Endpoint {
    url: String,
    requests: mpsc::UnboundedReceiver<Received>,
    status: Arc<AtomicU16>,
}

impl Endpoint {
    async fn start() -> Endpoint {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let (sender, requests) = mpsc::unbounded_channel();
        let status = Arc::new(AtomicU16::new(200));
        let answer = status.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (sender, answer) = (sender.clone(), answer.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                        let (sender, answer) = (sender.clone(), answer.clone());
                        async move {
                            let path = request.uri().path().to_string();
                            let headers = request
                                .headers()
                                .iter()
                                .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or("").to_string()))
                                .collect();
                            let bytes =
                                request.into_body().collect().await.map(|body| body.to_bytes()).unwrap_or_default();
                            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                            let _ = sender.send(Received { path, headers, body });
                            let status = answer.load(Ordering::SeqCst);
                            Ok::<_, hyper::Error>(
                                hyper::Response::builder().status(status).body(Full::new(Bytes::new())).unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Endpoint { url, requests, status }
    }

    async fn next(&mut self) -> Received {
        tokio::time::timeout(HANG_TIMEOUT, self.requests.recv())
            .await
            .expect("a delivery arrives")
            .expect("endpoint runs")
    }

    fn nothing_pending(&mut self) -> bool {
        self.requests.try_recv().is_err()
    }
}

/// Subscribes the endpoint and confirms through the SubscribeURL it receives, unsigned, as an
/// endpoint would. Returns the subscription ARN.
async fn subscribe_and_confirm(server: &TestServer, topic_arn: &str, endpoint: &mut Endpoint) -> String {
    let sns = server.sns();
    let output = sns.subscribe().topic_arn(topic_arn).protocol("http").endpoint(&endpoint.url).send().await.unwrap();
    assert_eq!(output.subscription_arn(), Some("pending confirmation"));
    let confirmation = endpoint.next().await;
    assert_eq!(confirmation.headers["x-amz-sns-message-type"], "SubscriptionConfirmation");
    assert_eq!(confirmation.headers["x-amz-sns-topic-arn"], topic_arn);
    assert_eq!(confirmation.body["Type"], "SubscriptionConfirmation");
    assert_eq!(confirmation.body["TopicArn"], topic_arn);
    assert!(confirmation.body["Signature"].as_str().is_some_and(|signature| !signature.is_empty()));
    let subscribe_url = confirmation.body["SubscribeURL"].as_str().unwrap();
    let path = subscribe_url.strip_prefix(&server.endpoint).expect("the SubscribeURL points at this server");
    let response = raw_request(&server.endpoint, false, "GET", path, &[], Bytes::new()).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let arn = common::xml_text(&response.text(), "SubscriptionArn").expect("confirmed subscription ARN");
    let listed = sns.list_subscriptions_by_topic().topic_arn(topic_arn).send().await.unwrap();
    assert_eq!(listed.subscriptions()[0].subscription_arn(), Some(arn.as_str()));
    arn
}

#[tokio::test]
async fn http_endpoints_confirm_then_receive_signed_notifications() {
    let server = TestServer::start_manual().await;
    let mut endpoint = Endpoint::start().await;
    let sns = server.sns();
    let topic_arn = sns.create_topic().name("hooks").send().await.unwrap().topic_arn.unwrap();
    let subscription_arn = subscribe_and_confirm(&server, &topic_arn, &mut endpoint).await;

    let published = sns.publish().topic_arn(&topic_arn).subject("Hi").message("hello").send().await.unwrap();
    let notification = endpoint.next().await;
    assert_eq!(notification.headers["x-amz-sns-message-type"], "Notification");
    assert_eq!(notification.headers["x-amz-sns-message-id"], published.message_id().unwrap());
    assert_eq!(notification.headers["x-amz-sns-subscription-arn"], subscription_arn);
    assert_eq!(notification.headers["user-agent"], "Amazon Simple Notification Service Agent");
    assert_eq!(notification.body["Message"], "hello");
    assert_eq!(notification.body["Subject"], "Hi");
    assert_eq!(notification.body["MessageId"], published.message_id().unwrap());

    // Raw delivery posts the message itself.
    sns.set_subscription_attributes()
        .subscription_arn(&subscription_arn)
        .attribute_name("RawMessageDelivery")
        .attribute_value("true")
        .send()
        .await
        .unwrap();
    sns.publish().topic_arn(&topic_arn).message(r#"{"raw":true}"#).send().await.unwrap();
    let raw = endpoint.next().await;
    assert_eq!(raw.headers["x-amz-sns-rawdelivery"], "true");
    assert_eq!(raw.body["raw"], true);

    // The UnsubscribeURL works unsigned too.
    let path = format!("/?Action=Unsubscribe&SubscriptionArn={subscription_arn}");
    assert_eq!(raw_request(&server.endpoint, false, "GET", &path, &[], Bytes::new()).await.status, 200);
    let error = sns.get_subscription_attributes().subscription_arn(&subscription_arn).send().await.unwrap_err();
    assert_eq!(code(&error), "NotFound");
}

#[tokio::test]
async fn failed_deliveries_are_retried_on_schedule_then_dead_lettered() {
    let server = TestServer::start_manual().await;
    let mut endpoint = Endpoint::start().await;
    let sns = server.sns();
    let topic_arn = sns.create_topic().name("flaky").send().await.unwrap().topic_arn.unwrap();
    let subscription_arn = subscribe_and_confirm(&server, &topic_arn, &mut endpoint).await;
    let dlq = server.create("flaky-dlq").await;
    sns.set_subscription_attributes()
        .subscription_arn(&subscription_arn)
        .attribute_name("RedrivePolicy")
        .attribute_value(r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:flaky-dlq"}"#)
        .send()
        .await
        .unwrap();
    endpoint.status.store(500, Ordering::SeqCst);
    sns.publish().topic_arn(&topic_arn).message("try me").send().await.unwrap();
    let first = endpoint.next().await;
    let message_id = first.headers["x-amz-sns-message-id"].clone();
    // AWS's default policy: three retries, 20 seconds apart, with the same message id.
    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(endpoint.nothing_pending(), "no retry before its time");
        server.advance_secs(20);
        let retry = endpoint.next().await;
        assert_eq!(retry.headers["x-amz-sns-message-id"], message_id);
    }
    // Out of retries: the message lands in the subscription's dead-letter queue.
    let mut moved = Vec::new();
    for _ in 0..100 {
        let received = server.client().receive_message().queue_url(&dlq).send().await.unwrap();
        moved.extend(received.messages().iter().map(|m| m.body().unwrap().to_string()));
        if !moved.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let envelope: Value = serde_json::from_str(&moved[0]).unwrap();
    assert_eq!(envelope["Message"], "try me");
    server.advance_secs(60);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(endpoint.nothing_pending(), "no attempt after the dead-letter move");
}

#[tokio::test]
async fn lambda_subscriptions_invoke_the_configured_endpoint_with_the_sns_event() {
    let mut endpoint = Endpoint::start().await;
    let mut config = common::config(None);
    config.sns_lambda_endpoint = Some(endpoint.url.trim_end_matches("/hook").to_string());
    let server = TestServer::start_with(config, None).await;
    let sns = server.sns();
    let topic_arn = sns.create_topic().name("to-lambda").send().await.unwrap().topic_arn.unwrap();
    let function = "arn:aws:lambda:us-east-1:000000000000:function:handler";
    let subscription =
        sns.subscribe().topic_arn(&topic_arn).protocol("lambda").endpoint(function).send().await.unwrap();
    let subscription_arn = subscription.subscription_arn().unwrap().to_string();
    assert_ne!(subscription_arn, "pending confirmation", "Lambda subscriptions need no confirmation");
    sns.publish().topic_arn(&topic_arn).subject("S").message("for the function").send().await.unwrap();
    let invocation = endpoint.next().await;
    assert_eq!(
        invocation.path,
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus%2Deast%2D1%3A000000000000%3Afunction%3Ahandler/invocations"
    );
    assert_eq!(invocation.headers["x-amz-invocation-type"], "Event");
    let record = &invocation.body["Records"][0];
    assert_eq!(record["EventSource"], "aws:sns");
    assert_eq!(record["EventSubscriptionArn"], subscription_arn.as_str());
    assert_eq!(record["Sns"]["Message"], "for the function");
    assert_eq!(record["Sns"]["Subject"], "S");
    assert_eq!(record["Sns"]["TopicArn"], topic_arn.as_str());
    assert!(record["Sns"]["SigningCertUrl"].as_str().is_some());
}

#[tokio::test]
async fn firehose_deliveries_are_kept_in_the_outbox() {
    let server = TestServer::start().await;
    let sns = server.sns();
    let topic_arn = sns.create_topic().name("to-firehose").send().await.unwrap().topic_arn.unwrap();
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("firehose")
        .endpoint("arn:aws:firehose:us-east-1:000000000000:deliverystream/logs")
        .attributes("SubscriptionRoleArn", "arn:aws:iam::000000000000:role/sns")
        .send()
        .await
        .unwrap();
    sns.publish().topic_arn(&topic_arn).message("for the stream").send().await.unwrap();
    let engine = &server.server.engine().expect("serving");
    let outbox = engine.queue(wharf_sns::delivery::OUTBOX_ACCOUNT, wharf_sns::delivery::OUTBOX_QUEUE).unwrap();
    let counts = engine.counts(&outbox);
    assert_eq!(counts.visible + counts.leased, 1, "{counts:?}");
}

#[tokio::test]
async fn a_throttled_subscription_still_gets_every_notification() {
    let server = TestServer::start().await;
    let mut endpoint = Endpoint::start().await;
    let sns = server.sns();
    let topic_arn = sns.create_topic().name("paced").send().await.unwrap().topic_arn.unwrap();
    let subscription_arn = subscribe_and_confirm(&server, &topic_arn, &mut endpoint).await;
    sns.set_subscription_attributes()
        .subscription_arn(&subscription_arn)
        .attribute_name("DeliveryPolicy")
        .attribute_value(r#"{"throttlePolicy":{"maxReceivesPerSecond":20}}"#)
        .send()
        .await
        .unwrap();
    let mut published = std::collections::BTreeSet::new();
    for index in 0..10 {
        let output = sns.publish().topic_arn(&topic_arn).message(format!("m{index}")).send().await.unwrap();
        published.insert(output.message_id.unwrap());
    }
    let mut delivered = std::collections::BTreeSet::new();
    for _ in 0..10 {
        delivered.insert(endpoint.next().await.headers["x-amz-sns-message-id"].clone());
    }
    assert_eq!(delivered, published, "pacing delays deliveries, it never drops them");
}
