//! Properties over random and malformed input for the pure AWS plumbing: awsQuery form parsing,
//! XML rendering, SigV4 and tokens never panic, refuse what they must refuse with their own error
//! type, and round-trip what they produce themselves.

use proptest::prelude::*;
use serde_json::{Map, Number, Value};
use wharf_aws::sigv4::{self, Credentials, RequestToVerify, SigningParams};
use wharf_aws::token::{self, TokenError, TokenKey};
use wharf_aws::wire::query::{list_members, QueryError, QueryParams, QUERY_KEY_DEPTH_MAX};
use wharf_aws::wire::xml::{escape_into, render_error, render_response, XmlShape};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

// ---------------------------------------------------------------------------------------------
// A small, strict XML 1.0 well-formedness checker, so the tests do not trust the renderer's own
// idea of escaping. Returns the concatenated, unescaped text of the document on success.

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':' || (!c.is_ascii() && c.is_alphabetic())
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit() || c == '-' || c == '.'
}

/// Reads an entity or character reference after `&`; returns the character it stands for.
fn reference(rest: &str) -> Result<(char, usize), String> {
    let end = rest.find(';').ok_or_else(|| format!("unterminated reference in {rest:?}"))?;
    let body = &rest[..end];
    let ch = match body {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => {
            let code = if let Some(hex) = body.strip_prefix("#x") {
                u32::from_str_radix(hex, 16).map_err(|_| format!("bad reference &{body};"))?
            } else if let Some(decimal) = body.strip_prefix('#') {
                decimal.parse::<u32>().map_err(|_| format!("bad reference &{body};"))?
            } else {
                return Err(format!("unknown entity &{body};"));
            };
            char::from_u32(code).filter(|c| is_xml_char(*c)).ok_or_else(|| format!("illegal character &{body};"))?
        }
    };
    Ok((ch, end + 1))
}

fn read_name(text: &str) -> Result<(&str, &str), String> {
    let end = text.find(|c: char| !is_name_char(c)).unwrap_or(text.len());
    let name = &text[..end];
    match name.chars().next() {
        Some(first) if is_name_start(first) => Ok((name, &text[end..])),
        _ => Err(format!("bad element name at {:?}", text.chars().take(20).collect::<String>())),
    }
}

/// Character data up to the next `<` (or an attribute value up to `quote`), unescaped.
fn read_text<'a>(mut text: &'a str, stop: char, out: &mut String) -> Result<&'a str, String> {
    loop {
        let Some(c) = text.chars().next() else { return Ok(text) };
        if c == stop || (stop == '"' && c == '<') {
            if c == '<' && stop == '"' {
                return Err("raw < in attribute value".to_owned());
            }
            return Ok(text);
        }
        if !is_xml_char(c) {
            return Err(format!("illegal character {c:?}"));
        }
        if c == '&' {
            let (ch, used) = reference(&text[1..])?;
            out.push(ch);
            text = &text[1 + used..];
            continue;
        }
        if c == '>' && text.starts_with(">") && out.ends_with("]]") {
            return Err("]]> in text".to_owned());
        }
        out.push(c);
        text = &text[c.len_utf8()..];
    }
}

fn check_well_formed(xml: &str) -> Result<String, String> {
    let mut rest = xml.strip_prefix("<?xml version=\"1.0\"?>").ok_or("no XML declaration")?;
    let mut stack: Vec<&str> = Vec::new();
    let mut text = String::new();
    let mut roots = 0;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("</") {
            let (name, after) = read_name(after)?;
            let after = after.strip_prefix('>').ok_or("end tag not closed")?;
            if stack.pop() != Some(name) {
                return Err(format!("mismatched end tag </{name}>"));
            }
            rest = after;
        } else if let Some(after) = rest.strip_prefix('<') {
            let (name, mut after) = read_name(after)?;
            if stack.is_empty() {
                roots += 1;
            }
            loop {
                let trimmed = after.trim_start_matches([' ', '\t', '\n', '\r']);
                if let Some(closed) = trimmed.strip_prefix("/>") {
                    after = closed;
                    break;
                }
                if let Some(open) = trimmed.strip_prefix('>') {
                    stack.push(name);
                    after = open;
                    break;
                }
                if trimmed.len() == after.len() {
                    return Err(format!("no space before attribute in <{name}"));
                }
                let (_, value) = read_name(trimmed)?;
                let value = value.strip_prefix("=\"").ok_or("attribute without =\"")?;
                let mut ignored = String::new();
                let value = read_text(value, '"', &mut ignored)?;
                after = value.strip_prefix('"').ok_or("unterminated attribute")?;
            }
            rest = after;
        } else {
            if stack.is_empty() {
                return Err("text outside the root element".to_owned());
            }
            rest = read_text(rest, '<', &mut text)?;
        }
    }
    if !stack.is_empty() {
        return Err(format!("unclosed elements {stack:?}"));
    }
    if roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    Ok(text)
}

#[test]
fn the_checker_refuses_what_it_must() {
    for bad in [
        "<?xml version=\"1.0\"?><a>&</a>",
        "<?xml version=\"1.0\"?><a><b></a></b>",
        "<?xml version=\"1.0\"?><a>x<y</a>",
        "<?xml version=\"1.0\"?><a>\u{1}</a>",
        "<?xml version=\"1.0\"?><a>&#x1;</a>",
        "<?xml version=\"1.0\"?><a x=\"<\"/>",
        "<?xml version=\"1.0\"?><a></a><b></b>",
        "<?xml version=\"1.0\"?><1></1>",
    ] {
        assert!(check_well_formed(bad).is_err(), "{bad}");
    }
    assert_eq!(check_well_formed("<?xml version=\"1.0\"?><a x=\"&quot;\">&lt;&#xD;<b/></a>").as_deref(), Ok("<\r"));
}

// ---------------------------------------------------------------------------------------------
// Strategies.

/// Text of characters XML can carry (every Unicode scalar value XML 1.0 allows).
fn xml_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(vec!['a', 'Z', '0', ' ', '&', '<', '>', '"', '\'', '\r', '\n', '\t', ';', '#', ']']),
            2 => any::<char>().prop_filter("XML character", |c| is_xml_char(*c)),
        ],
        0..24,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

/// An element name as a front-end's shapes use them (never starting with a shape prefix).
fn plain_name() -> impl Strategy<Value = String> {
    "[a-z][A-Za-z0-9]{0,6}"
}

/// Names whose shape the test's `shape_of` decides by prefix.
fn shape_of(name: &str) -> XmlShape {
    if name.starts_with("FList") {
        XmlShape::FlatList { member: "member" }
    } else if name.starts_with("WList") {
        XmlShape::WrappedList
    } else if name.starts_with("FMap") {
        XmlShape::FlatMap { entry: "entry", key: "Name", value: "Value" }
    } else if name.starts_with("WMap") {
        XmlShape::WrappedMap
    } else {
        XmlShape::Plain
    }
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", Number::from_f64).prop_map(Value::Number),
        xml_text().prop_map(Value::String),
    ]
}

/// A JSON-shaped output document: structure members have element names, list members are
/// under list-shaped names and map entries (whose keys are arbitrary text) under map-shaped ones.
fn document() -> impl Strategy<Value = Value> {
    let tree = leaf().prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec((plain_name(), inner.clone()), 0..5)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            ("FList|WList", "[0-9]", prop::collection::vec(inner.clone(), 0..4)).prop_map(|(prefix, suffix, items)| {
                let mut object = Map::new();
                object.insert(format!("{prefix}{suffix}"), Value::Array(items));
                Value::Object(object)
            }),
            ("FMap|WMap", "[0-9]", prop::collection::vec((xml_text(), inner), 0..4)).prop_map(
                |(prefix, suffix, entries)| {
                    let mut object = Map::new();
                    object.insert(format!("{prefix}{suffix}"), Value::Object(entries.into_iter().collect()));
                    Value::Object(object)
                }
            ),
        ]
    });
    prop::collection::vec((plain_name(), tree), 0..6).prop_map(|members| Value::Object(members.into_iter().collect()))
}

/// Strings that must be found again after unescaping: every string leaf, and the keys of
/// map-shaped members (structure member names become element names, not text).
fn strings_in(value: &Value, is_map: bool, out: &mut Vec<String>) {
    match value {
        Value::String(text) => out.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|item| strings_in(item, false, out)),
        Value::Object(members) => {
            for (key, member) in members {
                if is_map {
                    out.push(key.clone());
                }
                strings_in(member, key.starts_with("FMap") || key.starts_with("WMap"), out);
            }
        }
        _ => {}
    }
}

/// Form text: mostly the awsQuery alphabet, plus stray `%`, `+`, `=` and `&`, plus raw bytes.
fn form_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        prop::collection::vec(prop::sample::select(b"Aa1.=&%+-_~ \x00\xff\xc3\xa9MemberName.1Value".to_vec()), 0..256),
        prop::collection::vec(("[A-Za-z]{1,4}(\\.[A-Za-z0-9]{1,3}){0,10}", "[^&]{0,8}"), 0..16).prop_map(|pairs| {
            pairs.iter().map(|(key, value)| format!("{key}={value}")).collect::<Vec<_>>().join("&").into_bytes()
        }),
    ]
}

// ---------------------------------------------------------------------------------------------
// awsQuery forms.

proptest! {
    #![proptest_config(config(4000))]

    #[test]
    fn query_forms_parse_into_a_tree_or_a_query_error(query in form_bytes(), body in form_bytes()) {
        let params = QueryParams::parse(&[&query, &body]).expect("short forms are within the parameter limit");
        match params.to_tree() {
            Ok(tree) => {
                // Every top-level name can be read as a list without panicking.
                for name in tree.keys() {
                    let _ = list_members(&tree, name);
                }
            }
            Err(QueryError::TooDeep(key)) => prop_assert!(key.split('.').count() > QUERY_KEY_DEPTH_MAX),
            Err(QueryError::Conflict(_)) => {}
            Err(QueryError::TooManyParameters) => prop_assert!(false, "to_tree never counts parameters"),
        }
    }

    #[test]
    fn query_values_survive_the_tree(
        pairs in prop::collection::btree_map("[A-Za-z][A-Za-z0-9]{0,5}", "\\PC{0,12}", 0..8),
    ) {
        let form = pairs
            .iter()
            .map(|(key, value)| format!("{key}={}", form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>()))
            .collect::<Vec<_>>()
            .join("&");
        let params = QueryParams::parse(&[form.as_bytes()]).expect("parses");
        let tree = params.to_tree().expect("flat names never conflict");
        for (key, value) in &pairs {
            prop_assert_eq!(params.get(key), Some(value.as_str()));
            prop_assert_eq!(tree.get(key), Some(&Value::String(value.clone())));
        }
    }
}

#[test]
fn too_many_query_parameters_are_an_error() {
    let form = "a=1&".repeat(wharf_aws::wire::query::QUERY_PARAMS_MAX + 1);
    assert_eq!(QueryParams::parse(&[form.as_bytes()]).err(), Some(QueryError::TooManyParameters));
}

// ---------------------------------------------------------------------------------------------
// XML rendering.

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn rendered_documents_are_well_formed_and_keep_every_text(
        action in "[A-Z][A-Za-z]{0,12}",
        request_id in xml_text(),
        with_result in any::<bool>(),
        result in document(),
    ) {
        let xml = render_response(
            &action,
            "http://queue.amazonaws.com/doc/2012-11-05/",
            with_result.then_some(&result),
            &request_id,
            &shape_of,
        );
        let text = check_well_formed(&xml).map_err(|error| TestCaseError::fail(format!("{error}: {xml}")))?;
        prop_assert!(text.contains(&request_id));
        if with_result {
            let mut strings = Vec::new();
            strings_in(&result, false, &mut strings);
            for string in strings {
                prop_assert!(text.contains(&string), "{:?} lost from {}", string, xml);
            }
        }
    }

    #[test]
    fn rendered_errors_are_well_formed(
        namespace in prop_oneof![Just(String::new()), "https://[a-z]{1,8}\\.amazonaws\\.com/doc/[0-9-]{10}/"],
        sender_fault in any::<bool>(),
        code in xml_text(),
        message in xml_text(),
        request_id in xml_text(),
    ) {
        let xml = render_error(&namespace, sender_fault, &code, &message, &request_id);
        let text = check_well_formed(&xml).map_err(|error| TestCaseError::fail(format!("{error}: {xml}")))?;
        prop_assert!(text.contains(&message));
        prop_assert!(xml.starts_with("<?xml version=\"1.0\"?><ErrorResponse"));
    }

    #[test]
    fn any_text_escapes_to_well_formed_xml(text in any::<String>(), request_id in any::<String>()) {
        let mut out = String::from("<?xml version=\"1.0\"?><a>");
        escape_into(&mut out, &text);
        out.push_str("</a>");
        let unescaped = check_well_formed(&out).map_err(|error| TestCaseError::fail(format!("{error}: {out:?}")))?;
        // Characters XML cannot carry become U+FFFD; everything else survives.
        let expected: String =
            text.chars().map(|c| if is_xml_char(c) { c } else { char::REPLACEMENT_CHARACTER }).collect();
        prop_assert_eq!(unescaped, expected);
        let error = render_error("", true, "InvalidAction", &text, &request_id);
        check_well_formed(&error).map_err(|error| TestCaseError::fail(format!("{error}: {out:?}")))?;
    }

    #[test]
    fn escaped_text_never_holds_markup(text in "\\PC{0,64}") {
        let mut out = String::new();
        escape_into(&mut out, &text);
        prop_assert!(!out.contains(['<', '>', '"', '\'', '\r']));
        let unescaped = out
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&#xD;", "\r")
            .replace("&amp;", "&");
        prop_assert_eq!(unescaped, text);
    }
}

// ---------------------------------------------------------------------------------------------
// SigV4.

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const KEY_ID: &str = "AKIDEXAMPLE";

fn lookup(access_key_id: &str) -> Option<Credentials> {
    (access_key_id == KEY_ID)
        .then(|| Credentials { secret_access_key: SECRET.to_owned(), account_id: "123456789012".to_owned() })
}

/// Header names a verifier looks at, and some it does not.
fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "Authorization",
            "authorization",
            "X-Amz-Date",
            "x-amz-date",
            "date",
            "host",
            "x-amz-content-sha256",
            "x-amz-security-token",
            "content-type",
        ])
        .prop_map(str::to_owned),
        "[a-z][a-z0-9-]{0,10}",
    ]
}

/// Header values: fragments of real SigV4 parameters glued together at random, or anything.
fn header_value() -> impl Strategy<Value = String> {
    let fragment = prop::sample::select(vec![
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA512",
        " ",
        ",",
        ", ",
        "=",
        "/",
        ";",
        "Credential=",
        "SignedHeaders=",
        "Signature=",
        "AKIDEXAMPLE",
        "20150830",
        "20150830T123600Z",
        "99999999T999999Z",
        "us-east-1",
        "sqs",
        "aws4_request",
        "host;x-amz-date",
        "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "UNSIGNED-PAYLOAD",
        "é",
        "\u{0}",
    ]);
    prop_oneof![
        3 => prop::collection::vec(fragment, 0..14).prop_map(|parts| parts.concat()),
        1 => "\\PC{0,40}",
    ]
}

/// Query strings: presigned-URL parameters glued together at random, or anything.
fn query_text() -> impl Strategy<Value = String> {
    let fragment = prop::sample::select(vec![
        "X-Amz-Algorithm=AWS4-HMAC-SHA256",
        "X-Amz-Algorithm=",
        "X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fsqs%2Faws4_request",
        "X-Amz-Credential=AKIDEXAMPLE/20150830/us-east-1/sqs/aws4_request",
        "X-Amz-Credential=%",
        "X-Amz-Date=20150830T123600Z",
        "X-Amz-Date=2015",
        "X-Amz-Expires=60",
        "X-Amz-Expires=-1",
        "X-Amz-Expires=99999999999999999999",
        "X-Amz-SignedHeaders=host",
        "X-Amz-SignedHeaders=",
        "X-Amz-Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        "X-Amz-Signature=zz",
        "Action=ListQueues",
        "&",
        "=",
        "%",
        "+",
        "%E9",
    ]);
    prop_oneof![
        3 => prop::collection::vec(fragment, 0..10).prop_map(|parts| parts.join("&")),
        1 => "\\PC{0,40}",
    ]
}

proptest! {
    #![proptest_config(config(4000))]

    #[test]
    fn arbitrary_requests_never_verify_and_never_panic(
        method in "GET|POST|[A-Z]{0,6}",
        path in "\\PC{0,20}",
        query in query_text(),
        headers in prop::collection::vec((header_name(), header_value()), 0..6),
        body in prop::collection::vec(any::<u8>(), 0..64),
        now in prop_oneof![Just(1_440_938_160_i64), any::<i64>()],
    ) {
        let header_refs: Vec<(&str, &str)> = headers.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
        let request = RequestToVerify { method: &method, path: &path, query: &query, headers: &header_refs, body: &body };
        let _ = sigv4::auth_info(&request);
        if let Ok(Some(scope)) = sigv4::credential_scope(&request) {
            prop_assert!(scope.access_key_id.len() <= sigv4::ACCESS_KEY_ID_BYTES_MAX);
        }
        let error = sigv4::verify(&request, lookup, now).expect_err("a random request never verifies");
        prop_assert!(matches!(error.http_status(), 400 | 403));
        prop_assert!(!error.code().is_empty() && !error.json_code().is_empty());
        prop_assert!(error.message().len() < 4096);
    }

    #[test]
    fn signed_requests_verify(
        method in "GET|POST|PUT|DELETE",
        path in "/[A-Za-z0-9._~/-]{0,24}",
        query in prop::collection::vec(("[A-Za-z0-9._~-]{1,8}", "[A-Za-z0-9._~ +%/-]{0,8}"), 0..5),
        extra_headers in prop::collection::vec(("x-test-[a-z]{1,6}", "[ -~]{0,16}"), 0..4),
        body in prop::collection::vec(any::<u8>(), 0..64),
        region in "[a-z]{2}-[a-z]{4,9}-[1-9]",
        service in "sqs|sns|kinesis",
        unix_seconds in 0_i64..4_102_444_800,
        skew in -600_i64..600,
        declare_hash in any::<bool>(),
    ) {
        let query = query
            .iter()
            .map(|(key, value)| format!("{key}={}", form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>()))
            .collect::<Vec<_>>()
            .join("&");
        let body_hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body));
        let mut headers: Vec<(String, String)> = vec![("host".to_owned(), "localhost:9324".to_owned())];
        headers.extend(extra_headers);
        if declare_hash {
            headers.push(("x-amz-content-sha256".to_owned(), body_hash));
        }
        let header_refs: Vec<(&str, &str)> = headers.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
        let request = RequestToVerify { method: &method, path: &path, query: &query, headers: &header_refs, body: &body };
        let params = SigningParams {
            access_key_id: KEY_ID,
            secret_access_key: SECRET,
            session_token: None,
            region: &region,
            service: &service,
            unix_seconds,
        };
        let added = sigv4::sign(&request, &params);
        let mut signed_headers = header_refs.clone();
        signed_headers.extend(added.iter().map(|(name, value)| (*name, value.as_str())));
        let signed = RequestToVerify { headers: &signed_headers, ..request };
        let caller = sigv4::verify(&signed, lookup, unix_seconds + skew)
            .map_err(|error| TestCaseError::fail(format!("{error:?} for {signed:?}")))?;
        prop_assert_eq!(caller.region, region);
        prop_assert_eq!(caller.service, service);
        let scope = sigv4::credential_scope(&signed).ok().flatten().map(|scope| scope.access_key_id);
        prop_assert_eq!(scope.as_deref(), Some(KEY_ID));

        // Any change to the body (when it is covered) breaks the signature, never the verifier.
        let mut tampered_body = body.clone();
        tampered_body.push(b'x');
        let tampered = RequestToVerify { body: &tampered_body, ..signed };
        prop_assert!(sigv4::verify(&tampered, lookup, unix_seconds + skew).is_err());
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens.

const PURPOSES: [&str; 4] = ["sqs-receipt", "kinesis-iterator", "next-token", ""];

fn key() -> TokenKey {
    TokenKey::from_bytes([7; 32])
}

proptest! {
    #![proptest_config(config(4000))]

    #[test]
    fn arbitrary_tokens_never_open(
        text in prop_oneof!["\\PC{0,80}", "[A-Za-z0-9_-]{0,80}", "[A-Za-z0-9_=+/-]{0,80}"],
        purpose in prop::sample::select(PURPOSES.to_vec()),
        max_len in 0_usize..200,
    ) {
        let result = token::open(&key(), purpose, &text, max_len);
        prop_assert!(result.is_err(), "{:?} opened", text);
        if text.len() > max_len {
            prop_assert_eq!(result, Err(TokenError::TooLong));
        }
    }

    #[test]
    fn sealed_tokens_open_for_their_purpose_only(
        payload in prop::collection::vec(any::<u8>(), 0..64),
        purpose in 0_usize..PURPOSES.len(),
        other in 0_usize..PURPOSES.len(),
        key_bytes in any::<[u8; 32]>(),
        flip in any::<prop::sample::Index>(),
        bit in 0_u8..8,
    ) {
        let key = TokenKey::from_bytes(key_bytes);
        let sealed = token::seal(&key, PURPOSES[purpose], &payload);
        prop_assert!(sealed.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        prop_assert_eq!(token::open(&key, PURPOSES[purpose], &sealed, sealed.len()), Ok(payload.clone()));
        prop_assert_eq!(token::open(&key, PURPOSES[purpose], &sealed, sealed.len() - 1), Err(TokenError::TooLong));
        if other != purpose {
            prop_assert_eq!(token::open(&key, PURPOSES[other], &sealed, 1024), Err(TokenError::BadTag));
        }
        let mut other_key = key_bytes;
        other_key[0] ^= 1;
        prop_assert_eq!(token::open(&TokenKey::from_bytes(other_key), PURPOSES[purpose], &sealed, 1024), Err(TokenError::BadTag));

        // Flipping one bit of the text gives a token that does not open (or no token at all).
        let mut bytes = sealed.clone().into_bytes();
        let index = flip.index(bytes.len());
        bytes[index] ^= 1 << bit;
        if let Ok(mutated) = String::from_utf8(bytes) {
            if mutated != sealed {
                prop_assert!(token::open(&key, PURPOSES[purpose], &mutated, 1024).is_err(), "{} opened", mutated);
            }
        }
    }
}
