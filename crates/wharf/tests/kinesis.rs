//! Kinesis Data Streams through aws-sdk-kinesis: streams, records, iterators, shards,
//! resharding, retention, tags and the account's limits.

mod common;

use aws_sdk_kinesis::primitives::{Blob, DateTime};
use aws_sdk_kinesis::types::{
    PutRecordsRequestEntry, ScalingType, ShardFilter, ShardFilterType, ShardIteratorType, StreamMode, StreamModeDetails,
};
use common::{code, TestServer, ACCOUNT};

async fn create(client: &aws_sdk_kinesis::Client, name: &str, shards: i32) {
    client.create_stream().stream_name(name).shard_count(shards).send().await.expect("create stream");
}

async fn iterator(client: &aws_sdk_kinesis::Client, stream: &str, shard: &str, kind: ShardIteratorType) -> String {
    client
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id(shard)
        .shard_iterator_type(kind)
        .send()
        .await
        .expect("shard iterator")
        .shard_iterator
        .expect("iterator")
}

#[tokio::test]
async fn streams_are_created_described_listed_and_deleted() {
    let server = TestServer::start().await;
    let client = server.kinesis();
    create(&client, "clicks", 3).await;
    let error = client.create_stream().stream_name("clicks").shard_count(1).send().await.unwrap_err();
    assert_eq!(code(&error), "ResourceInUseException");

    let description = client.describe_stream().stream_name("clicks").send().await.unwrap().stream_description.unwrap();
    assert_eq!(description.stream_arn, format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/clicks"));
    assert_eq!(description.stream_status.as_str(), "ACTIVE");
    assert_eq!(description.retention_period_hours, 24);
    let shards = description.shards;
    assert_eq!(shards.len(), 3);
    assert_eq!(shards[0].shard_id, "shardId-000000000000");
    let ranges: Vec<_> = shards.iter().map(|s| s.hash_key_range.clone().unwrap()).collect();
    assert_eq!(ranges[0].starting_hash_key, "0");
    assert_eq!(ranges[2].ending_hash_key, u128::MAX.to_string());

    let summary = client.describe_stream_summary().stream_name("clicks").send().await.unwrap();
    let summary = summary.stream_description_summary.unwrap();
    assert_eq!(summary.open_shard_count, 3);
    assert_eq!(summary.stream_mode_details.unwrap().stream_mode, StreamMode::Provisioned);

    client
        .create_stream()
        .stream_name("auto")
        .stream_mode_details(StreamModeDetails::builder().stream_mode(StreamMode::OnDemand).build().unwrap())
        .send()
        .await
        .unwrap();
    let listed = client.list_streams().limit(1).send().await.unwrap();
    assert_eq!(listed.stream_names, vec!["auto"]);
    assert!(listed.has_more_streams);
    let next = client.list_streams().next_token(listed.next_token.unwrap()).send().await.unwrap();
    assert_eq!(next.stream_names, vec!["clicks"]);
    assert_eq!(next.stream_summaries.unwrap()[0].stream_arn, description.stream_arn);

    let limits = client.describe_limits().send().await.unwrap();
    assert_eq!(limits.open_shard_count, 3 + 4);
    assert_eq!(limits.on_demand_stream_count, 1);

    client.delete_stream().stream_arn(&description.stream_arn).send().await.unwrap();
    let error = client.describe_stream_summary().stream_name("clicks").send().await.unwrap_err();
    assert_eq!(code(&error), "ResourceNotFoundException");
    let error = client.create_stream().stream_name("bad name").shard_count(1).send().await.unwrap_err();
    assert_eq!(code(&error), "ValidationException");
}

#[tokio::test]
async fn records_are_read_back_in_order_from_every_kind_of_iterator() {
    let server = TestServer::start_manual().await;
    let client = server.kinesis();
    create(&client, "events", 1).await;
    let first =
        client.put_record().stream_name("events").partition_key("user-1").data(Blob::new("one")).send().await.unwrap();
    assert_eq!(first.shard_id, "shardId-000000000000");
    server.advance_secs(10);
    let mut entries = Vec::new();
    for (index, body) in ["two", "three", "four"].iter().enumerate() {
        entries.push(
            PutRecordsRequestEntry::builder()
                .partition_key(format!("user-{index}"))
                .data(Blob::new(*body))
                .build()
                .unwrap(),
        );
    }
    let batch = client.put_records().stream_name("events").set_records(Some(entries)).send().await.unwrap();
    assert_eq!(batch.failed_record_count, Some(0));
    let numbers: Vec<String> = batch.records.iter().map(|r| r.sequence_number.clone().unwrap()).collect();
    let mut all = vec![first.sequence_number.clone()];
    all.extend(numbers.clone());
    let as_numbers: Vec<u128> = all.iter().map(|n| n[2..].parse().unwrap()).collect();
    assert!(as_numbers.windows(2).all(|pair| pair[0] < pair[1]), "sequence numbers rise: {all:?}");

    let shard = "shardId-000000000000";
    let read = client
        .get_records()
        .shard_iterator(iterator(&client, "events", shard, ShardIteratorType::TrimHorizon).await)
        .send()
        .await
        .unwrap();
    let bodies: Vec<_> = read.records.iter().map(|r| String::from_utf8(r.data.as_ref().to_vec()).unwrap()).collect();
    assert_eq!(bodies, vec!["one", "two", "three", "four"]);
    assert_eq!(read.records[0].partition_key.as_deref(), Some("user-1"));
    assert_eq!(read.millis_behind_latest, Some(0));

    let after = client
        .get_shard_iterator()
        .stream_name("events")
        .shard_id(shard)
        .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
        .starting_sequence_number(&numbers[0])
        .send()
        .await
        .unwrap();
    let read_after = client.get_records().shard_iterator(after.shard_iterator.unwrap()).limit(1).send().await.unwrap();
    assert_eq!(read_after.records[0].data.as_ref(), b"three");
    assert!(read_after.next_shard_iterator.is_some());

    let at = client
        .get_shard_iterator()
        .stream_name("events")
        .shard_id(shard)
        .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
        .starting_sequence_number(&numbers[0])
        .send()
        .await
        .unwrap();
    let read_at = client.get_records().shard_iterator(at.shard_iterator.unwrap()).send().await.unwrap();
    assert_eq!(read_at.records.len(), 3);

    let stamp = read.records[1].approximate_arrival_timestamp.unwrap();
    let at_time = client
        .get_shard_iterator()
        .stream_name("events")
        .shard_id(shard)
        .shard_iterator_type(ShardIteratorType::AtTimestamp)
        .timestamp(DateTime::from_millis(stamp.to_millis().unwrap()))
        .send()
        .await
        .unwrap();
    let read_time = client.get_records().shard_iterator(at_time.shard_iterator.unwrap()).send().await.unwrap();
    assert_eq!(read_time.records.len(), 3, "the record before the timestamp is skipped");

    let latest = iterator(&client, "events", shard, ShardIteratorType::Latest).await;
    let empty = client.get_records().shard_iterator(&latest).send().await.unwrap();
    assert!(empty.records.is_empty());
    client.put_record().stream_name("events").partition_key("k").data(Blob::new("five")).send().await.unwrap();
    let fresh = client.get_records().shard_iterator(empty.next_shard_iterator.unwrap()).send().await.unwrap();
    assert_eq!(fresh.records[0].data.as_ref(), b"five");

    server.advance_secs(301);
    let error = client.get_records().shard_iterator(latest).send().await.unwrap_err();
    assert_eq!(code(&error), "ExpiredIteratorException");
    let error = client.get_records().shard_iterator("not-an-iterator").send().await.unwrap_err();
    assert_eq!(code(&error), "InvalidArgumentException");
}

#[tokio::test]
async fn explicit_hash_keys_pick_the_shard_and_limits_are_enforced() {
    let server = TestServer::start().await;
    let client = server.kinesis();
    create(&client, "routed", 2).await;
    let high = client
        .put_record()
        .stream_name("routed")
        .partition_key("any")
        .explicit_hash_key(u128::MAX.to_string())
        .data(Blob::new("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(high.shard_id, "shardId-000000000001");
    let low =
        client.put_record().stream_name("routed").partition_key("any").explicit_hash_key("0").data(Blob::new("x"));
    assert_eq!(low.send().await.unwrap().shard_id, "shardId-000000000000");

    let too_big = client
        .put_record()
        .stream_name("routed")
        .partition_key("k")
        .data(Blob::new(vec![0u8; 1024 * 1024 + 1]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&too_big), "ValidationException");
    let entries: Vec<_> = (0..501)
        .map(|_| PutRecordsRequestEntry::builder().partition_key("k").data(Blob::new("x")).build().unwrap())
        .collect();
    let error = client.put_records().stream_name("routed").set_records(Some(entries)).send().await.unwrap_err();
    assert_eq!(code(&error), "ValidationException");
    let error = client.put_record().stream_name("missing").partition_key("k").data(Blob::new("x")).send().await;
    assert_eq!(code(&error.unwrap_err()), "ResourceNotFoundException");
}

#[tokio::test]
async fn resharding_keeps_lineage_and_hands_readers_to_the_children() {
    let server = TestServer::start().await;
    let client = server.kinesis();
    create(&client, "reshard", 1).await;
    client.put_record().stream_name("reshard").partition_key("k").data(Blob::new("parent")).send().await.unwrap();
    let reader = iterator(&client, "reshard", "shardId-000000000000", ShardIteratorType::TrimHorizon).await;
    client
        .split_shard()
        .stream_name("reshard")
        .shard_to_split("shardId-000000000000")
        .new_starting_hash_key((1u128 << 127).to_string())
        .send()
        .await
        .unwrap();
    let again = client
        .split_shard()
        .stream_name("reshard")
        .shard_to_split("shardId-000000000000")
        .new_starting_hash_key("5")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&again), "ResourceInUseException");

    let first = client.get_records().shard_iterator(reader).send().await.unwrap();
    assert_eq!(first.records.len(), 1);
    let end = client.get_records().shard_iterator(first.next_shard_iterator.unwrap()).send().await.unwrap();
    assert!(end.next_shard_iterator.is_none(), "a drained closed shard ends");
    let children = end.child_shards.unwrap();
    assert_eq!(children.len(), 2);
    assert_eq!(children[0].parent_shards, vec!["shardId-000000000000"]);

    let open = client
        .list_shards()
        .stream_name("reshard")
        .shard_filter(ShardFilter::builder().r#type(ShardFilterType::AtLatest).build().unwrap())
        .send()
        .await
        .unwrap();
    let open_ids: Vec<_> = open.shards.unwrap().into_iter().map(|s| s.shard_id).collect();
    assert_eq!(open_ids, vec!["shardId-000000000001", "shardId-000000000002"]);

    client
        .merge_shards()
        .stream_name("reshard")
        .shard_to_merge("shardId-000000000001")
        .adjacent_shard_to_merge("shardId-000000000002")
        .send()
        .await
        .unwrap();
    let updated = client
        .update_shard_count()
        .stream_name("reshard")
        .target_shard_count(2)
        .scaling_type(ScalingType::UniformScaling)
        .send()
        .await
        .unwrap();
    assert_eq!((updated.current_shard_count, updated.target_shard_count), (Some(1), Some(2)));
    let error = client
        .update_shard_count()
        .stream_name("reshard")
        .target_shard_count(5)
        .scaling_type(ScalingType::UniformScaling)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&error), "LimitExceededException");

    let page = client.list_shards().stream_name("reshard").max_results(2).send().await.unwrap();
    assert_eq!(page.shards.as_ref().unwrap().len(), 2);
    let mut seen = page.shards.unwrap().len();
    let mut token = page.next_token;
    while let Some(next) = token {
        let page = client.list_shards().next_token(next).max_results(2).send().await.unwrap();
        seen += page.shards.unwrap().len();
        token = page.next_token;
    }
    let all = client.describe_stream().stream_name("reshard").send().await.unwrap().stream_description.unwrap();
    assert_eq!(seen, all.shards.len());
    let merged = all.shards.iter().find(|s| s.shard_id == "shardId-000000000003").unwrap();
    assert_eq!(merged.parent_shard_id.as_deref(), Some("shardId-000000000001"));
    assert_eq!(merged.adjacent_parent_shard_id.as_deref(), Some("shardId-000000000002"));
    assert!(merged.sequence_number_range.as_ref().unwrap().ending_sequence_number.is_some());
}

#[tokio::test]
async fn retention_changes_are_checked_and_expired_records_disappear() {
    let server = TestServer::start_manual().await;
    let client = server.kinesis();
    create(&client, "kept", 1).await;
    let error = client.decrease_stream_retention_period().stream_name("kept").retention_period_hours(12).send().await;
    assert_eq!(code(&error.unwrap_err()), "InvalidArgumentException");
    let error = client.decrease_stream_retention_period().stream_name("kept").retention_period_hours(24).send().await;
    assert!(error.is_ok(), "keeping the same period is allowed");
    client.increase_stream_retention_period().stream_name("kept").retention_period_hours(48).send().await.unwrap();
    let error = client.increase_stream_retention_period().stream_name("kept").retention_period_hours(24).send().await;
    assert_eq!(code(&error.unwrap_err()), "InvalidArgumentException");

    client.put_record().stream_name("kept").partition_key("k").data(Blob::new("old")).send().await.unwrap();
    server.advance_secs(47 * 3600);
    client.put_record().stream_name("kept").partition_key("k").data(Blob::new("new")).send().await.unwrap();
    server.advance_secs(2 * 3600);
    let horizon = iterator(&client, "kept", "shardId-000000000000", ShardIteratorType::TrimHorizon).await;
    let read = client.get_records().shard_iterator(horizon).send().await.unwrap();
    let bodies: Vec<_> = read.records.iter().map(|r| r.data.as_ref().to_vec()).collect();
    assert_eq!(bodies, vec![b"new".to_vec()]);
}

#[tokio::test]
async fn tags_encryption_and_monitoring_are_kept() {
    let server = TestServer::start().await;
    let client = server.kinesis();
    create(&client, "tagged", 1).await;
    client.add_tags_to_stream().stream_name("tagged").tags("team", "data").tags("env", "dev").send().await.unwrap();
    client.remove_tags_from_stream().stream_name("tagged").tag_keys("env").send().await.unwrap();
    let tags = client.list_tags_for_stream().stream_name("tagged").send().await.unwrap();
    assert_eq!(tags.tags.len(), 1);
    assert_eq!((tags.tags[0].key.as_str(), tags.tags[0].value.as_deref()), ("team", Some("data")));
    let arn = format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/tagged");
    client.tag_resource().resource_arn(&arn).tags("cost", "1").send().await.unwrap();
    client.untag_resource().resource_arn(&arn).tag_keys("team").send().await.unwrap();
    let tags = client.list_tags_for_resource().resource_arn(&arn).send().await.unwrap().tags.unwrap();
    assert_eq!(tags.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(), vec!["cost"]);

    client
        .start_stream_encryption()
        .stream_name("tagged")
        .encryption_type(aws_sdk_kinesis::types::EncryptionType::Kms)
        .key_id("alias/aws/kinesis")
        .send()
        .await
        .unwrap();
    let put = client.put_record().stream_name("tagged").partition_key("k").data(Blob::new("x")).send().await.unwrap();
    assert_eq!(put.encryption_type.unwrap().as_str(), "KMS");

    let enabled = client
        .enable_enhanced_monitoring()
        .stream_name("tagged")
        .shard_level_metrics(aws_sdk_kinesis::types::MetricsName::IncomingBytes)
        .send()
        .await
        .unwrap();
    assert_eq!(enabled.current_shard_level_metrics.unwrap().len(), 0);
    assert_eq!(enabled.desired_shard_level_metrics.unwrap().len(), 1);
    let disabled = client
        .disable_enhanced_monitoring()
        .stream_name("tagged")
        .shard_level_metrics(aws_sdk_kinesis::types::MetricsName::All)
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.desired_shard_level_metrics.unwrap().len(), 0);
}

#[tokio::test]
async fn streams_and_records_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (arn, sequence) = {
        let server = TestServer::start_with(common::config(Some(dir.path().to_path_buf())), None).await;
        let client = server.kinesis();
        create(&client, "durable", 2).await;
        let put = client.put_record().stream_name("durable").partition_key("a").data(Blob::new("kept")).send();
        let put = put.await.unwrap();
        client
            .split_shard()
            .stream_name("durable")
            .shard_to_split("shardId-000000000000")
            .new_starting_hash_key("1000")
            .send()
            .await
            .unwrap();
        server.server.shutdown().await.unwrap();
        (format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/durable"), (put.shard_id, put.sequence_number))
    };
    let server = TestServer::start_with(common::config(Some(dir.path().to_path_buf())), None).await;
    let client = server.kinesis();
    let description = client.describe_stream().stream_arn(&arn).send().await.unwrap().stream_description.unwrap();
    assert_eq!(description.shards.len(), 4, "the split survives");
    let at = client
        .get_shard_iterator()
        .stream_name("durable")
        .shard_id(&sequence.0)
        .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
        .starting_sequence_number(&sequence.1)
        .send()
        .await
        .unwrap();
    let read = client.get_records().shard_iterator(at.shard_iterator.unwrap()).send().await.unwrap();
    assert_eq!(read.records[0].data.as_ref(), b"kept");
    let next = client.put_record().stream_name("durable").partition_key("a").data(Blob::new("more")).send().await;
    let next = next.unwrap();
    assert_ne!(next.shard_id, sequence.0, "the closed parent takes no more records");
}

#[tokio::test]
async fn policies_account_settings_and_stream_settings_are_kept() {
    let server = TestServer::start().await;
    let client = server.kinesis();
    create(&client, "settings", 1).await;
    let arn = format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/settings");
    let policy = r#"{"Version":"2012-10-17","Statement":[]}"#;
    client.put_resource_policy().resource_arn(&arn).policy(policy).send().await.unwrap();
    let read = client.get_resource_policy().resource_arn(&arn).send().await.unwrap();
    assert_eq!(read.policy, policy);
    let bad = client.put_resource_policy().resource_arn(&arn).policy("not json").send().await;
    assert_eq!(code(&bad.unwrap_err()), "InvalidArgumentException");
    client.delete_resource_policy().resource_arn(&arn).send().await.unwrap();
    assert_eq!(client.get_resource_policy().resource_arn(&arn).send().await.unwrap().policy, "{}");

    let settings = client.describe_account_settings().send().await.unwrap();
    let status = settings.minimum_throughput_billing_commitment.unwrap().status;
    assert_eq!(status.as_str(), "DISABLED");
    let enabled = client
        .update_account_settings()
        .minimum_throughput_billing_commitment(
            aws_sdk_kinesis::types::MinimumThroughputBillingCommitmentInput::builder()
                .status(aws_sdk_kinesis::types::MinimumThroughputBillingCommitmentInputStatus::Enabled)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let commitment = enabled.minimum_throughput_billing_commitment.unwrap();
    assert_eq!(commitment.status.as_str(), "ENABLED");
    assert!(commitment.earliest_allowed_end_at.is_some());

    // Records above 1 MiB need a larger maximum record size.
    let big = vec![7u8; 2 * 1024 * 1024];
    let refused = client.put_record().stream_name("settings").partition_key("k").data(Blob::new(big.clone())).send();
    assert_eq!(code(&refused.await.unwrap_err()), "ValidationException");
    let out_of_range = client.update_max_record_size().stream_arn(&arn).max_record_size_in_kib(100).send().await;
    assert_eq!(code(&out_of_range.unwrap_err()), "ValidationException");
    client.update_max_record_size().stream_arn(&arn).max_record_size_in_kib(10_240).send().await.unwrap();
    client.put_record().stream_name("settings").partition_key("k").data(Blob::new(big.clone())).send().await.unwrap();
    let horizon = iterator(&client, "settings", "shardId-000000000000", ShardIteratorType::TrimHorizon).await;
    let read = client.get_records().shard_iterator(horizon).send().await.unwrap();
    assert_eq!(read.records[0].data.as_ref(), big.as_slice());
    let summary = client.describe_stream_summary().stream_name("settings").send().await.unwrap();
    assert_eq!(summary.stream_description_summary.unwrap().max_record_size_in_kib, Some(10_240));

    let provisioned = client.update_stream_warm_throughput().stream_name("settings").warm_throughput_mibps(10).send();
    assert_eq!(code(&provisioned.await.unwrap_err()), "InvalidArgumentException");
    client
        .update_stream_mode()
        .stream_arn(&arn)
        .stream_mode_details(StreamModeDetails::builder().stream_mode(StreamMode::OnDemand).build().unwrap())
        .send()
        .await
        .unwrap();
    let warm = client.update_stream_warm_throughput().stream_name("settings").warm_throughput_mibps(10).send();
    assert_eq!(warm.await.unwrap().warm_throughput.unwrap().target_mibps, Some(10));
    client
        .update_stream_record_distribution_strategy()
        .stream_arn(&arn)
        .record_distribution_strategy(aws_sdk_kinesis::types::RecordDistributionStrategy::Auto)
        .send()
        .await
        .unwrap();
    let summary = client.describe_stream_summary().stream_name("settings").send().await.unwrap();
    let summary = summary.stream_description_summary.unwrap();
    assert_eq!(summary.record_distribution_strategy.unwrap().as_str(), "AUTO");
    assert_eq!(summary.warm_throughput.unwrap().current_mibps, Some(10));
}

#[tokio::test]
async fn shard_throughput_limits_apply_only_when_configured() {
    let mut config = common::config(None);
    config.kinesis_shard_throughput_limits = true;
    let server =
        TestServer::start_with(config, Some(std::sync::Arc::new(wharf_domain::ManualClock::new(common::START_MS))))
            .await;
    let client = common::kinesis_client_without_retries(&server.endpoint);
    create(&client, "limited", 1).await;
    let batch = |count: usize| {
        let entries: Vec<_> = (0..count)
            .map(|index| {
                PutRecordsRequestEntry::builder()
                    .partition_key(format!("k{index}"))
                    .data(Blob::new("x"))
                    .build()
                    .unwrap()
            })
            .collect();
        client.put_records().stream_name("limited").set_records(Some(entries)).send()
    };
    assert_eq!(batch(500).await.unwrap().failed_record_count, Some(0));
    assert_eq!(batch(500).await.unwrap().failed_record_count, Some(0));
    let over = batch(10).await.unwrap();
    assert_eq!(over.failed_record_count, Some(10));
    assert_eq!(over.records[0].error_code.as_deref(), Some("ProvisionedThroughputExceededException"));
    let single = client.put_record().stream_name("limited").partition_key("k").data(Blob::new("x")).send().await;
    assert_eq!(code(&single.unwrap_err()), "ProvisionedThroughputExceededException");
    server.advance_secs(1);
    assert_eq!(batch(10).await.unwrap().failed_record_count, Some(0), "the budget refills with time");

    let horizon = iterator(&client, "limited", "shardId-000000000000", ShardIteratorType::TrimHorizon).await;
    let mut calls = Vec::new();
    for _ in 0..6 {
        calls.push(client.get_records().shard_iterator(&horizon).limit(1).send().await);
    }
    assert!(calls[..5].iter().all(Result::is_ok));
    assert_eq!(code(calls[5].as_ref().unwrap_err()), "ProvisionedThroughputExceededException");

    // The same load is never refused with the limits off (the default).
    let open = TestServer::start().await;
    let client = open.kinesis();
    create(&client, "open", 1).await;
    for _ in 0..3 {
        let entries: Vec<_> = (0..500)
            .map(|index| {
                PutRecordsRequestEntry::builder()
                    .partition_key(format!("k{index}"))
                    .data(Blob::new("x"))
                    .build()
                    .unwrap()
            })
            .collect();
        let put = client.put_records().stream_name("open").set_records(Some(entries)).send().await.unwrap();
        assert_eq!(put.failed_record_count, Some(0));
    }
}
