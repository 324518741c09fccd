//! The `wharf` process: its ready line, admin endpoints, signals and graceful shutdown, startup
//! failures, and configuration through flags, files and `WHARF_*` variables.

mod common;

use aws_sdk_sqs::types::QueueAttributeName;
use common::{assert_startup_failure, raw_request, run_to_exit, wharf_command, WharfProcess, ACCOUNT, HANG_TIMEOUT};
use std::time::Instant;

/// The value of the one sample line that starts with `series{` and carries every label given.
fn sample(metrics: &str, series: &str, labels: &[&str]) -> Option<f64> {
    let prefix = format!("{series}{{");
    let matching: Vec<&str> = metrics
        .lines()
        .filter(|line| line.starts_with(&prefix) && labels.iter().all(|label| line.contains(label)))
        .collect();
    assert!(matching.len() <= 1, "several samples match {series} {labels:?}: {matching:?}");
    matching.first().map(|line| line.rsplit(' ').next().unwrap().parse().expect("sample value"))
}

#[tokio::test]
async fn ready_line_health_and_metrics() {
    let data = tempfile::tempdir().unwrap();
    let mut process = WharfProcess::start_on(data.path());
    let lines = process.stdout_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let address = lines[0].strip_prefix("wharf listening on http://").expect("ready line format");
    let address: std::net::SocketAddr = address.parse().expect("ready line names ADDR:PORT");
    assert_eq!(address.ip().to_string(), "127.0.0.1");
    assert_ne!(address.port(), 0, "the ready line shows the bound port, not 0");

    let health = raw_request(&process.endpoint, false, "GET", "/_wharf/health", &[], "").await;
    assert_eq!(health.status, 200);
    assert!(health.header("content-type").unwrap().starts_with("application/json"));
    let health = health.json();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["storage"], "embedded");
    assert_eq!(health["services"]["sqs"], "ok");
    assert_eq!(health["services"]["kinesis"], "ok");

    let client = process.client();
    let url = client.create_queue().queue_name("metered").send().await.unwrap().queue_url.unwrap();
    for index in 0..3 {
        client.send_message().queue_url(&url).message_body(format!("m{index}")).send().await.unwrap();
    }
    client.send_message().queue_url(&url).message_body("later").delay_seconds(900).send().await.unwrap();
    let received = client.receive_message().queue_url(&url).visibility_timeout(600).send().await.unwrap();
    assert_eq!(received.messages().len(), 1);
    let error = client.get_queue_url().queue_name("no-such-queue").send().await.unwrap_err();
    assert_eq!(common::code(&error), "AWS.SimpleQueueService.NonExistentQueue");

    let metrics = raw_request(&process.endpoint, false, "GET", "/_wharf/metrics", &[], "").await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.header("content-type").unwrap().starts_with("text/plain"));
    let text = metrics.text();
    let send = ["service=\"sqs\"", "operation=\"SendMessage\"", "status=\"200\""];
    assert_eq!(sample(&text, "wharf_requests_total", &send), Some(4.0), "{text}");
    assert_eq!(sample(&text, "wharf_requests_total", &["operation=\"CreateQueue\""]), Some(1.0));
    assert_eq!(sample(&text, "wharf_requests_total", &["operation=\"ReceiveMessage\""]), Some(1.0));
    assert_eq!(
        sample(&text, "wharf_requests_total", &["operation=\"GetQueueUrl\"", "status=\"400\""]),
        Some(1.0),
        "failed requests are counted with their status"
    );
    assert!(text.contains("# TYPE wharf_request_duration_seconds "), "{text}");
    assert_eq!(
        sample(&text, "wharf_request_duration_seconds_count", &["operation=\"SendMessage\""]),
        Some(4.0),
        "{text}"
    );
    assert!(sample(&text, "wharf_request_duration_seconds_sum", &["operation=\"SendMessage\""]).unwrap() > 0.0);
    let queue = [format!("account=\"{ACCOUNT}\""), "queue=\"metered\"".to_string()];
    let gauge = |metric: &str| {
        let label = format!("metric=\"{metric}\"");
        sample(&text, "wharf_sqs_queue_messages", &[&queue[0], &queue[1], &label])
    };
    assert_eq!(gauge("ApproximateNumberOfMessagesVisible"), Some(2.0), "{text}");
    assert_eq!(gauge("ApproximateNumberOfMessagesNotVisible"), Some(1.0));
    assert_eq!(gauge("ApproximateNumberOfMessagesDelayed"), Some(1.0));

    let unknown = raw_request(&process.endpoint, false, "GET", "/_wharf/nothing-here", &[], "").await;
    assert_eq!(unknown.status, 404);

    process.stop().await;
    assert_eq!(process.stdout_lines().len(), 1, "only the ready line goes to stdout");
}

/// Starts a long poll and gives it time to reach the server; the test's outcome does not depend
/// on how long that takes, only the wait before the signal does.
async fn long_poll_then_signal(signal: &str) {
    let mut process = WharfProcess::start(wharf_command(&["--listen", "127.0.0.1:0", "--in-memory"]));
    let client = process.client();
    let url = client.create_queue().queue_name("waiting").send().await.unwrap().queue_url.unwrap();
    let poll = tokio::spawn({
        let client = common::client_without_retries(&process.endpoint);
        async move {
            let started = Instant::now();
            let result = client.receive_message().queue_url(url).wait_time_seconds(20).send().await;
            (result, started.elapsed())
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!poll.is_finished(), "a 20 second long poll returned early");
    process.signal(signal);
    let (result, elapsed) = tokio::time::timeout(HANG_TIMEOUT, poll).await.expect("poll returns").unwrap();
    let received = result.expect("the long poll gets a normal, empty reply");
    assert!(received.messages().is_empty());
    // The poll was cut short by the shutdown rather than running its 20 seconds out.
    assert!(elapsed.as_secs() < 20, "long poll ran for {elapsed:?}");
    let status = process.wait_exit().await;
    assert!(status.success(), "exit status {status:?}; stderr:\n{}", process.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_a_long_poll_empty_and_exits_zero() {
    long_poll_then_signal("TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_ends_a_long_poll_empty_and_exits_zero() {
    long_poll_then_signal("INT").await;
}

#[test]
fn port_in_use_fails_with_one_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let data = tempfile::tempdir().unwrap();
    let output =
        run_to_exit(wharf_command(&["serve", "--listen", &address, "--data-dir", data.path().to_str().unwrap()]));
    let line = assert_startup_failure(&output);
    assert!(line.contains(&address), "the error names the address: {line}");
}

#[test]
fn invalid_config_files_fail_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("syntax", "listen = \"127.0.0.1:0\"\n[[[broken\n"),
        ("unknown key", "listen = \"127.0.0.1:0\"\nin_memory = true\nno_such_setting = 1\n"),
        ("wrong type", "listen = 5\nin_memory = true\n"),
        ("bad listen address", "listen = \"not an address\"\nin_memory = true\n"),
        ("bad account id", "listen = \"127.0.0.1:0\"\nin_memory = true\naccount_id = \"12\"\n"),
        (
            "user without secret",
            "listen = \"127.0.0.1:0\"\nin_memory = true\n[[auth.users]]\naccess_key_id = \"AK\"\nsecret_access_key = \"\"\n",
        ),
        (
            "invalid queue attribute",
            "listen = \"127.0.0.1:0\"\nin_memory = true\n[[sqs.queues]]\nname = \"q\"\nattributes = { VisibilityTimeout = \"-1\" }\n",
        ),
        ("invalid queue name", "listen = \"127.0.0.1:0\"\nin_memory = true\n[[sqs.queues]]\nname = \"no spaces allowed\"\n"),
    ];
    for (case, text) in cases {
        let path = dir.path().join(format!("{}.toml", case.replace(' ', "-")));
        std::fs::write(&path, text).unwrap();
        let output = run_to_exit(wharf_command(&["serve", "--config", path.to_str().unwrap()]));
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        let failed = std::panic::catch_unwind(|| assert_startup_failure(&output));
        assert!(failed.is_ok(), "case {case:?}: stderr was {stderr:?}");
    }
    let missing = dir.path().join("missing.toml");
    let output = run_to_exit(wharf_command(&["--config", missing.to_str().unwrap()]));
    let line = assert_startup_failure(&output);
    assert!(line.contains("missing.toml"), "{line}");
}

#[test]
fn data_dir_that_is_a_regular_file_fails_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "just a file").unwrap();
    let output =
        run_to_exit(wharf_command(&["serve", "--listen", "127.0.0.1:0", "--data-dir", file.to_str().unwrap()]));
    let line = assert_startup_failure(&output);
    assert!(line.contains("not-a-dir"), "the error names the directory: {line}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "just a file", "the file is left alone");
}

#[tokio::test]
async fn a_second_server_on_the_same_data_dir_fails_and_the_first_keeps_serving() {
    let data = tempfile::tempdir().unwrap();
    let mut first = WharfProcess::start_on(data.path());
    let client = first.client();
    let url = client.create_queue().queue_name("owned").send().await.unwrap().queue_url.unwrap();

    let output =
        run_to_exit(wharf_command(&["serve", "--listen", "127.0.0.1:0", "--data-dir", data.path().to_str().unwrap()]));
    let line = assert_startup_failure(&output);
    assert!(line.contains("in use") || line.contains("lock"), "the error says the directory is taken: {line}");

    client.send_message().queue_url(&url).message_body("still here").send().await.unwrap();
    first.stop().await;
    // Once the first has exited the directory is free again, with its data.
    let mut second = WharfProcess::start_on(data.path());
    let client = second.client();
    let url = client.get_queue_url().queue_name("owned").send().await.unwrap().queue_url.unwrap();
    let received = client.receive_message().queue_url(&url).send().await.unwrap();
    assert_eq!(received.messages()[0].body(), Some("still here"));
    second.stop().await;
}

#[tokio::test]
async fn bare_wharf_reads_wharf_env_variables() {
    let cwd = tempfile::tempdir().unwrap();
    let mut command = wharf_command(&[]);
    command.current_dir(cwd.path()).env("WHARF_LISTEN", "127.0.0.1:0").env("WHARF_IN_MEMORY", "true");
    let mut process = WharfProcess::start(command);
    let health = raw_request(&process.endpoint, false, "GET", "/_wharf/health", &[], "").await;
    assert_eq!(health.json()["storage"], "memory");
    let client = process.client();
    let url = client.create_queue().queue_name("env").send().await.unwrap().queue_url.unwrap();
    client.send_message().queue_url(&url).message_body("x").send().await.unwrap();
    process.stop().await;
    let entries: Vec<_> = std::fs::read_dir(cwd.path()).unwrap().collect();
    assert!(entries.is_empty(), "an in-memory server wrote to its working directory: {entries:?}");
}

#[tokio::test]
async fn env_variables_choose_data_dir_and_account() {
    let data = tempfile::tempdir().unwrap();
    let mut command = wharf_command(&["serve"]);
    command
        .env("WHARF_LISTEN", "127.0.0.1:0")
        .env("WHARF_DATA_DIR", data.path())
        .env("WHARF_ACCOUNT_ID", "123456789012")
        .env("WHARF_REGION", "eu-west-1");
    let mut process = WharfProcess::start(command);
    let client = process.client();
    let url = client.create_queue().queue_name("env-account").send().await.unwrap().queue_url.unwrap();
    assert_eq!(url, format!("{}/123456789012/env-account", process.endpoint));
    let attributes = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        attributes.attributes().unwrap()[&QueueAttributeName::QueueArn],
        "arn:aws:sqs:eu-west-1:123456789012:env-account"
    );
    process.stop().await;
    assert!(data.path().join("wharf.redb").exists() || std::fs::read_dir(data.path()).unwrap().count() > 0);
}

#[tokio::test]
async fn flags_override_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wharf.toml");
    // The file's port is taken, so the server only starts if the flag wins.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std::fs::write(
        &path,
        format!("listen = \"{}\"\nin_memory = true\naccount_id = \"222222222222\"\n", taken.local_addr().unwrap()),
    )
    .unwrap();
    let mut process =
        WharfProcess::start(wharf_command(&["serve", "--config", path.to_str().unwrap(), "--listen", "127.0.0.1:0"]));
    let client = process.client();
    let url = client.create_queue().queue_name("from-file").send().await.unwrap().queue_url.unwrap();
    assert!(url.ends_with("/222222222222/from-file"), "{url}");
    process.stop().await;
}

/// The ready line promises a running server; a supervisor may stop it at any moment after, and
/// SIGTERM must then be a graceful shutdown (exit 0), never the default "terminated by signal".
/// Many servers are started to widen the race; one failure is enough to show it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_right_after_the_ready_line_is_a_clean_shutdown() {
    let mut processes: Vec<WharfProcess> = Vec::new();
    for _ in 0..100 {
        let process = WharfProcess::start(wharf_command(&["--listen", "127.0.0.1:0", "--in-memory"]));
        process.signal("TERM");
        processes.push(process);
    }
    let mut killed = 0;
    for process in &mut processes {
        let status = process.wait_exit().await;
        if !status.success() {
            killed += 1;
            eprintln!("exit {status:?}; stderr: {:?}", process.stderr());
        }
    }
    assert_eq!(killed, 0, "{killed} of {} servers died of SIGTERM instead of shutting down", processes.len());
}
