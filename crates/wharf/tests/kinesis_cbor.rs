//! Kinesis over CBOR (`application/x-amz-cbor-1.1`), the encoding the Java SDKs and the KCL use:
//! hand-built, SigV4-signed requests over HTTP/2 with prior knowledge (how the Java SDK v2
//! connects) and over HTTP/1.1, checked byte by byte where the encoding matters.

mod common;

use common::{raw_request, RawResponse, TestServer};
use serde_json::Value;
use wharf::config::UserConfig;
use wharf_aws::sigv4::{self, RequestToVerify, SigningParams};

const KEY: &str = "AKIDCBORTEST";
const SECRET: &str = "cbor-secret";
const CBOR: &str = "application/x-amz-cbor-1.1";

/// A CBOR value, written by hand so the requests do not depend on Wharf's own encoder.
enum Item<'a> {
    Text(&'a str),
    Bytes(&'a [u8]),
    Int(u64),
    /// Tag 1 around an integer of epoch milliseconds, as the Java SDK writes timestamps.
    Millis(u64),
    Map(Vec<(&'a str, Item<'a>)>),
}

fn head(out: &mut Vec<u8>, major: u8, value: u64) {
    let major = major << 5;
    match value {
        0..=23 => out.push(major | value as u8),
        24..=0xff => out.extend_from_slice(&[major | 24, value as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend_from_slice(&(value as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(major | 26);
            out.extend_from_slice(&(value as u32).to_be_bytes());
        }
        _ => {
            out.push(major | 27);
            out.extend_from_slice(&value.to_be_bytes());
        }
    }
}

fn write(item: &Item<'_>, out: &mut Vec<u8>) {
    match item {
        Item::Int(value) => head(out, 0, *value),
        Item::Bytes(bytes) => {
            head(out, 2, bytes.len() as u64);
            out.extend_from_slice(bytes);
        }
        Item::Text(text) => {
            head(out, 3, text.len() as u64);
            out.extend_from_slice(text.as_bytes());
        }
        Item::Millis(millis) => {
            head(out, 6, 1);
            head(out, 0, *millis);
        }
        Item::Map(entries) => {
            // Indefinite length, as Jackson's CBOR generator writes objects.
            out.push(0xbf);
            for (key, value) in entries {
                write(&Item::Text(key), out);
                write(value, out);
            }
            out.push(0xff);
        }
    }
}

fn encode(item: Item<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    write(&item, &mut out);
    out
}

async fn server() -> TestServer {
    let mut config = common::config(None);
    config.users = vec![UserConfig { access_key_id: KEY.into(), secret_access_key: SECRET.into(), account_id: None }];
    TestServer::start_with(config, None).await
}

/// Sends a signed CBOR request for `operation`.
async fn call(server: &TestServer, http2: bool, operation: &str, body: Vec<u8>, secret: &str) -> RawResponse {
    let target = format!("Kinesis_20131202.{operation}");
    let host = server.endpoint.trim_start_matches("http://").to_string();
    let unsigned = [("host", host.as_str()), ("content-type", CBOR), ("x-amz-target", target.as_str())];
    let unix_seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let signed = sigv4::sign(
        &RequestToVerify { method: "POST", path: "/", query: "", headers: &unsigned, body: &body },
        &SigningParams {
            access_key_id: KEY,
            secret_access_key: secret,
            session_token: None,
            region: "us-east-1",
            service: "kinesis",
            unix_seconds,
        },
    );
    let mut headers: Vec<(&str, &str)> = unsigned.iter().filter(|(name, _)| *name != "host").copied().collect();
    headers.extend(signed.iter().map(|(name, value)| (*name, value.as_str())));
    raw_request(&server.endpoint, http2, "POST", "/", &headers, body).await
}

fn document(reply: &RawResponse) -> Value {
    assert_eq!(reply.header("content-type"), Some(CBOR), "status {} body {:?}", reply.status, reply.body);
    wharf_aws::wire::cbor::decode_document(&reply.body, &Default::default()).expect("a CBOR reply")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

#[tokio::test]
async fn records_round_trip_in_cbor_over_http2_and_http1() {
    let server = server().await;
    for (http2, stream) in [(true, "cbor-h2"), (false, "cbor-h1")] {
        let create = Item::Map(vec![("StreamName", Item::Text(stream)), ("ShardCount", Item::Int(1))]);
        let created = call(&server, http2, "CreateStream", encode(create), SECRET).await;
        assert_eq!(created.status, 200, "{:?}", created.body);

        let data: Vec<u8> = (0..=255).collect();
        let put = Item::Map(vec![
            ("StreamName", Item::Text(stream)),
            ("Data", Item::Bytes(&data)),
            ("PartitionKey", Item::Text("key")),
        ]);
        let put = document(&call(&server, http2, "PutRecord", encode(put), SECRET).await);
        assert_eq!(put["ShardId"], "shardId-000000000000");
        let sequence = put["SequenceNumber"].as_str().unwrap().to_string();

        // AT_TIMESTAMP with a tag-1 millisecond timestamp from before the record.
        let iterator = Item::Map(vec![
            ("StreamName", Item::Text(stream)),
            ("ShardId", Item::Text("shardId-000000000000")),
            ("ShardIteratorType", Item::Text("AT_TIMESTAMP")),
            ("Timestamp", Item::Millis(common::START_MS)),
        ]);
        let iterator = document(&call(&server, http2, "GetShardIterator", encode(iterator), SECRET).await);
        let iterator = iterator["ShardIterator"].as_str().unwrap().to_string();

        let get = Item::Map(vec![("ShardIterator", Item::Text(&iterator)), ("Limit", Item::Int(10))]);
        let reply = call(&server, http2, "GetRecords", encode(get), SECRET).await;
        // Data comes back as a CBOR byte string of 256 bytes: 0x59 0x01 0x00, then the bytes.
        let mut expected = vec![0x59, 0x01, 0x00];
        expected.extend_from_slice(&data);
        assert!(contains(&reply.body, &expected), "Data is a byte string");
        let records = document(&reply);
        let record = &records["Records"][0];
        assert_eq!(record["SequenceNumber"], sequence.as_str());
        assert_eq!(record["PartitionKey"], "key");
        // Arrival timestamps are epoch milliseconds (an integer) in CBOR.
        let arrival = record["ApproximateArrivalTimestamp"].as_u64().expect("integer milliseconds");
        let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
        assert!(arrival <= now_ms && arrival + 60_000 > now_ms, "{arrival} is a recent epoch time in ms");
    }
}

#[tokio::test]
async fn errors_come_back_in_cbor_and_bad_signatures_are_refused() {
    let server = server().await;
    let describe = Item::Map(vec![("StreamName", Item::Text("missing"))]);
    let reply = call(&server, true, "DescribeStreamSummary", encode(describe), SECRET).await;
    assert_eq!(reply.status, 400);
    let error = document(&reply);
    assert_eq!(error["__type"], "ResourceNotFoundException");
    assert!(error["message"].as_str().unwrap().contains("missing"));

    let malformed = call(&server, true, "ListStreams", vec![0xbf, 0x63, b'a'], SECRET).await;
    assert_eq!(malformed.status, 400);
    assert_eq!(document(&malformed)["__type"], "SerializationException");

    let forged = call(&server, true, "ListStreams", encode(Item::Map(vec![])), "wrong-secret").await;
    assert_eq!(forged.status, 403);
}
