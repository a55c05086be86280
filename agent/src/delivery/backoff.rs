//! How long to wait before the next delivery attempt.

use std::time::Duration;

use rand::Rng;

/// Exponential backoff with full jitter, so a fleet that lost the server at
/// once does not come back at once.
pub struct Backoff {
    current: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(max: Duration) -> Self {
        Self {
            current: Duration::from_millis(500),
            max,
        }
    }
    pub fn reset(&mut self) {
        self.current = Duration::from_millis(500);
    }
    pub fn next(&mut self) -> Duration {
        let ceiling = self.current.min(self.max);
        self.current = (self.current * 2).min(self.max);
        let millis = ceiling.as_millis().max(1) as u64;
        Duration::from_millis(rand::rng().random_range(millis / 2..=millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let mut b = Backoff::new(Duration::from_secs(4));
        let pauses: Vec<Duration> = (0..8).map(|_| b.next()).collect();
        assert!(pauses[0] <= Duration::from_millis(500));
        assert!(pauses.iter().all(|p| *p <= Duration::from_secs(4)));
        assert!(pauses[7] >= Duration::from_secs(2));
        b.reset();
        assert!(b.next() <= Duration::from_millis(500));
    }
}
