//! The operations, grouped by what they act on, and the dispatch from operation name.

mod channels;
mod consumers;
mod queue_feeder;
mod queues;
mod records;
mod settings;
mod shards;
mod streams;
mod tags;

use crate::error_map::{ErrorKind, KinesisError};
use crate::Context;
use queues::EntryAction;
use serde_json::Value;

pub use consumers::{subscribe_to_shard, Subscriptions};
pub use queue_feeder::start_feeders;
pub use queues::INTERNAL_ACCOUNT;

pub const OPERATIONS: &[&str] = &[
    "AcknowledgeDeadLetterQueueRecords",
    "AcknowledgeQueueRecords",
    "AddTagsToStream",
    "CreateChannel",
    "CreateQueue",
    "CreateStream",
    "DecreaseStreamRetentionPeriod",
    "DeleteChannel",
    "DeleteQueue",
    "DeleteResourcePolicy",
    "DeleteStream",
    "DeregisterStreamConsumer",
    "DescribeAccountSettings",
    "DescribeChannel",
    "DescribeLimits",
    "DescribeQueue",
    "DescribeStream",
    "DescribeStreamConsumer",
    "DescribeStreamSummary",
    "DisableEnhancedMonitoring",
    "EnableEnhancedMonitoring",
    "GetRecords",
    "GetResourcePolicy",
    "GetShardIterator",
    "IncreaseStreamRetentionPeriod",
    "ListChannels",
    "ListQueues",
    "ListShards",
    "ListStreamConsumers",
    "ListStreams",
    "ListTagsForResource",
    "ListTagsForStream",
    "MergeShards",
    "PutRecord",
    "PutRecords",
    "PutResourcePolicy",
    "ReceiveDeadLetterQueueRecords",
    "ReceiveQueueRecords",
    "RegisterStreamConsumer",
    "RemoveTagsFromStream",
    "RestoreDeadLetterQueueRecords",
    "SplitShard",
    "StartStreamEncryption",
    "StopStreamEncryption",
    "SubscribeToShard",
    "TagResource",
    "UntagResource",
    "UpdateAccountSettings",
    "UpdateChannel",
    "UpdateDeadLetterQueueRecordsVisibility",
    "UpdateMaxRecordSize",
    "UpdateQueue",
    "UpdateQueueRecordsVisibility",
    "UpdateShardCount",
    "UpdateStreamMode",
    "UpdateStreamRecordDistributionStrategy",
    "UpdateStreamWarmThroughput",
];

pub async fn run(context: &Context<'_>) -> Result<Value, KinesisError> {
    let operation = context.request.operation.as_str();
    match operation {
        "CreateStream" => streams::create_stream(context).await,
        "DeleteStream" => streams::delete_stream(context).await,
        "DescribeStream" => streams::describe_stream(context),
        "DescribeStreamSummary" => streams::describe_stream_summary(context),
        "ListStreams" => streams::list_streams(context),
        "IncreaseStreamRetentionPeriod" => streams::change_retention(context, true).await,
        "DecreaseStreamRetentionPeriod" => streams::change_retention(context, false).await,
        "UpdateStreamMode" => streams::update_stream_mode(context).await,
        "StartStreamEncryption" => streams::start_stream_encryption(context).await,
        "StopStreamEncryption" => streams::stop_stream_encryption(context).await,
        "EnableEnhancedMonitoring" => streams::change_monitoring(context, true).await,
        "DisableEnhancedMonitoring" => streams::change_monitoring(context, false).await,
        "DescribeLimits" => streams::describe_limits(context),
        "ListShards" => shards::list_shards(context),
        "SplitShard" => shards::split_shard(context).await,
        "MergeShards" => shards::merge_shards(context).await,
        "UpdateShardCount" => shards::update_shard_count(context).await,
        "PutRecord" => records::put_record(context).await,
        "PutRecords" => records::put_records(context).await,
        "GetShardIterator" => records::get_shard_iterator(context),
        "GetRecords" => records::get_records(context),
        "RegisterStreamConsumer" => consumers::register_stream_consumer(context).await,
        "DeregisterStreamConsumer" => consumers::deregister_stream_consumer(context).await,
        "DescribeStreamConsumer" => consumers::describe_stream_consumer(context),
        "ListStreamConsumers" => consumers::list_stream_consumers(context),
        "PutResourcePolicy" => settings::put_resource_policy(context).await,
        "GetResourcePolicy" => settings::get_resource_policy(context),
        "DeleteResourcePolicy" => settings::delete_resource_policy(context).await,
        "DescribeAccountSettings" => settings::describe_account_settings(context),
        "UpdateAccountSettings" => settings::update_account_settings(context).await,
        "UpdateMaxRecordSize" => settings::update_max_record_size(context).await,
        "UpdateStreamWarmThroughput" => settings::update_stream_warm_throughput(context).await,
        "UpdateStreamRecordDistributionStrategy" => settings::update_stream_record_distribution_strategy(context).await,
        "CreateQueue" => queues::create_queue(context).await,
        "DescribeQueue" => queues::describe_queue(context),
        "UpdateQueue" => queues::update_queue(context).await,
        "DeleteQueue" => queues::delete_queue(context).await,
        "ListQueues" => queues::list_queues(context),
        "ReceiveQueueRecords" => queues::receive(context, false).await,
        "ReceiveDeadLetterQueueRecords" => queues::receive(context, true).await,
        "AcknowledgeQueueRecords" => queues::batch(context, operation, false, EntryAction::Acknowledge).await,
        "AcknowledgeDeadLetterQueueRecords" => queues::batch(context, operation, true, EntryAction::Acknowledge).await,
        "UpdateQueueRecordsVisibility" => queues::batch(context, operation, false, EntryAction::ChangeVisibility).await,
        "UpdateDeadLetterQueueRecordsVisibility" => {
            queues::batch(context, operation, true, EntryAction::ChangeVisibility).await
        }
        "RestoreDeadLetterQueueRecords" => queues::batch(context, operation, true, EntryAction::Restore).await,
        "CreateChannel" => channels::create_channel(context).await,
        "DescribeChannel" => channels::describe_channel(context),
        "ListChannels" => channels::list_channels(context),
        "UpdateChannel" => channels::update_channel(context).await,
        "DeleteChannel" => channels::delete_channel(context).await,
        "TagResource" if channels::names_channel(context) => channels::tag_channel(context).await,
        "UntagResource" if channels::names_channel(context) => channels::untag_channel(context).await,
        "ListTagsForResource" if channels::names_channel(context) => channels::list_tags_for_channel(context),
        "AddTagsToStream" => tags::add_tags_to_stream(context).await,
        "RemoveTagsFromStream" => tags::remove_tags_from_stream(context).await,
        "ListTagsForStream" => tags::list_tags_for_stream(context),
        "TagResource" => tags::tag_resource(context).await,
        "UntagResource" => tags::untag_resource(context).await,
        "ListTagsForResource" => tags::list_tags_for_resource(context),
        _ => Err(KinesisError::new(
            ErrorKind::UnknownOperation,
            format!("The operation Kinesis_20131202.{operation} is not supported."),
        )),
    }
}

/// Checks an integer member against an inclusive range, with AWS's validation wording.
pub(crate) fn check_range(value: i64, member: &str, low: i64, high: i64) -> Result<(), KinesisError> {
    if value < low {
        return Err(KinesisError::validation(
            &value.to_string(),
            member,
            &format!("Member must have value greater than or equal to {low}"),
        ));
    }
    if value > high {
        return Err(KinesisError::validation(
            &value.to_string(),
            member,
            &format!("Member must have value less than or equal to {high}"),
        ));
    }
    Ok(())
}
