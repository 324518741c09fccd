//! A Kinesis stream queue across a restart of the server on the same data directory: it keeps
//! its place in the stream, so acknowledged records are not delivered again and new ones are.
//! (aws-sdk-kinesis for Rust lacks the queue operations, so they are sent as raw awsJson; the
//! black-box suite covers them through boto3.)

mod common;

use common::{raw_request, TestServer, HANG_TIMEOUT};
use serde_json::{json, Value};

async fn call(server: &TestServer, operation: &str, body: Value) -> Value {
    let target = format!("Kinesis_20131202.{operation}");
    let headers = [("x-amz-target", target.as_str()), ("content-type", "application/x-amz-json-1.1")];
    let reply = raw_request(&server.endpoint, false, "POST", "/", &headers, body.to_string()).await;
    assert_eq!(reply.status, 200, "{operation}: {}", reply.text());
    reply.json()
}

/// Receives until a record arrives; returns (data, receipt handle).
async fn receive_one(server: &TestServer, queue_arn: &str) -> (String, String) {
    tokio::time::timeout(HANG_TIMEOUT, async {
        loop {
            let received =
                call(server, "ReceiveQueueRecords", json!({ "QueueARN": queue_arn, "WaitTimeSeconds": 1 })).await;
            if let Some(record) = received["QueueRecords"].as_array().and_then(|records| records.first()) {
                return (
                    record["Data"].as_str().unwrap().to_string(),
                    record["ReceiptHandle"].as_str().unwrap().to_string(),
                );
            }
        }
    })
    .await
    .expect("a record in time")
}

#[tokio::test]
async fn a_queue_resumes_after_a_restart_without_redelivering_acknowledged_records() {
    let dir = tempfile::tempdir().unwrap();
    let stream_arn = format!("arn:aws:kinesis:us-east-1:{}:stream/durable", common::ACCOUNT);
    let queue_arn = {
        let server = TestServer::start_with(common::config(Some(dir.path().to_path_buf())), None).await;
        call(
            &server,
            "CreateStream",
            json!({ "StreamName": "durable", "StreamModeDetails": { "StreamMode": "ON_DEMAND" } }),
        )
        .await;
        let created = call(
            &server,
            "CreateQueue",
            json!({ "QueueName": "q", "StreamConfigurationList": [{ "StreamARN": stream_arn, "StartingPosition": { "Type": "TRIM_HORIZON" } }] }),
        )
        .await;
        let queue_arn = created["QueueDescription"]["QueueARN"].as_str().unwrap().to_string();
        call(&server, "PutRecord", json!({ "StreamName": "durable", "Data": "b25l", "PartitionKey": "k" })).await;
        let (data, handle) = receive_one(&server, &queue_arn).await;
        assert_eq!(data, "b25l");
        let acknowledged = call(
            &server,
            "AcknowledgeQueueRecords",
            json!({ "QueueARN": queue_arn, "Entries": [{ "ReceiptHandle": handle }] }),
        )
        .await;
        assert_eq!(acknowledged["Successful"].as_array().unwrap().len(), 1);
        server.server.shutdown().await.unwrap();
        queue_arn
    };
    let server = TestServer::start_with(common::config(Some(dir.path().to_path_buf())), None).await;
    call(&server, "PutRecord", json!({ "StreamName": "durable", "Data": "dHdv", "PartitionKey": "k" })).await;
    let (data, _) = receive_one(&server, &queue_arn).await;
    assert_eq!(data, "dHdv", "the acknowledged record is not delivered again");
    let described = call(&server, "DescribeQueue", json!({ "QueueARN": queue_arn })).await;
    assert_eq!(described["QueueDescription"]["QueueStatus"], "ACTIVE");
}
