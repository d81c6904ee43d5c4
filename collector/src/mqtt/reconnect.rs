//! How long the MQTT source waits before connecting again: doubling from 200 ms to 30 s, with up
//! to half again of jitter so that gateways dropped together do not return together, and reset
//! only by a connection that stayed up for 30 s: a broker that accepts and then drops each
//! connection (an ACL, a session it cannot restore) is not hammered every 200 ms.

use std::time::{Duration, Instant};

/// A connection up this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(30);
/// The first wait after a failure.
pub const FIRST: Duration = Duration::from_millis(200);
/// The longest wait, before jitter.
const MAX: Duration = Duration::from_secs(30);

/// The reconnect backoff of one source.
#[derive(Debug)]
pub struct Reconnect {
    next: Duration,
    connected_at: Option<Instant>,
}

impl Default for Reconnect {
    fn default() -> Self {
        Self { next: FIRST, connected_at: None }
    }
}

impl Reconnect {
    /// The connection is up (CONNACK received).
    pub fn connected(&mut self, at: Instant) {
        self.connected_at = Some(at);
    }

    /// The connection failed at `now`: how long to wait before the next attempt, with `jitter`
    /// (a share from 0 to 1) of up to half the wait added.
    pub fn failed(&mut self, now: Instant, jitter: f64) -> Duration {
        if self.connected_at.take().is_some_and(|t| now.saturating_duration_since(t) >= STABLE_AFTER) {
            self.next = FIRST;
        }
        let wait = self.next + self.next.mul_f64(jitter.clamp(0.0, 1.0) / 2.0);
        self.next = (self.next * 2).min(MAX);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_its_cap_with_jitter_up_to_half() {
        let mut r = Reconnect::default();
        let t = Instant::now();
        let waits: Vec<u128> = (0..10).map(|_| r.failed(t, 0.0).as_millis()).collect();
        assert_eq!(waits, [200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]);
        assert_eq!(r.failed(t, 1.0), Duration::from_secs(45), "jitter adds at most half");
        assert_eq!(r.failed(t, 0.5), Duration::from_millis(37_500));
    }

    #[test]
    fn only_a_connection_that_stayed_up_resets_it() {
        let mut r = Reconnect::default();
        let t = Instant::now();
        for _ in 0..5 {
            r.failed(t, 0.0);
        }
        // Accepted, then dropped a second later (an ACL, a broker restoring a session): no reset.
        r.connected(t);
        assert_eq!(r.failed(t + Duration::from_secs(1), 0.0), Duration::from_millis(6400));
        // Up for half a minute: the next failure starts over.
        r.connected(t);
        assert_eq!(r.failed(t + Duration::from_secs(30), 0.0), FIRST);
        assert_eq!(r.failed(t + Duration::from_secs(31), 0.0), Duration::from_millis(400), "a failure to connect is no connection");
    }
}
