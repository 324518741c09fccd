//! Opening, locking, closing, ordering and corruption handling.

use redb::{ReadableDatabase as _, ReadableTable as _};
use std::sync::Arc;
use wharf_store::conformance::{message, queue_record, stream_record, subscription_record, topic_record};
use wharf_store::{Mutation, ShardLogExtent, Store, StoreError};
use wharf_store_embedded::{EmbeddedStore, DATABASE_FILE_NAME, LAYOUT_VERSION};

const INFO: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("wharf_store_info");

/// The layout version the store file in `directory` records.
fn stored_layout_version(directory: &std::path::Path) -> Vec<u8> {
    let database = redb::Database::open(directory.join(DATABASE_FILE_NAME)).expect("redb open");
    let read = database.begin_read().expect("read");
    let info = read.open_table(INFO).expect("table");
    let value = info.get("layout_version").expect("get").expect("present").value().to_vec();
    value
}

/// Rewrites the store file in `directory` as another layout would have left it: `version`
/// recorded, and the tables that layout does not have removed.
fn rewrite_layout(directory: &std::path::Path, version: u8, missing_tables: &[&str]) {
    let database = redb::Database::open(directory.join(DATABASE_FILE_NAME)).expect("redb open");
    let write = database.begin_write().expect("write");
    write.open_table(INFO).expect("table").insert("layout_version", &[version][..]).expect("insert");
    for name in missing_tables {
        let table: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new(name);
        assert!(write.delete_table(table).expect("delete table"), "table {name} existed");
    }
    write.commit().expect("commit");
}

fn put(queue: u64, seq: u64, body: &str) -> Mutation {
    let (meta, content) = message(seq, body);
    Mutation::PutMessage { queue, meta, content }
}

fn io_message(result: Result<EmbeddedStore, StoreError>) -> String {
    match result {
        Err(StoreError::Io(message)) => message,
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

#[test]
fn a_missing_data_directory_is_created() {
    let parent = tempfile::tempdir().expect("tempdir");
    let directory = parent.path().join("nested").join("data");
    let store = EmbeddedStore::open(&directory).expect("open");
    assert!(directory.join(DATABASE_FILE_NAME).is_file());
    assert_eq!(store.directory(), directory);
}

#[test]
fn a_file_in_place_of_the_directory_is_a_clear_error() {
    let parent = tempfile::tempdir().expect("tempdir");
    let file = parent.path().join("data");
    std::fs::write(&file, b"not a directory").expect("write");
    let message = io_message(EmbeddedStore::open(&file));
    assert!(message.contains("is not a directory"), "{message}");
    // A path below a file cannot be created either.
    let message = io_message(EmbeddedStore::open(&file.join("below")));
    assert!(message.contains("data directory"), "{message}");
}

#[test]
fn a_second_open_of_the_same_directory_fails_clearly() {
    let directory = tempfile::tempdir().expect("tempdir");
    let first = EmbeddedStore::open(directory.path()).expect("open");
    let message = io_message(EmbeddedStore::open(directory.path()));
    assert!(message.contains("already in use"), "{message}");
    assert!(message.contains(&format!("pid {}", std::process::id())), "{message}");
    drop(first);
    EmbeddedStore::open(directory.path()).expect("open after the first store is gone");
}

#[tokio::test]
async fn close_commits_what_was_submitted_then_refuses_writes() {
    let directory = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(directory.path()).expect("open");
    // Submitted but not awaited before close: close must still make it durable.
    let pending = store.submit(vec![Mutation::PutQueue(queue_record(1, "q")), put(1, 1, "before close")]);
    store.close().expect("close");
    pending.await.expect("committed by close");
    assert!(matches!(store.submit(vec![put(1, 2, "after close")]).await, Err(StoreError::Closed)));
    // Reads still work on a closed store.
    assert_eq!(store.read_content(1, 1).expect("read"), Some(message(1, "before close").1));
    store.close().expect("a second close is harmless");
    drop(store);

    let reopened = EmbeddedStore::open(directory.path()).expect("reopen");
    assert_eq!(reopened.load().expect("load").messages.len(), 1);
    assert_eq!(reopened.read_content(1, 2).expect("read"), None);
}

#[tokio::test]
async fn batches_apply_in_submission_order() {
    let directory = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(directory.path()).expect("open");
    // Put and delete the same keys alternately without waiting in between; only the order of
    // application decides what remains.
    let mut commits = Vec::new();
    for round in 0..50u64 {
        commits.push(store.submit(vec![put(1, round % 5, "x")]));
        commits.push(store.submit(vec![Mutation::DeleteMessage { queue: 1, seq: round % 5 }]));
        commits
            .push(store.submit(vec![Mutation::PutSetting { key: "last".into(), value: round.to_be_bytes().to_vec() }]));
    }
    commits.push(store.submit(vec![put(1, 4, "final")]));
    for commit in commits {
        commit.await.expect("commit");
    }
    let snapshot = store.load().expect("load");
    let seqs: Vec<u64> = snapshot.messages.iter().flat_map(|(_, metas)| metas.iter().map(|meta| meta.seq)).collect();
    assert_eq!(seqs, vec![4]);
    assert_eq!(snapshot.settings, vec![("last".to_string(), 49u64.to_be_bytes().to_vec())]);
    let stats = store.stats();
    assert_eq!(stats.batches, 151);
    assert!(stats.transactions >= 1 && stats.transactions <= stats.batches, "{stats:?}");
}

#[tokio::test]
async fn concurrent_submitters_all_commit() {
    let directory = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(EmbeddedStore::open(directory.path()).expect("open"));
    let mut tasks = Vec::new();
    for queue in 1..=8u64 {
        let store = store.clone();
        tasks.push(std::thread::spawn(move || {
            for seq in 1..=25 {
                let commit = store.submit(vec![put(queue, seq, "concurrent")]);
                // Each thread waits for its own commit, as a request handler would.
                block_on(commit).expect("commit");
            }
        }));
    }
    for task in tasks {
        task.join().expect("thread");
    }
    let snapshot = store.load().expect("load");
    assert_eq!(snapshot.messages.len(), 8);
    assert!(snapshot.messages.iter().all(|(_, metas)| metas.len() == 25));
}

/// Waits for a future on a plain thread, using a one-thread tokio runtime.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(future)
}

#[tokio::test]
async fn an_oversized_record_is_refused_alone() {
    let directory = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(directory.path()).expect("open");
    let (meta, mut content) = message(1, "");
    content.body = vec![0u8; wharf_store_embedded::RECORD_BYTES_MAX + 1].into();
    let result = store.submit(vec![Mutation::PutMessage { queue: 1, meta, content }]).await;
    assert!(matches!(result, Err(StoreError::Io(ref message)) if message.contains("record limit")), "{result:?}");
    // The store is not poisoned by a refused batch.
    store.submit(vec![put(1, 2, "fine")]).await.expect("commit");
}

#[tokio::test]
async fn a_corrupt_record_is_reported_not_panicked_on() {
    let directory = tempfile::tempdir().expect("tempdir");
    {
        let store = EmbeddedStore::open(directory.path()).expect("open");
        store.submit(vec![Mutation::PutQueue(queue_record(1, "q")), put(1, 1, "body")]).await.expect("commit");
    }
    // Damage the stored records behind the engine's back, through redb itself.
    {
        const META: redb::TableDefinition<&[u8; 16], &[u8]> = redb::TableDefinition::new("message_meta");
        const CONTENT: redb::TableDefinition<&[u8; 16], &[u8]> = redb::TableDefinition::new("message_content");
        let database = redb::Database::open(directory.path().join(DATABASE_FILE_NAME)).expect("redb open");
        let write = database.begin_write().expect("write");
        {
            let mut key = [0u8; 16];
            key[7] = 1;
            key[15] = 1;
            write.open_table(META).expect("table").insert(&key, &[9u8, 1, 2][..]).expect("insert");
            write.open_table(CONTENT).expect("table").insert(&key, &[1u8, 0xff][..]).expect("insert");
        }
        write.commit().expect("commit");
    }
    let store = EmbeddedStore::open(directory.path()).expect("open");
    assert!(matches!(store.load(), Err(StoreError::Corrupt(_))));
    assert!(matches!(store.read_content(1, 1), Err(StoreError::Corrupt(_))));
}

#[test]
fn a_newer_layout_version_is_refused() {
    let directory = tempfile::tempdir().expect("tempdir");
    drop(EmbeddedStore::open(directory.path()).expect("open"));
    assert_eq!(LAYOUT_VERSION, 4);
    rewrite_layout(directory.path(), LAYOUT_VERSION + 1, &[]);
    match EmbeddedStore::open(directory.path()) {
        Err(StoreError::Corrupt(message)) => assert!(message.contains("layout version"), "{message}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_layout_version_1_store_is_upgraded_and_keeps_its_messages() {
    let directory = tempfile::tempdir().expect("tempdir");
    {
        let store = EmbeddedStore::open(directory.path()).expect("open");
        let (meta, content) = message(1, "kept");
        store
            .submit(vec![Mutation::PutQueue(queue_record(1, "q")), Mutation::PutMessage { queue: 1, meta, content }])
            .await
            .expect("commit");
        store.close().expect("close");
    }
    rewrite_layout(directory.path(), 1, &["shared_content", "shared_references"]);
    assert_eq!(stored_layout_version(directory.path()), vec![1]);
    let store = EmbeddedStore::open(directory.path()).expect("a version 1 store opens");
    assert_eq!(store.read_content(1, 1).expect("read"), Some(message(1, "kept").1));
    store.close().expect("close");
    drop(store);
    assert_eq!(stored_layout_version(directory.path()), vec![4], "the upgrade is recorded");
}

#[tokio::test]
async fn a_layout_version_2_store_is_upgraded_and_gains_shard_logs() {
    let directory = tempfile::tempdir().expect("tempdir");
    {
        let store = EmbeddedStore::open(directory.path()).expect("open");
        store.submit(vec![Mutation::PutQueue(queue_record(1, "q")), put(1, 1, "kept")]).await.expect("commit");
        store.close().expect("close");
    }
    // A version 2 file: no shard records (layout 4 makes a table per log only when written).
    rewrite_layout(directory.path(), 2, &[]);
    assert_eq!(stored_layout_version(directory.path()), vec![2]);

    let store = EmbeddedStore::open(directory.path()).expect("a version 2 store opens");
    let snapshot = store.load().expect("load");
    assert_eq!(snapshot.queues, vec![queue_record(1, "q")]);
    assert!(snapshot.shard_logs.is_empty());
    assert!(store.read_records(1, 0, 10, 1_000).expect("read").is_empty());
    assert_eq!(store.find_position_at(1, 0).expect("find"), None);
    let records = vec![stream_record(1, 10, "a", 5), stream_record(2, 11, "b", 6)];
    store.submit(vec![Mutation::AppendRecords { log: 1, records: records.clone() }]).await.expect("commit");
    store.close().expect("close");
    drop(store);
    assert_eq!(stored_layout_version(directory.path()), vec![4], "the upgrade is recorded");

    let store = EmbeddedStore::open(directory.path()).expect("reopen");
    assert_eq!(store.read_content(1, 1).expect("read"), Some(message(1, "kept").1));
    assert_eq!(store.read_records(1, 0, 10, 1_000).expect("read"), records);
    assert_eq!(
        store.load().expect("load").shard_logs,
        vec![ShardLogExtent { log: 1, first_position: 1, last_position: 2, last_arrival_ms: 11 }]
    );
}

#[tokio::test]
async fn a_layout_version_3_store_moves_its_shard_logs_into_tables_of_their_own() {
    let directory = tempfile::tempdir().expect("tempdir");
    let first = vec![stream_record(1, 10, "a", 5), stream_record(2, 11, "b", 6)];
    let second = vec![stream_record(7, 12, "c", 7)];
    {
        let store = EmbeddedStore::open(directory.path()).expect("open");
        store
            .submit(vec![
                Mutation::AppendRecords { log: 1, records: first.clone() },
                Mutation::AppendRecords { log: 3, records: second.clone() },
            ])
            .await
            .expect("commit");
        store.close().expect("close");
    }
    // Layout 3 kept every log in one table, keyed by (log, position).
    {
        type Records<'a> = redb::TableDefinition<'a, &'static [u8; 16], &'static [u8]>;
        let database = redb::Database::open(directory.path().join(DATABASE_FILE_NAME)).expect("redb open");
        let write = database.begin_write().expect("write");
        for log in [1u64, 3] {
            let name = format!("shard_records/{log:020}");
            let rows: Vec<([u8; 16], Vec<u8>)> = {
                let table = write.open_table(Records::new(&name)).expect("log table");
                let rows = table.iter().expect("iter").map(|row| {
                    let (key, value) = row.expect("row");
                    (*key.value(), value.value().to_vec())
                });
                rows.collect()
            };
            let mut legacy = write.open_table(Records::new("shard_records")).expect("legacy table");
            for (key, value) in &rows {
                legacy.insert(key, value.as_slice()).expect("insert");
            }
            drop(legacy);
            assert!(write.delete_table(Records::new(&name)).expect("delete"));
        }
        write.open_table(INFO).expect("table").insert("layout_version", &[3u8][..]).expect("insert");
        write.commit().expect("commit");
    }
    assert_eq!(stored_layout_version(directory.path()), vec![3]);
    let store = EmbeddedStore::open(directory.path()).expect("a version 3 store opens");
    assert_eq!(store.read_records(1, 0, 10, 1_000).expect("read"), first);
    assert_eq!(store.read_records(3, 0, 10, 1_000).expect("read"), second);
    assert_eq!(
        store.load().expect("load").shard_logs,
        vec![
            ShardLogExtent { log: 1, first_position: 1, last_position: 2, last_arrival_ms: 11 },
            ShardLogExtent { log: 3, first_position: 7, last_position: 7, last_arrival_ms: 12 },
        ]
    );
    store.close().expect("close");
    drop(store);
    assert_eq!(stored_layout_version(directory.path()), vec![4], "the upgrade is recorded");
    let database = redb::Database::open(directory.path().join(DATABASE_FILE_NAME)).expect("redb open");
    let read = database.begin_read().expect("read");
    let legacy: redb::TableDefinition<&[u8; 16], &[u8]> = redb::TableDefinition::new("shard_records");
    assert!(read.open_table(legacy).is_err(), "the shared table is gone");
}

#[tokio::test]
async fn a_store_from_before_the_newer_tables_loads_them_empty_and_gains_them_on_first_write() {
    let directory = tempfile::tempdir().expect("tempdir");
    {
        let store = EmbeddedStore::open(directory.path()).expect("open");
        store.submit(vec![Mutation::PutQueue(queue_record(1, "q")), put(1, 1, "body")]).await.expect("commit");
    }
    // Make the file look like one written before dedup records and topics existed.
    {
        let database = redb::Database::open(directory.path().join(DATABASE_FILE_NAME)).expect("redb open");
        let write = database.begin_write().expect("write");
        for name in ["dedup", "topics", "subscriptions"] {
            let table: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new(name);
            assert!(write.delete_table(table).expect("delete table"), "table {name} existed");
        }
        write.commit().expect("commit");
    }
    let store = EmbeddedStore::open(directory.path()).expect("open");
    let snapshot = store.load().expect("load");
    assert_eq!(snapshot.queues, vec![queue_record(1, "q")]);
    assert_eq!(snapshot.messages.len(), 1);
    assert!(snapshot.dedup.is_empty() && snapshot.topics.is_empty() && snapshot.subscriptions.is_empty());

    store
        .submit(vec![
            Mutation::PutTopic(topic_record(1, "t")),
            Mutation::PutSubscription(subscription_record(1, 1, "endpoint")),
        ])
        .await
        .expect("commit");
    let snapshot = store.load().expect("load");
    assert_eq!(snapshot.topics, vec![topic_record(1, "t")]);
    assert_eq!(snapshot.subscriptions, vec![subscription_record(1, 1, "endpoint")]);
}
