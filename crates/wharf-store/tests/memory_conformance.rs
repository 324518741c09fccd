use wharf_store::conformance;
use wharf_store::memory::MemoryStore;

#[tokio::test]
async fn memory_store_roundtrip() {
    conformance::check_roundtrip(&MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_store_matches_itself_on_random_sequences() {
    for seed in 0..4 {
        conformance::check_random_against_model(&MemoryStore::new(), seed).await;
    }
}

#[tokio::test]
async fn memory_store_shares_content() {
    conformance::check_shared_content(&MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_store_keeps_shard_logs() {
    conformance::check_shard_logs(&MemoryStore::new()).await;
}
