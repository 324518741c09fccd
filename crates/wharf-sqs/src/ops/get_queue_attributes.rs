//! GetQueueAttributes.

use crate::error_map::SqsError;
use crate::queue_attributes;
use crate::Context;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
pub struct Input {
    #[serde(rename = "QueueUrl")]
    queue_url: Option<String>,
    #[serde(rename = "AttributeNames", default)]
    attribute_names: Vec<String>,
}

pub fn run(context: &Context<'_>, input: Input) -> Result<Value, SqsError> {
    let queue = context.queue(input.queue_url.as_deref())?;
    let attributes =
        queue_attributes::render(context.engine(), &queue, &context.request.region, &input.attribute_names)?;
    if attributes.is_empty() {
        return Ok(json!({}));
    }
    Ok(json!({ "Attributes": attributes }))
}
