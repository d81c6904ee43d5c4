//! The DL/T 645-2007 data items whose layout and meaning are sourced, mapped onto the stored
//! reading model: what a poller needs to turn an answer's bytes into a reading.
//!
//! Identifiers, formats and units follow 600888/dlt645 (cpp/config/data/variable_types.json and
//! python/src/model/data/define/energy_def.py) and docs/domain.md; signedness follows the
//! published decoders (LaoYutang/go-dlt645, shixin08052/dtl645): currents, powers and power
//! factors carry a sign bit, voltages, frequency and import/export energies do not. Tariff
//! registers (DI1 = 1..) and combined energies are left out: the reading model has no
//! quantity for them.

use readings::{Kind, Measure, Phase, Quantity, Unit};

use super::codec::DataId;
use super::value::Format;

/// One data item: its layout and what it measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    pub id: DataId,
    pub format: Format,
    /// The unit of the decoded value (also the quantity's canonical unit).
    pub unit: Unit,
    pub quantity: Quantity,
    pub kind: Kind,
    /// 0 for the current value; 1..=12 for the value at the end of the last n settlement
    /// (billing) periods (energy items only).
    pub settlement: u8,
}

/// The item behind `id`, if it is one this module knows.
pub fn item(id: DataId) -> Option<Item> {
    let [di0, di1, di2, di3] = id.0.to_le_bytes();
    let phase = |p: u8| match p {
        1 => Some(Some(Phase::L1)),
        2 => Some(Some(Phase::L2)),
        3 => Some(Some(Phase::L3)),
        _ => None,
    };
    let phase_or_total = |p: u8| if p == 0 { Some(None) } else { phase(p) };
    let make = |format, measure: Measure, phase: Option<Phase>, kind, settlement| Item {
        id,
        format,
        unit: measure.canonical_unit(),
        quantity: Quantity { measure, phase },
        kind,
        settlement,
    };
    match (di3, di2, di1, di0) {
        // Energy totals: DI2 the kind, DI1 = 0 the total, DI0 the settlement period.
        (0x00, 0x01, 0x00, 0..=12) => Some(make(Format::ENERGY, Measure::ActiveEnergyImport, None, Kind::Counter, di0)),
        (0x00, 0x02, 0x00, 0..=12) => Some(make(Format::ENERGY, Measure::ActiveEnergyExport, None, Kind::Counter, di0)),
        (0x02, 0x01, p, 0x00) => Some(make(Format::VOLTAGE, Measure::Voltage, phase(p)?, Kind::Gauge, 0)),
        (0x02, 0x02, p, 0x00) => Some(make(Format::CURRENT, Measure::Current, phase(p)?, Kind::Gauge, 0)),
        (0x02, 0x03, p, 0x00) => Some(make(Format::POWER, Measure::ActivePower, phase_or_total(p)?, Kind::Gauge, 0)),
        (0x02, 0x04, p, 0x00) => Some(make(Format::POWER, Measure::ReactivePower, phase_or_total(p)?, Kind::Gauge, 0)),
        (0x02, 0x05, p, 0x00) => Some(make(Format::POWER, Measure::ApparentPower, phase_or_total(p)?, Kind::Gauge, 0)),
        (0x02, 0x06, p, 0x00) => Some(make(Format::POWER_FACTOR, Measure::PowerFactor, phase_or_total(p)?, Kind::Gauge, 0)),
        (0x02, 0x80, 0x00, 0x02) => Some(make(Format::FREQUENCY, Measure::Frequency, None, Kind::Gauge, 0)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_items_have_their_layout_and_unit() {
        let energy = item(DataId::FORWARD_ACTIVE_ENERGY).unwrap();
        assert_eq!((energy.format, energy.unit, energy.kind, energy.settlement), (Format::ENERGY, Unit::KWh, Kind::Counter, 0));
        assert_eq!(energy.quantity.to_string(), "active_energy_import");
        let last_month = item(DataId::FORWARD_ACTIVE_ENERGY.at_settlement(1).unwrap()).unwrap();
        assert_eq!(last_month.settlement, 1);
        assert_eq!(item(DataId::REVERSE_ACTIVE_ENERGY).unwrap().quantity.to_string(), "active_energy_export");

        let v = item(DataId::VOLTAGE_A).unwrap();
        assert_eq!((v.format, v.unit, v.quantity.to_string()), (Format::VOLTAGE, Unit::V, "voltage_l1".to_string()));
        assert_eq!(item(DataId(0x0202_0300)).unwrap().quantity.to_string(), "current_l3");
        assert_eq!(item(DataId(0x0202_0300)).unwrap().format, Format::CURRENT);
        let p = item(DataId::ACTIVE_POWER).unwrap();
        assert_eq!((p.format, p.unit, p.quantity.to_string()), (Format::POWER, Unit::KW, "active_power".to_string()));
        assert_eq!(item(DataId(0x0204_0100)).unwrap().unit, Unit::KVar);
        assert_eq!(item(DataId(0x0205_0000)).unwrap().unit, Unit::KVA);
        assert_eq!(item(DataId::POWER_FACTOR).unwrap().unit, Unit::One);
        assert_eq!(item(DataId::FREQUENCY).unwrap().format, Format::FREQUENCY);
    }

    #[test]
    fn unknown_items_are_none() {
        for id in [0x0000_0000, 0x0001_0100, 0x0001_000D, 0x0201_0000, 0x0201_0400, 0x0400_0101, 0x0201_FF00] {
            assert_eq!(item(DataId(id)), None, "{id:08X}");
        }
    }
}
