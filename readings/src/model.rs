//! What one stored reading is (architecture.md, "A stored reading").

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::{EnterpriseId, MeterId, SiteId};
use crate::units::Unit;

/// A name that is not one of the allowed values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {got:?}; expected one of: {expected}")]
pub struct ParseError {
    what: &'static str,
    got: String,
    expected: String,
}

/// Declares a closed vocabulary with one snake_case spelling per value, used in configs, the
/// store and InfluxDB alike.
macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident, $what:literal { $( $(#[$vdoc:meta])* $variant:ident => $text:literal ),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $( $(#[$vdoc])* $variant ),* }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$( $name::$variant ),*];
            /// The stored spelling.
            pub fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $text ),* }
            }
        }

        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                match s {
                    $( $text => Ok($name::$variant), )*
                    _ => Err(ParseError {
                        what: $what,
                        got: s.to_owned(),
                        expected: [$( $text ),*].join(", "),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

vocabulary!(
    /// The energy carrier or substance a meter measures.
    Medium, "medium" {
        Electricity => "electricity",
        NaturalGas => "natural_gas",
        Water => "water",
        Steam => "steam",
        Heat => "heat",
        Coal => "coal",
        Coke => "coke",
        Diesel => "diesel",
        Gasoline => "gasoline",
        Lpg => "lpg",
        FuelOil => "fuel_oil",
        CompressedAir => "compressed_air",
        /// Solid biomass fuel (wood chips, straw pellets): its CO2 is reported apart, not in the
        /// total (GB/T 32150-2015).
        Biomass => "biomass",
        /// CO2 measured directly (a CEMS or a flow meter on a CO2 stream).
        Co2 => "co2",
    }
);

vocabulary!(
    /// What was measured, without the phase.
    Measure, "quantity" {
        ActiveEnergyImport => "active_energy_import",
        ActiveEnergyExport => "active_energy_export",
        ReactiveEnergyImport => "reactive_energy_import",
        ReactiveEnergyExport => "reactive_energy_export",
        ActivePower => "active_power",
        ReactivePower => "reactive_power",
        ApparentPower => "apparent_power",
        Voltage => "voltage",
        Current => "current",
        PowerFactor => "power_factor",
        Frequency => "frequency",
        Volume => "volume",
        VolumeFlow => "volume_flow",
        Mass => "mass",
        MassFlow => "mass_flow",
        HeatEnergy => "heat_energy",
        HeatPower => "heat_power",
        Temperature => "temperature",
        /// A heat meter's supply (flow) water temperature.
        SupplyTemperature => "supply_temperature",
        /// A heat meter's return water temperature.
        ReturnTemperature => "return_temperature",
        Pressure => "pressure",
        /// Hours a meter has been in operation (a heat meter's working hours).
        OperatingTime => "operating_time",
    }
);

vocabulary!(
    /// The phase or line a per-phase electrical quantity belongs to.
    Phase, "phase" {
        L1 => "l1",
        L2 => "l2",
        L3 => "l3",
        N => "n",
        L12 => "l12",
        L23 => "l23",
        L31 => "l31",
    }
);

vocabulary!(
    /// Whether the value is a cumulative register or an instantaneous one.
    Kind, "kind" {
        /// A cumulative register (kWh, m3, t): consumption is a difference of two readings.
        Counter => "counter",
        /// An instantaneous value (kW, V, m3/h).
        Gauge => "gauge",
    }
);

vocabulary!(
    /// Whether a value can be trusted, and if not, why.
    Quality, "quality" {
        Good => "good",
        /// Filled in or corrected, not measured.
        Estimated => "estimated",
        /// Decoded, but not a number or outside the point's plausible range.
        OutOfRange => "out_of_range",
        /// The transport failed (connection refused or lost, a malformed frame).
        CommError => "comm_error",
        /// No answer within the device's timeout.
        Timeout => "timeout",
        /// The device answered with a Modbus exception.
        DeviceException => "device_exception",
        /// The meter is past its verification or calibration due date.
        CalibrationExpired => "calibration_expired",
        /// Not asked: the device was backed off after failing, and this slot was skipped.
        SkippedBackoff => "skipped_backoff",
        /// Measured while the gateway's clock was not synchronised: the value is real, its
        /// time may not be.
        ClockUnsynced => "clock_unsynced",
        /// Read from the meter's own memory (a settlement-day or frozen value), stamped with the
        /// meter's time for it: a boundary value the gateway did not see live.
        MeterMemory => "meter_memory",
    }
);

impl Medium {
    /// The counter a medium is accounted by unless a meter's register says otherwise: import
    /// energy for electricity, heat for steam and hot water, volume for gases and water, mass for
    /// solid and liquid fuels and CO2.
    pub fn default_counter(self) -> Measure {
        match self {
            Medium::Electricity => Measure::ActiveEnergyImport,
            Medium::Steam | Medium::Heat => Measure::HeatEnergy,
            Medium::NaturalGas | Medium::Water | Medium::CompressedAir => Measure::Volume,
            Medium::Coal | Medium::Coke | Medium::Diesel | Medium::Gasoline | Medium::Lpg | Medium::FuelOil | Medium::Biomass | Medium::Co2 => Measure::Mass,
        }
    }
}

impl Measure {
    /// Whether a meter can keep this measure as a cumulative register (a counter).
    pub fn is_cumulative(self) -> bool {
        use Measure::*;
        matches!(self, ActiveEnergyImport | ActiveEnergyExport | ReactiveEnergyImport | ReactiveEnergyExport | Volume | Mass | HeatEnergy | OperatingTime)
    }

    /// Whether this measure is an energy total: it only grows, so it is never a gauge.
    pub fn is_energy_total(self) -> bool {
        use Measure::*;
        matches!(self, ActiveEnergyImport | ActiveEnergyExport | ReactiveEnergyImport | ReactiveEnergyExport | HeatEnergy)
    }

    /// The canonical unit every stored value of this measure is in.
    pub fn canonical_unit(self) -> Unit {
        use Measure::*;
        match self {
            ActiveEnergyImport | ActiveEnergyExport => Unit::KWh,
            ReactiveEnergyImport | ReactiveEnergyExport => Unit::KVarh,
            ActivePower => Unit::KW,
            ReactivePower => Unit::KVar,
            ApparentPower => Unit::KVA,
            Voltage => Unit::V,
            Current => Unit::A,
            PowerFactor => Unit::One,
            Frequency => Unit::Hz,
            Volume => Unit::M3,
            VolumeFlow => Unit::M3PerH,
            Mass => Unit::T,
            MassFlow => Unit::TPerH,
            HeatEnergy => Unit::GJ,
            HeatPower => Unit::KW,
            Temperature | SupplyTemperature | ReturnTemperature => Unit::DegC,
            Pressure => Unit::MPa,
            OperatingTime => Unit::H,
        }
    }
}

/// A measure, optionally of one phase: stored as `voltage_l1`, `active_power`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Quantity {
    pub measure: Measure,
    pub phase: Option<Phase>,
}

impl Quantity {
    /// A quantity of the whole meter, not of one phase.
    pub fn total(measure: Measure) -> Self {
        Self { measure, phase: None }
    }
    /// The canonical unit of the measure.
    pub fn canonical_unit(self) -> Unit {
        self.measure.canonical_unit()
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.phase {
            Some(p) => write!(f, "{}_{}", self.measure, p),
            None => f.write_str(self.measure.as_str()),
        }
    }
}

impl FromStr for Quantity {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        if let Ok(measure) = s.parse::<Measure>() {
            return Ok(Self { measure, phase: None });
        }
        if let Some((m, p)) = s.rsplit_once('_') {
            if let (Ok(measure), Ok(phase)) = (m.parse::<Measure>(), p.parse::<Phase>()) {
                return Ok(Self { measure, phase: Some(phase) });
            }
        }
        // Report against the measure list: that is the usual mistake.
        let err = s.parse::<Measure>().unwrap_err();
        Err(ParseError { expected: format!("{} (optionally suffixed _l1, _l2, _l3, _n, _l12, _l23, _l31)", err.expected), ..err })
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One stored reading. `value` is `None` for a reading-less event (a timeout, a Modbus
/// exception): the slot is still recorded, with the reason in `quality`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// UTC instant of the measurement: the meter's own time, or the scheduled poll slot.
    pub time: DateTime<Utc>,
    pub enterprise: EnterpriseId,
    pub site: SiteId,
    pub meter: MeterId,
    pub medium: Medium,
    pub quantity: Quantity,
    pub kind: Kind,
    /// Always `quantity.canonical_unit()`; kept so the store is self-describing.
    pub unit: Unit,
    pub value: Option<f64>,
    pub quality: Quality,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantity_with_and_without_phase() {
        let q: Quantity = "voltage_l1".parse().unwrap();
        assert_eq!(q, Quantity { measure: Measure::Voltage, phase: Some(Phase::L1) });
        assert_eq!(q.to_string(), "voltage_l1");
        let q: Quantity = "active_energy_import".parse().unwrap();
        assert_eq!(q, Quantity::total(Measure::ActiveEnergyImport));
        assert_eq!(q.canonical_unit(), Unit::KWh);
    }

    #[test]
    fn unknown_names_list_the_allowed_ones() {
        let err = "wattage".parse::<Quantity>().unwrap_err().to_string();
        assert!(err.starts_with("unknown quantity \"wattage\"; expected one of: active_energy_import,"), "{err}");
        let err = "gas".parse::<Medium>().unwrap_err().to_string();
        assert!(err.contains("natural_gas"), "{err}");
    }
}
