//! SNS delivery over TLS to an https endpoint on 127.0.0.1 whose certificate a test CA signed:
//! with the CA in `[sns] https_ca_file` the confirmation arrives, ConfirmSubscription with its
//! token confirms, and notifications arrive with the `x-amz-sns-*` headers; Lambda invokes go
//! through the same client; an endpoint whose CA Wharf does not trust gets nothing, because
//! Wharf refuses its certificate during the handshake.

mod common;

use bytes::Bytes;
use common::tls::{refused_as_unknown_ca, TestCa};
use common::{TestServer, HANG_TIMEOUT};
use http_body_util::{BodyExt as _, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::collections::HashMap;
use tokio::sync::mpsc;

/// What the endpoint saw: a request, or a connection whose TLS handshake failed.
enum Event {
    Request { path: String, headers: HashMap<String, String>, body: Value },
    HandshakeFailed(std::io::Error),
}

/// An https endpoint on 127.0.0.1 that reports every handshake failure and request, answering 200.
struct TlsEndpoint {
    port: u16,
    events: mpsc::UnboundedReceiver<Event>,
}

impl TlsEndpoint {
    async fn start(ca: &TestCa) -> TlsEndpoint {
        let acceptor = ca.acceptor();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (sender, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (acceptor, sender) = (acceptor.clone(), sender.clone());
                tokio::spawn(async move {
                    let stream = match acceptor.accept(stream).await {
                        Ok(stream) => stream,
                        Err(error) => {
                            let _ = sender.send(Event::HandshakeFailed(error));
                            return;
                        }
                    };
                    let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                        let sender = sender.clone();
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
                            let _ = sender.send(Event::Request { path, headers, body });
                            Ok::<_, hyper::Error>(hyper::Response::new(Full::new(Bytes::new())))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        TlsEndpoint { port, events }
    }

    async fn next(&mut self) -> Event {
        tokio::time::timeout(HANG_TIMEOUT, self.events.recv())
            .await
            .expect("the endpoint hears from Wharf")
            .expect("endpoint runs")
    }

    async fn next_request(&mut self) -> (String, HashMap<String, String>, Value) {
        match self.next().await {
            Event::Request { path, headers, body } => (path, headers, body),
            Event::HandshakeFailed(error) => panic!("the TLS handshake failed: {error}"),
        }
    }
}

/// A server on the wall clock that trusts `ca` besides Mozilla's roots.
async fn server_trusting(ca: &TestCa, dir: &std::path::Path) -> TestServer {
    let mut config = common::config(None);
    config.sns_https_ca_file = Some(ca.write_pem(dir, "ca.pem"));
    TestServer::start_with(config, None).await
}

#[tokio::test]
async fn https_endpoints_signed_by_a_configured_ca_confirm_and_receive_notifications() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Wharf test CA");
    let server = server_trusting(&ca, dir.path()).await;
    let mut endpoint = TlsEndpoint::start(&ca).await;
    let sns = server.sns();
    let topic_arn = sns.create_topic().name("secure-hooks").send().await.unwrap().topic_arn.unwrap();
    let url = format!("https://localhost:{}/hook", endpoint.port);
    let pending = sns.subscribe().topic_arn(&topic_arn).protocol("https").endpoint(&url).send().await.unwrap();
    assert_eq!(pending.subscription_arn(), Some("pending confirmation"));

    let (path, headers, confirmation) = endpoint.next_request().await;
    assert_eq!(path, "/hook");
    assert_eq!(headers["x-amz-sns-message-type"], "SubscriptionConfirmation");
    assert_eq!(headers["x-amz-sns-topic-arn"], topic_arn);
    assert_eq!(confirmation["Type"], "SubscriptionConfirmation");
    let token = confirmation["Token"].as_str().expect("a token");
    let confirmed = sns.confirm_subscription().topic_arn(&topic_arn).token(token).send().await.unwrap();
    let subscription_arn = confirmed.subscription_arn().expect("the confirmed ARN").to_string();
    assert!(subscription_arn.starts_with(&format!("{topic_arn}:")), "{subscription_arn}");

    let published = sns.publish().topic_arn(&topic_arn).subject("Sealed").message("over TLS").send().await.unwrap();
    let (_, headers, notification) = endpoint.next_request().await;
    assert_eq!(headers["x-amz-sns-message-type"], "Notification");
    assert_eq!(headers["x-amz-sns-message-id"], published.message_id().unwrap());
    assert_eq!(headers["x-amz-sns-topic-arn"], topic_arn);
    assert_eq!(headers["x-amz-sns-subscription-arn"], subscription_arn);
    assert_eq!(headers["user-agent"], "Amazon Simple Notification Service Agent");
    assert_eq!(notification["Message"], "over TLS");
    assert_eq!(notification["Subject"], "Sealed");
}

#[tokio::test]
async fn lambda_invokes_reach_an_https_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Wharf test CA");
    let mut endpoint = TlsEndpoint::start(&ca).await;
    let mut config = common::config(None);
    config.sns_https_ca_file = Some(ca.write_pem(dir.path(), "ca.pem"));
    config.sns_lambda_endpoint = Some(format!("https://127.0.0.1:{}", endpoint.port));
    let server = TestServer::start_with(config, None).await;
    let sns = server.sns();
    let topic_arn = sns.create_topic().name("secure-lambda").send().await.unwrap().topic_arn.unwrap();
    let function = "arn:aws:lambda:us-east-1:000000000000:function:handler";
    sns.subscribe().topic_arn(&topic_arn).protocol("lambda").endpoint(function).send().await.unwrap();
    sns.publish().topic_arn(&topic_arn).message("for the function").send().await.unwrap();
    let (path, headers, event) = endpoint.next_request().await;
    assert!(path.starts_with("/2015-03-31/functions/") && path.ends_with("/invocations"), "{path}");
    assert_eq!(headers["x-amz-invocation-type"], "Event");
    assert_eq!(event["Records"][0]["Sns"]["Message"], "for the function");
}

#[tokio::test]
async fn an_endpoint_whose_ca_is_not_trusted_gets_no_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let trusted = TestCa::new("Wharf test CA");
    let stranger = TestCa::new("Unknown CA");
    let server = server_trusting(&trusted, dir.path()).await;
    let mut endpoint = TlsEndpoint::start(&stranger).await;
    let sns = server.sns();
    let topic_arn = sns.create_topic().name("untrusted-hook").send().await.unwrap().topic_arn.unwrap();
    let url = format!("https://127.0.0.1:{}/hook", endpoint.port);
    sns.subscribe().topic_arn(&topic_arn).protocol("https").endpoint(&url).send().await.unwrap();

    // Wharf connects, refuses the certificate in the handshake, and so sends no request.
    match endpoint.next().await {
        Event::HandshakeFailed(error) => assert!(refused_as_unknown_ca(&error), "{error}"),
        Event::Request { .. } => panic!("a request reached an endpoint Wharf must not trust"),
    }
    let listed = sns.list_subscriptions_by_topic().topic_arn(&topic_arn).send().await.unwrap();
    assert_eq!(listed.subscriptions()[0].subscription_arn(), Some("PendingConfirmation"));
}

#[test]
fn a_ca_file_that_cannot_be_used_stops_wharf_at_start() {
    let dir = tempfile::tempdir().unwrap();
    // Through the environment variable: a missing file.
    let mut command = common::wharf_command(&["serve", "--listen", "127.0.0.1:0", "--in-memory"]);
    command.env("WHARF_SNS_HTTPS_CA_FILE", dir.path().join("missing.pem"));
    let line = common::assert_startup_failure(&common::run_to_exit(command));
    assert!(line.contains("cannot read sns.https_ca_file"), "{line}");
    // Through the flag: a file with no certificate in it.
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "no certificates here\n").unwrap();
    let command = common::wharf_command(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--in-memory",
        "--sns-https-ca-file",
        empty.to_str().unwrap(),
    ]);
    let line = common::assert_startup_failure(&common::run_to_exit(command));
    assert!(line.contains("cannot use sns.https_ca_file") && line.contains("no CERTIFICATE"), "{line}");
}
