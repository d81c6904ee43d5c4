//! From decoded register values to stored readings: scale, offset, scale registers, plausibility,
//! and conversion into the quantity's canonical unit.

use chrono::{DateTime, Utc};
use readings::{EnterpriseId, MeterId, Quality, Reading, SiteId};

use crate::modbus::profile::{Point, ScaleMode};

/// The identity every reading of this gateway carries.
#[derive(Debug, Clone)]
pub struct Identity {
    pub enterprise: EnterpriseId,
    pub site: SiteId,
}

impl Identity {
    /// A reading of `point` at `time`.
    pub fn reading(&self, meter: &MeterId, point: &Point, time: DateTime<Utc>, value: Option<f64>, quality: Quality) -> Reading {
        Reading {
            time,
            enterprise: self.enterprise.clone(),
            site: self.site.clone(),
            meter: meter.clone(),
            medium: point.medium,
            quantity: point.quantity,
            kind: point.kind,
            unit: point.quantity.canonical_unit(),
            value,
            quality,
        }
    }
}

/// The value of `point` in its canonical unit from its decoded register value, and its quality.
/// `scale_register` is the decoded value of the point's scale register, when it has one.
pub fn point_value(point: &Point, raw: f64, scale_register: Option<f64>) -> (Option<f64>, Quality) {
    let mut v = raw;
    if let (Some((_, mode, exponent_offset)), Some(reg)) = (point.scale_from, scale_register) {
        let factor = match mode {
            ScaleMode::Pow10 => 10f64.powf(reg + f64::from(exponent_offset)),
            ScaleMode::Multiply => reg,
        };
        v = readings::apply_scale(v, factor);
    }
    v = readings::apply_scale(v, point.scale) + point.offset;
    if !v.is_finite() {
        return (None, Quality::OutOfRange);
    }
    let (lo, hi) = point.valid;
    let plausible = lo.is_none_or(|lo| v >= lo) && hi.is_none_or(|hi| v <= hi);
    // The map was validated: the unit converts into the canonical one.
    let canonical = point.unit.convert(v, point.quantity.canonical_unit()).unwrap_or(f64::NAN);
    (Some(canonical), if plausible { Quality::Good } else { Quality::OutOfRange })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modbus::profile::{Location, Point};
    use crate::modbus::register::{DataType, RegisterFunction, WordOrder};
    use readings::{Kind, Measure, Medium, Quantity, Unit};

    fn point(unit: Unit, quantity: Measure, scale: f64) -> Point {
        Point {
            name: "p".into(),
            quantity: Quantity::total(quantity),
            medium: Medium::Electricity,
            kind: Kind::Counter,
            location: Location { function: RegisterFunction::Holding, address: 0, data_type: DataType::I32, order: WordOrder::ABCD },
            scale,
            offset: 0.0,
            unit,
            scale_from: None,
            valid: (None, None),
        }
    }

    #[test]
    fn scale_then_canonical_unit() {
        // int32 in 0.01 kWh
        assert_eq!(point_value(&point(Unit::KWh, Measure::ActiveEnergyImport, 0.01), 123_456.0, None), (Some(1234.56), Quality::Good));
        // int64 in Wh -> kWh
        assert_eq!(point_value(&point(Unit::Wh, Measure::ActiveEnergyImport, 1.0), 12_345_678.0, None), (Some(12_345.678), Quality::Good));
    }

    #[test]
    fn scale_registers() {
        let mut p = point(Unit::M3, Measure::Volume, 1.0);
        p.scale_from = Some((0, ScaleMode::Pow10, -3));
        // multiplier register 4 -> x10^(4-3) = x10
        assert_eq!(point_value(&p, 5.0, Some(4.0)).0, Some(50.0));
        p.scale_from = Some((0, ScaleMode::Multiply, 0));
        assert_eq!(point_value(&p, 5.0, Some(40.0)).0, Some(200.0));
    }

    #[test]
    fn implausible_values_are_flagged_not_dropped() {
        let mut p = point(Unit::Hz, Measure::Frequency, 1.0);
        p.valid = (Some(45.0), Some(65.0));
        assert_eq!(point_value(&p, 50.0, None), (Some(50.0), Quality::Good));
        assert_eq!(point_value(&p, 0.0, None), (Some(0.0), Quality::OutOfRange));
        assert_eq!(point_value(&p, f64::NAN, None), (None, Quality::OutOfRange));
    }
}
