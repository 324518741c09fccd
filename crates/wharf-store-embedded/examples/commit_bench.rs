//! Group-commit throughput of the embedded engine: N concurrent tokio tasks each put 1 KiB
//! messages one per batch (awaiting each commit, as a request handler does), then delete them
//! one per batch. Every commit is fsync'd; concurrent batches share commits.
//!
//! Usage: cargo run --release -p wharf-store-embedded --example commit_bench -- [TASKS...]
//! (default 1 4 16 64 256). `COMMIT_BENCH_MESSAGES` sets the messages per run (default 20000);
//! `COMMIT_BENCH_DIR` the parent of the data directories (default: the system temp dir).

use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wharf_store::{MessageContent, MessageMeta, Mutation, Store};
use wharf_store_embedded::{CommitStats, EmbeddedStore};

const BODY_BYTES: usize = 1024;

fn put(queue: u64, seq: u64, body: &Bytes) -> Mutation {
    let meta = MessageMeta {
        seq,
        message_id: [7; 16],
        sent_ms: seq,
        available_ms: seq,
        receive_count: 0,
        first_receive_ms: 0,
        size_bytes: BODY_BYTES as u32,
        group_key: 0,
    };
    let content = MessageContent { body: body.clone(), sender_id: "AIDAEXAMPLE".into(), ..MessageContent::default() };
    Mutation::PutMessage { queue, meta, content }
}

/// Runs one phase: every task submits its share of batches one at a time.
async fn phase(store: &Arc<EmbeddedStore>, tasks: u64, per_task: u64, delete: bool) -> anyhow::Result<Duration> {
    let body = Bytes::from(vec![b'x'; BODY_BYTES]);
    let start = Instant::now();
    let mut handles = Vec::new();
    for task in 0..tasks {
        let store = store.clone();
        let body = body.clone();
        handles.push(tokio::spawn(async move {
            for seq in 0..per_task {
                let queue = task + 1;
                let mutation = if delete { Mutation::DeleteMessage { queue, seq } } else { put(queue, seq, &body) };
                store.submit(vec![mutation]).await?;
            }
            anyhow::Ok(())
        }));
    }
    for handle in handles {
        handle.await??;
    }
    Ok(start.elapsed())
}

fn report(label: &str, operations: u64, elapsed: Duration, before: CommitStats, after: CommitStats) {
    let transactions = after.transactions - before.transactions;
    let batches = after.batches - before.batches;
    println!(
        "  {label:7} {:>9.0} ops/s  {:>7.0} fsync'd commits/s  {:>6.1} batches/commit  ({operations} ops in {:.2}s)",
        operations as f64 / elapsed.as_secs_f64(),
        transactions as f64 / elapsed.as_secs_f64(),
        batches as f64 / transactions.max(1) as f64,
        elapsed.as_secs_f64(),
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let task_counts: Vec<u64> = match std::env::args().skip(1).map(|arg| arg.parse()).collect::<Result<Vec<_>, _>>()? {
        counts if counts.is_empty() => vec![1, 4, 16, 64, 256],
        counts => counts,
    };
    let messages: u64 = std::env::var("COMMIT_BENCH_MESSAGES").ok().map(|v| v.parse()).transpose()?.unwrap_or(20_000);
    let parent = std::env::var_os("COMMIT_BENCH_DIR").map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir);

    println!(
        "commit_bench: {messages} messages of {BODY_BYTES} B per run, one mutation per batch, every commit fsync'd"
    );
    for tasks in task_counts {
        let directory = tempfile::tempdir_in(&parent)?;
        let store = Arc::new(EmbeddedStore::open(directory.path())?);
        let per_task = (messages / tasks).max(1);
        let operations = per_task * tasks;
        println!("{tasks} concurrent tasks:");

        let before = store.stats();
        let elapsed = phase(&store, tasks, per_task, false).await?;
        let after = store.stats();
        report("put", operations, elapsed, before, after);

        let elapsed = phase(&store, tasks, per_task, true).await?;
        report("delete", operations, elapsed, after, store.stats());

        anyhow::ensure!(store.load()?.messages.is_empty(), "every message was deleted");
        store.close()?;
    }
    Ok(())
}
