//! What the scale scenarios (`scale-queues`, `backlog`, `stream-scale`) share: they start the
//! real `wharf` binary themselves on a fresh data directory (the other scenarios target an
//! endpoint someone else runs), because they measure the server process itself: its resident
//! memory (VmRSS from `/proc/<pid>/status`), its data directory on disk, and how long it takes
//! to stop (SIGTERM) and to serve again after a restart on the same directory.
//!
//! Linux only (`/proc`, `kill`). The scenarios are in `scale_sqs.rs` and `scale_kinesis.rs`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use serde_json::{json, Value};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::client::{CallError, Credentials, EndpointConfig};

/// How long a started server may take to accept connections before the run gives up.
const START_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a server may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(120);
/// Pause between readiness probes.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(5);

/// The server and data directory every scale scenario uses.
#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// The `wharf` binary to start [default: `wharf` next to this executable].
    #[arg(long, value_name = "PATH")]
    pub wharf_bin: Option<PathBuf>,
    /// Data directory, which must not exist yet [default: /tmp/wharf-scale-<scenario>-<unix ms>].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Port the server listens on (127.0.0.1).
    #[arg(long, default_value_t = 4710)]
    pub port: u16,
    /// Keep the data directory and the server's log (<DIR>.log) at the end (both are removed
    /// by default).
    #[arg(long)]
    pub keep_data: bool,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_secs: u64,
    /// Also print the summary as one JSON line (the last line of stdout).
    #[arg(long)]
    pub json: bool,
    /// Do not print progress lines to stderr.
    #[arg(long)]
    pub quiet: bool,
}

impl ServerArgs {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn endpoint_config(&self, workers: usize) -> anyhow::Result<EndpointConfig> {
        Ok(EndpointConfig {
            endpoint: self.endpoint().parse().context("endpoint")?,
            region: "us-east-1".to_owned(),
            credentials: Credentials {
                access_key_id: "test".to_owned(),
                secret_access_key: "test".to_owned(),
                session_token: None,
            },
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            idle_connections_max: workers.max(1),
        })
    }

    fn wharf_bin(&self) -> anyhow::Result<PathBuf> {
        if let Some(path) = &self.wharf_bin {
            return Ok(path.clone());
        }
        let exe = std::env::current_exe().context("cannot find this executable")?;
        Ok(exe.with_file_name("wharf"))
    }

    /// Checks the data directory is new and the binary exists, and returns the server handle
    /// (not started).
    pub fn server(&self, scenario: &str) -> anyhow::Result<Server> {
        let data_dir = self.data_dir.clone().unwrap_or_else(|| {
            PathBuf::from(format!("/tmp/wharf-scale-{scenario}-{}", crate::scenario::unix_millis()))
        });
        anyhow::ensure!(!data_dir.exists(), "data directory {} exists already; give a new one", data_dir.display());
        let bin = self.wharf_bin()?;
        anyhow::ensure!(bin.is_file(), "no wharf binary at {} (build it, or give --wharf-bin)", bin.display());
        let log = data_dir.with_extension("log");
        Ok(Server { bin, data_dir, log, port: self.port, child: None, keep_data: self.keep_data })
    }
}

/// A `wharf serve` process on a data directory; killed (and the directory removed unless kept)
/// when dropped.
pub struct Server {
    bin: PathBuf,
    pub data_dir: PathBuf,
    log: PathBuf,
    port: u16,
    child: Option<Child>,
    keep_data: bool,
}

impl Server {
    /// Starts the process and waits until it accepts TCP connections; returns the time from
    /// spawn to the first accepted connection.
    pub async fn start(&mut self) -> anyhow::Result<Duration> {
        anyhow::ensure!(self.child.is_none(), "server already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("cannot open {}", self.log.display()))?;
        let started = Instant::now();
        let child = Command::new(&self.bin)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--log-format")
            .arg("json")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", self.bin.display()))?;
        self.child = Some(child);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return Ok(started.elapsed());
            }
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    self.child = None;
                    anyhow::bail!("wharf exited during start ({status}); see {}", self.log.display());
                }
            }
            anyhow::ensure!(started.elapsed() < START_TIMEOUT, "wharf did not listen within {START_TIMEOUT:?}");
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// The server's resident memory now and at its peak (VmRSS, VmHWM), in bytes.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        let pid = self.pid().context("server is not running")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading /proc/<pid>/status")?;
        let field = |name: &str| -> anyhow::Result<u64> {
            let line = status
                .lines()
                .find(|line| line.starts_with(name))
                .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
            let kib: u64 = line[name.len()..].trim().trim_end_matches("kB").trim().parse().context("parsing kB")?;
            Ok(kib * 1024)
        };
        Ok(Memory { rss: field("VmRSS:")?, peak: field("VmHWM:")? })
    }

    /// Sends SIGTERM and waits for the process to exit; returns how long that took.
    pub async fn stop(&mut self) -> anyhow::Result<Duration> {
        let Some(mut child) = self.child.take() else { return Ok(Duration::ZERO) };
        let started = Instant::now();
        if let Some(pid) = child.id() {
            let status = Command::new("kill").arg("-TERM").arg(pid.to_string()).status().await?;
            anyhow::ensure!(status.success(), "kill -TERM {pid} failed");
        }
        match tokio::time::timeout(STOP_TIMEOUT, child.wait()).await {
            Ok(status) => {
                let status = status?;
                let elapsed = started.elapsed();
                anyhow::ensure!(
                    status.success(),
                    "wharf exited with {status} after SIGTERM; see {}",
                    self.log.display()
                );
                Ok(elapsed)
            }
            Err(_) => {
                child.kill().await?;
                anyhow::bail!("wharf did not exit within {STOP_TIMEOUT:?} of SIGTERM; killed")
            }
        }
    }

    /// Bytes the data directory takes: allocated on disk and apparent (file lengths).
    pub fn disk_usage(&self) -> anyhow::Result<DiskUsage> {
        disk_usage(&self.data_dir)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        if !self.keep_data {
            let _ = std::fs::remove_dir_all(&self.data_dir);
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Memory {
    pub rss: u64,
    pub peak: u64,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct DiskUsage {
    /// Blocks allocated (what `du` shows).
    pub allocated: u64,
    /// Sum of file lengths (`du --apparent-size`).
    pub apparent: u64,
}

fn disk_usage(dir: &Path) -> anyhow::Result<DiskUsage> {
    use std::os::unix::fs::MetadataExt as _;
    let mut usage = DiskUsage::default();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let metadata = entry.metadata()?;
        if metadata.is_dir() {
            let inner = disk_usage(&entry.path())?;
            usage.allocated += inner.allocated;
            usage.apparent += inner.apparent;
        } else {
            usage.allocated += metadata.blocks() * 512;
            usage.apparent += metadata.len();
        }
    }
    Ok(usage)
}

/// Calls `probe` every [`PROBE_INTERVAL`] until it returns `Ok(true)`; returns the time from
/// `since` to then, and the number of probes.
pub async fn wait_until<F, Fut>(since: Instant, timeout: Duration, mut probe: F) -> anyhow::Result<(Duration, u64)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, CallError>>,
{
    let mut probes = 0;
    loop {
        probes += 1;
        if let Ok(true) = probe().await {
            return Ok((since.elapsed(), probes));
        }
        anyhow::ensure!(since.elapsed() < timeout, "not ready within {timeout:?} ({probes} probes)");
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

pub fn mib(bytes: u64) -> Value {
    json!(round2(bytes as f64 / (1024.0 * 1024.0)))
}

pub fn secs(duration: Duration) -> Value {
    json!(round3(duration.as_secs_f64()))
}

pub fn millis(duration: Duration) -> Value {
    json!(round2(duration.as_secs_f64() * 1000.0))
}

pub fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

pub fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// Bytes of RSS per item above a baseline (0 when RSS went down).
pub fn per_item(rss: u64, baseline: u64, items: u64) -> Value {
    if items == 0 {
        return Value::Null;
    }
    json!(round2(rss.saturating_sub(baseline) as f64 / items as f64))
}

/// A progress line on stderr unless quiet.
pub fn progress(quiet: bool, line: impl std::fmt::Display) {
    if !quiet {
        eprintln!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_usage_sums_nested_files() {
        let dir = std::env::temp_dir().join(format!("wharf-bench-du-{}", crate::scenario::unix_millis()));
        std::fs::create_dir_all(dir.join("a")).expect("mkdir");
        std::fs::write(dir.join("x"), vec![1u8; 5000]).expect("write");
        std::fs::write(dir.join("a/y"), vec![1u8; 3000]).expect("write");
        let usage = disk_usage(&dir).expect("walks");
        std::fs::remove_dir_all(&dir).expect("rm");
        assert_eq!(usage.apparent, 8000);
        assert!(usage.allocated >= 8000, "{usage:?}");
    }

    #[test]
    fn per_item_is_null_without_items_and_floors_at_zero() {
        assert_eq!(per_item(10, 5, 0), Value::Null);
        assert_eq!(per_item(5, 10, 5), json!(0.0));
        assert_eq!(per_item(1_000, 0, 10), json!(100.0));
    }
}
