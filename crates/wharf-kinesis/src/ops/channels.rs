//! Channels: managed delivery of a stream's records to Apache Iceberg tables on Amazon S3 Tables
//! or to a general purpose Amazon S3 bucket (CreateChannel, DescribeChannel, ListChannels,
//! UpdateChannel, DeleteChannel), plus tagging a channel by its ARN.
//!
//! Only the control plane is implemented: every input member is checked against the service
//! model's constraints (lengths, patterns, enums, list sizes, required members) and AWS's
//! documented rules (one destination, one stream and one table per channel, data freshness of
//! 300 to 900 seconds, record formats per destination, ON_DEMAND source streams, one channel of
//! each destination type per stream), and channels are kept durably and described, listed,
//! updated and deleted as AWS does. **Records are not delivered**: Wharf has no S3-compatible
//! destination yet, so a channel reads nothing from its stream and writes nothing anywhere until
//! it has one. The service execution role, KMS key, Glue schema, buckets and log group are
//! stored and reported, never used.
//!
//! AWS creates a channel asynchronously (CREATING, then ACTIVE), and updates (UPDATING) and
//! deletes (DELETING) it the same way; here each change is complete when the call returns, so a
//! channel is ACTIVE from the CreateChannel reply on and a deleted channel is gone at once. A
//! channel whose source stream no longer exists (or was deleted and created again) is reported
//! FAILED with the reason.
//!
//! Channels live in the catalog `kinesis-channels`, keyed `<account>/<name>`: scalar settings as
//! pairs, the destination and logging descriptions as JSON text, tags as `tag/<key>` pairs.

use crate::error_map::{ErrorKind, KinesisError};
use crate::names;
use crate::protocol::{parse_input, timestamp};
use crate::Context;
use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use wharf_aws::token;
use wharf_domain::catalog::{CatalogChange, Entry};
use wharf_domain::Stream;

const CHANNEL_CATALOG: &str = "kinesis-channels";
const CHANNEL_NAME_CHARS_MAX: usize = 128;
const ARN_CHARS_MAX: usize = 2048;
const ROLE_ARN_CHARS_MAX: usize = 512;
const LIST_MEMBERS_MAX: usize = 10_000;
const PARTITION_FIELDS_MAX: usize = 10;
/// Data freshness AWS accepts, and the default.
const DATA_FRESHNESS_SECONDS_MIN: i64 = 300;
const DATA_FRESHNESS_SECONDS_MAX: i64 = 900;
const DATA_FRESHNESS_SECONDS_DEFAULT: i64 = 300;
/// Channels of one destination type a stream may have (AWS's launch quota).
const CHANNELS_PER_STREAM_AND_DESTINATION: usize = 1;
/// Tags one request may carry (the model's TagMap), and tags one resource may have.
const TAG_MAP_ENTRIES_MAX: usize = 200;
const TAGS_PER_CHANNEL_MAX: usize = 50;
const TAG_KEYS_MAX: usize = 50;
const TAG_KEY_CHARS_MAX: usize = 128;
const TAG_VALUE_CHARS_MAX: usize = 256;
/// ListChannels returns at most this many channels whatever MaxResults says.
const LIST_PAGE_MAX: i64 = 100;
const LIST_LIMIT_MAX: i64 = 10_000;
const NEXT_TOKEN_PURPOSE: &str = "kinesis-list-channels";
const NEXT_TOKEN_CHARS_MAX: usize = 1_048_576;
/// How long a ListChannels NextToken may be used (as ListShards's).
const NEXT_TOKEN_LIFETIME_MS: u64 = 300_000;
/// The documented defaults a description reports for members left out.
const DEFAULT_STORAGE_CLASS: &str = "STANDARD";
const DEFAULT_OUTPUT_KEY_TEMPLATE: &str = "kinesis-channel/!{channel-name}/!{channel-id}/!{yyyy}/!{MM}/!{dd}/!{HH}/!{channel-name}-!{channel-id}-!{yyyy}-!{MM}-!{dd}-!{HH}-!{mm}!{extension}";
const DEFAULT_LOG_STREAM_NAME: &str = "DestinationDelivery";
/// The AWS managed key for Kinesis, which cannot encrypt a channel's destination.
const SERVICE_KEY_ALIAS: &str = "alias/aws/kinesis";

const RECORD_FORMATS: &[&str] = &["GSR_JSON", "JSON", "STRING", "BYTE_ARRAY"];
const STORAGE_CLASSES: &[&str] = &["STANDARD", "INTELLIGENT_TIERING", "GLACIER_IR"];
const S3_COMPRESSION_TYPES: &[&str] = &["NONE", "GZIP", "ZSTD"];
const TABLES_COMPRESSION_TYPES: &[&str] = &["NONE", "ZSTD", "SNAPPY"];
const PARTITION_TRANSFORMS: &[&str] = &["TIME_HOUR"];
const ENCRYPTION_TYPES: &[&str] = &["KMS"];

const CHANNEL_NAME_PATTERN: &str = "[a-zA-Z0-9_.-]+";
const CHANNEL_ARN_PATTERN: &str = "arn:aws.*:kinesis:.*:\\d{12}:channel/\\S+";
const STREAM_ARN_PATTERN: &str = "arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+";
const RESOURCE_ARN_PATTERN: &str = "arn:aws.*:kinesis:.*:\\d{12}:.*(stream|channel|queue)/\\S+";
const ROLE_ARN_PATTERN: &str = "arn:aws[-a-z0-9]*:iam::\\d{12}:role/[a-zA-Z_0-9+=,.@\\-_/]+";
const GSR_SCHEMA_ARN_PATTERN: &str =
    "arn:aws[-a-z0-9]*:glue:[-a-z0-9]+:\\d{12}:schema/[-a-zA-Z0-9_$#.]+/[-a-zA-Z0-9_$#.]+";
const BUCKET_ARN_PATTERN: &str = "arn:aws[-a-z0-9]*:s3:::[a-z0-9._-]{3,63}";
const TABLE_BUCKET_ARN_PATTERN: &str = "arn:aws[-a-z0-9]*:s3tables:[-a-z0-9]+:\\d{12}:bucket/[a-z0-9_-]{3,63}";
const ACCOUNT_PATTERN: &str = "\\d{12}";
const ERROR_PREFIX_PATTERN: &str = "[0-9A-Za-z!\\-_'.*()\\/]+";
const KEY_TEMPLATE_PATTERN: &str = "[0-9A-Za-z!\\-_'.*()\\/=:{}]+";
const TABLES_NAME_PATTERN: &str = "[0-9a-z_]+";
const PARTITION_SOURCE_PATTERN: &str = "[a-zA-Z0-9\\.\\_]+";
const LOG_GROUP_PATTERN: &str = "[\\.\\-_/#A-Za-z0-9]+";
const LOG_STREAM_PATTERN: &str = "[^:*]*";

// ---------------------------------------------------------------------------------------------
// The model's patterns, matched whole as AWS does.

fn is_channel_name(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn is_account(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// `aws[-a-z0-9]*`
fn is_partition(text: &str) -> bool {
    text.strip_prefix("aws")
        .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
}

fn is_line_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// `arn:aws.*:kinesis:.*:\d{12}:<resource>/\S+`
fn is_kinesis_arn(text: &str, resource: &str) -> bool {
    let Some(rest) = text.strip_prefix("arn:aws") else { return false };
    let marker = format!(":{resource}/");
    rest.match_indices(&marker).any(|(at, _)| {
        let (head, tail) = (&rest[..at], &rest[at + marker.len()..]);
        if tail.is_empty() || tail.chars().any(char::is_whitespace) || head.len() < 13 {
            return false;
        }
        let split = head.len() - 12;
        if !head.is_char_boundary(split) || !is_account(&head[split..]) {
            return false;
        }
        let Some(before) = head[..split].strip_suffix(':') else { return false };
        before.contains(":kinesis:") && !before.chars().any(is_line_break)
    })
}

fn is_channel_arn(text: &str) -> bool {
    is_kinesis_arn(text, "channel")
}

fn is_stream_arn(text: &str) -> bool {
    is_kinesis_arn(text, "stream")
}

/// `arn:aws.*:kinesis:.*:\d{12}:.*(stream|channel|queue)/\S+`
fn is_resource_arn(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("arn:aws") else { return false };
    let Some(kinesis) = rest.find(":kinesis:") else { return false };
    let after = &rest[kinesis + ":kinesis:".len()..];
    if rest.chars().any(is_line_break) {
        return false;
    }
    // Some `:<12 digits>:` after ":kinesis:" followed by anything, a resource type, '/' and
    // non-whitespace to the end.
    let bytes = after.as_bytes();
    (0..bytes.len()).any(|at| {
        bytes[at] == b':'
            && after.get(at + 1..at + 13).is_some_and(is_account)
            && after.get(at + 13..at + 14) == Some(":")
            && ["stream/", "channel/", "queue/"].iter().any(|kind| {
                let tail = &after[at + 14..];
                tail.match_indices(kind).any(|(found, _)| {
                    let rest = &tail[found + kind.len()..];
                    !rest.is_empty() && !rest.chars().any(char::is_whitespace)
                })
            })
    })
}

/// `arn:aws[-a-z0-9]*:iam::\d{12}:role/[a-zA-Z_0-9+=,.@\-_/]+`
fn is_role_arn(text: &str) -> bool {
    let parts: Vec<&str> = text.splitn(6, ':').collect();
    let [arn, partition, "iam", "", account, resource] = parts.as_slice() else { return false };
    let Some(role) = resource.strip_prefix("role/") else { return false };
    *arn == "arn"
        && is_partition(partition)
        && is_account(account)
        && !role.is_empty()
        && role.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-/".contains(c))
}

/// `arn:aws[-a-z0-9]*:glue:[-a-z0-9]+:\d{12}:schema/[-a-zA-Z0-9_$#.]+/[-a-zA-Z0-9_$#.]+`
fn is_gsr_schema_arn(text: &str) -> bool {
    let parts: Vec<&str> = text.splitn(6, ':').collect();
    let [arn, partition, "glue", region, account, resource] = parts.as_slice() else { return false };
    let segment = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_$#.".contains(c));
    let schema = resource.strip_prefix("schema/").and_then(|rest| rest.split_once('/'));
    *arn == "arn"
        && is_partition(partition)
        && is_region(region)
        && is_account(account)
        && schema.is_some_and(|(registry, name)| segment(registry) && segment(name))
}

/// `[-a-z0-9]+`
fn is_region(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `arn:aws[-a-z0-9]*:s3:::[a-z0-9._-]{3,63}`
fn is_bucket_arn(text: &str) -> bool {
    let parts: Vec<&str> = text.splitn(6, ':').collect();
    let [arn, partition, "s3", "", "", bucket] = parts.as_slice() else { return false };
    *arn == "arn"
        && is_partition(partition)
        && (3..=63).contains(&bucket.len())
        && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
}

/// `arn:aws[-a-z0-9]*:s3tables:[-a-z0-9]+:\d{12}:bucket/[a-z0-9_-]{3,63}`
fn is_table_bucket_arn(text: &str) -> bool {
    let parts: Vec<&str> = text.splitn(6, ':').collect();
    let [arn, partition, "s3tables", region, account, resource] = parts.as_slice() else { return false };
    let bucket = resource.strip_prefix("bucket/").unwrap_or("");
    *arn == "arn"
        && is_partition(partition)
        && is_region(region)
        && is_account(account)
        && (3..=63).contains(&bucket.len())
        && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'))
}

fn is_error_prefix(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "!-_'.*()/".contains(c))
}

fn is_key_template(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "!-_'.*()/=:{}".contains(c))
}

fn is_tables_name(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn is_partition_source(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_'))
}

fn is_log_group(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || ".-_/#".contains(c))
}

fn is_log_stream(text: &str) -> bool {
    !text.chars().any(|c| c == ':' || c == '*' || is_line_break(c))
}

// ---------------------------------------------------------------------------------------------
// Validation: every broken constraint is reported, as AWS does ("2 validation errors detected:
// ...; ...").

/// A model pattern as AWS quotes it, and its matcher.
type Pattern = (&'static str, fn(&str) -> bool);

#[derive(Default)]
struct Violations(Vec<String>);

impl Violations {
    fn add(&mut self, value: &str, member: &str, constraint: &str) {
        self.0.push(format!("Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"));
    }

    /// The value of a required member, or a violation.
    fn required<'a, T>(&mut self, value: &'a Option<T>, member: &str) -> Option<&'a T> {
        if value.is_none() {
            self.0.push(format!("Value null at '{member}' failed to satisfy constraint: Member must not be null"));
        }
        value.as_ref()
    }

    /// A string's length (in characters) and pattern.
    fn text(&mut self, value: &str, member: &str, min: usize, max: usize, pattern: Option<Pattern>) {
        let length = value.chars().count();
        if length < min {
            self.add(value, member, &format!("Member must have length greater than or equal to {min}"));
        }
        if length > max {
            self.add(value, member, &format!("Member must have length less than or equal to {max}"));
        }
        if let Some((pattern, matches)) = pattern {
            if !matches(value) {
                self.add(value, member, &format!("Member must satisfy regular expression pattern: {pattern}"));
            }
        }
    }

    fn one_of(&mut self, value: &str, member: &str, allowed: &[&str]) {
        if !allowed.contains(&value) {
            self.add(value, member, &format!("Member must satisfy enum value set: [{}]", allowed.join(", ")));
        }
    }

    fn range(&mut self, value: i64, member: &str, min: i64, max: i64) {
        if value < min {
            self.add(&value.to_string(), member, &format!("Member must have value greater than or equal to {min}"));
        }
        if value > max {
            self.add(&value.to_string(), member, &format!("Member must have value less than or equal to {max}"));
        }
    }

    /// A list's or map's number of members; `rendered` is how the value reads in the message.
    fn count(&mut self, count: usize, rendered: &str, member: &str, min: usize, max: usize) {
        if count < min {
            self.add(rendered, member, &format!("Member must have length greater than or equal to {min}"));
        }
        if count > max {
            self.add(rendered, member, &format!("Member must have length less than or equal to {max}"));
        }
    }

    fn tags(&mut self, tags: &BTreeMap<String, String>, member: &str) {
        let rendered = render_map(tags);
        self.count(tags.len(), &rendered, member, 1, TAG_MAP_ENTRIES_MAX);
        if tags.keys().any(|key| key.is_empty() || key.chars().count() > TAG_KEY_CHARS_MAX) {
            self.add(
                &rendered,
                member,
                &format!("Map keys must satisfy constraint: [Member must have length less than or equal to {TAG_KEY_CHARS_MAX}, Member must have length greater than or equal to 1]"),
            );
        }
        if tags.values().any(|value| value.chars().count() > TAG_VALUE_CHARS_MAX) {
            self.add(
                &rendered,
                member,
                &format!("Map value must satisfy constraint: [Member must have length less than or equal to {TAG_VALUE_CHARS_MAX}, Member must have length greater than or equal to 0]"),
            );
        }
    }

    fn finish(self) -> Result<(), KinesisError> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(KinesisError::new(ErrorKind::Validation, format!("1 validation error detected: {}", self.0[0]))),
            n => Err(KinesisError::new(
                ErrorKind::Validation,
                format!("{n} validation errors detected: {}", self.0.join("; ")),
            )),
        }
    }
}

/// A map as Java renders it in AWS's messages.
fn render_map(map: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = map.iter().map(|(key, value)| format!("{key}={value}")).collect();
    format!("{{{}}}", pairs.join(", "))
}

fn invalid(message: impl Into<String>) -> KinesisError {
    KinesisError::invalid(message)
}

/// AWS's rule for tags, beyond the model's lengths: Unicode letters, digits, white space and
/// `_ . : / = + - @` only.
// ---------------------------------------------------------------------------------------------
// Inputs.

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RecordConfigurationInput {
    record_format_type: Option<String>,
    #[serde(rename = "GSRSchemaARN")]
    gsr_schema_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StreamConfigurationInput {
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    record_configuration: Option<RecordConfigurationInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeadLetterInput {
    #[serde(rename = "BucketARN")]
    bucket_arn: Option<String>,
    expected_bucket_owner: Option<String>,
    error_output_prefix: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StorageInput {
    #[serde(rename = "BucketARN")]
    bucket_arn: Option<String>,
    expected_bucket_owner: Option<String>,
    output_key_template: Option<String>,
    storage_class: Option<String>,
    compression_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct S3DestinationInput {
    data_freshness_in_seconds: Option<i64>,
    dead_letter_queue_s3_configuration: Option<DeadLetterInput>,
    storage_configuration: Option<StorageInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PartitionFieldInput {
    transform: Option<String>,
    source_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PartitionSpecInput {
    partition_fields: Option<Vec<PartitionFieldInput>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TableInput {
    #[serde(rename = "TableBucketARN")]
    table_bucket_arn: Option<String>,
    namespace: Option<String>,
    table_name: Option<String>,
    compression_type: Option<String>,
    partition_spec: Option<PartitionSpecInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct S3TablesDestinationInput {
    data_freshness_in_seconds: Option<i64>,
    dead_letter_queue_s3_configuration: Option<DeadLetterInput>,
    s3_tables_configuration_list: Option<Vec<TableInput>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EncryptionInput {
    encryption_type: Option<String>,
    key_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CloudWatchLogsInput {
    enabled: Option<bool>,
    log_group_name: Option<String>,
    log_stream_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LoggingInput {
    cloud_watch_logs: Option<CloudWatchLogsInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateChannelInput {
    channel_name: Option<String>,
    #[serde(rename = "ServiceExecutionRoleARN")]
    service_execution_role_arn: Option<String>,
    stream_configuration_list: Option<Vec<StreamConfigurationInput>>,
    s3_destination_configuration: Option<S3DestinationInput>,
    s3_tables_destination_configuration: Option<S3TablesDestinationInput>,
    encryption_configuration: Option<EncryptionInput>,
    tags: Option<BTreeMap<String, String>>,
    logging_configuration: Option<LoggingInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChannelRef {
    #[serde(rename = "ChannelARN")]
    channel_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FreshnessUpdateInput {
    data_freshness_in_seconds: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateChannelInput {
    #[serde(rename = "ChannelARN")]
    channel_arn: Option<String>,
    s3_destination_configuration: Option<FreshnessUpdateInput>,
    s3_tables_destination_configuration: Option<FreshnessUpdateInput>,
    logging_configuration: Option<LoggingInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StreamFilterInput {
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    stream_creation_timestamp: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListChannelsInput {
    stream_filter: Option<Vec<StreamFilterInput>>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

// Checks of each structure against the model.

fn check_dead_letter(v: &mut Violations, input: &DeadLetterInput, member: &str) {
    if let Some(arn) = v.required(&input.bucket_arn, &format!("{member}.bucketARN")) {
        v.text(arn, &format!("{member}.bucketARN"), 1, ARN_CHARS_MAX, Some((BUCKET_ARN_PATTERN, is_bucket_arn)));
    }
    let owner_member = format!("{member}.expectedBucketOwner");
    if let Some(owner) = v.required(&input.expected_bucket_owner, &owner_member) {
        v.text(owner, &owner_member, 12, 12, Some((ACCOUNT_PATTERN, is_account)));
    }
    if let Some(prefix) = &input.error_output_prefix {
        v.text(prefix, &format!("{member}.errorOutputPrefix"), 1, 512, Some((ERROR_PREFIX_PATTERN, is_error_prefix)));
    }
}

fn check_s3_destination(v: &mut Violations, input: &S3DestinationInput) {
    let member = "s3DestinationConfiguration";
    if let Some(dead_letter) = &input.dead_letter_queue_s3_configuration {
        check_dead_letter(v, dead_letter, &format!("{member}.deadLetterQueueS3Configuration"));
    }
    let storage_member = format!("{member}.storageConfiguration");
    if let Some(storage) = v.required(&input.storage_configuration, &storage_member) {
        let bucket_member = format!("{storage_member}.bucketARN");
        if let Some(arn) = v.required(&storage.bucket_arn, &bucket_member) {
            v.text(arn, &bucket_member, 1, ARN_CHARS_MAX, Some((BUCKET_ARN_PATTERN, is_bucket_arn)));
        }
        let owner_member = format!("{storage_member}.expectedBucketOwner");
        if let Some(owner) = v.required(&storage.expected_bucket_owner, &owner_member) {
            v.text(owner, &owner_member, 12, 12, Some((ACCOUNT_PATTERN, is_account)));
        }
        if let Some(template) = &storage.output_key_template {
            let template_member = format!("{storage_member}.outputKeyTemplate");
            v.text(template, &template_member, 1, 1024, Some((KEY_TEMPLATE_PATTERN, is_key_template)));
        }
        if let Some(class) = &storage.storage_class {
            v.one_of(class, &format!("{storage_member}.storageClass"), STORAGE_CLASSES);
        }
        let compression_member = format!("{storage_member}.compressionType");
        if let Some(compression) = v.required(&storage.compression_type, &compression_member) {
            v.one_of(compression, &compression_member, S3_COMPRESSION_TYPES);
        }
    }
}

fn check_tables_destination(v: &mut Violations, input: &S3TablesDestinationInput) {
    let member = "s3TablesDestinationConfiguration";
    let dead_letter_member = format!("{member}.deadLetterQueueS3Configuration");
    if let Some(dead_letter) = v.required(&input.dead_letter_queue_s3_configuration, &dead_letter_member) {
        check_dead_letter(v, dead_letter, &dead_letter_member);
    }
    let list_member = format!("{member}.s3TablesConfigurationList");
    let Some(tables) = v.required(&input.s3_tables_configuration_list, &list_member) else { return };
    v.count(tables.len(), if tables.is_empty() { "[]" } else { "[...]" }, &list_member, 1, LIST_MEMBERS_MAX);
    for (index, table) in tables.iter().enumerate() {
        let at = format!("{list_member}.{}.member", index + 1);
        if let Some(arn) = v.required(&table.table_bucket_arn, &format!("{at}.tableBucketARN")) {
            let pattern: Option<Pattern> = Some((TABLE_BUCKET_ARN_PATTERN, is_table_bucket_arn));
            v.text(arn, &format!("{at}.tableBucketARN"), 1, ARN_CHARS_MAX, pattern);
        }
        if let Some(namespace) = v.required(&table.namespace, &format!("{at}.namespace")) {
            v.text(namespace, &format!("{at}.namespace"), 1, 255, Some((TABLES_NAME_PATTERN, is_tables_name)));
        }
        if let Some(name) = v.required(&table.table_name, &format!("{at}.tableName")) {
            v.text(name, &format!("{at}.tableName"), 1, 255, Some((TABLES_NAME_PATTERN, is_tables_name)));
        }
        if let Some(compression) = v.required(&table.compression_type, &format!("{at}.compressionType")) {
            v.one_of(compression, &format!("{at}.compressionType"), TABLES_COMPRESSION_TYPES);
        }
        if let Some(spec) = &table.partition_spec {
            let fields_member = format!("{at}.partitionSpec.partitionFields");
            if let Some(fields) = v.required(&spec.partition_fields, &fields_member) {
                let rendered = if fields.is_empty() { "[]" } else { "[...]" };
                v.count(fields.len(), rendered, &fields_member, 1, PARTITION_FIELDS_MAX);
                for (field_index, field) in fields.iter().enumerate() {
                    let field_at = format!("{fields_member}.{}.member", field_index + 1);
                    if let Some(transform) = v.required(&field.transform, &format!("{field_at}.transform")) {
                        v.one_of(transform, &format!("{field_at}.transform"), PARTITION_TRANSFORMS);
                    }
                    if let Some(source) = v.required(&field.source_name, &format!("{field_at}.sourceName")) {
                        let pattern: Option<Pattern> = Some((PARTITION_SOURCE_PATTERN, is_partition_source));
                        v.text(source, &format!("{field_at}.sourceName"), 1, 255, pattern);
                    }
                }
            }
        }
    }
}

fn check_logging(v: &mut Violations, input: &LoggingInput) {
    let member = "loggingConfiguration.cloudWatchLogs";
    let Some(logs) = v.required(&input.cloud_watch_logs, member) else { return };
    v.required(&logs.enabled, &format!("{member}.enabled"));
    if let Some(group) = &logs.log_group_name {
        v.text(group, &format!("{member}.logGroupName"), 1, 512, Some((LOG_GROUP_PATTERN, is_log_group)));
    }
    if let Some(stream) = &logs.log_stream_name {
        v.text(stream, &format!("{member}.logStreamName"), 1, 512, Some((LOG_STREAM_PATTERN, is_log_stream)));
    }
}

fn check_channel_arn(v: &mut Violations, arn: &Option<String>) {
    if let Some(arn) = v.required(arn, "channelARN") {
        v.text(arn, "channelARN", 1, ARN_CHARS_MAX, Some((CHANNEL_ARN_PATTERN, is_channel_arn)));
    }
}

fn check_freshness(seconds: i64) -> Result<(), KinesisError> {
    if !(DATA_FRESHNESS_SECONDS_MIN..=DATA_FRESHNESS_SECONDS_MAX).contains(&seconds) {
        return Err(invalid(format!(
            "DataFreshnessInSeconds must be between {DATA_FRESHNESS_SECONDS_MIN} and {DATA_FRESHNESS_SECONDS_MAX} seconds; {seconds} was given."
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// A channel as kept in its catalog entry.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DestinationType {
    S3,
    S3Tables,
}

impl DestinationType {
    fn wire(self) -> &'static str {
        match self {
            DestinationType::S3 => "S3",
            DestinationType::S3Tables => "S3_TABLES",
        }
    }

    fn from_wire(text: &str) -> Option<DestinationType> {
        match text {
            "S3" => Some(DestinationType::S3),
            "S3_TABLES" => Some(DestinationType::S3Tables),
            _ => None,
        }
    }

    /// The ChannelDescription member the destination is described in.
    fn member(self) -> &'static str {
        match self {
            DestinationType::S3 => "S3DestinationConfiguration",
            DestinationType::S3Tables => "S3TablesDestinationConfiguration",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct ChannelSpec {
    account: String,
    name: String,
    id: String,
    created_ms: u64,
    role_arn: String,
    stream_account: String,
    stream_name: String,
    stream_created_ms: u64,
    record_format: String,
    gsr_schema_arn: Option<String>,
    destination_type: DestinationType,
    /// The destination's description (S3DestinationDescription or
    /// S3TablesDestinationDescription), defaults filled in.
    destination: Value,
    key_id: Option<String>,
    /// The CloudWatchLogs member of the logging configuration, defaults filled in.
    logging: Value,
    tags: BTreeMap<String, String>,
}

impl ChannelSpec {
    fn key(&self) -> String {
        channel_key(&self.account, &self.name)
    }

    fn to_entry(&self) -> Entry {
        let mut entry = Entry::new();
        let mut put = |name: &str, value: String| {
            entry.insert(name.to_string(), value);
        };
        put("account", self.account.clone());
        put("name", self.name.clone());
        put("id", self.id.clone());
        put("created_ms", self.created_ms.to_string());
        put("role_arn", self.role_arn.clone());
        put("stream_account", self.stream_account.clone());
        put("stream_name", self.stream_name.clone());
        put("stream_created_ms", self.stream_created_ms.to_string());
        put("record_format", self.record_format.clone());
        if let Some(arn) = &self.gsr_schema_arn {
            put("gsr_schema_arn", arn.clone());
        }
        put("destination_type", self.destination_type.wire().to_string());
        put("destination", self.destination.to_string());
        if let Some(key_id) = &self.key_id {
            put("key_id", key_id.clone());
        }
        put("logging", self.logging.to_string());
        for (key, value) in &self.tags {
            entry.insert(format!("tag/{key}"), value.clone());
        }
        entry
    }

    fn from_entry(entry: &Entry) -> Option<ChannelSpec> {
        let text = |name: &str| entry.get(name).cloned();
        let number = |name: &str| entry.get(name).and_then(|value| value.parse::<u64>().ok());
        let document = |name: &str| entry.get(name).and_then(|value| serde_json::from_str::<Value>(value).ok());
        Some(ChannelSpec {
            account: text("account")?,
            name: text("name")?,
            id: text("id")?,
            created_ms: number("created_ms")?,
            role_arn: text("role_arn")?,
            stream_account: text("stream_account")?,
            stream_name: text("stream_name")?,
            stream_created_ms: number("stream_created_ms")?,
            record_format: text("record_format")?,
            gsr_schema_arn: text("gsr_schema_arn"),
            destination_type: DestinationType::from_wire(entry.get("destination_type")?)?,
            destination: document("destination")?,
            key_id: text("key_id"),
            logging: document("logging")?,
            tags: entry
                .iter()
                .filter_map(|(key, value)| Some((key.strip_prefix("tag/")?.to_string(), value.clone())))
                .collect(),
        })
    }

    fn arn(&self, region: &str) -> String {
        channel_arn(region, &self.account, &self.name)
    }

    fn stream_arn(&self, region: &str) -> String {
        wharf_aws::arn::format("kinesis", region, &self.stream_account, &format!("stream/{}", self.stream_name))
    }

    /// Whether the channel reads this stream (not an earlier stream of the same name).
    fn reads(&self, stream: &Stream) -> bool {
        self.stream_account == stream.account
            && self.stream_name == stream.name
            && self.stream_created_ms == stream.created_ms
    }

    /// ACTIVE, or FAILED with the reason when the source stream is gone.
    fn status(&self, context: &Context<'_>) -> (&'static str, Option<String>) {
        let stream = context.engine().stream(&self.stream_account, &self.stream_name);
        if stream.is_some_and(|stream| self.reads(&stream)) {
            ("ACTIVE", None)
        } else {
            let reason = format!("The source stream {} no longer exists.", self.stream_arn(context.region()));
            ("FAILED", Some(reason))
        }
    }
}

fn channel_key(account: &str, name: &str) -> String {
    format!("{account}/{name}")
}

fn channel_arn(region: &str, account: &str, name: &str) -> String {
    wharf_aws::arn::format("kinesis", region, account, &format!("channel/{name}"))
}

/// A channel id: a UUID-shaped digest of the channel's key, creation time and request.
fn channel_id(key: &str, created_ms: u64, request_id: &str) -> String {
    let digest = Md5::digest(format!("{key}/{created_ms}/{request_id}").as_bytes());
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

fn channel_not_found(account: &str, name: &str) -> KinesisError {
    KinesisError::new(ErrorKind::ResourceNotFound, format!("Channel {name} under account {account} not found."))
}

/// The (account, name) a channel ARN that passed the model's pattern names.
fn parse_channel_arn(arn: &str) -> Option<(String, String)> {
    let parsed = wharf_aws::arn::parse(arn).filter(|parsed| parsed.service == "kinesis")?;
    let name = parsed.resource.strip_prefix("channel/")?;
    Some((parsed.account.to_string(), name.to_string()))
}

/// The catalog key of the channel an ARN names, after the caller's access is checked; a well
/// formed ARN that names no channel this server could hold is not found.
fn channel_key_of(context: &Context<'_>, arn: &str) -> Result<(String, String, String), KinesisError> {
    let Some((account, name)) = parse_channel_arn(arn) else {
        return Err(KinesisError::new(ErrorKind::ResourceNotFound, format!("Channel {arn} not found.")));
    };
    context.check_account(&account)?;
    if !is_channel_name(&name) || name.len() > CHANNEL_NAME_CHARS_MAX {
        return Err(channel_not_found(&account, &name));
    }
    Ok((channel_key(&account, &name), account, name))
}

fn find_channel(context: &Context<'_>, arn: &str) -> Result<ChannelSpec, KinesisError> {
    let (key, account, name) = channel_key_of(context, arn)?;
    context
        .engine()
        .catalog_entry(CHANNEL_CATALOG, &key)
        .and_then(|entry| ChannelSpec::from_entry(&entry))
        .ok_or_else(|| channel_not_found(&account, &name))
}

fn all_channels(context: &Context<'_>) -> Vec<ChannelSpec> {
    context
        .engine()
        .catalog_entries(CHANNEL_CATALOG, "", None, usize::MAX)
        .iter()
        .filter_map(|(_, entry)| ChannelSpec::from_entry(entry))
        .collect()
}

/// The channels reading the stream a stream ARN names, for DescribeStreamSummary's
/// `ChannelCount`: 0 when the ARN names no stream that exists.
pub fn channel_count(context: &Context<'_>, stream_arn: &str) -> usize {
    let Some((account, name)) = names::parse_stream_arn(stream_arn) else { return 0 };
    let Some(stream) = context.engine().stream(&account, &name) else { return 0 };
    channels_on_stream(context, &stream)
}

fn channels_on_stream(context: &Context<'_>, stream: &Stream) -> usize {
    all_channels(context).iter().filter(|channel| channel.reads(stream)).count()
}

/// Refuses a change to a stream (deleting it) while channels read it: AWS will not delete a
/// stream with channels.
pub fn check_no_channels(context: &Context<'_>, stream: &Stream, change: &str) -> Result<(), KinesisError> {
    let channels = channels_on_stream(context, stream);
    if channels > 0 {
        return Err(KinesisError::new(
            ErrorKind::ResourceInUse,
            format!(
                "Stream {} under account {} has {channels} channels; delete them with DeleteChannel before the stream can be {change}.",
                stream.name, stream.account
            ),
        ));
    }
    Ok(())
}

fn description(context: &Context<'_>, spec: &ChannelSpec) -> Value {
    let region = context.region();
    let (status, reason) = spec.status(context);
    let mut record = json!({ "RecordFormatType": spec.record_format });
    if let Some(arn) = &spec.gsr_schema_arn {
        record["GSRSchemaARN"] = json!(arn);
    }
    let mut described = json!({
        "ChannelName": spec.name,
        "ChannelARN": spec.arn(region),
        "ChannelId": spec.id,
        "ChannelStatus": status,
        "ChannelCreationTimestamp": timestamp(spec.created_ms),
        "ServiceExecutionRoleARN": spec.role_arn,
        "StreamConfigurationList": [{
            "StreamARN": spec.stream_arn(region),
            "StreamCreationTimestamp": timestamp(spec.stream_created_ms),
            "RecordConfiguration": record,
        }],
        "LoggingConfiguration": { "CloudWatchLogs": spec.logging },
    });
    described[spec.destination_type.member()] = spec.destination.clone();
    if let Some(reason) = reason {
        described["ChannelStatusReason"] = json!(reason);
    }
    if let Some(key_id) = &spec.key_id {
        described["EncryptionConfiguration"] = json!({ "EncryptionType": "KMS", "KeyId": key_id });
    }
    described
}

fn summary(context: &Context<'_>, spec: &ChannelSpec) -> Value {
    let region = context.region();
    let (status, reason) = spec.status(context);
    let mut summarized = json!({
        "ChannelName": spec.name,
        "ChannelARN": spec.arn(region),
        "ChannelId": spec.id,
        "ChannelStatus": status,
        "ChannelCreationTimestamp": timestamp(spec.created_ms),
        "ChannelDestinationType": spec.destination_type.wire(),
        "Streams": [{
            "StreamARN": spec.stream_arn(region),
            "StreamCreationTimestamp": timestamp(spec.stream_created_ms),
        }],
    });
    if let Some(reason) = reason {
        summarized["ChannelStatusReason"] = json!(reason);
    }
    summarized
}

/// A dead-letter configuration's description.
fn dead_letter_description(input: &DeadLetterInput) -> Value {
    let mut described = json!({
        "BucketARN": input.bucket_arn,
        "ExpectedBucketOwner": input.expected_bucket_owner,
    });
    if let Some(prefix) = &input.error_output_prefix {
        described["ErrorOutputPrefix"] = json!(prefix);
    }
    described
}

/// The logging configuration's CloudWatchLogs member, with the documented default log group
/// (`/aws/kinesis/<channel name>/<channel id>`) and log stream when logging is enabled.
fn logging_description(input: Option<&CloudWatchLogsInput>, name: &str, id: &str) -> Value {
    let Some(logs) = input else { return json!({ "Enabled": false }) };
    let enabled = logs.enabled.unwrap_or(false);
    let mut described = json!({ "Enabled": enabled });
    let group = logs.log_group_name.clone().or_else(|| enabled.then(|| format!("/aws/kinesis/{name}/{id}")));
    if let Some(group) = group {
        described["LogGroupName"] = json!(group);
    }
    let stream = logs.log_stream_name.clone().or_else(|| enabled.then(|| DEFAULT_LOG_STREAM_NAME.to_string()));
    if let Some(stream) = stream {
        described["LogStreamName"] = json!(stream);
    }
    described
}

// ---------------------------------------------------------------------------------------------
// Operations.

/// Checks every member of a CreateChannel request against the model.
fn check_create_input(input: &CreateChannelInput) -> Result<(), KinesisError> {
    let mut v = Violations::default();
    if let Some(name) = v.required(&input.channel_name, "channelName") {
        v.text(name, "channelName", 1, CHANNEL_NAME_CHARS_MAX, Some((CHANNEL_NAME_PATTERN, is_channel_name)));
    }
    if let Some(role) = v.required(&input.service_execution_role_arn, "serviceExecutionRoleARN") {
        v.text(role, "serviceExecutionRoleARN", 1, ROLE_ARN_CHARS_MAX, Some((ROLE_ARN_PATTERN, is_role_arn)));
    }
    let list_member = "streamConfigurationList";
    if let Some(configurations) = v.required(&input.stream_configuration_list, list_member) {
        let rendered = if configurations.is_empty() { "[]" } else { "[...]" };
        v.count(configurations.len(), rendered, list_member, 1, LIST_MEMBERS_MAX);
        for (index, configuration) in configurations.iter().enumerate() {
            let at = format!("{list_member}.{}.member", index + 1);
            if let Some(arn) = v.required(&configuration.stream_arn, &format!("{at}.streamARN")) {
                let pattern: Option<Pattern> = Some((STREAM_ARN_PATTERN, is_stream_arn));
                v.text(arn, &format!("{at}.streamARN"), 1, ARN_CHARS_MAX, pattern);
            }
            let record_member = format!("{at}.recordConfiguration");
            if let Some(record) = v.required(&configuration.record_configuration, &record_member) {
                let format_member = format!("{record_member}.recordFormatType");
                if let Some(format) = v.required(&record.record_format_type, &format_member) {
                    v.one_of(format, &format_member, RECORD_FORMATS);
                }
                if let Some(arn) = &record.gsr_schema_arn {
                    let pattern: Option<Pattern> = Some((GSR_SCHEMA_ARN_PATTERN, is_gsr_schema_arn));
                    v.text(arn, &format!("{record_member}.gSRSchemaARN"), 1, 512, pattern);
                }
            }
        }
    }
    if let Some(destination) = &input.s3_destination_configuration {
        check_s3_destination(&mut v, destination);
    }
    if let Some(destination) = &input.s3_tables_destination_configuration {
        check_tables_destination(&mut v, destination);
    }
    if let Some(encryption) = &input.encryption_configuration {
        let type_member = "encryptionConfiguration.encryptionType";
        if let Some(kind) = v.required(&encryption.encryption_type, type_member) {
            v.one_of(kind, type_member, ENCRYPTION_TYPES);
        }
        if let Some(key_id) = v.required(&encryption.key_id, "encryptionConfiguration.keyId") {
            v.text(key_id, "encryptionConfiguration.keyId", 1, 2048, None);
        }
    }
    if let Some(tags) = &input.tags {
        v.tags(tags, "tags");
    }
    if let Some(logging) = &input.logging_configuration {
        check_logging(&mut v, logging);
    }
    v.finish()
}

/// The description of an S3 destination, after AWS's rules for it.
fn s3_destination(input: &S3DestinationInput, record: &RecordConfigurationInput) -> Result<Value, KinesisError> {
    let freshness = input.data_freshness_in_seconds.unwrap_or(DATA_FRESHNESS_SECONDS_DEFAULT);
    check_freshness(freshness)?;
    if record.record_format_type.as_deref() == Some("GSR_JSON") {
        return Err(invalid(
            "RecordFormatType GSR_JSON is supported only for S3 Tables destinations; use JSON, STRING or BYTE_ARRAY for an S3 destination.",
        ));
    }
    let storage = input.storage_configuration.as_ref().ok_or_else(|| invalid("StorageConfiguration is required."))?;
    // Without a dead-letter configuration, failed records go to the destination bucket.
    let dead_letter = match &input.dead_letter_queue_s3_configuration {
        Some(dead_letter) => dead_letter_description(dead_letter),
        None => json!({ "BucketARN": storage.bucket_arn, "ExpectedBucketOwner": storage.expected_bucket_owner }),
    };
    Ok(json!({
        "DataFreshnessInSeconds": freshness,
        "DeadLetterQueueS3Configuration": dead_letter,
        "StorageConfiguration": {
            "BucketARN": storage.bucket_arn,
            "ExpectedBucketOwner": storage.expected_bucket_owner,
            "OutputKeyTemplate": storage.output_key_template.as_deref().unwrap_or(DEFAULT_OUTPUT_KEY_TEMPLATE),
            "StorageClass": storage.storage_class.as_deref().unwrap_or(DEFAULT_STORAGE_CLASS),
            "CompressionType": storage.compression_type,
        },
    }))
}

/// The description of an S3 Tables destination, after AWS's rules for it.
fn tables_destination(
    input: &S3TablesDestinationInput,
    record: &RecordConfigurationInput,
) -> Result<Value, KinesisError> {
    let freshness = input.data_freshness_in_seconds.unwrap_or(DATA_FRESHNESS_SECONDS_DEFAULT);
    check_freshness(freshness)?;
    match record.record_format_type.as_deref().unwrap_or_default() {
        // The schema id travels in each record.
        "GSR_JSON" => {}
        "JSON" if record.gsr_schema_arn.is_none() => {
            return Err(invalid("GSRSchemaARN is required for RecordFormatType JSON with an S3 Tables destination."))
        }
        "JSON" => {}
        other => {
            return Err(invalid(format!(
                "RecordFormatType {other} is not supported for S3 Tables destinations; use JSON or GSR_JSON."
            )))
        }
    }
    let [table] = input.s3_tables_configuration_list.as_deref().unwrap_or_default() else {
        return Err(invalid("S3TablesConfigurationList must contain exactly one table: a channel writes one table."));
    };
    let mut described_table = json!({
        "TableBucketARN": table.table_bucket_arn,
        "Namespace": table.namespace,
        "TableName": table.table_name,
        "CompressionType": table.compression_type,
    });
    if let Some(spec) = &table.partition_spec {
        let fields: Vec<Value> = spec
            .partition_fields
            .iter()
            .flatten()
            .map(|field| json!({ "Transform": field.transform, "SourceName": field.source_name }))
            .collect();
        described_table["PartitionSpec"] = json!({ "PartitionFields": fields });
    }
    let dead_letter = input
        .dead_letter_queue_s3_configuration
        .as_ref()
        .ok_or_else(|| KinesisError::missing("s3TablesDestinationConfiguration.deadLetterQueueS3Configuration"))?;
    Ok(json!({
        "DataFreshnessInSeconds": freshness,
        "DeadLetterQueueS3Configuration": dead_letter_description(dead_letter),
        "S3TablesConfigurationList": [described_table],
    }))
}

pub async fn create_channel(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: CreateChannelInput = parse_input("CreateChannel", context.request)?;
    check_create_input(&input)?;

    // Every member is well formed; now AWS's rules for how they go together.
    let (Some(name), Some(role_arn), Some(configurations)) =
        (input.channel_name, input.service_execution_role_arn, input.stream_configuration_list)
    else {
        return Err(KinesisError::missing("channelName"));
    };
    let [configuration] = configurations.as_slice() else {
        return Err(invalid("StreamConfigurationList must contain exactly one stream: a channel reads one stream."));
    };
    let record =
        configuration.record_configuration.as_ref().ok_or_else(|| invalid("RecordConfiguration is required."))?;
    let (destination_type, destination) =
        match (&input.s3_destination_configuration, &input.s3_tables_destination_configuration) {
            (Some(s3), None) => (DestinationType::S3, s3_destination(s3, record)?),
            (None, Some(tables)) => (DestinationType::S3Tables, tables_destination(tables, record)?),
            _ => {
                return Err(invalid(
                    "Exactly one of S3DestinationConfiguration and S3TablesDestinationConfiguration must be specified.",
                ))
            }
        };
    let key_id = input.encryption_configuration.and_then(|encryption| encryption.key_id);
    if key_id.as_deref().is_some_and(|key| key == SERVICE_KEY_ALIAS || key.ends_with(":alias/aws/kinesis")) {
        return Err(invalid(
            "The AWS managed key alias/aws/kinesis cannot encrypt a channel's destination; use a customer managed KMS key.",
        ));
    }
    let tags = input.tags.unwrap_or_default();
    super::tags::check_tag_characters(&tags)?;
    if tags.len() > TAGS_PER_CHANNEL_MAX {
        return Err(invalid(format!("A channel cannot have more than {TAGS_PER_CHANNEL_MAX} tags.")));
    }
    let stream_arn = configuration.stream_arn.as_deref().unwrap_or_default();
    let stream = context.stream(None, Some(stream_arn))?;
    if !stream.lock().on_demand {
        return Err(invalid(format!(
            "Channels are supported only on streams in ON_DEMAND mode; stream {} under account {} is PROVISIONED.",
            stream.name, stream.account
        )));
    }
    let account = context.account().to_string();
    let created_ms = context.now_ms();
    let key = channel_key(&account, &name);
    let id = channel_id(&key, created_ms, &context.request.request_id);
    let logging = input.logging_configuration.as_ref().and_then(|logging| logging.cloud_watch_logs.as_ref());
    let spec = ChannelSpec {
        logging: logging_description(logging, &name, &id),
        account,
        name,
        id,
        created_ms,
        role_arn,
        stream_account: stream.account.clone(),
        stream_name: stream.name.clone(),
        stream_created_ms: stream.created_ms,
        record_format: record.record_format_type.clone().unwrap_or_default(),
        gsr_schema_arn: record.gsr_schema_arn.clone(),
        destination_type,
        destination,
        key_id,
        tags,
    };
    let entry = spec.to_entry();
    context
        .engine()
        .change_catalog(CHANNEL_CATALOG, |channels| {
            if channels.contains_key(&key) {
                return Err(KinesisError::new(
                    ErrorKind::ResourceInUse,
                    format!("Channel {} under account {} already exists.", spec.name, spec.account),
                ));
            }
            let same_kind = channels
                .values()
                .filter_map(ChannelSpec::from_entry)
                .filter(|channel| channel.reads(&stream) && channel.destination_type == destination_type)
                .count();
            if same_kind >= CHANNELS_PER_STREAM_AND_DESTINATION {
                return Err(KinesisError::new(
                    ErrorKind::LimitExceeded,
                    format!(
                        "Stream {} under account {} already has {same_kind} channel delivering to {}; a stream can have at most {CHANNELS_PER_STREAM_AND_DESTINATION} channel for each destination type.",
                        stream.name,
                        stream.account,
                        destination_type.wire()
                    ),
                ));
            }
            Ok((vec![CatalogChange::Put { key: key.clone(), entry }], ()))
        })
        .await?;
    Ok(json!({ "ChannelDescription": description(context, &spec) }))
}

pub fn describe_channel(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: ChannelRef = parse_input("DescribeChannel", context.request)?;
    let mut v = Violations::default();
    check_channel_arn(&mut v, &input.channel_arn);
    v.finish()?;
    let spec = find_channel(context, input.channel_arn.as_deref().unwrap_or_default())?;
    Ok(json!({ "ChannelDescription": description(context, &spec) }))
}

pub async fn update_channel(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: UpdateChannelInput = parse_input("UpdateChannel", context.request)?;
    let mut v = Violations::default();
    check_channel_arn(&mut v, &input.channel_arn);
    if let Some(destination) = &input.s3_destination_configuration {
        v.required(&destination.data_freshness_in_seconds, "s3DestinationConfiguration.dataFreshnessInSeconds");
    }
    if let Some(destination) = &input.s3_tables_destination_configuration {
        let member = "s3TablesDestinationConfiguration.dataFreshnessInSeconds";
        v.required(&destination.data_freshness_in_seconds, member);
    }
    if let Some(logging) = &input.logging_configuration {
        check_logging(&mut v, logging);
    }
    v.finish()?;

    let update = match (&input.s3_destination_configuration, &input.s3_tables_destination_configuration) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "Only one of S3DestinationConfiguration and S3TablesDestinationConfiguration can be specified.",
            ))
        }
        (Some(update), None) => Some((DestinationType::S3, update.data_freshness_in_seconds.unwrap_or_default())),
        (None, Some(update)) => Some((DestinationType::S3Tables, update.data_freshness_in_seconds.unwrap_or_default())),
        (None, None) => None,
    };
    if update.is_none() && input.logging_configuration.is_none() {
        return Err(invalid(
            "At least one of S3DestinationConfiguration, S3TablesDestinationConfiguration and LoggingConfiguration must be specified.",
        ));
    }
    if let Some((_, freshness)) = update {
        check_freshness(freshness)?;
    }
    let arn = input.channel_arn.unwrap_or_default();
    let (key, account, name) = channel_key_of(context, &arn)?;
    let current = find_channel(context, &arn)?;
    if current.status(context).0 != "ACTIVE" {
        return Err(KinesisError::new(
            ErrorKind::ResourceInUse,
            format!("Channel {name} under account {account} is FAILED and cannot be updated; delete it and create it again."),
        ));
    }
    let logging = input.logging_configuration.as_ref().and_then(|logging| logging.cloud_watch_logs.as_ref());
    let spec = context
        .engine()
        .change_catalog(CHANNEL_CATALOG, |channels| {
            let mut spec = channels
                .get(&key)
                .and_then(ChannelSpec::from_entry)
                .ok_or_else(|| channel_not_found(&account, &name))?;
            if let Some((destination_type, freshness)) = update {
                if destination_type != spec.destination_type {
                    return Err(invalid(format!(
                        "Channel {name} delivers to {}; {} cannot be updated for it.",
                        spec.destination_type.wire(),
                        destination_type.member()
                    )));
                }
                spec.destination["DataFreshnessInSeconds"] = json!(freshness);
            }
            if let Some(logs) = logging {
                spec.logging = logging_description(Some(logs), &spec.name, &spec.id);
            }
            Ok((vec![CatalogChange::Put { key: key.clone(), entry: spec.to_entry() }], spec))
        })
        .await?;
    Ok(json!({ "ChannelDescription": description(context, &spec) }))
}

pub async fn delete_channel(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: ChannelRef = parse_input("DeleteChannel", context.request)?;
    let mut v = Violations::default();
    check_channel_arn(&mut v, &input.channel_arn);
    v.finish()?;
    let (key, account, name) = channel_key_of(context, input.channel_arn.as_deref().unwrap_or_default())?;
    context
        .engine()
        .change_catalog(CHANNEL_CATALOG, |channels| {
            if !channels.contains_key(&key) {
                return Err(channel_not_found(&account, &name));
            }
            Ok((vec![CatalogChange::Delete { key: key.clone() }], ()))
        })
        .await?;
    Ok(json!({}))
}

/// A ListChannels NextToken: when it was issued (8 bytes, big-endian) and the catalog key of the
/// last channel listed.
fn seal_token(context: &Context<'_>, last_key: &str) -> String {
    let mut payload = context.now_ms().to_be_bytes().to_vec();
    payload.extend_from_slice(last_key.as_bytes());
    token::seal(&context.service.tokens, NEXT_TOKEN_PURPOSE, &payload)
}

/// The catalog key a NextToken resumes after; it must belong to the caller's account.
fn open_token(context: &Context<'_>, text: &str, prefix: &str) -> Result<String, KinesisError> {
    let invalid_token = || invalid(format!("Invalid NextToken: {}", text.chars().take(64).collect::<String>()));
    let payload = token::open(&context.service.tokens, NEXT_TOKEN_PURPOSE, text, NEXT_TOKEN_CHARS_MAX)
        .map_err(|_| invalid_token())?;
    let (issued, key) = payload.split_first_chunk::<8>().ok_or_else(invalid_token)?;
    let key = String::from_utf8(key.to_vec()).map_err(|_| invalid_token())?;
    if !key.starts_with(prefix) {
        return Err(invalid_token());
    }
    if context.now_ms() > u64::from_be_bytes(*issued).saturating_add(NEXT_TOKEN_LIFETIME_MS) {
        return Err(KinesisError::new(ErrorKind::ExpiredNextToken, "The NextToken has expired."));
    }
    Ok(key)
}

pub fn list_channels(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: ListChannelsInput = parse_input("ListChannels", context.request)?;
    let mut v = Violations::default();
    if let Some(max) = input.max_results {
        v.range(max, "maxResults", 1, LIST_LIMIT_MAX);
    }
    if let Some(token) = &input.next_token {
        v.text(token, "nextToken", 1, NEXT_TOKEN_CHARS_MAX, None);
    }
    if let Some(filters) = &input.stream_filter {
        let rendered = if filters.is_empty() { "[]" } else { "[...]" };
        v.count(filters.len(), rendered, "streamFilter", 1, LIST_MEMBERS_MAX);
        for (index, filter) in filters.iter().enumerate() {
            let member = format!("streamFilter.{}.member.streamARN", index + 1);
            if let Some(arn) = v.required(&filter.stream_arn, &member) {
                let pattern: Option<Pattern> = Some((STREAM_ARN_PATTERN, is_stream_arn));
                v.text(arn, &member, 1, ARN_CHARS_MAX, pattern);
            }
        }
    }
    v.finish()?;
    let limit = input.max_results.unwrap_or(LIST_PAGE_MAX).min(LIST_PAGE_MAX) as usize;
    let prefix = format!("{}/", context.account());
    // Channel names are unique in an account and listed in name order: the token holds the
    // last channel of the previous page.
    let after = match input.next_token.as_deref() {
        Some(text) => Some(open_token(context, text, &prefix)?),
        None => None,
    };
    let region = context.region();
    let filters: Option<Vec<(String, Option<u64>)>> = input.stream_filter.map(|filters| {
        filters
            .into_iter()
            .map(|filter| {
                let created_ms =
                    filter.stream_creation_timestamp.map(|seconds| (seconds.max(0.0) * 1000.0).round() as u64);
                (filter.stream_arn.unwrap_or_default(), created_ms)
            })
            .collect()
    });
    let matching: Vec<ChannelSpec> = context
        .engine()
        .catalog_entries(CHANNEL_CATALOG, &prefix, after.as_deref(), usize::MAX)
        .iter()
        .filter_map(|(_, entry)| ChannelSpec::from_entry(entry))
        .filter(|spec| {
            filters.as_ref().is_none_or(|filters| {
                filters.iter().any(|(arn, created_ms)| {
                    *arn == spec.stream_arn(region) && created_ms.is_none_or(|ms| ms == spec.stream_created_ms)
                })
            })
        })
        .take(limit + 1)
        .collect();
    let page = &matching[..matching.len().min(limit)];
    let summaries: Vec<Value> = page.iter().map(|spec| summary(context, spec)).collect();
    let mut output = json!({ "ChannelSummaries": summaries });
    if matching.len() > page.len() {
        if let Some(last) = page.last() {
            output["NextToken"] = json!(seal_token(context, &last.key()));
        }
    }
    Ok(output)
}

// ---------------------------------------------------------------------------------------------
// Tags on channels, through TagResource, UntagResource and ListTagsForResource.

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ResourceInput {
    #[serde(rename = "ResourceARN")]
    resource_arn: Option<String>,
    tags: Option<BTreeMap<String, String>>,
    tag_keys: Option<Vec<String>>,
}

/// Whether a TagResource, UntagResource or ListTagsForResource request names a channel (those
/// requests go to the channel functions below; the rest to the stream tagging).
pub fn names_channel(context: &Context<'_>) -> bool {
    let Ok(input) = parse_input::<ResourceInput>(&context.request.operation, context.request) else { return false };
    input
        .resource_arn
        .as_deref()
        .and_then(wharf_aws::arn::parse)
        .is_some_and(|arn| arn.service == "kinesis" && arn.resource.starts_with("channel/"))
}

fn check_resource_arn(v: &mut Violations, arn: &Option<String>) {
    if let Some(arn) = v.required(arn, "resourceARN") {
        v.text(arn, "resourceARN", 1, ARN_CHARS_MAX, Some((RESOURCE_ARN_PATTERN, is_resource_arn)));
    }
}

pub async fn tag_channel(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: ResourceInput = parse_input("TagResource", context.request)?;
    let mut v = Violations::default();
    check_resource_arn(&mut v, &input.resource_arn);
    if let Some(tags) = v.required(&input.tags, "tags") {
        v.tags(tags, "tags");
    }
    v.finish()?;
    let tags = input.tags.unwrap_or_default();
    super::tags::check_tag_characters(&tags)?;
    let (key, account, name) = channel_key_of(context, input.resource_arn.as_deref().unwrap_or_default())?;
    context
        .engine()
        .change_catalog(CHANNEL_CATALOG, |channels| {
            let mut spec = channels
                .get(&key)
                .and_then(ChannelSpec::from_entry)
                .ok_or_else(|| channel_not_found(&account, &name))?;
            spec.tags.extend(tags);
            if spec.tags.len() > TAGS_PER_CHANNEL_MAX {
                return Err(invalid(format!(
                    "Failed to add tags to channel {name} under account {account} because a given channel cannot have more than {TAGS_PER_CHANNEL_MAX} tags."
                )));
            }
            Ok((vec![CatalogChange::Put { key: key.clone(), entry: spec.to_entry() }], ()))
        })
        .await?;
    Ok(json!({}))
}

pub async fn untag_channel(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: ResourceInput = parse_input("UntagResource", context.request)?;
    let mut v = Violations::default();
    check_resource_arn(&mut v, &input.resource_arn);
    if let Some(keys) = v.required(&input.tag_keys, "tagKeys") {
        let rendered = format!("[{}]", keys.join(", "));
        v.count(keys.len(), &rendered, "tagKeys", 1, TAG_KEYS_MAX);
        for (index, tag_key) in keys.iter().enumerate() {
            v.text(tag_key, &format!("tagKeys.{}.member", index + 1), 1, TAG_KEY_CHARS_MAX, None);
        }
    }
    v.finish()?;
    let keys = input.tag_keys.unwrap_or_default();
    let (key, account, name) = channel_key_of(context, input.resource_arn.as_deref().unwrap_or_default())?;
    context
        .engine()
        .change_catalog(CHANNEL_CATALOG, |channels| {
            let mut spec = channels
                .get(&key)
                .and_then(ChannelSpec::from_entry)
                .ok_or_else(|| channel_not_found(&account, &name))?;
            for tag_key in &keys {
                spec.tags.remove(tag_key);
            }
            Ok::<_, KinesisError>((vec![CatalogChange::Put { key: key.clone(), entry: spec.to_entry() }], ()))
        })
        .await?;
    Ok(json!({}))
}

pub fn list_tags_for_channel(context: &Context<'_>) -> Result<Value, KinesisError> {
    let input: ResourceInput = parse_input("ListTagsForResource", context.request)?;
    let mut v = Violations::default();
    check_resource_arn(&mut v, &input.resource_arn);
    v.finish()?;
    let spec = find_channel(context, input.resource_arn.as_deref().unwrap_or_default())?;
    let tags: Vec<Value> = spec.tags.iter().map(|(key, value)| json!({ "Key": key, "Value": value })).collect();
    Ok(json!({ "Tags": tags }))
}
