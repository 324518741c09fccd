//! Kinesis Data Streams channels through aws-sdk-kinesis: create, describe, list (paging and
//! stream filters), update and delete; tags on channels; validation of every kind of member;
//! unknown streams, duplicate names and the per-stream quota; durability across a restart.

mod common;

use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::operation::create_channel::builders::CreateChannelFluentBuilder;
use aws_sdk_kinesis::primitives::DateTime;
use aws_sdk_kinesis::types::{
    ChannelDescription, ChannelDestinationType, ChannelEncryptionConfiguration, ChannelEncryptionType,
    ChannelLoggingConfiguration, ChannelLoggingUpdateInput, ChannelStatus, ChannelStreamConfiguration, CloudWatchLogs,
    CloudWatchLogsUpdateInput, DeadLetterQueueS3Configuration, PartitionField, PartitionSpec, PartitionTransform,
    RecordConfiguration, RecordFormatType, S3CompressionType, S3DestinationConfiguration, S3DestinationUpdateInput,
    S3StorageClass, S3StorageConfiguration, S3TablesCompressionType, S3TablesConfiguration,
    S3TablesDestinationConfiguration, S3TablesDestinationUpdateInput, StreamFilter, StreamMode, StreamModeDetails,
};
use aws_sdk_kinesis::Client;
use common::{code, TestServer, ACCOUNT};

const ROLE: &str = "arn:aws:iam::000000000000:role/channel-writer";
const BUCKET: &str = "arn:aws:s3:::delivery-bucket";
const DEAD_LETTER_BUCKET: &str = "arn:aws:s3:::dead-letters";
const TABLE_BUCKET: &str = "arn:aws:s3tables:us-east-1:000000000000:bucket/tables";
const SCHEMA: &str = "arn:aws:glue:us-east-1:000000000000:schema/registry/clicks";

fn stream_arn(name: &str) -> String {
    format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{name}")
}

fn channel_arn(name: &str) -> String {
    format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:channel/{name}")
}

fn message<E: ProvideErrorMetadata, R>(error: &aws_sdk_kinesis::error::SdkError<E, R>) -> String {
    error.as_service_error().and_then(|service| service.message()).unwrap_or_default().to_string()
}

/// Creates an ON_DEMAND stream (channels need one); returns its ARN.
async fn on_demand_stream(client: &Client, name: &str) -> String {
    let mode = StreamModeDetails::builder().stream_mode(StreamMode::OnDemand).build().unwrap();
    client.create_stream().stream_name(name).stream_mode_details(mode).send().await.expect("create stream");
    stream_arn(name)
}

fn source(stream_arn: &str, format: RecordFormatType, schema: Option<&str>) -> ChannelStreamConfiguration {
    let record = RecordConfiguration::builder().record_format_type(format).set_gsr_schema_arn(schema.map(String::from));
    ChannelStreamConfiguration::builder()
        .stream_arn(stream_arn)
        .record_configuration(record.build().unwrap())
        .build()
        .unwrap()
}

fn storage() -> S3StorageConfiguration {
    S3StorageConfiguration::builder()
        .bucket_arn(BUCKET)
        .expected_bucket_owner(ACCOUNT)
        .compression_type(S3CompressionType::Gzip)
        .build()
        .unwrap()
}

fn s3_destination() -> S3DestinationConfiguration {
    S3DestinationConfiguration::builder().storage_configuration(storage()).build()
}

fn dead_letter() -> DeadLetterQueueS3Configuration {
    DeadLetterQueueS3Configuration::builder()
        .bucket_arn(DEAD_LETTER_BUCKET)
        .expected_bucket_owner(ACCOUNT)
        .error_output_prefix("errors/")
        .build()
        .unwrap()
}

fn table() -> S3TablesConfiguration {
    let field = PartitionField::builder().transform(PartitionTransform::TimeHour).source_name("event_time");
    S3TablesConfiguration::builder()
        .table_bucket_arn(TABLE_BUCKET)
        .namespace("analytics")
        .table_name("clicks")
        .compression_type(S3TablesCompressionType::Zstd)
        .partition_spec(PartitionSpec::builder().partition_fields(field.build().unwrap()).build().unwrap())
        .build()
        .unwrap()
}

fn tables_destination() -> S3TablesDestinationConfiguration {
    S3TablesDestinationConfiguration::builder()
        .data_freshness_in_seconds(600)
        .dead_letter_queue_s3_configuration(dead_letter())
        .s3_tables_configuration_list(table())
        .build()
        .unwrap()
}

/// A CreateChannel request for an S3 channel on a stream, with JSON records.
fn s3_channel(client: &Client, name: &str, stream_arn: &str) -> CreateChannelFluentBuilder {
    client
        .create_channel()
        .channel_name(name)
        .service_execution_role_arn(ROLE)
        .stream_configuration_list(source(stream_arn, RecordFormatType::Json, None))
        .s3_destination_configuration(s3_destination())
}

/// A CreateChannel request for an S3 Tables channel on a stream, with JSON records.
fn tables_channel(client: &Client, name: &str, stream_arn: &str) -> CreateChannelFluentBuilder {
    client
        .create_channel()
        .channel_name(name)
        .service_execution_role_arn(ROLE)
        .stream_configuration_list(source(stream_arn, RecordFormatType::Json, Some(SCHEMA)))
        .s3_tables_destination_configuration(tables_destination())
}

async fn describe(client: &Client, name: &str) -> ChannelDescription {
    let described = client.describe_channel().channel_arn(channel_arn(name)).send().await.expect("describe channel");
    described.channel_description.expect("description")
}

#[tokio::test]
async fn channels_are_created_described_updated_and_deleted() {
    let server = TestServer::start().await;
    let client = server.kinesis();
    let arn = on_demand_stream(&client, "clicks").await;
    let stream_created = client.describe_stream_summary().stream_arn(&arn).send().await.unwrap();
    let stream_created = stream_created.stream_description_summary.unwrap().stream_creation_timestamp;

    let logging = CloudWatchLogs::builder().enabled(true).build().unwrap();
    let key = ChannelEncryptionConfiguration::builder()
        .encryption_type(ChannelEncryptionType::Kms)
        .key_id("arn:aws:kms:us-east-1:000000000000:key/1234")
        .build()
        .unwrap();
    let created = s3_channel(&client, "to-s3", &arn)
        .encryption_configuration(key)
        .logging_configuration(ChannelLoggingConfiguration::builder().cloud_watch_logs(logging).build())
        .tags("team", "data")
        .tags("cost-center", "")
        .send()
        .await
        .expect("create channel")
        .channel_description
        .unwrap();
    assert_eq!(created.channel_name(), "to-s3");
    assert_eq!(created.channel_arn(), channel_arn("to-s3"));
    assert_eq!(created.channel_status(), &ChannelStatus::Active, "Wharf creates channels at once");
    assert!(created.channel_status_reason().is_none());
    let id = created.channel_id().to_string();
    assert!(!id.is_empty() && id.len() <= 64, "{id}");
    assert_eq!(created.service_execution_role_arn(), ROLE);
    let [stream] = created.stream_configuration_list() else { panic!("one stream") };
    assert_eq!(stream.stream_arn(), arn);
    assert_eq!(stream.stream_creation_timestamp(), &stream_created);
    assert_eq!(stream.record_configuration().unwrap().record_format_type(), &RecordFormatType::Json);
    let destination = created.s3_destination_configuration().expect("S3 destination");
    assert!(created.s3_tables_destination_configuration().is_none());
    assert_eq!(destination.data_freshness_in_seconds(), 300, "the default data freshness");
    let stored = destination.storage_configuration().unwrap();
    assert_eq!(stored.bucket_arn(), BUCKET);
    assert_eq!(stored.expected_bucket_owner(), ACCOUNT);
    assert_eq!(stored.compression_type(), &S3CompressionType::Gzip);
    assert_eq!(stored.storage_class(), Some(&S3StorageClass::Standard), "the default storage class");
    assert!(stored.output_key_template().unwrap().contains("!{channel-id}"), "the default key template");
    let dead_letter = destination.dead_letter_queue_s3_configuration().unwrap();
    assert_eq!(dead_letter.bucket_arn(), BUCKET, "failed records default to the destination bucket");
    let encryption = created.encryption_configuration().unwrap();
    assert_eq!(encryption.key_id(), "arn:aws:kms:us-east-1:000000000000:key/1234");
    let logs = created.logging_configuration().unwrap().cloud_watch_logs().unwrap();
    assert!(logs.enabled());
    assert_eq!(logs.log_group_name(), Some(format!("/aws/kinesis/to-s3/{id}").as_str()));
    assert_eq!(logs.log_stream_name(), Some("DestinationDelivery"));

    assert_eq!(describe(&client, "to-s3").await, created, "DescribeChannel reports what CreateChannel did");
    let tags = client.list_tags_for_resource().resource_arn(channel_arn("to-s3")).send().await.unwrap();
    let mut tags: Vec<(String, String)> =
        tags.tags().iter().map(|tag| (tag.key().to_string(), tag.value().unwrap_or_default().to_string())).collect();
    tags.sort();
    assert_eq!(tags, vec![("cost-center".to_string(), String::new()), ("team".to_string(), "data".to_string())]);

    // Only the data freshness and the logging can change.
    let logging = CloudWatchLogsUpdateInput::builder().enabled(false).build().unwrap();
    let updated = client
        .update_channel()
        .channel_arn(channel_arn("to-s3"))
        .s3_destination_configuration(
            S3DestinationUpdateInput::builder().data_freshness_in_seconds(900).build().unwrap(),
        )
        .logging_configuration(ChannelLoggingUpdateInput::builder().cloud_watch_logs(logging).build())
        .send()
        .await
        .expect("update channel")
        .channel_description
        .unwrap();
    assert_eq!(updated.channel_status(), &ChannelStatus::Active);
    assert_eq!(updated.s3_destination_configuration().unwrap().data_freshness_in_seconds(), 900);
    assert!(!updated.logging_configuration().unwrap().cloud_watch_logs().unwrap().enabled());
    assert_eq!(updated.channel_id(), id);
    assert_eq!(updated.encryption_configuration(), created.encryption_configuration());
    assert_eq!(describe(&client, "to-s3").await, updated);
    let wrong_kind = client
        .update_channel()
        .channel_arn(channel_arn("to-s3"))
        .s3_tables_destination_configuration(
            S3TablesDestinationUpdateInput::builder().data_freshness_in_seconds(600).build().unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&wrong_kind), "InvalidArgumentException", "an S3 channel has no tables to update");
    let nothing = client.update_channel().channel_arn(channel_arn("to-s3")).send().await.unwrap_err();
    assert_eq!(code(&nothing), "InvalidArgumentException");
    let too_fresh = S3DestinationUpdateInput::builder().data_freshness_in_seconds(60).build().unwrap();
    let too_fresh = client.update_channel().channel_arn(channel_arn("to-s3")).s3_destination_configuration(too_fresh);
    assert_eq!(code(&too_fresh.send().await.unwrap_err()), "InvalidArgumentException");

    client.delete_channel().channel_arn(channel_arn("to-s3")).send().await.expect("delete channel");
    let gone = client.describe_channel().channel_arn(channel_arn("to-s3")).send().await.unwrap_err();
    assert_eq!(code(&gone), "ResourceNotFoundException");
    assert_eq!(message(&gone), format!("Channel to-s3 under account {ACCOUNT} not found."));
    let again = client.delete_channel().channel_arn(channel_arn("to-s3")).send().await.unwrap_err();
    assert_eq!(code(&again), "ResourceNotFoundException");
    let update_gone = client
        .update_channel()
        .channel_arn(channel_arn("to-s3"))
        .s3_destination_configuration(
            S3DestinationUpdateInput::builder().data_freshness_in_seconds(300).build().unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&update_gone), "ResourceNotFoundException");
    let listed = client.list_channels().send().await.unwrap();
    assert!(listed.channel_summaries().is_empty());
    assert!(listed.next_token().is_none());
}

#[tokio::test]
async fn an_s3_tables_channel_keeps_its_table_and_dead_letter_configuration() {
    let server = TestServer::start().await;
    let client = server.kinesis();
    let arn = on_demand_stream(&client, "events").await;
    let created = tables_channel(&client, "to-tables", &arn).send().await.expect("create").channel_description.unwrap();
    let destination = created.s3_tables_destination_configuration().expect("S3 Tables destination");
    assert!(created.s3_destination_configuration().is_none());
    assert_eq!(destination.data_freshness_in_seconds(), 600);
    assert_eq!(destination.dead_letter_queue_s3_configuration(), Some(&dead_letter()));
    assert_eq!(destination.s3_tables_configuration_list(), &[table()]);
    let record = created.stream_configuration_list()[0].record_configuration().unwrap();
    assert_eq!(record.gsr_schema_arn(), Some(SCHEMA));
    let logs = created.logging_configuration().unwrap().cloud_watch_logs().unwrap();
    assert!(!logs.enabled(), "logging is off unless asked for");
    assert!(created.encryption_configuration().is_none());

    // GSR_JSON needs no schema ARN: the schema id is in each record.
    let other = on_demand_stream(&client, "events-2").await;
    let gsr = client
        .create_channel()
        .channel_name("gsr")
        .service_execution_role_arn(ROLE)
        .stream_configuration_list(source(&other, RecordFormatType::GsrJson, None))
        .s3_tables_destination_configuration(tables_destination())
        .send()
        .await
        .expect("GSR_JSON to S3 Tables");
    let gsr = gsr.channel_description.unwrap();
    assert_eq!(
        gsr.stream_configuration_list()[0].record_configuration().unwrap().record_format_type(),
        &RecordFormatType::GsrJson
    );

    let updated = client
        .update_channel()
        .channel_arn(channel_arn("to-tables"))
        .s3_tables_destination_configuration(
            S3TablesDestinationUpdateInput::builder().data_freshness_in_seconds(300).build().unwrap(),
        )
        .send()
        .await
        .expect("update")
        .channel_description
        .unwrap();
    assert_eq!(updated.s3_tables_destination_configuration().unwrap().data_freshness_in_seconds(), 300);
    assert_eq!(updated.s3_tables_destination_configuration().unwrap().s3_tables_configuration_list(), &[table()]);
}

#[tokio::test]
async fn channels_are_listed_in_pages_and_filtered_by_stream() {
    let server = TestServer::start().await;
    let client = server.kinesis();
    let mut expected = Vec::new();
    for stream in ["a", "b", "c"] {
        let arn = on_demand_stream(&client, stream).await;
        s3_channel(&client, &format!("{stream}-s3"), &arn).send().await.expect("S3 channel");
        tables_channel(&client, &format!("{stream}-tables"), &arn).send().await.expect("S3 Tables channel");
        expected.push(format!("{stream}-s3"));
        expected.push(format!("{stream}-tables"));
    }

    let first = client.list_channels().max_results(4).send().await.unwrap();
    assert_eq!(first.channel_summaries().len(), 4);
    let token = first.next_token().expect("more channels").to_string();
    let second = client.list_channels().max_results(4).next_token(&token).send().await.unwrap();
    assert_eq!(second.channel_summaries().len(), 2);
    assert!(second.next_token().is_none(), "the last page has no token");
    let listed: Vec<&str> = first
        .channel_summaries()
        .iter()
        .chain(second.channel_summaries())
        .map(|channel| channel.channel_name())
        .collect();
    assert_eq!(listed, expected, "every channel once, in name order");

    let summary = &first.channel_summaries()[1];
    assert_eq!(summary.channel_name(), "a-tables");
    assert_eq!(summary.channel_arn(), channel_arn("a-tables"));
    assert_eq!(summary.channel_status(), &ChannelStatus::Active);
    assert_eq!(summary.channel_destination_type(), &ChannelDestinationType::S3Tables);
    assert_eq!(summary.channel_id(), describe(&client, "a-tables").await.channel_id());
    assert_eq!(summary.streams()[0].stream_arn(), stream_arn("a"));
    assert_eq!(first.channel_summaries()[0].channel_destination_type(), &ChannelDestinationType::S3);

    let all = client.list_channels().send().await.unwrap();
    assert_eq!(all.channel_summaries().len(), 6);
    assert!(all.next_token().is_none());
    let paged: Vec<String> = client
        .list_channels()
        .max_results(1)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .into_iter()
        .map(|channel| channel.channel_name().to_string())
        .collect();
    assert_eq!(paged, expected, "the SDK's paginator follows the tokens");

    let created = summary.streams()[0].stream_creation_timestamp();
    let by_stream = StreamFilter::builder().stream_arn(stream_arn("b")).build().unwrap();
    let filtered = client.list_channels().stream_filter(by_stream).send().await.unwrap();
    let names: Vec<&str> = filtered.channel_summaries().iter().map(|channel| channel.channel_name()).collect();
    assert_eq!(names, ["b-s3", "b-tables"]);
    let two = [stream_arn("a"), stream_arn("c")].map(|arn| StreamFilter::builder().stream_arn(arn).build().unwrap());
    let filtered = client.list_channels().set_stream_filter(Some(two.to_vec())).send().await.unwrap();
    assert_eq!(filtered.channel_summaries().len(), 4);
    let at_creation = StreamFilter::builder().stream_arn(stream_arn("a")).stream_creation_timestamp(*created);
    let filtered = client.list_channels().stream_filter(at_creation.build().unwrap()).send().await.unwrap();
    assert_eq!(filtered.channel_summaries().len(), 2, "the stream's own creation time matches");
    let earlier = DateTime::from_secs(created.secs() - 3600);
    let other_stream = StreamFilter::builder().stream_arn(stream_arn("a")).stream_creation_timestamp(earlier);
    let filtered = client.list_channels().stream_filter(other_stream.build().unwrap()).send().await.unwrap();
    assert!(filtered.channel_summaries().is_empty(), "an earlier stream of the same name has no channels");

    let forged = client.list_channels().next_token("not-a-token").send().await.unwrap_err();
    assert_eq!(code(&forged), "InvalidArgumentException");
    let zero = client.list_channels().max_results(0).send().await.unwrap_err();
    assert_eq!(code(&zero), "ValidationException");
    let too_many = client.list_channels().max_results(10_001).send().await.unwrap_err();
    assert_eq!(code(&too_many), "ValidationException");
    let big = client.list_channels().max_results(10_000).send().await.unwrap();
    assert_eq!(big.channel_summaries().len(), 6);
    let empty_filter = client.list_channels().set_stream_filter(Some(Vec::new())).send().await.unwrap_err();
    assert_eq!(code(&empty_filter), "ValidationException");
    let bad_filter = StreamFilter::builder().stream_arn("clicks").build().unwrap();
    let bad_filter = client.list_channels().stream_filter(bad_filter).send().await.unwrap_err();
    assert_eq!(code(&bad_filter), "ValidationException");
}

#[tokio::test]
async fn channel_members_are_validated_against_the_model() {
    let server = TestServer::start().await;
    let client = server.kinesis();
    let arn = on_demand_stream(&client, "checked").await;

    let bad_name = s3_channel(&client, "no spaces", &arn).send().await.unwrap_err();
    assert_eq!(code(&bad_name), "ValidationException");
    assert_eq!(
        message(&bad_name),
        "1 validation error detected: Value 'no spaces' at 'channelName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
    );
    let long_name = s3_channel(&client, &"n".repeat(129), &arn).send().await.unwrap_err();
    assert_eq!(code(&long_name), "ValidationException");
    let two_errors = s3_channel(&client, "bad name", &arn).service_execution_role_arn("role").send().await.unwrap_err();
    assert!(message(&two_errors).starts_with("2 validation errors detected: "), "{}", message(&two_errors));
    assert!(message(&two_errors).contains("'serviceExecutionRoleARN'"), "{}", message(&two_errors));
    let missing_role = client
        .create_channel()
        .channel_name("no-role")
        .stream_configuration_list(source(&arn, RecordFormatType::Json, None))
        .s3_destination_configuration(s3_destination())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        message(&missing_role),
        "1 validation error detected: Value null at 'serviceExecutionRoleARN' failed to satisfy constraint: Member must not be null"
    );
    let user_not_role =
        s3_channel(&client, "user", &arn).service_execution_role_arn("arn:aws:iam::000000000000:user/me");
    assert_eq!(code(&user_not_role.send().await.unwrap_err()), "ValidationException");

    let not_a_stream_arn = s3_channel(&client, "arn", "arn:aws:sqs:us-east-1:000000000000:queue").send().await;
    let not_a_stream_arn = not_a_stream_arn.unwrap_err();
    assert_eq!(code(&not_a_stream_arn), "ValidationException");
    assert!(message(&not_a_stream_arn).contains("'streamConfigurationList.1.member.streamARN'"));
    let no_streams = s3_channel(&client, "none", &arn).set_stream_configuration_list(Some(Vec::new()));
    assert_eq!(code(&no_streams.send().await.unwrap_err()), "ValidationException");
    let two_streams =
        s3_channel(&client, "two", &arn).stream_configuration_list(source(&arn, RecordFormatType::Json, None));
    assert_eq!(code(&two_streams.send().await.unwrap_err()), "InvalidArgumentException", "one stream per channel");
    let bad_schema = tables_channel(&client, "schema", &arn).set_stream_configuration_list(Some(vec![source(
        &arn,
        RecordFormatType::Json,
        Some("arn:aws:glue:::schema"),
    )]));
    assert_eq!(code(&bad_schema.send().await.unwrap_err()), "ValidationException");
    let unknown_format = s3_channel(&client, "format", &arn).set_stream_configuration_list(Some(vec![source(
        &arn,
        RecordFormatType::from("AVRO"),
        None,
    )]));
    let unknown_format = unknown_format.send().await.unwrap_err();
    assert_eq!(code(&unknown_format), "ValidationException");
    assert!(
        message(&unknown_format).contains("Member must satisfy enum value set: [GSR_JSON, JSON, STRING, BYTE_ARRAY]")
    );

    let neither = client
        .create_channel()
        .channel_name("neither")
        .service_execution_role_arn(ROLE)
        .stream_configuration_list(source(&arn, RecordFormatType::Json, None));
    assert_eq!(code(&neither.send().await.unwrap_err()), "InvalidArgumentException");
    let both = s3_channel(&client, "both", &arn).s3_tables_destination_configuration(tables_destination());
    assert_eq!(code(&both.send().await.unwrap_err()), "InvalidArgumentException");

    let stale = S3DestinationConfiguration::builder().storage_configuration(storage()).data_freshness_in_seconds(901);
    let stale = s3_channel(&client, "stale", &arn).s3_destination_configuration(stale.build());
    assert_eq!(code(&stale.send().await.unwrap_err()), "InvalidArgumentException", "freshness is 300 to 900 s");
    let owner = S3StorageConfiguration::builder()
        .bucket_arn(BUCKET)
        .expected_bucket_owner("12345")
        .compression_type(S3CompressionType::Gzip)
        .build()
        .unwrap();
    let owner = s3_channel(&client, "owner", &arn)
        .s3_destination_configuration(S3DestinationConfiguration::builder().storage_configuration(owner).build());
    let owner = owner.send().await.unwrap_err();
    assert_eq!(code(&owner), "ValidationException");
    assert!(message(&owner).contains("'s3DestinationConfiguration.storageConfiguration.expectedBucketOwner'"));
    let bucket = S3StorageConfiguration::builder()
        .bucket_arn("arn:aws:s3:::UPPER")
        .expected_bucket_owner(ACCOUNT)
        .compression_type(S3CompressionType::from("LZ4"))
        .storage_class(S3StorageClass::from("GLACIER"))
        .output_key_template("has space")
        .build()
        .unwrap();
    let bucket = s3_channel(&client, "bucket", &arn)
        .s3_destination_configuration(S3DestinationConfiguration::builder().storage_configuration(bucket).build());
    let bucket = bucket.send().await.unwrap_err();
    assert!(message(&bucket).starts_with("4 validation errors detected: "), "{}", message(&bucket));

    let gsr_to_s3 = s3_channel(&client, "gsr", &arn).set_stream_configuration_list(Some(vec![source(
        &arn,
        RecordFormatType::GsrJson,
        None,
    )]));
    assert_eq!(code(&gsr_to_s3.send().await.unwrap_err()), "InvalidArgumentException");
    let string_to_tables = tables_channel(&client, "string", &arn).set_stream_configuration_list(Some(vec![source(
        &arn,
        RecordFormatType::String,
        None,
    )]));
    assert_eq!(code(&string_to_tables.send().await.unwrap_err()), "InvalidArgumentException");
    let json_without_schema = tables_channel(&client, "json", &arn).set_stream_configuration_list(Some(vec![source(
        &arn,
        RecordFormatType::Json,
        None,
    )]));
    assert_eq!(code(&json_without_schema.send().await.unwrap_err()), "InvalidArgumentException");
    let bad_table = S3TablesConfiguration::builder()
        .table_bucket_arn("arn:aws:s3:::not-a-table-bucket")
        .namespace("Analytics")
        .table_name("clicks")
        .compression_type(S3TablesCompressionType::Snappy)
        .build()
        .unwrap();
    let bad_table = S3TablesDestinationConfiguration::builder()
        .dead_letter_queue_s3_configuration(dead_letter())
        .s3_tables_configuration_list(bad_table)
        .build()
        .unwrap();
    let bad_table = tables_channel(&client, "table", &arn).s3_tables_destination_configuration(bad_table);
    let bad_table = bad_table.send().await.unwrap_err();
    assert!(message(&bad_table).starts_with("2 validation errors detected: "), "{}", message(&bad_table));
    let two_tables = S3TablesDestinationConfiguration::builder()
        .dead_letter_queue_s3_configuration(dead_letter())
        .set_s3_tables_configuration_list(Some(vec![table(), table()]))
        .build()
        .unwrap();
    let two_tables = tables_channel(&client, "tables", &arn).s3_tables_destination_configuration(two_tables);
    assert_eq!(code(&two_tables.send().await.unwrap_err()), "InvalidArgumentException", "one table per channel");

    let service_key = ChannelEncryptionConfiguration::builder()
        .encryption_type(ChannelEncryptionType::Kms)
        .key_id("alias/aws/kinesis")
        .build()
        .unwrap();
    let service_key = s3_channel(&client, "key", &arn).encryption_configuration(service_key);
    assert_eq!(code(&service_key.send().await.unwrap_err()), "InvalidArgumentException");
    let no_tags = s3_channel(&client, "tags", &arn).set_tags(Some(Default::default()));
    assert_eq!(code(&no_tags.send().await.unwrap_err()), "ValidationException");
    let long_key = s3_channel(&client, "tags", &arn).tags("k".repeat(129), "v");
    assert_eq!(code(&long_key.send().await.unwrap_err()), "ValidationException");
    let fifty_one = (0..51).fold(s3_channel(&client, "tags", &arn), |request, n| request.tags(format!("k{n}"), "v"));
    assert_eq!(code(&fifty_one.send().await.unwrap_err()), "InvalidArgumentException", "50 tags per resource");
    let bad_group = CloudWatchLogs::builder().enabled(true).log_group_name("bad group").build().unwrap();
    let bad_group = s3_channel(&client, "logs", &arn)
        .logging_configuration(ChannelLoggingConfiguration::builder().cloud_watch_logs(bad_group).build());
    assert_eq!(code(&bad_group.send().await.unwrap_err()), "ValidationException");

    let provisioned = "provisioned";
    client.create_stream().stream_name(provisioned).shard_count(1).send().await.unwrap();
    let provisioned = s3_channel(&client, "provisioned", &stream_arn(provisioned)).send().await.unwrap_err();
    assert_eq!(code(&provisioned), "InvalidArgumentException", "channels need an ON_DEMAND stream");

    let stream_as_channel = client.describe_channel().channel_arn(stream_arn("checked")).send().await.unwrap_err();
    assert_eq!(code(&stream_as_channel), "ValidationException");
    let deleted_missing = client.delete_channel().channel_arn("channel/x").send().await.unwrap_err();
    assert_eq!(code(&deleted_missing), "ValidationException");
    let unknown = client.describe_channel().channel_arn(channel_arn("never-made")).send().await.unwrap_err();
    assert_eq!(code(&unknown), "ResourceNotFoundException");

    assert!(client.list_channels().send().await.unwrap().channel_summaries().is_empty(), "nothing was created");
}

#[tokio::test]
async fn unknown_streams_duplicate_names_and_the_stream_quota_are_refused() {
    let server = TestServer::start().await;
    // The SDK retries LimitExceededException as throttling: ask once.
    let client = common::kinesis_client_without_retries(&server.endpoint);
    let missing = s3_channel(&client, "orphan", &stream_arn("nowhere")).send().await.unwrap_err();
    assert_eq!(code(&missing), "ResourceNotFoundException");
    assert_eq!(message(&missing), format!("Stream nowhere under account {ACCOUNT} not found."));

    let arn = on_demand_stream(&client, "source").await;
    s3_channel(&client, "first", &arn).send().await.expect("first channel");
    let other = on_demand_stream(&client, "other").await;
    let duplicate = s3_channel(&client, "first", &other).send().await.unwrap_err();
    assert_eq!(code(&duplicate), "ResourceInUseException");
    assert_eq!(message(&duplicate), format!("Channel first under account {ACCOUNT} already exists."));

    let second_s3 = s3_channel(&client, "second", &arn).send().await.unwrap_err();
    assert_eq!(code(&second_s3), "LimitExceededException", "one S3 channel per stream");
    tables_channel(&client, "tables", &arn).send().await.expect("an S3 Tables channel beside the S3 one");
    let second_tables = tables_channel(&client, "tables-2", &arn).send().await.unwrap_err();
    assert_eq!(code(&second_tables), "LimitExceededException", "one S3 Tables channel per stream");

    // Deleting a channel frees its name and the stream's slot.
    client.delete_channel().channel_arn(channel_arn("first")).send().await.unwrap();
    let again = s3_channel(&client, "first", &arn).send().await.expect("the name is free again");
    assert_eq!(again.channel_description.unwrap().channel_status(), &ChannelStatus::Active);
}

#[tokio::test]
async fn channel_tags_are_added_listed_and_removed_by_arn() {
    let server = TestServer::start().await;
    let client = server.kinesis();
    let arn = on_demand_stream(&client, "tagged").await;
    client.add_tags_to_stream().stream_name("tagged").tags("stream-tag", "s").send().await.unwrap();
    s3_channel(&client, "tagged-channel", &arn).tags("a", "1").send().await.unwrap();
    let channel = channel_arn("tagged-channel");

    client.tag_resource().resource_arn(&channel).tags("b", "2").tags("a", "changed").send().await.unwrap();
    let listed = client.list_tags_for_resource().resource_arn(&channel).send().await.unwrap();
    let pairs: Vec<(&str, &str)> =
        listed.tags().iter().map(|tag| (tag.key(), tag.value().unwrap_or_default())).collect();
    assert_eq!(pairs, [("a", "changed"), ("b", "2")]);
    client.untag_resource().resource_arn(&channel).tag_keys("a").send().await.unwrap();
    let listed = client.list_tags_for_resource().resource_arn(&channel).send().await.unwrap();
    assert_eq!(listed.tags().len(), 1);
    assert_eq!(listed.tags()[0].key(), "b");

    let stream_tags = client.list_tags_for_resource().resource_arn(&arn).send().await.unwrap();
    assert_eq!(stream_tags.tags().len(), 1, "the stream's tags are its own");
    assert_eq!(stream_tags.tags()[0].key(), "stream-tag");

    let unknown = client.list_tags_for_resource().resource_arn(channel_arn("nope")).send().await.unwrap_err();
    assert_eq!(code(&unknown), "ResourceNotFoundException");
    let too_many =
        (0..50).fold(client.tag_resource().resource_arn(&channel), |request, n| request.tags(format!("k{n}"), "v"));
    assert_eq!(code(&too_many.send().await.unwrap_err()), "InvalidArgumentException", "51 tags in all");
    let no_keys = client.untag_resource().resource_arn(&channel).set_tag_keys(Some(Vec::new())).send().await;
    assert_eq!(code(&no_keys.unwrap_err()), "ValidationException");
}

#[tokio::test]
async fn channels_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (s3, tables) = {
        let server = TestServer::start_with(common::config(Some(dir.path().to_path_buf())), None).await;
        let client = server.kinesis();
        let arn = on_demand_stream(&client, "durable").await;
        s3_channel(&client, "kept-s3", &arn).tags("owner", "me").send().await.unwrap();
        let tables = tables_channel(&client, "kept-tables", &arn).send().await.unwrap();
        let update = S3DestinationUpdateInput::builder().data_freshness_in_seconds(450).build().unwrap();
        let s3 = client.update_channel().channel_arn(channel_arn("kept-s3")).s3_destination_configuration(update);
        let s3 = s3.send().await.unwrap();
        s3_channel(&client, "dropped", &on_demand_stream(&client, "other").await).send().await.unwrap();
        client.delete_channel().channel_arn(channel_arn("dropped")).send().await.unwrap();
        server.server.shutdown().await.unwrap();
        (s3.channel_description.unwrap(), tables.channel_description.unwrap())
    };
    let server = TestServer::start_with(common::config(Some(dir.path().to_path_buf())), None).await;
    let client = server.kinesis();
    assert_eq!(describe(&client, "kept-s3").await, s3, "the channel and its update survive");
    assert_eq!(describe(&client, "kept-tables").await, tables);
    assert_eq!(s3.s3_destination_configuration().unwrap().data_freshness_in_seconds(), 450);
    let listed = client.list_channels().send().await.unwrap();
    let names: Vec<&str> = listed.channel_summaries().iter().map(|channel| channel.channel_name()).collect();
    assert_eq!(names, ["kept-s3", "kept-tables"], "the deleted channel stays deleted");
    let tags = client.list_tags_for_resource().resource_arn(channel_arn("kept-s3")).send().await.unwrap();
    assert_eq!(tags.tags()[0].key(), "owner");
    let duplicate = s3_channel(&client, "kept-s3", &stream_arn("durable")).send().await.unwrap_err();
    assert_eq!(code(&duplicate), "ResourceInUseException");
}

#[tokio::test]
async fn the_stream_summary_counts_the_streams_channels() {
    let server = TestServer::start().await;
    let client = server.kinesis();
    let arn = on_demand_stream(&client, "counted").await;
    let count = |client: Client| async move {
        let summary = client.describe_stream_summary().stream_name("counted").send().await.unwrap();
        summary.stream_description_summary.unwrap().channel_count
    };
    assert_eq!(count(client.clone()).await, Some(0));
    s3_channel(&client, "one", &arn).send().await.unwrap();
    tables_channel(&client, "two", &arn).send().await.unwrap();
    s3_channel(&client, "elsewhere", &on_demand_stream(&client, "elsewhere").await).send().await.unwrap();
    assert_eq!(count(client.clone()).await, Some(2));
    client.delete_channel().channel_arn(channel_arn("one")).send().await.unwrap();
    assert_eq!(count(client.clone()).await, Some(1));
}

#[tokio::test]
async fn a_stream_with_channels_is_not_deleted() {
    let server = TestServer::start().await;
    let client = server.kinesis();
    let arn = on_demand_stream(&client, "busy").await;
    s3_channel(&client, "reader", &arn).send().await.unwrap();
    let refused = client.delete_stream().stream_name("busy").send().await.unwrap_err();
    assert_eq!(code(&refused), "ResourceInUseException");
    client.delete_channel().channel_arn(channel_arn("reader")).send().await.unwrap();
    client.delete_stream().stream_name("busy").send().await.expect("no channel left");
}
