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
