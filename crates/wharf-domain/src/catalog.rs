//! Catalogs: small durable records a front-end keeps about things that are neither queues nor
//! topics — account-wide settings, registrations of devices and applications, lists of numbers.
//! A catalog holds entries by key, in key order; an entry is a set of name/value pairs whose
//! meaning belongs to the front-end. Changes to one catalog are decided under one lock, so a
//! front-end can check and change entries without a race, and persisted in one atomic write.
//!
//! Each entry is stored as a setting named `catalog/<catalog>/<key>`, so no engine needs a table
//! of its own for it.

use crate::engine::Engine;
use crate::error::DomainError;
use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;
use wharf_store::Mutation;

/// One entry's name/value pairs.
pub type Entry = BTreeMap<String, String>;
/// One catalog: entries by key.
pub type Catalog = BTreeMap<String, Entry>;

const SETTING_PREFIX: &str = "catalog/";

/// A change `Engine::change_catalog` applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogChange {
    /// Creates or replaces the entry under `key`.
    Put {
        key: String,
        entry: Entry,
    },
    Delete {
        key: String,
    },
}

/// Every catalog by name.
#[derive(Default)]
pub(crate) struct Catalogs {
    catalogs: RwLock<HashMap<String, Catalog>>,
}

impl Catalogs {
    /// Rebuilds the catalogs from stored settings; entries that do not decode are skipped.
    pub(crate) fn load(settings: &[(String, Vec<u8>)]) -> Catalogs {
        let mut catalogs: HashMap<String, Catalog> = HashMap::new();
        for (name, value) in settings {
            let Some((catalog, key)) = name.strip_prefix(SETTING_PREFIX).and_then(|rest| rest.split_once('/')) else {
                continue;
            };
            if let Some(entry) = decode(value) {
                catalogs.entry(catalog.to_string()).or_default().insert(key.to_string(), entry);
            }
        }
        Catalogs { catalogs: RwLock::new(catalogs) }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Catalog>> {
        self.catalogs.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Catalog>> {
        self.catalogs.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn setting_key(catalog: &str, key: &str) -> String {
    format!("{SETTING_PREFIX}{catalog}/{key}")
}

/// Pairs as a sequence of (u32 length, bytes) fields, name then value.
pub(crate) fn encode(entry: &Entry) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in entry {
        for field in [name, value] {
            out.extend_from_slice(&u32::try_from(field.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(field.as_bytes());
        }
    }
    out
}

pub(crate) fn decode(mut bytes: &[u8]) -> Option<Entry> {
    let mut field = || -> Option<String> {
        let (length, rest) = bytes.split_first_chunk::<4>()?;
        let length = usize::try_from(u32::from_be_bytes(*length)).ok()?;
        let text = std::str::from_utf8(rest.get(..length)?).ok()?.to_string();
        bytes = &rest[length..];
        Some(text)
    };
    let mut entry = Entry::new();
    while let Some(name) = field() {
        entry.insert(name, field()?);
    }
    bytes.is_empty().then_some(entry)
}

impl Engine {
    /// One entry of a catalog.
    pub fn catalog_entry(&self, catalog: &str, key: &str) -> Option<Entry> {
        self.catalogs.read().get(catalog).and_then(|entries| entries.get(key)).cloned()
    }

    /// Up to `limit` entries of a catalog whose keys start with `prefix` and sort after `after`,
    /// in key order.
    pub fn catalog_entries(
        &self,
        catalog: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Vec<(String, Entry)> {
        let catalogs = self.catalogs.read();
        let Some(entries) = catalogs.get(catalog) else { return Vec::new() };
        let start = match after {
            Some(after) if after >= prefix => std::ops::Bound::Excluded(after.to_string()),
            _ => std::ops::Bound::Included(prefix.to_string()),
        };
        entries
            .range((start, std::ops::Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .take(limit)
            .map(|(key, entry)| (key.clone(), entry.clone()))
            .collect()
    }

    /// Decides changes to a catalog from its current entries and persists them atomically.
    /// `decide` runs under the catalog's lock and returns the changes and a result for the
    /// caller; when it fails nothing changes.
    pub async fn change_catalog<T, E: From<DomainError>>(
        &self,
        catalog: &str,
        decide: impl FnOnce(&Catalog) -> Result<(Vec<CatalogChange>, T), E>,
    ) -> Result<T, E> {
        let commit = {
            let mut catalogs = self.catalogs.write();
            let entries = catalogs.entry(catalog.to_string()).or_default();
            let (changes, result) = decide(entries)?;
            if changes.is_empty() {
                return Ok(result);
            }
            let mut batch = Vec::with_capacity(changes.len());
            for change in changes {
                match change {
                    CatalogChange::Put { key, entry } => {
                        batch.push(Mutation::PutSetting { key: setting_key(catalog, &key), value: encode(&entry) });
                        entries.insert(key, entry);
                    }
                    CatalogChange::Delete { key } => {
                        batch.push(Mutation::DeleteSetting { key: setting_key(catalog, &key) });
                        entries.remove(&key);
                    }
                }
            }
            (self.store.submit(batch), result)
        };
        commit.0.await.map_err(|error| E::from(error.into()))?;
        Ok(commit.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pairs: &[(&str, &str)]) -> Entry {
        pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
    }

    #[test]
    fn entries_round_trip_through_their_encoding() {
        for sample in [entry(&[]), entry(&[("Token", "abc"), ("Enabled", "true"), ("", "")]), entry(&[("é", "ü/\n")])]
        {
            assert_eq!(decode(&encode(&sample)), Some(sample));
        }
    }

    #[test]
    fn truncated_or_trailing_bytes_do_not_decode() {
        let bytes = encode(&entry(&[("name", "value")]));
        for length in 1..bytes.len() {
            assert_eq!(decode(&bytes[..length]), None, "prefix of {length} bytes");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer), None);
        assert_eq!(decode(&[0xff, 0xff, 0xff, 0xff]), None);
    }

    #[test]
    fn load_reads_only_catalog_settings() {
        let settings = vec![
            ("next_topic_id".to_string(), vec![0, 0, 0, 0, 0, 0, 0, 1]),
            (setting_key("devices", "a/1"), encode(&entry(&[("Token", "t")]))),
            (setting_key("devices", "a/2"), vec![9]),
            ("catalog/no-key".to_string(), Vec::new()),
        ];
        let catalogs = Catalogs::load(&settings);
        let read = catalogs.read();
        assert_eq!(read.len(), 1);
        assert_eq!(read["devices"].keys().collect::<Vec<_>>(), vec!["a/1"]);
    }
}
