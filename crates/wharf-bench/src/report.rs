//! Per-operation statistics (request counts, error counts, latency histograms) and the final
//! report, as text for people and as one JSON line for scripts.
//!
//! Nothing here knows about SQS: a scenario fills a [`Report`] with its own settings, message
//! counters, checks and operations, so later scenarios (SNS, Kinesis) reuse the same output.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

/// Latencies are recorded in microseconds; the upper bound (one hour) is far above any timeout
/// the bench uses, and larger values are clamped rather than lost.
const LATENCY_US_MIN: u64 = 1;
const LATENCY_US_MAX: u64 = 3_600_000_000;
const LATENCY_SIGNIFICANT_DIGITS: u8 = 3;

/// Counters and a latency histogram for one kind of request.
#[derive(Clone, Debug)]
pub struct OperationStats {
    requests: u64,
    latency_us: Histogram<u64>,
    /// Error key (HTTP status and AWS code, transport failure, malformed reply, failed batch
    /// entry) → count.
    errors: BTreeMap<String, u64>,
}

impl Default for OperationStats {
    fn default() -> Self {
        Self::new()
    }
}

impl OperationStats {
    pub fn new() -> Self {
        // The bounds are constants that hdrhistogram accepts, so creation cannot fail.
        let latency_us = Histogram::new_with_bounds(LATENCY_US_MIN, LATENCY_US_MAX, LATENCY_SIGNIFICANT_DIGITS)
            .expect("constant histogram bounds are valid");
        Self { requests: 0, latency_us, errors: BTreeMap::new() }
    }

    /// A request that got a well-formed success reply; only these feed the latency histogram.
    pub fn record_success(&mut self, latency: Duration) {
        self.requests += 1;
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_us.saturating_record(micros.max(LATENCY_US_MIN));
    }

    /// A request that failed as a whole.
    pub fn record_failure(&mut self, error_key: &str) {
        self.requests += 1;
        self.record_error(error_key);
    }

    /// An error that does not add a request, such as a failed entry inside a batch reply.
    pub fn record_error(&mut self, error_key: &str) {
        *self.errors.entry(error_key.to_owned()).or_insert(0) += 1;
    }

    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Requests that got a well-formed success reply.
    pub fn successes(&self) -> u64 {
        self.latency_us.len()
    }

    pub fn errors(&self) -> &BTreeMap<String, u64> {
        &self.errors
    }

    pub fn error_total(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn merge(&mut self, other: &OperationStats) {
        self.requests += other.requests;
        // Both histograms have the same fixed bounds, so adding cannot overflow their range.
        if self.latency_us.add(&other.latency_us).is_err() {
            for value in other.latency_us.iter_recorded() {
                self.latency_us.saturating_record_n(value.value_iterated_to(), value.count_at_value());
            }
        }
        for (key, count) in &other.errors {
            *self.errors.entry(key.clone()).or_insert(0) += count;
        }
    }

    /// `None` when no request succeeded.
    pub fn latency_summary(&self) -> Option<LatencySummary> {
        if self.latency_us.is_empty() {
            return None;
        }
        let to_ms = |micros: u64| micros as f64 / 1000.0;
        Some(LatencySummary {
            p50_ms: to_ms(self.latency_us.value_at_quantile(0.50)),
            p99_ms: to_ms(self.latency_us.value_at_quantile(0.99)),
            p999_ms: to_ms(self.latency_us.value_at_quantile(0.999)),
            max_ms: to_ms(self.latency_us.max()),
            mean_ms: self.latency_us.mean() / 1000.0,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatencySummary {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// Statistics for every operation a worker issued, keyed by the AWS operation name.
#[derive(Clone, Debug, Default)]
pub struct OperationSet {
    operations: BTreeMap<&'static str, OperationStats>,
}

impl OperationSet {
    pub fn operation(&mut self, name: &'static str) -> &mut OperationStats {
        self.operations.entry(name).or_default()
    }

    pub fn get(&self, name: &str) -> Option<&OperationStats> {
        self.operations.get(name)
    }

    pub fn merge(&mut self, other: &OperationSet) {
        for (name, stats) in &other.operations {
            self.operation(name).merge(stats);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &OperationStats)> {
        self.operations.iter().map(|(name, stats)| (*name, stats))
    }

    pub fn error_total(&self) -> u64 {
        self.operations.values().map(OperationStats::error_total).sum()
    }

    pub fn success_total(&self) -> u64 {
        self.operations.values().map(OperationStats::successes).sum()
    }
}

/// How many messages went through one stage, inside the measured window and in all.
#[derive(Clone, Debug)]
pub struct MessageCount {
    pub name: &'static str,
    pub in_window: u64,
    /// Includes requests that completed after the window closed (in flight at the stop).
    pub total: u64,
}

/// Everything a scenario reports at the end of a run.
#[derive(Clone, Debug)]
pub struct Report {
    pub scenario: &'static str,
    /// Settings as given (mode, endpoint, producers, ...), in display order.
    pub settings: Vec<(&'static str, Value)>,
    pub window: Duration,
    pub messages: Vec<MessageCount>,
    /// Figures derived from the run that are not message counts over the window (MB/s, a
    /// second phase's rates), in display order; printed as `name: value` and under `figures`.
    pub figures: Vec<(&'static str, Value)>,
    /// Correctness checks whose count must be zero (e.g. MD5 mismatches).
    pub checks: Vec<(&'static str, u64)>,
    pub operations: OperationSet,
    /// Caveats about how latency was measured, printed under the table.
    pub notes: Vec<String>,
}

impl Report {
    pub fn failed_checks(&self) -> u64 {
        self.checks.iter().map(|(_, count)| count).sum()
    }

    fn window_secs(&self) -> f64 {
        self.window.as_secs_f64()
    }

    fn per_second(&self, count: u64) -> f64 {
        let secs = self.window_secs();
        if secs > 0.0 {
            count as f64 / secs
        } else {
            0.0
        }
    }

    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "wharf-bench {}", self.scenario);
        let settings = self
            .settings
            .iter()
            .map(|(name, value)| format!("{name}={}", display_value(value)))
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(out, "  {settings}");
        let _ = writeln!(out, "  measured window: {:.3} s", self.window_secs());
        let _ = writeln!(out);
        let _ = writeln!(out, "  {:<12} {:>12} {:>12} {:>14}", "messages", "in window", "per second", "total");
        for count in &self.messages {
            let _ = writeln!(
                out,
                "  {:<12} {:>12} {:>12.1} {:>14}",
                count.name,
                count.in_window,
                self.per_second(count.in_window),
                count.total
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  {:<22} {:>10} {:>8} {:>9} {:>9} {:>9} {:>9}",
            "operation", "requests", "errors", "p50 ms", "p99 ms", "p99.9 ms", "max ms"
        );
        for (name, stats) in self.operations.iter() {
            let latency = stats.latency_summary();
            let cell = |pick: fn(&LatencySummary) -> f64| match &latency {
                Some(summary) => format!("{:.3}", pick(summary)),
                None => "-".to_owned(),
            };
            let _ = writeln!(
                out,
                "  {:<22} {:>10} {:>8} {:>9} {:>9} {:>9} {:>9}",
                name,
                stats.requests(),
                stats.error_total(),
                cell(|s| s.p50_ms),
                cell(|s| s.p99_ms),
                cell(|s| s.p999_ms),
                cell(|s| s.max_ms),
            );
        }
        if self.operations.error_total() > 0 {
            let _ = writeln!(out);
            let _ = writeln!(out, "  errors:");
            for (name, stats) in self.operations.iter() {
                for (key, count) in stats.errors() {
                    let _ = writeln!(out, "    {name}: {key}: {count}");
                }
            }
        }
        let _ = writeln!(out);
        for (name, value) in &self.figures {
            let _ = writeln!(out, "  {name}: {}", display_value(value));
        }
        if !self.figures.is_empty() {
            let _ = writeln!(out);
        }
        for (name, count) in &self.checks {
            let verdict = if *count == 0 { "ok" } else { "FAILED" };
            let _ = writeln!(out, "  {name}: {count} ({verdict})");
        }
        for note in &self.notes {
            let _ = writeln!(out, "  note: {note}");
        }
        out
    }

    pub fn to_json(&self) -> Value {
        let settings: Map<String, Value> =
            self.settings.iter().map(|(name, value)| ((*name).to_owned(), value.clone())).collect();
        let messages: Map<String, Value> = self
            .messages
            .iter()
            .map(|count| {
                (
                    count.name.to_owned(),
                    json!({
                        "in_window": count.in_window,
                        "per_second": round3(self.per_second(count.in_window)),
                        "total": count.total,
                    }),
                )
            })
            .collect();
        let figures: Map<String, Value> =
            self.figures.iter().map(|(name, value)| ((*name).to_owned(), value.clone())).collect();
        let checks: Map<String, Value> =
            self.checks.iter().map(|(name, count)| ((*name).to_owned(), json!(count))).collect();
        let operations: Map<String, Value> = self
            .operations
            .iter()
            .map(|(name, stats)| {
                let latency = match stats.latency_summary() {
                    Some(summary) => json!({
                        "p50": round3(summary.p50_ms),
                        "p99": round3(summary.p99_ms),
                        "p999": round3(summary.p999_ms),
                        "max": round3(summary.max_ms),
                        "mean": round3(summary.mean_ms),
                    }),
                    None => Value::Null,
                };
                (
                    name.to_owned(),
                    json!({
                        "requests": stats.requests(),
                        "errors_total": stats.error_total(),
                        "errors": stats.errors(),
                        "latency_ms": latency,
                    }),
                )
            })
            .collect();
        json!({
            "scenario": self.scenario,
            "settings": settings,
            "window_secs": round3(self.window_secs()),
            "messages": messages,
            "figures": figures,
            "checks": checks,
            "operations": operations,
        })
    }
}

fn display_value(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "-".to_owned(),
        Value::Bool(flag) => if *flag { "yes" } else { "no" }.to_owned(),
        other => other.to_string(),
    }
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(actual: f64, expected: f64) {
        // Three significant digits: hdrhistogram may report up to 0.1% above the true value.
        let tolerance = expected * 0.002;
        assert!((actual - expected).abs() <= tolerance, "{actual} is not within {tolerance} of {expected}");
    }

    #[test]
    fn percentiles_of_uniform_latencies() {
        let mut stats = OperationStats::new();
        for millis in 1..=1000u64 {
            stats.record_success(Duration::from_millis(millis));
        }
        let summary = stats.latency_summary().expect("has samples");
        assert_close(summary.p50_ms, 500.0);
        assert_close(summary.p99_ms, 990.0);
        assert_close(summary.p999_ms, 999.0);
        assert_close(summary.max_ms, 1000.0);
        assert_close(summary.mean_ms, 500.5);
        assert_eq!(stats.requests(), 1000);
    }

    #[test]
    fn tail_percentiles_see_rare_outliers() {
        let mut stats = OperationStats::new();
        for _ in 0..9_990 {
            stats.record_success(Duration::from_micros(800));
        }
        for _ in 0..10 {
            stats.record_success(Duration::from_millis(250));
        }
        let summary = stats.latency_summary().expect("has samples");
        assert_close(summary.p50_ms, 0.8);
        assert_close(summary.p99_ms, 0.8);
        // 10 of 10,000 samples are slow: p99.9 is the last fast one, max the slow ones.
        assert_close(summary.p999_ms, 0.8);
        assert_close(summary.max_ms, 250.0);
    }

    #[test]
    fn no_samples_means_no_latency_summary() {
        let mut stats = OperationStats::new();
        stats.record_failure("transport: connection refused");
        assert_eq!(stats.latency_summary(), None);
        assert_eq!(stats.requests(), 1);
        assert_eq!(stats.error_total(), 1);
    }

    #[test]
    fn merge_adds_requests_errors_and_samples() {
        let mut left = OperationSet::default();
        let mut right = OperationSet::default();
        left.operation("SendMessageBatch").record_success(Duration::from_millis(1));
        left.operation("SendMessageBatch").record_failure("500 InternalError");
        right.operation("SendMessageBatch").record_success(Duration::from_millis(3));
        right.operation("SendMessageBatch").record_error("entry InvalidParameterValue");
        right.operation("ReceiveMessage").record_success(Duration::from_millis(2));
        left.merge(&right);
        let send = left.operation("SendMessageBatch").clone();
        assert_eq!(send.requests(), 3);
        assert_eq!(send.error_total(), 2);
        assert_close(send.latency_summary().expect("samples").max_ms, 3.0);
        assert_eq!(left.operation("ReceiveMessage").requests(), 1);
        assert_eq!(left.error_total(), 2);
        assert_eq!(left.success_total(), 3);
    }

    #[test]
    fn report_renders_rates_over_the_window() {
        let mut operations = OperationSet::default();
        operations.operation("SendMessage").record_success(Duration::from_millis(2));
        let report = Report {
            scenario: "sqs",
            settings: vec![("mode", json!("send-only")), ("batch", json!(1)), ("fifo", json!(true))],
            window: Duration::from_secs(2),
            messages: vec![MessageCount { name: "sent", in_window: 10, total: 11 }],
            figures: vec![("ingest_mb_per_s", json!(1.5))],
            checks: vec![("send_md5_mismatches", 0)],
            operations,
            notes: Vec::new(),
        };
        let value = report.to_json();
        assert_eq!(value["messages"]["sent"]["per_second"], json!(5.0));
        assert_eq!(value["operations"]["SendMessage"]["requests"], json!(1));
        assert_eq!(value["settings"]["mode"], json!("send-only"));
        assert_eq!(value["settings"]["fifo"], json!(true));
        assert_eq!(value["figures"]["ingest_mb_per_s"], json!(1.5));
        let text = report.render_text();
        assert!(text.contains("mode=send-only batch=1 fifo=yes"));
        assert!(text.contains("  ingest_mb_per_s: 1.5\n"));
        assert!(text.contains("send_md5_mismatches: 0 (ok)"));
        assert_eq!(report.failed_checks(), 0);
    }
}
