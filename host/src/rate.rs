//! Rate limits: a token bucket that refills at a steady rate up to a burst.
//!
//! A leaf module (it uses nothing else in the crate): the messaging capability
//! limits the messages an agent sends with one, and the WASI baseline limits
//! the lines an agent writes to stdout and stderr with another.

use std::time::Instant;

/// A token bucket: `rate` tokens a second, holding at most `burst`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: u32, burst: u32) -> TokenBucket {
        TokenBucket { rate: f64::from(rate), burst: f64::from(burst), tokens: f64::from(burst), last: Instant::now() }
    }

    /// Take `n` tokens if there are that many (after refilling up to `now`).
    pub fn take(&mut self, n: u32, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= f64::from(n) {
            self.tokens -= f64::from(n);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TokenBucket;
    use std::time::{Duration, Instant};

    #[test]
    fn the_token_bucket_allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut b = TokenBucket::new(10, 20);
        assert_eq!((0..25).filter(|_| b.take(1, start)).count(), 20, "the burst");
        assert!(!b.take(1, start + Duration::from_millis(50)), "half a token is not enough");
        assert!(b.take(1, start + Duration::from_millis(100)), "one token after 100 ms at 10/s");
        assert!(b.take(10, start + Duration::from_secs(60)), "refills, but only up to the burst");
        assert!(!b.take(11, start + Duration::from_secs(60)));
    }
}
