//! SetQueueAttributes: validated as a whole before anything changes.

use crate::error_map::SqsError;
use crate::ops::required;
use crate::queue_attributes;
use crate::Context;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use wharf_domain::QueueName;

#[derive(Deserialize)]
pub struct Input {
    #[serde(rename = "QueueUrl")]
    queue_url: Option<String>,
    #[serde(rename = "Attributes")]
    attributes: Option<BTreeMap<String, String>>,
}

pub async fn run(context: &Context<'_>, input: Input) -> Result<Value, SqsError> {
    let queue = context.queue(input.queue_url.as_deref())?;
    let attributes = required(input.attributes.as_ref(), "Attributes")?;
    let mut settings = queue.settings();
    queue_attributes::apply(&mut settings, attributes, false, context.account())?;
    if attributes.contains_key("RedrivePolicy") {
        let source = QueueName { account: queue.account.clone(), name: queue.name.clone() };
        queue_attributes::check_redrive_allowed(context.engine(), &context.request.region, &source, &settings)?;
    }
    context.engine().update_queue(&queue, |current, _| *current = settings).await?;
    Ok(json!({}))
}
