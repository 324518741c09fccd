//! AWS Signature Version 4 for header authentication: canonical request → string to sign →
//! HMAC chain → `Authorization` header value.
//!
//! The bench carries its own small signer instead of using the server's so that a bug in
//! Wharf's verifier cannot be masked by the same bug in the client; the unit tests pin it to
//! the example AWS documents.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Long-term or temporary AWS credentials.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Sent as `X-Amz-Security-Token` (and signed) when present, for temporary credentials.
    pub session_token: Option<String>,
}

/// What the signer needs to know about one HTTP request.
pub struct SigningInput<'a> {
    pub method: &'a str,
    /// The path exactly as it goes on the wire (already percent-encoded once).
    pub path: &'a str,
    /// The raw query string without the leading `?`, possibly empty.
    pub query: &'a str,
    /// Every header to sign, `host` and `x-amz-date` included; names in any case.
    pub headers: &'a [(&'a str, &'a str)],
    /// Lowercase hex SHA-256 of the request body.
    pub payload_sha256_hex: &'a str,
}

/// Signs requests for one service in one region.
#[derive(Clone, Debug)]
pub struct Signer {
    credentials: Credentials,
    region: String,
    service: String,
}

impl Signer {
    pub fn new(credentials: Credentials, region: &str, service: &str) -> Self {
        Self { credentials, region: region.to_owned(), service: service.to_owned() }
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The `Authorization` header value for `input` at `amz_date` (`YYYYMMDDTHHMMSSZ`, which
    /// must also be the value of the signed `x-amz-date` header).
    pub fn authorization(&self, input: &SigningInput<'_>, amz_date: &str) -> String {
        let (canonical, signed_headers) = canonical_request(input);
        let date = amz_date.get(..8).unwrap_or(amz_date);
        let scope = format!("{date}/{}/{}/aws4_request", self.region, self.service);
        let to_sign = string_to_sign(amz_date, &scope, &canonical);
        let key = signing_key(&self.credentials.secret_access_key, date, &self.region, &self.service);
        let signature = hex::encode(hmac_sha256(&key, to_sign.as_bytes()));
        format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            self.credentials.access_key_id
        )
    }
}

/// Lowercase hex SHA-256, as used for the payload hash and the canonical request hash.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Returns the canonical request and the `SignedHeaders` list.
pub fn canonical_request(input: &SigningInput<'_>) -> (String, String) {
    let mut headers: Vec<(String, String)> =
        input.headers.iter().map(|(name, value)| (name.trim().to_ascii_lowercase(), collapse_spaces(value))).collect();
    headers.sort();
    // Repeated headers are joined with commas in the order they were given, as AWS specifies.
    let mut merged: Vec<(String, String)> = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        match merged.last_mut() {
            Some((last_name, last_value)) if *last_name == name => {
                last_value.push(',');
                last_value.push_str(&value);
            }
            _ => merged.push((name, value)),
        }
    }
    let mut canonical_headers = String::new();
    for (name, value) in &merged {
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(value);
        canonical_headers.push('\n');
    }
    let signed_headers = merged.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(";");
    let path = if input.path.is_empty() { "/" } else { input.path };
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        input.method,
        uri_encode(path, false),
        canonical_query(input.query),
        canonical_headers,
        signed_headers,
        input.payload_sha256_hex
    );
    (canonical, signed_headers)
}

pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", sha256_hex(canonical_request.as_bytes()))
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let date_key = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let region_key = hmac_sha256(&date_key, region.as_bytes());
    let service_key = hmac_sha256(&region_key, service.as_bytes());
    hmac_sha256(&service_key, b"aws4_request")
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC is defined for keys of every length (long keys are hashed first), so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC-SHA256 accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Trims the value and collapses runs of spaces into one, as the canonical form requires.
fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Sorted `name=value` pairs, each side decoded then encoded in the canonical way.
fn canonical_query(query: &str) -> String {
    if query.is_empty() {
        return String::new();
    }
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (uri_encode(&percent_decode(name), true), uri_encode(&percent_decode(value), true))
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("&")
}

/// Percent-encodes every byte except the unreserved set `A-Z a-z 0-9 - _ . ~` (and `/` when
/// `encode_slash` is false).
pub fn uri_encode(input: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(input.len());
    for byte in input.bytes() {
        let unreserved = byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~');
        if unreserved || (byte == b'/' && !encode_slash) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes and `+` (form encoding's space); malformed escapes stay as they are.
fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'%' && index + 2 < bytes.len() {
            let high = char::from(bytes[index + 1]).to_digit(16);
            let low = char::from(bytes[index + 2]).to_digit(16);
            if let (Some(high), Some(low)) = (high, low) {
                // Two hex digits always fit in a byte.
                out.push((high * 16 + low) as u8);
                index += 3;
                continue;
            }
        }
        out.push(if byte == b'+' { b' ' } else { byte });
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Formats a time as SigV4's `YYYYMMDDTHHMMSSZ` (UTC).
pub fn amz_date(time: SystemTime) -> String {
    let seconds = time.duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_secs()).unwrap_or(0);
    let days = i64::try_from(seconds / 86_400).unwrap_or(0);
    let second_of_day = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// Days since 1970-01-01 → proleptic Gregorian (year, month, day); Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Month and day are in 1..=12 and 1..=31 by construction, so the casts cannot truncate.
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const EXAMPLE_DATE: &str = "20150830T123600Z";
    const EXAMPLE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn example_headers() -> [(&'static str, &'static str); 3] {
        [
            ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
            ("Host", "iam.amazonaws.com"),
            ("X-Amz-Date", EXAMPLE_DATE),
        ]
    }

    fn example_input<'a>(headers: &'a [(&'a str, &'a str)]) -> SigningInput<'a> {
        SigningInput {
            method: "GET",
            path: "/",
            query: "Version=2010-05-08&Action=ListUsers",
            headers,
            payload_sha256_hex: EMPTY_SHA256,
        }
    }

    #[test]
    fn empty_payload_hash_is_the_documented_one() {
        assert_eq!(sha256_hex(b""), EMPTY_SHA256);
    }

    #[test]
    fn canonical_request_matches_aws_example() {
        let headers = example_headers();
        let (canonical, signed_headers) = canonical_request(&example_input(&headers));
        let expected = "GET\n/\nAction=ListUsers&Version=2010-05-08\n\
            content-type:application/x-www-form-urlencoded; charset=utf-8\n\
            host:iam.amazonaws.com\n\
            x-amz-date:20150830T123600Z\n\n\
            content-type;host;x-amz-date\n\
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(canonical, expected);
        assert_eq!(signed_headers, "content-type;host;x-amz-date");
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
    }

    #[test]
    fn string_to_sign_and_key_match_aws_example() {
        let headers = example_headers();
        let (canonical, _) = canonical_request(&example_input(&headers));
        let to_sign = string_to_sign(EXAMPLE_DATE, "20150830/us-east-1/iam/aws4_request", &canonical);
        assert_eq!(
            to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n\
             f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        assert_eq!(
            hex::encode(signing_key(EXAMPLE_SECRET, "20150830", "us-east-1", "iam")),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
    }

    #[test]
    fn authorization_matches_aws_example() {
        let signer = Signer::new(
            Credentials {
                access_key_id: "AKIDEXAMPLE".into(),
                secret_access_key: EXAMPLE_SECRET.into(),
                session_token: None,
            },
            "us-east-1",
            "iam",
        );
        let headers = example_headers();
        let authorization = signer.authorization(&example_input(&headers), EXAMPLE_DATE);
        assert_eq!(
            authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn header_values_are_trimmed_and_collapsed_and_repeats_joined() {
        let headers = [("X-Custom", "  a   b  "), ("host", "example.com"), ("x-custom", "c")];
        let input =
            SigningInput { method: "POST", path: "", query: "", headers: &headers, payload_sha256_hex: EMPTY_SHA256 };
        let (canonical, signed_headers) = canonical_request(&input);
        assert!(canonical.starts_with("POST\n/\n\nhost:example.com\nx-custom:a b,c\n\n"));
        assert_eq!(signed_headers, "host;x-custom");
    }

    #[test]
    fn query_and_path_are_encoded_canonically() {
        assert_eq!(canonical_query("b=2&a=x%20y&a=1"), "a=1&a=x%20y&b=2");
        assert_eq!(canonical_query("flag"), "flag=");
        assert_eq!(uri_encode("/a b/c~d", false), "/a%20b/c~d");
        assert_eq!(uri_encode("a/b", true), "a%2Fb");
        assert_eq!(percent_decode("%zz%41+"), "%zzA ");
    }

    #[test]
    fn amz_date_formats_utc() {
        let example = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        assert_eq!(amz_date(example), EXAMPLE_DATE);
        assert_eq!(amz_date(UNIX_EPOCH), "19700101T000000Z");
        // 2024-02-29 23:59:59 UTC, a leap day.
        let leap = UNIX_EPOCH + Duration::from_secs(1_709_251_199);
        assert_eq!(amz_date(leap), "20240229T235959Z");
    }
}
