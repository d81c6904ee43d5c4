//! Loading counter readings for a time range, from the Parquet store ([`parquet`]) or from
//! InfluxDB through its query API ([`influxdb`]). Both give the same [`CounterReadings`].

pub mod influxdb;
pub mod parquet;

use readings::{Medium, Quality};

pub use parquet::{counters_from_parquet, scan_store};

/// The counters whose differences are consumption (import energy, volume, mass, heat), and
/// exported electricity, which comprehensive consumption subtracts.
pub const CONSUMPTION_QUANTITIES: [&str; 5] = ["active_energy_import", "active_energy_export", "volume", "mass", "heat_energy"];

/// Qualities whose values the accounts use. A calibration-expired meter still measures (its
/// readings are counted in the data-quality evidence); estimated values count too. Values that
/// are out of range, and rows without a value, do not.
pub fn usable(q: Quality) -> bool {
    matches!(q, Quality::Good | Quality::Estimated | Quality::CalibrationExpired)
}

/// One counter's readings.
#[derive(Debug, Clone, PartialEq)]
pub struct CounterReadings {
    pub enterprise: String,
    pub site: String,
    pub meter: String,
    pub medium: Medium,
    pub quantity: String,
    pub unit: String,
    /// (ms since the epoch, value), sorted by time.
    pub points: Vec<(i64, f64)>,
    /// Rows of this counter in range without a usable value: when, and why.
    pub unusable: Vec<(i64, Quality)>,
}

impl CounterReadings {
    /// Adds one row: a usable value, or a row counted as unusable.
    pub fn push(&mut self, time: i64, value: Option<f64>, quality: Quality) {
        match value {
            Some(v) if usable(quality) => self.points.push((time, v)),
            _ => self.unusable.push((time, quality)),
        }
    }
}
