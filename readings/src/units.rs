//! Units of measurement and conversion into the canonical unit of each quantity.
//!
//! The factors here are definitions of the units themselves (1 kWh = 3.6 MJ), not domain
//! coefficients; those (kgce per kWh, emission factors) live in `config/`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a unit measures; only units of one dimension convert into each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    Energy,
    Power,
    ReactiveEnergy,
    ReactivePower,
    ApparentPower,
    Volume,
    VolumeFlow,
    Mass,
    MassFlow,
    Voltage,
    Current,
    Frequency,
    Ratio,
    Temperature,
    Pressure,
    Time,
}

/// Why a unit was refused or could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error("unknown unit {0:?}; known: {known}", known = Unit::ALL.iter().map(|u| u.symbol()).collect::<Vec<_>>().join(", "))]
    Unknown(String),
    #[error("cannot convert {from} into {to}: {from} measures {from_dim:?}, {to} measures {to_dim:?}")]
    Incompatible { from: Unit, to: Unit, from_dim: Dimension, to_dim: Dimension },
}

macro_rules! units {
    ($( $variant:ident => $sym:literal, $dim:ident, $factor:expr; )*) => {
        /// A unit a meter may report in. Each has a factor into its dimension's base unit.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Unit { $( $variant ),* }

        impl Unit {
            /// Every unit this crate knows.
            pub const ALL: &'static [Unit] = &[$( Unit::$variant ),*];
            /// The symbol used in configs, the store and reports.
            pub fn symbol(self) -> &'static str {
                match self { $( Unit::$variant => $sym ),* }
            }
            /// What the unit measures.
            pub fn dimension(self) -> Dimension {
                match self { $( Unit::$variant => Dimension::$dim ),* }
            }
            /// Multiplier into the dimension's base unit (the first unit listed for it).
            fn to_base(self) -> f64 {
                match self { $( Unit::$variant => $factor ),* }
            }
        }
    };
}

// Base units per dimension: kWh (energy), kW, kvarh, kvar, kVA, m3, m3/h, t, t/h, V, A, Hz, 1, degC, MPa, h.
units! {
    Wh => "Wh", Energy, 1e-3;
    KWh => "kWh", Energy, 1.0;
    MWh => "MWh", Energy, 1e3;
    GWh => "GWh", Energy, 1e6;
    KJ => "kJ", Energy, 1.0 / 3600.0;
    MJ => "MJ", Energy, 1.0 / 3.6;
    GJ => "GJ", Energy, 1e3 / 3.6;
    W => "W", Power, 1e-3;
    KW => "kW", Power, 1.0;
    MW => "MW", Power, 1e3;
    Varh => "varh", ReactiveEnergy, 1e-3;
    KVarh => "kvarh", ReactiveEnergy, 1.0;
    MVarh => "Mvarh", ReactiveEnergy, 1e3;
    Var => "var", ReactivePower, 1e-3;
    KVar => "kvar", ReactivePower, 1.0;
    VA => "VA", ApparentPower, 1e-3;
    KVA => "kVA", ApparentPower, 1.0;
    L => "L", Volume, 1e-3;
    M3 => "m3", Volume, 1.0;
    LPerS => "L/s", VolumeFlow, 3.6;
    LPerH => "L/h", VolumeFlow, 1e-3;
    M3PerH => "m3/h", VolumeFlow, 1.0;
    G => "g", Mass, 1e-6;
    Kg => "kg", Mass, 1e-3;
    T => "t", Mass, 1.0;
    KgPerH => "kg/h", MassFlow, 1e-3;
    TPerH => "t/h", MassFlow, 1.0;
    V => "V", Voltage, 1.0;
    KV => "kV", Voltage, 1e3;
    MA => "mA", Current, 1e-3;
    A => "A", Current, 1.0;
    Hz => "Hz", Frequency, 1.0;
    One => "1", Ratio, 1.0;
    Percent => "%", Ratio, 1e-2;
    DegC => "degC", Temperature, 1.0;
    Pa => "Pa", Pressure, 1e-6;
    KPa => "kPa", Pressure, 1e-3;
    Bar => "bar", Pressure, 0.1;
    MPa => "MPa", Pressure, 1.0;
    H => "h", Time, 1.0;
    S => "s", Time, 1.0 / 3600.0;
}

impl Unit {
    /// Converts `value` in `self` into `to`.
    pub fn convert(self, value: f64, to: Unit) -> Result<f64, UnitError> {
        if self.dimension() != to.dimension() {
            return Err(UnitError::Incompatible {
                from: self,
                to,
                from_dim: self.dimension(),
                to_dim: to.dimension(),
            });
        }
        if self == to {
            return Ok(value);
        }
        Ok(value * self.to_base() / to.to_base())
    }

    /// The factor that takes a value in `self` into `to` (for bulk conversion).
    pub fn factor_to(self, to: Unit) -> Result<f64, UnitError> {
        self.convert(1.0, to)
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

impl FromStr for Unit {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, UnitError> {
        // Accept the spellings vendors' manuals use for the same unit.
        let alias = match s {
            "m³" => "m3",
            "m³/h" => "m3/h",
            "°C" => "degC",
            "VAr" | "VAR" => "var",
            "kVAr" | "kVAR" => "kvar",
            "kVArh" | "kVARh" => "kvarh",
            other => other,
        };
        Unit::ALL
            .iter()
            .copied()
            .find(|u| u.symbol() == alias)
            .ok_or_else(|| UnitError::Unknown(s.to_owned()))
    }
}

impl Serialize for Unit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.symbol())
    }
}

impl<'de> Deserialize<'de> for Unit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The powers of ten 10^0 to 10^9, each exactly a double: dividing by one of them is a single
/// correctly rounded operation, which scaling and the store's decimals rely on.
pub const POW10: [f64; 10] = [1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// `value x scale`; when `scale` is a power of ten below one (0.1, 0.01, ... 1e-9) the value is
/// divided by its inverse instead, which gives the double nearest to the decimal a register
/// means (35 x 0.01 is 0.35000000000000003, 35 / 100 is 0.35; 13 % of registers up to 20000
/// come out wrong by multiplication). Such values are also the
/// ones the Parquet store keeps as compact decimals.
pub fn apply_scale(value: f64, scale: f64) -> f64 {
    let inverse = (1.0 / scale).round();
    let power_of_ten = POW10[1..].contains(&inverse) && 1.0 / inverse == scale;
    if power_of_ten {
        value / inverse
    } else {
        value * scale
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_register_times_a_power_of_ten_is_the_nearest_double_to_its_decimal() {
        for raw in 0..200_000i64 {
            let decimal: f64 = format!("{}.{:02}", raw / 100, raw % 100).parse().unwrap();
            assert_eq!(super::apply_scale(raw as f64, 0.01).to_bits(), decimal.to_bits(), "{raw}");
        }
        assert_eq!(super::apply_scale(5.0, 0.5), 2.5);
        assert_eq!(super::apply_scale(7.0, 10.0), 70.0);
        assert_eq!(super::apply_scale(-12345.0, 0.001), -12.345);
        assert_ne!(35.0 * 0.01f64, 0.35, "why: the product is not the nearest double");
    }

    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn energy_conversions() {
        assert!(close(Unit::Wh.convert(1500.0, Unit::KWh).unwrap(), 1.5));
        assert!(close(Unit::MWh.convert(2.0, Unit::KWh).unwrap(), 2000.0));
        assert!(close(Unit::KWh.convert(1.0, Unit::MJ).unwrap(), 3.6));
        assert!(close(Unit::MJ.convert(1000.0, Unit::GJ).unwrap(), 1.0));
        assert!(close(Unit::GJ.convert(1.0, Unit::KWh).unwrap(), 277.777_777_777_777_8));
    }

    #[test]
    fn volume_mass_flow_pressure() {
        assert!(close(Unit::L.convert(2500.0, Unit::M3).unwrap(), 2.5));
        assert!(close(Unit::Kg.convert(1234.0, Unit::T).unwrap(), 1.234));
        assert!(close(Unit::LPerS.convert(1.0, Unit::M3PerH).unwrap(), 3.6));
        assert!(close(Unit::KgPerH.convert(500.0, Unit::TPerH).unwrap(), 0.5));
        assert!(close(Unit::Bar.convert(10.0, Unit::MPa).unwrap(), 1.0));
        assert!(close(Unit::Percent.convert(95.0, Unit::One).unwrap(), 0.95));
    }

    #[test]
    fn incompatible_units_are_refused() {
        let err = Unit::KWh.convert(1.0, Unit::M3).unwrap_err();
        assert_eq!(err.to_string(), "cannot convert kWh into m3: kWh measures Energy, m3 measures Volume");
    }

    #[test]
    fn parse_symbols_and_aliases() {
        for u in Unit::ALL {
            assert_eq!(u.symbol().parse::<Unit>().unwrap(), *u);
        }
        assert_eq!("m³".parse::<Unit>().unwrap(), Unit::M3);
        assert_eq!("kVArh".parse::<Unit>().unwrap(), Unit::KVarh);
        assert!(matches!("kwh".parse::<Unit>(), Err(UnitError::Unknown(_))));
    }
}
