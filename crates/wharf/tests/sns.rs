//! SNS through aws-sdk-sns: topics, subscriptions, tags and permissions, and publishing into
//! subscribed SQS queues (the signed JSON envelope, raw delivery, filter policies, FIFO topics
//! and batches), checked by reading the queues with aws-sdk-sqs.

mod common;

use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry, Tag};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use common::{code, TestServer};
use serde_json::Value;

async fn topic(server: &TestServer, name: &str) -> String {
    server.sns().create_topic().name(name).send().await.expect("create topic").topic_arn.expect("arn")
}

/// Creates a queue and subscribes it; returns (queue URL, subscription ARN).
async fn subscribed_queue(
    server: &TestServer,
    topic_arn: &str,
    queue: &str,
    attributes: &[(&str, &str)],
) -> (String, String) {
    let url = server.create(queue).await;
    let arn = format!("arn:aws:sqs:us-east-1:000000000000:{queue}");
    let mut request = server.sns().subscribe().topic_arn(topic_arn).protocol("sqs").endpoint(arn);
    for (name, value) in attributes {
        request = request.attributes(*name, *value);
    }
    let subscription = request.send().await.expect("subscribe").subscription_arn.expect("subscription arn");
    (url, subscription)
}

async fn bodies(server: &TestServer, url: &str) -> Vec<String> {
    let received = server.client().receive_message().queue_url(url).max_number_of_messages(10).send().await.unwrap();
    received.messages().iter().map(|m| m.body().unwrap().to_string()).collect()
}

fn string_attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder().data_type("String").string_value(value).build().unwrap()
}

#[tokio::test]
async fn topics_have_attributes_tags_and_permissions() {
    let server = TestServer::start().await;
    let sns = server.sns();
    let arn = sns
        .create_topic()
        .name("orders")
        .attributes("DisplayName", "Orders")
        .tags(Tag::builder().key("team").value("shop").build().unwrap())
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    assert_eq!(arn, "arn:aws:sns:us-east-1:000000000000:orders");
    let again = sns.create_topic().name("orders").attributes("DisplayName", "Orders").send().await.unwrap();
    assert_eq!(again.topic_arn(), Some(arn.as_str()), "CreateTopic is idempotent");
    let error = sns.create_topic().name("orders").attributes("DisplayName", "Other").send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidParameter");
    for bad in ["has space", "x.fifo"] {
        assert_eq!(code(&sns.create_topic().name(bad).send().await.unwrap_err()), "InvalidParameter", "{bad}");
    }

    let attributes = sns.get_topic_attributes().topic_arn(&arn).send().await.unwrap();
    let attributes = attributes.attributes().unwrap();
    assert_eq!(attributes["DisplayName"], "Orders");
    assert_eq!(attributes["TopicArn"], arn);
    assert_eq!(attributes["Owner"], "000000000000");
    assert_eq!(attributes["SubscriptionsConfirmed"], "0");
    let policy: Value = serde_json::from_str(&attributes["Policy"]).unwrap();
    assert_eq!(policy["Statement"][0]["Resource"], arn.as_str());
    assert!(!attributes.contains_key("FifoTopic"));

    sns.set_topic_attributes()
        .topic_arn(&arn)
        .attribute_name("SignatureVersion")
        .attribute_value("2")
        .send()
        .await
        .unwrap();
    let error = sns
        .set_topic_attributes()
        .topic_arn(&arn)
        .attribute_name("Bogus")
        .attribute_value("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidParameter");

    sns.tag_resource()
        .resource_arn(&arn)
        .tags(Tag::builder().key("env").value("test").build().unwrap())
        .send()
        .await
        .unwrap();
    sns.untag_resource().resource_arn(&arn).tag_keys("team").send().await.unwrap();
    let tags = sns.list_tags_for_resource().resource_arn(&arn).send().await.unwrap();
    let tags: Vec<(&str, &str)> = tags.tags().iter().map(|tag| (tag.key(), tag.value())).collect();
    assert_eq!(tags, [("env", "test")]);

    sns.add_permission()
        .topic_arn(&arn)
        .label("pub")
        .aws_account_id("111122223333")
        .action_name("Publish")
        .send()
        .await
        .unwrap();
    let policy = sns.get_topic_attributes().topic_arn(&arn).send().await.unwrap();
    assert!(policy.attributes().unwrap()["Policy"].contains("111122223333"));
    sns.remove_permission().topic_arn(&arn).label("pub").send().await.unwrap();
    let error = sns.remove_permission().topic_arn(&arn).label("pub").send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidParameter");

    let listed = sns.list_topics().send().await.unwrap();
    assert_eq!(listed.topics().iter().filter_map(|topic| topic.topic_arn()).collect::<Vec<_>>(), [arn.as_str()]);
    sns.delete_topic().topic_arn(&arn).send().await.unwrap();
    sns.delete_topic().topic_arn(&arn).send().await.expect("deleting a missing topic succeeds");
    let error = sns.get_topic_attributes().topic_arn(&arn).send().await.unwrap_err();
    assert_eq!(code(&error), "NotFound");
}

#[tokio::test]
async fn a_publication_reaches_every_subscribed_queue_as_a_signed_envelope() {
    let server = TestServer::start().await;
    let sns = server.sns();
    let arn = topic(&server, "news").await;
    let (first, subscription) = subscribed_queue(&server, &arn, "news-a", &[]).await;
    let (second, _) = subscribed_queue(&server, &arn, "news-b", &[]).await;
    let published = sns
        .publish()
        .topic_arn(&arn)
        .subject("Hello")
        .message("body text")
        .message_attributes("colour", string_attribute("blue"))
        .send()
        .await
        .unwrap();
    let message_id = published.message_id().unwrap();
    for url in [&first, &second] {
        // Each queue's copy names its own subscription in the UnsubscribeURL.
        let received = bodies(&server, url).await;
        assert_eq!(received.len(), 1);
        let envelope: Value = serde_json::from_str(&received[0]).unwrap();
        assert_eq!(envelope["Type"], "Notification");
        assert_eq!(envelope["MessageId"], message_id);
        assert_eq!(envelope["TopicArn"], arn.as_str());
        assert_eq!(envelope["Subject"], "Hello");
        assert_eq!(envelope["Message"], "body text");
        assert_eq!(envelope["SignatureVersion"], "1");
        assert!(envelope["Signature"].as_str().is_some_and(|signature| !signature.is_empty()));
        assert!(envelope["SigningCertURL"].as_str().unwrap().ends_with(wharf_sns::SIGNING_CERT_PATH));
        let unsubscribe = envelope["UnsubscribeURL"].as_str().unwrap();
        assert!(
            unsubscribe.contains("?Action=Unsubscribe&") && unsubscribe.contains(&format!("SubscriptionArn={arn}:"))
        );
        assert_eq!(envelope["MessageAttributes"]["colour"]["Type"], "String");
        assert_eq!(envelope["MessageAttributes"]["colour"]["Value"], "blue");
        let timestamp = envelope["Timestamp"].as_str().unwrap();
        assert!(timestamp.ends_with('Z') && timestamp.len() == 24, "{timestamp}");
    }
    let listed = sns.list_subscriptions_by_topic().topic_arn(&arn).send().await.unwrap();
    assert_eq!(listed.subscriptions().len(), 2);
    assert!(listed.subscriptions().iter().all(|subscription| subscription.protocol() == Some("sqs")));

    // After unsubscribing, that queue receives nothing more.
    sns.unsubscribe().subscription_arn(&subscription).send().await.unwrap();
    sns.publish().topic_arn(&arn).message("second").send().await.unwrap();
    assert!(bodies(&server, &first).await.is_empty());
    assert_eq!(bodies(&server, &second).await.len(), 1);
    let error = sns.get_subscription_attributes().subscription_arn(&subscription).send().await.unwrap_err();
    assert_eq!(code(&error), "NotFound");
}

#[tokio::test]
async fn raw_delivery_passes_the_message_and_its_attributes_through() {
    let server = TestServer::start().await;
    let sns = server.sns();
    let arn = topic(&server, "raw").await;
    let (url, subscription) = subscribed_queue(&server, &arn, "raw-q", &[("RawMessageDelivery", "true")]).await;
    let attributes = sns.get_subscription_attributes().subscription_arn(&subscription).send().await.unwrap();
    assert_eq!(attributes.attributes().unwrap()["RawMessageDelivery"], "true");
    sns.publish()
        .topic_arn(&arn)
        .message("just the body")
        .message_attributes("colour", string_attribute("green"))
        .message_attributes(
            "count",
            MessageAttributeValue::builder().data_type("Number").string_value("3").build().unwrap(),
        )
        .send()
        .await
        .unwrap();
    let received = server
        .client()
        .receive_message()
        .queue_url(&url)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::SenderId)
        .send()
        .await
        .unwrap();
    let message = &received.messages()[0];
    assert_eq!(message.body(), Some("just the body"));
    let attributes = message.message_attributes().unwrap();
    assert_eq!(attributes["colour"].string_value(), Some("green"));
    assert_eq!(attributes["count"].data_type(), "Number");
    assert!(message.md5_of_message_attributes().is_some());
}

#[tokio::test]
async fn filter_policies_choose_the_subscriptions_a_message_reaches() {
    let server = TestServer::start().await;
    let sns = server.sns();
    let arn = topic(&server, "filtered").await;
    let (blue, _) = subscribed_queue(&server, &arn, "blue", &[("FilterPolicy", r#"{"colour":["blue"]}"#)]).await;
    let (big, _) = subscribed_queue(
        &server,
        &arn,
        "big",
        &[("FilterPolicy", r#"{"size":[{"numeric":[">",10]}]}"#), ("RawMessageDelivery", "true")],
    )
    .await;
    let (body, _) = subscribed_queue(
        &server,
        &arn,
        "body",
        &[
            ("FilterPolicy", r#"{"kind":["order"]}"#),
            ("FilterPolicyScope", "MessageBody"),
            ("RawMessageDelivery", "true"),
        ],
    )
    .await;
    let number =
        |value: &str| MessageAttributeValue::builder().data_type("Number").string_value(value).build().unwrap();
    sns.publish()
        .topic_arn(&arn)
        .message("m1")
        .message_attributes("colour", string_attribute("blue"))
        .send()
        .await
        .unwrap();
    sns.publish().topic_arn(&arn).message("m2").message_attributes("size", number("42")).send().await.unwrap();
    sns.publish().topic_arn(&arn).message("m3").message_attributes("size", number("5")).send().await.unwrap();
    sns.publish().topic_arn(&arn).message(r#"{"kind":"order","id":1}"#).send().await.unwrap();
    let blue_bodies: Vec<String> = bodies(&server, &blue)
        .await
        .iter()
        .map(|body| serde_json::from_str::<Value>(body).unwrap()["Message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(blue_bodies, ["m1"]);
    assert_eq!(bodies(&server, &big).await, ["m2"]);
    assert_eq!(bodies(&server, &body).await, [r#"{"kind":"order","id":1}"#]);

    let error = sns
        .subscribe()
        .topic_arn(&arn)
        .protocol("sqs")
        .endpoint("arn:aws:sqs:us-east-1:000000000000:other")
        .attributes("FilterPolicy", r#"{"colour": "not-a-list"}"#)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidParameter");
}

#[tokio::test]
async fn fifo_topics_deliver_in_group_order_without_duplicates() {
    let server = TestServer::start().await;
    let sns = server.sns();
    let arn = sns
        .create_topic()
        .name("orders.fifo")
        .attributes("FifoTopic", "true")
        .attributes("ContentBasedDeduplication", "true")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let attributes = sns.get_topic_attributes().topic_arn(&arn).send().await.unwrap();
    assert_eq!(attributes.attributes().unwrap()["FifoTopic"], "true");
    let url = server
        .client()
        .create_queue()
        .queue_name("orders.fifo")
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    sns.subscribe()
        .topic_arn(&arn)
        .protocol("sqs")
        .endpoint("arn:aws:sqs:us-east-1:000000000000:orders.fifo")
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    let error = sns.publish().topic_arn(&arn).message("no group").send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidParameter");
    let mut results = Vec::new();
    for body in ["first", "second", "first"] {
        let output = sns.publish().topic_arn(&arn).message(body).message_group_id("g").send().await.unwrap();
        results.push((output.message_id.unwrap(), output.sequence_number.expect("FIFO publications have one")));
    }
    assert!(results[0].1 < results[1].1, "sequence numbers increase: {results:?}");
    assert_eq!(results[2], results[0], "a duplicate is answered with the original");
    assert_eq!(bodies(&server, &url).await, ["first", "second"], "in order, the repeat deduplicated");

    let standard = topic(&server, "plain").await;
    let error = sns
        .subscribe()
        .topic_arn(&standard)
        .protocol("sqs")
        .endpoint("arn:aws:sqs:us-east-1:000000000000:orders.fifo")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidParameter");
}

#[tokio::test]
async fn publish_batch_delivers_every_entry_in_one_write_or_none() {
    let server = TestServer::start().await;
    let sns = server.sns();
    let arn = topic(&server, "batch").await;
    let (url, _) = subscribed_queue(&server, &arn, "batch-q", &[("RawMessageDelivery", "true")]).await;
    let entry = |id: &str, message: &str| PublishBatchRequestEntry::builder().id(id).message(message).build().unwrap();
    let output = sns
        .publish_batch()
        .topic_arn(&arn)
        .publish_batch_request_entries(entry("a", "one"))
        .publish_batch_request_entries(entry("b", "two"))
        .send()
        .await
        .unwrap();
    assert_eq!(output.successful().len(), 2);
    assert!(output.failed().is_empty());
    let mut received = bodies(&server, &url).await;
    received.sort();
    assert_eq!(received, ["one", "two"]);
    // As on AWS, one invalid entry fails the whole request, and nothing is delivered.
    let error = sns
        .publish_batch()
        .topic_arn(&arn)
        .publish_batch_request_entries(entry("c", "three"))
        .publish_batch_request_entries(
            PublishBatchRequestEntry::builder().id("d").message("x").subject("bad\nsubject").build().unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "InvalidParameter");
    assert!(bodies(&server, &url).await.is_empty());
    let error = sns
        .publish_batch()
        .topic_arn(&arn)
        .publish_batch_request_entries(entry("a", "one"))
        .publish_batch_request_entries(entry("a", "two"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "BatchEntryIdsNotDistinct");
}

#[tokio::test]
async fn http_subscriptions_wait_for_confirmation() {
    let server = TestServer::start().await;
    let sns = server.sns();
    let arn = topic(&server, "hooks").await;
    let output =
        sns.subscribe().topic_arn(&arn).protocol("https").endpoint("https://example.test/hook").send().await.unwrap();
    assert_eq!(output.subscription_arn(), Some("pending confirmation"));
    let listed = sns.list_subscriptions().send().await.unwrap();
    assert_eq!(listed.subscriptions()[0].subscription_arn(), Some("PendingConfirmation"));
    let error = sns.confirm_subscription().topic_arn(&arn).token("wrong").send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidParameter");
    let error = sns.subscribe().topic_arn(&arn).protocol("carrier-pigeon").endpoint("x").send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidParameter");
}

#[tokio::test]
async fn a_queue_of_another_account_confirms_its_subscription_from_the_queue() {
    let mut settings = common::config(None);
    settings.users = vec![
        wharf::config::UserConfig {
            access_key_id: "AKIDTOPICOWNER01".into(),
            secret_access_key: "owner-secret".into(),
            account_id: Some("111111111111".into()),
        },
        wharf::config::UserConfig {
            access_key_id: "AKIDQUEUEOWNER02".into(),
            secret_access_key: "queue-secret".into(),
            account_id: Some("222222222222".into()),
        },
    ];
    let server = TestServer::start_with(settings, None).await;
    let owner = common::sns_client_as(&server.endpoint, "AKIDTOPICOWNER01", "owner-secret");
    let queue_owner = common::client(&server.endpoint, "AKIDQUEUEOWNER02", "queue-secret");
    let topic_arn = owner.create_topic().name("shared").send().await.unwrap().topic_arn.unwrap();
    let url = queue_owner.create_queue().queue_name("inbox").send().await.unwrap().queue_url.unwrap();
    let subscribed = owner
        .subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint("arn:aws:sqs:us-east-1:222222222222:inbox")
        .send()
        .await
        .unwrap();
    assert_eq!(subscribed.subscription_arn(), Some("pending confirmation"));

    // Nothing is delivered before the queue's owner confirms.
    owner.publish().topic_arn(&topic_arn).message("too early").send().await.unwrap();
    let received = queue_owner.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    assert_eq!(received.messages().len(), 1, "only the confirmation");
    let confirmation: Value = serde_json::from_str(received.messages()[0].body().unwrap()).unwrap();
    assert_eq!(confirmation["Type"], "SubscriptionConfirmation");
    assert_eq!(confirmation["TopicArn"], topic_arn.as_str());
    let token = confirmation["Token"].as_str().unwrap();
    let confirmed = owner.confirm_subscription().topic_arn(&topic_arn).token(token).send().await.unwrap();
    assert!(confirmed.subscription_arn().unwrap().starts_with(&topic_arn));

    owner.publish().topic_arn(&topic_arn).message("welcome").send().await.unwrap();
    let received = queue_owner.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    let bodies: Vec<Value> =
        received.messages().iter().map(|message| serde_json::from_str(message.body().unwrap()).unwrap()).collect();
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["Message"], "welcome");
}

#[tokio::test]
async fn fifo_topic_subscriptions_and_filter_policies_stop_at_aws_quotas() {
    let server = TestServer::start().await;
    let sns = server.sns();
    let fifo =
        sns.create_topic().name("quota.fifo").attributes("FifoTopic", "true").send().await.unwrap().topic_arn.unwrap();
    let queue_arn = |index: usize| format!("arn:aws:sqs:us-east-1:000000000000:q{index}.fifo");
    for index in 0..100 {
        sns.subscribe().topic_arn(&fifo).protocol("sqs").endpoint(queue_arn(index)).send().await.unwrap();
    }
    let error = sns.subscribe().topic_arn(&fifo).protocol("sqs").endpoint(queue_arn(100)).send().await.unwrap_err();
    assert_eq!(code(&error), "SubscriptionLimitExceeded");
    let again = sns.subscribe().topic_arn(&fifo).protocol("sqs").endpoint(queue_arn(7)).send().await;
    assert!(again.is_ok(), "subscribing an endpoint again is not a new subscription");

    let standard = sns.create_topic().name("filtered").send().await.unwrap().topic_arn.unwrap();
    let policy = r#"{"colour":["blue"]}"#;
    let mut last = String::new();
    for index in 0..200 {
        last = sns
            .subscribe()
            .topic_arn(&standard)
            .protocol("sqs")
            .endpoint(format!("arn:aws:sqs:us-east-1:000000000000:f{index}"))
            .attributes("FilterPolicy", policy)
            .send()
            .await
            .unwrap()
            .subscription_arn
            .unwrap();
    }
    let plain = sns
        .subscribe()
        .topic_arn(&standard)
        .protocol("sqs")
        .endpoint("arn:aws:sqs:us-east-1:000000000000:unfiltered")
        .send()
        .await
        .unwrap()
        .subscription_arn
        .unwrap();
    let error = sns
        .set_subscription_attributes()
        .subscription_arn(&plain)
        .attribute_name("FilterPolicy")
        .attribute_value(policy)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "FilterPolicyLimitExceeded");
    // Changing a policy a subscription already has adds none.
    let changed = sns
        .set_subscription_attributes()
        .subscription_arn(&last)
        .attribute_name("FilterPolicy")
        .attribute_value(r#"{"colour":["red"]}"#)
        .send()
        .await;
    assert!(changed.is_ok());
}
