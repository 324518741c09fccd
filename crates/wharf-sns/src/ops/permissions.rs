//! AddPermission and RemovePermission (statements in the topic's access policy, which is stored
//! and returned but not evaluated), and the data protection policy (stored and returned).

use super::required;
use super::topics::default_policy;
use crate::error_map::SnsError;
use crate::Context;
use serde::Deserialize;
use serde_json::{json, Value};
use wharf_domain::topic::Topic;

#[derive(Deserialize)]
pub struct AddInput {
    #[serde(rename = "TopicArn")]
    topic_arn: Option<String>,
    #[serde(rename = "Label")]
    label: Option<String>,
    #[serde(rename = "AWSAccountId", default, deserialize_with = "super::list_or_empty")]
    account_ids: Vec<String>,
    #[serde(rename = "ActionName", default, deserialize_with = "super::list_or_empty")]
    action_names: Vec<String>,
}

fn current_policy(context: &Context<'_>, topic: &Topic) -> Value {
    let arn = context.topic_arn(topic);
    let text = topic.settings().opaque.get("Policy").cloned().unwrap_or_else(|| default_policy(&arn, &topic.account));
    serde_json::from_str(&text).unwrap_or_else(|_| json!({"Version": "2008-10-17", "Statement": []}))
}

/// The policy's statement list, made an empty list if the policy has none.
fn statements(policy: &mut Value) -> Option<&mut Vec<Value>> {
    let object = policy.as_object_mut()?;
    if !object.get("Statement").is_some_and(Value::is_array) {
        object.insert("Statement".into(), json!([]));
    }
    object.get_mut("Statement").and_then(Value::as_array_mut)
}

fn malformed_policy() -> SnsError {
    SnsError::invalid("Policy: the topic's policy is not a JSON object")
}

/// Stores one of the topic's policy documents and answers the operation's empty output.
async fn store(context: &Context<'_>, topic: &Topic, name: &str, document: String) -> Result<Value, SnsError> {
    context
        .engine()
        .update_topic(topic, |settings, _| {
            settings.opaque.insert(name.to_string(), document);
        })
        .await?;
    Ok(json!({}))
}

pub async fn add(context: &Context<'_>, input: AddInput) -> Result<Value, SnsError> {
    let topic = context.topic(input.topic_arn.as_deref(), "TopicArn")?;
    let label = required(input.label.as_deref(), "Label")?;
    if input.account_ids.is_empty() {
        return Err(SnsError::missing("AWSAccountId"));
    }
    if input.action_names.is_empty() {
        return Err(SnsError::missing("ActionName"));
    }
    let mut policy = current_policy(context, &topic);
    let arn = context.topic_arn(&topic);
    let list = statements(&mut policy).ok_or_else(malformed_policy)?;
    if list.iter().any(|statement| statement.get("Sid").and_then(Value::as_str) == Some(label)) {
        return Err(SnsError::invalid("Statement already exists"));
    }
    let principals: Vec<String> = input.account_ids.iter().map(|id| format!("arn:aws:iam::{id}:root")).collect();
    let actions: Vec<String> = input.action_names.iter().map(|action| format!("SNS:{action}")).collect();
    list.push(json!({
        "Sid": label,
        "Effect": "Allow",
        "Principal": {"AWS": principals},
        "Action": actions,
        "Resource": arn,
    }));
    store(context, &topic, "Policy", policy.to_string()).await
}

#[derive(Deserialize)]
pub struct RemoveInput {
    #[serde(rename = "TopicArn")]
    topic_arn: Option<String>,
    #[serde(rename = "Label")]
    label: Option<String>,
}

pub async fn remove(context: &Context<'_>, input: RemoveInput) -> Result<Value, SnsError> {
    let topic = context.topic(input.topic_arn.as_deref(), "TopicArn")?;
    let label = required(input.label.as_deref(), "Label")?;
    let mut policy = current_policy(context, &topic);
    let list = statements(&mut policy).ok_or_else(malformed_policy)?;
    let before = list.len();
    list.retain(|statement| statement.get("Sid").and_then(Value::as_str) != Some(label));
    if list.len() == before {
        return Err(SnsError::invalid("Label"));
    }
    store(context, &topic, "Policy", policy.to_string()).await
}

#[derive(Deserialize)]
pub struct GetDataProtectionInput {
    #[serde(rename = "ResourceArn")]
    resource_arn: Option<String>,
}

pub fn get_data_protection(context: &Context<'_>, input: GetDataProtectionInput) -> Result<Value, SnsError> {
    let topic = context.topic(input.resource_arn.as_deref(), "ResourceArn")?;
    let policy = topic.settings().opaque.get("DataProtectionPolicy").cloned().unwrap_or_default();
    Ok(json!({ "DataProtectionPolicy": policy }))
}

#[derive(Deserialize)]
pub struct PutDataProtectionInput {
    #[serde(rename = "ResourceArn")]
    resource_arn: Option<String>,
    #[serde(rename = "DataProtectionPolicy")]
    data_protection_policy: Option<String>,
}

pub async fn put_data_protection(context: &Context<'_>, input: PutDataProtectionInput) -> Result<Value, SnsError> {
    let topic = context.topic(input.resource_arn.as_deref(), "ResourceArn")?;
    let policy = required(input.data_protection_policy.as_deref(), "DataProtectionPolicy")?;
    if serde_json::from_str::<Value>(policy).map_or(true, |parsed| !parsed.is_object()) {
        return Err(SnsError::invalid("DataProtectionPolicy: failed to parse JSON."));
    }
    store(context, &topic, "DataProtectionPolicy", policy.to_string()).await
}
