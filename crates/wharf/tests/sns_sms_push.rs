//! SMS and mobile push delivery through aws-sdk-sns: Publish to a phone number or a platform
//! endpoint, topic subscriptions of both kinds, opt-outs and disabled endpoints, read back from
//! the recorder at `/_wharf/sns/sms-messages` and `/_wharf/sns/push-messages`.

mod common;

use common::{code, gcm_application, platform_endpoint, raw_request, TestServer, ACCOUNT};
use serde_json::Value;

/// The recorded messages under `path` (`sms-messages` or `push-messages`) once the outbox drained.
async fn recorded(server: &TestServer, path: &str, query: &str) -> Vec<Value> {
    common::sns_outbox_drained(server).await;
    let response = raw_request(&server.endpoint, false, "GET", &format!("/_wharf/sns/{path}?{query}"), &[], "").await;
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()["Messages"].as_array().cloned().unwrap_or_default()
}

fn texts(messages: &[Value]) -> Vec<&str> {
    messages.iter().map(|message| message["Message"].as_str().unwrap_or("")).collect()
}

#[tokio::test]
async fn publish_to_a_phone_number_is_recorded_and_bad_targets_are_refused() {
    let server = TestServer::start().await;
    let sns = server.sns();
    let sent = sns.publish().phone_number("+15555550100").message("Your code is 42").send().await.unwrap();
    sns.publish().phone_number("+15555550199").message("other").send().await.unwrap();
    let messages = recorded(&server, "sms-messages", "PhoneNumber=%2B15555550100").await;
    assert_eq!(texts(&messages), vec!["Your code is 42"]);
    assert_eq!(messages[0]["MessageId"], sent.message_id().unwrap());
    assert_eq!(messages[0]["Destination"], "+15555550100");
    assert_eq!(messages[0]["Account"], ACCOUNT);
    assert!(messages[0].get("TopicArn").is_none());
    assert_eq!(recorded(&server, "sms-messages", "").await.len(), 2);

    let structured = sns
        .publish()
        .phone_number("+15555550100")
        .message_structure("json")
        .message(r#"{"default":"long text","sms":"short"}"#)
        .send()
        .await
        .unwrap();
    assert!(structured.message_id().is_some());
    let messages = recorded(&server, "sms-messages", "PhoneNumber=%2B15555550100").await;
    assert_eq!(texts(&messages), vec!["Your code is 42", "short"]);

    for bad in ["not-a-number", "+1", "+1234567890123456"] {
        let error = sns.publish().phone_number(bad).message("m").send().await.unwrap_err();
        assert_eq!(code(&error), "InvalidParameter", "{bad}");
    }
    let topic = sns.create_topic().name("t").send().await.unwrap().topic_arn.unwrap();
    let both = sns.publish().topic_arn(&topic).phone_number("+15555550100").message("m").send().await.unwrap_err();
    assert_eq!(code(&both), "InvalidParameter");
    let empty = sns.publish().phone_number("+15555550100").message("").send().await.unwrap_err();
    assert_eq!(code(&empty), "InvalidParameter");

    let cleared = raw_request(&server.endpoint, false, "DELETE", "/_wharf/sns/sms-messages", &[], "").await;
    assert_eq!(cleared.status, 204);
    assert!(recorded(&server, "sms-messages", "").await.is_empty());
}

#[tokio::test]
async fn an_opted_out_number_gets_nothing_until_it_opts_in() {
    let server = TestServer::start().await;
    let sns = server.sns();
    let number = "+15555550123";
    let opt_out = format!("/_wharf/sns/sms-opt-outs?AccountId={ACCOUNT}&PhoneNumber=%2B15555550123");
    let response = raw_request(&server.endpoint, false, "POST", &opt_out, &[], "").await;
    assert_eq!(response.status, 200, "{}", response.text());
    let checked = sns.check_if_phone_number_is_opted_out().phone_number(number).send().await.unwrap();
    assert!(checked.is_opted_out());

    // AWS accepts the publish and drops the message.
    sns.publish().phone_number(number).message("dropped").send().await.unwrap();
    assert!(recorded(&server, "sms-messages", "").await.is_empty());

    sns.opt_in_phone_number().phone_number(number).send().await.unwrap();
    sns.publish().phone_number(number).message("delivered").send().await.unwrap();
    assert_eq!(texts(&recorded(&server, "sms-messages", "").await), vec!["delivered"]);

    let bad = raw_request(&server.endpoint, false, "POST", "/_wharf/sns/sms-opt-outs?AccountId=1", &[], "").await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn publish_to_a_platform_endpoint_is_recorded_with_its_token() {
    let server = TestServer::start().await;
    let sns = server.sns();
    let application_arn = gcm_application(&server.sns(), "shop").await;
    let endpoint_arn = platform_endpoint(&server.sns(), &application_arn, "device-token-1").await;
    let sent = sns
        .publish()
        .target_arn(&endpoint_arn)
        .message_structure("json")
        .message(r#"{"default":"plain","GCM":"{\"notification\":{\"title\":\"hi\"}}"}"#)
        .send()
        .await
        .unwrap();
    let messages = recorded(&server, "push-messages", &format!("EndpointArn={endpoint_arn}")).await;
    assert_eq!(texts(&messages), vec![r#"{"notification":{"title":"hi"}}"#]);
    assert_eq!(messages[0]["Token"], "device-token-1");
    assert_eq!(messages[0]["MessageId"], sent.message_id().unwrap());

    sns.set_endpoint_attributes().endpoint_arn(&endpoint_arn).attributes("Enabled", "false").send().await.unwrap();
    let disabled = sns.publish().target_arn(&endpoint_arn).message("m").send().await.unwrap_err();
    assert_eq!(code(&disabled), "EndpointDisabled");

    sns.delete_endpoint().endpoint_arn(&endpoint_arn).send().await.unwrap();
    let gone = sns.publish().target_arn(&endpoint_arn).message("m").send().await.unwrap_err();
    assert_eq!(code(&gone), "InvalidParameter");

    let other = platform_endpoint(&server.sns(), &application_arn, "device-token-2").await;
    sns.set_platform_application_attributes()
        .platform_application_arn(&application_arn)
        .attributes("Enabled", "false")
        .send()
        .await
        .unwrap();
    let application_disabled = sns.publish().target_arn(&other).message("m").send().await.unwrap_err();
    assert_eq!(code(&application_disabled), "PlatformApplicationDisabled");
}

#[tokio::test]
async fn topic_subscriptions_deliver_to_phones_and_devices() {
    let server = TestServer::start().await;
    let sns = server.sns();
    let topic_arn = sns.create_topic().name("alerts").send().await.unwrap().topic_arn.unwrap();
    let application_arn = gcm_application(&server.sns(), "alerts-app").await;
    let endpoint_arn = platform_endpoint(&server.sns(), &application_arn, "token-a").await;
    let sms = sns.subscribe().topic_arn(&topic_arn).protocol("sms").endpoint("+15555550142").send().await.unwrap();
    let push = sns.subscribe().topic_arn(&topic_arn).protocol("application").endpoint(&endpoint_arn).send().await;
    let push = push.unwrap();
    for subscription in [&sms, &push] {
        let arn = subscription.subscription_arn().unwrap();
        assert!(arn.starts_with(&topic_arn) && arn != "pending confirmation", "{arn}");
    }

    sns.publish()
        .topic_arn(&topic_arn)
        .message_structure("json")
        .message(r#"{"default":"d","sms":"text for phones","GCM":"text for android"}"#)
        .send()
        .await
        .unwrap();
    let sms_messages = recorded(&server, "sms-messages", "").await;
    assert_eq!(texts(&sms_messages), vec!["text for phones"]);
    assert_eq!(sms_messages[0]["TopicArn"], topic_arn.as_str());
    assert_eq!(sms_messages[0]["SubscriptionArn"], sms.subscription_arn().unwrap());
    let push_messages = recorded(&server, "push-messages", "").await;
    assert_eq!(texts(&push_messages), vec!["text for android"]);
    assert_eq!(push_messages[0]["Destination"], endpoint_arn.as_str());
    assert_eq!(push_messages[0]["Token"], "token-a");

    sns.publish().topic_arn(&topic_arn).message("same for all").send().await.unwrap();
    assert_eq!(texts(&recorded(&server, "sms-messages", "").await), vec!["text for phones", "same for all"]);
    assert_eq!(texts(&recorded(&server, "push-messages", "").await), vec!["text for android", "same for all"]);
}

#[tokio::test]
async fn sandbox_numbers_are_verified_with_the_code_sent_to_them() {
    let server = TestServer::start().await;
    let sns = server.sns();
    let number = "+15555550177";
    sns.create_sms_sandbox_phone_number().phone_number(number).send().await.unwrap();
    let sent = recorded(&server, "sms-messages", "PhoneNumber=%2B15555550177").await;
    assert_eq!(sent.len(), 1);
    let text = sent[0]["Message"].as_str().unwrap();
    let code_sent: String = text.chars().filter(char::is_ascii_digit).collect();
    assert_eq!(code_sent.len(), 6, "{text}");

    let wrong = if code_sent == "000000" { "111111" } else { "000000" };
    let error = sns.verify_sms_sandbox_phone_number().phone_number(number).one_time_password(wrong).send().await;
    assert_eq!(code(&error.unwrap_err()), "VerificationException");
    sns.verify_sms_sandbox_phone_number().phone_number(number).one_time_password(&code_sent).send().await.unwrap();
    let listed = sns.list_sms_sandbox_phone_numbers().send().await.unwrap();
    let statuses: Vec<String> = listed
        .phone_numbers()
        .iter()
        .map(|entry| format!("{}={}", entry.phone_number().unwrap_or(""), entry.status().map_or("", |s| s.as_str())))
        .collect();
    assert_eq!(statuses, vec![format!("{number}=Verified")]);
}

/// A gateway on 127.0.0.1 that answers each POST with the next status of `statuses` (then 200)
/// and reports every body it accepted.
async fn gateway(statuses: Vec<u16>) -> (String, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    use http_body_util::BodyExt as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sms-gateway", listener.local_addr().unwrap());
    let (sender, received) = tokio::sync::mpsc::unbounded_channel();
    let statuses = std::sync::Arc::new(std::sync::Mutex::new(statuses.into_iter()));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (sender, statuses) = (sender.clone(), statuses.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let (sender, statuses) = (sender.clone(), statuses.clone());
                    async move {
                        let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let status = statuses.lock().unwrap().next().unwrap_or(200);
                        if status == 200 {
                            let _ = sender.send(serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null));
                        }
                        let mut response = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::new()));
                        *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        Ok::<_, hyper::Error>(response)
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    (url, received)
}

#[tokio::test]
async fn a_configured_webhook_receives_every_sms_and_push_message() {
    let (url, mut received) = gateway(vec![503]).await;
    let mut settings = common::config(None);
    settings.sns_mobile_webhook = Some(url);
    let server = TestServer::start_with(settings, None).await;
    let sns = server.sns();
    // The gateway refuses the first attempt; the outbox tries again.
    let sent = sns.publish().phone_number("+15555550111").message("via gateway").send().await.unwrap();
    let forwarded = tokio::time::timeout(common::HANG_TIMEOUT, received.recv()).await.unwrap().unwrap();
    assert_eq!(forwarded["Channel"], "sms");
    assert_eq!(forwarded["Destination"], "+15555550111");
    assert_eq!(forwarded["Message"], "via gateway");
    assert_eq!(forwarded["MessageId"], sent.message_id().unwrap());
    assert_eq!(texts(&recorded(&server, "sms-messages", "").await), vec!["via gateway"], "recorded once accepted");

    let application_arn = gcm_application(&server.sns(), "gateway-app").await;
    let endpoint_arn = platform_endpoint(&server.sns(), &application_arn, "gateway-token").await;
    sns.publish().target_arn(&endpoint_arn).message("to a device").send().await.unwrap();
    let forwarded = tokio::time::timeout(common::HANG_TIMEOUT, received.recv()).await.unwrap().unwrap();
    assert_eq!(forwarded["Channel"], "push");
    assert_eq!(forwarded["Token"], "gateway-token");
    assert_eq!(forwarded["Destination"], endpoint_arn.as_str());
}
