//! GetQueueUrl.

use crate::error_map::SqsError;
use crate::ops::required;
use crate::Context;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
pub struct Input {
    #[serde(rename = "QueueName")]
    queue_name: Option<String>,
    #[serde(rename = "QueueOwnerAWSAccountId")]
    owner: Option<String>,
}

pub fn run(context: &Context<'_>, input: Input) -> Result<Value, SqsError> {
    let name = required(input.queue_name.as_deref(), "QueueName")?;
    let account = input.owner.as_deref().filter(|owner| !owner.is_empty()).unwrap_or(context.account());
    context.check_account(account, name)?;
    let queue = context.engine().queue(account, name).ok_or_else(SqsError::queue_does_not_exist)?;
    Ok(json!({ "QueueUrl": context.queue_url(&queue) }))
}
