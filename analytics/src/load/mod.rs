//! Loading counter readings for a time range, from the Parquet store ([`parquet`]) or from
//! InfluxDB through its query API ([`influxdb`]). Both give the same [`CounterReadings`].

pub mod files;
pub mod influxdb;
pub mod parquet;

use readings::{Medium, Quality, Quantity, Unit};

pub use parquet::{counters_from_parquet, scan_store};

/// The counters whose differences are consumption (import energy, volume, mass, heat), and
/// exported electricity, which comprehensive consumption subtracts.
pub const CONSUMPTION_QUANTITIES: [&str; 5] = ["active_energy_import", "active_energy_export", "volume", "mass", "heat_energy"];

/// Qualities whose values the accounts use. A calibration-expired meter still measures (its
/// readings are counted in the data-quality evidence); estimated values count too. Values that
/// are out of range, and rows without a value, do not.
pub fn usable(q: Quality) -> bool {
    // A value from the meter's memory (a settlement-day total) is measured, stamped by the
    // meter's clock: a boundary value like any other.
    matches!(q, Quality::Good | Quality::Estimated | Quality::CalibrationExpired | Quality::MeterMemory)
}

/// One counter's readings: one series of the store, named by enterprise, site, meter and
/// quantity (two sites may each have a meter of one name).
#[derive(Debug, Clone, PartialEq)]
pub struct CounterReadings {
    pub enterprise: String,
    pub site: String,
    pub meter: String,
    pub medium: Medium,
    pub quantity: String,
    /// The canonical unit of `quantity`: values stored in another unit of its dimension are
    /// converted when loaded ([`to_canonical`]).
    pub unit: String,
    /// (ms since the epoch, value), sorted by time.
    pub points: Vec<(i64, f64)>,
    /// Rows of this counter in range without a usable value: when, and why.
    pub unusable: Vec<(i64, Quality)>,
}

impl CounterReadings {
    /// `enterprise/site/meter/quantity`, as messages name a series.
    pub fn series(&self) -> String {
        series_name(&self.enterprise, &self.site, &self.meter, &self.quantity)
    }

    /// Adds one row: a usable value, or a row counted as unusable.
    pub fn push(&mut self, time: i64, value: Option<f64>, quality: Quality) {
        match value {
            Some(v) if usable(quality) => self.points.push((time, v)),
            _ => self.unusable.push((time, quality)),
        }
    }
}

/// `enterprise/site/meter/quantity`, as messages name a series.
pub fn series_name(enterprise: &str, site: &str, meter: &str, quantity: &str) -> String {
    format!("{enterprise}/{site}/{meter}/{quantity}")
}

/// The canonical unit of a stored quantity, and the factor that takes a value stored in `unit`
/// into it (readings::Unit's table): a counter kept in MWh or Wh by another tool is accounted in
/// kWh like the collector's. A unit the table does not know, or of another dimension, is an
/// error naming both: its figures would be wrong by an unknown factor.
pub fn to_canonical(quantity: &str, unit: &str) -> Result<(Unit, f64), String> {
    let canonical = quantity.parse::<Quantity>().map_err(|e| e.to_string())?.canonical_unit();
    let stored: Unit = unit.parse().map_err(|e: readings::UnitError| format!("unit {unit:?} cannot be read as {canonical}: {e}"))?;
    let factor = stored.factor_to(canonical).map_err(|e| format!("unit {unit:?} cannot be read as {canonical}: {e}"))?;
    Ok((canonical, factor))
}

/// `value` times a factor from [`to_canonical`]; a factor that is the inverse of a power of ten
/// divides, so 1500 Wh is exactly 1.5 kWh ([`readings::apply_scale`]).
pub fn convert(value: f64, factor: f64) -> f64 {
    if factor == 1.0 {
        value
    } else {
        readings::apply_scale(value, factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_of_the_right_dimension_convert_and_others_are_refused() {
        assert_eq!(to_canonical("active_energy_import", "MWh"), Ok((Unit::KWh, 1000.0)));
        assert_eq!(to_canonical("active_energy_import", "kWh"), Ok((Unit::KWh, 1.0)));
        let (unit, wh) = to_canonical("active_energy_import", "Wh").unwrap();
        assert_eq!((unit, convert(1500.0, wh)), (Unit::KWh, 1.5));
        assert_eq!(to_canonical("volume", "L").map(|(u, f)| (u, convert(2500.0, f))), Ok((Unit::M3, 2.5)));
        assert_eq!(to_canonical("mass", "kg").map(|(u, f)| (u, convert(1234.0, f))), Ok((Unit::T, 1.234)));
        let err = to_canonical("active_energy_import", "m3").unwrap_err();
        assert_eq!(err, "unit \"m3\" cannot be read as kWh: cannot convert m3 into kWh: m3 measures Volume, kWh measures Energy");
        let err = to_canonical("volume", "gallon").unwrap_err();
        assert!(err.starts_with("unit \"gallon\" cannot be read as m3: unknown unit \"gallon\""), "{err}");
    }
}
