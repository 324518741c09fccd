//! Queue URLs: `http://HOST:PORT/ACCOUNT/NAME`. Clients hand them back in many forms (AWS-style
//! hosts, LocalStack's `/queue/REGION/ACCOUNT/NAME` path, a bare name), so parsing looks only
//! at the last path segments.

/// The account (when the URL names one) and queue name a URL refers to.
pub fn parse(url: &str) -> Option<(Option<&str>, &str)> {
    let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = match url.contains("://") {
        true => without_scheme.split_once('/').map_or("", |(_, path)| path),
        false => without_scheme.trim_start_matches('/'),
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    let segments: Vec<&str> = path.split('/').filter(|segment| !segment.is_empty()).collect();
    let name = *segments.last()?;
    let account = segments.len().checked_sub(2).and_then(|index| segments.get(index)).copied();
    Some((account.filter(|account| is_account_id(account)), name))
}

pub fn format(base_url: &str, account: &str, name: &str) -> String {
    format!("{base_url}/{account}/{name}")
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|byte| byte.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn accepts_every_form_clients_send() {
        assert_eq!(parse("http://localhost:4566/000000000000/orders"), Some((Some("000000000000"), "orders")));
        assert_eq!(
            parse("https://sqs.us-east-1.amazonaws.com/123456789012/a.fifo"),
            Some((Some("123456789012"), "a.fifo"))
        );
        assert_eq!(parse("http://h:1/queue/us-east-1/000000000000/q"), Some((Some("000000000000"), "q")));
        assert_eq!(parse("/000000000000/q"), Some((Some("000000000000"), "q")));
        assert_eq!(parse("orders"), Some((None, "orders")));
        assert_eq!(parse("http://localhost:4566/"), None);
        assert_eq!(parse(""), None);
    }
}
