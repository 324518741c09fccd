//! `wharf-bench`: a load generator that speaks the real AWS wire protocols (SigV4-signed
//! awsJson over HTTP/1.1 keep-alive), so the same run can be pointed at Wharf or at any
//! compatible peer (ElasticMQ, LocalStack, kinesalite, AWS) and the figures compared.
//!
//! It owns: the command line, the protocol calls, the scenarios and the report (throughput over
//! a measured window, p50/p99/p99.9/max latency per operation, error counts by HTTP status and
//! AWS code, digest checks; text and one JSON line).
//!
//! It must not: depend on any Wharf crate but `wharf-aws`, and on that only for its pure SigV4
//! signer (it tests the wire, not the code behind it: no domain, stores or front-ends),
//! trust anything a server answers (every reply is checked and a bad one is counted, never
//! unwrapped), or purge or delete queues, topics or subscriptions: it only creates its queues,
//! topic and subscriptions (idempotently) and sends, publishes, receives and deletes messages.
//! The one exception is the Kinesis stream: `kinesis` creates a stream of its own (refusing one
//! that exists) and deletes it at the end, since its read phase must see this run's records only.
//!
//! Layout: `main.rs` CLI and wiring; `client.rs` HTTP, signing and the awsJson (SQS) calls;
//! `query.rs` the awsQuery protocol and the SNS calls, `xml.rs` the little XML they need;
//! `kinesis_api.rs` the Kinesis calls (awsJson1_1) and record encoding;
//! `scenario.rs` what scenarios share (run clock and stop, counters, pacing, bodies, consumer
//! steps); `sqs.rs`, `sns.rs` and `kinesis.rs` the scenarios; `report.rs` histograms and the
//! report. New services are new [`Command`] variants with their own scenario module.

mod client;
mod kinesis;
mod kinesis_api;
mod query;
mod report;
mod scale;
mod scale_kinesis;
mod scale_sqs;
mod scenario;
mod sns;
mod sqs;
mod xml;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use hyper::Uri;

use crate::client::{Credentials, EndpointConfig, SqsClient};
use crate::kinesis::KinesisSettings;
use crate::kinesis_api::{KinesisClient, GET_RECORDS_LIMIT_MAX, PUT_RECORDS_ENTRIES_MAX, RECORD_DATA_BYTES_MAX};
use crate::query::{SnsClient, SNS_PAYLOAD_BYTES_MAX};
use crate::report::Report;
use crate::sns::SnsSettings;
use crate::sqs::{Mode, SqsSettings};

/// Used when neither --duration-secs nor --messages is given.
const DEFAULT_DURATION_SECS: u64 = 20;

#[derive(Parser, Debug)]
#[command(
    name = "wharf-bench",
    version,
    about = "Load generator speaking the real AWS wire protocols, against Wharf or any peer"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// SQS over awsJson1_0: producers send, consumers receive and delete.
    Sqs(SqsArgs),
    /// SNS fan-out: publishers publish (awsQuery) to a topic with --queues SQS queues
    /// subscribed (raw delivery); consumers drain every queue, counting each delivery.
    Sns(SnsArgs),
    /// Kinesis Data Streams over awsJson1_1: creates a stream, ingests with PutRecords for
    /// --duration seconds, reads every shard back from TRIM_HORIZON with GetRecords, checks
    /// that every record written is read exactly once, and deletes the stream.
    Kinesis(KinesisArgs),
    /// Starts its own `wharf` on a fresh data dir: creates --queues queues with one message
    /// each, pages ListQueues, restarts the server and checks everything survived (RSS, restart
    /// time).
    ScaleQueues(scale_sqs::ScaleQueuesArgs),
    /// Starts its own `wharf` on a fresh data dir: fills a queue with --messages messages, then
    /// RSS per queued message, disk, restart time until messages are served, a checked sample.
    Backlog(scale_sqs::BacklogArgs),
    /// Starts its own `wharf` on a fresh data dir: fills a --shards stream with --bytes, then
    /// disk against data, GetRecords latency at head, tail and LATEST, RSS, restart time.
    StreamScale(scale_kinesis::StreamScaleArgs),
}

/// Where the endpoint is and how to sign for it; shared by every service's subcommand.
#[derive(Args, Debug)]
struct EndpointArgs {
    /// Base URL of the service, e.g. http://127.0.0.1:4566 (http only for now).
    #[arg(long)]
    endpoint: String,
    /// Region used in the SigV4 credential scope.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    #[arg(long, default_value = "test")]
    access_key: String,
    #[arg(long, default_value = "test")]
    secret_key: String,
    /// Session token for temporary credentials (sent as X-Amz-Security-Token).
    #[arg(long)]
    session_token: Option<String>,
    /// Per-request timeout in seconds (long polls get their wait time on top).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    request_timeout_secs: u64,
}

#[derive(Args, Debug)]
struct SqsArgs {
    #[command(flatten)]
    endpoint: EndpointArgs,
    /// Queue to create (idempotently) and use; it is never purged. With --fifo, `.fifo` is
    /// appended unless the name already ends in it.
    #[arg(long, default_value = "wharf-bench")]
    queue: String,
    /// Use a FIFO queue (high-throughput mode: DeduplicationScope=messageGroup,
    /// FifoThroughputLimit=perMessageGroupId); every message gets a MessageGroupId and a
    /// unique MessageDeduplicationId.
    #[arg(long)]
    fifo: bool,
    /// Spread messages round-robin over N MessageGroupIds g0..g{N-1}, batch entries included
    /// [default: 1 with --fifo; on a standard queue no MessageGroupId is sent unless this is
    /// given (fair queues)].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    groups: Option<u32>,
    #[arg(long, value_enum, default_value_t = Mode::SendReceiveDelete)]
    mode: Mode,
    /// Concurrent producers, one connection each.
    #[arg(long, default_value_t = 4)]
    producers: usize,
    /// Concurrent consumers, one connection each (ignored with --mode send-only).
    #[arg(long, default_value_t = 4)]
    consumers: usize,
    /// Messages per send, receive and delete; 1 uses SendMessage/DeleteMessage.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10))]
    batch: u32,
    /// Size of each message body in bytes.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    body_bytes: u64,
    /// Length of the measured run [default: 20, or until --messages are done when that is given].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    duration_secs: Option<u64>,
    /// Stop after sending this many messages (and, with consumers, deleting as many).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    messages: Option<u64>,
    /// Target send requests per second over all producers, on a fixed open-loop schedule;
    /// latency then counts from each request's scheduled start (no coordinated omission).
    #[arg(long)]
    rate: Option<f64>,
    /// Long-poll wait for ReceiveMessage, seconds.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=20))]
    wait_secs: u32,
    /// Also print the summary as one JSON line (the last line of stdout).
    #[arg(long)]
    json: bool,
    /// Do not print progress lines to stderr.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct SnsArgs {
    #[command(flatten)]
    endpoint: EndpointArgs,
    /// Topic to create (idempotently) and publish to; it is never deleted.
    #[arg(long, default_value = "wharf-bench")]
    topic: String,
    /// Subscribed queues are named <PREFIX>-0 .. <PREFIX>-<N-1>, created (idempotently) and
    /// never purged.
    #[arg(long, value_name = "PREFIX", default_value = "wharf-bench-sns")]
    queue_prefix: String,
    /// SQS queues subscribed to the topic (RawMessageDelivery=true unless --signed); every
    /// publication is delivered to each.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    queues: u32,
    /// Concurrent publishers, one connection each.
    #[arg(long, default_value_t = 4)]
    publishers: usize,
    /// Concurrent consumers draining the queues in turn (ReceiveMessage of 10,
    /// DeleteMessageBatch); 0 only publishes.
    #[arg(long, default_value_t = 10)]
    consumers: usize,
    /// Messages per publish request: 1 uses Publish, 2..=10 PublishBatch.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10))]
    batch: u32,
    /// Subscribe the queues without RawMessageDelivery: each delivery is the signed JSON
    /// notification. Use another --topic and --queue-prefix than raw runs: a subscription's
    /// attributes are fixed when it is made.
    #[arg(long)]
    signed: bool,
    /// Size of each message in bytes (SNS allows 256 KiB per publication, and per batch).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=SNS_PAYLOAD_BYTES_MAX))]
    body_bytes: u64,
    /// Length of the measured run [default: 20, or until --messages are done when that is given].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    duration_secs: Option<u64>,
    /// Stop after publishing this many messages (batch entries count one each) and, with
    /// consumers, draining every delivery of them.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    messages: Option<u64>,
    /// Target publish requests per second over all publishers, on a fixed open-loop schedule;
    /// latency then counts from each request's scheduled start (no coordinated omission).
    #[arg(long)]
    rate: Option<f64>,
    /// Long-poll wait for ReceiveMessage, seconds.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=20))]
    wait_secs: u32,
    /// Also print the summary as one JSON line (the last line of stdout).
    #[arg(long)]
    json: bool,
    /// Do not print setup and progress lines to stderr.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct KinesisArgs {
    #[command(flatten)]
    endpoint: EndpointArgs,
    /// Stream to create, use and delete at the end; one that already exists is refused
    /// [default: wharf-bench-<unix milliseconds>].
    #[arg(long)]
    stream: Option<String>,
    /// Shards of the stream (a peer may cap this: kinesalite's --shardLimit, AWS's account quota).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    shards: u32,
    /// Length of the ingest phase in seconds.
    #[arg(long, visible_alias = "duration-secs", default_value_t = DEFAULT_DURATION_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    duration: u64,
    /// Concurrent PutRecords producers, one connection each.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=65_535))]
    producers: u64,
    /// Concurrent readers in the read phase, taking shards in turn [default: one per shard].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    readers: Option<u64>,
    /// Data bytes per record (at least 12: each record carries a tag naming its run, producer
    /// and sequence).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(12..=RECORD_DATA_BYTES_MAX))]
    record_bytes: u64,
    /// Records per PutRecords request (the request must stay within 5 MiB).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=i64::from(PUT_RECORDS_ENTRIES_MAX)))]
    batch_records: u32,
    /// GetRecords Limit in the read phase (lowered for large records so a reply stays under 48 MiB).
    #[arg(long, default_value_t = GET_RECORDS_LIMIT_MAX, value_parser = clap::value_parser!(u32).range(1..=i64::from(GET_RECORDS_LIMIT_MAX)))]
    get_records_limit: u32,
    /// Upper bound on the read phase in seconds; shards not drained by then fail the run.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    read_timeout_secs: u64,
    /// Also print the summary as one JSON line (the last line of stdout).
    #[arg(long)]
    json: bool,
    /// Do not print setup and progress lines to stderr.
    #[arg(long)]
    quiet: bool,
}

impl KinesisArgs {
    fn settings(&self) -> anyhow::Result<KinesisSettings> {
        let stream_name =
            self.stream.clone().unwrap_or_else(|| format!("wharf-bench-{}", crate::scenario::unix_millis()));
        Ok(KinesisSettings {
            endpoint: self.endpoint.endpoint.clone(),
            stream_name,
            shards: self.shards,
            producers: usize::try_from(self.producers).context("--producers is too large")?,
            readers: self.readers.map(usize::try_from).transpose().context("--readers is too large")?,
            record_bytes: usize::try_from(self.record_bytes).context("--record-bytes is too large")?,
            batch_records: self.batch_records,
            duration: Duration::from_secs(self.duration),
            get_records_limit: self.get_records_limit,
            read_timeout: Duration::from_secs(self.read_timeout_secs),
            progress: !self.quiet,
        })
    }
}

impl EndpointArgs {
    fn config(&self, workers: usize) -> anyhow::Result<EndpointConfig> {
        let endpoint: Uri =
            self.endpoint.parse().with_context(|| format!("--endpoint {} is not a URL", self.endpoint))?;
        Ok(EndpointConfig {
            endpoint,
            region: self.region.clone(),
            credentials: Credentials {
                access_key_id: self.access_key.clone(),
                secret_access_key: self.secret_key.clone(),
                session_token: self.session_token.clone(),
            },
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            idle_connections_max: workers.max(1),
        })
    }
}

impl SqsArgs {
    /// AWS requires FIFO queue names to end in `.fifo`.
    fn queue_name(&self) -> String {
        if self.fifo && !self.queue.ends_with(".fifo") {
            format!("{}.fifo", self.queue)
        } else {
            self.queue.clone()
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("wharf-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Sqs(args) => run_sqs(args).await,
        Command::Sns(args) => run_sns(args).await,
        Command::Kinesis(args) => run_kinesis(args).await,
        Command::ScaleQueues(args) => {
            let json = args.server.json;
            Ok(finish(&scale_sqs::run_scale_queues(args).await?, json, "failed checks"))
        }
        Command::Backlog(args) => {
            let json = args.server.json;
            Ok(finish(&scale_sqs::run_backlog(args).await?, json, "failed checks"))
        }
        Command::StreamScale(args) => {
            let json = args.server.json;
            Ok(finish(&scale_kinesis::run_stream_scale(args).await?, json, "failed checks"))
        }
    }
}

/// The run's length: --duration-secs if given, else unbounded when --messages ends the run,
/// else [`DEFAULT_DURATION_SECS`].
fn run_duration_secs(duration_secs: Option<u64>, messages: Option<u64>) -> Option<u64> {
    match (duration_secs, messages) {
        (Some(secs), _) => Some(secs),
        (None, Some(_)) => None,
        (None, None) => Some(DEFAULT_DURATION_SECS),
    }
}

/// Prints the report (and its JSON line); the exit code says whether checks passed and any
/// request succeeded. `checks_failed` describes the failed checks for stderr.
fn finish(report: &Report, json: bool, checks_failed: &str) -> ExitCode {
    print!("{}", report.render_text());
    if json {
        println!("{}", report.to_json());
    }
    let failed_checks = report.failed_checks();
    if failed_checks > 0 {
        eprintln!("wharf-bench: {failed_checks} {checks_failed} (see report)");
        return ExitCode::FAILURE;
    }
    if report.operations.success_total() == 0 {
        eprintln!("wharf-bench: no request succeeded (see the errors in the report)");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

async fn run_sqs(args: SqsArgs) -> anyhow::Result<ExitCode> {
    let duration_secs = run_duration_secs(args.duration_secs, args.messages);
    let settings = SqsSettings {
        endpoint: args.endpoint.endpoint.clone(),
        queue_name: args.queue_name(),
        fifo: args.fifo,
        message_groups: args.groups.or(args.fifo.then_some(1)),
        mode: args.mode,
        producers: args.producers,
        consumers: args.consumers,
        batch_size: args.batch,
        body_bytes: usize::try_from(args.body_bytes).context("--body-bytes is too large")?,
        duration: duration_secs.map(Duration::from_secs),
        messages_max: args.messages,
        send_rate_per_second: args.rate,
        wait_time_seconds: args.wait_secs,
        progress: !args.quiet,
    };
    settings.validate()?;
    let config = args.endpoint.config(args.producers + args.consumers)?;
    let client = SqsClient::new(&config)?;
    let report = sqs::run(settings, client).await?;
    Ok(finish(&report, args.json, "MD5 digest mismatches"))
}

impl SnsArgs {
    fn settings(&self) -> anyhow::Result<SnsSettings> {
        Ok(SnsSettings {
            endpoint: self.endpoint.endpoint.clone(),
            topic_name: self.topic.clone(),
            queue_prefix: self.queue_prefix.clone(),
            queues: self.queues,
            publishers: self.publishers,
            consumers: self.consumers,
            batch_size: self.batch,
            body_bytes: usize::try_from(self.body_bytes).context("--body-bytes is too large")?,
            duration: run_duration_secs(self.duration_secs, self.messages).map(Duration::from_secs),
            messages_max: self.messages,
            publish_rate_per_second: self.rate,
            wait_time_seconds: self.wait_secs,
            signed: self.signed,
            progress: !self.quiet,
        })
    }
}

async fn run_sns(args: SnsArgs) -> anyhow::Result<ExitCode> {
    let settings = args.settings()?;
    settings.validate()?;
    let consumers = settings.consumers;
    let sns_client = SnsClient::new(&args.endpoint.config(args.publishers)?)?;
    let sqs_client = SqsClient::new(&args.endpoint.config(args.consumers)?)?;
    let report = sns::run(settings, sns_client, sqs_client).await?;
    let code = finish(&report, args.json, "failed checks (MD5 digest mismatches or enveloped deliveries)");
    let count = |name: &str| report.messages.iter().find(|count| count.name == name).map_or(0, |count| count.total);
    if code == ExitCode::SUCCESS && consumers > 0 && count("published") > 0 && count("delivered") == 0 {
        if count("stale") > 0 {
            // The peer delivers, but this run's messages queued behind an earlier backlog.
            eprintln!(
                "wharf-bench: warning: consumers only drained messages left by earlier runs; drain the queues \
                 or use a new --queue-prefix and --topic to measure deliveries"
            );
        } else {
            eprintln!("wharf-bench: nothing published was delivered to the queues (see the report)");
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(code)
}

async fn run_kinesis(args: KinesisArgs) -> anyhow::Result<ExitCode> {
    let settings = args.settings()?;
    settings.validate()?;
    if settings.progress {
        eprintln!(
            "stream {}: {} shards, {} producers × PutRecords of {} records of {} bytes for {} s",
            settings.stream_name,
            settings.shards,
            settings.producers,
            settings.batch_records,
            settings.record_bytes,
            settings.duration.as_secs()
        );
    }
    let writer = KinesisClient::new(&args.endpoint.config(settings.producers)?)?;
    let readers = settings.readers.unwrap_or(usize::try_from(settings.shards).unwrap_or(1));
    let reader = KinesisClient::new(&args.endpoint.config(readers)?)?;
    let report = kinesis::run(settings, writer, reader).await?;
    let code = finish(&report, args.json, "failed checks (records read ≠ written, missing, duplicated or corrupt)");
    if let Some((read, written)) = kinesis::read_written_mismatch(&report) {
        eprintln!("wharf-bench: MISMATCH: {read} records read back, but {written} were written (acknowledged)");
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sqs_defaults_match_the_documented_ones() {
        let cli = Cli::try_parse_from(["wharf-bench", "sqs", "--endpoint", "http://127.0.0.1:1"]).expect("parses");
        let Command::Sqs(args) = cli.command else { panic!("not the sqs command") };
        assert_eq!(args.queue, "wharf-bench");
        assert_eq!(args.mode, Mode::SendReceiveDelete);
        assert_eq!((args.producers, args.consumers, args.batch), (4, 4, 10));
        assert_eq!((args.body_bytes, args.wait_secs), (1024, 1));
        assert_eq!(args.endpoint.region, "us-east-1");
        assert_eq!(args.endpoint.access_key, "test");
        assert_eq!(args.endpoint.secret_key, "test");
        assert!(args.duration_secs.is_none() && args.messages.is_none() && args.rate.is_none());
        assert!(!args.fifo && args.groups.is_none());
    }

    #[test]
    fn fifo_and_groups_parse() {
        let cli =
            Cli::try_parse_from(["wharf-bench", "sqs", "--endpoint", "http://127.0.0.1:1", "--fifo", "--groups", "16"])
                .expect("parses");
        let Command::Sqs(args) = cli.command else { panic!("not the sqs command") };
        assert!(args.fifo);
        assert_eq!(args.groups, Some(16));
        assert_eq!(args.queue_name(), "wharf-bench.fifo");
        let zero = Cli::try_parse_from(["wharf-bench", "sqs", "--endpoint", "http://127.0.0.1:1", "--groups", "0"]);
        assert!(zero.is_err(), "--groups 0 was accepted");
    }

    #[test]
    fn batch_outside_one_to_ten_is_rejected() {
        for batch in ["0", "11"] {
            let parsed =
                Cli::try_parse_from(["wharf-bench", "sqs", "--endpoint", "http://127.0.0.1:1", "--batch", batch]);
            assert!(parsed.is_err(), "--batch {batch} was accepted");
        }
        let send_only =
            Cli::try_parse_from(["wharf-bench", "sqs", "--endpoint", "http://127.0.0.1:1", "--mode", "send-only"])
                .expect("parses");
        let Command::Sqs(args) = send_only.command else { panic!("not the sqs command") };
        assert_eq!(args.mode, Mode::SendOnly);
    }

    fn parse_sns(extra: &[&str]) -> Result<SnsArgs, clap::Error> {
        let arguments = ["wharf-bench", "sns", "--endpoint", "http://127.0.0.1:1"].iter().chain(extra);
        let cli = Cli::try_parse_from(arguments)?;
        let Command::Sns(args) = cli.command else { panic!("not the sns command") };
        Ok(args)
    }

    #[test]
    fn sns_defaults_match_the_documented_ones() {
        let args = parse_sns(&[]).expect("parses");
        assert_eq!((args.topic.as_str(), args.queue_prefix.as_str()), ("wharf-bench", "wharf-bench-sns"));
        assert_eq!((args.queues, args.publishers, args.consumers, args.batch), (10, 4, 10, 10));
        assert_eq!((args.body_bytes, args.wait_secs), (1024, 1));
        assert_eq!(args.endpoint.region, "us-east-1");
        assert!(args.duration_secs.is_none() && args.messages.is_none() && args.rate.is_none());
        assert!(!args.json && !args.quiet);
        let settings = args.settings().expect("valid");
        assert_eq!(settings.duration, Some(Duration::from_secs(DEFAULT_DURATION_SECS)));
        assert!(settings.validate().is_ok());
        assert_eq!(settings.queue_name(9), "wharf-bench-sns-9");
    }

    #[test]
    fn sns_flags_parse() {
        let args = parse_sns(&[
            "--topic",
            "fan",
            "--queue-prefix",
            "fan-q",
            "--queues",
            "3",
            "--publishers",
            "8",
            "--consumers",
            "16",
            "--batch",
            "1",
            "--body-bytes",
            "200",
            "--messages",
            "1000",
            "--rate",
            "50.5",
            "--wait-secs",
            "0",
            "--region",
            "eu-west-1",
            "--json",
            "--quiet",
        ])
        .expect("parses");
        assert_eq!((args.queues, args.publishers, args.consumers, args.batch, args.body_bytes), (3, 8, 16, 1, 200));
        assert_eq!((args.messages, args.rate, args.wait_secs), (Some(1000), Some(50.5), 0));
        assert_eq!(args.endpoint.region, "eu-west-1");
        let settings = args.settings().expect("valid");
        // --messages alone runs until done.
        assert_eq!(settings.duration, None);
        assert_eq!(settings.messages_max, Some(1000));
        assert!(!settings.progress);
        assert_eq!(settings.queue_name(0), "fan-q-0");
        let both = parse_sns(&["--messages", "5", "--duration-secs", "3"]).expect("parses");
        assert_eq!(both.settings().expect("valid").duration, Some(Duration::from_secs(3)));
    }

    fn parse_kinesis(extra: &[&str]) -> Result<KinesisArgs, clap::Error> {
        let arguments = ["wharf-bench", "kinesis", "--endpoint", "http://127.0.0.1:1"].iter().chain(extra);
        let cli = Cli::try_parse_from(arguments)?;
        let Command::Kinesis(args) = cli.command else { panic!("not the kinesis command") };
        Ok(args)
    }

    #[test]
    fn kinesis_defaults_and_flags() {
        let args = parse_kinesis(&[]).expect("parses");
        assert_eq!((args.shards, args.duration, args.producers, args.readers), (4, DEFAULT_DURATION_SECS, 8, None));
        assert_eq!((args.record_bytes, args.batch_records, args.get_records_limit), (1024, 500, 10_000));
        let settings = args.settings().expect("converts");
        assert!(settings.stream_name.starts_with("wharf-bench-"), "{}", settings.stream_name);
        assert!(settings.validate().is_ok());
        let args = parse_kinesis(&[
            "--stream",
            "s1",
            "--shards",
            "1",
            "--duration",
            "5",
            "--producers",
            "2",
            "--readers",
            "3",
            "--record-bytes",
            "100",
            "--batch-records",
            "10",
            "--quiet",
        ])
        .expect("parses");
        let settings = args.settings().expect("converts");
        assert_eq!(settings.stream_name, "s1");
        assert_eq!((settings.shards, settings.producers, settings.readers), (1, 2, Some(3)));
        assert_eq!((settings.record_bytes, settings.batch_records), (100, 10));
        assert_eq!(settings.duration, Duration::from_secs(5));
        assert!(!settings.progress);
        let alias = parse_kinesis(&["--duration-secs", "7"]).expect("parses");
        assert_eq!(alias.duration, 7);
        let invalid: [&[&str]; 7] = [
            &["--shards", "0"],
            &["--record-bytes", "11"],
            &["--record-bytes", "1048577"],
            &["--batch-records", "0"],
            &["--batch-records", "501"],
            &["--producers", "0"],
            &["--duration", "0"],
        ];
        for extra in invalid {
            assert!(parse_kinesis(extra).is_err(), "{extra:?} was accepted");
        }
        let over_request = parse_kinesis(&["--record-bytes", "1048576"]).expect("parses");
        assert!(over_request.settings().expect("converts").validate().is_err(), "500 × 1 MiB is over 5 MiB");
        let bad_name = parse_kinesis(&["--stream", "a/b"]).expect("parses");
        assert!(bad_name.settings().expect("converts").validate().is_err());
    }

    #[test]
    fn sns_rejects_out_of_range_values() {
        let invalid: [&[&str]; 9] = [
            &["--batch", "0"],
            &["--batch", "11"],
            &["--queues", "0"],
            &["--body-bytes", "0"],
            &["--body-bytes", "262145"],
            &["--wait-secs", "21"],
            &["--duration-secs", "0"],
            &["--messages", "0"],
            &["--publishers", "-1"],
        ];
        for extra in invalid {
            assert!(parse_sns(extra).is_err(), "{extra:?} was accepted");
        }
        assert!(Cli::try_parse_from(["wharf-bench", "sns"]).is_err(), "--endpoint is required");
        // In range for clap, but over SNS's 256 KiB per PublishBatch together.
        let too_big = parse_sns(&["--body-bytes", "30000", "--batch", "10"]).expect("parses");
        assert!(too_big.settings().expect("converts").validate().is_err());
        let zero_publishers = parse_sns(&["--publishers", "0"]).expect("parses");
        assert!(zero_publishers.settings().expect("converts").validate().is_err());
    }
}
