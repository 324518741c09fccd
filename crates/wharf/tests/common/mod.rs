//! Test harness: a Wharf server on an ephemeral 127.0.0.1 port and an aws-sdk-sqs client for it.
#![allow(dead_code)]

use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use std::path::PathBuf;
use std::sync::Arc;
use wharf::config::{Config, LogFormat, UserConfig};
use wharf::Server;
use wharf_domain::{Clock, ManualClock, SystemClock};

pub const ACCOUNT: &str = "000000000000";
/// A time well after the epoch so timestamps look real.
pub const START_MS: u64 = 1_780_000_000_000;

pub fn config(data_dir: Option<PathBuf>) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir,
        advertised_url: None,
        account_id: ACCOUNT.to_string(),
        region: "us-east-1".to_string(),
        request_bytes_max: 8 * 1024 * 1024,
        drain_timeout_ms: 5_000,
        log_format: LogFormat::Pretty,
        users: Vec::<UserConfig>::new(),
        queues: Vec::new(),
    }
}

pub struct TestServer {
    pub server: Server,
    pub clock: Option<Arc<ManualClock>>,
    pub endpoint: String,
}

impl TestServer {
    /// In memory, on the wall clock.
    pub async fn start() -> TestServer {
        Self::start_with(config(None), None).await
    }

    /// In memory, on a manual clock the test moves.
    pub async fn start_manual() -> TestServer {
        Self::start_with(config(None), Some(Arc::new(ManualClock::new(START_MS)))).await
    }

    pub async fn start_with(config: Config, clock: Option<Arc<ManualClock>>) -> TestServer {
        let engine_clock: Arc<dyn Clock> = match &clock {
            Some(manual) => manual.clone(),
            None => Arc::new(SystemClock),
        };
        let server = Server::start_with_clock(config, engine_clock).await.expect("server starts");
        let endpoint = format!("http://{}", server.local_addr);
        TestServer { server, clock, endpoint }
    }

    pub fn advance_secs(&self, seconds: u64) {
        self.clock.as_ref().expect("manual clock").advance_ms(seconds * 1000);
    }

    pub fn client(&self) -> aws_sdk_sqs::Client {
        client(&self.endpoint, "test", "test")
    }

    pub fn url(&self, name: &str) -> String {
        format!("{}/{ACCOUNT}/{name}", self.endpoint)
    }

    pub async fn create(&self, name: &str) -> String {
        self.client().create_queue().queue_name(name).send().await.expect("create queue").queue_url.expect("url")
    }
}

pub fn client(endpoint: &str, access_key: &str, secret: &str) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(access_key, secret, None, None, "test"))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// The AWS error code of a failed SDK call.
pub fn code<E, R>(error: &aws_sdk_sqs::error::SdkError<E, R>) -> String
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata,
{
    error.as_service_error().and_then(|service| service.code()).unwrap_or("<not a service error>").to_string()
}

pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(bytes))
}
