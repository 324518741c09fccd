//! The feeders of stream queues: one task per queue copies the stream's records into the queue's
//! domain queue as they become durable, following shard lineage (a child shard starts once its
//! parents are drained), and records its place in each shard in a catalog so a restart resumes
//! where it stopped. A record copied just before a crash may be delivered twice, which AWS
//! allows for queues too.

use super::queues::{QueueSpec, CURSOR_CATALOG, INTERNAL_ACCOUNT, QUEUE_CATALOG};
use crate::error_map::{ErrorKind, KinesisError};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use wharf_domain::catalog::{CatalogChange, Entry};
use wharf_domain::{Engine, MessageAttribute, MessageContent, NewMessage, Stream};

/// Records a feeder copies from one shard in one step.
const FEED_RECORDS_MAX: usize = 1_000;
const FEED_BYTES_MAX: usize = 8 * 1024 * 1024;
/// How long a feeder with nothing to copy waits before looking again (appends wake it sooner).
const FEED_IDLE: Duration = Duration::from_secs(1);

pub(super) fn cursor_key(spec: &QueueSpec, shard: u32) -> String {
    format!("{}/{}/{shard:010}", spec.key(), spec.created_ms)
}

pub(super) fn cursor_entry(position: u64, done: bool) -> Entry {
    let mut entry = Entry::new();
    entry.insert("position".into(), position.to_string());
    entry.insert("done".into(), done.to_string());
    entry
}

/// Starts a feeder for every queue the catalog holds (at server start).
pub fn start_feeders(engine: &Arc<Engine>) {
    for (_, entry) in engine.catalog_entries(QUEUE_CATALOG, "", None, usize::MAX) {
        if let Some(spec) = QueueSpec::from_entry(&entry) {
            spawn_feeder(engine.clone(), spec);
        }
    }
}

pub(super) fn spawn_feeder(engine: Arc<Engine>, spec: QueueSpec) {
    tokio::spawn(async move {
        let mut shutdown = engine.shutdown_signal();
        loop {
            if *shutdown.borrow() {
                return;
            }
            let entry = engine.catalog_entry(QUEUE_CATALOG, &spec.key());
            if entry
                .as_ref()
                .and_then(QueueSpec::from_entry)
                .is_none_or(|current| current.created_ms != spec.created_ms)
            {
                return;
            }
            let Some(stream) = engine.stream(&spec.stream_account, &spec.stream_name) else {
                tokio::select! {
                    _ = tokio::time::sleep(FEED_IDLE) => continue,
                    _ = shutdown.changed() => return,
                }
            };
            let appended = stream.appends().notified();
            tokio::pin!(appended);
            appended.as_mut().enable();
            match feed_once(&engine, &spec, &stream).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(queue = %spec.name, error = %error.message, "feeding a Kinesis queue failed")
                }
            }
            tokio::select! {
                _ = &mut appended => {}
                _ = tokio::time::sleep(FEED_IDLE) => {}
                _ = shutdown.changed() => return,
            }
        }
    });
}

/// Copies what each followed shard has past the queue's cursor; returns whether anything was
/// copied (so the feeder looks again at once).
async fn feed_once(engine: &Engine, spec: &QueueSpec, stream: &Stream) -> Result<bool, KinesisError> {
    let records_queue = engine
        .queue(INTERNAL_ACCOUNT, &spec.records_queue_name())
        .ok_or_else(|| KinesisError::new(ErrorKind::ResourceNotFound, "The queue's records are gone."))?;
    let prefix = format!("{}/{}/", spec.key(), spec.created_ms);
    let cursors: BTreeMap<u32, (u64, bool)> = engine
        .catalog_entries(CURSOR_CATALOG, &prefix, None, usize::MAX)
        .into_iter()
        .filter_map(|(key, entry)| {
            let shard = key.strip_prefix(&prefix)?.parse().ok()?;
            let position = entry.get("position")?.parse().ok()?;
            Some((shard, (position, entry.get("done").is_some_and(|done| done == "true"))))
        })
        .collect();
    // Shards born after the queue start at their beginning once their parents are done.
    let shards: Vec<(u32, Option<u32>, Option<u32>, u64)> = stream
        .lock()
        .shards
        .iter()
        .filter(|shard| shard.created_ms >= spec.created_ms)
        .map(|shard| (shard.index, shard.parent, shard.adjacent_parent, shard.starting_position))
        .collect();
    let mut new_cursors = Vec::new();
    for (index, parent, adjacent, start) in shards {
        let parents_done =
            [parent, adjacent].into_iter().flatten().all(|p| cursors.get(&p).is_none_or(|(_, done)| *done));
        if !cursors.contains_key(&index) && parents_done {
            new_cursors.push((index, start));
        }
    }
    let mut changes: Vec<CatalogChange> = new_cursors
        .iter()
        .map(|(index, start)| CatalogChange::Put { key: cursor_key(spec, *index), entry: cursor_entry(*start, false) })
        .collect();
    let mut copied = false;
    let mut followed: Vec<(u32, u64)> =
        cursors.iter().filter(|(_, (_, done))| !done).map(|(index, (position, _))| (*index, *position)).collect();
    followed.extend(new_cursors);
    for (index, position) in followed {
        let read = match engine.read_shard(stream, index, position, FEED_RECORDS_MAX, FEED_BYTES_MAX) {
            Ok(read) => read,
            // The shard expired: nothing more will come from it.
            Err(_) => {
                changes.push(CatalogChange::Put { key: cursor_key(spec, index), entry: cursor_entry(position, true) });
                continue;
            }
        };
        if !read.records.is_empty() {
            let stream_arn = format!("{}/{}", stream.account, stream.name);
            let messages = read
                .records
                .iter()
                .map(|record| NewMessage {
                    size_bytes: u32::try_from(record.data.len()).unwrap_or(u32::MAX),
                    delay_seconds: None,
                    content: MessageContent {
                        body: record.data.clone(),
                        system_attributes: vec![
                            text_attribute("PartitionKey", record.partition_key.clone()),
                            text_attribute("ApproximateArrivalTimestamp", record.arrival_ms.to_string()),
                            text_attribute("Stream", stream_arn.clone()),
                        ],
                        ..MessageContent::default()
                    },
                })
                .collect();
            engine.send(&records_queue, messages).await?;
            copied = true;
        }
        let done = read.end_of_closed_shard;
        if read.next_position != position || done {
            changes.push(CatalogChange::Put {
                key: cursor_key(spec, index),
                entry: cursor_entry(read.next_position, done),
            });
            copied |= done;
        }
    }
    if !changes.is_empty() {
        engine.change_catalog(CURSOR_CATALOG, |_| Ok::<_, KinesisError>((changes, ()))).await?;
    }
    Ok(copied)
}

fn text_attribute(name: &str, value: String) -> MessageAttribute {
    MessageAttribute {
        name: name.to_string(),
        data_type: "String".to_string(),
        value: wharf_domain::AttributeValue::Text(value),
    }
}
