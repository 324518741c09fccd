//! Mobile push registration: CreatePlatformApplication, Get/SetPlatformApplicationAttributes,
//! ListPlatformApplications, DeletePlatformApplication, CreatePlatformEndpoint,
//! Get/SetEndpointAttributes, ListEndpointsByPlatformApplication and DeleteEndpoint.
//!
//! Applications and endpoints are entries of the domain catalogs named in [`crate::mobile`]; every
//! check-then-change is decided inside one `change_catalog` closure, so concurrent requests cannot
//! race. An application's entry holds its attributes (the secret `PlatformCredential` is kept but
//! never returned) and `Enabled`; an endpoint's holds `Token`, `Enabled` and `CustomUserData`.

use super::paging::catalog_page;
use super::required;
use crate::arns;
use crate::error_map::{ErrorKind, SnsError};
use crate::mobile::{self, ApplicationId, EndpointId, APPLICATIONS, ENDPOINTS};
use crate::Context;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use wharf_aws::arn;
use wharf_domain::catalog::{Catalog, CatalogChange, Entry};

const LIST_PAGE_SIZE: usize = 100;
/// AWS: "The data must be in UTF-8 format and less than 2KB."
pub const CUSTOM_USER_DATA_BYTES_MAX: usize = 2048;

/// The attributes CreatePlatformApplication accepts; SetPlatformApplicationAttributes also
/// accepts `Enabled`.
const APPLICATION_ATTRIBUTES: &[&str] = &[
    "PlatformCredential",
    "PlatformPrincipal",
    "EventEndpointCreated",
    "EventEndpointDeleted",
    "EventEndpointUpdated",
    "EventDeliveryFailure",
    "SuccessFeedbackRoleArn",
    "FailureFeedbackRoleArn",
    "SuccessFeedbackSampleRate",
    "ApplePlatformTeamID",
    "ApplePlatformBundleID",
    "AuthenticationMethod",
];
/// Stored, never returned.
const SECRET_ATTRIBUTE: &str = "PlatformCredential";
/// The attributes an endpoint has.
const ENDPOINT_ATTRIBUTES: &[&str] = &["CustomUserData", "Enabled", "Token"];

fn application_not_found() -> SnsError {
    SnsError::new(ErrorKind::NotFound, "PlatformApplication does not exist")
}

fn endpoint_not_found() -> SnsError {
    SnsError::new(ErrorKind::NotFound, "Endpoint does not exist")
}

/// The application a PlatformApplicationArn names, in an account the caller may use.
fn application_id(context: &Context<'_>, arn: Option<&str>) -> Result<ApplicationId, SnsError> {
    let arn = required(arn, "PlatformApplicationArn")?;
    let id = ApplicationId::parse_arn(arn)
        .ok_or_else(|| SnsError::invalid("PlatformApplicationArn Reason: not a platform application ARN"))?;
    context.check_account(&id.account)?;
    Ok(id)
}

/// The endpoint an EndpointArn names, in an account the caller may use.
fn endpoint_id(context: &Context<'_>, arn: Option<&str>) -> Result<EndpointId, SnsError> {
    let arn = required(arn, "EndpointArn")?;
    let id = EndpointId::parse_arn(arn).ok_or_else(|| SnsError::invalid("EndpointArn Reason: not an endpoint ARN"))?;
    context.check_account(&id.application.account)?;
    Ok(id)
}

/// The application a catalog key (`<account>/<platform>/<name>`) names.
fn application_from_key(key: &str) -> Option<ApplicationId> {
    let mut parts = key.splitn(3, '/');
    let (account, platform, name) = (parts.next()?, parts.next()?, parts.next()?);
    Some(ApplicationId { account: account.into(), platform: platform.into(), name: name.into() })
}

/// Checks one application attribute a client gave; `Enabled` only where `enabled_settable`.
fn check_application_attribute(name: &str, value: &str, enabled_settable: bool) -> Result<(), SnsError> {
    match name {
        "Enabled" if enabled_settable => {
            if value != "true" && value != "false" {
                return Err(SnsError::invalid("Enabled Reason: must be true or false"));
            }
        }
        "SuccessFeedbackSampleRate" => {
            let valid = value.is_empty() || value.parse::<u8>().is_ok_and(|rate| rate <= 100);
            if !valid {
                return Err(SnsError::invalid("SuccessFeedbackSampleRate Reason: must be an integer from 0 to 100"));
            }
        }
        "EventEndpointCreated" | "EventEndpointDeleted" | "EventEndpointUpdated" | "EventDeliveryFailure" => {
            if !value.is_empty() && arns::parse_topic(value).is_none() {
                return Err(SnsError::invalid(format!("{name} Reason: not a topic ARN")));
            }
        }
        "SuccessFeedbackRoleArn" | "FailureFeedbackRoleArn" => {
            if !value.is_empty() && arn::parse(value).is_none_or(|parsed| parsed.service != "iam") {
                return Err(SnsError::invalid(format!("{name} Reason: not an IAM role ARN")));
            }
        }
        known if APPLICATION_ATTRIBUTES.contains(&known) => {}
        _ => return Err(SnsError::invalid(format!("Attributes Reason: Invalid attribute name: {name}"))),
    }
    Ok(())
}

/// Applies client-given attributes to an entry: an empty value removes the attribute.
fn merge(entry: &mut Entry, attributes: &BTreeMap<String, String>) {
    for (name, value) in attributes {
        if value.is_empty() {
            entry.remove(name);
        } else {
            entry.insert(name.clone(), value.clone());
        }
    }
}

/// The credentials each platform needs (AWS's CreatePlatformApplication documentation): a
/// PlatformCredential always, and a PlatformPrincipal on every platform but GCM (FCM), which APNS
/// with token-based signing may replace with ApplePlatformTeamID and ApplePlatformBundleID.
fn check_credentials(platform: &str, entry: &Entry) -> Result<(), SnsError> {
    if !entry.contains_key(SECRET_ATTRIBUTE) {
        return Err(SnsError::invalid("Attributes Reason: PlatformCredential attribute is required"));
    }
    let apple_token = matches!(platform, "APNS" | "APNS_SANDBOX")
        && entry.contains_key("ApplePlatformTeamID")
        && entry.contains_key("ApplePlatformBundleID");
    if platform != "GCM" && !apple_token && !entry.contains_key("PlatformPrincipal") {
        return Err(SnsError::invalid(format!(
            "Attributes Reason: PlatformPrincipal attribute is required for {platform}"
        )));
    }
    Ok(())
}

/// An application's attributes as Get and List return them: without the secret.
fn visible(mut entry: Entry) -> Entry {
    entry.remove(SECRET_ATTRIBUTE);
    entry
}

#[derive(Deserialize)]
pub struct CreateApplicationInput {
    #[serde(rename = "Name")]
    name: Option<String>,
    #[serde(rename = "Platform")]
    platform: Option<String>,
    /// awsQuery cannot tell an empty map from a missing one; either way the credentials are
    /// what is missing, and the error says so.
    #[serde(rename = "Attributes", default)]
    attributes: BTreeMap<String, String>,
}

pub async fn create_application(context: &Context<'_>, input: CreateApplicationInput) -> Result<Value, SnsError> {
    let name = required(input.name.as_deref(), "Name")?;
    let platform = required(input.platform.as_deref(), "Platform")?;
    let attributes = input.attributes;
    if !mobile::valid_name(name) {
        return Err(SnsError::invalid(
            "Name Reason: must be 1 to 256 ASCII letters, numbers, underscores, hyphens and periods",
        ));
    }
    if !mobile::PLATFORMS.contains(&platform) {
        return Err(SnsError::invalid("Platform"));
    }
    for (attribute, value) in &attributes {
        check_application_attribute(attribute, value, false)?;
    }
    let mut entry = Entry::new();
    merge(&mut entry, &attributes);
    check_credentials(platform, &entry)?;
    entry.insert("Enabled".into(), "true".into());
    let id = ApplicationId { account: context.account().to_string(), platform: platform.into(), name: name.into() };
    let key = id.key();
    context
        .engine()
        .change_catalog(APPLICATIONS, |applications| match applications.get(&key) {
            None => Ok((vec![CatalogChange::Put { key: key.clone(), entry }], ())),
            // Creating an application again returns it when every given attribute matches.
            Some(current) => {
                let mut requested = current.clone();
                merge(&mut requested, &attributes);
                if requested == *current {
                    Ok((Vec::new(), ()))
                } else {
                    Err(SnsError::invalid(
                        "Name Reason: An application with the same name but different attributes already exists",
                    ))
                }
            }
        })
        .await?;
    Ok(json!({ "PlatformApplicationArn": id.arn(context.region()) }))
}

#[derive(Deserialize)]
pub struct ApplicationInput {
    #[serde(rename = "PlatformApplicationArn")]
    platform_application_arn: Option<String>,
}

pub async fn delete_application(context: &Context<'_>, input: ApplicationInput) -> Result<Value, SnsError> {
    let id = application_id(context, input.platform_application_arn.as_deref())?;
    let engine = context.engine();
    let key = id.key();
    // The application goes first: an endpoint created meanwhile either sees it gone (and takes
    // itself back, see `create_endpoint`) or is removed with the others below.
    engine
        .change_catalog(APPLICATIONS, |applications| {
            let changes = applications.contains_key(&key).then(|| CatalogChange::Delete { key: key.clone() });
            Ok::<_, SnsError>((changes.into_iter().collect(), ()))
        })
        .await?;
    let prefix = id.endpoint_prefix();
    engine
        .change_catalog(ENDPOINTS, |endpoints| {
            let changes =
                keys_under(endpoints, &prefix).map(|key| CatalogChange::Delete { key: key.clone() }).collect();
            Ok::<_, SnsError>((changes, ()))
        })
        .await?;
    Ok(json!({}))
}

/// The keys of a catalog that start with `prefix`.
fn keys_under<'a>(catalog: &'a Catalog, prefix: &'a str) -> impl Iterator<Item = &'a String> + 'a {
    catalog
        .range::<str, _>((std::ops::Bound::Included(prefix), std::ops::Bound::Unbounded))
        .map(|(key, _)| key)
        .take_while(move |key| key.starts_with(prefix))
}

pub fn get_application_attributes(context: &Context<'_>, input: ApplicationInput) -> Result<Value, SnsError> {
    let id = application_id(context, input.platform_application_arn.as_deref())?;
    let entry = context.engine().catalog_entry(APPLICATIONS, &id.key()).ok_or_else(application_not_found)?;
    Ok(json!({ "Attributes": visible(entry) }))
}

#[derive(Deserialize)]
pub struct SetApplicationInput {
    #[serde(rename = "PlatformApplicationArn")]
    platform_application_arn: Option<String>,
    #[serde(rename = "Attributes")]
    attributes: Option<BTreeMap<String, String>>,
}

pub async fn set_application_attributes(context: &Context<'_>, input: SetApplicationInput) -> Result<Value, SnsError> {
    let id = application_id(context, input.platform_application_arn.as_deref())?;
    let attributes = input.attributes.ok_or_else(|| SnsError::missing("Attributes"))?;
    for (attribute, value) in &attributes {
        check_application_attribute(attribute, value, true)?;
    }
    let key = id.key();
    context
        .engine()
        .change_catalog(APPLICATIONS, |applications| {
            let mut entry = applications.get(&key).cloned().ok_or_else(application_not_found)?;
            merge(&mut entry, &attributes);
            check_credentials(&id.platform, &entry)?;
            Ok::<_, SnsError>((vec![CatalogChange::Put { key: key.clone(), entry }], ()))
        })
        .await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
pub struct ListApplicationsInput {
    #[serde(rename = "NextToken")]
    next_token: Option<String>,
}

pub fn list_applications(context: &Context<'_>, input: ListApplicationsInput) -> Result<Value, SnsError> {
    let prefix = format!("{}/", context.account());
    let (entries, next) =
        catalog_page(context.engine(), APPLICATIONS, &prefix, input.next_token.as_deref(), LIST_PAGE_SIZE)?;
    let applications: Vec<Value> = entries
        .into_iter()
        .filter_map(|(key, entry)| {
            let id = application_from_key(&key)?;
            Some(json!({ "PlatformApplicationArn": id.arn(context.region()), "Attributes": visible(entry) }))
        })
        .collect();
    let mut output = json!({ "PlatformApplications": applications });
    if let Some(next) = next {
        output["NextToken"] = json!(next);
    }
    Ok(output)
}

/// Checks one endpoint attribute a client gave.
fn check_endpoint_attribute(name: &str, value: &str) -> Result<(), SnsError> {
    match name {
        "Enabled" if value != "true" && value != "false" => {
            Err(SnsError::invalid("Enabled Reason: must be true or false"))
        }
        "Token" if value.is_empty() => Err(SnsError::invalid("Token Reason: cannot be empty")),
        "CustomUserData" => check_custom_user_data(value),
        known if ENDPOINT_ATTRIBUTES.contains(&known) => Ok(()),
        _ => Err(SnsError::invalid(format!("Attributes Reason: Invalid attribute name: {name}"))),
    }
}

fn check_custom_user_data(value: &str) -> Result<(), SnsError> {
    if value.len() > CUSTOM_USER_DATA_BYTES_MAX {
        return Err(SnsError::invalid(format!(
            "CustomUserData Reason: must be at most {CUSTOM_USER_DATA_BYTES_MAX} bytes"
        )));
    }
    Ok(())
}

#[derive(Deserialize)]
pub struct CreateEndpointInput {
    #[serde(rename = "PlatformApplicationArn")]
    platform_application_arn: Option<String>,
    #[serde(rename = "Token")]
    token: Option<String>,
    #[serde(rename = "CustomUserData")]
    custom_user_data: Option<String>,
    #[serde(rename = "Attributes", default)]
    attributes: BTreeMap<String, String>,
}

pub async fn create_endpoint(context: &Context<'_>, input: CreateEndpointInput) -> Result<Value, SnsError> {
    let application = application_id(context, input.platform_application_arn.as_deref())?;
    let token = required(input.token.as_deref(), "Token")?;
    check_endpoint_attribute("Token", token)?;
    if let Some(data) = &input.custom_user_data {
        check_custom_user_data(data)?;
    }
    for (attribute, value) in &input.attributes {
        check_endpoint_attribute(attribute, value)?;
    }
    // The endpoint as requested: Attributes win over the Token and CustomUserData parameters.
    let mut entry =
        Entry::from([("Token".to_string(), token.to_string()), ("Enabled".to_string(), "true".to_string())]);
    if let Some(data) = input.custom_user_data.filter(|data| !data.is_empty()) {
        entry.insert("CustomUserData".into(), data);
    }
    merge(&mut entry, &input.attributes);
    let engine = context.engine();
    if engine.catalog_entry(APPLICATIONS, &application.key()).is_none() {
        return Err(application_not_found());
    }
    let explicit_enabled = input.attributes.contains_key("Enabled");
    let prefix = application.endpoint_prefix();
    let region = context.region();
    let new = EndpointId { application: application.clone(), id: uuid::Uuid::new_v4().to_string() };
    let (endpoint, created) = engine
        .change_catalog(ENDPOINTS, |endpoints| {
            let same_token = keys_under(endpoints, &prefix).find_map(|key| {
                let existing = endpoints.get(key)?;
                (existing.get("Token") == entry.get("Token")).then_some((key, existing))
            });
            let Some((key, existing)) = same_token else {
                return Ok((vec![CatalogChange::Put { key: new.key(), entry }], (new, true)));
            };
            let found = EndpointId::from_key(key).unwrap_or_else(|| new.clone());
            // Idempotent for the same token and user data; Enabled counts only when given, so a
            // device re-registering its token gets its endpoint back even after a delivery failure
            // disabled it (the app then re-enables it with SetEndpointAttributes, as AWS advises).
            let same = existing.get("CustomUserData") == entry.get("CustomUserData")
                && (!explicit_enabled || existing.get("Enabled") == entry.get("Enabled"));
            if same {
                Ok((Vec::new(), (found, false)))
            } else {
                Err(SnsError::invalid(format!(
                    "Token Reason: Endpoint {} already exists with the same Token, but different attributes.",
                    found.arn(region)
                )))
            }
        })
        .await?;
    if created && engine.catalog_entry(APPLICATIONS, &application.key()).is_none() {
        // DeletePlatformApplication ran in between: take the endpoint back.
        let key = endpoint.key();
        engine.change_catalog(ENDPOINTS, |_| Ok::<_, SnsError>((vec![CatalogChange::Delete { key }], ()))).await?;
        return Err(application_not_found());
    }
    Ok(json!({ "EndpointArn": endpoint.arn(region) }))
}

#[derive(Deserialize)]
pub struct EndpointInput {
    #[serde(rename = "EndpointArn")]
    endpoint_arn: Option<String>,
}

pub async fn delete_endpoint(context: &Context<'_>, input: EndpointInput) -> Result<Value, SnsError> {
    let endpoint = endpoint_id(context, input.endpoint_arn.as_deref())?;
    let key = endpoint.key();
    context
        .engine()
        .change_catalog(ENDPOINTS, |endpoints| {
            let changes = endpoints.contains_key(&key).then(|| CatalogChange::Delete { key: key.clone() });
            Ok::<_, SnsError>((changes.into_iter().collect(), ()))
        })
        .await?;
    Ok(json!({}))
}

pub fn get_endpoint_attributes(context: &Context<'_>, input: EndpointInput) -> Result<Value, SnsError> {
    let endpoint = endpoint_id(context, input.endpoint_arn.as_deref())?;
    let entry = context.engine().catalog_entry(ENDPOINTS, &endpoint.key()).ok_or_else(endpoint_not_found)?;
    Ok(json!({ "Attributes": entry }))
}

#[derive(Deserialize)]
pub struct SetEndpointInput {
    #[serde(rename = "EndpointArn")]
    endpoint_arn: Option<String>,
    #[serde(rename = "Attributes")]
    attributes: Option<BTreeMap<String, String>>,
}

pub async fn set_endpoint_attributes(context: &Context<'_>, input: SetEndpointInput) -> Result<Value, SnsError> {
    let endpoint = endpoint_id(context, input.endpoint_arn.as_deref())?;
    let attributes = input.attributes.ok_or_else(|| SnsError::missing("Attributes"))?;
    for (attribute, value) in &attributes {
        check_endpoint_attribute(attribute, value)?;
    }
    let key = endpoint.key();
    context
        .engine()
        .change_catalog(ENDPOINTS, |endpoints| {
            let mut entry = endpoints.get(&key).cloned().ok_or_else(endpoint_not_found)?;
            merge(&mut entry, &attributes);
            Ok::<_, SnsError>((vec![CatalogChange::Put { key: key.clone(), entry }], ()))
        })
        .await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
pub struct ListEndpointsInput {
    #[serde(rename = "PlatformApplicationArn")]
    platform_application_arn: Option<String>,
    #[serde(rename = "NextToken")]
    next_token: Option<String>,
}

pub fn list_endpoints(context: &Context<'_>, input: ListEndpointsInput) -> Result<Value, SnsError> {
    let application = application_id(context, input.platform_application_arn.as_deref())?;
    let engine = context.engine();
    if engine.catalog_entry(APPLICATIONS, &application.key()).is_none() {
        return Err(application_not_found());
    }
    let prefix = application.endpoint_prefix();
    let (entries, next) = catalog_page(engine, ENDPOINTS, &prefix, input.next_token.as_deref(), LIST_PAGE_SIZE)?;
    let endpoints: Vec<Value> = entries
        .into_iter()
        .filter_map(|(key, entry)| {
            let endpoint = EndpointId::from_key(&key)?;
            Some(json!({ "EndpointArn": endpoint.arn(context.region()), "Attributes": entry }))
        })
        .collect();
    let mut output = json!({ "Endpoints": endpoints });
    if let Some(next) = next {
        output["NextToken"] = json!(next);
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
    }

    #[test]
    fn application_attributes_are_checked() {
        assert!(check_application_attribute("PlatformCredential", "key", false).is_ok());
        assert!(check_application_attribute("Enabled", "true", false).is_err(), "not at create");
        assert!(check_application_attribute("Enabled", "false", true).is_ok());
        assert!(check_application_attribute("Enabled", "yes", true).is_err());
        assert!(check_application_attribute("SuccessFeedbackSampleRate", "100", false).is_ok());
        assert!(check_application_attribute("SuccessFeedbackSampleRate", "101", false).is_err());
        assert!(check_application_attribute("EventEndpointCreated", "arn:aws:sns:us-east-1:0:t", false).is_ok());
        assert!(check_application_attribute("EventEndpointCreated", "topic", false).is_err());
        assert!(check_application_attribute("SuccessFeedbackRoleArn", "arn:aws:iam::0:role/r", false).is_ok());
        assert!(check_application_attribute("SuccessFeedbackRoleArn", "arn:aws:sns:us-east-1:0:t", false).is_err());
        assert!(check_application_attribute("Bogus", "x", true).is_err());
    }

    #[test]
    fn credentials_per_platform() {
        let mut entry = Entry::new();
        merge(&mut entry, &attributes(&[("PlatformCredential", "key")]));
        assert!(check_credentials("GCM", &entry).is_ok());
        assert!(check_credentials("APNS", &entry).is_err());
        assert!(check_credentials("ADM", &entry).is_err());
        merge(&mut entry, &attributes(&[("ApplePlatformTeamID", "team"), ("ApplePlatformBundleID", "bundle")]));
        assert!(check_credentials("APNS_SANDBOX", &entry).is_ok());
        assert!(check_credentials("WNS", &entry).is_err());
        merge(&mut entry, &attributes(&[("PlatformPrincipal", "principal")]));
        assert!(check_credentials("WNS", &entry).is_ok());
        merge(&mut entry, &attributes(&[("PlatformCredential", "")]));
        assert!(check_credentials("GCM", &entry).is_err(), "an empty value removes the credential");
    }

    #[test]
    fn endpoint_attributes_are_checked() {
        assert!(check_endpoint_attribute("Enabled", "false").is_ok());
        assert!(check_endpoint_attribute("Enabled", "").is_err());
        assert!(check_endpoint_attribute("Token", "").is_err());
        assert!(check_endpoint_attribute("CustomUserData", &"x".repeat(CUSTOM_USER_DATA_BYTES_MAX)).is_ok());
        assert!(check_endpoint_attribute("CustomUserData", &"x".repeat(CUSTOM_USER_DATA_BYTES_MAX + 1)).is_err());
        assert!(check_endpoint_attribute("Other", "x").is_err());
    }

    #[test]
    fn keys_under_a_prefix() {
        let catalog: Catalog = ["a/GCM/app/1", "a/GCM/app/2", "a/GCM/app2/1", "a/GCM/apo/9", "b/GCM/app/1"]
            .into_iter()
            .map(|key| (key.to_string(), Entry::new()))
            .collect();
        let keys: Vec<&String> = keys_under(&catalog, "a/GCM/app/").collect();
        assert_eq!(keys, ["a/GCM/app/1", "a/GCM/app/2"]);
        assert_eq!(
            application_from_key("a/GCM/my.app"),
            Some(ApplicationId { account: "a".into(), platform: "GCM".into(), name: "my.app".into() })
        );
    }
}
