//! AddPermission and RemovePermission: each label is one statement of the queue's Policy.

use crate::error_map::SqsError;
use crate::ops::required;
use crate::queue_attributes::queue_arn;
use crate::Context;
use serde::Deserialize;
use serde_json::{json, Value};

pub const LABEL_CHARS_MAX: usize = 80;
/// Actions that may be granted, as AWS lists them for AddPermission.
const GRANTABLE_ACTIONS: &[&str] = &[
    "*",
    "SendMessage",
    "ReceiveMessage",
    "DeleteMessage",
    "ChangeMessageVisibility",
    "GetQueueAttributes",
    "GetQueueUrl",
    "ListDeadLetterSourceQueues",
    "PurgeQueue",
    "ListQueueTags",
];
const POLICY: &str = "Policy";

#[derive(Deserialize)]
pub struct AddInput {
    #[serde(rename = "QueueUrl")]
    queue_url: Option<String>,
    #[serde(rename = "Label")]
    label: Option<String>,
    #[serde(rename = "AWSAccountIds")]
    account_ids: Option<Vec<String>>,
    #[serde(rename = "Actions")]
    actions: Option<Vec<String>>,
}

fn check_label(label: &str) -> Result<(), SqsError> {
    let valid = !label.is_empty()
        && label.len() <= LABEL_CHARS_MAX
        && label.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if !valid {
        return Err(SqsError::invalid_value(
            "Label",
            label,
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        ));
    }
    Ok(())
}

pub async fn add(context: &Context<'_>, input: AddInput) -> Result<Value, SqsError> {
    let queue = context.queue(input.queue_url.as_deref())?;
    let label = required(input.label.as_deref(), "Label")?;
    check_label(label)?;
    let accounts = required(input.account_ids.as_ref(), "AWSAccountIds")?;
    let actions = required(input.actions.as_ref(), "Actions")?;
    if accounts.is_empty() {
        return Err(SqsError::missing("AWSAccountIds"));
    }
    if actions.is_empty() {
        return Err(SqsError::missing("Actions"));
    }
    if let Some(bad) = actions.iter().find(|action| !GRANTABLE_ACTIONS.contains(&action.as_str())) {
        return Err(SqsError::invalid_value(
            "ActionName.1",
            bad,
            "Please refer to the appropriate WSDL for a list of valid actions.",
        ));
    }
    let arn = queue_arn(&context.request.region, &queue);
    let mut policy = current_policy(&queue, &arn);
    let mut statements = take_statements(&mut policy);
    if statements.iter().any(|statement| statement["Sid"] == label) {
        return Err(SqsError::invalid_value("Label", label, "Already exists."));
    }
    let principals: Vec<String> = accounts.iter().map(|account| format!("arn:aws:iam::{account}:root")).collect();
    let granted: Vec<String> = actions.iter().map(|action| format!("SQS:{action}")).collect();
    statements.push(json!({
        "Sid": label,
        "Effect": "Allow",
        "Principal": {"AWS": principals},
        "Action": granted,
        "Resource": arn,
    }));
    policy["Statement"] = Value::Array(statements);
    store_policy(context, &queue, policy).await
}

#[derive(Deserialize)]
pub struct RemoveInput {
    #[serde(rename = "QueueUrl")]
    queue_url: Option<String>,
    #[serde(rename = "Label")]
    label: Option<String>,
}

pub async fn remove(context: &Context<'_>, input: RemoveInput) -> Result<Value, SqsError> {
    let queue = context.queue(input.queue_url.as_deref())?;
    let label = required(input.label.as_deref(), "Label")?;
    let arn = queue_arn(&context.request.region, &queue);
    let mut policy = current_policy(&queue, &arn);
    let mut statements = take_statements(&mut policy);
    let before = statements.len();
    statements.retain(|statement| statement["Sid"] != label);
    if statements.len() == before {
        return Err(SqsError::invalid_value("Label", label, "can't find label on existing policy."));
    }
    policy["Statement"] = Value::Array(statements);
    store_policy(context, &queue, policy).await
}

fn current_policy(queue: &wharf_domain::Queue, arn: &str) -> Value {
    queue
        .settings()
        .opaque
        .get(POLICY)
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({"Version": "2012-10-17", "Id": format!("{arn}/SQSDefaultPolicy"), "Statement": []}))
}

fn take_statements(policy: &mut Value) -> Vec<Value> {
    match policy.get_mut("Statement").map(Value::take) {
        Some(Value::Array(statements)) => statements,
        _ => Vec::new(),
    }
}

async fn store_policy(context: &Context<'_>, queue: &wharf_domain::Queue, policy: Value) -> Result<Value, SqsError> {
    let empty = policy["Statement"].as_array().is_none_or(Vec::is_empty);
    context
        .engine()
        .update_queue(queue, |settings, _| {
            if empty {
                settings.opaque.remove(POLICY);
            } else {
                settings.opaque.insert(POLICY.to_string(), policy.to_string());
            }
        })
        .await?;
    Ok(json!({}))
}
