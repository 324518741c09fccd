//! Amazon Resource Names: `arn:aws:<service>:<region>:<account>:<resource>`.

pub fn format(service: &str, region: &str, account: &str, resource: &str) -> String {
    format!("arn:aws:{service}:{region}:{account}:{resource}")
}

/// The parts of an ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

pub fn parse(text: &str) -> Option<Arn<'_>> {
    let mut parts = text.splitn(6, ':');
    if parts.next()? != "arn" {
        return None;
    }
    let arn = Arn {
        partition: parts.next()?,
        service: parts.next()?,
        region: parts.next()?,
        account: parts.next()?,
        resource: parts.next()?,
    };
    (!arn.partition.is_empty() && !arn.service.is_empty()).then_some(arn)
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let text = super::format("sqs", "us-east-1", "000000000000", "orders");
        let arn = super::parse(&text).unwrap();
        assert_eq!(
            (arn.service, arn.region, arn.account, arn.resource),
            ("sqs", "us-east-1", "000000000000", "orders")
        );
        assert!(super::parse("arn:aws").is_none());
        assert!(super::parse("nope:aws:sqs:r:a:q").is_none());
    }
}
