//! The conformance suite: every engine runs these checks from its own tests. The random check
//! applies the same operation sequence to the engine and to [`MemoryStore`] and demands the same
//! results.

use crate::memory::MemoryStore;
use crate::{
    AttributeRecord, AttributeValueRecord, DedupRecord, MessageContent, MessageMeta, Mutation, QueueId, QueueRecord,
    ShardLogExtent, ShardLogId, Snapshot, Store, StreamRecord, SubscriptionRecord, TopicId, TopicRecord,
};
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub fn queue_record(id: QueueId, name: &str) -> QueueRecord {
    QueueRecord {
        id,
        account: "000000000000".to_string(),
        name: name.to_string(),
        created_ms: 1_000,
        modified_ms: 2_000,
        attributes: vec![("VisibilityTimeout".into(), "30".into())],
        tags: vec![("team".into(), "core".into())],
    }
}

pub fn message(seq: u64, body: &str) -> (MessageMeta, MessageContent) {
    let meta = MessageMeta {
        seq,
        message_id: [seq as u8; 16],
        sent_ms: 10_000 + seq,
        available_ms: 10_000 + seq,
        receive_count: 0,
        first_receive_ms: 0,
        size_bytes: body.len() as u32,
        group_key: seq % 3,
    };
    let content = MessageContent {
        body: Bytes::copy_from_slice(body.as_bytes()),
        attributes: vec![
            AttributeRecord {
                name: "colour".into(),
                data_type: "String".into(),
                value: AttributeValueRecord::Text("blue".into()),
            },
            AttributeRecord {
                name: "blob".into(),
                data_type: "Binary.raw".into(),
                value: AttributeValueRecord::Binary(Bytes::from_static(&[0, 1, 2, 255])),
            },
        ],
        system_attributes: vec![],
        sender_id: "AIDAEXAMPLE".into(),
        group_id: Some("g1".into()),
        deduplication_id: None,
        dead_letter_source: None,
        body_digest: Some([42; 16]),
    };
    (meta, content)
}

pub fn dedup_record(key: u8, seq: u64) -> DedupRecord {
    DedupRecord { key: [key; 16], message_id: [seq as u8; 16], seq, expires_ms: 300_000 + seq }
}

pub fn topic_record(id: TopicId, name: &str) -> TopicRecord {
    TopicRecord {
        id,
        account: "000000000000".to_string(),
        name: name.to_string(),
        created_ms: 3_000,
        attributes: vec![("DisplayName".into(), format!("Topic {name}")), ("Policy".into(), "{\"é\":1}".into())],
        tags: vec![("team".into(), "core".into())],
    }
}

pub fn subscription_record(topic: TopicId, id: u64, endpoint: &str) -> SubscriptionRecord {
    SubscriptionRecord {
        topic,
        id,
        attributes: vec![
            ("Protocol".into(), "sqs".into()),
            ("Endpoint".into(), endpoint.to_string()),
            ("RawMessageDelivery".into(), "false".into()),
        ],
    }
}

/// A shard record whose data is `data_bytes` bytes derived from its position.
pub fn stream_record(position: u64, arrival_ms: u64, partition_key: &str, data_bytes: usize) -> StreamRecord {
    StreamRecord {
        position,
        arrival_ms,
        partition_key: partition_key.to_string(),
        data: (0..data_bytes).map(|index| (position as usize).wrapping_add(index) as u8).collect(),
    }
}

fn put(queue: QueueId, seq: u64, body: &str) -> Mutation {
    let (meta, content) = message(seq, body);
    Mutation::PutMessage { queue, meta, content }
}

/// Queues, messages, updates, deletes, dedup records, settings, topics and subscriptions
/// round-trip through one store.
pub async fn check_roundtrip(store: &dyn Store) {
    store
        .submit(vec![
            Mutation::PutQueue(queue_record(1, "alpha")),
            Mutation::PutQueue(queue_record(2, "beta")),
            // Topic ids share numbers with queue ids: the two never touch each other.
            Mutation::PutTopic(topic_record(1, "alerts")),
            Mutation::PutTopic(topic_record(2, "orders")),
            // Subscription ids at both ends of the range, next to a neighbouring topic's.
            Mutation::PutSubscription(subscription_record(1, 1, "a")),
            Mutation::PutSubscription(subscription_record(1, u64::MAX, "b")),
            Mutation::PutSubscription(subscription_record(2, 0, "c")),
            Mutation::PutSubscription(subscription_record(2, 5, "d")),
            Mutation::PutSubscription(subscription_record(2, 7, "e")),
            put(1, 1, "one"),
            put(1, 2, "two"),
            put(2, 1, "other"),
            Mutation::PutSetting { key: "k".into(), value: vec![1, 2, 3] },
            Mutation::PutSetting { key: "gone".into(), value: vec![4] },
            Mutation::PutDedup { queue: 1, record: dedup_record(1, 1) },
            Mutation::PutDedup { queue: 1, record: dedup_record(2, 2) },
            Mutation::PutDedup { queue: 2, record: dedup_record(1, 1) },
        ])
        .await
        .expect("commit");
    store.submit(vec![Mutation::DeleteDedup { queue: 1, key: [1; 16] }]).await.expect("commit");
    let mut renamed = topic_record(2, "orders");
    renamed.attributes = vec![("DisplayName".into(), "Renamed".into())];
    renamed.tags.clear();
    store
        .submit(vec![
            Mutation::PutTopic(renamed.clone()),
            Mutation::PutSubscription(subscription_record(2, 5, "d2")),
            Mutation::DeleteSubscription { topic: 2, id: 7 },
            // Deleting what does not exist changes nothing.
            Mutation::DeleteSubscription { topic: 1, id: 7 },
            Mutation::DeleteTopic(9),
            Mutation::DeleteSetting { key: "gone".into() },
            Mutation::DeleteSetting { key: "never-set".into() },
        ])
        .await
        .expect("commit");
    let (mut meta, _) = message(2, "two");
    meta.receive_count = 3;
    meta.first_receive_ms = 12_345;
    store
        .submit(vec![Mutation::UpdateMessage { queue: 1, meta }, Mutation::DeleteMessage { queue: 1, seq: 1 }])
        .await
        .expect("commit");

    let snapshot = store.load().expect("load");
    assert_eq!(snapshot.queues, vec![queue_record(1, "alpha"), queue_record(2, "beta")]);
    assert_eq!(snapshot.messages, vec![(1, vec![meta]), (2, vec![message(1, "other").0])]);
    assert_eq!(snapshot.settings, vec![("k".to_string(), vec![1, 2, 3])]);
    assert_eq!(snapshot.dedup, vec![(1, vec![dedup_record(2, 2)]), (2, vec![dedup_record(1, 1)])]);
    assert_eq!(snapshot.topics, vec![topic_record(1, "alerts"), renamed.clone()]);
    assert_eq!(
        snapshot.subscriptions,
        vec![
            subscription_record(1, 1, "a"),
            subscription_record(1, u64::MAX, "b"),
            subscription_record(2, 0, "c"),
            subscription_record(2, 5, "d2"),
        ]
    );
    assert_eq!(store.read_content(1, 2).expect("read"), Some(message(2, "two").1));
    assert_eq!(store.read_content(1, 1).expect("read"), None);

    store.submit(vec![Mutation::DeleteQueue(2)]).await.expect("commit");
    let snapshot = store.load().expect("load");
    assert_eq!(snapshot.queues.len(), 1);
    assert_eq!(snapshot.messages, vec![(1, vec![meta])]);
    assert_eq!(snapshot.dedup, vec![(1, vec![dedup_record(2, 2)])]);
    assert_eq!(store.read_content(2, 1).expect("read"), None);
    assert_eq!(snapshot.topics.len(), 2, "deleting queue 2 leaves topic 2 alone");
    assert_eq!(snapshot.subscriptions.len(), 4);

    store.submit(vec![Mutation::DeleteTopic(1)]).await.expect("commit");
    let snapshot = store.load().expect("load");
    assert_eq!(snapshot.topics, vec![renamed]);
    assert_eq!(snapshot.subscriptions, vec![subscription_record(2, 0, "c"), subscription_record(2, 5, "d2")]);
    assert_eq!(snapshot.queues, vec![queue_record(1, "alpha")], "deleting topic 1 leaves queue 1 alone");
    assert_eq!(snapshot.messages, vec![(1, vec![meta])]);
}

/// Messages sharing one content read it back; each deletion (single, purge, queue) releases one
/// reference and the content goes with the last.
pub async fn check_shared_content(store: &dyn Store) {
    let (_, content) = message(1, "fanned out");
    let id = [7u8; 16];
    let sharing =
        |queue: QueueId, seq: u64| Mutation::PutSharingMessage { queue, meta: message(seq, "").0, shared: id };
    store
        .submit(vec![
            Mutation::PutQueue(queue_record(1, "a")),
            Mutation::PutQueue(queue_record(2, "b")),
            Mutation::PutQueue(queue_record(3, "c")),
            Mutation::PutSharedContent { id, content: content.clone(), references: 4 },
            sharing(1, 1),
            sharing(2, 1),
            sharing(2, 2),
            sharing(3, 1),
            put(3, 2, "own"),
        ])
        .await
        .expect("commit");
    for (queue, seq) in [(1, 1), (2, 1), (2, 2), (3, 1)] {
        assert_eq!(store.read_content(queue, seq).expect("read"), Some(content.clone()), "{queue}/{seq}");
    }
    assert_eq!(store.load().expect("load").shared_contents, vec![(id, 4)]);

    store.submit(vec![Mutation::DeleteMessage { queue: 1, seq: 1 }]).await.expect("commit");
    store.submit(vec![Mutation::DeleteMessage { queue: 1, seq: 1 }]).await.expect("deleting twice releases once");
    assert_eq!(store.load().expect("load").shared_contents, vec![(id, 3)]);
    store.submit(vec![Mutation::PurgeMessages { queue: 2, up_to_seq: 5 }]).await.expect("commit");
    assert_eq!(store.load().expect("load").shared_contents, vec![(id, 1)]);
    assert_eq!(store.read_content(3, 1).expect("read"), Some(content));
    store.submit(vec![Mutation::DeleteQueue(3)]).await.expect("commit");
    let snapshot = store.load().expect("load");
    assert!(snapshot.shared_contents.is_empty(), "the last reference removes the content");
    assert!(snapshot.messages.is_empty());
}

/// The position of the first record at or after `arrival_ms`, by scanning: what
/// [`Store::find_position_at`] must answer.
fn position_at_by_scan(records: &[StreamRecord], arrival_ms: u64) -> Option<u64> {
    records.iter().find(|record| record.arrival_ms >= arrival_ms).map(|record| record.position)
}

/// Every record of a log, read without limits.
fn read_all(store: &dyn Store, log: ShardLogId) -> Vec<StreamRecord> {
    store.read_records(log, 0, usize::MAX, usize::MAX).expect("read records")
}

/// Shard logs: appends, reads within record and byte limits (the first record always comes back),
/// the search by arrival time over equal times and position gaps, trims, deletes, and the extents
/// `load` reports. Logs next to each other, and at the ends of the id and position ranges, never
/// touch each other, nor queues with the same numbers.
pub async fn check_shard_logs(store: &dyn Store) {
    assert!(read_all(store, 1).is_empty());
    assert_eq!(store.find_position_at(1, 0).expect("find"), None);
    assert!(store.load().expect("load").shard_logs.is_empty());

    // Log 1: gaps between positions, runs of equal arrival times; every record is 12 bytes
    // (2 of key, 10 of data) except the one at 40, which is 1,002.
    let log1 = vec![
        stream_record(10, 100, "k1", 10),
        stream_record(11, 100, "k2", 10),
        stream_record(15, 100, "k1", 10),
        stream_record(20, 200, "k3", 10),
        stream_record(21, 200, "k1", 10),
        stream_record(40, 300, "kb", 1_000),
        stream_record(1_000, 300, "k1", 10),
        stream_record(1_001, 450, "k2", 10),
    ];
    let log2 = vec![stream_record(0, 50, "", 0), stream_record(1, 60, "é", 3)];
    let edge = vec![stream_record(0, 7, "a", 1), stream_record(u64::MAX, 8, "z", 2)];
    store
        .submit(vec![
            Mutation::PutQueue(queue_record(1, "same number as log 1")),
            put(1, 1, "message"),
            Mutation::AppendRecords { log: 1, records: log1[..3].to_vec() },
            Mutation::AppendRecords { log: 2, records: log2.clone() },
            // An empty append creates nothing.
            Mutation::AppendRecords { log: 3, records: Vec::new() },
            Mutation::AppendRecords { log: u64::MAX, records: edge.clone() },
        ])
        .await
        .expect("commit");
    store.submit(vec![Mutation::AppendRecords { log: 1, records: log1[3..].to_vec() }]).await.expect("commit");

    assert_eq!(read_all(store, 1), log1);
    assert_eq!(read_all(store, 2), log2);
    assert_eq!(read_all(store, u64::MAX), edge);
    assert!(read_all(store, 0).is_empty() && read_all(store, 3).is_empty());
    assert_eq!(
        store.load().expect("load").shard_logs,
        vec![
            ShardLogExtent { log: 1, first_position: 10, last_position: 1_001, last_arrival_ms: 450 },
            ShardLogExtent { log: 2, first_position: 0, last_position: 1, last_arrival_ms: 60 },
            ShardLogExtent { log: u64::MAX, first_position: 0, last_position: u64::MAX, last_arrival_ms: 8 },
        ]
    );

    // From a position: at it, or from the next one after a gap.
    let read = |from: u64, records_max: usize, bytes_max: usize| {
        store.read_records(1, from, records_max, bytes_max).expect("read records")
    };
    assert_eq!(read(11, 100, usize::MAX), log1[1..]);
    assert_eq!(read(12, 100, usize::MAX), log1[2..]);
    assert_eq!(read(1_001, 100, usize::MAX), log1[7..]);
    assert!(read(1_002, 100, usize::MAX).is_empty());
    assert!(read(u64::MAX, 100, usize::MAX).is_empty());
    // The record limit.
    assert!(read(0, 0, usize::MAX).is_empty());
    assert_eq!(read(0, 1, usize::MAX), log1[..1]);
    assert_eq!(read(0, 3, usize::MAX), log1[..3]);
    // The byte limit: a record that would take the total past it is left for the next read.
    assert_eq!(read(0, 100, 24), log1[..2]);
    assert_eq!(read(0, 100, 35), log1[..2]);
    assert_eq!(read(0, 100, 36), log1[..3]);
    assert_eq!(read(0, 2, 36), log1[..2], "whichever limit comes first");
    assert_eq!(read(21, 100, 1_013), log1[4..5], "the large record does not fit after another");
    assert_eq!(read(21, 100, 1_014), log1[4..6]);
    // The first record always comes back, however small the byte limit, so a large one is
    // readable at all; but not when no record is asked for.
    assert_eq!(read(0, 100, 0), log1[..1]);
    assert_eq!(read(40, 100, 100), log1[5..6]);
    assert!(read(40, 0, 100).is_empty());
    assert_eq!(store.read_records(2, 0, 100, 0).expect("read"), log2[..1], "an empty record");
    // The second record is 5 bytes: 2 of key ("é" in UTF-8), 3 of data.
    assert_eq!(store.read_records(2, 0, 100, 5).expect("read"), log2);
    assert_eq!(store.read_records(2, 0, 100, 4).expect("read"), log2[..1], "the key counts too");

    // The search by arrival time: the first of equal times, across gaps.
    let find = |log: ShardLogId, arrival_ms: u64| store.find_position_at(log, arrival_ms).expect("find");
    for (arrival_ms, expected) in [
        (0, Some(10)),
        (100, Some(10)),
        (101, Some(20)),
        (199, Some(20)),
        (200, Some(20)),
        (201, Some(40)),
        (300, Some(40)),
        (301, Some(1_001)),
        (450, Some(1_001)),
        (451, None),
        (u64::MAX, None),
    ] {
        assert_eq!(find(1, arrival_ms), expected, "log 1 at {arrival_ms}");
    }
    for arrival_ms in 0..500 {
        assert_eq!(find(1, arrival_ms), position_at_by_scan(&log1, arrival_ms), "log 1 at {arrival_ms}");
    }
    assert_eq!(find(2, 55), Some(1));
    assert_eq!(find(u64::MAX, 8), Some(u64::MAX));
    assert_eq!(find(u64::MAX, 7), Some(0));
    assert_eq!(find(3, 0), None);
    // One run of equal times over positions far apart.
    let equal: Vec<StreamRecord> = [5, 6, 1 << 20, 1 << 40, (1 << 40) + 1]
        .into_iter()
        .enumerate()
        .map(|(index, position)| stream_record(position, if index < 2 { 10 } else { 20 }, "k", 1))
        .collect();
    store.submit(vec![Mutation::AppendRecords { log: 4, records: equal.clone() }]).await.expect("commit");
    assert_eq!(find(4, 10), Some(5));
    assert_eq!(find(4, 11), Some(1 << 20));
    assert_eq!(find(4, 20), Some(1 << 20));
    assert_eq!(find(4, 21), None);

    // Trims remove what is below the position, and nothing of other logs.
    store
        .submit(vec![
            Mutation::TrimRecords { log: 1, before_position: 15 },
            Mutation::TrimRecords { log: 1, before_position: 0 },
            Mutation::TrimRecords { log: 3, before_position: 100 },
            Mutation::TrimRecords { log: u64::MAX, before_position: u64::MAX },
        ])
        .await
        .expect("commit");
    assert_eq!(read_all(store, 1), log1[2..]);
    assert_eq!(read_all(store, u64::MAX), edge[1..]);
    store.submit(vec![Mutation::TrimRecords { log: 1, before_position: 30 }]).await.expect("commit");
    assert_eq!(read_all(store, 1), log1[5..], "a trim ending in a gap");
    assert_eq!(find(1, 0), Some(40));
    assert_eq!(read(0, 100, 0), log1[5..6]);
    assert_eq!(read_all(store, 2), log2);

    // A log trimmed empty disappears from the extents, and grows again from its next append.
    store.submit(vec![Mutation::TrimRecords { log: 2, before_position: 2 }]).await.expect("commit");
    assert!(read_all(store, 2).is_empty());
    assert_eq!(find(2, 0), None);
    let more = vec![stream_record(9, 70, "p", 4)];
    store.submit(vec![Mutation::AppendRecords { log: 2, records: more.clone() }]).await.expect("commit");
    assert_eq!(read_all(store, 2), more);

    // Deleting a log removes every record of it, and nothing else.
    store
        .submit(vec![
            Mutation::DeleteShardLog { log: u64::MAX },
            Mutation::DeleteShardLog { log: 3 },
            Mutation::DeleteQueue(1),
        ])
        .await
        .expect("commit");
    assert!(read_all(store, u64::MAX).is_empty());
    assert_eq!(find(u64::MAX, 0), None);
    assert_eq!(read_all(store, 1), log1[5..], "deleting queue 1 leaves log 1 alone");
    let snapshot = store.load().expect("load");
    assert_eq!(
        snapshot.shard_logs,
        vec![
            ShardLogExtent { log: 1, first_position: 40, last_position: 1_001, last_arrival_ms: 450 },
            ShardLogExtent { log: 2, first_position: 9, last_position: 9, last_arrival_ms: 70 },
            ShardLogExtent { log: 4, first_position: 5, last_position: (1 << 40) + 1, last_arrival_ms: 20 },
        ]
    );
    assert!(snapshot.queues.is_empty() && snapshot.messages.is_empty());
    store.submit(vec![Mutation::DeleteShardLog { log: 1 }]).await.expect("commit");
    assert!(read_all(store, 1).is_empty());
    assert_eq!(store.load().expect("load").shard_logs.iter().map(|extent| extent.log).collect::<Vec<_>>(), vec![2, 4]);
}

/// Compares every read of the shard logs `0..logs` between the engine and the model, and the
/// model's search by time with a scan.
fn assert_shard_reads_equal(store: &dyn Store, model: &MemoryStore, logs: ShardLogId, rng: &mut StdRng) {
    for log in 0..logs {
        let all = read_all(model, log);
        assert_eq!(read_all(store, log), all, "log {log}");
        let last_position = all.last().map_or(0, |record| record.position);
        for _ in 0..10 {
            let from = rng.random_range(0..last_position + 3);
            let records_max = rng.random_range(0..12);
            let bytes_max = rng.random_range(0..3_000);
            assert_eq!(
                store.read_records(log, from, records_max, bytes_max).expect("read"),
                model.read_records(log, from, records_max, bytes_max).expect("read"),
                "log {log} from {from}, at most {records_max} records and {bytes_max} bytes"
            );
        }
        let last_arrival = all.last().map_or(0, |record| record.arrival_ms);
        let mut times: Vec<u64> = (0..20).map(|_| rng.random_range(0..last_arrival + 3)).collect();
        // Times that records have, where runs of equal times begin and end.
        times.extend((0..20).filter_map(|_| all.get(rng.random_range(0..all.len().max(1)))).map(|r| r.arrival_ms));
        for arrival_ms in times {
            let expected = position_at_by_scan(&all, arrival_ms);
            assert_eq!(model.find_position_at(log, arrival_ms).expect("find"), expected, "model, log {log}");
            assert_eq!(store.find_position_at(log, arrival_ms).expect("find"), expected, "log {log} at {arrival_ms}");
        }
    }
}

/// Applies one random operation sequence to `store` and to the in-memory model and compares.
pub async fn check_random_against_model(store: &dyn Store, seed: u64) {
    let model = MemoryStore::new();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut next_seq = [1u64; 4];
    // Per shard log: the position and arrival time the next record must not go below.
    let mut next_shared_id = 0u128;
    let mut next_position = [0u64; 4];
    let mut next_arrival = [0u64; 4];
    for round in 0..300 {
        let mut batch = Vec::new();
        for _ in 0..rng.random_range(1..6) {
            let queue = rng.random_range(1..4u64);
            let topic = rng.random_range(1..4u64);
            let log = rng.random_range(1..4u64);
            let mutation = match rng.random_range(0..145) {
                0..=4 => Mutation::PutQueue(queue_record(queue, &format!("q{queue}"))),
                5 => Mutation::DeleteQueue(queue),
                6..=55 => {
                    let seq = next_seq[queue as usize];
                    next_seq[queue as usize] += 1;
                    put(queue, seq, &"x".repeat(rng.random_range(0..2000)))
                }
                56..=70 => {
                    let (mut meta, _) = message(rng.random_range(1..next_seq[queue as usize] + 1), "");
                    meta.receive_count = rng.random_range(1..10);
                    Mutation::UpdateMessage { queue, meta }
                }
                71..=80 => Mutation::PutDedup {
                    queue,
                    record: dedup_record(rng.random_range(0..20), rng.random_range(1..100)),
                },
                81..=85 => Mutation::DeleteDedup { queue, key: [rng.random_range(0..20); 16] },
                86..=97 => Mutation::DeleteMessage { queue, seq: rng.random_range(1..next_seq[queue as usize] + 1) },
                98..=99 => Mutation::PurgeMessages { queue, up_to_seq: rng.random_range(0..next_seq[queue as usize]) },
                100..=103 => {
                    let mut record = topic_record(topic, &format!("t{topic}"));
                    record.created_ms = rng.random_range(0..1_000);
                    Mutation::PutTopic(record)
                }
                104 => Mutation::DeleteTopic(topic),
                105..=113 => Mutation::PutSubscription(subscription_record(
                    topic,
                    rng.random_range(0..8),
                    &format!("endpoint-{}", rng.random_range(0..100)),
                )),
                114..=119 => Mutation::DeleteSubscription { topic, id: rng.random_range(0..8) },
                120..=122 => Mutation::PutSetting {
                    key: format!("s{}", rng.random_range(0..4)),
                    value: vec![rng.random_range(0..=255u8); rng.random_range(0..4)],
                },
                123..=125 => Mutation::DeleteSetting { key: format!("s{}", rng.random_range(0..4)) },
                130..=139 => {
                    let mut records = Vec::new();
                    for _ in 0..rng.random_range(0..20) {
                        // Gaps between positions, now and then a large one; runs of equal times.
                        let position = next_position[log as usize]
                            + if rng.random_bool(0.05) { rng.random_range(0..1 << 30) } else { rng.random_range(0..3) };
                        let arrival_ms = next_arrival[log as usize] + rng.random_range(0..3);
                        next_position[log as usize] = position + 1;
                        next_arrival[log as usize] = arrival_ms;
                        let key = format!("key-{}", rng.random_range(0..5));
                        records.push(stream_record(position, arrival_ms, &key, rng.random_range(0..400)));
                    }
                    Mutation::AppendRecords { log, records }
                }
                140..=142 => {
                    Mutation::TrimRecords { log, before_position: rng.random_range(0..next_position[log as usize] + 2) }
                }
                143 => Mutation::DeleteShardLog { log },
                _ => {
                    // One content shared by a message in each of two or three queues.
                    // Ids are unique, as the domain's are (the first sharing message's id): one
                    // drawn again while its content is still referenced would replace the count.
                    next_shared_id += 1;
                    let id = next_shared_id.to_be_bytes();
                    let queues: Vec<QueueId> = (1..4).filter(|_| rng.random_bool(0.7)).collect();
                    let (_, content) = message(0, &"s".repeat(rng.random_range(0..300)));
                    batch.push(Mutation::PutSharedContent { id, content, references: queues.len() as u32 });
                    for queue in queues {
                        let seq = next_seq[queue as usize];
                        next_seq[queue as usize] += 1;
                        batch.push(Mutation::PutSharingMessage { queue, meta: message(seq, "").0, shared: id });
                    }
                    continue;
                }
            };
            batch.push(mutation);
        }
        let (engine_result, model_result) = (store.submit(batch.clone()).await, model.submit(batch).await);
        assert_eq!(engine_result, model_result);
        if round % 50 == 49 {
            assert_shard_reads_equal(store, &model, 5, &mut rng);
        }
    }
    assert_snapshots_equal(&store.load().expect("load"), &model.load().expect("load"));
    assert_shard_reads_equal(store, &model, 5, &mut rng);
    for queue in 1..4 {
        for seq in 1..next_seq[queue as usize] {
            assert_eq!(
                store.read_content(queue, seq).expect("read"),
                model.read_content(queue, seq).expect("read"),
                "content of queue {queue} seq {seq}"
            );
        }
    }
}

fn assert_snapshots_equal(engine: &Snapshot, model: &Snapshot) {
    assert_eq!(engine.queues, model.queues);
    assert_eq!(engine.messages, model.messages);
    assert_eq!(engine.settings, model.settings);
    assert_eq!(engine.dedup, model.dedup);
    assert_eq!(engine.topics, model.topics);
    assert_eq!(engine.subscriptions, model.subscriptions);
    assert_eq!(engine.shared_contents, model.shared_contents);
    assert_eq!(engine.shard_logs, model.shard_logs);
}

/// Everything committed before `close` is there after reopening.
pub async fn check_survives_reopen(open: &dyn Fn() -> Box<dyn Store>) {
    {
        let store = open();
        let mut batch = vec![Mutation::PutQueue(queue_record(7, "durable"))];
        batch.extend((1..=50).map(|seq| put(7, seq, &format!("body {seq}"))));
        store.submit(batch).await.expect("commit");
        store.submit(vec![Mutation::DeleteMessage { queue: 7, seq: 3 }]).await.expect("commit");
        store.submit(vec![Mutation::PutDedup { queue: 7, record: dedup_record(4, 4) }]).await.expect("commit");
        let mut batch = vec![Mutation::PutTopic(topic_record(7, "durable"))];
        batch.extend((1..=5).map(|id| Mutation::PutSubscription(subscription_record(7, id, &format!("s{id}")))));
        store.submit(batch).await.expect("commit");
        store.submit(vec![Mutation::DeleteSubscription { topic: 7, id: 2 }]).await.expect("commit");
        let records: Vec<StreamRecord> =
            (0..500).map(|index| stream_record(100 + 2 * index, 5_000 + index / 10, "pk", 1_024)).collect();
        store.submit(vec![Mutation::AppendRecords { log: 7, records }]).await.expect("commit");
        store
            .submit(vec![Mutation::AppendRecords { log: 8, records: vec![stream_record(3, 9, "", 0)] }])
            .await
            .expect("commit");
        store.submit(vec![Mutation::TrimRecords { log: 7, before_position: 300 }]).await.expect("commit");
        store.close().expect("close");
    }
    let store = open();
    let snapshot = store.load().expect("load");
    assert_eq!(snapshot.queues, vec![queue_record(7, "durable")]);
    let seqs: Vec<u64> = snapshot.messages[0].1.iter().map(|meta| meta.seq).collect();
    let expected: Vec<u64> = (1..=50).filter(|seq| *seq != 3).collect();
    assert_eq!(seqs, expected);
    assert_eq!(snapshot.dedup, vec![(7, vec![dedup_record(4, 4)])]);
    assert_eq!(snapshot.topics, vec![topic_record(7, "durable")]);
    let expected: Vec<SubscriptionRecord> =
        [1, 3, 4, 5].into_iter().map(|id| subscription_record(7, id, &format!("s{id}"))).collect();
    assert_eq!(snapshot.subscriptions, expected);
    assert_eq!(store.read_content(7, 50).expect("read"), Some(message(50, "body 50").1));
    assert_eq!(
        snapshot.shard_logs,
        vec![
            ShardLogExtent { log: 7, first_position: 300, last_position: 1_098, last_arrival_ms: 5_049 },
            ShardLogExtent { log: 8, first_position: 3, last_position: 3, last_arrival_ms: 9 },
        ]
    );
    let records = store.read_records(7, 0, 10_000, usize::MAX).expect("read");
    let expected: Vec<StreamRecord> =
        (100..500).map(|index| stream_record(100 + 2 * index, 5_000 + index / 10, "pk", 1_024)).collect();
    assert_eq!(records, expected);
    assert_eq!(store.find_position_at(7, 5_020).expect("find"), Some(500));
    assert_eq!(store.find_position_at(7, 0).expect("find"), Some(300));
    assert_eq!(store.read_records(8, 0, 1, 0).expect("read"), vec![stream_record(3, 9, "", 0)]);
}
