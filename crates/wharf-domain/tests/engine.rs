//! Engine behaviour that needs no protocol: the in-flight limit.

use std::collections::BTreeMap;
use std::sync::Arc;
use wharf_domain::{
    DomainError, Engine, EngineOptions, ManualClock, MessageContent, NewMessage, QueueSettings, ReceiveRequest,
};
use wharf_store::memory::MemoryStore;

fn message(body: &'static str) -> NewMessage {
    NewMessage {
        content: MessageContent { body: body.into(), ..Default::default() },
        delay_seconds: None,
        size_bytes: body.len() as u32,
    }
}

#[tokio::test]
async fn receives_stop_at_the_in_flight_limit() {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let engine = Engine::open(Arc::new(MemoryStore::new()), clock.clone(), EngineOptions::default()).await.unwrap();
    let queue = engine.create_queue("000000000000", "q", QueueSettings::default(), BTreeMap::new()).await.unwrap();
    engine.send(&queue, vec![message("a"), message("b"), message("c")]).await.unwrap();
    let request = |max_messages| ReceiveRequest {
        max_messages,
        visibility_timeout_seconds: None,
        wait_ms: 0,
        leased_messages_max: Some(2),
        attempt_id: None,
    };
    assert_eq!(engine.receive(&queue, request(10)).await.unwrap().len(), 2, "only up to the limit");
    assert_eq!(engine.receive(&queue, request(1)).await.unwrap_err(), DomainError::TooManyLeased);
    clock.advance_ms(30_000);
    assert_eq!(engine.receive(&queue, request(10)).await.unwrap().len(), 2, "expired leases free room");
}

#[tokio::test]
async fn exhausted_messages_move_to_the_dead_letter_queue_before_the_next_receive() {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let engine = Engine::open(Arc::new(MemoryStore::new()), clock.clone(), EngineOptions::default()).await.unwrap();
    let target = engine.create_queue("a", "dead", QueueSettings::default(), BTreeMap::new()).await.unwrap();
    let policy = wharf_domain::DeadLetterPolicy {
        target: wharf_domain::QueueName { account: "a".into(), name: "dead".into() },
        max_receive_count: 2,
    };
    let settings = QueueSettings { dead_letter: Some(policy), ..QueueSettings::default() };
    let source = engine.create_queue("a", "work", settings, BTreeMap::new()).await.unwrap();
    engine.send(&source, vec![message("once"), message("twice")]).await.unwrap();
    let request = |max_messages| ReceiveRequest {
        max_messages,
        visibility_timeout_seconds: Some(1),
        wait_ms: 0,
        leased_messages_max: None,
        attempt_id: None,
    };
    assert_eq!(engine.receive(&source, request(2)).await.unwrap().len(), 2);
    clock.advance_ms(2_000);
    assert_eq!(engine.receive(&source, request(1)).await.unwrap().len(), 1, "one received a second time");
    clock.advance_ms(2_000);
    assert_eq!(engine.dead_letter_exhausted(&source).await.unwrap(), 1, "only the twice-received one moves");
    assert_eq!(engine.counts(&target).visible, 1);
    assert_eq!(engine.counts(&source).visible, 1);
}
