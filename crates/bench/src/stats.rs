//! Latency summaries: percentiles over every delivery, and the last delivery of each event.

use serde::Serialize;

#[derive(Debug, Clone, Serialize, Default)]
pub struct Latency {
    pub deliveries: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The slowest delivery of any event: publish to the last subscriber reached.
    pub max_ms: f64,
    /// The mean over events of the time to reach the last subscriber.
    pub mean_last_ms: f64,
}

/// `per_event[i]` holds every subscriber's latency for event `i`, in microseconds.
pub fn summarise(per_event: &[Vec<u64>]) -> Latency {
    let mut all: Vec<u64> = per_event.iter().flatten().copied().collect();
    if all.is_empty() {
        return Latency::default();
    }
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() as f64 - 1.0) * p).round() as usize] as f64 / 1000.0;
    let lasts: Vec<u64> = per_event
        .iter()
        .filter_map(|v| v.iter().max().copied())
        .collect();
    Latency {
        deliveries: all.len(),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: all[all.len() - 1] as f64 / 1000.0,
        mean_last_ms: lasts.iter().sum::<u64>() as f64 / lasts.len().max(1) as f64 / 1000.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_last_delivery() {
        let events = vec![(1..=100).collect::<Vec<u64>>(), vec![5_000]];
        let l = summarise(&events);
        assert_eq!(l.deliveries, 101);
        assert_eq!(l.max_ms, 5.0);
        assert!((l.p50_ms - 0.051).abs() < 1e-9);
        assert!((l.mean_last_ms - 2.55).abs() < 1e-9);
    }
}
