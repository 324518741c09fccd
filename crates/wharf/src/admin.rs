//! `/_wharf/health` (JSON status per service), `/_wharf/metrics` (Prometheus text: request
//! counters and latency histograms from the `metrics` recorder, plus per-queue gauges named
//! after the CloudWatch metrics users know), the SNS signing certificate, and the SMS and push
//! messages SNS recorded (read back with GET, forgotten with DELETE), with a way to opt a phone
//! number out as if it had replied STOP.

use bytes::Bytes;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use wharf_aws::edge::{AdminHandler, AdminReply, AdminRequest};
use wharf_aws::wire::query::QueryParams;
use wharf_domain::Engine;
use wharf_sns::senders::{Channel, Recorder};
use wharf_sns::signing::Signer;
use wharf_sns::SIGNING_CERT_PATH;
use wharf_store_embedded::EmbeddedStore;

/// Recorded SMS messages; `?PhoneNumber=` narrows them to one number.
pub const SMS_MESSAGES_PATH: &str = "sns/sms-messages";
/// Recorded push messages; `?EndpointArn=` narrows them to one endpoint.
pub const PUSH_MESSAGES_PATH: &str = "sns/push-messages";
/// POST `?AccountId=…&PhoneNumber=…` opts a number out of SMS, as a STOP reply would.
pub const SMS_OPT_OUT_PATH: &str = "sns/sms-opt-outs";

pub struct Admin {
    engine: Arc<Engine>,
    /// The embedded store, whose refusal to write health reports; `None` in memory.
    store: Option<Arc<EmbeddedStore>>,
    signer: Arc<Signer>,
    recorder: Arc<Recorder>,
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
            metrics::set_global_recorder(recorder).ok()?;
            start_upkeep(handle.clone());
            Some(handle)
        })
        .as_ref()
}

/// How often recorded latencies are folded into their histograms.
const METRICS_UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The recorder keeps every latency sample until it is folded into its histogram, which only a
/// scrape or an upkeep does; without this thread, a server nobody scrapes would grow by every
/// request it serves. A thread, not a task, because the recorder outlives any one runtime.
fn start_upkeep(handle: PrometheusHandle) {
    let started = std::thread::Builder::new().name("wharf-metrics-upkeep".to_string()).spawn(move || loop {
        std::thread::sleep(METRICS_UPKEEP_INTERVAL);
        handle.run_upkeep();
    });
    if let Err(error) = started {
        tracing::warn!(%error, "cannot start the metrics upkeep thread; latency samples accumulate until scraped");
    }
}

impl Admin {
    pub fn new(
        engine: Arc<Engine>,
        store: Option<Arc<EmbeddedStore>>,
        signer: Arc<Signer>,
        recorder: Arc<Recorder>,
    ) -> Self {
        self::recorder();
        Admin { engine, store, signer, recorder }
    }

    /// 200 with `"status": "ok"`, or 503 with `"status": "degraded"` and the reason while the
    /// store refuses writes (reads keep working; writes get retryable errors until it recovers).
    fn health(&self) -> AdminReply {
        let storage = if self.store.is_some() { "embedded" } else { "memory" };
        let services = serde_json::json!({"sqs": "ok", "sns": "ok", "kinesis": "ok"});
        match self.store.as_ref().and_then(|store| store.poison_reason()) {
            None => json(200, serde_json::json!({"status": "ok", "storage": storage, "services": services})),
            Some(reason) => json(
                503,
                serde_json::json!({
                    "status": "degraded",
                    "storage": storage,
                    "storage_writes": "refused",
                    "reason": reason,
                    "services": services,
                }),
            ),
        }
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

fn json(status: u16, value: serde_json::Value) -> AdminReply {
    (status, "application/json", Bytes::from(value.to_string()))
}

impl Admin {
    /// GET lists recorded messages (optionally for one destination); DELETE forgets them.
    fn recorded(&self, request: AdminRequest<'_>, channel: Channel, filter: &str) -> AdminReply {
        match request.method {
            "GET" => {
                let params = QueryParams::parse(&[request.query.as_bytes()]).unwrap_or_default();
                let messages = self.recorder.messages(channel, params.get(filter));
                json(200, serde_json::json!({ "Messages": messages }))
            }
            "DELETE" => {
                self.recorder.clear(channel);
                (204, "text/plain", Bytes::new())
            }
            _ => json(405, serde_json::json!({ "Error": "use GET or DELETE" })),
        }
    }

    async fn opt_out(&self, request: AdminRequest<'_>) -> AdminReply {
        if request.method != "POST" {
            return json(405, serde_json::json!({ "Error": "use POST" }));
        }
        let params = QueryParams::parse(&[request.query.as_bytes()]).unwrap_or_default();
        let (Some(account), Some(number)) = (params.get("AccountId"), params.get("PhoneNumber")) else {
            return json(400, serde_json::json!({ "Error": "AccountId and PhoneNumber are required" }));
        };
        match wharf_sns::opt_out_phone_number(&self.engine, account, number).await {
            Ok(()) => json(200, serde_json::json!({ "PhoneNumber": number, "OptedOut": true })),
            Err(error) => json(400, serde_json::json!({ "Error": error.message })),
        }
    }
}

impl AdminHandler for Admin {
    /// Health and metrics are for probes and scrapers, and the signing certificate is what every
    /// SNS subscriber must fetch; the recorded messages and the opt-out hook are data.
    fn is_public(&self, path: &str) -> bool {
        matches!(path, "health" | "metrics") || Some(path) == SIGNING_CERT_PATH.strip_prefix("/_wharf/")
    }

    fn handle<'a>(
        &'a self,
        request: AdminRequest<'a>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<AdminReply>> + Send + 'a>> {
        Box::pin(async move {
            match request.path {
                "health" => Some(self.health()),
                "metrics" => Some((200, "text/plain; version=0.0.4", self.metrics())),
                SMS_MESSAGES_PATH => Some(self.recorded(request, Channel::Sms, "PhoneNumber")),
                PUSH_MESSAGES_PATH => Some(self.recorded(request, Channel::Push, "EndpointArn")),
                SMS_OPT_OUT_PATH => Some(self.opt_out(request).await),
                path if Some(path) == SIGNING_CERT_PATH.strip_prefix("/_wharf/") => {
                    Some((200, "application/x-x509-ca-cert", Bytes::from(self.signer.certificate_pem())))
                }
                _ => None,
            }
        })
    }
}
