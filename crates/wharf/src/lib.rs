//! The `wharf` binary's library half: configuration, wiring the storage engine, the domain
//! engine and the service front-ends onto one HTTP listener, the `/_wharf/` admin endpoints,
//! queue provisioning from the config file, and graceful shutdown.
//!
//! This is the only crate that chooses a storage engine. It holds no protocol or queue logic.

pub mod admin;
pub mod config;

use anyhow::Context as _;
use config::Config;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use wharf_aws::auth::{Authenticator, User};
use wharf_aws::edge::{Edge, EdgeConfig};
use wharf_aws::service::AwsService;
use wharf_domain::{Clock, Engine, EngineOptions, SystemClock};
use wharf_sns::delivery::{Deliverer, MailRelay};
use wharf_sns::senders::{MobileSender, Recorder, Webhook};
use wharf_sns::signing::Signer;
use wharf_sns::tls_roots::TrustRoots;
use wharf_sns::SnsService;
use wharf_sqs::SqsService;
use wharf_store::memory::MemoryStore;
use wharf_store::Store;
use wharf_store_embedded::EmbeddedStore;

/// Where, inside the data directory, the SNS signing key and certificate are kept.
const SIGNING_KEY_DIR: &str = "sns-signing";

/// How often messages past their retention period are dropped from idle queues.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// A running server.
pub struct Server {
    pub local_addr: SocketAddr,
    pub engine: Arc<Engine>,
    shutdown: tokio::sync::watch::Sender<bool>,
    serving: tokio::task::JoinHandle<()>,
    sweeping: tokio::task::JoinHandle<()>,
    /// SNS deliveries to endpoints outside Wharf.
    delivering: tokio::task::JoinHandle<()>,
}

/// How long shutdown waits for connection tasks to let go of the engine after the drain.
const RELEASE_WAIT: Duration = Duration::from_secs(2);

impl Server {
    /// Binds the listener, opens storage, provisions configured queues; nothing is served if any
    /// step fails.
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        Self::start_with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn start_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Server> {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let local_addr = listener.local_addr()?;
        let store: Arc<dyn Store> = match &config.data_dir {
            Some(dir) => Arc::new(
                EmbeddedStore::open(dir)
                    .map_err(|error| anyhow::anyhow!("cannot use data dir {}: {error}", dir.display()))?,
            ),
            None => Arc::new(MemoryStore::new()),
        };
        let options =
            EngineOptions { queue_recreate_delay_ms: config.queue_recreate_delay_ms, ..EngineOptions::default() };
        let engine = Engine::open(store, clock, options).await.context("cannot load stored state")?;
        for queue in &config.queues {
            let account = queue.account_id.as_deref().unwrap_or(&config.account_id);
            wharf_sqs::provision_queue(&engine, &config.region, account, &queue.name, &queue.attributes, &queue.tags)
                .await
                .map_err(|error| anyhow::anyhow!("cannot provision queue {:?}: {}", queue.name, error.message))?;
        }
        let users = config
            .users
            .iter()
            .map(|user| User {
                access_key_id: user.access_key_id.clone(),
                secret_access_key: user.secret_access_key.clone(),
                account_id: user.account_id.clone().unwrap_or_else(|| config.account_id.clone()),
            })
            .collect();
        let signing_dir = config.data_dir.as_ref().map(|dir| dir.join(SIGNING_KEY_DIR));
        let configured_key = match &config.sns_signing_key_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the SNS signing key {}", path.display()))?,
            ),
            None => None,
        };
        let signer = Arc::new(
            Signer::open(signing_dir.as_deref(), configured_key.as_deref())
                .map_err(|error| anyhow::anyhow!("cannot load the SNS signing key: {error}"))?,
        );
        let outbox = wharf_sns::delivery::open_outbox(&engine).await.context("cannot open the SNS delivery outbox")?;
        let services: Vec<Arc<dyn AwsService>> = vec![
            Arc::new(SqsService::new(engine.clone())),
            Arc::new(SnsService::new(engine.clone(), signer.clone(), outbox.clone())),
            Arc::new(wharf_kinesis::KinesisService::new(
                engine.clone(),
                wharf_kinesis::KinesisOptions { shard_throughput_limits: config.kinesis_shard_throughput_limits },
            )),
        ];
        // SMS and push messages are recorded for reading back under /_wharf/sns/ (and forwarded
        // to sns.mobile_webhook when one is configured).
        let recorder = Arc::new(Recorder::new());
        let admin = Arc::new(admin::Admin::new(engine.clone(), config.data_dir.is_some(), signer, recorder.clone()));
        let edge = Edge::new(
            services,
            Authenticator::new(users, config.account_id.clone()),
            admin,
            EdgeConfig {
                request_bytes_max: config.request_bytes_max,
                advertised_url: config.advertised_url.clone(),
                region: config.region.clone(),
                drain_timeout: Duration::from_millis(config.drain_timeout_ms),
                header_read_timeout: Duration::from_millis(config.header_read_timeout_ms),
                body_read_timeout: Duration::from_millis(config.body_read_timeout_ms),
            },
        );
        let (shutdown, mut shutdown_requested) = tokio::sync::watch::channel(false);
        let sweeper_engine = engine.clone();
        let mut sweeper_shutdown = shutdown.subscribe();
        let sweeping = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
            loop {
                tokio::select! {
                    _ = ticks.tick() => sweeper_engine.sweep(),
                    _ = sweeper_shutdown.changed() => break,
                }
            }
        });
        let trust_roots = match &config.sns_https_ca_file {
            Some(path) => {
                let pem =
                    std::fs::read(path).with_context(|| format!("cannot read sns.https_ca_file {}", path.display()))?;
                TrustRoots::with_extra_pem(&pem)
                    .with_context(|| format!("cannot use sns.https_ca_file {}", path.display()))?
            }
            None => TrustRoots::mozilla(),
        };
        let delivery_client =
            wharf_sns::http_client::build(&trust_roots).context("cannot set up the SNS delivery client")?;
        let mail = match &config.sns_smtp_server {
            Some(server) => Some(MailRelay::new(server, config.sns_email_from.clone(), &trust_roots)?),
            None => None,
        };
        let mobile: Arc<dyn MobileSender> = match &config.sns_mobile_webhook {
            Some(url) => Arc::new(Webhook::new(url.clone(), delivery_client.clone(), recorder)),
            None => recorder,
        };
        let deliverer = Deliverer::new(
            engine.clone(),
            outbox,
            config.region.clone(),
            config.sns_lambda_endpoint.clone(),
            mail,
            mobile,
            delivery_client,
        );
        let delivering = tokio::spawn(deliverer.run(shutdown.subscribe()));
        let serving = tokio::spawn(edge.serve(listener, async move {
            let _ = shutdown_requested.wait_for(|stop| *stop).await;
        }));
        Ok(Server { local_addr, engine, shutdown, serving, sweeping, delivering })
    }

    /// Stops accepting, lets in-flight requests finish (long polls return empty at once), then
    /// flushes and closes storage.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.engine.begin_shutdown();
        self.shutdown.send_replace(true);
        self.serving.await.context("server task failed")?;
        self.sweeping.await.context("sweeper task failed")?;
        self.delivering.await.context("SNS delivery task failed")?;
        self.engine.persist_leases().await.context("cannot persist receive counts")?;
        self.engine.close().context("cannot flush storage")?;
        // Connection tasks drop their handles just after the drain; once the last one is gone the
        // store closes and the data directory is free for the next server.
        let deadline = tokio::time::Instant::now() + RELEASE_WAIT;
        let mut engine = self.engine;
        while tokio::time::Instant::now() < deadline {
            match Arc::try_unwrap(engine) {
                Ok(_) => return Ok(()),
                Err(shared) => engine = shared,
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tracing::warn!("storage is still referenced after shutdown; it closes when the last user ends");
        Ok(())
    }
}
