//! NextToken paging for the list operations: the token is the index of the next item, opaque to
//! clients, and a token that does not parse is AWS's InvalidParameter.

use crate::error_map::SnsError;

/// The items of one page and the token of the next, if any.
pub fn page<T: Clone>(
    items: &[T],
    token: Option<&str>,
    page_size: usize,
) -> Result<(Vec<T>, Option<String>), SnsError> {
    let start = match token.filter(|token| !token.is_empty()) {
        None => 0,
        Some(token) => token
            .parse::<usize>()
            .ok()
            .filter(|start| *start <= items.len())
            .ok_or_else(|| SnsError::invalid("NextToken"))?,
    };
    let end = start.saturating_add(page_size).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok((items[start..end].to_vec(), next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_tokens() {
        let items: Vec<u32> = (0..5).collect();
        assert_eq!(page(&items, None, 2).unwrap(), (vec![0, 1], Some("2".to_string())));
        assert_eq!(page(&items, Some("4"), 2).unwrap(), (vec![4], None));
        assert!(page(&items, Some("x"), 2).is_err());
        assert!(page(&items, Some("9"), 2).is_err());
    }
}
