//! The retry schedule and the rate limit of an HTTP/S subscription, from its delivery policy
//! (the subscription's `DeliveryPolicy`, else the topic's `http.defaultHealthyRetryPolicy` and
//! `http.defaultThrottlePolicy`, else AWS's default: three retries 20 seconds apart, no limit),
//! and the pacing that enforces the limit.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;

/// The most deliveries per second a subscription's `throttlePolicy.maxReceivesPerSecond` (or
/// the topic's `http.defaultThrottlePolicy`) allows, if it sets a limit.
pub fn max_receives_per_second(subscription_policy: Option<&str>, topic_policy: Option<&str>) -> Option<u32> {
    let parse = |text: &str| serde_json::from_str::<Value>(text).ok();
    let rate = |throttle: &Value| {
        throttle.get("maxReceivesPerSecond").and_then(Value::as_u64).and_then(|rate| u32::try_from(rate).ok())
    };
    let topic = topic_policy.and_then(parse);
    let overrides_disabled = topic
        .as_ref()
        .and_then(|policy| policy.get("http")?.get("disableSubscriptionOverrides")?.as_bool())
        .unwrap_or(false);
    let own = subscription_policy
        .and_then(parse)
        .and_then(|policy| policy.get("throttlePolicy").and_then(rate))
        .filter(|_| !overrides_disabled);
    own.or_else(|| topic.as_ref().and_then(|policy| policy.get("http")?.get("defaultThrottlePolicy").and_then(rate)))
        .filter(|rate| *rate > 0)
}

/// Spaces each subscription's deliveries at most `rate` per second apart: the next free slot
/// per subscription, in milliseconds.
#[derive(Default)]
pub struct Pacer {
    next_ms: Mutex<HashMap<String, u64>>,
}

impl Pacer {
    /// Takes the subscription's next slot at or after `now_ms`; returns how long to wait for it.
    pub fn reserve(&self, subscription: &str, rate: u32, now_ms: u64) -> u64 {
        let interval_ms = (1_000 / u64::from(rate.max(1))).max(1);
        let mut next = self.next_ms.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let slot = next.entry(subscription.to_string()).or_insert(now_ms);
        let start = (*slot).max(now_ms);
        *slot = start + interval_ms;
        start - now_ms
    }
}

/// A healthy-retry policy: how many retries and how far apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub num_retries: u32,
    pub num_no_delay_retries: u32,
    pub num_min_delay_retries: u32,
    pub num_max_delay_retries: u32,
    pub min_delay_seconds: u32,
    pub max_delay_seconds: u32,
    pub backoff: Backoff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    Linear,
    Arithmetic,
    Geometric,
    Exponential,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            num_retries: 3,
            num_no_delay_retries: 0,
            num_min_delay_retries: 0,
            num_max_delay_retries: 0,
            min_delay_seconds: 20,
            max_delay_seconds: 20,
            backoff: Backoff::Linear,
        }
    }
}

impl RetryPolicy {
    /// AWS's fixed policy for endpoints it manages (Lambda, SQS): 3 immediate retries, 2 at one
    /// second, 10 backing off exponentially to 20 seconds, then 100,000 at 20 seconds.
    pub fn aws_managed() -> RetryPolicy {
        RetryPolicy {
            num_retries: 100_015,
            num_no_delay_retries: 3,
            num_min_delay_retries: 2,
            num_max_delay_retries: 100_000,
            min_delay_seconds: 1,
            max_delay_seconds: 20,
            backoff: Backoff::Exponential,
        }
    }

    /// The policy in effect: the subscription's own, else the topic's default, else AWS's.
    pub fn effective(subscription_policy: Option<&str>, topic_policy: Option<&str>) -> RetryPolicy {
        let parse = |text: &str| serde_json::from_str::<Value>(text).ok();
        subscription_policy
            .and_then(parse)
            .and_then(|policy| policy.get("healthyRetryPolicy").and_then(RetryPolicy::from_json))
            .or_else(|| {
                topic_policy.and_then(parse).and_then(|policy| {
                    policy
                        .get("http")
                        .and_then(|http| http.get("defaultHealthyRetryPolicy"))
                        .and_then(RetryPolicy::from_json)
                })
            })
            .unwrap_or_default()
    }

    fn from_json(policy: &Value) -> Option<RetryPolicy> {
        let defaults = RetryPolicy::default();
        let number = |name: &str, default: u32| {
            policy.get(name).and_then(Value::as_u64).map_or(default, |value| u32::try_from(value).unwrap_or(u32::MAX))
        };
        let min_delay_seconds = number("minDelayTarget", defaults.min_delay_seconds);
        let backoff = match policy.get("backoffFunction").and_then(Value::as_str) {
            Some("arithmetic") => Backoff::Arithmetic,
            Some("geometric") => Backoff::Geometric,
            Some("exponential") => Backoff::Exponential,
            _ => Backoff::Linear,
        };
        Some(RetryPolicy {
            num_retries: number("numRetries", defaults.num_retries),
            num_no_delay_retries: number("numNoDelayRetries", 0),
            num_min_delay_retries: number("numMinDelayRetries", 0),
            num_max_delay_retries: number("numMaxDelayRetries", 0),
            min_delay_seconds,
            max_delay_seconds: number("maxDelayTarget", defaults.max_delay_seconds).max(min_delay_seconds),
            backoff,
        })
    }

    /// The wait before retry number `retry` (1-based), or None when the retries are used up.
    /// Phases, in AWS's order: immediate retries, retries at the minimum delay, retries that back
    /// off from the minimum towards the maximum delay, retries at the maximum delay.
    pub fn delay_before(&self, retry: u32) -> Option<u32> {
        if retry == 0 || retry > self.num_retries {
            return None;
        }
        let no_delay = self.num_no_delay_retries;
        let min_delay = no_delay.saturating_add(self.num_min_delay_retries);
        let backoff_retries = self.num_retries.saturating_sub(min_delay).saturating_sub(self.num_max_delay_retries);
        let backoff_end = min_delay.saturating_add(backoff_retries);
        let delay = if retry <= no_delay {
            0
        } else if retry <= min_delay {
            self.min_delay_seconds
        } else if retry <= backoff_end {
            let step = retry - min_delay;
            self.backoff_delay(step, backoff_retries)
        } else {
            self.max_delay_seconds
        };
        Some(delay.min(self.max_delay_seconds.max(self.min_delay_seconds)))
    }

    /// The `step`-th of `steps` delays rising from the minimum to the maximum delay.
    fn backoff_delay(&self, step: u32, steps: u32) -> u32 {
        let (min, max) = (f64::from(self.min_delay_seconds), f64::from(self.max_delay_seconds));
        if steps <= 1 || max <= min {
            return self.max_delay_seconds;
        }
        let fraction = f64::from(step - 1) / f64::from(steps - 1);
        let delay = match self.backoff {
            Backoff::Linear => min + (max - min) * fraction,
            Backoff::Arithmetic => min + (max - min) * fraction * fraction,
            Backoff::Geometric => min * (max / min.max(1.0)).powf(fraction),
            Backoff::Exponential => min + (max - min) * (fraction * 4.0).exp2().min(16.0) / 16.0,
        };
        delay.round().clamp(min, max) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_policies() {
        let own = r#"{"throttlePolicy":{"maxReceivesPerSecond":5}}"#;
        let topic = r#"{"http":{"defaultThrottlePolicy":{"maxReceivesPerSecond":2}}}"#;
        let locked =
            r#"{"http":{"disableSubscriptionOverrides":true,"defaultThrottlePolicy":{"maxReceivesPerSecond":2}}}"#;
        assert_eq!(max_receives_per_second(Some(own), Some(topic)), Some(5));
        assert_eq!(max_receives_per_second(None, Some(topic)), Some(2));
        assert_eq!(max_receives_per_second(Some(own), Some(locked)), Some(2));
        assert_eq!(max_receives_per_second(None, None), None);
        assert_eq!(max_receives_per_second(Some(r#"{"throttlePolicy":{"maxReceivesPerSecond":0}}"#), None), None);
    }

    #[test]
    fn the_pacer_spaces_each_subscription_alone() {
        let pacer = Pacer::default();
        assert_eq!(pacer.reserve("a", 4, 1_000), 0);
        assert_eq!(pacer.reserve("a", 4, 1_000), 250);
        assert_eq!(pacer.reserve("a", 4, 1_100), 400);
        assert_eq!(pacer.reserve("b", 4, 1_100), 0, "another subscription has its own slots");
        assert_eq!(pacer.reserve("a", 4, 5_000), 0, "an idle subscription starts again at once");
    }

    #[test]
    fn default_is_three_retries_twenty_seconds_apart() {
        let policy = RetryPolicy::effective(None, None);
        assert_eq!(
            (1..=4).map(|retry| policy.delay_before(retry)).collect::<Vec<_>>(),
            [Some(20), Some(20), Some(20), None]
        );
    }

    #[test]
    fn phases_follow_the_policy() {
        let subscription = r#"{"healthyRetryPolicy":{"numRetries":8,"numNoDelayRetries":2,"numMinDelayRetries":1,
            "numMaxDelayRetries":1,"minDelayTarget":2,"maxDelayTarget":30,"backoffFunction":"linear"}}"#;
        let policy = RetryPolicy::effective(Some(subscription), None);
        let delays: Vec<Option<u32>> = (1..=9).map(|retry| policy.delay_before(retry)).collect();
        assert_eq!(delays[..3], [Some(0), Some(0), Some(2)]);
        let backoff: Vec<u32> = delays[3..7].iter().map(|delay| delay.unwrap()).collect();
        assert!(backoff.windows(2).all(|pair| pair[0] <= pair[1]), "{backoff:?}");
        assert_eq!(backoff.first(), Some(&2));
        assert_eq!(backoff.last(), Some(&30));
        assert_eq!(delays[7], Some(30));
        assert_eq!(delays[8], None);
    }

    #[test]
    fn aws_managed_endpoints_are_retried_for_long() {
        let policy = RetryPolicy::aws_managed();
        assert_eq!(policy.delay_before(1), Some(0));
        assert_eq!(policy.delay_before(4), Some(1));
        assert_eq!(policy.delay_before(100_015), Some(20));
        assert_eq!(policy.delay_before(100_016), None);
    }

    #[test]
    fn the_topic_default_applies_without_a_subscription_policy() {
        let topic = r#"{"http":{"defaultHealthyRetryPolicy":{"numRetries":1,"minDelayTarget":5,"maxDelayTarget":5}}}"#;
        let policy = RetryPolicy::effective(Some("not json"), Some(topic));
        assert_eq!((policy.delay_before(1), policy.delay_before(2)), (Some(5), None));
    }
}
