//! Disk full and failing disks: writes fail with the service's retryable error and nothing
//! unwritten is acknowledged, reads keep working, and the server recovers by itself once the
//! disk takes writes again (docs/reliability.md).
//!
//! Two beds: the embedded store's fault-injecting seam in process (every run), and the real
//! binary on a small tmpfs filled up for real (when the test may mount one; it says so when not).

mod common;

use common::*;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use wharf::Server;
use wharf_domain::SystemClock;
use wharf_store_embedded::{DiskFault, DiskFaults};

/// `GET /_wharf/health`: its status code and JSON.
async fn health(endpoint: &str) -> (u16, serde_json::Value) {
    let reply = raw_request(endpoint, false, "GET", "/_wharf/health", &[], "").await;
    (reply.status, reply.json())
}

/// Polls health until it answers `status` (bounded by the hang timeout).
async fn wait_for_health(endpoint: &str, status: u16) -> serde_json::Value {
    tokio::time::timeout(HANG_TIMEOUT, async {
        loop {
            let (code, body) = health(endpoint).await;
            if code == status {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("health never answered {status}"))
}

fn kinesis_code<E, R>(error: &aws_sdk_kinesis::error::SdkError<E, R>) -> String
where
    E: aws_sdk_kinesis::error::ProvideErrorMetadata,
{
    error.as_service_error().and_then(|service| service.code()).unwrap_or("<not a service error>").to_string()
}

/// Receives until the queue answers empty; returns the bodies (deleting nothing).
async fn receive_all(client: &aws_sdk_sqs::Client, url: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let reply = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(600)
            .send()
            .await
            .expect("receive");
        if reply.messages().is_empty() {
            return bodies;
        }
        bodies.extend(reply.messages().iter().filter_map(|message| message.body().map(str::to_string)));
    }
}

/// A server on a fresh data directory whose disk the returned handle can fail and heal.
async fn start_on_faulty_disk() -> (tempfile::TempDir, DiskFaults, Server) {
    let dir = tempfile::tempdir().unwrap();
    let faults = DiskFaults::new();
    let data_dir = Some(dir.path().to_path_buf());
    let server = Server::start_with_disk_faults(config(data_dir), Arc::new(SystemClock), Some(faults.clone()))
        .await
        .expect("server starts");
    (dir, faults, server)
}

#[tokio::test]
async fn writes_are_refused_reads_served_and_service_resumes_when_the_disk_heals() {
    let (dir, faults, server) = start_on_faulty_disk().await;
    let endpoint = format!("http://{}", server.local_addr);
    let sqs = client_without_retries(&endpoint);
    let sns = sns_client(&endpoint);
    let kinesis = kinesis_client_without_retries(&endpoint);

    let url = sqs.create_queue().queue_name("orders").send().await.unwrap().queue_url().unwrap().to_string();
    let mut acknowledged = BTreeSet::new();
    for n in 0..20 {
        let body = format!("before-{n}");
        sqs.send_message().queue_url(&url).message_body(&body).send().await.expect("send while healthy");
        acknowledged.insert(body);
    }
    let topic = sns.create_topic().name("events").send().await.unwrap().topic_arn().unwrap().to_string();
    kinesis.create_stream().stream_name("clicks").shard_count(1).send().await.unwrap();
    let put = kinesis
        .put_record()
        .stream_name("clicks")
        .partition_key("k")
        .data(aws_sdk_kinesis::primitives::Blob::new("first"))
        .send()
        .await
        .unwrap();
    let first_sequence = put.sequence_number().to_string();
    assert_eq!(health(&endpoint).await.0, 200);

    // The disk fails every write from now on.
    faults.arm(DiskFault::FailWrite, 0);
    let refused = sqs.send_message().queue_url(&url).message_body("during-fault").send().await.unwrap_err();
    assert_eq!(code(&refused), "ServiceUnavailable");
    assert_eq!(refused.raw_response().map(|raw| raw.status().as_u16()), Some(503));
    // Later writes are refused without touching the disk, by every service.
    let refused = sqs.send_message().queue_url(&url).message_body("during-fault-2").send().await.unwrap_err();
    assert_eq!(code(&refused), "ServiceUnavailable");
    let published = sns.publish().topic_arn(&topic).message("m").send().await;
    assert!(published.is_err(), "a publish cannot be acknowledged while the disk refuses writes");
    let put = kinesis
        .put_record()
        .stream_name("clicks")
        .partition_key("k")
        .data(aws_sdk_kinesis::primitives::Blob::new("during-fault"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(kinesis_code(&put), "InternalFailure");

    let degraded = wait_for_health(&endpoint, 503).await;
    assert_eq!(degraded["status"], "degraded");
    assert_eq!(degraded["storage_writes"], "refused");

    // Reads keep working: the queue's attributes and list, and stored records.
    let queues = sqs.list_queues().send().await.expect("list while refusing writes");
    assert_eq!(queues.queue_urls().len(), 1);
    let attributes = queue_attributes(&sqs, &url).await;
    let visible = &attributes[&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages];
    assert_eq!(visible, "20");
    let shard = kinesis.list_shards().stream_name("clicks").send().await.unwrap().shards()[0].shard_id().to_string();
    let iterator = kinesis
        .get_shard_iterator()
        .stream_name("clicks")
        .shard_id(&shard)
        .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
        .send()
        .await
        .expect("iterator while refusing writes")
        .shard_iterator()
        .unwrap()
        .to_string();
    let records = kinesis.get_records().shard_iterator(&iterator).send().await.expect("read while refusing writes");
    let sequences: Vec<&str> = records.records().iter().map(|record| record.sequence_number()).collect();
    assert_eq!(sequences, [first_sequence.as_str()]);
    assert_eq!(server.recoveries(), 0, "no recovery while the disk still fails");

    // The disk heals: the server notices by itself and serves again from what is on disk.
    faults.heal();
    let healthy = wait_for_health(&endpoint, 200).await;
    assert_eq!(healthy["status"], "ok");
    assert_eq!(server.recoveries(), 1);

    sqs.send_message().queue_url(&url).message_body("after").send().await.expect("send after recovery");
    acknowledged.insert("after".to_string());
    let bodies: BTreeSet<String> = receive_all(&sqs, &url).await.into_iter().collect();
    assert_eq!(bodies, acknowledged, "every acknowledged message, and nothing that was refused");

    sns.publish().topic_arn(&topic).message("after").send().await.expect("publish after recovery");
    let put = kinesis
        .put_record()
        .stream_name("clicks")
        .partition_key("k")
        .data(aws_sdk_kinesis::primitives::Blob::new("after"))
        .send()
        .await
        .expect("put after recovery");
    let records = kinesis.get_records().shard_iterator(&iterator).send().await.expect("read after recovery");
    let data: Vec<&[u8]> = records.records().iter().map(|record| record.data().as_ref()).collect();
    assert_eq!(data, [b"first".as_slice(), b"after".as_slice()]);
    // Sequence numbers are decimal strings of one length, so they compare as text.
    let after = put.sequence_number();
    assert_eq!(after.len(), first_sequence.len());
    assert!(after > first_sequence.as_str(), "sequence numbers keep rising");

    server.shutdown().await.expect("clean shutdown");
    // What was acknowledged after the recovery is on disk too.
    let restarted = TestServer::start_with(config(Some(dir.path().to_path_buf())), None).await;
    let client = restarted.client();
    let bodies: BTreeSet<String> = receive_all(&client, &url).await.into_iter().collect();
    assert_eq!(bodies, acknowledged);
    restarted.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_disk_that_fails_again_keeps_writes_refused_until_it_really_heals() {
    let (_dir, faults, server) = start_on_faulty_disk().await;
    let endpoint = format!("http://{}", server.local_addr);
    let sqs = client_without_retries(&endpoint);
    let url = sqs.create_queue().queue_name("q").send().await.unwrap().queue_url().unwrap().to_string();

    // A failed fsync: what it flushed may or may not be on disk, so it is never acknowledged.
    faults.arm(DiskFault::FailSync, 0);
    let refused = sqs.send_message().queue_url(&url).message_body("x").send().await.unwrap_err();
    assert_eq!(code(&refused), "ServiceUnavailable");
    // Writes still fail, so the probe fails: no recovery, however long it waits.
    faults.heal();
    faults.arm(DiskFault::FailWrite, 0);
    let attempts_before = faults.writes();
    tokio::time::timeout(HANG_TIMEOUT, async {
        while faults.writes() < attempts_before + 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the server keeps probing the disk");
    assert_eq!(server.recoveries(), 0);
    assert_eq!(health(&endpoint).await.0, 503);

    faults.heal();
    wait_for_health(&endpoint, 200).await;
    assert_eq!(server.recoveries(), 1);
    sqs.send_message().queue_url(&url).message_body("y").send().await.expect("send after recovery");
    let bodies = receive_all(&sqs, &url).await;
    assert!(bodies.contains(&"y".to_string()));
    // The unacknowledged "x" may have reached the disk before its fsync failed (AWS allows a
    // failed send to have been stored); it is never there twice.
    assert!(bodies.iter().filter(|body| *body == "x").count() <= 1);
    server.shutdown().await.unwrap();
}

/// A tmpfs of `megabytes` mounted on a fresh directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(megabytes: u32) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(Tmpfs { dir })
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

#[tokio::test]
async fn real_binary_on_a_full_tmpfs_refuses_writes_and_recovers_when_space_returns() {
    let Some(tmpfs) = Tmpfs::mount(24) else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)");
        return;
    };
    let data_dir = tmpfs.path().join("data");
    let filler = tmpfs.path().join("filler");
    // Most of the filesystem is taken by another file, as on a shared disk that fills up.
    std::fs::write(&filler, vec![1u8; 12 * 1024 * 1024]).unwrap();

    let mut wharf = WharfProcess::start_on(&data_dir);
    let sqs = client_without_retries(&wharf.endpoint);
    let url = sqs.create_queue().queue_name("fill").send().await.unwrap().queue_url().unwrap().to_string();
    let body = "x".repeat(8 * 1024);
    let mut acknowledged = BTreeSet::new();
    let mut refused = None;
    for batch in 0..10_000 {
        let entries: Vec<_> = (0..10)
            .map(|n| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(format!("m{n}"))
                    .message_body(format!("{batch}-{n}-{body}"))
                    .build()
                    .unwrap()
            })
            .collect();
        match sqs.send_message_batch().queue_url(&url).set_entries(Some(entries)).send().await {
            Ok(reply) => {
                assert!(reply.failed().is_empty(), "a batch is all or nothing on disk errors");
                acknowledged.extend((0..10).map(|n| format!("{batch}-{n}")));
            }
            Err(error) => {
                refused = Some(error);
                break;
            }
        }
    }
    let refused = refused.expect("the tmpfs fills up");
    assert_eq!(code(&refused), "ServiceUnavailable", "{refused:?}");
    assert!(acknowledged.len() > 100, "only {} messages fit", acknowledged.len());
    eprintln!("tmpfs full after {} acknowledged messages of 8 KiB", acknowledged.len());

    let degraded = wait_for_health(&wharf.endpoint, 503).await;
    assert_eq!(degraded["storage_writes"], "refused");
    // Reads are served while the disk is full: message bodies come from the file.
    let reply = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.expect("receive");
    assert!(!reply.messages().is_empty());

    // Space returns; the server resumes by itself.
    std::fs::remove_file(&filler).unwrap();
    wait_for_health(&wharf.endpoint, 200).await;
    sqs.send_message().queue_url(&url).message_body("after-recovery").send().await.expect("send after recovery");

    // Nothing acknowledged was lost, even across a kill -9 after the recovery.
    wharf.kill9();
    let wharf = WharfProcess::start_on(&data_dir);
    let sqs = client_without_retries(&wharf.endpoint);
    let mut stored = BTreeSet::new();
    for body in receive_all(&sqs, &url).await {
        let key = body.split('-').take(2).collect::<Vec<_>>().join("-");
        assert!(stored.insert(key), "a message stored twice: {}", &body[..body.len().min(40)]);
    }
    assert!(stored.contains("after-recovery"));
    let missing: Vec<_> = acknowledged.difference(&stored).take(5).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    drop(wharf);
}
