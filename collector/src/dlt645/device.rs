//! A DL/T 645 meter as the collector polls it: where it is, its address, the items it is read
//! for, its schedule and its patience. Built from the config by `config::Config::parse`.

use readings::MeterId;
use serde::Deserialize;

use super::codec::MeterAddress;
use super::profile::Item;
use crate::line::Endpoint;
use crate::settings::HumanDuration;

/// `[dlt645]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dlt645Section {
    /// Extra `NAME.toml` profiles, searched before the built-in ones.
    pub profiles_dir: Option<std::path::PathBuf>,
    #[serde(default)]
    pub devices: Vec<DeviceSpec>,
}

/// `[[dlt645.devices]]` as written.
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
    /// The nameplate address, 12 digits, most significant first.
    pub address: String,
    pub profile: String,
    #[serde(default = "default_interval")]
    pub interval: HumanDuration,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// FE wake-up bytes before each request (0..=4).
    #[serde(default = "crate::settings::meter_defaults::preamble")]
    pub preamble: u8,
    /// Read the settlement-day totals the meter keeps (at start, then every 6 h).
    #[serde(default = "yes")]
    pub backfill: bool,
    /// The offset of the meter's clock from UTC.
    #[serde(default = "crate::settings::meter_defaults::utc_offset")]
    pub utc_offset: String,
    /// A meter clock off by more than this stamps its values `clock_unsynced`.
    #[serde(default = "crate::settings::meter_defaults::clock_tolerance")]
    pub clock_tolerance: HumanDuration,
}

fn yes() -> bool {
    true
}

fn default_interval() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(60))
}
fn default_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_millis(1000))
}

/// A validated DL/T 645 meter.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub meter: MeterId,
    pub endpoint: Endpoint,
    pub address: MeterAddress,
    pub profile: String,
    pub items: Vec<Item>,
    pub interval: HumanDuration,
    pub timeout: HumanDuration,
    pub preamble: u8,
    pub backfill: bool,
    /// Daily freezes the meter keeps (from its profile), read back by the backfill.
    pub daily_freezes: u8,
    pub utc_offset: chrono::FixedOffset,
    pub clock_tolerance: HumanDuration,
}
