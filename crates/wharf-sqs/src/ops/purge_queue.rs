//! PurgeQueue: at most one per queue every 60 seconds.

use crate::error_map::SqsError;
use crate::Context;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
pub struct Input {
    #[serde(rename = "QueueUrl")]
    queue_url: Option<String>,
}

pub async fn run(context: &Context<'_>, input: Input) -> Result<Value, SqsError> {
    let queue = context.queue(input.queue_url.as_deref())?;
    context.engine().purge(&queue).await?;
    Ok(json!({}))
}
