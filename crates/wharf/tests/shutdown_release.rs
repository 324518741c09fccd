//! Storage is released when `Server::shutdown` returns. This lives in its own test binary: a test
//! that starts the real `wharf` binary forks this process, and until the child execs it holds a
//! copy of every open descriptor, the data-directory lock included, which would make this check
//! fail for reasons that have nothing to do with Wharf.

mod common;

use common::{config, TestServer};

/// `Server::shutdown` "flushes and closes storage": once it returns, the data directory is free
/// for the next server, as it is when the `wharf` process exits. The race is narrow, so this
/// runs many rounds on a multi-threaded runtime; one failed start is enough to show it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_releases_the_data_directory_at_once() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..500 {
        // No retry here, unlike `start`.
        let server = TestServer::start_with(config(Some(dir.path().to_path_buf())), None).await;
        // A client that keeps its connection open across the shutdown, as SDK clients do.
        let client = server.client();
        client.create_queue().queue_name(format!("round-{round}")).send().await.unwrap();
        let TestServer { server, .. } = server;
        server.shutdown().await.expect("clean shutdown");
        drop(client);
    }
}
