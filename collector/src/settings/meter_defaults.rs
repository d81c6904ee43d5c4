//! Serde defaults the DL/T 645 and CJ/T 188 device specs share: meters in China keep China
//! Standard Time, battery and infrared meters need the four FEH wake-up bytes, and a meter clock
//! five minutes off is as far as a reading's time may be trusted.

use super::HumanDuration;

/// The offset of a meter's clock from UTC: China Standard Time.
pub fn utc_offset() -> String {
    "+08:00".into()
}

/// A meter clock off by more than this stamps its values `clock_unsynced`.
pub fn clock_tolerance() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(300))
}

/// FEH wake-up bytes before each request.
pub fn preamble() -> u8 {
    4
}
