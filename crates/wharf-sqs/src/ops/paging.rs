//! Paging for ListQueues and ListDeadLetterSourceQueues. A NextToken is a sealed token holding
//! the last queue name returned, bound to the listing's scope so it cannot be replayed against
//! another listing.

use crate::error_map::{ErrorKind, SqsError};
use crate::Context;
use std::sync::Arc;
use wharf_aws::token;
use wharf_domain::Queue;

pub const PAGE_RESULTS_MAX: i64 = 1000;
const PURPOSE: &str = "sqs-page";
const TOKEN_CHARS_MAX: usize = 2048;

pub struct PageRequest<'a> {
    pub max_results: Option<i64>,
    pub next_token: Option<&'a str>,
    /// What the listing is of (a prefix, a queue); tokens only resume the same scope.
    pub scope: &'a str,
}

/// Selects one page of `queues` (sorted by name) and the token for the next one.
pub fn page<'q>(
    context: &Context<'_>,
    queues: &'q [Arc<Queue>],
    request: PageRequest<'_>,
) -> Result<(&'q [Arc<Queue>], Option<String>), SqsError> {
    if let Some(max) = request.max_results {
        if !(1..=PAGE_RESULTS_MAX).contains(&max) {
            return Err(SqsError::invalid_value(
                "MaxResults",
                max,
                "MaxResults must be an integer between 1 and 1000.",
            ));
        }
    }
    let start = match request.next_token.filter(|token| !token.is_empty()) {
        None => 0,
        Some(text) => {
            let invalid = || SqsError::new(ErrorKind::InvalidParameterValue, "Invalid or expired next token.");
            let payload =
                token::open(&context.service.tokens, PURPOSE, text, TOKEN_CHARS_MAX).map_err(|_| invalid())?;
            let payload = String::from_utf8(payload).map_err(|_| invalid())?;
            let (scope, last) = payload.split_once('\0').ok_or_else(invalid)?;
            if scope != request.scope {
                return Err(invalid());
            }
            queues.partition_point(|queue| queue.name.as_str() <= last)
        }
    };
    let limit = request.max_results.unwrap_or(PAGE_RESULTS_MAX) as usize;
    let rest = queues.get(start..).unwrap_or(&[]);
    let selected = rest.get(..limit.min(rest.len())).unwrap_or(&[]);
    let next_token = match (request.max_results, selected.last()) {
        (Some(_), Some(last)) if rest.len() > selected.len() => {
            Some(token::seal(&context.service.tokens, PURPOSE, format!("{}\0{}", request.scope, last.name).as_bytes()))
        }
        _ => None,
    };
    Ok((selected, next_token))
}
