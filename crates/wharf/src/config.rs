//! Configuration: defaults, then the TOML file, then `WHARF_*` environment variables and flags
//! (clap reads both), each overriding the one before.

use anyhow::{bail, Context as _};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:4566";
pub const DEFAULT_DATA_DIR: &str = "./wharf-data";
pub const DEFAULT_ACCOUNT_ID: &str = "000000000000";
pub const DEFAULT_REGION: &str = "us-east-1";
/// Large enough for a 1 MiB SQS batch with JSON escaping, and for a Kinesis record of 10 MiB (the most UpdateMaxRecordSize allows) in base64.
pub const DEFAULT_REQUEST_BYTES_MAX: usize = 16 * 1024 * 1024;
pub const DEFAULT_DRAIN_TIMEOUT_MS: u64 = 25_000;
pub const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 30_000;
/// Long enough for a 16 MiB body over a slow link (about 280 KiB/s), short enough that a body
/// that stalls cannot hold a connection and its request for good.
pub const DEFAULT_BODY_READ_TIMEOUT_MS: u64 = 60_000;
/// The sender AWS uses for SNS email.
pub const DEFAULT_EMAIL_FROM: &str = "no-reply@sns.amazonaws.com";

/// Everything `wharf serve` runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// `None` runs on the in-memory engine.
    pub data_dir: Option<PathBuf>,
    pub advertised_url: Option<String>,
    pub account_id: String,
    pub region: String,
    pub request_bytes_max: usize,
    pub drain_timeout_ms: u64,
    pub header_read_timeout_ms: u64,
    /// How long a client may take to send a request's whole body after its headers (408 past it).
    pub body_read_timeout_ms: u64,
    pub log_format: LogFormat,
    /// How long a deleted queue's name stays unavailable (AWS: 60 000); 0 disables.
    pub queue_recreate_delay_ms: u64,
    pub users: Vec<UserConfig>,
    pub queues: Vec<QueueConfig>,
    /// Where SNS delivers to `lambda` subscriptions: a Lambda Invoke API (a local runtime or
    /// emulator). Without one, Lambda deliveries wait in the outbox and are retried.
    pub sns_lambda_endpoint: Option<String>,
    /// A PEM RSA key to sign SNS messages with, instead of the one generated into the data dir.
    pub sns_signing_key_file: Option<PathBuf>,
    /// The SMTP relay SNS sends email notifications through: `host:port` or `smtp://host:port`
    /// (plain), `smtp://host:port?tls=starttls` or `smtps://host:port` (TLS); see
    /// `wharf_sns::mail_relay`.
    pub sns_smtp_server: Option<String>,
    /// A PEM file of CA certificates trusted, besides Mozilla's roots, when SNS delivers over TLS
    /// (https endpoints, Lambda, SMTP relays).
    pub sns_https_ca_file: Option<PathBuf>,
    /// The sender of SNS email notifications.
    pub sns_email_from: String,
    /// A gateway SNS POSTs every SMS and push message to as JSON (besides recording it under
    /// `/_wharf/sns/`); without one, messages are only recorded.
    pub sns_mobile_webhook: Option<String>,
    /// Enforce AWS's per-shard Kinesis throughput limits; off so local use is never throttled.
    pub kinesis_shard_throughput_limits: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub access_key_id: String,
    pub secret_access_key: String,
    #[serde(default)]
    pub account_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    pub name: String,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// The TOML file's shape.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub in_memory: Option<bool>,
    pub advertised_url: Option<String>,
    pub account_id: Option<String>,
    pub region: Option<String>,
    pub request_bytes_max: Option<usize>,
    pub drain_timeout_ms: Option<u64>,
    pub header_read_timeout_ms: Option<u64>,
    pub body_read_timeout_ms: Option<u64>,
    pub log_format: Option<LogFormat>,
    #[serde(default)]
    pub auth: AuthSection,
    #[serde(default)]
    pub sqs: SqsSection,
    #[serde(default)]
    pub sns: SnsSection,
    #[serde(default)]
    pub kinesis: KinesisSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KinesisSection {
    pub shard_throughput_limits: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    #[serde(default)]
    pub users: Vec<UserConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqsSection {
    #[serde(default)]
    pub queues: Vec<QueueConfig>,
    pub queue_recreate_delay_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnsSection {
    pub lambda_endpoint: Option<String>,
    pub signing_key_file: Option<PathBuf>,
    pub smtp_server: Option<String>,
    pub email_from: Option<String>,
    pub https_ca_file: Option<PathBuf>,
    pub mobile_webhook: Option<String>,
}

/// Options given on the command line or through `WHARF_*` variables.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "WHARF_LISTEN", value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Directory for the durable store.
    #[arg(long, env = "WHARF_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep everything in memory; nothing is written to disk.
    #[arg(long, env = "WHARF_IN_MEMORY")]
    pub in_memory: bool,
    /// TOML configuration file.
    #[arg(long, env = "WHARF_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Base URL put in queue URLs instead of the request's Host.
    #[arg(long, env = "WHARF_ADVERTISED_URL", value_name = "URL")]
    pub advertised_url: Option<String>,
    /// Account used when no credentials are configured.
    #[arg(long, env = "WHARF_ACCOUNT_ID")]
    pub account_id: Option<String>,
    /// Region put in ARNs.
    #[arg(long, env = "WHARF_REGION")]
    pub region: Option<String>,
    /// Log format.
    #[arg(long, env = "WHARF_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// PEM file of CA certificates SNS trusts, besides Mozilla's roots, for https and SMTP TLS.
    #[arg(long, env = "WHARF_SNS_HTTPS_CA_FILE", value_name = "FILE")]
    pub sns_https_ca_file: Option<PathBuf>,
    /// Enforce AWS's per-shard Kinesis throughput limits (1 MiB/s and 1,000 records/s in,
    /// 2 MiB/s and 5 reads/s out).
    #[arg(long, env = "WHARF_KINESIS_SHARD_THROUGHPUT_LIMITS")]
    pub kinesis_shard_throughput_limits: bool,
}

impl Config {
    pub fn load(args: &ServeArgs) -> anyhow::Result<Config> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let listen_text = args.listen.clone().or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen: SocketAddr =
            listen_text.parse().with_context(|| format!("listen address {listen_text:?} is not ADDR:PORT"))?;
        let in_memory = args.in_memory || file.in_memory.unwrap_or(false);
        let data_dir = match in_memory {
            true => None,
            false => Some(args.data_dir.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))),
        };
        let account_id = args.account_id.clone().or(file.account_id).unwrap_or_else(|| DEFAULT_ACCOUNT_ID.to_string());
        check_account_id(&account_id)?;
        let advertised_url = args.advertised_url.clone().or(file.advertised_url);
        if let Some(url) = &advertised_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("advertised_url {url:?} must start with http:// or https://");
            }
        }
        let mut users = file.auth.users;
        for user in &mut users {
            if user.access_key_id.is_empty() || user.secret_access_key.is_empty() {
                bail!("every [[auth.users]] entry needs access_key_id and secret_access_key");
            }
            let account = user.account_id.get_or_insert_with(|| account_id.clone());
            check_account_id(account)?;
        }
        let request_bytes_max = file.request_bytes_max.unwrap_or(DEFAULT_REQUEST_BYTES_MAX);
        let header_read_timeout_ms = file.header_read_timeout_ms.unwrap_or(DEFAULT_HEADER_READ_TIMEOUT_MS);
        if header_read_timeout_ms == 0 {
            bail!("header_read_timeout_ms must be greater than 0");
        }
        let body_read_timeout_ms = file.body_read_timeout_ms.unwrap_or(DEFAULT_BODY_READ_TIMEOUT_MS);
        if body_read_timeout_ms == 0 {
            bail!("body_read_timeout_ms must be greater than 0");
        }
        if request_bytes_max < 1024 * 1024 {
            bail!("request_bytes_max must be at least 1048576 so a maximum-size message fits");
        }
        Ok(Config {
            listen,
            data_dir,
            advertised_url,
            account_id,
            region: args.region.clone().or(file.region).unwrap_or_else(|| DEFAULT_REGION.to_string()),
            request_bytes_max,
            drain_timeout_ms: file.drain_timeout_ms.unwrap_or(DEFAULT_DRAIN_TIMEOUT_MS),
            header_read_timeout_ms,
            body_read_timeout_ms,
            log_format: args.log_format.or(file.log_format).unwrap_or(LogFormat::Pretty),
            queue_recreate_delay_ms: file.sqs.queue_recreate_delay_ms.unwrap_or(0),
            users,
            queues: file.sqs.queues,
            sns_lambda_endpoint: file.sns.lambda_endpoint.map(|url| url.trim_end_matches('/').to_string()),
            sns_signing_key_file: file.sns.signing_key_file,
            sns_smtp_server: file.sns.smtp_server,
            sns_https_ca_file: args.sns_https_ca_file.clone().or(file.sns.https_ca_file),
            sns_email_from: file.sns.email_from.unwrap_or_else(|| DEFAULT_EMAIL_FROM.to_string()),
            sns_mobile_webhook: file.sns.mobile_webhook,
            kinesis_shard_throughput_limits: args.kinesis_shard_throughput_limits
                || file.kinesis.shard_throughput_limits.unwrap_or(false),
        })
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).map_err(|error| {
        anyhow::anyhow!("config file {} is invalid: {}", path.display(), error.to_string().replace('\n', " "))
    })
}

fn check_account_id(account: &str) -> anyhow::Result<()> {
    if account.len() != 12 || !account.bytes().all(|byte| byte.is_ascii_digit()) {
        bail!("account id {account:?} must be 12 digits");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wharf.toml");
        std::fs::write(
            &path,
            r#"
listen = "127.0.0.1:9000"
region = "eu-west-1"
[[auth.users]]
access_key_id = "AKID"
secret_access_key = "secret"
[[sqs.queues]]
name = "orders"
attributes = { VisibilityTimeout = "60" }
[sns]
smtp_server = "smtps://mail.internal"
https_ca_file = "/etc/wharf/ca.pem"
mobile_webhook = "http://127.0.0.1:7070/sms"
"#,
        )
        .unwrap();
        let args =
            ServeArgs { config: Some(path.clone()), listen: Some("127.0.0.1:9001".into()), ..Default::default() };
        let config = Config::load(&args).unwrap();
        assert_eq!(config.listen.port(), 9001);
        assert_eq!(config.region, "eu-west-1");
        assert_eq!(config.users[0].account_id.as_deref(), Some(DEFAULT_ACCOUNT_ID));
        assert_eq!(config.queues[0].attributes["VisibilityTimeout"], "60");
        assert_eq!(config.data_dir, Some(PathBuf::from(DEFAULT_DATA_DIR)));
        assert_eq!(config.sns_smtp_server.as_deref(), Some("smtps://mail.internal"));
        assert_eq!(config.sns_https_ca_file, Some(PathBuf::from("/etc/wharf/ca.pem")));
        assert_eq!(config.sns_mobile_webhook.as_deref(), Some("http://127.0.0.1:7070/sms"));
        let flagged = ServeArgs {
            config: Some(path.clone()),
            sns_https_ca_file: Some(PathBuf::from("/run/ca.pem")),
            ..Default::default()
        };
        assert_eq!(Config::load(&flagged).unwrap().sns_https_ca_file, Some(PathBuf::from("/run/ca.pem")));

        std::fs::write(&path, "listen = 5\n").unwrap();
        assert!(Config::load(&ServeArgs { config: Some(path.clone()), ..Default::default() }).is_err());
        std::fs::write(&path, "unknown_key = true\n").unwrap();
        assert!(Config::load(&ServeArgs { config: Some(path), ..Default::default() }).is_err());
        assert!(Config::load(&ServeArgs { listen: Some("nope".into()), ..Default::default() }).is_err());
    }
}
