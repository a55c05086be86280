//! What the load generator counts while it runs: acknowledged reports, errors, and ack
//! latencies in fixed-size HdrHistograms (one for the run, one per progress interval), so an
//! hour-long run takes no more memory than a minute.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;

/// Latencies in microseconds, up to 10 minutes, 3 significant digits (~40 KiB each).
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

pub struct Stats {
    pub acked: AtomicU64,
    pub batches: AtomicU64,
    pub errors: AtomicU64,
    pub overloaded: AtomicU64,
    pub connected: AtomicU64,
    run: Mutex<Histogram<u64>>,
    interval: Mutex<Histogram<u64>>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            acked: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            overloaded: AtomicU64::new(0),
            connected: AtomicU64::new(0),
            run: Mutex::new(histogram()),
            interval: Mutex::new(histogram()),
        }
    }
}

/// Percentiles of a histogram, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub count: u64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            p50: ms(h.value_at_quantile(0.50)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
            count: h.len(),
        }
    }
}

impl Stats {
    /// One acknowledged batch: its latency and the reports it stored.
    pub fn acked(&self, latency: Duration, stored: u64) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        for h in [&self.run, &self.interval] {
            h.lock()
                .unwrap_or_else(|p| p.into_inner())
                .saturating_record(us);
        }
        self.acked.fetch_add(stored, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
    }

    pub fn run_latency(&self) -> Latency {
        Latency::of(&self.run.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The latencies since the previous call.
    pub fn take_interval(&self) -> Latency {
        let mut h = self.interval.lock().unwrap_or_else(|p| p.into_inner());
        let l = Latency::of(&h);
        h.reset();
        l
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_in_milliseconds_and_intervals_reset() {
        let s = Stats::default();
        for ms in 1..=100u64 {
            s.acked(Duration::from_millis(ms), 1);
        }
        let l = s.run_latency();
        assert_eq!(l.count, 100);
        assert!((49.0..=51.0).contains(&l.p50), "{l:?}");
        assert!((98.0..=100.1).contains(&l.p99), "{l:?}");
        assert_eq!(s.take_interval().count, 100);
        assert_eq!(s.take_interval().count, 0);
        assert_eq!(Stats::get(&s.acked), 100);
        // Far beyond the range: counted at the top, not lost.
        s.acked(Duration::from_secs(3600), 1);
        assert_eq!(s.run_latency().count, 101);
    }
}
