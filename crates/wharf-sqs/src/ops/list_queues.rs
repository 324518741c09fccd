//! ListQueues, with AWS's paging: a NextToken only when MaxResults was given and more remain.

use crate::error_map::SqsError;
use crate::ops::paging::{page, PageRequest};
use crate::Context;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
pub struct Input {
    #[serde(rename = "QueueNamePrefix", default)]
    prefix: String,
    #[serde(rename = "MaxResults")]
    max_results: Option<i64>,
    #[serde(rename = "NextToken")]
    next_token: Option<String>,
}

pub fn run(context: &Context<'_>, input: Input) -> Result<Value, SqsError> {
    let queues = context.engine().list_queues(context.account(), &input.prefix);
    let request =
        PageRequest { max_results: input.max_results, next_token: input.next_token.as_deref(), scope: &input.prefix };
    let (selected, next_token) = page(context, &queues, request)?;
    let urls: Vec<String> = selected.iter().map(|queue| context.queue_url(queue)).collect();
    let mut output = json!({});
    if !urls.is_empty() {
        output["QueueUrls"] = json!(urls);
    }
    if let Some(token) = next_token {
        output["NextToken"] = json!(token);
    }
    Ok(output)
}
