//! SigV4 verification against published AWS vectors, requests signed by botocore (a real
//! client), requests signed here by a small independent signer, and malformed or hostile input;
//! and the public signer [`sigv4::sign`] against the same vectors, the independent signer and
//! [`verify`] itself.

use hmac::{Hmac, Mac};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use wharf_aws::sigv4::{
    self, auth_info, credential_scope, verify, AuthInfo, CredentialScope, Credentials, RequestToVerify, SigV4Error,
    SigningParams, VerifiedCaller,
};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const ACCOUNT: &str = "123456789012";
/// 2015-08-30T12:36:00Z, the date of the AWS test suite.
const SUITE_NOW: i64 = 1_440_938_160;
/// 2026-11-28T12:00:00Z, the date used for the botocore-signed requests below.
const BOTOCORE_NOW: i64 = 1_795_867_200;

fn lookup(access_key_id: &str) -> Option<Credentials> {
    matches!(access_key_id, "AKIDEXAMPLE" | "ASIAEXAMPLE")
        .then(|| Credentials { secret_access_key: SECRET.to_owned(), account_id: ACCOUNT.to_owned() })
}

fn request<'a>(
    method: &'a str,
    path: &'a str,
    query: &'a str,
    headers: &'a [(&'a str, &'a str)],
    body: &'a [u8],
) -> RequestToVerify<'a> {
    RequestToVerify { method, path, query, headers, body }
}

fn caller(access_key_id: &str, region: &str, service: &str) -> VerifiedCaller {
    VerifiedCaller {
        access_key_id: access_key_id.to_owned(),
        account_id: ACCOUNT.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// An independent signer: the test writes the canonical request out by hand, so these tests do
// not share canonicalisation code with the verifier.

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn sign(secret: &str, amz_date: &str, region: &str, service: &str, canonical: &str) -> String {
    let day = &amz_date[..8];
    let scope = format!("{day}/{region}/{service}/aws4_request");
    let string_to_sign =
        format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical.as_bytes())));
    let key = hmac(format!("AWS4{secret}").as_bytes(), day);
    let key = hmac(&key, region);
    let key = hmac(&key, service);
    let key = hmac(&key, "aws4_request");
    hex::encode(hmac(&key, &string_to_sign))
}

fn authorization(key_id: &str, scope: &str, signed_headers: &str, signature: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={key_id}/{scope}, SignedHeaders={signed_headers}, \
         Signature={signature}"
    )
}

// ---------------------------------------------------------------------------------------------
// Published vectors.

#[test]
fn iam_list_users_documented_example() {
    let canonical = "GET\n/\nAction=ListUsers&Version=2010-05-08\n\
        content-type:application/x-www-form-urlencoded; charset=utf-8\n\
        host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
        content-type;host;x-amz-date\n\
        e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let expected = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
    // The test signer itself reproduces the documented signature.
    assert_eq!(sign(SECRET, "20150830T123600Z", "us-east-1", "iam", canonical), expected);

    let auth =
        authorization("AKIDEXAMPLE", "20150830/us-east-1/iam/aws4_request", "content-type;host;x-amz-date", expected);
    let headers = [
        ("Host", "iam.amazonaws.com"),
        ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
        ("X-Amz-Date", "20150830T123600Z"),
        ("Authorization", auth.as_str()),
    ];
    let req = request("GET", "/", "Action=ListUsers&Version=2010-05-08", &headers, b"");
    assert_eq!(verify(&req, lookup, SUITE_NOW), Ok(caller("AKIDEXAMPLE", "us-east-1", "iam")));
}

struct SuiteCase {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    query: &'static str,
    extra_headers: &'static [(&'static str, &'static str)],
    body: &'static [u8],
    signed_headers: &'static str,
    signature: &'static str,
}

const SECURITY_TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

/// The AWS SigV4 test suite (docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html):
/// region us-east-1, service `service`, key AKIDEXAMPLE, 20150830T123600Z.
const SUITE: &[SuiteCase] = &[
    SuiteCase {
        name: "get-vanilla",
        method: "GET",
        path: "/",
        query: "",
        extra_headers: &[],
        body: b"",
        signed_headers: "host;x-amz-date",
        signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    },
    SuiteCase {
        name: "get-vanilla-query-order-key-case",
        method: "GET",
        path: "/",
        query: "Param2=value2&Param1=value1",
        extra_headers: &[],
        body: b"",
        signed_headers: "host;x-amz-date",
        signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    },
    SuiteCase {
        name: "get-vanilla-query-order-key",
        method: "GET",
        path: "/",
        query: "Param1=value2&Param1=Value1",
        extra_headers: &[],
        body: b"",
        signed_headers: "host;x-amz-date",
        signature: "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1",
    },
    SuiteCase {
        name: "get-vanilla-query-order-value",
        method: "GET",
        path: "/",
        query: "Param1=value2&Param1=value1",
        extra_headers: &[],
        body: b"",
        signed_headers: "host;x-amz-date",
        signature: "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694",
    },
    SuiteCase {
        name: "get-vanilla-query-unreserved",
        method: "GET",
        path: "/",
        query: "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        extra_headers: &[],
        body: b"",
        signed_headers: "host;x-amz-date",
        signature: "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
    },
    SuiteCase {
        name: "get-vanilla-empty-query-key",
        method: "GET",
        path: "/",
        query: "Param1=value1",
        extra_headers: &[],
        body: b"",
        signed_headers: "host;x-amz-date",
        signature: "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
    },
    SuiteCase {
        name: "get-unreserved",
        method: "GET",
        path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        query: "",
        extra_headers: &[],
        body: b"",
        signed_headers: "host;x-amz-date",
        signature: "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
    },
    SuiteCase {
        name: "get-utf8",
        method: "GET",
        path: "/\u{1234}",
        query: "",
        extra_headers: &[],
        body: b"",
        signed_headers: "host;x-amz-date",
        signature: "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
    },
    SuiteCase {
        name: "get-header-key-duplicate",
        method: "GET",
        path: "/",
        query: "",
        extra_headers: &[
            ("My-Header1", "value2"),
            ("My-Header1", "value2"),
            ("My-Header1", "value1"),
        ],
        body: b"",
        signed_headers: "host;my-header1;x-amz-date",
        signature: "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
    },
    SuiteCase {
        name: "get-header-value-order",
        method: "GET",
        path: "/",
        query: "",
        extra_headers: &[
            ("My-Header1", "value4"),
            ("My-Header1", "value1"),
            ("My-Header1", "value3"),
            ("My-Header1", "value2"),
        ],
        body: b"",
        signed_headers: "host;my-header1;x-amz-date",
        signature: "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
    },
    SuiteCase {
        name: "get-header-value-trim",
        method: "GET",
        path: "/",
        query: "",
        extra_headers: &[("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"")],
        body: b"",
        signed_headers: "host;my-header1;my-header2;x-amz-date",
        signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
    },
    SuiteCase {
        name: "post-vanilla",
        method: "POST",
        path: "/",
        query: "",
        extra_headers: &[],
        body: b"",
        signed_headers: "host;x-amz-date",
        signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    },
    SuiteCase {
        name: "post-vanilla-query",
        method: "POST",
        path: "/",
        query: "Param1=value1",
        extra_headers: &[],
        body: b"",
        signed_headers: "host;x-amz-date",
        signature: "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
    },
    SuiteCase {
        name: "post-header-key-sort",
        method: "POST",
        path: "/",
        query: "",
        extra_headers: &[("My-Header1", "value1")],
        body: b"",
        signed_headers: "host;my-header1;x-amz-date",
        signature: "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
    },
    SuiteCase {
        name: "post-header-value-case",
        method: "POST",
        path: "/",
        query: "",
        extra_headers: &[("My-Header1", "VALUE1")],
        body: b"",
        signed_headers: "host;my-header1;x-amz-date",
        signature: "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
    },
    SuiteCase {
        name: "post-x-www-form-urlencoded",
        method: "POST",
        path: "/",
        query: "",
        extra_headers: &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Content-Length", "13"),
        ],
        body: b"Param1=value1",
        signed_headers: "content-type;host;x-amz-date",
        signature: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
    },
    SuiteCase {
        name: "post-sts-header-before",
        method: "POST",
        path: "/",
        query: "",
        extra_headers: &[("X-Amz-Security-Token", SECURITY_TOKEN)],
        body: b"",
        signed_headers: "host;x-amz-date;x-amz-security-token",
        signature: "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
    },
    SuiteCase {
        name: "post-sts-header-after",
        method: "POST",
        path: "/",
        query: "",
        extra_headers: &[("X-Amz-Security-Token", SECURITY_TOKEN)],
        body: b"",
        signed_headers: "host;x-amz-date",
        signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    },
    SuiteCase {
        name: "normalize-path/get-relative",
        method: "GET",
        path: "/example/..",
        query: "",
        extra_headers: &[],
        body: b"",
        signed_headers: "host;x-amz-date",
        signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    },
    SuiteCase {
        name: "normalize-path/get-relative-relative",
        method: "GET",
        path: "/example1/example2/../..",
        query: "",
        extra_headers: &[],
        body: b"",
        signed_headers: "host;x-amz-date",
        signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    },
    SuiteCase {
        name: "normalize-path/get-slash",
        method: "GET",
        path: "//",
        query: "",
        extra_headers: &[],
        body: b"",
        signed_headers: "host;x-amz-date",
        signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    },
    SuiteCase {
        name: "normalize-path/get-slash-dot-slash",
        method: "GET",
        path: "/./",
        query: "",
        extra_headers: &[],
        body: b"",
        signed_headers: "host;x-amz-date",
        signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    },
    SuiteCase {
        name: "normalize-path/get-slash-pointless-dot",
        method: "GET",
        path: "/./example",
        query: "",
        extra_headers: &[],
        body: b"",
        signed_headers: "host;x-amz-date",
        signature: "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5",
    },
    SuiteCase {
        name: "normalize-path/get-slashes",
        method: "GET",
        path: "//example//",
        query: "",
        extra_headers: &[],
        body: b"",
        signed_headers: "host;x-amz-date",
        signature: "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
    },
    SuiteCase {
        name: "normalize-path/get-space",
        method: "GET",
        path: "/example space/",
        query: "",
        extra_headers: &[],
        body: b"",
        signed_headers: "host;x-amz-date",
        signature: "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
    },
];

#[test]
fn aws_test_suite_vectors_verify() {
    for case in SUITE {
        let auth = authorization(
            "AKIDEXAMPLE",
            "20150830/us-east-1/service/aws4_request",
            case.signed_headers,
            case.signature,
        );
        let mut headers = vec![("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")];
        headers.extend_from_slice(case.extra_headers);
        headers.push(("Authorization", auth.as_str()));
        let req = request(case.method, case.path, case.query, &headers, case.body);
        assert_eq!(verify(&req, lookup, SUITE_NOW), Ok(caller("AKIDEXAMPLE", "us-east-1", "service")), "{}", case.name);

        // One changed byte in the signature must fail every case.
        let mut bad = case.signature.to_owned();
        bad.replace_range(0..1, if bad.starts_with('0') { "1" } else { "0" });
        let auth = authorization("AKIDEXAMPLE", "20150830/us-east-1/service/aws4_request", case.signed_headers, &bad);
        if let Some(last) = headers.last_mut() {
            *last = ("Authorization", auth.as_str());
        }
        let req = request(case.method, case.path, case.query, &headers, case.body);
        assert_eq!(verify(&req, lookup, SUITE_NOW), Err(SigV4Error::SignatureDoesNotMatch), "{}", case.name);
    }
}

// ---------------------------------------------------------------------------------------------
// Requests signed by botocore 1.43 (the Python SDK behind boto3 and the AWS CLI) at
// 20261128T120000Z with AKIDEXAMPLE / ASIAEXAMPLE and the suite's secret. The host header is
// the one botocore derives from the URL `http://localhost:4566`.

const BOTOCORE_SCOPE: &str = "20261128/us-east-1/sqs/aws4_request";

#[test]
fn botocore_json_post() {
    let auth = authorization(
        "AKIDEXAMPLE",
        BOTOCORE_SCOPE,
        "content-type;host;x-amz-date;x-amz-target",
        "603b41f8cc4dcdb328630dba05b737f6ec7f45b70b03723f915e4dff936c2e6d",
    );
    let body = br#"{"QueueName":"orders","Attributes":{"DelaySeconds":"5"}}"#;
    let headers = [
        ("host", "localhost:4566"),
        ("Content-Type", "application/x-amz-json-1.0"),
        ("X-Amz-Target", "AmazonSQS.CreateQueue"),
        ("X-Amz-Date", "20261128T120000Z"),
        ("Authorization", auth.as_str()),
        ("Content-Length", "56"),
        ("User-Agent", "not signed, may be anything"),
    ];
    let req = request("POST", "/", "", &headers, body);
    assert_eq!(verify(&req, lookup, BOTOCORE_NOW), Ok(caller("AKIDEXAMPLE", "us-east-1", "sqs")));

    let tampered_body = br#"{"QueueName":"orderz","Attributes":{"DelaySeconds":"5"}}"#;
    let req = request("POST", "/", "", &headers, tampered_body);
    assert_eq!(verify(&req, lookup, BOTOCORE_NOW), Err(SigV4Error::SignatureDoesNotMatch));

    let mut tampered_headers = headers;
    tampered_headers[2] = ("X-Amz-Target", "AmazonSQS.DeleteQueue");
    let req = request("POST", "/", "", &tampered_headers, body);
    assert_eq!(verify(&req, lookup, BOTOCORE_NOW), Err(SigV4Error::SignatureDoesNotMatch));

    let req = request("PUT", "/", "", &headers, body);
    assert_eq!(verify(&req, lookup, BOTOCORE_NOW), Err(SigV4Error::SignatureDoesNotMatch));
}

#[test]
fn botocore_encodes_the_path_once_more() {
    // botocore signs `/000000000000/my%2520queue%252Bx` for this path.
    let auth = authorization(
        "AKIDEXAMPLE",
        BOTOCORE_SCOPE,
        "content-type;host;x-amz-date",
        "edd7e9467e2fabc35f3c89f8c0595296c543e66da7f6cefe47d31a8814f1977d",
    );
    let headers = [
        ("Host", "localhost:4566"),
        ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
        ("X-Amz-Date", "20261128T120000Z"),
        ("Authorization", auth.as_str()),
    ];
    let body = b"Action=SendMessage&MessageBody=hi";
    let req = request("POST", "/000000000000/my%20queue%2Bx", "", &headers, body);
    assert!(verify(&req, lookup, BOTOCORE_NOW).is_ok());
    let req = request("POST", "/000000000000/my%20queue%2Bz", "", &headers, body);
    assert_eq!(verify(&req, lookup, BOTOCORE_NOW), Err(SigV4Error::SignatureDoesNotMatch));
}

#[test]
fn botocore_normalises_dot_segments() {
    let auth = authorization(
        "AKIDEXAMPLE",
        BOTOCORE_SCOPE,
        "host;x-amz-date",
        "bae9ad624d5966f8e23b1d8c49efe0cecc3dc32953f6051a54e63f4dd565a27b",
    );
    let headers = [("Host", "localhost:4566"), ("X-Amz-Date", "20261128T120000Z"), ("Authorization", auth.as_str())];
    let req = request("GET", "/a/./b/../000000000000/q", "", &headers, b"");
    assert!(verify(&req, lookup, BOTOCORE_NOW).is_ok());
}

#[test]
fn botocore_session_token_header() {
    let auth = authorization(
        "ASIAEXAMPLE",
        BOTOCORE_SCOPE,
        "content-type;host;x-amz-date;x-amz-security-token",
        "cb2bda174fc7faf951ed62c36f07d6b7de1eeded709b424f4d718a1e49fd3457",
    );
    let headers = [
        ("Host", "localhost:4566"),
        ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
        ("X-Amz-Date", "20261128T120000Z"),
        ("X-Amz-Security-Token", "FQoGZXIvYXdzEXAMPLE//token+with/slash="),
        ("Authorization", auth.as_str()),
    ];
    let req = request("POST", "/", "", &headers, b"Action=ListQueues&Version=2012-11-05");
    assert_eq!(verify(&req, lookup, BOTOCORE_NOW), Ok(caller("ASIAEXAMPLE", "us-east-1", "sqs")));
}

#[test]
fn botocore_query_get_with_escapes() {
    let auth = authorization(
        "AKIDEXAMPLE",
        BOTOCORE_SCOPE,
        "host;x-amz-date",
        "c75b2600d50e3e55408a7b5b9252609bf2cb4a8555b2a994df4e295cdf23421e",
    );
    let headers = [("Host", "localhost:4566"), ("X-Amz-Date", "20261128T120000Z"), ("Authorization", auth.as_str())];
    let query = "Action=SendMessage&MessageBody=hello%20world%2B%26%3D&QueueUrl=http%3A%2F%2Flocalhost%3A4566%2F000000000000%2Fq&Version=2012-11-05";
    let req = request("GET", "/", query, &headers, b"");
    assert!(verify(&req, lookup, BOTOCORE_NOW).is_ok());

    // Other spellings of the same parameters decode to the same canonical query.
    let respelled = "Version=2012-11-05&MessageBody=hello+world%2b%26%3d&Action=SendMessage&QueueUrl=http%3a%2f%2flocalhost%3a4566%2f000000000000%2fq";
    let req = request("GET", "/", respelled, &headers, b"");
    assert!(verify(&req, lookup, BOTOCORE_NOW).is_ok());

    // A raw `+` is a space, never the `+` that was signed as `%2B`.
    let plus_swapped = query.replace("%2B", "+");
    let req = request("GET", "/", &plus_swapped, &headers, b"");
    assert_eq!(verify(&req, lookup, BOTOCORE_NOW), Err(SigV4Error::SignatureDoesNotMatch));
}

const PRESIGNED_QUERY: &str = "Action=GetQueueUrl&QueueName=my%20queue&Version=2012-11-05&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261128%2Fus-east-1%2Fsqs%2Faws4_request&X-Amz-Date=20261128T120000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=fe875ff3b8d9cc2a5abd68b1790c511a7189dc10cb48d5fe0052aabe1473cf02";

#[test]
fn botocore_presigned_url() {
    let headers = [("Host", "localhost:4566")];
    let req = request("GET", "/", PRESIGNED_QUERY, &headers, b"");
    assert_eq!(verify(&req, lookup, BOTOCORE_NOW), Ok(caller("AKIDEXAMPLE", "us-east-1", "sqs")));
    assert_eq!(
        auth_info(&req).map(|info| matches!(info, AuthInfo::Presigned { expires_seconds: Some(300), .. })),
        Ok(true)
    );

    // Accepted until X-Amz-Date + X-Amz-Expires + 15 minutes, as the AWS docs describe.
    assert!(verify(&req, lookup, BOTOCORE_NOW + 300 + 900).is_ok());
    let expired = verify(&req, lookup, BOTOCORE_NOW + 300 + 901);
    assert_eq!(expired, Err(SigV4Error::RequestExpired));
    let error = SigV4Error::RequestExpired;
    assert_eq!(
        (error.code(), error.http_status(), error.message().as_str()),
        ("RequestExpired", 400, "Request has expired.")
    );

    // Dated more than 15 minutes in the future.
    assert!(matches!(verify(&req, lookup, BOTOCORE_NOW - 901), Err(SigV4Error::SignatureNotYetCurrent(_))));

    // Tampering with a signed parameter or the host.
    let tampered = PRESIGNED_QUERY.replace("my%20queue", "your%20queue");
    let req = request("GET", "/", &tampered, &headers, b"");
    assert_eq!(verify(&req, lookup, BOTOCORE_NOW), Err(SigV4Error::SignatureDoesNotMatch));
    let longer = PRESIGNED_QUERY.replace("X-Amz-Expires=300", "X-Amz-Expires=3000");
    let req = request("GET", "/", &longer, &headers, b"");
    assert_eq!(verify(&req, lookup, BOTOCORE_NOW), Err(SigV4Error::SignatureDoesNotMatch));
    let other_host = [("Host", "attacker.example")];
    let req = request("GET", "/", PRESIGNED_QUERY, &other_host, b"");
    assert_eq!(verify(&req, lookup, BOTOCORE_NOW), Err(SigV4Error::SignatureDoesNotMatch));

    // Moving the signature elsewhere in the query changes nothing: it is not signed.
    let (rest, signature) = PRESIGNED_QUERY.split_once("&X-Amz-Signature=").expect("signature present");
    let moved = format!("X-Amz-Signature={signature}&{rest}");
    let req = request("GET", "/", &moved, &headers, b"");
    assert!(verify(&req, lookup, BOTOCORE_NOW).is_ok());
}

#[test]
fn botocore_presigned_url_with_session_token_and_path() {
    let query = "Action=ReceiveMessage&Version=2012-11-05&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAEXAMPLE%2F20261128%2Fus-east-1%2Fsqs%2Faws4_request&X-Amz-Date=20261128T120000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Security-Token=FQoGZXIvYXdzEXAMPLE%2F%2Ftoken%2Bwith%2Fslash%3D&X-Amz-Signature=bb76c37432a4b72a718497ab5536e72189c1fa88b750ad80fda3760f5389f808";
    let headers = [("Host", "localhost:4566")];
    let req = request("GET", "/000000000000/q", query, &headers, b"");
    assert_eq!(verify(&req, lookup, BOTOCORE_NOW + 3_000), Ok(caller("ASIAEXAMPLE", "us-east-1", "sqs")));
    let req = request("GET", "/000000000000/r", query, &headers, b"");
    assert_eq!(verify(&req, lookup, BOTOCORE_NOW), Err(SigV4Error::SignatureDoesNotMatch));
}

// ---------------------------------------------------------------------------------------------
// A JSON POST signed here, and everything that must break it.

const JSON_BODY: &[u8] = br#"{"QueueUrl":"http://localhost:4566/000000000000/q","MessageBody":"hi"}"#;
const JSON_DATE: &str = "20261128T120000Z";

fn json_canonical(body: &[u8], payload_hash: Option<&str>) -> (String, &'static str) {
    let hash = payload_hash.map(str::to_owned).unwrap_or_else(|| hex::encode(Sha256::digest(body)));
    let signed = "content-type;host;x-amz-date;x-amz-target";
    let canonical = format!(
        "POST\n/\n\ncontent-type:application/x-amz-json-1.0\nhost:localhost:4566\n\
         x-amz-date:{JSON_DATE}\nx-amz-target:AmazonSQS.SendMessage\n\n{signed}\n{hash}"
    );
    (canonical, signed)
}

fn json_auth(secret: &str, payload_hash: Option<&str>) -> String {
    let (canonical, signed) = json_canonical(JSON_BODY, payload_hash);
    let signature = sign(secret, JSON_DATE, "eu-west-1", "sqs", &canonical);
    authorization("AKIDEXAMPLE", "20261128/eu-west-1/sqs/aws4_request", signed, &signature)
}

fn json_headers<'a>(auth: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut headers = vec![
        ("Host", "localhost:4566"),
        ("Content-Type", "application/x-amz-json-1.0"),
        ("X-Amz-Target", "AmazonSQS.SendMessage"),
        ("X-Amz-Date", JSON_DATE),
        ("Authorization", auth),
    ];
    headers.extend_from_slice(extra);
    headers
}

#[test]
fn json_post_verifies_and_reports_the_caller() {
    let auth = json_auth(SECRET, None);
    let headers = json_headers(&auth, &[("Accept-Encoding", "identity")]);
    let req = request("POST", "/", "", &headers, JSON_BODY);
    assert_eq!(verify(&req, lookup, BOTOCORE_NOW), Ok(caller("AKIDEXAMPLE", "eu-west-1", "sqs")));
    assert_eq!(
        credential_scope(&req),
        Ok(Some(CredentialScope {
            access_key_id: "AKIDEXAMPLE".to_owned(),
            date: "20261128".to_owned(),
            region: "eu-west-1".to_owned(),
            service: "sqs".to_owned(),
        }))
    );
}

#[test]
fn json_post_tampering_fails() {
    let auth = json_auth(SECRET, None);
    let headers = json_headers(&auth, &[]);

    let mut body = JSON_BODY.to_vec();
    for index in [0, JSON_BODY.len() / 2, JSON_BODY.len() - 1] {
        body[index] ^= 0x01;
        let req = request("POST", "/", "", &headers, &body);
        assert_eq!(verify(&req, lookup, BOTOCORE_NOW), Err(SigV4Error::SignatureDoesNotMatch));
        body[index] ^= 0x01;
    }

    let mut tampered = headers.clone();
    tampered[1] = ("Content-Type", "application/x-amz-json-1.1");
    let req = request("POST", "/", "", &tampered, JSON_BODY);
    assert_eq!(verify(&req, lookup, BOTOCORE_NOW), Err(SigV4Error::SignatureDoesNotMatch));

    // A second value for a signed header changes its canonical value.
    let mut duplicated = headers.clone();
    duplicated.push(("X-Amz-Target", "AmazonSQS.PurgeQueue"));
    let req = request("POST", "/", "", &duplicated, JSON_BODY);
    assert_eq!(verify(&req, lookup, BOTOCORE_NOW), Err(SigV4Error::SignatureDoesNotMatch));

    // A signed header that disappears.
    let missing: Vec<_> = headers.iter().copied().filter(|(name, _)| *name != "X-Amz-Target").collect();
    let req = request("POST", "/", "", &missing, JSON_BODY);
    assert_eq!(verify(&req, lookup, BOTOCORE_NOW), Err(SigV4Error::SignatureDoesNotMatch));

    // A query string that was not there when signing.
    let req = request("POST", "/", "Action=PurgeQueue", &headers, JSON_BODY);
    assert_eq!(verify(&req, lookup, BOTOCORE_NOW), Err(SigV4Error::SignatureDoesNotMatch));
}

#[test]
fn json_post_wrong_secret_or_unknown_key() {
    let auth = json_auth("not-the-secret", None);
    let headers = json_headers(&auth, &[]);
    let req = request("POST", "/", "", &headers, JSON_BODY);
    assert_eq!(verify(&req, lookup, BOTOCORE_NOW), Err(SigV4Error::SignatureDoesNotMatch));

    let auth = json_auth(SECRET, None).replace("AKIDEXAMPLE", "AKIDUNKNOWN");
    let headers = json_headers(&auth, &[]);
    let req = request("POST", "/", "", &headers, JSON_BODY);
    let error = verify(&req, lookup, BOTOCORE_NOW).expect_err("unknown key");
    assert_eq!(error, SigV4Error::InvalidClientTokenId);
    assert_eq!(
        (error.code(), error.http_status(), error.message().as_str()),
        ("InvalidClientTokenId", 403, "The security token included in the request is invalid.")
    );
}

#[test]
fn json_post_clock_skew() {
    let auth = json_auth(SECRET, None);
    let headers = json_headers(&auth, &[]);
    let req = request("POST", "/", "", &headers, JSON_BODY);

    assert!(verify(&req, lookup, BOTOCORE_NOW + 900).is_ok());
    assert!(verify(&req, lookup, BOTOCORE_NOW - 900).is_ok());

    let error = verify(&req, lookup, BOTOCORE_NOW + 901).expect_err("too old");
    assert_eq!(
        error,
        SigV4Error::SignatureExpired(
            "Signature expired: 20261128T120000Z is now earlier than 20261128T120001Z \
             (20261128T121501Z - 15 min.)"
                .to_owned()
        )
    );
    assert_eq!((error.code(), error.http_status()), ("SignatureDoesNotMatch", 403));

    let error = verify(&req, lookup, BOTOCORE_NOW - 3_600).expect_err("from the future");
    assert_eq!(
        error.message(),
        "Signature not yet current: 20261128T120000Z is still later than 20261128T111500Z \
         (20261128T110000Z + 15 min.)"
    );
    assert_eq!(error.code(), "SignatureDoesNotMatch");

    // Absurd clocks give errors, not panics or overflow.
    for now in [i64::MIN, i64::MAX, 0, -1] {
        assert!(verify(&req, lookup, now).is_err());
    }
}

#[test]
fn json_post_declared_payload_hash() {
    let body_hash = hex::encode(Sha256::digest(JSON_BODY));
    let auth = json_auth(SECRET, Some(&body_hash));
    let headers = json_headers(&auth, &[("x-amz-content-sha256", &body_hash)]);
    let req = request("POST", "/", "", &headers, JSON_BODY);
    assert!(verify(&req, lookup, BOTOCORE_NOW).is_ok());

    // The declared hash covers the body even though the header itself is not signed.
    let req = request("POST", "/", "", &headers, b"{}");
    let error = verify(&req, lookup, BOTOCORE_NOW).expect_err("body changed");
    assert_eq!(error, SigV4Error::ContentSha256Mismatch);
    assert_eq!((error.code(), error.http_status()), ("XAmzContentSHA256Mismatch", 400));

    // UNSIGNED-PAYLOAD leaves the body out of the signature, as the client asked.
    let auth = json_auth(SECRET, Some("UNSIGNED-PAYLOAD"));
    let headers = json_headers(&auth, &[("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")]);
    let req = request("POST", "/", "", &headers, b"anything");
    assert!(verify(&req, lookup, BOTOCORE_NOW).is_ok());

    // A signer that uses UNSIGNED-PAYLOAD without sending the header (aws-sigv4 outside S3).
    let headers = json_headers(&auth, &[]);
    let req = request("POST", "/", "", &headers, JSON_BODY);
    assert!(verify(&req, lookup, BOTOCORE_NOW).is_ok());

    let headers = json_headers(&auth, &[("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")]);
    let req = request("POST", "/", "", &headers, JSON_BODY);
    assert!(matches!(verify(&req, lookup, BOTOCORE_NOW), Err(SigV4Error::IncompleteSignature(_))));
}

#[test]
fn date_header_forms() {
    // An ISO `Date` header instead of `X-Amz-Date`.
    let canonical_with_date = |date: &str| {
        format!(
            "POST\n/\n\ncontent-type:application/x-amz-json-1.0\ndate:{date}\n\
             host:localhost:4566\nx-amz-target:AmazonSQS.SendMessage\n\n\
             content-type;date;host;x-amz-target\n{}",
            hex::encode(Sha256::digest(JSON_BODY))
        )
    };
    let canonical = canonical_with_date(JSON_DATE);
    let signature = sign(SECRET, JSON_DATE, "eu-west-1", "sqs", &canonical);
    let auth = authorization(
        "AKIDEXAMPLE",
        "20261128/eu-west-1/sqs/aws4_request",
        "content-type;date;host;x-amz-target",
        &signature,
    );
    let headers = [
        ("Host", "localhost:4566"),
        ("Content-Type", "application/x-amz-json-1.0"),
        ("X-Amz-Target", "AmazonSQS.SendMessage"),
        ("Date", JSON_DATE),
        ("Authorization", auth.as_str()),
    ];
    let req = request("POST", "/", "", &headers, JSON_BODY);
    assert!(verify(&req, lookup, BOTOCORE_NOW).is_ok());

    // An HTTP date, as botocore writes when the caller set a Date header.
    let http_date = "Sat, 28 Nov 2026 12:00:00 GMT";
    let canonical = canonical_with_date(http_date);
    let signature = sign(SECRET, JSON_DATE, "eu-west-1", "sqs", &canonical);
    let auth = authorization(
        "AKIDEXAMPLE",
        "20261128/eu-west-1/sqs/aws4_request",
        "content-type;date;host;x-amz-target",
        &signature,
    );
    let headers = [
        ("Host", "localhost:4566"),
        ("Content-Type", "application/x-amz-json-1.0"),
        ("X-Amz-Target", "AmazonSQS.SendMessage"),
        ("Date", http_date),
        ("Authorization", auth.as_str()),
    ];
    let req = request("POST", "/", "", &headers, JSON_BODY);
    assert!(verify(&req, lookup, BOTOCORE_NOW).is_ok());
}

#[test]
fn credential_date_must_match_the_timestamp() {
    let auth = json_auth(SECRET, None).replace("20261128/eu-west-1", "20261127/eu-west-1");
    let headers = json_headers(&auth, &[]);
    let req = request("POST", "/", "", &headers, JSON_BODY);
    let error = verify(&req, lookup, BOTOCORE_NOW).expect_err("scope date differs");
    assert_eq!(
        error.message(),
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from \
         HTTP: '20261127' != '20261128', from '20261128T120000Z'."
    );
    assert_eq!((error.code(), error.http_status()), ("SignatureDoesNotMatch", 403));
}

// ---------------------------------------------------------------------------------------------
// Missing and malformed signatures.

#[test]
fn unsigned_request() {
    let headers = [("Host", "localhost:4566")];
    let req = request("POST", "/", "Action=ListQueues", &headers, b"");
    assert_eq!(credential_scope(&req), Ok(None));
    assert_eq!(auth_info(&req), Ok(AuthInfo::None));
    let error = verify(&req, lookup, BOTOCORE_NOW).expect_err("unsigned");
    assert_eq!(
        (error.code(), error.http_status(), error.message().as_str()),
        ("MissingAuthenticationToken", 403, "Request is missing Authentication Token")
    );

    // A blank Authorization header is no signature either.
    let headers = [("Host", "localhost:4566"), ("Authorization", "   ")];
    let req = request("POST", "/", "", &headers, b"");
    assert_eq!(verify(&req, lookup, BOTOCORE_NOW), Err(SigV4Error::MissingAuthenticationToken));
}

fn header_error(authorization: &str, with_date: bool) -> SigV4Error {
    let mut headers = vec![("Host", "localhost:4566"), ("Authorization", authorization)];
    if with_date {
        headers.push(("X-Amz-Date", JSON_DATE));
    }
    let req = request("POST", "/", "", &headers, b"");
    let error = verify(&req, lookup, BOTOCORE_NOW).expect_err("malformed");
    // The cheap path never panics on the same input.
    let _ = credential_scope(&req);
    error
}

#[test]
fn malformed_authorization_headers_use_aws_wording() {
    let error = header_error("Bearer eyJhbGciOiJIUzI1NiJ9.e30.x", false);
    assert_eq!(
        error.message(),
        "Authorization header requires 'Credential' parameter. Authorization header requires \
         'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. \
         Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. \
         Authorization=Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"
    );
    assert_eq!((error.code(), error.http_status()), ("IncompleteSignature", 400));

    let error = header_error("AWS4-HMAC-SHA256 Credential=ABCDEF", true);
    assert_eq!(
        error.message(),
        "Authorization header requires 'Signature' parameter. Authorization header requires \
         'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256 Credential=ABCDEF"
    );

    let value = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE /20150620/us-east-1/sqs/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=00";
    let error = header_error(value, true);
    assert_eq!(
        error.message(),
        format!(
            "'/20150620/us-east-1/sqs/aws4_request' not a valid key=value pair (missing \
             equal-sign) in Authorization header: '{value}'."
        )
    );

    let error = header_error(
        "AWS4-ECDSA-P256-SHA256 Credential=AKIDEXAMPLE/20261128/us-east-1/sqs/aws4_request, \
         SignedHeaders=host, Signature=00",
        true,
    );
    assert_eq!(error.message(), "Unsupported AWS 'algorithm': 'AWS4-ECDSA-P256-SHA256'.");

    let error = header_error(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261128/us-east-1/sqs, SignedHeaders=host, \
         Signature=00",
        true,
    );
    assert_eq!(
        error.message(),
        "Credential must have exactly 5 slash-delimited elements, e.g. \
         keyid/date/region/service/term, got 'AKIDEXAMPLE/20261128/us-east-1/sqs'"
    );

    let error = header_error(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261128/us-east-1/sqs/aws5_request, \
         SignedHeaders=host, Signature=00",
        true,
    );
    assert_eq!(
        error.message(),
        "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'."
    );
    assert_eq!(error.code(), "SignatureDoesNotMatch");

    let error = header_error(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261128/us-east-1/sqs/aws4_request, \
         SignedHeaders=x-amz-date, Signature=00",
        true,
    );
    assert_eq!(error.message(), "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");

    let mut headers = vec![
        ("Host", "localhost:4566"),
        (
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261128/us-east-1/sqs/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=00",
        ),
        ("X-Amz-Date", "2026-11-28T12:00:00Z"),
    ];
    let req = request("POST", "/", "", &headers, b"");
    assert_eq!(
        verify(&req, lookup, BOTOCORE_NOW),
        Err(SigV4Error::IncompleteSignature(
            "Date must be in ISO-8601 'basic format'. Got '2026-11-28T12:00:00Z'. See \
             http://en.wikipedia.org/wiki/ISO_8601"
                .to_owned()
        ))
    );

    // A short or non-hex signature simply does not match.
    headers[2] = ("X-Amz-Date", JSON_DATE);
    let req = request("POST", "/", "", &headers, b"");
    assert_eq!(verify(&req, lookup, BOTOCORE_NOW), Err(SigV4Error::SignatureDoesNotMatch));

    // Two Authorization headers are refused rather than guessed between.
    headers.push(("authorization", "AWS4-HMAC-SHA256 Credential=x"));
    let req = request("POST", "/", "", &headers, b"");
    assert!(matches!(verify(&req, lookup, BOTOCORE_NOW), Err(SigV4Error::IncompleteSignature(_))));
}

#[test]
fn odd_scope_parts_are_rejected_before_lookup() {
    for (credential, expected_code) in [
        ("AKIDEXAMPLE/20261128/us_east_1/sqs/aws4_request", "SignatureDoesNotMatch"),
        ("AKIDEXAMPLE/20261128//sqs/aws4_request", "SignatureDoesNotMatch"),
        ("AKIDEXAMPLE/20261128/us-east-1/sq%73/aws4_request", "SignatureDoesNotMatch"),
        ("/20261128/us-east-1/sqs/aws4_request", "InvalidClientTokenId"),
        ("AKIDEXAMPLE/2026/us-east-1/sqs/aws4_request", "SignatureDoesNotMatch"),
        ("a/b/c/d/e/f", "IncompleteSignature"),
    ] {
        let auth = format!("AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host;x-amz-date, Signature=00");
        let error = header_error(&auth, true);
        assert_eq!(error.code(), expected_code, "{credential}: {error}");
    }
}

#[test]
fn huge_inputs_are_rejected_cheaply() {
    let huge = format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261128/us-east-1/sqs/aws4_request, \
         SignedHeaders=host, Signature={}",
        "0".repeat(1 << 20)
    );
    let error = header_error(&huge, true);
    assert!(matches!(error, SigV4Error::IncompleteSignature(_)));
    // The echo in the message stays small.
    assert!(error.message().len() < 2_048);

    let many = vec!["x-h"; 5_000].join(";");
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261128/us-east-1/sqs/aws4_request, \
         SignedHeaders=host;{many}, Signature=00"
    );
    let error = header_error(&auth, true);
    assert!(matches!(error, SigV4Error::IncompleteSignature(_)), "{error}");

    let long_key = format!(
        "AWS4-HMAC-SHA256 Credential={}/20261128/us-east-1/sqs/aws4_request, \
         SignedHeaders=host, Signature=00",
        "A".repeat(129)
    );
    assert_eq!(header_error(&long_key, true), SigV4Error::InvalidClientTokenId);
}

#[test]
fn malformed_presigned_queries() {
    let headers = [("Host", "localhost:4566")];
    let presigned_error = |query: &str| {
        let req = request("GET", "/", query, &headers, b"");
        verify(&req, lookup, BOTOCORE_NOW).expect_err("malformed presigned")
    };

    let error = presigned_error("Action=ListQueues&X-Amz-Algorithm=AWS4-HMAC-SHA256");
    assert_eq!(
        error.message(),
        "AWS query-string parameters must include 'X-Amz-Credential'. AWS query-string \
         parameters must include 'X-Amz-Signature'. AWS query-string parameters must include \
         'X-Amz-SignedHeaders'. AWS query-string parameters must include 'X-Amz-Date'. \
         Re-examine the query-string parameters."
    );
    assert_eq!((error.code(), error.http_status()), ("IncompleteSignature", 400));

    let week_and_a_second = PRESIGNED_QUERY.replace("X-Amz-Expires=300", "X-Amz-Expires=604801");
    assert_eq!(
        presigned_error(&week_and_a_second).message(),
        "X-Amz-Expires must be less than a week (in seconds) that is 604800"
    );
    let negative = PRESIGNED_QUERY.replace("X-Amz-Expires=300", "X-Amz-Expires=-5");
    assert_eq!(presigned_error(&negative).message(), "X-Amz-Expires must be non-negative");
    let words = PRESIGNED_QUERY.replace("X-Amz-Expires=300", "X-Amz-Expires=soon");
    assert_eq!(presigned_error(&words).message(), "X-Amz-Expires should be a number");
    let twice = format!("{PRESIGNED_QUERY}&X-Amz-Credential=x");
    assert!(matches!(presigned_error(&twice), SigV4Error::IncompleteSignature(_)));
    let algorithm = PRESIGNED_QUERY.replace("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=HMAC");
    assert_eq!(presigned_error(&algorithm).message(), "Unsupported AWS 'algorithm': 'HMAC'.");

    // credential_scope reads the presigned form too, without checking the signature.
    let req = request("GET", "/", PRESIGNED_QUERY, &headers, b"");
    assert_eq!(credential_scope(&req).map(|scope| scope.map(|scope| scope.service)), Ok(Some("sqs".to_owned())));
}

#[test]
fn error_table() {
    let rows: [(SigV4Error, &str, &str, u16); 9] = [
        (
            SigV4Error::MissingAuthenticationToken,
            "MissingAuthenticationToken",
            "MissingAuthenticationTokenException",
            403,
        ),
        (SigV4Error::IncompleteSignature("x".into()), "IncompleteSignature", "IncompleteSignatureException", 400),
        (SigV4Error::InvalidClientTokenId, "InvalidClientTokenId", "UnrecognizedClientException", 403),
        (SigV4Error::SignatureDoesNotMatch, "SignatureDoesNotMatch", "InvalidSignatureException", 403),
        (SigV4Error::CredentialScopeInvalid("x".into()), "SignatureDoesNotMatch", "InvalidSignatureException", 403),
        (SigV4Error::SignatureExpired("x".into()), "SignatureDoesNotMatch", "InvalidSignatureException", 403),
        (SigV4Error::SignatureNotYetCurrent("x".into()), "SignatureDoesNotMatch", "InvalidSignatureException", 403),
        (SigV4Error::RequestExpired, "RequestExpired", "RequestExpired", 400),
        (SigV4Error::ContentSha256Mismatch, "XAmzContentSHA256Mismatch", "InvalidSignatureException", 400),
    ];
    for (error, code, json_code, status) in rows {
        assert_eq!(error.code(), code);
        assert_eq!(error.json_code(), json_code);
        assert_eq!(error.http_status(), status);
        assert_eq!(error.message(), error.to_string());
    }
    assert_eq!(
        SigV4Error::SignatureDoesNotMatch.message(),
        "The request signature we calculated does not match the signature you provided. Check \
         your AWS Secret Access Key and signing method. Consult the service documentation for \
         details."
    );
}

#[test]
fn credentials_debug_hides_the_secret() {
    let text = format!("{:?}", lookup("AKIDEXAMPLE"));
    assert!(!text.contains(SECRET));
    assert!(text.contains(ACCOUNT));
}

// ---------------------------------------------------------------------------------------------
// Fuzz-ish: random input never panics and never verifies.

fn random_text(rng: &mut StdRng, alphabet: &[u8], length_max: usize) -> String {
    let length = rng.random_range(0..=length_max);
    let bytes: Vec<u8> = if rng.random_bool(0.3) {
        let mut raw = vec![0_u8; length];
        rng.fill_bytes(&mut raw);
        raw
    } else {
        (0..length).map(|_| alphabet[rng.random_range(0..alphabet.len())]).collect()
    };
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn random_input_never_panics() {
    let mut rng = StdRng::seed_from_u64(0x5167_4a11);
    let alphabet = b"AWS4-HMAC-SHA256 Credential=/Signature,SignedHeaders;=%+&aws4_request0123456789abcdefXZT \t:";
    let valid_auth = json_auth(SECRET, None);
    for round in 0..20_000 {
        let authorization = if round % 2 == 0 {
            random_text(&mut rng, alphabet, 300)
        } else {
            // Mutate a valid header a little.
            let mut bytes = valid_auth.clone().into_bytes();
            for _ in 0..rng.random_range(1..4) {
                let index = rng.random_range(0..bytes.len());
                bytes[index] = alphabet[rng.random_range(0..alphabet.len())];
            }
            String::from_utf8_lossy(&bytes).into_owned()
        };
        let query = random_text(&mut rng, b"X-Amz-Algorithm=AWS4-HMAC-SHA256&Credential%2F+=Date", 200);
        let path = random_text(&mut rng, b"/.%2Fab ~", 40);
        let date = random_text(&mut rng, b"20261128T120000Z", 20);
        let body = random_text(&mut rng, b"{}", 20);
        let mut headers =
            vec![("Host", "localhost:4566"), ("X-Amz-Date", date.as_str()), ("Authorization", authorization.as_str())];
        if round % 3 == 0 {
            headers.pop();
        }
        let req = request("POST", &path, &query, &headers, body.as_bytes());
        let now = rng.random::<i64>();
        let _ = auth_info(&req);
        let _ = credential_scope(&req);
        if let Ok(verified) = verify(&req, lookup, now) {
            panic!("random input verified: {verified:?} from {authorization:?} {query:?}");
        }
        if let Err(error) = verify(&req, lookup, BOTOCORE_NOW) {
            // Every error renders without panicking and stays small.
            assert!(error.message().len() < 4_096);
            let _ = (error.code(), error.json_code(), error.http_status());
        }
    }
}

#[test]
fn uri_forms_of_other_sdks() {
    // Each SDK family's canonical URI for the same raw path is accepted: encoded once more and
    // normalised (botocore, Rust, Java v2, JS v3), encoded once more as is (Go v2), and
    // verbatim (S3-style signers).
    let raw_path = "/x/./000000000000/my%20queue";
    for canonical_uri in
        ["/x/000000000000/my%2520queue", "/x/./000000000000/my%2520queue", "/x/./000000000000/my%20queue"]
    {
        let canonical = format!(
            "GET\n{canonical_uri}\n\nhost:localhost:4566\nx-amz-date:{JSON_DATE}\n\n\
             host;x-amz-date\n{}",
            hex::encode(Sha256::digest(b""))
        );
        let signature = sign(SECRET, JSON_DATE, "us-east-1", "sqs", &canonical);
        let auth = authorization("AKIDEXAMPLE", BOTOCORE_SCOPE, "host;x-amz-date", &signature);
        let headers = [("Host", "localhost:4566"), ("X-Amz-Date", JSON_DATE), ("Authorization", auth.as_str())];
        let req = request("GET", raw_path, "", &headers, b"");
        assert!(verify(&req, lookup, BOTOCORE_NOW).is_ok(), "{canonical_uri}");
        // The canonical URI of some other path never matches.
        let req = request("GET", "/x/000000000000/my%20queues", "", &headers, b"");
        assert_eq!(verify(&req, lookup, BOTOCORE_NOW), Err(SigV4Error::SignatureDoesNotMatch), "{canonical_uri}");
    }
}

#[test]
fn authorization_separators_may_be_commas_or_spaces() {
    let auth = json_auth(SECRET, None);
    for respelled in [
        auth.replace(", ", ","),
        auth.replace(", ", " "),
        auth.replace("AWS4-HMAC-SHA256 ", "AWS4-HMAC-SHA256,"),
        format!("  {}  ", auth.replace(", ", " ,\t")),
    ] {
        let headers = json_headers(&respelled, &[]);
        let req = request("POST", "/", "", &headers, JSON_BODY);
        assert!(verify(&req, lookup, BOTOCORE_NOW).is_ok(), "{respelled}");
    }
}

// ---------------------------------------------------------------------------------------------
// The public signer: pinned to the AWS example and to the independent signer above, and checked
// against `verify` (sign, then verify accepts; change anything, then it refuses).

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn signing_params<'a>(region: &'a str, service: &'a str, unix_seconds: i64) -> SigningParams<'a> {
    SigningParams {
        access_key_id: "AKIDEXAMPLE",
        secret_access_key: SECRET,
        session_token: None,
        region,
        service,
        unix_seconds,
    }
}

/// The request as it goes on the wire: the caller's headers followed by the signer's.
fn with_signature<'a>(headers: &[(&'a str, &'a str)], added: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    let mut all = headers.to_vec();
    all.extend(added.iter().map(|(name, value)| (*name, value.as_str())));
    all
}

fn added_header<'a>(added: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
    added.iter().find(|(added_name, _)| *added_name == name).map(|(_, value)| value.as_str())
}

#[test]
fn signer_reproduces_the_iam_documented_example() {
    // GET https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08, parameters unsorted
    // as a caller may write them.
    let headers = [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"), ("Host", "iam.amazonaws.com")];
    let req = request("GET", "/", "Version=2010-05-08&Action=ListUsers", &headers, b"");
    let added = sigv4::sign(&req, &signing_params("us-east-1", "iam", SUITE_NOW));
    assert_eq!(
        added,
        vec![
            ("x-amz-date", "20150830T123600Z".to_owned()),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date, \
                 Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
                    .to_owned()
            ),
        ]
    );
    let sent = with_signature(&headers, &added);
    let req = request("GET", "/", "Version=2010-05-08&Action=ListUsers", &sent, b"");
    assert_eq!(verify(&req, lookup, SUITE_NOW), Ok(caller("AKIDEXAMPLE", "us-east-1", "iam")));
}

#[test]
fn signer_matches_the_independent_signer_on_a_json_post() {
    let headers = [
        ("Host", "localhost:4566"),
        ("Content-Type", "application/x-amz-json-1.0"),
        ("X-Amz-Target", "AmazonSQS.SendMessage"),
    ];
    let req = request("POST", "/", "", &headers, JSON_BODY);
    let added = sigv4::sign(&req, &signing_params("eu-west-1", "sqs", BOTOCORE_NOW));
    assert_eq!(added_header(&added, "x-amz-date"), Some(JSON_DATE));
    assert_eq!(added_header(&added, "authorization"), Some(json_auth(SECRET, None).as_str()));
}

#[test]
fn signer_trims_collapses_and_joins_repeated_headers() {
    let headers = [("X-Custom", "  a   b\t "), ("host", "example.com"), ("x-custom", "c")];
    let req = request("POST", "", "", &headers, b"");
    let added = sigv4::sign(&req, &signing_params("us-east-1", "sqs", BOTOCORE_NOW));
    let canonical = format!(
        "POST\n/\n\nhost:example.com\nx-amz-date:{JSON_DATE}\nx-custom:a b,c\n\n\
         host;x-amz-date;x-custom\n{EMPTY_SHA256}"
    );
    let signature = sign(SECRET, JSON_DATE, "us-east-1", "sqs", &canonical);
    let expected = authorization("AKIDEXAMPLE", BOTOCORE_SCOPE, "host;x-amz-date;x-custom", &signature);
    assert_eq!(added_header(&added, "authorization"), Some(expected.as_str()));

    let sent = with_signature(&headers, &added);
    assert!(verify(&request("POST", "", "", &sent, b""), lookup, BOTOCORE_NOW).is_ok());
}

#[test]
fn signer_encodes_path_and_query_canonically() {
    // The path is normalised and encoded once more, as the AWS SDKs sign it; the query is
    // decoded (`+` is a space), encoded the RFC 3986 way and sorted.
    let path = "/000000000000/./my%20queue~";
    let query = "b=2&a=x+y&a=1&flag&c=%7e%2b";
    let headers = [("Host", "localhost:4566")];
    let added =
        sigv4::sign(&request("GET", path, query, &headers, b""), &signing_params("us-east-1", "sqs", BOTOCORE_NOW));
    let canonical = format!(
        "GET\n/000000000000/my%2520queue~\na=1&a=x%20y&b=2&c=~%2B&flag=\nhost:localhost:4566\n\
         x-amz-date:{JSON_DATE}\n\nhost;x-amz-date\n{EMPTY_SHA256}"
    );
    let signature = sign(SECRET, JSON_DATE, "us-east-1", "sqs", &canonical);
    let expected = authorization("AKIDEXAMPLE", BOTOCORE_SCOPE, "host;x-amz-date", &signature);
    assert_eq!(added_header(&added, "authorization"), Some(expected.as_str()));

    let sent = with_signature(&headers, &added);
    assert!(verify(&request("GET", path, query, &sent, b""), lookup, BOTOCORE_NOW).is_ok());
}

#[test]
fn signer_formats_the_date_in_utc_and_clamps_it() {
    for (unix_seconds, expected) in [
        (0, "19700101T000000Z"),
        (SUITE_NOW, "20150830T123600Z"),
        // A leap day.
        (1_709_251_199, "20240229T235959Z"),
        (i64::MAX, "99991231T235959Z"),
        (i64::MIN, "00000101T000000Z"),
    ] {
        let headers = [("Host", "localhost")];
        let added =
            sigv4::sign(&request("GET", "/", "", &headers, b""), &signing_params("us-east-1", "sqs", unix_seconds));
        assert_eq!(added_header(&added, "x-amz-date"), Some(expected));
        let scope = format!("Credential=AKIDEXAMPLE/{}/us-east-1/sqs/aws4_request,", &expected[..8]);
        assert!(added_header(&added, "authorization").is_some_and(|value| value.contains(&scope)));
    }
}

#[test]
fn signer_signs_the_session_token() {
    let headers = [("Host", "localhost:4566")];
    let params = SigningParams {
        access_key_id: "ASIAEXAMPLE",
        session_token: Some(SECURITY_TOKEN),
        ..signing_params("us-east-1", "sqs", BOTOCORE_NOW)
    };
    let added = sigv4::sign(&request("GET", "/", "", &headers, b""), &params);
    let names: Vec<&str> = added.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["x-amz-date", "x-amz-security-token", "authorization"]);
    assert_eq!(added_header(&added, "x-amz-security-token"), Some(SECURITY_TOKEN));
    assert!(added_header(&added, "authorization")
        .is_some_and(|value| value.contains("SignedHeaders=host;x-amz-date;x-amz-security-token,")));

    let sent = with_signature(&headers, &added);
    assert_eq!(
        verify(&request("GET", "/", "", &sent, b""), lookup, BOTOCORE_NOW),
        Ok(caller("ASIAEXAMPLE", "us-east-1", "sqs"))
    );
    // The token is covered by the signature.
    let other_token = SECURITY_TOKEN.replace("EXAMPLE", "ELPMAXE");
    let mut swapped = sent.clone();
    for header in swapped.iter_mut().filter(|(name, _)| *name == "x-amz-security-token") {
        header.1 = &other_token;
    }
    assert_eq!(
        verify(&request("GET", "/", "", &swapped, b""), lookup, BOTOCORE_NOW),
        Err(SigV4Error::SignatureDoesNotMatch)
    );
}

#[test]
fn signer_ignores_the_headers_it_sets() {
    let plain = [("Host", "localhost:4566")];
    let params = signing_params("us-east-1", "sqs", BOTOCORE_NOW);
    let expected = sigv4::sign(&request("GET", "/", "", &plain, b""), &params);
    let stale = [
        ("Host", "localhost:4566"),
        ("X-Amz-Date", "20000101T000000Z"),
        ("Authorization", "AWS4-HMAC-SHA256 stale"),
        ("X-Amz-Security-Token", "stale"),
    ];
    assert_eq!(sigv4::sign(&request("GET", "/", "", &stale, b""), &params), expected);
}

#[test]
fn signer_uses_a_declared_payload_hash() {
    let headers = [("Host", "localhost:4566"), ("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")];
    let req = request("POST", "/", "", &headers, JSON_BODY);
    let added = sigv4::sign(&req, &signing_params("us-east-1", "sqs", BOTOCORE_NOW));
    let canonical = format!(
        "POST\n/\n\nhost:localhost:4566\nx-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:{JSON_DATE}\n\n\
         host;x-amz-content-sha256;x-amz-date\nUNSIGNED-PAYLOAD"
    );
    let signature = sign(SECRET, JSON_DATE, "us-east-1", "sqs", &canonical);
    let expected = authorization("AKIDEXAMPLE", BOTOCORE_SCOPE, "host;x-amz-content-sha256;x-amz-date", &signature);
    assert_eq!(added_header(&added, "authorization"), Some(expected.as_str()));
    let sent = with_signature(&headers, &added);
    assert!(verify(&request("POST", "/", "", &sent, JSON_BODY), lookup, BOTOCORE_NOW).is_ok());
}

#[test]
fn signed_then_verified_and_every_tampering_fails() {
    let headers = [
        ("Host", "localhost:4566"),
        ("Content-Type", "application/x-amz-json-1.0"),
        ("X-Amz-Target", "AmazonSQS.SendMessage"),
    ];
    let path = "/000000000000/q";
    let query = "Version=2012-11-05";
    let added = sigv4::sign(
        &request("POST", path, query, &headers, JSON_BODY),
        &signing_params("eu-west-1", "sqs", BOTOCORE_NOW),
    );
    let sent = with_signature(&headers, &added);
    let accepted = |method: &str, path: &str, query: &str, headers: &[(&str, &str)], body: &[u8], now: i64| {
        verify(&request(method, path, query, headers, body), lookup, now)
    };
    assert_eq!(
        accepted("POST", path, query, &sent, JSON_BODY, BOTOCORE_NOW),
        Ok(caller("AKIDEXAMPLE", "eu-west-1", "sqs"))
    );
    // Within the clock window either way.
    assert!(accepted("POST", path, query, &sent, JSON_BODY, BOTOCORE_NOW + 14 * 60).is_ok());
    assert!(accepted("POST", path, query, &sent, JSON_BODY, BOTOCORE_NOW - 14 * 60).is_ok());

    let mismatch = Err(SigV4Error::SignatureDoesNotMatch);
    let mut body = JSON_BODY.to_vec();
    body[JSON_BODY.len() / 2] ^= 0x01;
    assert_eq!(accepted("POST", path, query, &sent, &body, BOTOCORE_NOW), mismatch);
    assert_eq!(accepted("PUT", path, query, &sent, JSON_BODY, BOTOCORE_NOW), mismatch);
    assert_eq!(accepted("POST", "/000000000000/r", query, &sent, JSON_BODY, BOTOCORE_NOW), mismatch);
    assert_eq!(accepted("POST", path, "Version=2012-11-06", &sent, JSON_BODY, BOTOCORE_NOW), mismatch);
    assert_eq!(accepted("POST", path, "", &sent, JSON_BODY, BOTOCORE_NOW), mismatch);
    for (index, (name, _)) in sent.iter().enumerate() {
        if *name == "authorization" {
            continue;
        }
        let mut tampered = sent.clone();
        tampered[index].1 = match *name {
            "x-amz-date" => "20261128T120001Z",
            _ => "tampered",
        };
        assert_eq!(accepted("POST", path, query, &tampered, JSON_BODY, BOTOCORE_NOW), mismatch, "{name}");
    }
    // Another secret, or another scope, gives another signature.
    for params in [
        SigningParams { secret_access_key: "not-the-secret", ..signing_params("eu-west-1", "sqs", BOTOCORE_NOW) },
        SigningParams { unix_seconds: BOTOCORE_NOW + 1, ..signing_params("eu-west-1", "sqs", BOTOCORE_NOW) },
    ] {
        let other = sigv4::sign(&request("POST", path, query, &headers, JSON_BODY), &params);
        let mut mixed = with_signature(&headers, &added);
        let other_authorization = added_header(&other, "authorization").unwrap_or_default();
        for header in &mut mixed {
            if header.0 == "authorization" {
                header.1 = other_authorization;
            }
        }
        assert_eq!(accepted("POST", path, query, &mixed, JSON_BODY, BOTOCORE_NOW), mismatch, "{params:?}");
    }
    // Outside the clock window.
    let expired = accepted("POST", path, query, &sent, JSON_BODY, BOTOCORE_NOW + 16 * 60);
    assert!(matches!(expired, Err(SigV4Error::SignatureExpired(_))), "{expired:?}");
}

#[test]
fn random_requests_sign_without_panicking_and_verify() {
    let mut rng = StdRng::seed_from_u64(0x5167_0001);
    for _ in 0..5_000 {
        let method = random_text(&mut rng, b"GETPOSTDELETE", 8);
        let path = random_text(&mut rng, b"/.%2Fab ~+", 40);
        let query = random_text(&mut rng, b"ab=&%+2F7e~ X-Amz-Signature", 60);
        let names = ["Host", "host", "X-Custom", "x-custom", "Content-Type", "Authorization", "X-Amz-Date"];
        let mut headers: Vec<(&str, String)> = vec![("Host", random_text(&mut rng, b"localhost:4566", 20))];
        for _ in 0..rng.random_range(0..5) {
            let name = names[rng.random_range(0..names.len())];
            headers.push((name, random_text(&mut rng, b"ab \t,;:", 20)));
        }
        let borrowed: Vec<(&str, &str)> = headers.iter().map(|(name, value)| (*name, value.as_str())).collect();
        let body = random_text(&mut rng, b"{}\"x", 40);
        let secret = random_text(&mut rng, b"abc/+", 100);
        let hostile = SigningParams {
            access_key_id: "AKID/with,odd=text ",
            secret_access_key: &secret,
            session_token: Some("a\tb"),
            region: "not a region/",
            service: "",
            unix_seconds: rng.random::<i64>(),
        };
        let req = request(&method, &path, &query, &borrowed, body.as_bytes());
        let _ = sigv4::sign(&req, &hostile);

        // Whatever the path, query, headers and body, what the signer signs the verifier accepts.
        let now = rng.random_range(0..=4_102_444_800_i64);
        let params = SigningParams { secret_access_key: SECRET, ..signing_params("eu-west-1", "sqs", now) };
        let added = sigv4::sign(&req, &params);
        let kept: Vec<(&str, &str)> = borrowed
            .iter()
            .copied()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("authorization") && !name.eq_ignore_ascii_case("x-amz-date"))
            .collect();
        let sent = with_signature(&kept, &added);
        let verified = verify(&request(&method, &path, &query, &sent, body.as_bytes()), lookup, now);
        assert_eq!(verified, Ok(caller("AKIDEXAMPLE", "eu-west-1", "sqs")), "{method:?} {path:?} {query:?} {sent:?}");
    }
}
