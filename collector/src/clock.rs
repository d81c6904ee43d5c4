//! The gateway's wall clock, as the pollers use it: waiting for a slot in bounded steps that
//! notice the clock being stepped (by NTP, an operator, a dead RTC battery at boot), and whether
//! the clock is synchronised at all, so readings it stamps can say when it is not.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use readings::Quality;

/// Where the time comes from: the system clock, or a test's.
pub trait WallClock: Send + Sync {
    /// Milliseconds since the Unix epoch, now.
    fn now_ms(&self) -> i64;
}

/// The system's wall clock.
pub struct SystemClock;

impl WallClock for SystemClock {
    fn now_ms(&self) -> i64 {
        crate::schedule::now_ms()
    }
}

/// The longest single sleep while waiting for a slot: the clock is looked at this often.
const STEP: Duration = Duration::from_secs(1);
/// A jump of the wall clock against the monotonic one larger than this is a step, not drift or a
/// slow sleep (NTP slews at most 0.5 ms a second).
const TOLERANCE_MS: i64 = 1000;

/// How a wait for a slot ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// The wall clock reached the slot.
    Reached,
    /// The wall clock was stepped by this much (negative: backwards) while waiting; the slot
    /// should be planned again from the new time.
    Stepped { by_ms: i64 },
}

/// Waits until `clock` reaches `slot_ms`, in sleeps of at most [`STEP`], so that a wall clock
/// stepped backwards by an hour costs at most a second of polling, not an hour.
pub async fn wait_for_slot(clock: &dyn WallClock, slot_ms: i64) -> Waited {
    loop {
        let now = clock.now_ms();
        if now >= slot_ms {
            return Waited::Reached;
        }
        let wait = Duration::from_millis((slot_ms - now) as u64).min(STEP);
        let started = Instant::now();
        tokio::time::sleep(wait).await;
        let expected = now + started.elapsed().as_millis() as i64;
        let by_ms = clock.now_ms() - expected;
        if by_ms.abs() > TOLERANCE_MS {
            return Waited::Stepped { by_ms };
        }
    }
}

/// Whether the clock's readings can be trusted: told so by the operator, or the kernel says
/// it is synchronised (NTP, chrony, systemd-timesyncd, PTP all set its status).
pub struct ClockTrust {
    trusted: bool,
    synchronised: AtomicBool,
    checked_ms: AtomicI64,
}

/// How often the kernel is asked again.
const RECHECK_MS: i64 = 10_000;

impl ClockTrust {
    /// `trusted`: `[clock] trusted = true` in the config.
    pub fn new(trusted: bool) -> Self {
        Self { trusted, synchronised: AtomicBool::new(trusted || kernel_synchronised()), checked_ms: AtomicI64::new(crate::schedule::now_ms()) }
    }

    /// Whether the clock counts as synchronised now.
    pub fn synchronised(&self) -> bool {
        if self.trusted {
            return true;
        }
        let now = crate::schedule::now_ms();
        if (now - self.checked_ms.load(Ordering::Relaxed)).abs() >= RECHECK_MS {
            self.checked_ms.store(now, Ordering::Relaxed);
            self.synchronised.store(kernel_synchronised(), Ordering::Relaxed);
        }
        self.synchronised.load(Ordering::Relaxed)
    }

    /// The quality of a reading this clock stamped: a good one becomes `clock_unsynced` while
    /// the clock is not synchronised; a fault stays the fault.
    pub fn stamp(&self, quality: Quality) -> Quality {
        match quality {
            Quality::Good if !self.synchronised() => Quality::ClockUnsynced,
            q => q,
        }
    }
}

/// Whether the clock is synchronised: the kernel's word (`adjtimex` returns `TIME_ERROR` while
/// it is not). A hardened systemd unit (`ProtectClock=`) forbids even reading it; then
/// systemd-timesyncd's flag file answers, and if there is none either the clock is taken as
/// synchronised (said once in the log): the unit starts after `time-sync.target`.
fn kernel_synchronised() -> bool {
    // SAFETY: a zeroed timex with modes 0 only reads the kernel's state into it.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state >= 0 {
        return state != libc::TIME_ERROR;
    }
    if std::path::Path::new(TIMESYNCD_FLAG).exists() {
        return true;
    }
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        tracing::warn!(
            error = %std::io::Error::last_os_error(),
            "cannot ask the kernel whether the clock is synchronised (adjtimex refused, as under systemd's ProtectClock=) and {TIMESYNCD_FLAG} does not exist; taking the clock as synchronised"
        );
    });
    true
}

/// Written by systemd-timesyncd once it has synchronised the clock.
const TIMESYNCD_FLAG: &str = "/run/systemd/timesync/synchronized";

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicI64;

    /// The system clock shifted by an offset a test sets.
    struct Shifted(AtomicI64);

    impl WallClock for Shifted {
        fn now_ms(&self) -> i64 {
            crate::schedule::now_ms() + self.0.load(Ordering::Relaxed)
        }
    }

    #[tokio::test]
    async fn a_backward_step_ends_the_wait_within_a_second_or_two() {
        let clock = std::sync::Arc::new(Shifted(AtomicI64::new(0)));
        let slot = clock.now_ms() + 1500;
        let stepper = std::sync::Arc::clone(&clock);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            // The clock goes back an hour: before, the poller slept the hour out.
            stepper.0.store(-3_600_000, Ordering::Relaxed);
        });
        let waited = tokio::time::timeout(Duration::from_secs(5), wait_for_slot(clock.as_ref(), slot)).await.expect("not an hour");
        match waited {
            Waited::Stepped { by_ms } => assert!((-3_601_500..=-3_598_500).contains(&by_ms), "{by_ms}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_steady_clock_reaches_its_slot() {
        let clock = Shifted(AtomicI64::new(0));
        let slot = clock.now_ms() + 300;
        assert_eq!(wait_for_slot(&clock, slot).await, Waited::Reached);
        assert!(clock.now_ms() >= slot);
    }

    #[test]
    fn an_unsynchronised_clock_flags_good_readings_only() {
        let trust = ClockTrust { trusted: false, synchronised: AtomicBool::new(false), checked_ms: AtomicI64::new(crate::schedule::now_ms()) };
        assert_eq!(trust.stamp(Quality::Good), Quality::ClockUnsynced);
        assert_eq!(trust.stamp(Quality::Timeout), Quality::Timeout);
        assert_eq!(ClockTrust::new(true).stamp(Quality::Good), Quality::Good);
    }
}
