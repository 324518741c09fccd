//! SMS settings, opt-outs and the SMS sandbox: SetSMSAttributes, GetSMSAttributes,
//! CheckIfPhoneNumberIsOptedOut, ListPhoneNumbersOptedOut, OptInPhoneNumber,
//! Create/Delete/Verify/ListSMSSandboxPhoneNumber(s), GetSMSSandboxAccountStatus and
//! ListOriginationNumbers, plus [`opt_out`], what a STOP reply from a phone would do.
//!
//! State lives in the domain catalogs named in [`crate::mobile`]. Wharf sends through a local
//! sender, so an account is never in the sandbox; sandbox numbers are still kept, and adding one
//! sends its one-time password as an SMS through the durable outbox, as AWS does.

use super::paging::catalog_page;
use super::required;
use crate::error_map::{ErrorKind, SnsError};
use crate::mobile::{self, OPTED_OUT, SANDBOX_NUMBERS, SMS_ATTRIBUTES};
use crate::Context;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use wharf_aws::arn;
use wharf_domain::catalog::{CatalogChange, Entry};
use wharf_domain::Engine;

const LIST_PAGE_SIZE: usize = 100;
const SANDBOX_PAGE_SIZE_MAX: i64 = 100;
const ORIGINATION_PAGE_SIZE_MAX: i64 = 30;
/// The model's PhoneNumberString: at most 20 characters.
const SANDBOX_NUMBER_CHARS_MAX: usize = 20;
const DEFAULT_LANGUAGE: &str = "en-US";
/// The model's LanguageCodeString.
const LANGUAGES: &[&str] = &[
    "en-US", "en-GB", "es-419", "es-ES", "de-DE", "fr-CA", "fr-FR", "it-IT", "ja-JP", "pt-BR", "kr-KR", "zh-CN",
    "zh-TW",
];
/// The account-wide SMS attributes SetSMSAttributes accepts.
const SMS_ATTRIBUTE_NAMES: &[&str] = &[
    "MonthlySpendLimit",
    "DeliveryStatusIAMRole",
    "DeliveryStatusSuccessSamplingRate",
    "DefaultSenderID",
    "DefaultSMSType",
    "UsageReportS3Bucket",
];
const PENDING: &str = "Pending";
const VERIFIED: &str = "Verified";

fn account_prefix(account: &str) -> String {
    format!("{account}/")
}

/// A phone number SNS can send to (E.164), else AWS's InvalidParameter.
fn check_phone_number(number: &str) -> Result<(), SnsError> {
    if mobile::valid_phone_number(number) {
        Ok(())
    } else {
        Err(SnsError::invalid("PhoneNumber Reason: input incorrectly formatted"))
    }
}

/// Opts a phone number out of SMS from an account, as a STOP reply from the phone would;
/// OptInPhoneNumber undoes it. Opting out twice changes nothing.
pub async fn opt_out(engine: &Engine, account: &str, number: &str) -> Result<(), SnsError> {
    check_phone_number(number)?;
    let key = mobile::number_key(account, number);
    engine
        .change_catalog(OPTED_OUT, |numbers| {
            let changes = (!numbers.contains_key(&key)).then(|| CatalogChange::Put { key, entry: Entry::new() });
            Ok::<_, SnsError>((changes.into_iter().collect(), ()))
        })
        .await
}

/// Checks one account SMS attribute; an empty value removes it.
fn check_sms_attribute(name: &str, value: &str) -> Result<(), SnsError> {
    if !SMS_ATTRIBUTE_NAMES.contains(&name) {
        return Err(SnsError::invalid(format!("attributes Reason: {name} is not a valid SMS attribute")));
    }
    if value.is_empty() {
        return Ok(());
    }
    let digits = |text: &str| !text.is_empty() && text.len() <= 18 && text.bytes().all(|byte| byte.is_ascii_digit());
    let valid = match name {
        "MonthlySpendLimit" => digits(value),
        "DeliveryStatusSuccessSamplingRate" => digits(value) && value.parse::<u8>().is_ok_and(|rate| rate <= 100),
        "DefaultSenderID" => {
            value.len() <= 11
                && value.bytes().all(|byte| byte.is_ascii_alphanumeric())
                && value.bytes().any(|byte| byte.is_ascii_alphabetic())
        }
        "DefaultSMSType" => value == "Promotional" || value == "Transactional",
        "DeliveryStatusIAMRole" => arn::parse(value).is_some_and(|parsed| parsed.service == "iam"),
        "UsageReportS3Bucket" => {
            (3..=63).contains(&value.len())
                && value
                    .bytes()
                    .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || matches!(byte, b'.' | b'-'))
        }
        _ => true,
    };
    if !valid {
        let rule = match name {
            "MonthlySpendLimit" => "must be a whole number of US dollars",
            "DeliveryStatusSuccessSamplingRate" => "must be an integer from 0 to 100",
            "DefaultSenderID" => "must be 1 to 11 letters and digits, at least one a letter",
            "DefaultSMSType" => "must be Promotional or Transactional",
            "DeliveryStatusIAMRole" => "must be an IAM role ARN",
            _ => "must be an S3 bucket name",
        };
        return Err(SnsError::invalid(format!("{name} Reason: {rule}")));
    }
    Ok(())
}

#[derive(Deserialize)]
pub struct SetAttributesInput {
    #[serde(rename = "attributes")]
    attributes: Option<BTreeMap<String, String>>,
}

pub async fn set_attributes(context: &Context<'_>, input: SetAttributesInput) -> Result<Value, SnsError> {
    let attributes = input.attributes.ok_or_else(|| SnsError::missing("attributes"))?;
    for (name, value) in &attributes {
        check_sms_attribute(name, value)?;
    }
    let key = context.account().to_string();
    context
        .engine()
        .change_catalog(SMS_ATTRIBUTES, |settings| {
            let current = settings.get(&key).cloned().unwrap_or_default();
            let mut entry = current.clone();
            for (name, value) in &attributes {
                if value.is_empty() {
                    entry.remove(name);
                } else {
                    entry.insert(name.clone(), value.clone());
                }
            }
            let changes = match (entry == current, entry.is_empty()) {
                (true, _) => Vec::new(),
                (false, true) => vec![CatalogChange::Delete { key }],
                (false, false) => vec![CatalogChange::Put { key, entry }],
            };
            Ok::<_, SnsError>((changes, ()))
        })
        .await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
pub struct GetAttributesInput {
    #[serde(rename = "attributes", default, deserialize_with = "super::list_or_empty")]
    attributes: Vec<String>,
}

pub fn get_attributes(context: &Context<'_>, input: GetAttributesInput) -> Result<Value, SnsError> {
    for name in &input.attributes {
        if !SMS_ATTRIBUTE_NAMES.contains(&name.as_str()) {
            return Err(SnsError::invalid(format!("attributes Reason: {name} is not a valid SMS attribute")));
        }
    }
    let mut stored = context.engine().catalog_entry(SMS_ATTRIBUTES, context.account()).unwrap_or_default();
    if !input.attributes.is_empty() {
        stored.retain(|name, _| input.attributes.contains(name));
    }
    Ok(json!({ "attributes": stored }))
}

#[derive(Deserialize)]
pub struct PhoneNumberInput {
    #[serde(rename = "phoneNumber")]
    phone_number: Option<String>,
}

pub fn check_opted_out(context: &Context<'_>, input: PhoneNumberInput) -> Result<Value, SnsError> {
    let number = required(input.phone_number.as_deref(), "phoneNumber")?;
    check_phone_number(number)?;
    let opted_out = context.engine().catalog_entry(OPTED_OUT, &mobile::number_key(context.account(), number));
    Ok(json!({ "isOptedOut": opted_out.is_some() }))
}

pub async fn opt_in(context: &Context<'_>, input: PhoneNumberInput) -> Result<Value, SnsError> {
    let number = required(input.phone_number.as_deref(), "phoneNumber")?;
    check_phone_number(number)?;
    let key = mobile::number_key(context.account(), number);
    context
        .engine()
        .change_catalog(OPTED_OUT, |numbers| {
            let changes = numbers.contains_key(&key).then_some(CatalogChange::Delete { key });
            Ok::<_, SnsError>((changes.into_iter().collect(), ()))
        })
        .await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
pub struct ListOptedOutInput {
    #[serde(rename = "nextToken")]
    next_token: Option<String>,
}

pub fn list_opted_out(context: &Context<'_>, input: ListOptedOutInput) -> Result<Value, SnsError> {
    let prefix = account_prefix(context.account());
    let (entries, next) =
        catalog_page(context.engine(), OPTED_OUT, &prefix, input.next_token.as_deref(), LIST_PAGE_SIZE)?;
    let numbers: Vec<&str> = entries.iter().filter_map(|(key, _)| key.strip_prefix(prefix.as_str())).collect();
    let mut output = json!({ "phoneNumbers": numbers });
    if let Some(next) = next {
        output["nextToken"] = json!(next);
    }
    Ok(output)
}

/// GetSMSSandboxAccountStatus: Wharf has no sandbox to leave.
pub fn sandbox_account_status() -> Value {
    json!({ "IsInSandbox": false })
}

/// A sandbox destination number as the model allows it: `+` and at least 8 digits, or up to
/// 9 digits, at most 20 characters.
fn check_sandbox_number(number: &str) -> Result<(), SnsError> {
    let digits = |text: &str| text.bytes().all(|byte| byte.is_ascii_digit());
    let valid = number.len() <= SANDBOX_NUMBER_CHARS_MAX
        && match number.strip_prefix('+') {
            Some(rest) => rest.len() >= 8 && digits(rest),
            None => (1..=9).contains(&number.len()) && digits(number),
        };
    if valid {
        Ok(())
    } else {
        Err(SnsError::invalid("PhoneNumber Reason: input incorrectly formatted"))
    }
}

fn sandbox_number_not_found() -> SnsError {
    SnsError::new(ErrorKind::ResourceNotFound, "The phone number does not exist in the SMS sandbox")
}

/// A uniformly random six-digit one-time password.
fn one_time_password() -> Result<String, SnsError> {
    // 4_294_000_000 is the largest multiple of 10^6 below 2^32: drawing under it keeps every code
    // equally likely.
    loop {
        let drawn = getrandom::u32()
            .map_err(|error| SnsError::new(ErrorKind::Internal, format!("no random numbers: {error}")))?;
        if drawn < 4_294_000_000 {
            return Ok(format!("{:06}", drawn % 1_000_000));
        }
    }
}

#[derive(Deserialize)]
pub struct CreateSandboxNumberInput {
    #[serde(rename = "PhoneNumber")]
    phone_number: Option<String>,
    #[serde(rename = "LanguageCode")]
    language_code: Option<String>,
}

/// Adds a sandbox destination number (Pending) and texts it a one-time password. Adding a
/// pending number again sends a new password; adding a verified one changes nothing.
pub async fn create_sandbox_number(context: &Context<'_>, input: CreateSandboxNumberInput) -> Result<Value, SnsError> {
    let number = required(input.phone_number.as_deref(), "PhoneNumber")?;
    check_sandbox_number(number)?;
    let language = input.language_code.as_deref().filter(|code| !code.is_empty()).unwrap_or(DEFAULT_LANGUAGE);
    if !LANGUAGES.contains(&language) {
        return Err(SnsError::invalid(format!("LanguageCode Reason: must be one of {}", LANGUAGES.join(", "))));
    }
    let engine = context.engine();
    let account = context.account();
    let key = mobile::number_key(account, number);
    if engine.catalog_entry(OPTED_OUT, &key).is_some() {
        return Err(SnsError::new(ErrorKind::OptedOut, "Phone number is opted out."));
    }
    let password = one_time_password()?;
    let entry = Entry::from([
        ("Status".to_string(), PENDING.to_string()),
        ("LanguageCode".to_string(), language.to_string()),
        ("OneTimePassword".to_string(), password.clone()),
    ]);
    let send = engine
        .change_catalog(SANDBOX_NUMBERS, |numbers| {
            let verified =
                numbers.get(&key).is_some_and(|current| current.get("Status").is_some_and(|s| s == VERIFIED));
            Ok::<_, SnsError>(if verified {
                (Vec::new(), false)
            } else {
                (vec![CatalogChange::Put { key: key.clone(), entry }], true)
            })
        })
        .await?;
    if send {
        let message_id = uuid::Uuid::new_v4().to_string();
        let text = format!("Your Amazon SNS verification code is: {password}");
        let message = crate::delivery::direct_message(account, "sms", number, &message_id, text);
        engine.send(&context.service.outbox, vec![message]).await?;
    }
    Ok(json!({}))
}

#[derive(Deserialize)]
pub struct SandboxNumberInput {
    #[serde(rename = "PhoneNumber")]
    phone_number: Option<String>,
}

pub async fn delete_sandbox_number(context: &Context<'_>, input: SandboxNumberInput) -> Result<Value, SnsError> {
    let number = required(input.phone_number.as_deref(), "PhoneNumber")?;
    check_sandbox_number(number)?;
    let key = mobile::number_key(context.account(), number);
    context
        .engine()
        .change_catalog(SANDBOX_NUMBERS, |numbers| {
            if !numbers.contains_key(&key) {
                return Err(sandbox_number_not_found());
            }
            Ok((vec![CatalogChange::Delete { key }], ()))
        })
        .await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
pub struct VerifyInput {
    #[serde(rename = "PhoneNumber")]
    phone_number: Option<String>,
    #[serde(rename = "OneTimePassword")]
    one_time_password: Option<String>,
}

/// Verifies a pending sandbox number with the password it was sent; a verified number stays so.
pub async fn verify_sandbox_number(context: &Context<'_>, input: VerifyInput) -> Result<Value, SnsError> {
    let number = required(input.phone_number.as_deref(), "PhoneNumber")?;
    check_sandbox_number(number)?;
    let password = required(input.one_time_password.as_deref(), "OneTimePassword")?;
    if !(5..=8).contains(&password.len()) || !password.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(SnsError::invalid("OneTimePassword Reason: must be 5 to 8 digits"));
    }
    let key = mobile::number_key(context.account(), number);
    context
        .engine()
        .change_catalog(SANDBOX_NUMBERS, |numbers| {
            let current = numbers.get(&key).ok_or_else(sandbox_number_not_found)?;
            if current.get("Status").is_some_and(|status| status == VERIFIED) {
                return Ok((Vec::new(), ()));
            }
            if current.get("OneTimePassword").map(String::as_str) != Some(password) {
                return Err(SnsError::new(ErrorKind::VerificationException, "Invalid one-time password"));
            }
            let mut entry = current.clone();
            entry.remove("OneTimePassword");
            entry.insert("Status".into(), VERIFIED.into());
            Ok((vec![CatalogChange::Put { key: key.clone(), entry }], ()))
        })
        .await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
pub struct ListPagedInput {
    #[serde(rename = "NextToken")]
    next_token: Option<String>,
    #[serde(rename = "MaxResults", default, deserialize_with = "super::lenient_integer")]
    max_results: Option<i64>,
}

pub fn list_sandbox_numbers(context: &Context<'_>, input: ListPagedInput) -> Result<Value, SnsError> {
    let page_size = input.max_results.unwrap_or(SANDBOX_PAGE_SIZE_MAX);
    if !(1..=SANDBOX_PAGE_SIZE_MAX).contains(&page_size) {
        return Err(SnsError::invalid(format!("MaxResults Reason: must be from 1 to {SANDBOX_PAGE_SIZE_MAX}")));
    }
    let page_size = usize::try_from(page_size).unwrap_or(LIST_PAGE_SIZE);
    let prefix = account_prefix(context.account());
    let (entries, next) =
        catalog_page(context.engine(), SANDBOX_NUMBERS, &prefix, input.next_token.as_deref(), page_size)?;
    let numbers: Vec<Value> = entries
        .iter()
        .filter_map(|(key, entry)| {
            let number = key.strip_prefix(prefix.as_str())?;
            let status = entry.get("Status").map_or(PENDING, String::as_str);
            Some(json!({ "PhoneNumber": number, "Status": status }))
        })
        .collect();
    let mut output = json!({ "PhoneNumbers": numbers });
    if let Some(next) = next {
        output["NextToken"] = json!(next);
    }
    Ok(output)
}

/// ListOriginationNumbers: Wharf owns no origination numbers, so every page is empty.
pub fn list_origination_numbers(input: ListPagedInput) -> Result<Value, SnsError> {
    if let Some(max) = input.max_results.filter(|max| !(1..=ORIGINATION_PAGE_SIZE_MAX).contains(max)) {
        let constraint = if max < 1 {
            "greater than or equal to 1".to_string()
        } else {
            format!("less than or equal to {ORIGINATION_PAGE_SIZE_MAX}")
        };
        return Err(SnsError::new(
            ErrorKind::ValidationException,
            format!(
                "1 validation error detected: Value '{max}' at 'maxResults' failed to satisfy constraint: Member must have value {constraint}"
            ),
        ));
    }
    if input.next_token.is_some_and(|token| !token.is_empty()) {
        return Err(SnsError::invalid("NextToken"));
    }
    Ok(json!({ "PhoneNumbers": [] }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sms_attributes_are_checked() {
        for (name, value) in [
            ("MonthlySpendLimit", "20"),
            ("DeliveryStatusSuccessSamplingRate", "100"),
            ("DefaultSenderID", "Wharf1"),
            ("DefaultSMSType", "Transactional"),
            ("DeliveryStatusIAMRole", "arn:aws:iam::000000000000:role/sms"),
            ("UsageReportS3Bucket", "sms-reports"),
            ("DefaultSMSType", ""),
        ] {
            assert!(check_sms_attribute(name, value).is_ok(), "{name}={value}");
        }
        for (name, value) in [
            ("MonthlySpendLimit", "1.5"),
            ("MonthlySpendLimit", "+5"),
            ("DeliveryStatusSuccessSamplingRate", "101"),
            ("DefaultSenderID", "123"),
            ("DefaultSenderID", "TwelveChars1"),
            ("DefaultSMSType", "Marketing"),
            ("UsageReportS3Bucket", "Bad_Bucket"),
            ("Other", "x"),
        ] {
            assert!(check_sms_attribute(name, value).is_err(), "{name}={value}");
        }
    }

    #[test]
    fn sandbox_numbers_follow_the_model_pattern() {
        for good in ["+14255550100", "+12345678", "123456789", "1"] {
            assert!(check_sandbox_number(good).is_ok(), "{good}");
        }
        for bad in ["", "+1234567", "1234567890", "+1425555010012345678901", "+1-425", "phone"] {
            assert!(check_sandbox_number(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn one_time_passwords_are_six_digits() {
        for _ in 0..100 {
            let password = one_time_password().unwrap();
            assert_eq!(password.len(), 6);
            assert!(password.bytes().all(|byte| byte.is_ascii_digit()));
        }
    }

    #[test]
    fn origination_numbers_page_limits() {
        let input = |max: Option<i64>| ListPagedInput { next_token: None, max_results: max };
        assert_eq!(list_origination_numbers(input(Some(30))).unwrap(), json!({ "PhoneNumbers": [] }));
        for bad in [0, 31] {
            let error = list_origination_numbers(input(Some(bad))).unwrap_err();
            assert_eq!(error.kind, ErrorKind::ValidationException);
        }
    }
}
