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
use std::sync::atomic::{AtomicU64, Ordering};
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
use wharf_store_embedded::{DiskFaults, EmbeddedOptions, EmbeddedStore};

/// Where, inside the data directory, the SNS signing key and certificate are kept.
const SIGNING_KEY_DIR: &str = "sns-signing";

/// How often messages past their retention period are dropped from idle queues.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// How often a server whose storage refuses writes checks whether the disk takes writes again.
const RECOVERY_PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// The longest wait between checks, reached by doubling while recoveries keep failing at once.
const RECOVERY_PROBE_INTERVAL_MAX: Duration = Duration::from_secs(30);
/// A recovery that fails again sooner than this doubles the wait before the next one.
const RECOVERY_STABLE: Duration = Duration::from_secs(60);

/// A running server.
///
/// It serves through one generation at a time: a storage engine, the domain engine loaded from
/// it, the services and their background tasks. When the embedded store has refused writes (a
/// full or failing disk) and the disk takes writes again, the server stops that generation and
/// starts a new one on the same listener from what is on disk, exactly as a restart would, so
/// memory never disagrees with the disk. Connections that arrive meanwhile wait in the
/// listener's backlog.
pub struct Server {
    pub local_addr: SocketAddr,
    engine: tokio::sync::watch::Receiver<Option<Arc<Engine>>>,
    recoveries: Arc<AtomicU64>,
    stop: tokio::sync::watch::Sender<bool>,
    supervising: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// What every generation is started from.
struct Setup {
    config: Config,
    clock: Arc<dyn Clock>,
    disk_faults: Option<DiskFaults>,
    /// Bound once; each generation accepts on a clone of it.
    listener: std::net::TcpListener,
}

/// One storage engine and everything serving from it.
struct Generation {
    engine: Arc<Engine>,
    /// The embedded store, watched for refused writes; `None` on the in-memory engine.
    store: Option<Arc<EmbeddedStore>>,
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
        Self::start_with_disk_faults(config, clock, None).await
    }

    /// Starts with the embedded store's disk behind the fault-injecting seam `disk_faults`
    /// controls (for tests of disk failures and recovery).
    pub async fn start_with_disk_faults(
        config: Config,
        clock: Arc<dyn Clock>,
        disk_faults: Option<DiskFaults>,
    ) -> anyhow::Result<Server> {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let local_addr = listener.local_addr()?;
        let setup = Setup { config, clock, disk_faults, listener: listener.into_std()? };
        let generation = Generation::start(&setup).await?;
        let (engine_sender, engine) = tokio::sync::watch::channel(Some(generation.engine.clone()));
        let (stop, stop_requested) = tokio::sync::watch::channel(false);
        let recoveries = Arc::new(AtomicU64::new(0));
        let supervising = tokio::spawn(supervise(setup, generation, engine_sender, stop_requested, recoveries.clone()));
        Ok(Server { local_addr, engine, recoveries, stop, supervising })
    }

    /// The domain engine serving now; `None` only while the server restarts itself after its
    /// storage recovered.
    pub fn engine(&self) -> Option<Arc<Engine>> {
        self.engine.borrow().clone()
    }

    /// How many times the server has restarted itself on its stored state after the disk took
    /// writes again.
    pub fn recoveries(&self) -> u64 {
        self.recoveries.load(Ordering::Relaxed)
    }

    /// Stops accepting, lets in-flight requests finish (long polls return empty at once), then
    /// flushes and closes storage.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.stop.send_replace(true);
        drop(self.engine);
        self.supervising.await.context("server task failed")?
    }
}

/// Runs generations until shutdown: one from the start, and a new one each time the store
/// refused writes and the disk takes writes again.
async fn supervise(
    setup: Setup,
    mut generation: Generation,
    engine: tokio::sync::watch::Sender<Option<Arc<Engine>>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    recoveries: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let mut wait = RECOVERY_PROBE_INTERVAL;
    let mut last_recovery: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => break,
            _ = tokio::time::sleep(wait) => {}
        }
        let Some(store) = generation.store.clone() else { continue };
        let Some(reason) = store.poison_reason() else { continue };
        let accepts = tokio::task::spawn_blocking(move || store.disk_accepts_writes()).await.unwrap_or(false);
        if !accepts {
            continue;
        }
        tracing::warn!(%reason, "the disk takes writes again; restarting on the stored state");
        engine.send_replace(None);
        if let Err(error) = generation.stop().await {
            tracing::warn!(error = %format!("{error:#}"), "stopping the generation whose storage failed");
        }
        generation = loop {
            match Generation::start(&setup).await {
                Ok(started) => break started,
                Err(error) => {
                    tracing::error!(error = %format!("{error:#}"), "cannot restart on the stored state yet");
                    tokio::select! {
                        _ = stop.wait_for(|stop| *stop) => return Ok(()),
                        _ = tokio::time::sleep(RECOVERY_PROBE_INTERVAL) => {}
                    }
                }
            }
        };
        engine.send_replace(Some(generation.engine.clone()));
        recoveries.fetch_add(1, Ordering::Relaxed);
        tracing::info!("serving again after the storage failure");
        wait = match last_recovery {
            Some(at) if at.elapsed() < RECOVERY_STABLE => (wait * 2).min(RECOVERY_PROBE_INTERVAL_MAX),
            _ => RECOVERY_PROBE_INTERVAL,
        };
        last_recovery = Some(tokio::time::Instant::now());
    }
    engine.send_replace(None);
    generation.stop().await
}

impl Generation {
    /// Opens storage, loads the domain from it, provisions configured queues and starts serving
    /// on a clone of the listener.
    async fn start(setup: &Setup) -> anyhow::Result<Generation> {
        let config = &setup.config;
        let clock = setup.clock.clone();
        let listener = tokio::net::TcpListener::from_std(setup.listener.try_clone()?)?;
        let embedded = match &config.data_dir {
            Some(dir) => {
                let options = EmbeddedOptions { faults: setup.disk_faults.clone(), ..EmbeddedOptions::default() };
                Some(Arc::new(
                    EmbeddedStore::open_with_options(dir, options)
                        .map_err(|error| anyhow::anyhow!("cannot use data dir {}: {error}", dir.display()))?,
                ))
            }
            None => None,
        };
        let store: Arc<dyn Store> = match &embedded {
            Some(embedded) => embedded.clone(),
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
        let admin = Arc::new(admin::Admin::new(engine.clone(), embedded.clone(), signer, recorder.clone()));
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
        Ok(Generation { engine, store: embedded, shutdown, serving, sweeping, delivering })
    }

    /// Stops accepting on this generation's listener clone, lets in-flight requests finish
    /// (long polls return empty at once), flushes and closes storage, and waits for connection
    /// tasks to let go of it so the data directory is free for the next opener.
    async fn stop(self) -> anyhow::Result<()> {
        let Generation { engine, store, shutdown, serving, sweeping, delivering } = self;
        drop(store);
        engine.begin_shutdown();
        shutdown.send_replace(true);
        serving.await.context("server task failed")?;
        sweeping.await.context("sweeper task failed")?;
        delivering.await.context("SNS delivery task failed")?;
        let flushed = async {
            engine.persist_leases().await.context("cannot persist receive counts")?;
            engine.close().context("cannot flush storage")
        }
        .await;
        // Connection tasks drop their handles just after the drain; once the last one is gone the
        // store closes and the data directory is free for the next server.
        let deadline = tokio::time::Instant::now() + RELEASE_WAIT;
        let mut engine = engine;
        loop {
            match Arc::try_unwrap(engine) {
                Ok(_) => return flushed,
                Err(shared) => engine = shared,
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!("storage is still referenced after shutdown; it closes when the last user ends");
                return flushed;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}
