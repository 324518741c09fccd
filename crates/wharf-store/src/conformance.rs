//! The conformance suite: every engine runs these checks from its own tests. The random check
//! applies the same operation sequence to the engine and to [`MemoryStore`] and demands the same
//! results.

use crate::memory::MemoryStore;
use crate::{
    AttributeRecord, AttributeValueRecord, DedupRecord, MessageContent, MessageMeta, Mutation, QueueId, QueueRecord,
    Snapshot, Store, SubscriptionRecord, TopicId, TopicRecord,
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

/// Applies one random operation sequence to `store` and to the in-memory model and compares.
pub async fn check_random_against_model(store: &dyn Store, seed: u64) {
    let model = MemoryStore::new();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut next_seq = [1u64; 4];
    for _ in 0..300 {
        let mut batch = Vec::new();
        for _ in 0..rng.random_range(1..6) {
            let queue = rng.random_range(1..4u64);
            let topic = rng.random_range(1..4u64);
            let mutation = match rng.random_range(0..130) {
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
                _ => {
                    // One content shared by a message in each of two or three queues.
                    let id = [rng.random_range(0..=255u8); 16];
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
    }
    assert_snapshots_equal(&store.load().expect("load"), &model.load().expect("load"));
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
}
