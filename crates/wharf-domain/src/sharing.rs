//! Storing a fan-out's content once. When one write puts the same content into several queues
//! (a publication delivered raw to many subscribed queues), the store is asked to keep it once
//! and let each message refer to it, so a fan-out of ten writes one body, not ten.
//!
//! Contents are recognised as the same when their bodies are one buffer (clones of one
//! `Bytes`, as a front-end that builds a body once hands out) and everything else about them is
//! equal; this costs a pointer comparison per message, never a scan of bodies that merely
//! happen to be alike.

use std::collections::HashMap;
use wharf_store::{MessageContent, Mutation};

/// Bodies shorter than this are stored with each message: a reference would save little.
pub const SHARED_BODY_BYTES_MIN: usize = 64;

/// Rewrites the `PutMessage`s of `batch` whose contents are the same into one
/// `PutSharedContent` and a `PutSharingMessage` each; everything else keeps its order.
pub(crate) fn share_equal_contents(batch: Vec<Mutation>) -> Vec<Mutation> {
    // The messages whose bodies are one buffer, by that buffer.
    let mut by_body: HashMap<(usize, usize), Vec<usize>> = HashMap::new();
    for (index, mutation) in batch.iter().enumerate() {
        if let Mutation::PutMessage { content, .. } = mutation {
            if content.body.len() >= SHARED_BODY_BYTES_MIN {
                by_body.entry((content.body.as_ptr() as usize, content.body.len())).or_default().push(index);
            }
        }
    }
    // For each message that shares: the index of the group's first message and the group's size.
    let mut sharing: HashMap<usize, (usize, u32)> = HashMap::new();
    for indexes in by_body.into_values().filter(|indexes| indexes.len() > 1) {
        let first = indexes[0];
        let equal: Vec<usize> =
            indexes.into_iter().filter(|index| same_content(&batch[first], &batch[*index])).collect();
        if equal.len() > 1 {
            let references = u32::try_from(equal.len()).unwrap_or(u32::MAX);
            sharing.extend(equal.into_iter().map(|index| (index, (first, references))));
        }
    }
    if sharing.is_empty() {
        return batch;
    }
    let mut out = Vec::with_capacity(batch.len() + sharing.len() / 2);
    // The id of each group's content, by the index of the group's first message.
    let mut ids = HashMap::new();
    for (index, mutation) in batch.into_iter().enumerate() {
        match (sharing.get(&index), mutation) {
            (Some(&(first, references)), Mutation::PutMessage { queue, meta, content }) => {
                if index == first {
                    // The first message's id names the content: message ids are unique.
                    ids.insert(first, meta.message_id);
                    out.push(Mutation::PutSharedContent { id: meta.message_id, content, references });
                }
                // Groups are in index order, so the first message was seen already.
                let shared = ids.get(&first).copied().unwrap_or(meta.message_id);
                out.push(Mutation::PutSharingMessage { queue, meta, shared });
            }
            (_, mutation) => out.push(mutation),
        }
    }
    out
}

fn same_content(a: &Mutation, b: &Mutation) -> bool {
    matches!((content(a), content(b)), (Some(a), Some(b)) if a == b)
}

fn content(mutation: &Mutation) -> Option<&MessageContent> {
    match mutation {
        Mutation::PutMessage { content, .. } => Some(content),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use wharf_store::MessageMeta;

    fn put(queue: u64, id: u8, body: &Bytes, group: Option<&str>) -> Mutation {
        Mutation::PutMessage {
            queue,
            meta: MessageMeta {
                seq: 1,
                message_id: [id; 16],
                sent_ms: 0,
                available_ms: 0,
                receive_count: 0,
                first_receive_ms: 0,
                size_bytes: 0,
                group_key: 0,
            },
            content: MessageContent { body: body.clone(), group_id: group.map(str::to_string), ..Default::default() },
        }
    }

    fn kinds(batch: &[Mutation]) -> Vec<String> {
        batch
            .iter()
            .map(|mutation| match mutation {
                Mutation::PutMessage { queue, .. } => format!("own {queue}"),
                Mutation::PutSharedContent { id, references, .. } => format!("shared {} x{references}", id[0]),
                Mutation::PutSharingMessage { queue, shared, .. } => format!("ref {queue}->{}", shared[0]),
                _ => "other".to_string(),
            })
            .collect()
    }

    #[test]
    fn one_buffer_in_several_queues_is_stored_once() {
        let body = Bytes::from(vec![b'x'; 100]);
        let alike_but_apart = Bytes::from(vec![b'x'; 100]);
        let batch = vec![
            Mutation::DeleteSetting { key: "k".into() },
            put(1, 10, &body, None),
            put(2, 11, &body, None),
            put(3, 12, &alike_but_apart, None),
            put(4, 13, &body, Some("different group")),
            put(5, 14, &body, None),
        ];
        let shared = share_equal_contents(batch);
        assert_eq!(
            kinds(&shared),
            vec!["other", "shared 10 x3", "ref 1->10", "ref 2->10", "own 3", "own 4", "ref 5->10"]
        );
    }

    #[test]
    fn short_or_single_bodies_are_left_alone() {
        let short = Bytes::from_static(b"tiny");
        let long = Bytes::from(vec![b'y'; 100]);
        let batch = vec![put(1, 1, &short, None), put(2, 2, &short, None), put(3, 3, &long, None)];
        assert_eq!(kinds(&share_equal_contents(batch)), vec!["own 1", "own 2", "own 3"]);
    }
}
