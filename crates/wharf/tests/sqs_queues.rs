//! Queue management through aws-sdk-sqs.

mod common;

use aws_sdk_sqs::types::QueueAttributeName;
use common::{code, TestServer, ACCOUNT};

#[tokio::test]
async fn create_get_list_delete() {
    let server = TestServer::start().await;
    let client = server.client();
    let url = server.create("orders").await;
    assert_eq!(url, server.url("orders"));
    let got = client.get_queue_url().queue_name("orders").send().await.unwrap();
    assert_eq!(got.queue_url(), Some(url.as_str()));
    server.create("orders-dlq").await;
    server.create("payments").await;

    let listed = client.list_queues().queue_name_prefix("orders").send().await.unwrap();
    assert_eq!(listed.queue_urls(), &[server.url("orders"), server.url("orders-dlq")]);
    assert!(listed.next_token().is_none());

    client.delete_queue().queue_url(&url).send().await.unwrap();
    let error = client.get_queue_url().queue_name("orders").send().await.unwrap_err();
    assert_eq!(code(&error), "AWS.SimpleQueueService.NonExistentQueue");
    assert!(error.into_service_error().is_queue_does_not_exist());
    let error = client.delete_queue().queue_url(&url).send().await.unwrap_err();
    assert!(error.into_service_error().is_queue_does_not_exist());
}

#[tokio::test]
async fn list_queues_pages_with_max_results() {
    let server = TestServer::start().await;
    let client = server.client();
    for index in 0..5 {
        server.create(&format!("page-{index}")).await;
    }
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = client.list_queues().max_results(2).set_next_token(token).send().await.unwrap();
        assert!(page.queue_urls().len() <= 2);
        seen.extend(page.queue_urls().iter().cloned());
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let expected: Vec<String> = (0..5).map(|index| server.url(&format!("page-{index}"))).collect();
    assert_eq!(seen, expected);
    let error = client.list_queues().max_results(1001).send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidParameterValue");
    let error = client.list_queues().max_results(1).next_token("forged").send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidParameterValue");
}

#[tokio::test]
async fn create_is_idempotent_only_for_identical_attributes() {
    let server = TestServer::start().await;
    let client = server.client();
    let create = |timeout: &str| {
        client.create_queue().queue_name("idem").attributes(QueueAttributeName::VisibilityTimeout, timeout).send()
    };
    let first = create("45").await.unwrap();
    let again = create("45").await.unwrap();
    assert_eq!(first.queue_url(), again.queue_url());
    // Naming no attributes matches the existing queue too.
    client.create_queue().queue_name("idem").send().await.unwrap();
    let error = create("46").await.unwrap_err();
    assert_eq!(code(&error), "QueueAlreadyExists");
    assert!(error.into_service_error().is_queue_name_exists());
}

#[tokio::test]
async fn queue_names_are_validated() {
    let server = TestServer::start().await;
    let client = server.client();
    for bad in ["", "has space", "dot.name", &"x".repeat(81)] {
        let error = client.create_queue().queue_name(bad).send().await.unwrap_err();
        assert_eq!(code(&error), "InvalidParameterValue", "{bad:?}");
    }
    client.create_queue().queue_name("A-z_09".repeat(14).get(..80).unwrap()).send().await.unwrap();
}

#[tokio::test]
async fn attribute_defaults_ranges_and_updates() {
    let server = TestServer::start().await;
    let client = server.client();
    let url = server.create("attrs").await;
    let all =
        client.get_queue_attributes().queue_url(&url).attribute_names(QueueAttributeName::All).send().await.unwrap();
    let attributes = all.attributes().unwrap();
    let get = |name: QueueAttributeName| attributes.get(&name).cloned().unwrap_or_default();
    assert_eq!(get(QueueAttributeName::VisibilityTimeout), "30");
    assert_eq!(get(QueueAttributeName::MaximumMessageSize), "1048576");
    assert_eq!(get(QueueAttributeName::MessageRetentionPeriod), "345600");
    assert_eq!(get(QueueAttributeName::DelaySeconds), "0");
    assert_eq!(get(QueueAttributeName::ReceiveMessageWaitTimeSeconds), "0");
    assert_eq!(get(QueueAttributeName::ApproximateNumberOfMessages), "0");
    assert_eq!(get(QueueAttributeName::SqsManagedSseEnabled), "true");
    assert_eq!(get(QueueAttributeName::QueueArn), format!("arn:aws:sqs:us-east-1:{ACCOUNT}:attrs"));
    assert!(!attributes.contains_key(&QueueAttributeName::FifoQueue));
    assert!(!attributes.contains_key(&QueueAttributeName::RedrivePolicy));

    client
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::VisibilityTimeout, "120")
        .attributes(QueueAttributeName::MaximumMessageSize, "2048")
        .attributes(QueueAttributeName::Policy, r#"{"Version":"2012-10-17","Statement":[]}"#)
        .send()
        .await
        .unwrap();
    let some = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::VisibilityTimeout)
        .attribute_names(QueueAttributeName::MaximumMessageSize)
        .attribute_names(QueueAttributeName::Policy)
        .send()
        .await
        .unwrap();
    let attributes = some.attributes().unwrap();
    assert_eq!(attributes.len(), 3);
    assert_eq!(attributes[&QueueAttributeName::VisibilityTimeout], "120");
    assert_eq!(attributes[&QueueAttributeName::MaximumMessageSize], "2048");

    for (name, value) in [
        (QueueAttributeName::VisibilityTimeout, "43201"),
        (QueueAttributeName::DelaySeconds, "901"),
        (QueueAttributeName::MaximumMessageSize, "1023"),
        (QueueAttributeName::MessageRetentionPeriod, "59"),
        (QueueAttributeName::ReceiveMessageWaitTimeSeconds, "21"),
    ] {
        let error =
            client.set_queue_attributes().queue_url(&url).attributes(name.clone(), value).send().await.unwrap_err();
        assert_eq!(code(&error), "InvalidAttributeValue", "{name:?}={value}");
    }
    let error = client
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::from("NotAnAttribute"), "1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidAttributeName");
    // A failed update changes nothing.
    let error = client
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::DelaySeconds, "5")
        .attributes(QueueAttributeName::VisibilityTimeout, "-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidAttributeValue");
    let delay = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::DelaySeconds)
        .send()
        .await
        .unwrap();
    assert_eq!(delay.attributes().unwrap()[&QueueAttributeName::DelaySeconds], "0");
}

#[tokio::test]
async fn redrive_policy_needs_an_existing_target_and_lists_sources() {
    let server = TestServer::start().await;
    let client = server.client();
    let missing = format!(r#"{{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:{ACCOUNT}:nope","maxReceiveCount":3}}"#);
    let error = client
        .create_queue()
        .queue_name("src")
        .attributes(QueueAttributeName::RedrivePolicy, missing)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidParameterValue");
    let dlq = server.create("dlq").await;
    let policy = format!(r#"{{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:{ACCOUNT}:dlq","maxReceiveCount":"3"}}"#);
    let source = client
        .create_queue()
        .queue_name("src")
        .attributes(QueueAttributeName::RedrivePolicy, policy)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let got = client
        .get_queue_attributes()
        .queue_url(&source)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.attributes().unwrap()[&QueueAttributeName::RedrivePolicy],
        format!(r#"{{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:{ACCOUNT}:dlq","maxReceiveCount":3}}"#)
    );
    let sources = client.list_dead_letter_source_queues().queue_url(&dlq).send().await.unwrap();
    assert_eq!(sources.queue_urls(), std::slice::from_ref(&source));
    for bad in [
        r#"{"maxReceiveCount":3}"#,
        r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":1001}"#,
    ] {
        let error = client
            .set_queue_attributes()
            .queue_url(&source)
            .attributes(QueueAttributeName::RedrivePolicy, bad)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&error), "InvalidParameterValue", "{bad}");
    }
    let error = client
        .set_queue_attributes()
        .queue_url(&source)
        .attributes(QueueAttributeName::RedrivePolicy, "{")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidAttributeValue");
}

#[tokio::test]
async fn tags_and_permissions() {
    let server = TestServer::start().await;
    let client = server.client();
    let url = client.create_queue().queue_name("tagged").tags("team", "core").send().await.unwrap().queue_url.unwrap();
    client.tag_queue().queue_url(&url).tags("env", "test").send().await.unwrap();
    let tags = client.list_queue_tags().queue_url(&url).send().await.unwrap();
    let tags = tags.tags().unwrap();
    assert_eq!((tags["team"].as_str(), tags["env"].as_str()), ("core", "test"));
    client.untag_queue().queue_url(&url).tag_keys("team").send().await.unwrap();
    let tags = client.list_queue_tags().queue_url(&url).send().await.unwrap();
    assert_eq!(tags.tags().unwrap().len(), 1);
    let mut too_many = client.tag_queue().queue_url(&url);
    for index in 0..50 {
        too_many = too_many.tags(format!("k{index}"), "v");
    }
    assert_eq!(code(&too_many.send().await.unwrap_err()), "InvalidParameterValue");

    client
        .add_permission()
        .queue_url(&url)
        .label("allow-send")
        .aws_account_ids("111122223333")
        .actions("SendMessage")
        .send()
        .await
        .unwrap();
    let policy =
        client.get_queue_attributes().queue_url(&url).attribute_names(QueueAttributeName::Policy).send().await.unwrap();
    let policy: serde_json::Value =
        serde_json::from_str(&policy.attributes().unwrap()[&QueueAttributeName::Policy]).unwrap();
    assert_eq!(policy["Statement"][0]["Sid"], "allow-send");
    assert_eq!(policy["Statement"][0]["Action"][0], "SQS:SendMessage");
    let duplicate = client
        .add_permission()
        .queue_url(&url)
        .label("allow-send")
        .aws_account_ids("111122223333")
        .actions("SendMessage")
        .send()
        .await;
    assert_eq!(code(&duplicate.unwrap_err()), "InvalidParameterValue");
    client.remove_permission().queue_url(&url).label("allow-send").send().await.unwrap();
    let error = client.remove_permission().queue_url(&url).label("allow-send").send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidParameterValue");
    let policy =
        client.get_queue_attributes().queue_url(&url).attribute_names(QueueAttributeName::Policy).send().await.unwrap();
    assert!(policy.attributes().is_none_or(|attributes| !attributes.contains_key(&QueueAttributeName::Policy)));
}

#[tokio::test]
async fn recreating_a_deleted_queue_waits_when_configured() {
    let mut config = common::config(None);
    config.queue_recreate_delay_ms = 60_000;
    let clock = std::sync::Arc::new(wharf_domain::ManualClock::new(common::START_MS));
    let server = TestServer::start_with(config, Some(clock)).await;
    let client = server.client();
    let url = server.create("again").await;
    client.delete_queue().queue_url(&url).send().await.unwrap();
    let error = client.create_queue().queue_name("again").send().await.unwrap_err();
    assert_eq!(code(&error), "AWS.SimpleQueueService.QueueDeletedRecently");
    server.advance_secs(60);
    client.create_queue().queue_name("again").send().await.unwrap();
}

#[tokio::test]
async fn redrive_allow_policy_is_enforced() {
    let server = TestServer::start().await;
    let client = server.client();
    let policy_for =
        |dlq: &str| format!(r#"{{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:{ACCOUNT}:{dlq}","maxReceiveCount":3}}"#);
    let deny = client
        .create_queue()
        .queue_name("deny-dlq")
        .attributes(QueueAttributeName::RedriveAllowPolicy, r#"{"redrivePermission":"denyAll"}"#)
        .send()
        .await
        .unwrap();
    assert!(deny.queue_url().is_some());
    let error = client
        .create_queue()
        .queue_name("s1")
        .attributes(QueueAttributeName::RedrivePolicy, policy_for("deny-dlq"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidParameterValue");
    let by_queue =
        format!(r#"{{"redrivePermission":"byQueue","sourceQueueArns":["arn:aws:sqs:us-east-1:{ACCOUNT}:allowed"]}}"#);
    client
        .create_queue()
        .queue_name("picky-dlq")
        .attributes(QueueAttributeName::RedriveAllowPolicy, by_queue)
        .send()
        .await
        .unwrap();
    client
        .create_queue()
        .queue_name("allowed")
        .attributes(QueueAttributeName::RedrivePolicy, policy_for("picky-dlq"))
        .send()
        .await
        .unwrap();
    let other = server.create("other").await;
    let error = client
        .set_queue_attributes()
        .queue_url(&other)
        .attributes(QueueAttributeName::RedrivePolicy, policy_for("picky-dlq"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidParameterValue");
}
