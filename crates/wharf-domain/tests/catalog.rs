//! Catalog entries: decided under one lock, persisted atomically, rebuilt after a restart.

use std::sync::Arc;
use wharf_domain::catalog::{CatalogChange, Entry};
use wharf_domain::{DomainError, Engine, EngineOptions, ManualClock};
use wharf_store::memory::MemoryStore;

fn entry(pairs: &[(&str, &str)]) -> Entry {
    pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
}

fn put(key: &str, pairs: &[(&str, &str)]) -> CatalogChange {
    CatalogChange::Put { key: key.to_string(), entry: entry(pairs) }
}

async fn open(store: &Arc<MemoryStore>) -> Arc<Engine> {
    Engine::open(store.clone(), Arc::new(ManualClock::new(1_000)), EngineOptions::default()).await.unwrap()
}

#[tokio::test]
async fn entries_are_listed_in_key_order_by_prefix_and_survive_a_restart() {
    let store = Arc::new(MemoryStore::new());
    let engine = open(&store).await;
    engine
        .change_catalog::<_, DomainError>("apps", |_| {
            Ok((vec![put("a/2", &[("n", "2")]), put("a/1", &[("n", "1")]), put("b/1", &[]), put("a/3", &[])], ()))
        })
        .await
        .unwrap();
    engine
        .change_catalog::<_, DomainError>("apps", |_| {
            Ok((vec![CatalogChange::Delete { key: "a/3".into() }, CatalogChange::Delete { key: "none".into() }], ()))
        })
        .await
        .unwrap();
    engine.change_catalog::<_, DomainError>("other", |_| Ok((vec![put("a/9", &[])], ()))).await.unwrap();

    let keys = |engine: &Engine, prefix: &str, after: Option<&str>, limit| {
        engine.catalog_entries("apps", prefix, after, limit).into_iter().map(|(key, _)| key).collect::<Vec<_>>()
    };
    assert_eq!(keys(&engine, "a/", None, 10), vec!["a/1", "a/2"]);
    assert_eq!(keys(&engine, "a/", Some("a/1"), 10), vec!["a/2"]);
    assert_eq!(keys(&engine, "", None, 2), vec!["a/1", "a/2"]);
    assert_eq!(keys(&engine, "", Some("a/2"), 10), vec!["b/1"]);
    assert_eq!(engine.catalog_entry("apps", "a/1"), Some(entry(&[("n", "1")])));

    let reopened = open(&store).await;
    assert_eq!(keys(&reopened, "", None, 10), vec!["a/1", "a/2", "b/1"]);
    assert_eq!(reopened.catalog_entry("apps", "a/2"), Some(entry(&[("n", "2")])));
    assert_eq!(reopened.catalog_entry("other", "a/9"), Some(Entry::new()));
}

#[tokio::test]
async fn a_refused_decision_changes_nothing_and_returns_its_error() {
    let store = Arc::new(MemoryStore::new());
    let engine = open(&store).await;
    engine.change_catalog::<_, DomainError>("apps", |_| Ok((vec![put("k", &[("v", "1")])], ()))).await.unwrap();
    let refused = engine
        .change_catalog("apps", |entries| {
            assert!(entries.contains_key("k"));
            Err::<(Vec<CatalogChange>, ()), _>(DomainError::QueueDoesNotExist)
        })
        .await;
    assert_eq!(refused, Err(DomainError::QueueDoesNotExist));
    let answer = engine.change_catalog::<_, DomainError>("apps", |entries| Ok((Vec::new(), entries.len()))).await;
    assert_eq!(answer, Ok(1));
    assert_eq!(open(&store).await.catalog_entry("apps", "k"), Some(entry(&[("v", "1")])));
}
