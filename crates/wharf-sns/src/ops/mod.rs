//! SNS operations, grouped by what they act on. Each parses its input document, validates it,
//! calls the engine and builds the awsJson-shaped output.

mod paging;
mod permissions;
mod platform;
mod publish;
pub(crate) mod sms;
mod subscriptions;
mod tags;
mod topics;

use crate::error_map::{ErrorKind, SnsError};
use crate::protocol;
use crate::Context;
use serde::de::DeserializeOwned;
use serde::Deserialize as _;
use serde_json::Value;

pub const OPERATIONS: &[&str] = &[
    "AddPermission",
    "CheckIfPhoneNumberIsOptedOut",
    "ConfirmSubscription",
    "CreatePlatformApplication",
    "CreatePlatformEndpoint",
    "CreateSMSSandboxPhoneNumber",
    "CreateTopic",
    "DeleteEndpoint",
    "DeletePlatformApplication",
    "DeleteSMSSandboxPhoneNumber",
    "DeleteTopic",
    "GetDataProtectionPolicy",
    "GetEndpointAttributes",
    "GetPlatformApplicationAttributes",
    "GetSMSAttributes",
    "GetSMSSandboxAccountStatus",
    "GetSubscriptionAttributes",
    "GetTopicAttributes",
    "ListEndpointsByPlatformApplication",
    "ListOriginationNumbers",
    "ListPhoneNumbersOptedOut",
    "ListPlatformApplications",
    "ListSMSSandboxPhoneNumbers",
    "ListSubscriptions",
    "ListSubscriptionsByTopic",
    "ListTagsForResource",
    "ListTopics",
    "OptInPhoneNumber",
    "Publish",
    "PublishBatch",
    "PutDataProtectionPolicy",
    "RemovePermission",
    "SetEndpointAttributes",
    "SetPlatformApplicationAttributes",
    "SetSMSAttributes",
    "SetSubscriptionAttributes",
    "SetTopicAttributes",
    "Subscribe",
    "TagResource",
    "Unsubscribe",
    "UntagResource",
    "VerifySMSSandboxPhoneNumber",
];

pub(crate) async fn run(context: &Context<'_>) -> Result<Value, SnsError> {
    match context.request.operation.as_str() {
        "AddPermission" => permissions::add(context, input(context)?).await,
        "RemovePermission" => permissions::remove(context, input(context)?).await,
        "GetDataProtectionPolicy" => permissions::get_data_protection(context, input(context)?),
        "PutDataProtectionPolicy" => permissions::put_data_protection(context, input(context)?).await,
        "CreateTopic" => topics::create(context, input(context)?).await,
        "DeleteTopic" => topics::delete(context, input(context)?).await,
        "ListTopics" => topics::list(context, input(context)?),
        "GetTopicAttributes" => topics::get_attributes(context, input(context)?),
        "SetTopicAttributes" => topics::set_attribute(context, input(context)?).await,
        "Subscribe" => subscriptions::subscribe(context, input(context)?).await,
        "ConfirmSubscription" => subscriptions::confirm(context, input(context)?).await,
        "Unsubscribe" => subscriptions::unsubscribe(context, input(context)?).await,
        "ListSubscriptions" => subscriptions::list(context, input(context)?),
        "ListSubscriptionsByTopic" => subscriptions::list_by_topic(context, input(context)?),
        "GetSubscriptionAttributes" => subscriptions::get_attributes(context, input(context)?),
        "SetSubscriptionAttributes" => subscriptions::set_attribute(context, input(context)?).await,
        "Publish" => publish::single(context, input(context)?).await,
        "PublishBatch" => publish::batch(context, input(context)?).await,
        "TagResource" => tags::tag(context, input(context)?).await,
        "UntagResource" => tags::untag(context, input(context)?).await,
        "ListTagsForResource" => tags::list(context, input(context)?),
        "CreatePlatformApplication" => platform::create_application(context, input(context)?).await,
        "DeletePlatformApplication" => platform::delete_application(context, input(context)?).await,
        "GetPlatformApplicationAttributes" => platform::get_application_attributes(context, input(context)?),
        "SetPlatformApplicationAttributes" => platform::set_application_attributes(context, input(context)?).await,
        "ListPlatformApplications" => platform::list_applications(context, input(context)?),
        "CreatePlatformEndpoint" => platform::create_endpoint(context, input(context)?).await,
        "DeleteEndpoint" => platform::delete_endpoint(context, input(context)?).await,
        "GetEndpointAttributes" => platform::get_endpoint_attributes(context, input(context)?),
        "SetEndpointAttributes" => platform::set_endpoint_attributes(context, input(context)?).await,
        "ListEndpointsByPlatformApplication" => platform::list_endpoints(context, input(context)?),
        "SetSMSAttributes" => sms::set_attributes(context, input(context)?).await,
        "GetSMSAttributes" => sms::get_attributes(context, input(context)?),
        "CheckIfPhoneNumberIsOptedOut" => sms::check_opted_out(context, input(context)?),
        "ListPhoneNumbersOptedOut" => sms::list_opted_out(context, input(context)?),
        "OptInPhoneNumber" => sms::opt_in(context, input(context)?).await,
        "CreateSMSSandboxPhoneNumber" => sms::create_sandbox_number(context, input(context)?).await,
        "DeleteSMSSandboxPhoneNumber" => sms::delete_sandbox_number(context, input(context)?).await,
        "GetSMSSandboxAccountStatus" => Ok(sms::sandbox_account_status()),
        "ListSMSSandboxPhoneNumbers" => sms::list_sandbox_numbers(context, input(context)?),
        "VerifySMSSandboxPhoneNumber" => sms::verify_sandbox_number(context, input(context)?).await,
        "ListOriginationNumbers" => sms::list_origination_numbers(input(context)?),
        other => Err(SnsError::new(
            ErrorKind::InvalidAction,
            format!("The action {other} is not valid for this web service."),
        )),
    }
}

fn input<T: DeserializeOwned>(context: &Context<'_>) -> Result<T, SnsError> {
    let request = context.request;
    protocol::parse_input(request.protocol, &request.operation, &request.body, &request.params)
}

/// A required string parameter.
pub(crate) fn required<'a>(value: Option<&'a str>, name: &str) -> Result<&'a str, SnsError> {
    value.ok_or_else(|| SnsError::missing(name))
}

/// A list, or awsQuery's way of sending an empty one (`Name=` with no members).
pub(crate) fn list_or_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: DeserializeOwned,
{
    match Value::deserialize(deserializer)? {
        Value::String(text) if text.is_empty() => Ok(Vec::new()),
        Value::Null => Ok(Vec::new()),
        other => serde_json::from_value(other).map_err(serde::de::Error::custom),
    }
}

/// An optional integer as JSON sends it (`10`) or as awsQuery sends it (`"10"`).
pub(crate) fn lenient_integer<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::Number(number) => number
            .as_i64()
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("expected an integer, found {number}"))),
        Value::String(text) => text
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("expected an integer, found {text:?}"))),
        other => Err(serde::de::Error::custom(format!("expected an integer, found {other}"))),
    }
}

/// A boolean as JSON sends it (`true`) or as awsQuery sends it (`"true"`).
pub(crate) fn lenient_bool<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Bool(flag) => Ok(flag),
        Value::String(text) if text.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(text) if text.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(serde::de::Error::custom(format!("expected a boolean, found {other}"))),
    }
}
