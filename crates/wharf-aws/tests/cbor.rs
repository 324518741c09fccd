//! The `application/x-amz-cbor-1.1` codec: Kinesis shapes as the Java SDKs send and read them,
//! hand-written byte vectors, hostile bodies, and properties over random input.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use proptest::prelude::*;
use serde_json::{json, Map, Number, Value};
use wharf_aws::wire::cbor::{decode_document, encode_document, CborError, CborLimits};

/// Records the largest single allocation made on each thread, so a test can show that a header
/// declaring a huge length allocates nothing near it.
struct TrackingAllocator;

thread_local! {
    static LARGEST_ALLOCATION: Cell<usize> = const { Cell::new(0) };
}

fn note_allocation(size: usize) {
    let _ = LARGEST_ALLOCATION.try_with(|largest| largest.set(largest.get().max(size)));
}

unsafe impl GlobalAlloc for TrackingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation(new_size);
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: TrackingAllocator = TrackingAllocator;

/// The largest allocation `run` makes on this thread.
fn largest_allocation_during(run: impl FnOnce()) -> usize {
    LARGEST_ALLOCATION.with(|largest| largest.set(0));
    run();
    LARGEST_ALLOCATION.with(Cell::get)
}

fn decode(bytes: &[u8]) -> Result<Value, CborError> {
    decode_document(bytes, &CborLimits::default())
}

/// A text string head and bytes, for hand-written vectors.
fn text(value: &str) -> Vec<u8> {
    let length = u8::try_from(value.len()).expect("short text");
    let mut out = if length < 24 { vec![0x60 | length] } else { vec![0x78, length] };
    out.extend_from_slice(value.as_bytes());
    out
}

fn all_byte_values() -> Vec<u8> {
    (0..=255).collect()
}

fn epoch_millis_tag(millis: u64) -> Vec<u8> {
    let mut out = vec![0xc1, 0x1b];
    out.extend_from_slice(&millis.to_be_bytes());
    out
}

#[test]
fn put_records_request_round_trips_with_binary_data() {
    let data = STANDARD.encode(all_byte_values());
    let request = json!({
        "Records": [
            {"Data": data, "PartitionKey": "pk-1", "ExplicitHashKey": "170141183460469231731687303715884105728"},
            {"Data": "", "PartitionKey": "pk-2"},
        ],
        "StreamName": "orders",
    });
    let encoded = encode_document(&request, &["Data"], &[]);

    // The first Data is a 256-byte byte string (0x59 0x0100) holding every byte value in order.
    let mut byte_string = vec![0x59, 0x01, 0x00];
    byte_string.extend(all_byte_values());
    assert!(encoded.windows(byte_string.len()).any(|window| window == byte_string));
    // The empty Data is an empty byte string, right after its key.
    let mut empty = text("Data");
    empty.push(0x40);
    assert!(encoded.windows(empty.len()).any(|window| window == empty));

    assert_eq!(decode(&encoded).unwrap(), request);
}

#[test]
fn put_records_request_as_the_java_sdk_writes_it() {
    // Jackson's CBOR generator writes indefinite-length maps and arrays.
    let mut body = vec![0xbf];
    body.extend(text("StreamName"));
    body.extend(text("orders"));
    body.extend(text("Records"));
    body.push(0x9f);
    body.push(0xbf);
    body.extend(text("Data"));
    body.extend([0x59, 0x01, 0x00]);
    body.extend(all_byte_values());
    body.extend(text("PartitionKey"));
    body.extend(text("pk"));
    body.push(0xff);
    body.push(0xff);
    body.push(0xff);

    let document = decode(&body).unwrap();
    assert_eq!(
        document,
        json!({"StreamName": "orders", "Records": [{"Data": STANDARD.encode(all_byte_values()), "PartitionKey": "pk"}]})
    );
    // Keys keep the order they were sent in.
    let keys: Vec<&String> = document.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["StreamName", "Records"]);
}

#[test]
fn get_records_response_writes_blobs_as_bytes_and_timestamps_as_millis() {
    let data = STANDARD.encode(all_byte_values());
    let response = json!({
        "Records": [
            {
                "SequenceNumber": "49590338271490256608559692538361571095921575989136588898",
                "ApproximateArrivalTimestamp": 1_700_000_000.123,
                "Data": data,
                "PartitionKey": "pk-1",
                "EncryptionType": "NONE",
            },
            {
                "SequenceNumber": "49590338271490256608559692538361571095921575989136588899",
                "ApproximateArrivalTimestamp": 1_700_000_001,
                "Data": "aGk=",
                "PartitionKey": "pk-2",
            },
        ],
        "NextShardIterator": "AAAA",
        "MillisBehindLatest": 0,
        "ChildShards": [],
    });
    let encoded = encode_document(&response, &["Data"], &["ApproximateArrivalTimestamp"]);

    // Timestamps are untagged integers of epoch milliseconds.
    let mut first = text("ApproximateArrivalTimestamp");
    let key_length = first.len();
    first.push(0x1b);
    first.extend_from_slice(&1_700_000_000_123_u64.to_be_bytes());
    assert!(encoded.windows(first.len()).any(|window| window == first));
    let mut second = first[..key_length].to_vec();
    second.push(0x1b);
    second.extend_from_slice(&1_700_000_001_000_u64.to_be_bytes());
    assert!(encoded.windows(second.len()).any(|window| window == second));
    // Data is a byte string.
    let mut bytes = text("Data");
    bytes.extend([0x42, b'h', b'i']);
    assert!(encoded.windows(bytes.len()).any(|window| window == bytes));

    // Read back as a client would see it: blobs as base64 again, timestamps as the millis sent.
    let decoded = decode(&encoded).unwrap();
    let records = decoded["Records"].as_array().unwrap();
    assert_eq!(records[0]["Data"], json!(STANDARD.encode(all_byte_values())));
    assert_eq!(records[0]["ApproximateArrivalTimestamp"], json!(1_700_000_000_123_u64));
    assert_eq!(records[1]["Data"], json!("aGk="));
    assert_eq!(records[1]["ApproximateArrivalTimestamp"], json!(1_700_000_001_000_u64));
    let mut expected = response.clone();
    expected["Records"][0]["ApproximateArrivalTimestamp"] = json!(1_700_000_000_123_u64);
    expected["Records"][1]["ApproximateArrivalTimestamp"] = json!(1_700_000_001_000_u64);
    assert_eq!(decoded, expected);
}

#[test]
fn encoding_edge_cases_for_blob_and_timestamp_members() {
    let document = json!({
        // Not valid base64: written as text.
        "Data": "not base64!",
        "Nested": {"Deeper": [{"Data": "AAE=", "Timestamp": 1.5}]},
        // A timestamp member that is not a number is written as it is.
        "Timestamp": "2024-01-01T00:00:00Z",
        // Unlisted members are untouched.
        "Other": "AAE=",
        "Seconds": 2,
    });
    let encoded = encode_document(&document, &["Data"], &["Timestamp"]);
    let decoded = decode(&encoded).unwrap();
    assert_eq!(
        decoded,
        json!({
            "Data": "not base64!",
            "Nested": {"Deeper": [{"Data": "AAE=", "Timestamp": 1500}]},
            "Timestamp": "2024-01-01T00:00:00Z",
            "Other": "AAE=",
            "Seconds": 2,
        })
    );
    // The nested Data became the byte string [0, 1]; the unlisted one stayed text.
    let mut nested = text("Data");
    nested.extend([0x42, 0x00, 0x01]);
    assert!(encoded.windows(nested.len()).any(|window| window == nested));
    let mut other = text("Other");
    other.extend(text("AAE="));
    assert!(encoded.windows(other.len()).any(|window| window == other));
}

#[test]
fn definite_and_indefinite_maps_decode_alike() {
    // RFC 8949 Appendix A: {"a": 1, "b": [2, 3]}.
    let definite = [0xa2, 0x61, 0x61, 0x01, 0x61, 0x62, 0x82, 0x02, 0x03];
    // RFC 8949 Appendix A: {_ "a": 1, "b": [_ 2, 3]}.
    let indefinite = [0xbf, 0x61, 0x61, 0x01, 0x61, 0x62, 0x9f, 0x02, 0x03, 0xff, 0xff];
    let expected = json!({"a": 1, "b": [2, 3]});
    assert_eq!(decode(&definite).unwrap(), expected);
    assert_eq!(decode(&indefinite).unwrap(), expected);
    // Empty maps and arrays, both ways.
    assert_eq!(decode(&[0xa0]).unwrap(), json!({}));
    assert_eq!(decode(&[0xbf, 0xff]).unwrap(), json!({}));
    assert_eq!(decode(&[0x80]).unwrap(), json!([]));
    assert_eq!(decode(&[0x9f, 0xff]).unwrap(), json!([]));
    // RFC 8949 Appendix A: [_ 1, [2, 3], [_ 4, 5]].
    assert_eq!(
        decode(&[0x9f, 0x01, 0x82, 0x02, 0x03, 0x9f, 0x04, 0x05, 0xff, 0xff]).unwrap(),
        json!([1, [2, 3], [4, 5]])
    );
    // A repeated key keeps its last value, as serde_json does with awsJson.
    assert_eq!(decode(&[0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02]).unwrap(), json!({"a": 2}));
}

#[test]
fn indefinite_strings_are_concatenated() {
    // RFC 8949 Appendix A: (_ "strea", "ming").
    let streaming = [0x7f, 0x65, 0x73, 0x74, 0x72, 0x65, 0x61, 0x64, 0x6d, 0x69, 0x6e, 0x67, 0xff];
    assert_eq!(decode(&streaming).unwrap(), json!("streaming"));
    // RFC 8949 Appendix A: (_ h'0102', h'030405').
    assert_eq!(decode(&[0x5f, 0x42, 0x01, 0x02, 0x43, 0x03, 0x04, 0x05, 0xff]).unwrap(), json!("AQIDBAU="));
    assert_eq!(decode(&[0x5f, 0xff]).unwrap(), json!(""));
    // An indefinite-length map key.
    assert_eq!(decode(&[0xa1, 0x7f, 0x61, 0x61, 0x61, 0x62, 0xff, 0xf5]).unwrap(), json!({"ab": true}));
    // UTF-8 text, definite.
    assert_eq!(decode(&[0x62, 0xc3, 0xbc]).unwrap(), json!("ü"));
}

#[test]
fn tag_1_integers_are_milliseconds_and_floats_are_seconds() {
    // The Java SDKs: tag 1 around epoch milliseconds.
    assert_eq!(decode(&epoch_millis_tag(1_700_000_000_123)).unwrap(), json!(1_700_000_000.123));
    assert_eq!(decode(&[0xc1, 0x19, 0x03, 0xe8]).unwrap(), json!(1.0));
    assert_eq!(decode(&[0xc1, 0x00]).unwrap(), json!(0.0));
    assert_eq!(decode(&[0xc1, 0x39, 0x03, 0xe7]).unwrap(), json!(-1.0));
    // RFC 8949 Appendix A: 1(1363896240.5), a float, is seconds.
    assert_eq!(decode(&[0xc1, 0xfb, 0x41, 0xd4, 0x52, 0xd9, 0xec, 0x20, 0x00, 0x00]).unwrap(), json!(1_363_896_240.5));
    assert_eq!(decode(&[0xc1, 0xf9, 0x3c, 0x00]).unwrap(), json!(1.0));
    // Whatever the input, the document gets a float, as awsJson timestamps are.
    assert!(decode(&[0xc1, 0x19, 0x07, 0xd0]).unwrap().is_f64());
    // Anything else in tag 1 is refused.
    assert_eq!(decode(&[0xc1, 0x61, 0x61]), Err(CborError::InvalidTimestamp { offset: 1 }));
    assert_eq!(decode(&[0xc1, 0xf6]), Err(CborError::InvalidTimestamp { offset: 1 }));

    // GetShardIterator AT_TIMESTAMP as the Java SDK sends it.
    let mut body = vec![0xbf];
    body.extend(text("StreamName"));
    body.extend(text("s"));
    body.extend(text("ShardId"));
    body.extend(text("shardId-000000000000"));
    body.extend(text("ShardIteratorType"));
    body.extend(text("AT_TIMESTAMP"));
    body.extend(text("Timestamp"));
    body.extend(epoch_millis_tag(1_700_000_000_500));
    body.push(0xff);
    assert_eq!(
        decode(&body).unwrap(),
        json!({
            "StreamName": "s",
            "ShardId": "shardId-000000000000",
            "ShardIteratorType": "AT_TIMESTAMP",
            "Timestamp": 1_700_000_000.5,
        })
    );
}

#[test]
fn other_tags_are_unwrapped() {
    // 55799, the self-described CBOR prefix, around a map.
    assert_eq!(decode(&[0xd9, 0xd9, 0xf7, 0xa1, 0x61, 0x61, 0x01]).unwrap(), json!({"a": 1}));
    // 0(text date), 32(URI), 24(embedded CBOR bytes).
    assert_eq!(decode(&[0xc0, 0x64, b'2', b'0', b'2', b'4']).unwrap(), json!("2024"));
    assert_eq!(decode(&[0xd8, 0x20, 0x61, b'u']).unwrap(), json!("u"));
    assert_eq!(decode(&[0xd8, 0x18, 0x41, 0x01]).unwrap(), json!("AQ=="));
    // A 64-bit tag number.
    assert_eq!(decode(&[0xdb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).unwrap(), json!(1));
}

#[test]
fn malformed_and_truncated_bodies_are_errors() {
    let corpus: &[(&[u8], &str)] = &[
        (&[], "empty"),
        (&[0x18], "truncated one-byte argument"),
        (&[0x19, 0x01], "truncated two-byte argument"),
        (&[0x1a, 0x01, 0x02, 0x03], "truncated four-byte argument"),
        (&[0x1b, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07], "truncated eight-byte argument"),
        (&[0x62, b'a'], "truncated text"),
        (&[0x43, 0x01, 0x02], "truncated bytes"),
        (&[0x82, 0x01], "truncated array"),
        (&[0xa1, 0x61, b'a'], "map without its value"),
        (&[0xa2, 0x61, b'a', 0x01], "map without its second entry"),
        (&[0xbf, 0x61, b'a', 0x01], "indefinite map without a break"),
        (&[0xbf, 0x61, b'a', 0xff], "indefinite map ending after a key"),
        (&[0x9f, 0x01], "indefinite array without a break"),
        (&[0x7f, 0x61, b'a'], "indefinite text without a break"),
        (&[0xff], "lone break"),
        (&[0x82, 0x01, 0xff], "break inside a definite array"),
        (&[0xa1, 0x61, b'a', 0xff], "break as a definite map's value"),
        (&[0x1c], "reserved additional information 28"),
        (&[0x5d], "reserved additional information 29"),
        (&[0xfe], "reserved additional information 30"),
        (&[0x1f], "indefinite unsigned integer"),
        (&[0x3f], "indefinite negative integer"),
        (&[0xdf, 0x01], "indefinite tag"),
        (&[0x5f, 0x61, b'a', 0xff], "text chunk in a byte string"),
        (&[0x7f, 0x41, b'a', 0xff], "byte chunk in a text string"),
        (&[0x5f, 0x5f, 0xff, 0xff], "indefinite chunk in an indefinite string"),
        (&[0x5f, 0x01, 0xff], "integer chunk in an indefinite string"),
        (&[0x62, 0xc3, 0x28], "invalid UTF-8"),
        (&[0x61, 0xff], "invalid UTF-8 byte"),
        (&[0x7f, 0x61, 0xc3, 0x61, 0xbc, 0xff], "a UTF-8 sequence split across chunks"),
        (&[0xa1, 0x01, 0x01], "integer map key"),
        (&[0xa1, 0x41, b'a', 0x01], "byte string map key"),
        (&[0xa1, 0x80, 0x01], "array map key"),
        (&[0xa1, 0xc0, 0x61, b'a', 0x01], "tagged map key"),
        (&[0xbf, 0x01, 0x01, 0xff], "integer key in an indefinite map"),
        (&[0x01, 0x02], "trailing item"),
        (&[0xa0, 0xff], "trailing break"),
        (&[0xc1], "tag without content"),
        (&[0xc1, 0x61, b'a'], "timestamp that is text"),
        (&[0xc2, 0x01], "bignum that is not bytes"),
        (&[0xc2, 0x49, 0x01, 0, 0, 0, 0, 0, 0, 0, 0], "bignum of 2^64"),
        (&[0xc3, 0x48, 0x80, 0, 0, 0, 0, 0, 0, 0], "negative bignum below i64::MIN"),
        (&[0x3b, 0x80, 0, 0, 0, 0, 0, 0, 0], "negative integer below i64::MIN"),
        (&[0xe0], "simple value 0"),
        (&[0xf8, 0x10], "two-byte simple value below 32"),
        (&[0xf8, 0x20], "simple value 32"),
        (&[0xf9, 0x7e, 0x00], "half NaN"),
        (&[0xf9, 0x7c, 0x00], "half infinity"),
        (&[0xf9, 0xfc, 0x00], "half negative infinity"),
        (&[0xfa, 0x7f, 0xc0, 0x00, 0x00], "single NaN"),
        (&[0xfa, 0xff, 0x80, 0x00, 0x00], "single negative infinity"),
        (&[0xfb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0], "double infinity"),
        (&[0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1], "double NaN"),
        (&[0xf9, 0x3c], "truncated half"),
        (&[0xfb, 0x3f, 0xf0, 0, 0], "truncated double"),
    ];
    for (body, what) in corpus {
        assert!(decode(body).is_err(), "{what} ({body:02x?}) decoded as {:?}", decode(body));
    }

    // Specific errors for a few.
    assert_eq!(decode(&[]), Err(CborError::Truncated { offset: 0 }));
    assert_eq!(decode(&[0x01, 0x02]), Err(CborError::TrailingBytes { offset: 1 }));
    assert_eq!(decode(&[0xa1, 0x01, 0x01]), Err(CborError::NonTextKey { offset: 1 }));
    assert_eq!(decode(&[0x62, 0xc3, 0x28]), Err(CborError::InvalidUtf8 { offset: 0 }));
    assert_eq!(decode(&[0xa1, 0x61, b'a', 0xf9, 0x7e, 0x00]), Err(CborError::NonFiniteFloat { offset: 3 }));
    assert!(matches!(decode(&[0xff]), Err(CborError::Malformed { offset: 0, .. })));

    // Every strict prefix of a valid body is truncated.
    let valid = encode_document(
        &json!({"Records": [{"Data": "AAEC", "PartitionKey": "p"}], "StreamName": "s", "Limit": 100_000}),
        &["Data"],
        &[],
    );
    for end in 0..valid.len() {
        assert!(matches!(decode(&valid[..end]), Err(CborError::Truncated { .. })), "prefix of {end} bytes");
    }
}

#[test]
fn huge_declared_lengths_fail_without_allocating() {
    let bodies: &[&[u8]] = &[
        &[0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        &[0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, b'a', b'b'],
        &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02],
        &[0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x61, b'a', 0x01],
        &[0x5a, 0xff, 0xff, 0xff, 0xff, 0x00],
        &[0x9a, 0xff, 0xff, 0xff, 0xff],
        // Nested arrays each declaring 2^32 - 1 items.
        &[0x9a, 0xff, 0xff, 0xff, 0xff, 0x9a, 0xff, 0xff, 0xff, 0xff, 0x9a, 0xff, 0xff, 0xff, 0xff, 0x01],
        // An indefinite byte string whose chunk claims 2^64 - 1 bytes.
        &[0x5f, 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00],
        // A map key claiming 2^64 - 1 bytes.
        &[0xa1, 0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    ];
    for body in bodies {
        let mut result = None;
        let largest = largest_allocation_during(|| result = Some(decode(body)));
        assert!(matches!(result, Some(Err(CborError::Truncated { .. }))), "{body:02x?}: {result:?}");
        assert!(largest < 16 * 1024, "{body:02x?} allocated {largest} bytes");
    }

    // A large real body followed by an array claiming more items than it holds: reservations stay
    // small however many items are declared.
    let mut body = vec![0x82, 0x5a, 0x00, 0x10, 0x00, 0x00];
    body.extend(std::iter::repeat_n(0xab, 0x10_0000));
    body.extend([0x9b, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00]);
    body.extend(std::iter::repeat_n(0x00, 1000));
    let mut result = None;
    let largest = largest_allocation_during(|| result = Some(decode(&body)));
    assert!(matches!(result, Some(Err(CborError::Truncated { .. }))), "{result:?}");
    // The base64 text of the 1 MiB string is the largest allocation.
    assert!(largest < 2 * 1024 * 1024, "allocated {largest} bytes");
}

#[test]
fn nesting_beyond_the_limit_is_refused() {
    let limits = CborLimits::default();
    let nested = |opener: &[u8], depth: usize| {
        let mut body = opener.repeat(depth);
        body.push(0x00);
        body
    };
    // Definite arrays, indefinite arrays (never closed: the depth check comes first), maps, tags.
    for opener in [&[0x81][..], &[0x9f], &[0xa1, 0x61, b'k'], &[0xc6]] {
        let at_limit = nested(opener, limits.depth_max);
        if opener != [0x9f] {
            assert!(decode(&at_limit).is_ok(), "{opener:02x?} at the limit");
        }
        let beyond = nested(opener, limits.depth_max + 1);
        assert_eq!(decode(&beyond), Err(CborError::TooDeep { depth_max: limits.depth_max }), "{opener:02x?}");
        // Far beyond: refused, not a stack overflow.
        let far = nested(opener, 1_000_000);
        assert_eq!(decode(&far), Err(CborError::TooDeep { depth_max: limits.depth_max }), "{opener:02x?}");
    }
    let mut closed = vec![0x9f; limits.depth_max];
    closed.extend(vec![0xff; limits.depth_max]);
    assert!(decode(&closed).is_ok());

    let shallow = CborLimits { depth_max: 2, ..CborLimits::default() };
    assert!(decode_document(&[0xa1, 0x61, b'a', 0x81, 0x01], &shallow).is_ok());
    assert_eq!(
        decode_document(&[0xa1, 0x61, b'a', 0x81, 0x81, 0x01], &shallow),
        Err(CborError::TooDeep { depth_max: 2 })
    );
    let flat = CborLimits { depth_max: 0, ..CborLimits::default() };
    assert_eq!(decode_document(&[0x01], &flat).unwrap(), json!(1));
    assert_eq!(decode_document(&[0x80], &flat), Err(CborError::TooDeep { depth_max: 0 }));
}

#[test]
fn items_beyond_the_limit_are_refused() {
    let limits = CborLimits { items_max: 10, ..CborLimits::default() };
    // An array head and nine elements: ten items.
    let mut ten = vec![0x89];
    ten.extend([0x01; 9]);
    assert!(decode_document(&ten, &limits).is_ok());
    let mut eleven = vec![0x8a];
    eleven.extend([0x01; 10]);
    assert_eq!(decode_document(&eleven, &limits), Err(CborError::TooManyItems { items_max: 10 }));
    // Keys, tags and string chunks count too: {"a": 1(0)} is four items, (_ "a", "b") three.
    let four = CborLimits { items_max: 4, ..CborLimits::default() };
    assert!(decode_document(&[0xa1, 0x61, b'a', 0xc1, 0x00], &four).is_ok());
    assert!(decode_document(&[0xa1, 0x61, b'a', 0xc1, 0xc1, 0x00], &four).is_err());
    let three = CborLimits { items_max: 3, ..CborLimits::default() };
    assert!(decode_document(&[0x7f, 0x61, b'a', 0x61, b'b', 0xff], &three).is_ok());
    assert!(decode_document(&[0x7f, 0x61, b'a', 0x61, b'b', 0x60, 0xff], &three).is_err());
    // A million empty chunks in an indefinite string stop at the default limit.
    let mut chunks = vec![0x5f];
    chunks.extend(std::iter::repeat_n(0x40, 1_000_001));
    chunks.push(0xff);
    assert_eq!(decode(&chunks), Err(CborError::TooManyItems { items_max: 1_000_000 }));
}

/// JSON-like documents: what an awsJson body can hold.
fn json_document() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |float| Number::from_f64(float).map(Value::Number)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 128, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((".{0,12}", inner), 0..8)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode(&bytes);
        let _ = decode_document(&bytes, &CborLimits { depth_max: 3, items_max: 16 });
    }

    #[test]
    fn corrupted_documents_never_panic(
        document in json_document(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = encode_document(&document, &[], &[]);
        for (index, byte) in flips {
            let position = index.index(bytes.len());
            bytes[position] = byte;
        }
        let _ = decode(&bytes);
        let end = cut.index(bytes.len() + 1);
        let _ = decode(&bytes[..end]);
    }

    #[test]
    fn documents_round_trip(document in json_document()) {
        let bytes = encode_document(&document, &[], &[]);
        prop_assert_eq!(decode(&bytes).unwrap(), document);
    }

    #[test]
    fn blobs_round_trip_as_base64(data in prop::collection::vec(any::<u8>(), 0..300), key in "[a-z]{1,8}") {
        let encoded = STANDARD.encode(&data);
        let document = json!({"Records": [{"Data": encoded, "PartitionKey": key}]});
        let bytes = encode_document(&document, &["Data"], &[]);
        prop_assert_eq!(decode(&bytes).unwrap(), document);
    }

    #[test]
    fn timestamps_are_sent_as_rounded_millis(millis in -10_000_000_000_000_i64..10_000_000_000_000) {
        let seconds = millis as f64 / 1000.0;
        let bytes = encode_document(&json!({"ApproximateArrivalTimestamp": seconds}), &[], &["ApproximateArrivalTimestamp"]);
        prop_assert_eq!(decode(&bytes).unwrap(), json!({"ApproximateArrivalTimestamp": millis}));
        // And the Java SDK's tag-1 millis read back as the same seconds.
        let mut tagged = vec![0xc1];
        tagged.extend(encode_document(&json!(millis), &[], &[]));
        prop_assert_eq!(decode(&tagged).unwrap(), json!(seconds));
    }
}
