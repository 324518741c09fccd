//! Mobile push and SMS state: where platform applications, their endpoints and each account's
//! SMS settings are kept (domain catalogs, one per kind of thing), how their keys are built, and
//! their ARNs (`…:app/<platform>/<name>`, `…:endpoint/<platform>/<name>/<id>`).
//!
//! Keys start with the account, so listing one account's things is a prefix scan. Applications
//! and endpoints are not tied to a region, like Wharf's topics: the ARN carries the region of the
//! request that names it.

use wharf_aws::arn;

/// Platform applications; key `<account>/<platform>/<name>`, entry: the application's attributes.
pub const APPLICATIONS: &str = "sns-platform-applications";
/// Platform endpoints; key `<account>/<platform>/<application>/<id>`, entry: `Token`, `Enabled`,
/// `CustomUserData`.
pub const ENDPOINTS: &str = "sns-platform-endpoints";
/// Account SMS settings; key `<account>`, entry: the attributes SetSMSAttributes stored.
pub const SMS_ATTRIBUTES: &str = "sns-sms-attributes";
/// Phone numbers that opted out of SMS; key `<account>/<phone number>`, empty entry.
pub const OPTED_OUT: &str = "sns-sms-opted-out";
/// SMS sandbox destination numbers; key `<account>/<phone number>`, entry: `Status`,
/// `LanguageCode`, `OneTimePassword`.
pub const SANDBOX_NUMBERS: &str = "sns-sms-sandbox-numbers";

/// The push platforms an application may name.
pub const PLATFORMS: &[&str] = &["ADM", "APNS", "APNS_SANDBOX", "BAIDU", "GCM", "MPNS", "WNS"];

/// A platform application: its account, platform and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationId {
    pub account: String,
    pub platform: String,
    pub name: String,
}

impl ApplicationId {
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.account, self.platform, self.name)
    }

    /// The prefix every key of this application's endpoints starts with.
    pub fn endpoint_prefix(&self) -> String {
        format!("{}/", self.key())
    }

    pub fn arn(&self, region: &str) -> String {
        arn::format("sns", region, &self.account, &format!("app/{}/{}", self.platform, self.name))
    }

    pub fn parse_arn(text: &str) -> Option<ApplicationId> {
        let parsed = arn::parse(text).filter(|parsed| parsed.service == "sns")?;
        let rest = parsed.resource.strip_prefix("app/")?;
        let (platform, name) = rest.split_once('/')?;
        (PLATFORMS.contains(&platform) && valid_name(name)).then(|| ApplicationId {
            account: parsed.account.to_string(),
            platform: platform.to_string(),
            name: name.to_string(),
        })
    }
}

/// A platform endpoint: its application and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointId {
    pub application: ApplicationId,
    pub id: String,
}

impl EndpointId {
    pub fn key(&self) -> String {
        format!("{}{}", self.application.endpoint_prefix(), self.id)
    }

    pub fn arn(&self, region: &str) -> String {
        let application = &self.application;
        let resource = format!("endpoint/{}/{}/{}", application.platform, application.name, self.id);
        arn::format("sns", region, &application.account, &resource)
    }

    pub fn parse_arn(text: &str) -> Option<EndpointId> {
        let parsed = arn::parse(text).filter(|parsed| parsed.service == "sns")?;
        let rest = parsed.resource.strip_prefix("endpoint/")?;
        let mut parts = rest.splitn(3, '/');
        let (platform, name, id) = (parts.next()?, parts.next()?, parts.next()?);
        let valid_id = !id.is_empty() && id.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-');
        (PLATFORMS.contains(&platform) && valid_name(name) && valid_id).then(|| EndpointId {
            application: ApplicationId {
                account: parsed.account.to_string(),
                platform: platform.to_string(),
                name: name.to_string(),
            },
            id: id.to_string(),
        })
    }

    /// The endpoint a catalog key names.
    pub fn from_key(key: &str) -> Option<EndpointId> {
        let mut parts = key.splitn(4, '/');
        let (account, platform, name, id) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        Some(EndpointId {
            application: ApplicationId { account: account.into(), platform: platform.into(), name: name.into() },
            id: id.to_string(),
        })
    }
}

/// An application name: 1 to 256 ASCII letters, digits, `_`, `-` and `.`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.'))
}

/// A phone number SNS can send to: E.164, a `+` and up to 15 digits (the `+` may be left out).
pub fn valid_phone_number(number: &str) -> bool {
    let digits = number.strip_prefix('+').unwrap_or(number);
    (2..=15).contains(&digits.len()) && digits.bytes().all(|byte| byte.is_ascii_digit())
}

/// The key of a phone number in an account's number catalogs. A full number written without
/// its `+` (more than 9 digits: not a short code) is the same number as with it.
pub fn number_key(account: &str, number: &str) -> String {
    if !number.starts_with('+') && number.len() > 9 && number.bytes().all(|byte| byte.is_ascii_digit()) {
        return format!("{account}/+{number}");
    }
    format!("{account}/{number}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_and_endpoint_arns_round_trip() {
        let application =
            ApplicationId { account: "000000000000".into(), platform: "GCM".into(), name: "my.app-1".into() };
        let arn = application.arn("eu-west-1");
        assert_eq!(arn, "arn:aws:sns:eu-west-1:000000000000:app/GCM/my.app-1");
        assert_eq!(ApplicationId::parse_arn(&arn), Some(application.clone()));
        let endpoint = EndpointId { application, id: "4b1c-9e".into() };
        let arn = endpoint.arn("eu-west-1");
        assert_eq!(arn, "arn:aws:sns:eu-west-1:000000000000:endpoint/GCM/my.app-1/4b1c-9e");
        assert_eq!(EndpointId::parse_arn(&arn), Some(endpoint.clone()));
        assert_eq!(EndpointId::from_key(&endpoint.key()), Some(endpoint));
    }

    #[test]
    fn malformed_arns_are_refused() {
        for text in [
            "arn:aws:sns:us-east-1:0:app/FOO/name",
            "arn:aws:sns:us-east-1:0:app/GCM/",
            "arn:aws:sns:us-east-1:0:app/GCM/a b",
            "arn:aws:sns:us-east-1:0:topic",
            "arn:aws:sqs:us-east-1:0:app/GCM/name",
        ] {
            assert_eq!(ApplicationId::parse_arn(text), None, "{text}");
        }
        for text in ["arn:aws:sns:us-east-1:0:endpoint/GCM/name", "arn:aws:sns:us-east-1:0:endpoint/GCM/name/a/b"] {
            assert_eq!(EndpointId::parse_arn(text), None, "{text}");
        }
    }

    #[test]
    fn a_full_number_is_one_key_with_or_without_its_plus() {
        assert_eq!(number_key("1", "14255550100"), number_key("1", "+14255550100"));
        assert_eq!(number_key("1", "+14255550100"), "1/+14255550100");
        assert_eq!(number_key("1", "12345"), "1/12345", "short codes keep their form");
    }

    #[test]
    fn phone_numbers() {
        assert!(valid_phone_number("+14255550100"));
        assert!(valid_phone_number("14255550100"));
        for bad in ["", "+", "+1", "+1425555010012345", "+1-425", "phone"] {
            assert!(!valid_phone_number(bad), "{bad}");
        }
    }
}
