//! AWS Signature Version 4: server-side verification of the `Authorization` header form and the
//! presigned query-string form of `AWS4-HMAC-SHA256`, and a client-side signer for the header
//! form (used by `wharf-bench`).
//!
//! What it owns: parsing the signature parameters, rebuilding the canonical request the way AWS
//! does, deriving the signing key, comparing signatures in constant time, the ±15 minute clock
//! window and presigned-URL expiry, and the AWS error code, HTTP status and message for each way
//! a request can fail. [`sign`] builds its canonical request, string to sign, signing key and
//! `x-amz-date` with the very helpers [`verify`] uses, so SigV4 is written once.
//!
//! What it must not do: no I/O, no async, no clock (the caller passes the time), no global state,
//! no panics on any input (no `unwrap`, `expect` or fallible indexing on request data), and only
//! bounded work: every loop is over input the HTTP edge has already size-limited, the
//! `Authorization` header and the signed-header list have their own caps, and at most six
//! candidate canonical requests are hashed (see [`verify`]).
//!
//! Layout: public types and [`auth_info`] / [`credential_scope`] / [`verify`] / [`sign`] first,
//! then the error type, then private parsing, canonicalisation, time and crypto helpers.
//!
//! # AWS behaviour this follows (and where it was found)
//!
//! * Clock skew on the header form: AWS SQS, SNS and STS answer HTTP 403 with code
//!   `SignatureDoesNotMatch` and the message `Signature expired: 20160106T204043Z is now earlier
//!   than 20160106T211334Z (20160106T212834Z - 15 min.)` (aws/aws-sdk-go#487 for SQS,
//!   aws/aws-sdk-php#642 shows the full SQS XML body, aws/aws-sdk-js#265 for SNS,
//!   aws/aws-cli#6676 for STS). A date too far in the future gives `Signature not yet current:
//!   20181120T211543Z is still later than 20181120T211529Z (20181120T211029Z + 5 min.)`
//!   (serverless/enterprise#11; the 5 minutes there are that service's window, SQS uses 15).
//!   The AWS "Common Errors" pages document `RequestExpired` (400) for the same situation, but
//!   real SQS/SNS/STS replies show `SignatureDoesNotMatch`, so that is what the header form uses.
//! * Presigned URLs: the SQS API Reference "Common Errors" page documents `RequestExpired`
//!   (HTTP 400): "The request reached the service more than 15 minutes after the date stamp on
//!   the request or more than 15 minutes after the request expiration date (such as for
//!   pre-signed URLs), or the date stamp on the request is more than 15 minutes in the future."
//!   So a presigned URL is accepted until `X-Amz-Date + X-Amz-Expires + 15 min`. This matches
//!   what EKS/STS users observe (kubernetes-sigs/aws-iam-authenticator#160: STS presigned URLs
//!   signed with `X-Amz-Expires=60` work for about 15 minutes). The message is EC2's
//!   `Request has expired.`; S3 instead answers `AccessDenied` / `Request has expired`, which
//!   does not apply to the services Wharf serves.
//! * `MissingAuthenticationToken` (403, "Request is missing Authentication Token"),
//!   `IncompleteSignature` (400), `InvalidClientTokenId` (403) are from the SQS API Reference
//!   "Common Errors" page; the SQS XML body for an unknown key reads "The security token included
//!   in the request is invalid." (ex-aws/ex_aws#220).
//! * `IncompleteSignature` wording ("Authorization header requires 'Credential' parameter. ...
//!   Authorization=...", "'X' not a valid key=value pair (missing equal-sign) in Authorization
//!   header: '...'.") is quoted from real replies in aws/aws-sdk-go#289, aws/aws-sdk-ruby#317 and
//!   brendanhay/amazonka#316.
//! * The payload hash of a non-S3 presigned URL is the SHA-256 of the body (empty for GET), not
//!   `UNSIGNED-PAYLOAD`: botocore's `SigV4QueryAuth` inherits `SigV4Auth.payload`, and STS's
//!   own "canonical string should have been" reply in boto/boto3#756 ends in the empty-body hash.
//!   `UNSIGNED-PAYLOAD` is accepted too, because S3-style presigners send it.
//! * Canonical URI: botocore (non-S3) signs `quote(remove_dot_segments(path), safe='/~')` of the
//!   path as it appears in the URL, i.e. the already-encoded path is encoded once more; the AWS
//!   SDK for Rust, Java v2 and JS v3 also double-encode (and normalise), Go v2 double-encodes
//!   without normalising, and S3-style signers use the path verbatim. [`verify`] tries each.

use std::borrow::Cow;
use std::fmt;

use hmac::digest::generic_array::GenericArray;
use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode, percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

/// The only signing algorithm accepted.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far the request timestamp may be from the server clock (AWS uses 15 minutes).
pub const CLOCK_SKEW_SECONDS_MAX: i64 = 15 * 60;
/// Longest `X-Amz-Expires` a presigned URL may declare (seven days, as AWS documents).
pub const PRESIGNED_EXPIRES_SECONDS_MAX: i64 = 604_800;
/// Longest `Authorization` header parsed. Real ones are a few hundred bytes; this cap keeps the
/// parser's work and the echo in error messages small.
pub const AUTHORIZATION_HEADER_BYTES_MAX: usize = 8 * 1024;
/// Most headers a signature may cover. Each one is looked up among the request headers, so this
/// bounds that work to `SIGNED_HEADERS_COUNT_MAX × headers`.
pub const SIGNED_HEADERS_COUNT_MAX: usize = 128;
/// Longest access key id accepted (AWS documents 16..=128).
pub const ACCESS_KEY_ID_BYTES_MAX: usize = 128;
/// Longest region or service name accepted in a credential scope.
pub const SCOPE_PART_BYTES_MAX: usize = 64;
/// Longest piece of client input echoed back inside an error message.
const ERROR_ECHO_BYTES_MAX: usize = 512;

const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
const AWS4_REQUEST: &str = "aws4_request";

/// RFC 3986 unreserved characters stay as they are; everything else is `%XX` (upper case hex).
const QUERY_ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
/// As [`QUERY_ENCODE_SET`] but keeps `/`, as botocore's `quote(path, safe='/~')` does.
const PATH_ENCODE_SET: &AsciiSet = &QUERY_ENCODE_SET.remove(b'/');

/// The parts of an HTTP request that a SigV4 signature covers.
#[derive(Debug, Clone, Copy)]
pub struct RequestToVerify<'a> {
    /// The HTTP method as received (`GET`, `POST`, ...).
    pub method: &'a str,
    /// The raw path as received, still percent-encoded, without the query.
    pub path: &'a str,
    /// The raw query string as received, without the leading `?`.
    pub query: &'a str,
    /// Every header as received, names in any case, repeated names as separate entries in
    /// arrival order. For HTTP/2 the edge must add `host` from the `:authority`.
    pub headers: &'a [(&'a str, &'a str)],
    /// The complete request body.
    pub body: &'a [u8],
}

/// Who signs, for which credential scope and when: what [`sign`] needs besides the request.
#[derive(Clone, Copy)]
pub struct SigningParams<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    /// The token of temporary credentials, sent and signed as `x-amz-security-token`.
    pub session_token: Option<&'a str>,
    pub region: &'a str,
    pub service: &'a str,
    /// The signing time, which becomes `x-amz-date`; instants outside years 0000..=9999 are
    /// clamped, as everywhere in this module.
    pub unix_seconds: i64,
}

impl fmt::Debug for SigningParams<'_> {
    // The secret must never reach a log line through `{:?}`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SigningParams")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.map(|_| "<redacted>"))
            .field("region", &self.region)
            .field("service", &self.service)
            .field("unix_seconds", &self.unix_seconds)
            .finish()
    }
}

/// What the server knows about one access key.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub secret_access_key: String,
    pub account_id: String,
}

impl fmt::Debug for Credentials {
    // The secret must never reach a log line through `{:?}`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Credentials")
            .field("secret_access_key", &"<redacted>")
            .field("account_id", &self.account_id)
            .finish()
    }
}

/// Who signed a request that [`verify`] accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCaller {
    pub access_key_id: String,
    pub account_id: String,
    pub region: String,
    pub service: String,
}

/// The parsed `Credential` value: `AKID/20261128/us-east-1/sqs/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    pub access_key_id: String,
    /// `YYYYMMDD` exactly as the client wrote it; [`verify`] checks it against the timestamp.
    pub date: String,
    pub region: String,
    pub service: String,
}

/// Which SigV4 form a request carries, with its raw parameters. Nothing here is verified yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthInfo<'a> {
    /// No `Authorization` header and no `X-Amz-Algorithm`/`X-Amz-Credential`/`X-Amz-Signature`
    /// query parameter.
    None,
    /// `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
    Header {
        credential: &'a str,
        signed_headers: &'a str,
        signature: &'a str,
        /// The `x-amz-date` header, or else the `date` header, unparsed.
        date: &'a str,
    },
    /// `X-Amz-*` query parameters, percent-decoded.
    Presigned {
        credential: Cow<'a, str>,
        signed_headers: Cow<'a, str>,
        signature: Cow<'a, str>,
        /// `X-Amz-Date`, unparsed.
        date: Cow<'a, str>,
        /// `X-Amz-Expires` in seconds, already checked to be within
        /// `0..=PRESIGNED_EXPIRES_SECONDS_MAX`; `None` when absent.
        expires_seconds: Option<i64>,
    },
}

/// Finds which SigV4 form the request uses and extracts its parameters, reporting malformed
/// ones as AWS does (`IncompleteSignature`). The header form wins if both are present.
pub fn auth_info<'a>(req: &RequestToVerify<'a>) -> Result<AuthInfo<'a>, SigV4Error> {
    let mut authorization = None;
    for (name, value) in req.headers {
        if name.eq_ignore_ascii_case("authorization") {
            if authorization.is_some() {
                // Two headers could be read differently by different layers; refuse both.
                return Err(SigV4Error::IncompleteSignature(
                    "The request must contain exactly one Authorization header.".to_owned(),
                ));
            }
            authorization = Some(*value);
        }
    }
    match authorization {
        Some(value) if !value.trim().is_empty() => parse_authorization_header(value, req.headers),
        _ => parse_presigned_query(req.query),
    }
}

/// Extracts access key, region and service from whichever form is present, without verifying
/// the signature or the time (used when no users are configured, to learn the region/service).
/// `Ok(None)` means the request is unsigned.
pub fn credential_scope(req: &RequestToVerify) -> Result<Option<CredentialScope>, SigV4Error> {
    let credential = match auth_info(req)? {
        AuthInfo::None => return Ok(None),
        AuthInfo::Header { credential, .. } => Cow::Borrowed(credential),
        AuthInfo::Presigned { credential, .. } => credential,
    };
    parse_credential(&credential).map(Some)
}

/// Verifies a SigV4-signed request against the secret that `lookup` returns for its access key.
///
/// Checks, in order: the form is complete (`IncompleteSignature`), the credential scope is well
/// formed and dated the same day as the timestamp, the timestamp is within
/// [`CLOCK_SKEW_SECONDS_MAX`] of `now_unix_seconds` (presigned: not yet past `X-Amz-Date +
/// X-Amz-Expires + 15 min`), the key is known (`InvalidClientTokenId`), a declared
/// `x-amz-content-sha256` matches the body, and finally the signature.
///
/// Real clients disagree on the canonical URI and on the payload hash of presigned URLs, so up
/// to three URI forms (botocore-style normalised and encoded once more, encoded once more
/// without normalising, verbatim) times two payload hashes (the body's SHA-256 and
/// `UNSIGNED-PAYLOAD`, when the client did not declare one) are tried. Each candidate is a
/// different canonical request for the same received bytes, so a signature made for one cannot
/// be replayed as another.
///
/// The query is read with `+` meaning a space, as `application/x-www-form-urlencoded` and the
/// awsQuery handlers read it; a signature over a literal `+` (`%2B`) therefore does not match a
/// raw `+`, which keeps what was signed and what is executed the same.
///
/// `x-amz-security-token` is not interpreted (Wharf issues no session tokens); when the client
/// signed it, the signature covers it like any other header or parameter.
pub fn verify(
    req: &RequestToVerify,
    lookup: impl Fn(&str) -> Option<Credentials>,
    now_unix_seconds: i64,
) -> Result<VerifiedCaller, SigV4Error> {
    let info = auth_info(req)?;
    let (credential, signed_headers, signature, date, expires_seconds, is_presigned) = match &info {
        AuthInfo::None => return Err(SigV4Error::MissingAuthenticationToken),
        AuthInfo::Header { credential, signed_headers, signature, date } => {
            (*credential, *signed_headers, *signature, *date, None, false)
        }
        AuthInfo::Presigned { credential, signed_headers, signature, date, expires_seconds } => {
            (credential.as_ref(), signed_headers.as_ref(), signature.as_ref(), date.as_ref(), *expires_seconds, true)
        }
    };

    let scope = parse_credential(credential)?;
    let timestamp = parse_request_timestamp(date, is_presigned)?;
    let timestamp_text = format_amz_date(timestamp);
    let timestamp_day = timestamp_text.get(..8).unwrap_or_default();
    if scope.date != timestamp_day {
        return Err(SigV4Error::CredentialScopeInvalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from \
             HTTP: '{}' != '{}', from '{}'.",
            echo(&scope.date),
            timestamp_day,
            timestamp_text
        )));
    }
    check_signed_headers(signed_headers)?;
    check_time_window(timestamp, expires_seconds, now_unix_seconds)?;

    let Some(credentials) = lookup(&scope.access_key_id) else {
        return Err(SigV4Error::InvalidClientTokenId);
    };

    let payload_hashes = payload_hash_candidates(req, is_presigned)?;
    // Everything after the URI line is shared by all candidates: build it once.
    let middle = canonical_request_middle(req.query, is_presigned, signed_headers, req.headers);
    let credential_scope_text = credential_scope_text(&scope.date, &scope.region, &scope.service);
    let signing_key = derive_signing_key(&credentials.secret_access_key, &scope.date, &scope.region, &scope.service);
    let Some(provided_signature) = decode_signature(signature) else {
        return Err(SigV4Error::SignatureDoesNotMatch);
    };

    for path in canonical_uri_candidates(req.path) {
        for payload_hash in &payload_hashes {
            let canonical = CanonicalRequest { method: req.method, uri: &path, middle: &middle, payload_hash };
            let string_to_sign = string_to_sign(&canonical, &timestamp_text, &credential_scope_text);
            let mut mac = hmac_sha256(&signing_key);
            mac.update(string_to_sign.as_bytes());
            // `verify_slice` compares in constant time.
            if mac.verify_slice(&provided_signature).is_ok() {
                return Ok(VerifiedCaller {
                    access_key_id: scope.access_key_id,
                    account_id: credentials.account_id,
                    region: scope.region,
                    service: scope.service,
                });
            }
        }
    }
    Err(SigV4Error::SignatureDoesNotMatch)
}

/// The headers [`sign`] returns, in that order. A request header with one of these names is
/// left out of the signature, because the caller sends [`sign`]'s instead.
const SIGNER_HEADER_NAMES: [&str; 3] = ["x-amz-date", "x-amz-security-token", "authorization"];

/// Signs a request in the `Authorization` header form, with the same canonicalisation
/// [`verify`] uses, and returns the headers to add to it: `x-amz-date`, then
/// `x-amz-security-token` when `params` has a session token, then `authorization`. Names are
/// lower case.
///
/// `request.headers` are the headers that will be sent, and every one of them is signed, so
/// they must include `host` (HTTP/1.1) and should leave out any a proxy may rewrite. Headers
/// named like the returned ones are ignored: send the returned ones instead of them. When
/// `x-amz-content-sha256` is among the headers its value is signed as the payload hash (as
/// [`verify`] reads it); otherwise the body's SHA-256 is, and the header is not sent, as the
/// AWS SDKs do for every service but S3. The canonical URI is the form the AWS SDKs sign: dot
/// segments removed, then the path as sent encoded once more.
///
/// Pure and total: any input gives a header list (input [`verify`] would refuse, such as no
/// `host` header or a region that is not name-like, gives a signature it refuses too).
pub fn sign(request: &RequestToVerify<'_>, params: &SigningParams<'_>) -> Vec<(&'static str, String)> {
    let timestamp_text = format_amz_date(params.unix_seconds);
    let date = timestamp_text.get(..8).unwrap_or_default();

    let mut headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .copied()
        .filter(|(name, _)| !SIGNER_HEADER_NAMES.iter().any(|own| name.eq_ignore_ascii_case(own)))
        .collect();
    headers.push(("x-amz-date", &timestamp_text));
    if let Some(token) = params.session_token {
        headers.push(("x-amz-security-token", token));
    }
    let mut names: Vec<String> = headers.iter().map(|(name, _)| name.to_ascii_lowercase()).collect();
    names.sort_unstable();
    names.dedup();
    let signed_headers = names.join(";");

    let body_hash;
    let payload_hash = match declared_payload_hash(request.headers) {
        Some(declared) => declared,
        None => {
            body_hash = hex::encode(Sha256::digest(request.body));
            body_hash.as_str()
        }
    };
    let middle = canonical_request_middle(request.query, false, &signed_headers, &headers);
    let uri = canonical_uri(request.path);
    let canonical = CanonicalRequest { method: request.method, uri: &uri, middle: &middle, payload_hash };
    let credential_scope_text = credential_scope_text(date, params.region, params.service);
    let string_to_sign = string_to_sign(&canonical, &timestamp_text, &credential_scope_text);
    let signing_key = derive_signing_key(params.secret_access_key, date, params.region, params.service);
    let signature = hex::encode(hmac_once(&signing_key, string_to_sign.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{credential_scope_text}, SignedHeaders={signed_headers}, \
         Signature={signature}",
        params.access_key_id
    );

    let mut added = Vec::with_capacity(SIGNER_HEADER_NAMES.len());
    added.push(("x-amz-date", timestamp_text));
    if let Some(token) = params.session_token {
        added.push(("x-amz-security-token", token.to_owned()));
    }
    added.push(("authorization", authorization));
    added
}

/// Why a request failed SigV4 verification. [`SigV4Error::code`], [`SigV4Error::http_status`]
/// and [`SigV4Error::message`] give what AWS answers (awsQuery / XML and awsQueryCompatible
/// services); [`SigV4Error::json_code`] gives the `__type` that pure awsJson services use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// Neither an `Authorization` header nor presigned query parameters.
    #[error("Request is missing Authentication Token")]
    MissingAuthenticationToken,
    /// The signature parameters are missing or malformed; the text says which, in AWS's words.
    #[error("{0}")]
    IncompleteSignature(String),
    /// The access key is not known.
    #[error("The security token included in the request is invalid.")]
    InvalidClientTokenId,
    /// The signature is not the one computed with the key's secret.
    #[error(
        "The request signature we calculated does not match the signature you provided. Check \
         your AWS Secret Access Key and signing method. Consult the service documentation for \
         details."
    )]
    SignatureDoesNotMatch,
    /// The credential scope is wrong (terminator, region, service, or a date other than the
    /// timestamp's day). AWS reports these as `SignatureDoesNotMatch`.
    #[error("{0}")]
    CredentialScopeInvalid(String),
    /// The timestamp is more than 15 minutes in the past (header form).
    #[error("{0}")]
    SignatureExpired(String),
    /// The timestamp is more than 15 minutes in the future (both forms).
    #[error("{0}")]
    SignatureNotYetCurrent(String),
    /// A presigned URL used more than 15 minutes after `X-Amz-Date + X-Amz-Expires`.
    #[error("Request has expired.")]
    RequestExpired,
    /// A declared `x-amz-content-sha256` is not the SHA-256 of the body (S3's code and wording;
    /// without this check the body would not be covered by the signature).
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    ContentSha256Mismatch,
}

impl SigV4Error {
    /// The AWS error code (`<Code>` in XML, the query code in `x-amzn-query-error`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationToken",
            Self::IncompleteSignature(_) => "IncompleteSignature",
            Self::InvalidClientTokenId => "InvalidClientTokenId",
            Self::SignatureDoesNotMatch
            | Self::CredentialScopeInvalid(_)
            | Self::SignatureExpired(_)
            | Self::SignatureNotYetCurrent(_) => "SignatureDoesNotMatch",
            Self::RequestExpired => "RequestExpired",
            Self::ContentSha256Mismatch => "XAmzContentSHA256Mismatch",
        }
    }

    /// The error type that awsJson services without query compatibility (Kinesis, Firehose,
    /// DynamoDB) put in `__type`, as seen in real replies: `UnrecognizedClientException` for an
    /// unknown key and `InvalidSignatureException` (HTTP 400) for a bad or expired signature
    /// (aws/aws-sdk-js#254).
    pub fn json_code(&self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::IncompleteSignature(_) => "IncompleteSignatureException",
            Self::InvalidClientTokenId => "UnrecognizedClientException",
            Self::SignatureDoesNotMatch
            | Self::CredentialScopeInvalid(_)
            | Self::SignatureExpired(_)
            | Self::SignatureNotYetCurrent(_)
            | Self::ContentSha256Mismatch => "InvalidSignatureException",
            Self::RequestExpired => "RequestExpired",
        }
    }

    /// The HTTP status AWS answers with for the XML/query protocol.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::IncompleteSignature(_) | Self::RequestExpired | Self::ContentSha256Mismatch => 400,
            Self::MissingAuthenticationToken
            | Self::InvalidClientTokenId
            | Self::SignatureDoesNotMatch
            | Self::CredentialScopeInvalid(_)
            | Self::SignatureExpired(_)
            | Self::SignatureNotYetCurrent(_) => 403,
        }
    }

    /// The human-readable message, in AWS's wording (the same text as `Display`). Owned because
    /// callers put it straight into an owned error body.
    pub fn message(&self) -> String {
        self.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing the two forms.

fn parse_authorization_header<'a>(
    value: &'a str,
    headers: &'a [(&'a str, &'a str)],
) -> Result<AuthInfo<'a>, SigV4Error> {
    if value.len() > AUTHORIZATION_HEADER_BYTES_MAX {
        return Err(SigV4Error::IncompleteSignature(format!(
            "Authorization header is longer than {AUTHORIZATION_HEADER_BYTES_MAX} bytes."
        )));
    }
    let trimmed = value.trim();
    let (algorithm, rest) = trimmed.split_once(|c: char| c.is_ascii_whitespace() || c == ',').unwrap_or((trimmed, ""));
    let date = find_date_header(headers);

    if algorithm != ALGORITHM {
        if algorithm.starts_with("AWS4-") {
            return Err(SigV4Error::IncompleteSignature(format!(
                "Unsupported AWS 'algorithm': '{}'.",
                echo(algorithm)
            )));
        }
        // Another scheme (SigV2 `AWS key:sig`, `Bearer ...`): AWS answers as if every SigV4
        // parameter were missing.
        return Err(missing_header_parameters(&[true, true, true], date.is_none(), value));
    }

    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(|c: char| c == ',' || c.is_ascii_whitespace()).filter(|part| !part.is_empty()) {
        let Some((key, parameter)) = part.split_once('=') else {
            return Err(SigV4Error::IncompleteSignature(format!(
                "'{}' not a valid key=value pair (missing equal-sign) in Authorization header: \
                 '{}'.",
                echo(part),
                echo(value)
            )));
        };
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            // AWS tolerates parameters it does not know; so do we.
            _ => continue,
        };
        if slot.is_some() {
            return Err(SigV4Error::IncompleteSignature(format!(
                "Authorization header has more than one '{}' parameter: '{}'.",
                echo(key),
                echo(value)
            )));
        }
        *slot = Some(parameter);
    }

    match (credential, signed_headers, signature, date) {
        (Some(credential), Some(signed_headers), Some(signature), Some(date)) => {
            Ok(AuthInfo::Header { credential, signed_headers, signature, date })
        }
        (credential, signed_headers, signature, date) => Err(missing_header_parameters(
            &[credential.is_none(), signature.is_none(), signed_headers.is_none()],
            date.is_none(),
            value,
        )),
    }
}

/// AWS lists every missing piece in one message, in this order, then echoes the header.
fn missing_header_parameters(missing: &[bool; 3], date_missing: bool, authorization: &str) -> SigV4Error {
    let mut message = String::new();
    for (is_missing, name) in missing.iter().zip(["Credential", "Signature", "SignedHeaders"]) {
        if *is_missing {
            message.push_str("Authorization header requires '");
            message.push_str(name);
            message.push_str("' parameter. ");
        }
    }
    if date_missing {
        message.push_str("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ");
    }
    message.push_str("Authorization=");
    message.push_str(&echo(authorization));
    SigV4Error::IncompleteSignature(message)
}

/// `x-amz-date` wins over `date`, as in every SigV4 implementation.
fn find_date_header<'a>(headers: &'a [(&'a str, &'a str)]) -> Option<&'a str> {
    let first = |wanted: &str| {
        headers.iter().find(|(name, _)| name.eq_ignore_ascii_case(wanted)).map(|(_, value)| value.trim())
    };
    first("x-amz-date").or_else(|| first("date"))
}

fn parse_presigned_query(query: &str) -> Result<AuthInfo<'_>, SigV4Error> {
    let mut algorithm = None;
    let mut credential = None;
    let mut date = None;
    let mut expires = None;
    let mut signed_headers = None;
    let mut signature = None;
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        // Only keys that can possibly be ours are decoded; the rest cost nothing here.
        if !raw_key.starts_with("X-") && !raw_key.starts_with("X%2D") {
            continue;
        }
        let key = form_decode_text(raw_key);
        let slot = match key.as_ref() {
            "X-Amz-Algorithm" => &mut algorithm,
            "X-Amz-Credential" => &mut credential,
            "X-Amz-Date" => &mut date,
            "X-Amz-Expires" => &mut expires,
            "X-Amz-SignedHeaders" => &mut signed_headers,
            "X-Amz-Signature" => &mut signature,
            _ => continue,
        };
        if slot.is_some() {
            return Err(SigV4Error::IncompleteSignature(format!(
                "AWS query-string parameters must not repeat '{}'. Re-examine the query-string \
                 parameters.",
                echo(&key)
            )));
        }
        *slot = Some(form_decode_text(raw_value));
    }
    if algorithm.is_none() && credential.is_none() && signature.is_none() {
        return Ok(AuthInfo::None);
    }

    let mut message = String::new();
    for (value, name) in [
        (&algorithm, "X-Amz-Algorithm"),
        (&credential, "X-Amz-Credential"),
        (&signature, "X-Amz-Signature"),
        (&signed_headers, "X-Amz-SignedHeaders"),
        (&date, "X-Amz-Date"),
    ] {
        if value.is_none() {
            message.push_str("AWS query-string parameters must include '");
            message.push_str(name);
            message.push_str("'. ");
        }
    }
    let (Some(algorithm), Some(credential), Some(signature), Some(signed_headers), Some(date)) =
        (algorithm, credential, signature, signed_headers, date)
    else {
        message.push_str("Re-examine the query-string parameters.");
        return Err(SigV4Error::IncompleteSignature(message));
    };
    if algorithm != ALGORITHM {
        return Err(SigV4Error::IncompleteSignature(format!("Unsupported AWS 'algorithm': '{}'.", echo(&algorithm))));
    }
    let expires_seconds = match expires {
        None => None,
        Some(text) => Some(parse_expires(&text)?),
    };
    Ok(AuthInfo::Presigned { credential, signed_headers, signature, date, expires_seconds })
}

/// Wording from S3, the only AWS service that documents these checks.
fn parse_expires(text: &str) -> Result<i64, SigV4Error> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || digits.len() > 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SigV4Error::IncompleteSignature("X-Amz-Expires should be a number".to_owned()));
    }
    if text.starts_with('-') {
        return Err(SigV4Error::IncompleteSignature("X-Amz-Expires must be non-negative".to_owned()));
    }
    // At most 12 digits, so this cannot overflow; the fold avoids any fallible parse.
    let seconds = digits.bytes().fold(0_i64, |acc, b| acc * 10 + i64::from(b - b'0'));
    if seconds > PRESIGNED_EXPIRES_SECONDS_MAX {
        return Err(SigV4Error::IncompleteSignature(format!(
            "X-Amz-Expires must be less than a week (in seconds) that is \
             {PRESIGNED_EXPIRES_SECONDS_MAX}"
        )));
    }
    Ok(seconds)
}

fn parse_credential(credential: &str) -> Result<CredentialScope, SigV4Error> {
    let mut parts = credential.split('/');
    let (Some(access_key_id), Some(date), Some(region), Some(service), Some(terminator), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SigV4Error::IncompleteSignature(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. \
             keyid/date/region/service/term, got '{}'",
            echo(credential)
        )));
    };
    if terminator != AWS4_REQUEST {
        return Err(SigV4Error::CredentialScopeInvalid(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'.",
            echo(terminator)
        )));
    }
    // Region and service end up in ARNs, URLs and metric labels: only name-like text passes.
    if !is_scope_name(region) {
        return Err(SigV4Error::CredentialScopeInvalid(format!(
            "Credential should be scoped to a valid region, not '{}'.",
            echo(region)
        )));
    }
    if !is_scope_name(service) {
        return Err(SigV4Error::CredentialScopeInvalid(format!(
            "Credential should be scoped to a valid service, not '{}'.",
            echo(service)
        )));
    }
    let access_key_is_valid = !access_key_id.is_empty()
        && access_key_id.len() <= ACCESS_KEY_ID_BYTES_MAX
        && access_key_id.bytes().all(|b| b.is_ascii_graphic());
    if !access_key_is_valid {
        return Err(SigV4Error::InvalidClientTokenId);
    }
    Ok(CredentialScope {
        access_key_id: access_key_id.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
    })
}

fn is_scope_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= SCOPE_PART_BYTES_MAX
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn check_signed_headers(signed_headers: &str) -> Result<(), SigV4Error> {
    let mut count = 0_usize;
    let mut has_host = false;
    for name in signed_headers.split(';') {
        count += 1;
        if count > SIGNED_HEADERS_COUNT_MAX {
            return Err(SigV4Error::IncompleteSignature(format!(
                "SignedHeaders lists more than {SIGNED_HEADERS_COUNT_MAX} headers."
            )));
        }
        has_host |= name.eq_ignore_ascii_case("host") || name == ":authority";
    }
    if !has_host {
        // Without the host a signature could be replayed against another endpoint.
        return Err(SigV4Error::IncompleteSignature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".to_owned(),
        ));
    }
    Ok(())
}

fn check_time_window(timestamp: i64, expires_seconds: Option<i64>, now: i64) -> Result<(), SigV4Error> {
    let latest_allowed = now.saturating_add(CLOCK_SKEW_SECONDS_MAX);
    if timestamp > latest_allowed {
        return Err(SigV4Error::SignatureNotYetCurrent(format!(
            "Signature not yet current: {} is still later than {} ({} + 15 min.)",
            format_amz_date(timestamp),
            format_amz_date(latest_allowed),
            format_amz_date(now)
        )));
    }
    match expires_seconds {
        Some(expires) => {
            let expiry = timestamp.saturating_add(expires).saturating_add(CLOCK_SKEW_SECONDS_MAX);
            if now > expiry {
                return Err(SigV4Error::RequestExpired);
            }
        }
        None => {
            let earliest_allowed = now.saturating_sub(CLOCK_SKEW_SECONDS_MAX);
            if timestamp < earliest_allowed {
                return Err(SigV4Error::SignatureExpired(format!(
                    "Signature expired: {} is now earlier than {} ({} - 15 min.)",
                    format_amz_date(timestamp),
                    format_amz_date(earliest_allowed),
                    format_amz_date(now)
                )));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Canonical request pieces.

/// One canonical request, in the pieces [`verify`] varies independently.
struct CanonicalRequest<'a> {
    method: &'a str,
    /// One of [`canonical_uri_candidates`].
    uri: &'a str,
    /// From [`canonical_request_middle`].
    middle: &'a str,
    payload_hash: &'a str,
}

/// The canonical query, canonical headers and signed-header lines, each followed by `\n`: the
/// part of the canonical request between the URI and the payload hash.
fn canonical_request_middle(
    raw_query: &str,
    is_presigned: bool,
    signed_headers: &str,
    headers: &[(&str, &str)],
) -> String {
    let canonical_query = canonical_query(raw_query, is_presigned);
    let canonical_headers = canonical_headers(signed_headers, headers);
    format!("{canonical_query}\n{canonical_headers}\n{signed_headers}\n")
}

/// `date/region/service/aws4_request`.
fn credential_scope_text(date: &str, region: &str, service: &str) -> String {
    format!("{date}/{region}/{service}/{AWS4_REQUEST}")
}

/// `AWS4-HMAC-SHA256\n<timestamp>\n<scope>\n<hex SHA-256 of the canonical request>`. The
/// canonical request is hashed in pieces rather than built, since [`verify`] hashes several.
fn string_to_sign(canonical: &CanonicalRequest<'_>, timestamp_text: &str, credential_scope_text: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(canonical.method.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical.uri.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical.middle.as_bytes());
    hasher.update(canonical.payload_hash.as_bytes());
    let canonical_request_hash = hex::encode(hasher.finalize());
    format!("{ALGORITHM}\n{timestamp_text}\n{credential_scope_text}\n{canonical_request_hash}")
}

/// The form every AWS SDK for a non-S3 service signs: dot segments removed, then the path as
/// it appears in the URL encoded once more (botocore, the SDKs for Rust, Java v2 and JS v3).
fn canonical_uri(raw_path: &str) -> String {
    let raw = if raw_path.is_empty() { "/" } else { raw_path };
    percent_encode(remove_dot_segments(raw).as_bytes(), PATH_ENCODE_SET).to_string()
}

/// The candidate canonical URIs, most common first, without duplicates.
fn canonical_uri_candidates(raw_path: &str) -> Vec<String> {
    let raw = if raw_path.is_empty() { "/" } else { raw_path };
    let mut candidates: Vec<String> = Vec::with_capacity(3);
    for candidate in [canonical_uri(raw), percent_encode(raw.as_bytes(), PATH_ENCODE_SET).to_string(), raw.to_owned()] {
        if !candidates.contains(&candidate) {
            candidates.push(candidate);
        }
    }
    candidates
}

/// botocore's `remove_dot_segments`: RFC 3986 §5.2.4 plus collapsing repeated slashes, which
/// AWS services also require.
fn remove_dot_segments(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let leading = if path.starts_with('/') { "/" } else { "" };
    let trailing = if path.ends_with('/') && !segments.is_empty() { "/" } else { "" };
    let joined = format!("{leading}{}{trailing}", segments.join("/"));
    if joined.is_empty() {
        "/".to_owned()
    } else {
        joined
    }
}

/// Decodes every parameter and encodes it again the RFC 3986 way, then sorts by key and value,
/// so clients that escape differently (`%7E` vs `~`, lower-case hex) still match.
fn canonical_query(raw_query: &str, exclude_signature: bool) -> String {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for pair in raw_query.split('&').filter(|pair| !pair.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = form_decode(raw_key);
        if exclude_signature && key == b"X-Amz-Signature" {
            continue;
        }
        let value = form_decode(raw_value);
        pairs.push((
            percent_encode(&key, QUERY_ENCODE_SET).to_string(),
            percent_encode(&value, QUERY_ENCODE_SET).to_string(),
        ));
    }
    pairs.sort_unstable();
    let mut out = String::with_capacity(raw_query.len());
    for (index, (key, value)) in pairs.iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// `name:value\n` for each signed header in the order the client listed them. Repeated headers
/// are joined with `,` in arrival order; values are trimmed and inner runs of blanks collapsed.
/// A signed header that is absent contributes an empty value, so the signature cannot match.
fn canonical_headers(signed_headers: &str, headers: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for name in signed_headers.split(';') {
        out.extend(name.chars().map(|c| c.to_ascii_lowercase()));
        out.push(':');
        let mut first = true;
        for (header_name, value) in headers {
            if header_name.eq_ignore_ascii_case(name) {
                if !first {
                    out.push(',');
                }
                push_trimmed_and_collapsed(&mut out, value);
                first = false;
            }
        }
        out.push('\n');
    }
    out
}

fn push_trimmed_and_collapsed(out: &mut String, value: &str) {
    for (index, word) in value.split([' ', '\t']).filter(|word| !word.is_empty()).enumerate() {
        if index > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
}

/// The payload hashes to try. A declared hash (header, or `X-Amz-Content-Sha256` in a presigned
/// query) is the only candidate and must match the body; otherwise the body's SHA-256 and
/// `UNSIGNED-PAYLOAD` are both tried.
fn payload_hash_candidates(req: &RequestToVerify, is_presigned: bool) -> Result<Vec<String>, SigV4Error> {
    let from_query = if is_presigned {
        req.query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .filter(|(key, _)| key.starts_with("X-") || key.starts_with("X%2D"))
            .find(|(key, _)| form_decode(key) == b"X-Amz-Content-Sha256")
            .map(|(_, value)| Cow::Owned(form_decode_text(value).into_owned()))
    } else {
        None
    };
    let declared = from_query.or_else(|| declared_payload_hash(req.headers).map(Cow::Borrowed));
    let body_hash = || hex::encode(Sha256::digest(req.body));
    match declared {
        None => Ok(vec![body_hash(), UNSIGNED_PAYLOAD.to_owned()]),
        Some(value) if value == UNSIGNED_PAYLOAD => Ok(vec![value.into_owned()]),
        Some(value) if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) => {
            if value.eq_ignore_ascii_case(&body_hash()) {
                Ok(vec![value.into_owned()])
            } else {
                Err(SigV4Error::ContentSha256Mismatch)
            }
        }
        // Streaming (aws-chunked) payloads are an S3 feature Wharf does not decode.
        Some(_) => Err(SigV4Error::IncompleteSignature(
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a valid sha256 value.".to_owned(),
        )),
    }
}

/// The `x-amz-content-sha256` header, trimmed; the first one if repeated.
fn declared_payload_hash<'a>(headers: &[(&str, &'a str)]) -> Option<&'a str> {
    headers.iter().find(|(name, _)| name.eq_ignore_ascii_case("x-amz-content-sha256")).map(|(_, value)| value.trim())
}

/// Query text reads `+` as a space, as form decoding does.
fn form_decode(raw: &str) -> Vec<u8> {
    if raw.contains('+') {
        let replaced: Vec<u8> = raw.bytes().map(|b| if b == b'+' { b' ' } else { b }).collect();
        percent_decode(&replaced).collect()
    } else {
        percent_decode(raw.as_bytes()).collect()
    }
}

fn form_decode_text(raw: &str) -> Cow<'_, str> {
    if !raw.contains(['+', '%']) {
        return Cow::Borrowed(raw);
    }
    Cow::Owned(String::from_utf8_lossy(&form_decode(raw)).into_owned())
}

/// Keeps client text in error messages short.
fn echo(text: &str) -> Cow<'_, str> {
    if text.len() <= ERROR_ECHO_BYTES_MAX {
        return Cow::Borrowed(text);
    }
    let mut end = ERROR_ECHO_BYTES_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}...", text.get(..end).unwrap_or_default()))
}

// ---------------------------------------------------------------------------------------------
// Time.

/// `YYYYMMDDTHHMMSSZ` (from `x-amz-date`, `X-Amz-Date` or `date`); the header form also accepts
/// an HTTP date in `date`, which botocore sends when the caller set one.
fn parse_request_timestamp(text: &str, is_presigned: bool) -> Result<i64, SigV4Error> {
    parse_amz_date(text).or_else(|| (!is_presigned).then(|| parse_http_date(text)).flatten()).ok_or_else(|| {
        SigV4Error::IncompleteSignature(format!(
            "Date must be in ISO-8601 'basic format'. Got '{}'. See \
                 http://en.wikipedia.org/wiki/ISO_8601",
            echo(text)
        ))
    })
}

fn parse_amz_date(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 16 || bytes.get(8) != Some(&b'T') || bytes.get(15) != Some(&b'Z') {
        return None;
    }
    let year = digits(text, 0, 4)?;
    let month = digits(text, 4, 2)?;
    let day = digits(text, 6, 2)?;
    let hour = digits(text, 9, 2)?;
    let minute = digits(text, 11, 2)?;
    let second = digits(text, 13, 2)?;
    unix_from_parts(year, month, day, hour, minute, second)
}

/// RFC 7231 IMF-fixdate, and the `-0000`/`+0000` zone Python's `formatdate` writes:
/// `Sun, 06 Nov 1994 08:49:37 GMT`.
fn parse_http_date(text: &str) -> Option<i64> {
    let mut fields = text.split_ascii_whitespace();
    let (Some(_weekday), Some(day), Some(month), Some(year), Some(time), Some(zone), None) =
        (fields.next(), fields.next(), fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return None;
    };
    if !matches!(zone, "GMT" | "UTC" | "UT" | "Z" | "+0000" | "-0000") {
        return None;
    }
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month_number = MONTHS.iter().position(|name| *name == month)?;
    let month_number = i64::try_from(month_number).ok()? + 1;
    if day.len() != 2 || year.len() != 4 || time.len() != 8 {
        return None;
    }
    let time_bytes = time.as_bytes();
    if time_bytes.get(2) != Some(&b':') || time_bytes.get(5) != Some(&b':') {
        return None;
    }
    unix_from_parts(
        digits(year, 0, 4)?,
        month_number,
        digits(day, 0, 2)?,
        digits(time, 0, 2)?,
        digits(time, 3, 2)?,
        digits(time, 6, 2)?,
    )
}

fn digits(text: &str, start: usize, length: usize) -> Option<i64> {
    let slice = text.get(start..start.checked_add(length)?)?;
    if !slice.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(slice.bytes().fold(0_i64, |acc, b| acc * 10 + i64::from(b - b'0')))
}

fn unix_from_parts(year: i64, month: i64, day: i64, hour: i64, minute: i64, second: i64) -> Option<i64> {
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// `YYYYMMDDTHHMMSSZ`; instants outside years 0000..=9999 are clamped so the text keeps its
/// shape whatever clock value the caller passes.
fn format_amz_date(unix_seconds: i64) -> String {
    const EARLIEST: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
    const LATEST: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    let seconds = unix_seconds.clamp(EARLIEST, LATEST);
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    // Inverse of `days_from_civil`.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        second_of_day / 3_600,
        second_of_day % 3_600 / 60,
        second_of_day % 60
    )
}

// ---------------------------------------------------------------------------------------------
// Crypto.

fn derive_signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut key_material = Vec::with_capacity(4 + secret.len());
    key_material.extend_from_slice(b"AWS4");
    key_material.extend_from_slice(secret.as_bytes());
    let date_key = hmac_once(&key_material, date.as_bytes());
    let region_key = hmac_once(&date_key, region.as_bytes());
    let service_key = hmac_once(&region_key, service.as_bytes());
    hmac_once(&service_key, AWS4_REQUEST.as_bytes())
}

fn hmac_once(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = hmac_sha256(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA256 keyed with any key, without the fallible `new_from_slice`: a key longer than the
/// 64-byte block is hashed first and a shorter one zero-padded, exactly as RFC 2104 does, so
/// the result is the standard HMAC.
fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    let mut block = [0_u8; 64];
    if key.len() > block.len() {
        for (slot, byte) in block.iter_mut().zip(Sha256::digest(key)) {
            *slot = byte;
        }
    } else {
        for (slot, byte) in block.iter_mut().zip(key) {
            *slot = *byte;
        }
    }
    <Hmac<Sha256> as Mac>::new(&GenericArray::from(block))
}

/// 64 hex digits into 32 bytes, or `None` (which can only mean "does not match").
fn decode_signature(signature: &str) -> Option<[u8; 32]> {
    let mut bytes = [0_u8; 32];
    hex::decode_to_slice(signature, &mut bytes).ok()?;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_round_trip() {
        for text in [
            "19700101T000000Z",
            "20150830T123600Z",
            "20000229T235959Z",
            "20261128T120000Z",
            "00000101T000000Z",
            "99991231T235959Z",
        ] {
            let unix = parse_amz_date(text).expect("valid date");
            assert_eq!(format_amz_date(unix), text);
        }
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(parse_amz_date("20150230T123600Z"), None);
        assert_eq!(parse_amz_date("20150830T243600Z"), None);
        assert_eq!(parse_amz_date("2015083OT123600Z"), None);
        assert_eq!(format_amz_date(i64::MAX), "99991231T235959Z");
        assert_eq!(format_amz_date(i64::MIN), "00000101T000000Z");
    }

    #[test]
    fn http_dates() {
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT"), Some(1_440_938_160));
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 -0000"), Some(1_440_938_160));
        assert_eq!(parse_http_date("Sun, 30 Foo 2015 12:36:00 GMT"), None);
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 +0200"), None);
    }

    #[test]
    fn dot_segments_follow_botocore() {
        assert_eq!(remove_dot_segments("/example1/example2/../.."), "/");
        assert_eq!(remove_dot_segments("//example//"), "/example/");
        assert_eq!(remove_dot_segments("/./example"), "/example");
        assert_eq!(remove_dot_segments("/../.."), "/");
        assert_eq!(remove_dot_segments(""), "/");
    }

    #[test]
    fn query_is_canonicalised() {
        assert_eq!(canonical_query("b=2&a=%7e&a=1&c&d=x+y%2b", false), "a=1&a=~&b=2&c=&d=x%20y%2B");
        assert_eq!(canonical_query("X-Amz-Signature=abc&a=1", true), "a=1".to_owned());
    }

    #[test]
    fn hmac_matches_rfc_4231_case_6() {
        // Key longer than the block size.
        let key = [0xaa_u8; 131];
        let mut mac = hmac_sha256(&key);
        mac.update(b"Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}
