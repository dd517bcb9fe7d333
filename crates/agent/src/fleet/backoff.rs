//! Retry delays: exponential growth with a cap and full jitter, so a fleet that lost its
//! server does not come back in lockstep.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff {
            base,
            cap,
            attempt: 0,
        }
    }

    /// The next delay: uniformly random in [0, min(cap, base × 2^attempt)].
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        ceiling.mul_f64(fastrand::f64())
    }

    /// The upper bound of the next delay.
    pub fn ceiling(&self) -> Duration {
        let factor = 2u32.saturating_pow(self.attempt.min(30));
        self.base.saturating_mul(factor).min(self.cap)
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A delay of `interval` plus a random jitter in [0, jitter].
pub fn jittered(interval: Duration, jitter: Duration) -> Duration {
    interval + jitter.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let mut ceilings = Vec::new();
        for _ in 0..9 {
            ceilings.push(b.ceiling().as_secs());
            let d = b.next_delay();
            assert!(d <= Duration::from_secs(60));
        }
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_in_range_and_varies() {
        let values: Vec<Duration> = (0..50)
            .map(|_| jittered(Duration::from_secs(10), Duration::from_secs(5)))
            .collect();
        assert!(values
            .iter()
            .all(|d| *d >= Duration::from_secs(10) && *d <= Duration::from_secs(15)));
        assert!(values.iter().any(|d| *d != values[0]), "jitter is random");
    }
}
