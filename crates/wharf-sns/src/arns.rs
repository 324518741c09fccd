//! Topic and subscription ARNs: `arn:aws:sns:<region>:<account>:<topic>` and the topic's ARN
//! followed by `:<subscription id>`.

use wharf_aws::arn;

pub fn topic(region: &str, account: &str, name: &str) -> String {
    arn::format("sns", region, account, name)
}

pub fn subscription(topic_arn: &str, key: &str) -> String {
    format!("{topic_arn}:{key}")
}

/// (account, topic name) of a topic ARN.
pub fn parse_topic(text: &str) -> Option<(&str, &str)> {
    let parsed = arn::parse(text).filter(|parsed| parsed.service == "sns")?;
    let name = parsed.resource;
    (!name.is_empty() && !name.contains(':')).then_some((parsed.account, name))
}

/// (account, topic name, subscription id) of a subscription ARN.
pub fn parse_subscription(text: &str) -> Option<(&str, &str, &str)> {
    let parsed = arn::parse(text).filter(|parsed| parsed.service == "sns")?;
    let (name, key) = parsed.resource.split_once(':')?;
    (!name.is_empty() && !key.is_empty()).then_some((parsed.account, name, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let topic_arn = topic("us-east-1", "000000000000", "orders");
        assert_eq!(topic_arn, "arn:aws:sns:us-east-1:000000000000:orders");
        assert_eq!(parse_topic(&topic_arn), Some(("000000000000", "orders")));
        let subscription_arn = subscription(&topic_arn, "abc");
        assert_eq!(parse_subscription(&subscription_arn), Some(("000000000000", "orders", "abc")));
        assert_eq!(parse_topic(&subscription_arn), None);
        assert_eq!(parse_topic("arn:aws:sqs:us-east-1:0:q"), None);
        assert_eq!(parse_subscription(&topic_arn), None);
    }
}
