//! A failing device's back-off, the same for every poller (Modbus, DL/T 645, CJ/T 188): after
//! `DEAD_AFTER` cycles in a row without an answer its slots are skipped, twice as many each time,
//! at most five minutes' worth; an answer ends it. A device that failed because its link was
//! down (a connection failure while nothing on the link had answered for two intervals) is
//! probed again as soon as the link answers another device.

/// Failed cycles in a row after which a device is backed off.
pub const DEAD_AFTER: u32 = 3;
/// Longest back-off of a dead device.
const MAX_BACKOFF_MS: u64 = 300_000;

/// One device's failures and back-off.
#[derive(Debug, Default)]
pub struct Backoff {
    /// Cycles in a row in which the device answered nothing.
    pub fail_streak: u32,
    /// Slots before this instant are skipped.
    pub until_ms: i64,
    /// When the last failed cycle ended.
    failed_at_ms: i64,
    /// Whether the link itself was down when the device last failed.
    pub link_was_down: bool,
}

/// What a slot should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Poll as usual.
    Poll,
    /// Backed off, but the link answers another device again: probe now.
    Probe,
    /// Backed off: skip, asking nothing.
    Skip,
}

impl Backoff {
    /// What the slot at `slot_ms` does, given when the link last answered any device.
    pub fn slot(&self, slot_ms: i64, link_answered_ms: i64) -> Slot {
        if slot_ms >= self.until_ms {
            Slot::Poll
        } else if self.link_was_down && link_answered_ms > self.failed_at_ms {
            Slot::Probe
        } else {
            Slot::Skip
        }
    }

    /// The device answered; returns the failed cycles before it, if any.
    pub fn answered(&mut self) -> Option<u32> {
        let streak = std::mem::take(&mut self.fail_streak);
        self.until_ms = 0;
        (streak > 0).then_some(streak)
    }

    /// The wall clock was stepped by `by_ms` (negative: back): the back-off keeps its length in
    /// real time, so a clock set back an hour does not skip a device's slots for an hour more.
    /// The link's last answer (shared by its devices) is not moved: after a backward step it
    /// looks later than this failure, so a device whose link was down is probed once early,
    /// which costs one request.
    pub fn clock_stepped(&mut self, by_ms: i64) {
        if self.until_ms != 0 {
            self.until_ms += by_ms;
        }
        self.failed_at_ms += by_ms;
    }

    /// A cycle at `slot_ms` got no answer at `now_ms`; `link_down` says whether its failures
    /// were the connection's. Returns the slots now skipped, if the device is backed off.
    pub fn failed(&mut self, slot_ms: i64, interval_ms: u64, link_down: bool, link_answered_ms: i64, now_ms: i64) -> Option<u64> {
        self.failed_at_ms = now_ms;
        // A dead device behind a link that answers others keeps its back-off.
        self.link_was_down = link_down && link_answered_ms < now_ms - 2 * interval_ms as i64;
        self.fail_streak += 1;
        if self.fail_streak < DEAD_AFTER {
            return None;
        }
        let interval = interval_ms.max(1);
        let slots = (1u64 << (self.fail_streak - DEAD_AFTER).min(20)).min((MAX_BACKOFF_MS / interval).max(1));
        self.until_ms = slot_ms + ((slots + 1) * interval) as i64;
        Some(slots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_doubling_and_an_answer_ends_it() {
        let mut b = Backoff::default();
        let now = 1_000_000;
        assert_eq!(b.failed(0, 1000, false, now, now), None);
        assert_eq!(b.failed(1000, 1000, false, now, now), None);
        assert_eq!(b.failed(2000, 1000, false, now, now), Some(1));
        assert_eq!(b.slot(3000, now), Slot::Skip);
        assert_eq!(b.slot(4000, now), Slot::Poll);
        assert_eq!(b.failed(4000, 1000, false, now, now), Some(2));
        // At most five minutes of slots.
        for i in 0..30 {
            b.failed(5000 + i, 1000, false, now, now);
        }
        assert_eq!(b.until_ms, 5029 + 301 * 1000);
        assert_eq!(b.answered(), Some(34));
        assert_eq!((b.fail_streak, b.slot(6000, now)), (0, Slot::Poll));
        assert_eq!(b.answered(), None);
    }

    #[test]
    fn a_clock_step_moves_the_back_off_with_it() {
        let mut b = Backoff::default();
        let now = 10_000_000;
        for i in 0..4 {
            b.failed(now + i * 1000, 1000, false, now, now);
        }
        assert_eq!(b.until_ms, now + 3000 + 3 * 1000);
        // Set back an hour: the slot a second after the step is a second into the same back-off,
        // and the first slot after it polls again.
        b.clock_stepped(-3_600_000);
        assert_eq!(b.slot(now + 4000 - 3_600_000, now), Slot::Skip);
        assert_eq!(b.slot(now + 6000 - 3_600_000, now), Slot::Poll);
        b.answered();
        b.clock_stepped(-1000);
        assert_eq!(b.until_ms, 0, "no back-off: nothing to move");
    }

    #[test]
    fn a_device_whose_link_was_down_is_probed_when_the_link_answers() {
        let mut b = Backoff::default();
        let now = 1_000_000;
        for i in 0..3 {
            // Nothing on the link answered for a long time, and the failures were connections'.
            b.failed(i * 1000, 1000, true, 0, now);
        }
        assert!(b.link_was_down);
        assert_eq!(b.slot(3000, 0), Slot::Skip);
        assert_eq!(b.slot(3000, now + 1), Slot::Probe);
        // A timeout (not the link) while others on the link answer: no early probe.
        let mut dead = Backoff::default();
        for i in 0..3 {
            dead.failed(i * 1000, 1000, false, now, now);
        }
        assert_eq!(dead.slot(3000, now + 1), Slot::Skip);
    }
}
