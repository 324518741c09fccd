//! ListDeadLetterSourceQueues: queues whose RedrivePolicy targets this queue.

use crate::error_map::SqsError;
use crate::ops::paging::{page, PageRequest};
use crate::Context;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
pub struct Input {
    #[serde(rename = "QueueUrl")]
    queue_url: Option<String>,
    #[serde(rename = "MaxResults")]
    max_results: Option<i64>,
    #[serde(rename = "NextToken")]
    next_token: Option<String>,
}

pub fn run(context: &Context<'_>, input: Input) -> Result<Value, SqsError> {
    let target = context.queue(input.queue_url.as_deref())?;
    let sources = context.engine().dead_letter_sources(&target);
    let scope = format!("dlq-sources:{}", target.id);
    let request =
        PageRequest { max_results: input.max_results, next_token: input.next_token.as_deref(), scope: &scope };
    let (selected, next_token) = page(context, &sources, request)?;
    let urls: Vec<String> = selected.iter().map(|queue| context.queue_url(queue)).collect();
    let mut output = json!({ "queueUrls": urls });
    if let Some(token) = next_token {
        output["NextToken"] = json!(token);
    }
    Ok(output)
}
