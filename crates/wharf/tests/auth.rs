//! Authentication and accounts. With `[[auth.users]]` configured every request must carry a
//! valid SigV4 signature of one of them and acts in that user's account; with none configured
//! anything is accepted in the default account, as local emulators do.

mod common;

use aws_sdk_sqs::types::QueueAttributeName;
use common::{client, code, config, json_call, query_call, raw_request, xml_text, TestServer, ACCOUNT};
use serde_json::json;
use wharf::config::UserConfig;

const ALICE_KEY: &str = "AKIDALICE0000001";
const ALICE_SECRET: &str = "alice-secret-key";
const ALICE_ACCOUNT: &str = "111111111111";
const BOB_KEY: &str = "AKIDBOB000000002";
const BOB_SECRET: &str = "bob-secret-key";
const BOB_ACCOUNT: &str = "222222222222";
/// A user configured without an account acts in the server's default account.
const CAROL_KEY: &str = "AKIDCAROL0000003";
const CAROL_SECRET: &str = "carol-secret-key";

async fn start_with_users() -> TestServer {
    let mut config = config(None);
    config.users = vec![
        UserConfig {
            access_key_id: ALICE_KEY.into(),
            secret_access_key: ALICE_SECRET.into(),
            account_id: Some(ALICE_ACCOUNT.into()),
        },
        UserConfig {
            access_key_id: BOB_KEY.into(),
            secret_access_key: BOB_SECRET.into(),
            account_id: Some(BOB_ACCOUNT.into()),
        },
        UserConfig { access_key_id: CAROL_KEY.into(), secret_access_key: CAROL_SECRET.into(), account_id: None },
    ];
    TestServer::start_with(config, None).await
}

fn status<E>(error: &aws_sdk_sqs::error::SdkError<E, aws_sdk_sqs::config::http::HttpResponse>) -> u16 {
    error.raw_response().map(|response| response.status().as_u16()).unwrap_or(0)
}

#[tokio::test]
async fn the_right_secret_works_and_queues_live_in_the_users_account() {
    let server = start_with_users().await;
    let alice = client(&server.endpoint, ALICE_KEY, ALICE_SECRET);
    let url = alice.create_queue().queue_name("alice-queue").send().await.unwrap().queue_url.unwrap();
    assert_eq!(url, format!("{}/{ALICE_ACCOUNT}/alice-queue", server.endpoint));
    let arn = alice
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    assert_eq!(arn, format!("arn:aws:sqs:us-east-1:{ALICE_ACCOUNT}:alice-queue"));
    alice.send_message().queue_url(&url).message_body("signed").send().await.unwrap();
    let received = alice
        .receive_message()
        .queue_url(&url)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::SenderId)
        .send()
        .await
        .unwrap();
    let message = &received.messages()[0];
    assert_eq!(message.body(), Some("signed"));
    assert_eq!(
        message.attributes().unwrap()[&aws_sdk_sqs::types::MessageSystemAttributeName::SenderId],
        ALICE_KEY,
        "SenderId is the caller's access key"
    );
    assert_eq!(alice.get_queue_url().queue_name("alice-queue").send().await.unwrap().queue_url(), Some(url.as_str()));

    let carol = client(&server.endpoint, CAROL_KEY, CAROL_SECRET);
    let url = carol.create_queue().queue_name("carol-queue").send().await.unwrap().queue_url.unwrap();
    assert_eq!(url, format!("{}/{ACCOUNT}/carol-queue", server.endpoint));
}

#[tokio::test]
async fn a_wrong_secret_is_signature_does_not_match() {
    let server = start_with_users().await;
    let impostor = client(&server.endpoint, ALICE_KEY, "not-alices-secret");
    let error = impostor.list_queues().send().await.unwrap_err();
    assert_eq!(code(&error), "SignatureDoesNotMatch");
    assert_eq!(status(&error), 403);
    let error = impostor.create_queue().queue_name("nope").send().await.unwrap_err();
    assert_eq!(code(&error), "SignatureDoesNotMatch");
    // Another user's secret is just as wrong.
    let crossed = client(&server.endpoint, ALICE_KEY, BOB_SECRET);
    let error = crossed.list_queues().send().await.unwrap_err();
    assert_eq!(code(&error), "SignatureDoesNotMatch");
    let alice = client(&server.endpoint, ALICE_KEY, ALICE_SECRET);
    assert!(alice.list_queues().send().await.unwrap().queue_urls().is_empty(), "the refused CreateQueue did nothing");
}

#[tokio::test]
async fn an_unknown_access_key_is_invalid_client_token_id() {
    let server = start_with_users().await;
    let stranger = client(&server.endpoint, "AKIDNOBODY000000", "whatever");
    let error = stranger.list_queues().send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidClientTokenId");
    assert_eq!(status(&error), 403);
}

#[tokio::test]
async fn unsigned_and_badly_signed_raw_requests_are_refused() {
    let server = start_with_users().await;
    let reply = json_call(&server.endpoint, "ListQueues", &json!({})).await;
    assert_eq!(reply.status, 403, "{}", reply.text());
    assert_eq!(reply.header("x-amzn-query-error"), Some("MissingAuthenticationToken;Sender"));
    assert!(reply.json()["__type"].as_str().unwrap().contains("MissingAuthenticationToken"), "{}", reply.text());

    let reply = query_call(&server.endpoint, "/", "Action=ListQueues&Version=2012-11-05").await;
    assert_eq!(reply.status, 403, "{}", reply.text());
    assert_eq!(xml_text(&reply.text(), "Code").as_deref(), Some("MissingAuthenticationToken"), "{}", reply.text());

    // A well-formed Authorization header whose signature is wrong.
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={ALICE_KEY}/20260101/us-east-1/sqs/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={}",
        "0".repeat(64)
    );
    let reply = raw_request(
        &server.endpoint,
        false,
        "POST",
        "/",
        &[
            ("x-amz-target", "AmazonSQS.ListQueues"),
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-date", "20260101T000000Z"),
            ("authorization", &authorization),
        ],
        "{}",
    )
    .await;
    assert_eq!(reply.status, 403, "{}", reply.text());
    assert_eq!(reply.header("x-amzn-query-error"), Some("SignatureDoesNotMatch;Sender"));

    // A garbled Authorization header is a client error, not a server one.
    let reply = raw_request(
        &server.endpoint,
        false,
        "POST",
        "/",
        &[
            ("x-amz-target", "AmazonSQS.ListQueues"),
            ("content-type", "application/x-amz-json-1.0"),
            ("authorization", "AWS4-HMAC-SHA256 garbage"),
        ],
        "{}",
    )
    .await;
    assert!((400..500).contains(&reply.status), "{} {}", reply.status, reply.text());

    // Admin endpoints are not AWS APIs and need no signature.
    let health = raw_request(&server.endpoint, false, "GET", "/_wharf/health", &[], "").await;
    assert_eq!(health.status, 200);
}

#[tokio::test]
async fn users_in_different_accounts_do_not_see_each_others_queues() {
    let server = start_with_users().await;
    let alice = client(&server.endpoint, ALICE_KEY, ALICE_SECRET);
    let bob = client(&server.endpoint, BOB_KEY, BOB_SECRET);
    alice.create_queue().queue_name("shared-name").send().await.unwrap();
    alice.create_queue().queue_name("alice-only").send().await.unwrap();
    bob.create_queue().queue_name("shared-name").send().await.unwrap();
    bob.create_queue().queue_name("bob-only").send().await.unwrap();

    let listed = alice.list_queues().send().await.unwrap();
    assert_eq!(
        listed.queue_urls(),
        &[
            format!("{}/{ALICE_ACCOUNT}/alice-only", server.endpoint),
            format!("{}/{ALICE_ACCOUNT}/shared-name", server.endpoint)
        ]
    );
    let listed = bob.list_queues().send().await.unwrap();
    assert_eq!(
        listed.queue_urls(),
        &[
            format!("{}/{BOB_ACCOUNT}/bob-only", server.endpoint),
            format!("{}/{BOB_ACCOUNT}/shared-name", server.endpoint)
        ]
    );
    let error = bob.get_queue_url().queue_name("alice-only").send().await.unwrap_err();
    assert_eq!(code(&error), "AWS.SimpleQueueService.NonExistentQueue");

    // Same name, separate queues.
    let alice_shared = format!("{}/{ALICE_ACCOUNT}/shared-name", server.endpoint);
    let bob_shared = format!("{}/{BOB_ACCOUNT}/shared-name", server.endpoint);
    alice.send_message().queue_url(&alice_shared).message_body("for alice").send().await.unwrap();
    let received = bob.receive_message().queue_url(&bob_shared).send().await.unwrap();
    assert!(received.messages().is_empty());
    // A queue name alone resolves in the caller's own account.
    let received = bob.receive_message().queue_url("shared-name").send().await.unwrap();
    assert!(received.messages().is_empty());
}

/// On AWS another account's queue is off limits unless its policy grants access: requests get
/// `AccessDenied` (HTTP 403). Wharf may also pretend the queue does not exist; either way Bob
/// must not be able to use Alice's queue by its URL.
#[tokio::test]
async fn another_accounts_queue_url_is_off_limits() {
    let server = start_with_users().await;
    let alice = client(&server.endpoint, ALICE_KEY, ALICE_SECRET);
    let bob = client(&server.endpoint, BOB_KEY, BOB_SECRET);
    let url = alice.create_queue().queue_name("private").send().await.unwrap().queue_url.unwrap();
    alice.send_message().queue_url(&url).message_body("secret").send().await.unwrap();

    let refused = |code: &str| code == "AccessDenied" || code == "AWS.SimpleQueueService.NonExistentQueue";
    let error = bob.send_message().queue_url(&url).message_body("intruder").send().await.unwrap_err();
    assert!(refused(&code(&error)), "{}", code(&error));
    let error = bob.receive_message().queue_url(&url).send().await.unwrap_err();
    assert!(refused(&code(&error)), "{}", code(&error));
    let error = bob.purge_queue().queue_url(&url).send().await.unwrap_err();
    assert!(refused(&code(&error)), "{}", code(&error));
    let error = bob
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::VisibilityTimeout, "0")
        .send()
        .await
        .unwrap_err();
    assert!(refused(&code(&error)), "{}", code(&error));
    let error = bob.delete_queue().queue_url(&url).send().await.unwrap_err();
    assert!(refused(&code(&error)), "{}", code(&error));
    let error =
        bob.get_queue_url().queue_name("private").queue_owner_aws_account_id(ALICE_ACCOUNT).send().await.unwrap_err();
    assert!(refused(&code(&error)), "{}", code(&error));

    let received = alice.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    let bodies: Vec<&str> = received.messages().iter().filter_map(|message| message.body()).collect();
    assert_eq!(bodies, ["secret"]);
}

#[tokio::test]
async fn without_users_anything_is_accepted_in_the_default_account() {
    let server = TestServer::start().await;
    let url = server.create("open").await;
    let reply =
        json_call(&server.endpoint, "SendMessage", &json!({"QueueUrl": url, "MessageBody": "unsigned json"})).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = query_call(
        &server.endpoint,
        &format!("/{ACCOUNT}/open"),
        "Action=SendMessage&MessageBody=unsigned%20query&Version=2012-11-05",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    // Any key and secret; every caller shares the default account.
    let someone = client(&server.endpoint, "AKIDANYONE", "any-secret");
    let listed = someone.list_queues().send().await.unwrap();
    assert_eq!(listed.queue_urls(), &[server.url("open")]);
    let received = someone.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    let mut bodies: Vec<&str> = received.messages().iter().filter_map(|message| message.body()).collect();
    bodies.sort();
    assert_eq!(bodies, ["unsigned json", "unsigned query"]);
}

/// A GET of `path_and_query` signed by `key`/`secret` with wharf-aws's signer.
async fn signed_admin_get(server: &TestServer, path_and_query: &str, key: &str, secret: &str) -> common::RawResponse {
    let host = server.endpoint.trim_start_matches("http://").to_string();
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let unsigned = [("host", host.as_str())];
    let request = wharf_aws::sigv4::RequestToVerify { method: "GET", path, query, headers: &unsigned, body: b"" };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let params = wharf_aws::sigv4::SigningParams {
        access_key_id: key,
        secret_access_key: secret,
        session_token: None,
        region: "us-east-1",
        service: "sns",
        unix_seconds: now,
    };
    let signature = wharf_aws::sigv4::sign(&request, &params);
    let headers: Vec<(&str, &str)> = signature.iter().map(|(name, value)| (*name, value.as_str())).collect();
    raw_request(&server.endpoint, false, "GET", path_and_query, &headers, "").await
}

#[tokio::test]
async fn admin_data_endpoints_need_a_signature_once_users_are_configured() {
    let server = start_with_users().await;
    // Probes, scrapers and SNS subscribers reach these without credentials.
    for path in ["/_wharf/health", "/_wharf/metrics", wharf_sns::SIGNING_CERT_PATH] {
        let reply = raw_request(&server.endpoint, false, "GET", path, &[], "").await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    }
    // Recorded SMS messages and the opt-out hook are data: unsigned or forged requests are refused.
    let unsigned = raw_request(&server.endpoint, false, "GET", "/_wharf/sns/sms-messages", &[], "").await;
    assert_eq!(unsigned.status, 403, "{}", unsigned.text());
    assert_eq!(unsigned.json()["Error"], "MissingAuthenticationToken");
    let opt_out = "/_wharf/sns/sms-opt-outs?AccountId=111111111111&PhoneNumber=%2B15555550100";
    let unsigned = raw_request(&server.endpoint, false, "POST", opt_out, &[], "").await;
    assert_eq!(unsigned.status, 403);
    let forged = signed_admin_get(&server, "/_wharf/sns/sms-messages", ALICE_KEY, "not-alices-secret").await;
    assert_eq!(forged.status, 403);
    assert_eq!(forged.json()["Error"], "SignatureDoesNotMatch");
    let unknown = signed_admin_get(&server, "/_wharf/sns/sms-messages", "AKIDNOBODY000000", "x").await;
    assert_eq!(unknown.status, 403);
    // A configured user's signature opens them.
    let signed =
        signed_admin_get(&server, "/_wharf/sns/sms-messages?PhoneNumber=%2B15555550100", ALICE_KEY, ALICE_SECRET).await;
    assert_eq!(signed.status, 200, "{}", signed.text());
    assert_eq!(signed.json()["Messages"], json!([]));
}

#[tokio::test]
async fn admin_data_endpoints_are_open_without_configured_users() {
    let server = TestServer::start().await;
    let reply = raw_request(&server.endpoint, false, "GET", "/_wharf/sns/sms-messages", &[], "").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}
