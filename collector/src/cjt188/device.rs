//! A CJ/T 188 meter as the collector polls it: its type, address, dialect, schedule and patience.
//! Built from the config by `config::Config::parse`.

use readings::{Medium, MeterId};
use serde::Deserialize;

use super::codec::{Address, Dialect, DiOrder, MeterType, Preamble};
use super::data::{TimeOrder, UnitPosition};
use crate::line::Endpoint;
use crate::settings::HumanDuration;

/// `[cjt188]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cjt188Section {
    #[serde(default)]
    pub devices: Vec<DeviceSpec>,
}

/// The meter types a config names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypeName {
    ColdWater,
    HotWater,
    DrinkingWater,
    ReclaimedWater,
    Heat,
    Cooling,
    HeatAndCooling,
    Gas,
}

impl TypeName {
    /// The codec's meter type.
    pub fn meter_type(self) -> MeterType {
        match self {
            TypeName::ColdWater => MeterType::ColdWater,
            TypeName::HotWater => MeterType::HotWater,
            TypeName::DrinkingWater => MeterType::DrinkingWater,
            TypeName::ReclaimedWater => MeterType::ReclaimedWater,
            TypeName::Heat => MeterType::Heat,
            TypeName::Cooling => MeterType::Cooling,
            TypeName::HeatAndCooling => MeterType::HeatAndCooling,
            TypeName::Gas => MeterType::Gas,
        }
    }
}

/// The byte order of the DI in requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiOrderName {
    #[default]
    LowFirst,
    HighFirst,
}

/// Where each unit code sits in an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitPositionName {
    #[default]
    AfterValue,
    BeforeValue,
}

/// `[[cjt188.devices]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSpec {
    /// The meter id stored with every reading.
    pub name: MeterId,
    /// A `[[modbus.serial_lines]]` entry: meters of every protocol share a line.
    pub line: Option<String>,
    /// Or a serial-to-Ethernet converter (DTU) passing raw frames.
    pub host: Option<String>,
    pub port: Option<u16>,
    pub meter_type: TypeName,
    /// The nameplate address, 14 digits, most significant first.
    pub address: String,
    /// What a gas meter measures (town gas, natural gas and LPG share type 30H).
    pub medium: Option<Medium>,
    #[serde(default = "default_interval")]
    pub interval: HumanDuration,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    #[serde(default = "crate::settings::meter_defaults::preamble")]
    pub preamble: u8,
    #[serde(default)]
    pub di_order: DiOrderName,
    #[serde(default)]
    pub unit_position: UnitPositionName,
    /// The offset of the meter's clock from UTC (its drift is in /metrics).
    #[serde(default = "crate::settings::meter_defaults::utc_offset")]
    pub utc_offset: String,
    /// The day of the month the meter settles on (at 00:00): its settlement-day value is stored
    /// once for that instant.
    #[serde(default = "default_settlement_day")]
    pub settlement_day: u8,
    /// A meter clock off by more than this stamps its settlement values `clock_unsynced`.
    #[serde(default = "crate::settings::meter_defaults::clock_tolerance")]
    pub clock_tolerance: HumanDuration,
}

fn default_settlement_day() -> u8 {
    1
}

fn default_interval() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(900))
}
fn default_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_millis(2000))
}

/// A validated CJ/T 188 meter.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub meter: MeterId,
    pub endpoint: Endpoint,
    pub meter_type: MeterType,
    pub address: Address,
    pub medium: Medium,
    pub dialect: Dialect,
    pub interval: HumanDuration,
    pub timeout: HumanDuration,
    pub utc_offset: chrono::FixedOffset,
    pub settlement_day: u8,
    pub clock_tolerance: HumanDuration,
}

impl DeviceSpec {
    /// The dialect the spec asks for; `Err` names a bad preamble.
    pub fn dialect(&self) -> Result<Dialect, String> {
        let preamble = Preamble::new(self.preamble).map_err(|e| e.to_string())?;
        Ok(Dialect {
            preamble,
            di_order: match self.di_order {
                DiOrderName::LowFirst => DiOrder::LowFirst,
                DiOrderName::HighFirst => DiOrder::HighFirst,
            },
            time_order: TimeOrder::default(),
            unit_position: match self.unit_position {
                UnitPositionName::AfterValue => UnitPosition::AfterValue,
                UnitPositionName::BeforeValue => UnitPosition::BeforeValue,
            },
        })
    }
}
