//! `/_wharf/health` (JSON status per service), `/_wharf/metrics` (Prometheus text: request
//! counters and latency histograms from the `metrics` recorder, plus per-queue gauges named
//! after the CloudWatch metrics users know), and the SNS signing certificate.

use bytes::Bytes;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};
use wharf_aws::edge::AdminHandler;
use wharf_domain::Engine;
use wharf_sns::signing::Signer;
use wharf_sns::SIGNING_CERT_PATH;

pub struct Admin {
    engine: Arc<Engine>,
    durable: bool,
    signer: Arc<Signer>,
}

/// The process-wide recorder; installed once even when several servers run in one process.
fn recorder() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            // Buckets (seconds) make latencies histograms, which aggregate across instances.
            const LATENCY_BUCKETS_SECONDS: &[f64] =
                &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0];
            let builder = PrometheusBuilder::new();
            let builder = match builder.set_buckets(LATENCY_BUCKETS_SECONDS) {
                Ok(with_buckets) => with_buckets,
                Err(_) => PrometheusBuilder::new(),
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok().map(|_| handle)
        })
        .as_ref()
}

impl Admin {
    pub fn new(engine: Arc<Engine>, durable: bool, signer: Arc<Signer>) -> Self {
        recorder();
        Admin { engine, durable, signer }
    }

    fn health(&self) -> Bytes {
        let storage = if self.durable { "embedded" } else { "memory" };
        let services = serde_json::json!({"sqs": "ok", "sns": "ok"});
        Bytes::from(serde_json::json!({"status": "ok", "storage": storage, "services": services}).to_string())
    }

    fn metrics(&self) -> Bytes {
        let mut text = recorder().map(|handle| handle.render()).unwrap_or_default();
        text.push_str("# TYPE wharf_sqs_queue_messages gauge\n");
        for queue in self.engine.all_queues() {
            let counts = self.engine.counts(&queue);
            for (metric, value) in [
                ("ApproximateNumberOfMessagesVisible", counts.visible),
                ("ApproximateNumberOfMessagesNotVisible", counts.leased),
                ("ApproximateNumberOfMessagesDelayed", counts.delayed),
            ] {
                let _ = writeln!(
                    text,
                    "wharf_sqs_queue_messages{{account=\"{}\",queue=\"{}\",metric=\"{metric}\"}} {value}",
                    queue.account, queue.name
                );
            }
        }
        Bytes::from(text)
    }
}

impl AdminHandler for Admin {
    fn handle(&self, path: &str) -> Option<(u16, &'static str, Bytes)> {
        match path {
            "health" => Some((200, "application/json", self.health())),
            "metrics" => Some((200, "text/plain; version=0.0.4", self.metrics())),
            _ if Some(path) == SIGNING_CERT_PATH.strip_prefix("/_wharf/") => {
                Some((200, "application/x-x509-ca-cert", Bytes::from(self.signer.certificate_pem())))
            }
            _ => None,
        }
    }
}
