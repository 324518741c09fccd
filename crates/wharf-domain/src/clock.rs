//! Time, injected. Every deadline in the domain (visibility, delay, retention, long-poll expiry)
//! is computed from a [`Clock`], so tests move time forward instead of sleeping.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// Resolves once `now_ms() >= deadline_ms`.
    fn sleep_until(&self, deadline_ms: u64) -> Sleep;
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_millis() as u64).unwrap_or(0)
    }

    fn sleep_until(&self, deadline_ms: u64) -> Sleep {
        let wait_ms = deadline_ms.saturating_sub(self.now_ms());
        Box::pin(tokio::time::sleep(Duration::from_millis(wait_ms)))
    }
}

/// A clock that moves only when told to; sleepers wake when it passes their deadline.
pub struct ManualClock {
    now_ms: AtomicU64,
    ticks: tokio::sync::watch::Sender<u64>,
}

impl ManualClock {
    pub fn new(start_ms: u64) -> Self {
        let (ticks, _) = tokio::sync::watch::channel(start_ms);
        ManualClock { now_ms: AtomicU64::new(start_ms), ticks }
    }

    pub fn advance_ms(&self, delta_ms: u64) {
        let now = self.now_ms.fetch_add(delta_ms, Ordering::SeqCst) + delta_ms;
        self.ticks.send_replace(now);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now_ms.load(Ordering::SeqCst)
    }

    fn sleep_until(&self, deadline_ms: u64) -> Sleep {
        let mut ticks = self.ticks.subscribe();
        Box::pin(async move {
            // An error means the clock is gone; nothing will ever wake us, so stay pending.
            if ticks.wait_for(|now| *now >= deadline_ms).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}
