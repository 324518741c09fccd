//! The shared conformance suite, run against the embedded engine.

use wharf_store::{conformance, Store};
use wharf_store_embedded::EmbeddedStore;

#[tokio::test]
async fn embedded_store_roundtrip() {
    let directory = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(directory.path()).expect("open");
    conformance::check_roundtrip(&store).await;
}

#[tokio::test]
async fn embedded_store_matches_the_model_on_random_sequences() {
    for seed in 0..6 {
        let directory = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(directory.path()).expect("open");
        conformance::check_random_against_model(&store, seed).await;

        // What was loaded before closing is exactly what a reopened store loads.
        let before = store.load().expect("load");
        store.close().expect("close");
        drop(store);
        let reopened = EmbeddedStore::open(directory.path()).expect("reopen");
        assert_eq!(reopened.load().expect("load"), before, "seed {seed}");
    }
}

#[tokio::test]
async fn embedded_store_survives_reopen() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().to_path_buf();
    conformance::check_survives_reopen(&move || Box::new(EmbeddedStore::open(&path).expect("open")) as Box<dyn Store>)
        .await;
}

#[tokio::test]
async fn embedded_store_shares_content() {
    let directory = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(directory.path()).expect("open");
    conformance::check_shared_content(&store).await;
}

#[tokio::test]
async fn embedded_store_keeps_shard_logs() {
    let directory = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(directory.path()).expect("open");
    conformance::check_shard_logs(&store).await;
}
