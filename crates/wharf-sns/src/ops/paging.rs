//! NextToken paging for the list operations. Over topics and subscriptions the token is the
//! index of the next item; over a domain catalog it is the last key returned (base64url, without
//! the account's prefix), so a page starts after it even when entries come and go in between.
//! Tokens are opaque to clients, and one that does not parse is AWS's InvalidParameter.

use crate::error_map::SnsError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use wharf_domain::catalog::Entry;
use wharf_domain::Engine;

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

/// A page of catalog entries (key, entry) and the token of the next page, if any.
pub type CatalogPage = (Vec<(String, Entry)>, Option<String>);

/// One page of the catalog entries whose keys start with `prefix`, and the token of the next.
pub fn catalog_page(
    engine: &Engine,
    catalog: &str,
    prefix: &str,
    token: Option<&str>,
    page_size: usize,
) -> Result<CatalogPage, SnsError> {
    let after = match token.filter(|token| !token.is_empty()) {
        None => None,
        Some(token) => {
            let suffix = URL_SAFE_NO_PAD
                .decode(token)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .filter(|suffix| !suffix.is_empty())
                .ok_or_else(|| SnsError::invalid("NextToken"))?;
            Some(format!("{prefix}{suffix}"))
        }
    };
    let mut entries = engine.catalog_entries(catalog, prefix, after.as_deref(), page_size.saturating_add(1));
    if entries.len() <= page_size {
        return Ok((entries, None));
    }
    entries.truncate(page_size);
    let next = entries
        .last()
        .and_then(|(key, _)| key.strip_prefix(prefix))
        .map(|suffix| URL_SAFE_NO_PAD.encode(suffix.as_bytes()));
    Ok((entries, next))
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
