//! Wall-clock poll slots: a 15 s interval polls at :00, :15, :30 and :45, and every reading of a
//! cycle is stamped with its slot, not with the moment the answer arrived.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The first slot of `interval_ms` strictly after `after_ms`.
pub fn next_slot(after_ms: i64, interval_ms: u64) -> i64 {
    let i = interval_ms.max(1) as i64;
    (after_ms.div_euclid(i) + 1) * i
}

/// Whether a point polled every `point_interval_ms` is due in the cycle at `slot_ms`.
pub fn is_due(slot_ms: i64, point_interval_ms: u64) -> bool {
    slot_ms.rem_euclid(point_interval_ms.max(1) as i64) == 0
}

/// Sleeps until the wall clock reaches `slot_ms`.
pub async fn sleep_until(slot_ms: i64) {
    let wait = slot_ms - now_ms();
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_align_to_the_wall_clock() {
        // 12:00:07.250 -> next 15 s slot is 12:00:15.
        let t = 43_207_250;
        assert_eq!(next_slot(t, 15_000), 43_215_000);
        // Exactly on a slot: the next one, not the same one again.
        assert_eq!(next_slot(43_215_000, 15_000), 43_230_000);
    }

    #[test]
    fn slower_points_fall_on_their_own_boundaries() {
        // A device polled every 5 s with an energy counter every 15 min.
        let quarter: u64 = 15 * 60_000;
        assert!(is_due(4 * quarter as i64, quarter));
        assert!(!is_due(4 * quarter as i64 + 5_000, quarter));
        assert!(is_due(4 * quarter as i64 + 5_000, 5_000));
    }
}
