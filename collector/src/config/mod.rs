//! The collector's config file: typed with serde, validated once at start-up into the [`Config`]
//! the rest of the collector runs on. Every problem names the file, the key and what is wrong.

pub use crate::settings::error;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use readings::{EnterpriseId, MeterId, Medium, SiteId};
use serde::Deserialize;

pub use crate::line::{Endpoint, Framing, Parity, SerialLine};
pub use crate::modbus::device::Device;
pub use crate::settings::{read_file, read_secret, ConfigError, ConfigErrors, HumanDuration};

use crate::dead_letter::DeadLetterLimits;
use crate::dlt645::device::Dlt645Section;
use crate::journal::JournalConfig;
use crate::mqtt::mapping::{capture_count, covers, filter_problem, template_captures, Format};
use crate::mqtt::source::{Credentials, MqttSpec};
use crate::sink::influxdb::{InfluxConfig, InfluxSpec};
use crate::modbus::plan::{Limits, MAX_REGISTERS};
use crate::modbus::profile::{PointSpec, Profile, RegisterMap, ScaleRegisterSpec};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    gateway: GatewaySection,
    storage: StorageSection,
    #[serde(default)]
    sinks: SinksSection,
    #[serde(default)]
    journal: JournalConfig,
    #[serde(default)]
    modbus: ModbusSection,
    #[serde(default)]
    dlt645: Dlt645Section,
    #[serde(default)]
    cjt188: crate::cjt188::device::Cjt188Section,
    mqtt: Option<MqttSpec>,
    health: Option<crate::health::HealthSpec>,
    console: Option<crate::console::ConsoleSpec>,
    #[serde(default)]
    clock: ClockSection,
}

/// `[clock]`: whether the gateway's clock may be trusted without the kernel saying it is
/// synchronised.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockSection {
    #[serde(default)]
    trusted: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GatewaySection {
    enterprise: EnterpriseId,
    site: SiteId,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StorageSection {
    data_dir: PathBuf,
    /// Free bytes the collector leaves on the data directory's filesystem: the journal and the
    /// dead letters stop short of it, so the sinks always have room to deliver (and free space).
    #[serde(default = "default_reserve_bytes")]
    reserve_bytes: u64,
    #[serde(default)]
    dead_letters: DeadLetterLimits,
}

fn default_reserve_bytes() -> u64 {
    32 * 1024 * 1024
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SinksSection {
    #[serde(default)]
    parquet: ParquetSinkConfig,
    influxdb: Option<InfluxSpec>,
}

/// When the Parquet sink writes a file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParquetSinkConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Write once this many readings are buffered.
    #[serde(default = "default_max_rows")]
    pub max_rows: usize,
    /// Write once the oldest buffered reading is this old.
    #[serde(default = "default_max_age")]
    pub max_age: HumanDuration,
}

impl Default for ParquetSinkConfig {
    fn default() -> Self {
        Self { enabled: true, max_rows: default_max_rows(), max_age: default_max_age() }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModbusSection {
    profiles_dir: Option<PathBuf>,
    #[serde(default)]
    serial_lines: Vec<SerialLineSpec>,
    #[serde(default)]
    devices: Vec<DeviceSpec>,
}

/// An RS-485/RS-232 line as written in the config; see [`SerialLine`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SerialLineSpec {
    name: String,
    device: PathBuf,
    #[serde(default = "default_baud")]
    baud: u32,
    #[serde(default)]
    parity: Parity,
    #[serde(default = "default_data_bits")]
    data_bits: u8,
    #[serde(default = "default_stop_bits")]
    stop_bits: u8,
    #[serde(default = "default_byte_timeout")]
    byte_timeout: HumanDuration,
    /// The adapter echoes each request (half-duplex RS-485 without echo suppression).
    #[serde(default)]
    echo: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceSpec {
    name: MeterId,
    host: Option<String>,
    line: Option<String>,
    #[serde(default = "default_port")]
    port: u16,
    #[serde(default = "default_unit")]
    unit: u8,
    #[serde(default)]
    transport: Framing,
    interval: HumanDuration,
    profile: Option<String>,
    medium: Option<Medium>,
    #[serde(default)]
    points: Vec<PointSpec>,
    #[serde(default)]
    scale_registers: Vec<ScaleRegisterSpec>,
    #[serde(default)]
    point_intervals: BTreeMap<String, HumanDuration>,
    #[serde(default = "default_timeout")]
    timeout: HumanDuration,
    #[serde(default = "default_retries")]
    retries: u32,
    #[serde(default = "default_retry_backoff")]
    retry_backoff: HumanDuration,
    #[serde(default = "default_max_gap")]
    max_gap: u16,
    #[serde(default = "default_max_registers")]
    max_registers_per_request: u16,
    #[serde(default)]
    pause_after_connect: HumanDuration,
    #[serde(default)]
    pause_between_requests: HumanDuration,
}

fn yes() -> bool {
    true
}
fn default_max_rows() -> usize {
    10_000
}
fn default_max_age() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(60))
}
fn default_port() -> u16 {
    502
}
fn default_baud() -> u32 {
    9600
}
fn default_data_bits() -> u8 {
    8
}
fn default_stop_bits() -> u8 {
    1
}
fn default_byte_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_millis(100))
}
fn default_unit() -> u8 {
    1
}
fn default_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(1))
}
fn default_retries() -> u32 {
    2
}
fn default_retry_backoff() -> HumanDuration {
    HumanDuration(std::time::Duration::from_millis(200))
}
fn default_max_gap() -> u16 {
    Limits::default().max_gap
}
fn default_max_registers() -> u16 {
    MAX_REGISTERS
}

/// The validated configuration the collector runs on.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub file: PathBuf,
    pub enterprise: EnterpriseId,
    pub site: SiteId,
    /// Absolute, or relative to the config file's directory as written.
    pub data_dir: PathBuf,
    pub parquet: ParquetSinkConfig,
    /// The InfluxDB sink, when configured.
    pub influxdb: Option<InfluxConfig>,
    /// The journal's settings, with `storage.reserve_bytes` in `reserve_bytes`.
    pub journal: JournalConfig,
    /// How much room dead letters may take.
    pub dead_letters: DeadLetterLimits,
    pub devices: Vec<Device>,
    /// DL/T 645 meters.
    pub dlt645_devices: Vec<crate::dlt645::device::Device>,
    /// CJ/T 188 water, heat and gas meters.
    pub cjt188_devices: Vec<crate::cjt188::device::Device>,
    /// The MQTT source, when configured, and its password and TLS material.
    pub mqtt: Option<(MqttSpec, Credentials)>,
    /// The health endpoint, when configured.
    pub health: Option<crate::health::HealthSpec>,
    /// The console's pages on the health endpoint's listener, when configured.
    pub console: Option<crate::console::ConsoleConfig>,
    /// `[clock] trusted`: readings are good even while the kernel says the clock is not
    /// synchronised.
    pub clock_trusted: bool,
}

impl Config {
    /// Reads, parses and validates a config file and the profiles it names.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(&file, "", format!("cannot read the file: {e}")))?;
        Config::parse(path, &text)
    }

    /// Parses and validates config `text`; `path` names it and anchors relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigErrors> {
        let file = path.display().to_string();
        let raw: RawConfig = error::parse_toml(&file, text)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut errors = Vec::new();
        let mut err = |key: String, msg: String| errors.push(ConfigError::new(&file, key, msg));

        if !raw.sinks.parquet.enabled && raw.sinks.influxdb.is_none() {
            err("sinks.parquet.enabled".into(), "is false and no other sink is configured; readings would have nowhere to go".into());
        }
        if raw.sinks.parquet.max_rows == 0 {
            err("sinks.parquet.max_rows".into(), "is 0; it must be at least 1".into());
        }
        if raw.sinks.parquet.max_age.as_millis() == 0 {
            err("sinks.parquet.max_age".into(), "is 0; give a positive duration such as \"60s\"".into());
        }
        let j = &raw.journal;
        if j.segment_bytes < 4096 {
            err("journal.segment_bytes".into(), format!("is {}; a segment needs at least 4096 bytes", j.segment_bytes));
        }
        if j.budget_bytes < 2 * j.segment_bytes {
            err("journal.budget_bytes".into(), format!("is {}; it must hold at least two segments ({} bytes)", j.budget_bytes, 2 * j.segment_bytes));
        }
        if j.sync_records == 0 {
            err("journal.sync_records".into(), "is 0; it must be at least 1".into());
        }
        if j.sync_delay.as_millis() == 0 {
            err("journal.sync_delay".into(), "is 0; give a positive duration such as \"100ms\"".into());
        }
        if raw.storage.data_dir.as_os_str().is_empty() {
            err("storage.data_dir".into(), "is empty".into());
        }
        let dl = raw.storage.dead_letters;
        if dl.file_bytes == 0 || dl.file_bytes > dl.max_bytes {
            err("storage.dead_letters.file_bytes".into(), format!("is {}; it must be at least 1 and at most max_bytes ({})", dl.file_bytes, dl.max_bytes));
        }
        let profiles_dir = raw.modbus.profiles_dir.as_ref().map(|d| base.join(d));

        let mut lines: HashMap<&str, SerialLine> = HashMap::new();
        let mut line_paths: HashMap<&Path, String> = HashMap::new();
        for (i, l) in raw.modbus.serial_lines.iter().enumerate() {
            let key = format!("modbus.serial_lines[{i}]");
            if l.name.trim().is_empty() {
                err(format!("{key}.name"), "is empty; devices name their line by it".into());
            }
            if l.device.as_os_str().is_empty() {
                err(format!("{key}.device"), "is empty; give the serial device, e.g. \"/dev/ttyUSB0\"".into());
            } else if let Some(first) = line_paths.insert(&l.device, key.clone()) {
                err(format!("{key}.device"), format!("{} is already the device of {first}; one line per port", l.device.display()));
            }
            if !(300..=4_000_000).contains(&l.baud) {
                err(format!("{key}.baud"), format!("is {}; give the line's baud rate, e.g. 9600 or 19200", l.baud));
            }
            if l.data_bits != 8 {
                err(format!("{key}.data_bits"), format!("is {}; Modbus RTU frames carry 8 data bits (7 is Modbus ASCII, which is not supported)", l.data_bits));
            }
            if !(1..=2).contains(&l.stop_bits) {
                err(format!("{key}.stop_bits"), format!("is {}; it must be 1 or 2", l.stop_bits));
            }
            if l.byte_timeout.as_millis() == 0 {
                err(format!("{key}.byte_timeout"), "is 0; give a positive duration such as \"100ms\"".into());
            }
            let line = SerialLine {
                name: l.name.clone(),
                path: base.join(&l.device),
                baud: l.baud,
                parity: l.parity,
                stop_bits: l.stop_bits,
                byte_timeout: l.byte_timeout.0,
                echo: l.echo,
            };
            if lines.insert(l.name.as_str(), line).is_some() {
                err(format!("{key}.name"), format!("{:?} names two serial lines", l.name));
            }
        }

        let mut devices = Vec::new();
        let mut seen: HashMap<String, String> = HashMap::new();
        let mut profile_errors = Vec::new();
        for (i, d) in raw.modbus.devices.iter().enumerate() {
            let key = format!("modbus.devices[{i}]");
            if let Some(first) = seen.insert(d.name.to_string(), key.clone()) {
                err(format!("{key}.name"), format!("{:?} is already the name of {first}; meter names must be unique", d.name.as_str()));
            }
            let endpoint = match (&d.host, &d.line) {
                (Some(host), None) => {
                    if host.trim().is_empty() || host.contains(char::is_whitespace) {
                        err(format!("{key}.host"), format!("{host:?} is not a host name or IP address"));
                    }
                    if d.port == 0 {
                        err(format!("{key}.port"), "is 0; Modbus TCP listens on 502 unless the device says otherwise".into());
                    }
                    Some(Endpoint::Tcp { host: host.trim().to_owned(), port: d.port, framing: d.transport })
                }
                (None, Some(name)) => {
                    if d.transport != Framing::Tcp {
                        err(format!("{key}.transport"), "is for devices reached over TCP; a device on a serial line always speaks RTU".into());
                    }
                    // Unit 0 is broadcast (never answered) and 248..=255 are reserved on a serial line.
                    if !(1..=247).contains(&d.unit) {
                        err(format!("{key}.unit"), format!("is {}; on a serial line a device's address is 1 to 247", d.unit));
                    }
                    match lines.get(name.as_str()) {
                        Some(line) => Some(Endpoint::Serial(line.clone())),
                        None => {
                            let known: Vec<&str> = raw.modbus.serial_lines.iter().map(|l| l.name.as_str()).collect();
                            err(format!("{key}.line"), format!("{name:?} is not a serial line in [[modbus.serial_lines]] (there are: {})", if known.is_empty() { "none".to_owned() } else { known.join(", ") }));
                            None
                        }
                    }
                }
                (Some(_), Some(_)) => {
                    err(format!("{key}.line"), "a device is reached either over TCP (host) or on a serial line (line), not both".into());
                    None
                }
                (None, None) => {
                    err(key.clone(), "has neither host nor line; give host = \"IP\" for Modbus TCP or line = \"NAME\" for a serial line".into());
                    None
                }
            };
            let interval = d.interval.as_millis();
            if interval < 100 {
                err(format!("{key}.interval"), format!("is {}; poll at most every 100ms", d.interval));
            }
            if d.timeout.as_millis() == 0 {
                err(format!("{key}.timeout"), "is 0; give a positive duration such as \"1s\"".into());
            }
            if !(1..=MAX_REGISTERS).contains(&d.max_registers_per_request) {
                err(
                    format!("{key}.max_registers_per_request"),
                    format!("is {}; it must be between 1 and {MAX_REGISTERS}", d.max_registers_per_request),
                );
            }
            let map = match (&d.profile, d.points.is_empty() && d.scale_registers.is_empty()) {
                (Some(_), false) => {
                    err(format!("{key}.points"), "a device takes either a profile or its own points, not both".into());
                    continue;
                }
                (None, true) => {
                    err(key.clone(), "has neither a profile nor points; name a profile (e.g. profile = \"eastron_sdm630\") or list points".into());
                    continue;
                }
                (Some(name), true) => {
                    let found = profiles_dir.as_deref().and_then(|dir| Profile::from_dir(dir, name)).or_else(|| Profile::builtin(name));
                    match found {
                        Some(Ok(p)) => p.map,
                        Some(Err(e)) => {
                            profile_errors.extend(e);
                            continue;
                        }
                        None => {
                            let known: Vec<&str> = crate::modbus::profile::BUILTIN.iter().map(|(n, _)| *n).collect();
                            err(
                                format!("{key}.profile"),
                                format!("{name:?} is neither a built-in profile ({}) nor a file in profiles_dir", known.join(", ")),
                            );
                            continue;
                        }
                    }
                }
                (None, false) => match RegisterMap::build(&file, &format!("{key}."), d.medium, &d.points, &d.scale_registers) {
                    Ok(map) => map,
                    Err(e) => {
                        profile_errors.extend(e);
                        continue;
                    }
                },
            };
            let mut point_interval_ms = vec![interval; map.points.len()];
            for (name, every) in &d.point_intervals {
                let k = format!("{key}.point_intervals.{name}");
                match map.points.iter().position(|p| &p.name == name) {
                    None => err(k, format!("{name:?} is not a point of this device")),
                    Some(idx) => {
                        let ms = every.as_millis();
                        if interval == 0 || ms % interval != 0 || ms == 0 {
                            err(k, format!("is {every}; a point's interval must be a whole multiple of the device's interval {}", d.interval));
                        } else {
                            point_interval_ms[idx] = ms;
                        }
                    }
                }
            }
            let Some(endpoint) = endpoint else { continue };
            devices.push(Device {
                meter: d.name.clone(),
                endpoint,
                unit: d.unit,
                interval: d.interval,
                profile: d.profile.clone(),
                map,
                point_interval_ms,
                limits: Limits { max_registers: d.max_registers_per_request, max_gap: d.max_gap },
                timeout: d.timeout,
                retries: d.retries,
                retry_backoff: d.retry_backoff,
                pause_after_connect: d.pause_after_connect,
                pause_between_requests: d.pause_between_requests,
            });
        }
        let mut dlt645_devices = Vec::new();
        let dlt_profiles = raw.dlt645.profiles_dir.as_ref().map(|d| base.join(d));
        for (i, d) in raw.dlt645.devices.iter().enumerate() {
            let key = format!("dlt645.devices[{i}]");
            if let Some(first) = seen.insert(d.name.to_string(), key.clone()) {
                err(format!("{key}.name"), format!("{:?} is already the name of {first}; meter names must be unique", d.name.as_str()));
            }
            let endpoint = raw_line_endpoint(&key, &d.line, &d.host, d.port, &lines, &mut err);
            let address = match d.address.parse::<crate::dlt645::codec::MeterAddress>() {
                Ok(a) => Some(a),
                Err(e) => {
                    err(format!("{key}.address"), e.to_string());
                    None
                }
            };
            if d.interval.as_millis() < 1000 {
                err(format!("{key}.interval"), format!("is {}; a DL/T 645 meter is read at most every second", d.interval));
            }
            if d.timeout.as_millis() == 0 {
                err(format!("{key}.timeout"), "is 0; give a positive duration such as \"1s\"".into());
            }
            if d.preamble > 4 {
                err(format!("{key}.preamble"), format!("is {}; the standard allows up to 4 FE bytes", d.preamble));
            }
            let found = dlt_profiles.as_deref().and_then(|dir| crate::dlt645::profile::Profile::from_dir(dir, &d.profile)).or_else(|| crate::dlt645::profile::Profile::builtin(&d.profile));
            let profile = match found {
                Some(Ok(p)) => Some(p),
                Some(Err(e)) => {
                    profile_errors.extend(e);
                    None
                }
                None => {
                    let known: Vec<&str> = crate::dlt645::profile::BUILTIN.iter().map(|(n, _)| *n).collect();
                    err(format!("{key}.profile"), format!("{:?} is neither a built-in DL/T 645 profile ({}) nor a file in dlt645.profiles_dir", d.profile, known.join(", ")));
                    None
                }
            };
            let utc_offset = crate::settings::parse_utc_offset(&d.utc_offset);
            if utc_offset.is_none() {
                err(format!("{key}.utc_offset"), format!("{:?} is not an offset such as \"+08:00\"", d.utc_offset));
            }
            if let (Some(endpoint), Some(address), Some(profile), Some(utc_offset)) = (endpoint, address, profile, utc_offset) {
                dlt645_devices.push(crate::dlt645::device::Device {
                    meter: d.name.clone(),
                    endpoint,
                    address,
                    profile: d.profile.clone(),
                    daily_freezes: profile.meta.daily_freezes,
                    items: profile.items,
                    interval: d.interval,
                    timeout: d.timeout,
                    preamble: d.preamble,
                    backfill: d.backfill,
                    utc_offset,
                    clock_tolerance: d.clock_tolerance,
                });
            }
        }
        let mut cjt188_devices = Vec::new();
        for (i, d) in raw.cjt188.devices.iter().enumerate() {
            let key = format!("cjt188.devices[{i}]");
            if let Some(first) = seen.insert(d.name.to_string(), key.clone()) {
                err(format!("{key}.name"), format!("{:?} is already the name of {first}; meter names must be unique", d.name.as_str()));
            }
            let endpoint = raw_line_endpoint(&key, &d.line, &d.host, d.port, &lines, &mut err);
            let meter_type = d.meter_type.meter_type();
            let address = match d.address.parse::<crate::cjt188::codec::Address>() {
                Ok(a) => Some(a),
                Err(e) => {
                    err(format!("{key}.address"), e.to_string());
                    None
                }
            };
            let medium = match (d.medium, meter_type.medium()) {
                (Some(m), _) | (None, Some(m)) => Some(m),
                (None, None) => {
                    err(format!("{key}.medium"), "is missing: a gas meter (type 30H) measures town gas, natural gas or LPG; say which, e.g. medium = \"natural_gas\"".into());
                    None
                }
            };
            let dialect = match d.dialect() {
                Ok(x) => Some(x),
                Err(e) => {
                    err(format!("{key}.preamble"), e);
                    None
                }
            };
            if d.interval.as_millis() < 1000 {
                err(format!("{key}.interval"), format!("is {}; a CJ/T 188 meter is read at most every second", d.interval));
            }
            if d.timeout.as_millis() == 0 {
                err(format!("{key}.timeout"), "is 0; give a positive duration such as \"2s\"".into());
            }
            let utc_offset = crate::settings::parse_utc_offset(&d.utc_offset);
            if utc_offset.is_none() {
                err(format!("{key}.utc_offset"), format!("{:?} is not an offset such as \"+08:00\"", d.utc_offset));
            }
            if !(1..=31).contains(&d.settlement_day) {
                err(format!("{key}.settlement_day"), format!("is {}; give the day of the month the meter settles on, 1 to 31", d.settlement_day));
            }
            if let (Some(endpoint), Some(address), Some(medium), Some(dialect), Some(utc_offset)) = (endpoint, address, medium, dialect, utc_offset) {
                cjt188_devices.push(crate::cjt188::device::Device {
                    meter: d.name.clone(),
                    endpoint,
                    meter_type,
                    address,
                    medium,
                    dialect,
                    interval: d.interval,
                    timeout: d.timeout,
                    utc_offset,
                    settlement_day: d.settlement_day,
                    clock_tolerance: d.clock_tolerance,
                });
            }
        }
        let mut mqtt_credentials = Credentials::default();
        let mut credential_errors = Vec::new();
        if let Some(m) = &raw.mqtt {
            if m.client_id.trim().is_empty() {
                err("mqtt.client_id".into(), "is empty; the broker keeps the session by this id, so it must be stable".into());
            }
            mqtt_credentials = m.credentials(&file, base, &mut credential_errors);
            if m.subscriptions.is_empty() {
                err("mqtt.subscriptions".into(), "is empty; subscribe to at least one topic".into());
            }
            if !(1..=crate::mqtt::source::READ_CEILING).contains(&m.max_message_bytes) {
                err("mqtt.max_message_bytes".into(), format!("is {}; it must be between 1 and {}", m.max_message_bytes, crate::mqtt::source::READ_CEILING));
            }
            for (i, s) in m.subscriptions.iter().enumerate() {
                let key = format!("mqtt.subscriptions[{i}]");
                if s.fields.is_empty() {
                    err(format!("{key}.fields"), "is empty; map at least one field".into());
                }
                if s.format == Format::Number && s.fields.len() > 1 {
                    err(format!("{key}.fields"), "a plain-number payload carries one value: give one field".into());
                }
                for (j, f) in s.fields.iter().enumerate() {
                    if f.unit.dimension() != f.quantity.canonical_unit().dimension() {
                        err(format!("{key}.fields[{j}].unit"), format!("{} measures {:?} but {} is stored in {}", f.unit, f.unit.dimension(), f.quantity, f.quantity.canonical_unit()));
                    }
                    if f.kind == readings::Kind::Counter && !f.quantity.measure.is_cumulative() {
                        err(format!("{key}.fields[{j}].kind"), format!("is counter but {} is not a cumulative quantity; use gauge", f.quantity));
                    }
                    if f.kind == readings::Kind::Gauge && f.quantity.measure.is_energy_total() {
                        err(format!("{key}.fields[{j}].kind"), format!("is gauge but {} is an energy total, which only grows; use counter (the accounts take consumption from counters)", f.quantity));
                    }
                }
                match filter_problem(&s.topic) {
                    Some(problem) => err(format!("{key}.topic"), format!("is not a valid topic filter: {problem}")),
                    None => {
                        let have = capture_count(&s.topic);
                        if let Some(n) = template_captures(&s.meter).into_iter().find(|n| *n == 0 || *n > have) {
                            err(format!("{key}.meter"), format!("{:?} uses capture {{{n}}} but topic {:?} has {have} (one per '+' or '#' level, from {{1}})", s.meter, s.topic));
                        }
                        let earlier = m.subscriptions[..i].iter().position(|e| filter_problem(&e.topic).is_none() && covers(&e.topic, &s.topic));
                        if let Some(e) = earlier {
                            err(format!("{key}.topic"), format!("{:?} is shadowed by mqtt.subscriptions[{e}] ({:?}): a message goes to the first subscription that matches, so this one would get none; list the narrower filter first", s.topic, m.subscriptions[e].topic));
                        }
                    }
                }
            }
        }
        if let Some(h) = &raw.health {
            if !h.allow_remote && !h.listen.ip().is_loopback() {
                errors.push(ConfigError::new(&file, "health.listen", format!("{} is not a loopback address; the endpoint has no authentication: listen on 127.0.0.1, or set allow_remote = true", h.listen)));
            }
        }
        let console = raw.console.as_ref().and_then(|c| {
            let Some(h) = &raw.health else {
                errors.push(ConfigError::new(&file, "console", "is served on the [health] listener; add [health] with listen = \"127.0.0.1:9464\""));
                return None;
            };
            let token = read_secret(&file, "console.token", &c.token_env, &c.token_file, base, &mut errors);
            if token.is_none() && c.token_env.is_none() && c.token_file.is_none() && !h.listen.ip().is_loopback() {
                errors.push(ConfigError::new(&file, "console", format!("health.listen {} is not a loopback address: the console then needs token_env or token_file (it can change the config)", h.listen)));
            }
            let tls = match (&c.cert_file, &c.key_file) {
                (Some(cert), Some(key)) => match crate::console::spec::Tls::load(&base.join(cert), &base.join(key)) {
                    Ok(tls) => Some(tls),
                    Err(e) => {
                        errors.push(ConfigError::new(&file, "console.cert_file", e));
                        None
                    }
                },
                (None, None) => None,
                _ => {
                    errors.push(ConfigError::new(&file, "console", "give cert_file and key_file together (HTTPS), or neither"));
                    None
                }
            };
            Some(crate::console::ConsoleConfig { spec: c.clone(), token, tls })
        });
        errors.extend(profile_errors);
        errors.extend(credential_errors);
        let influxdb = match raw.sinks.influxdb.as_ref().map(|spec| spec.validate(&file, base)) {
            None => None,
            Some(Ok(c)) => Some(c),
            Some(Err(e)) => {
                errors.extend(e);
                None
            }
        };
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        Ok(Config {
            file: path.to_owned(),
            enterprise: raw.gateway.enterprise,
            site: raw.gateway.site,
            data_dir: base.join(&raw.storage.data_dir),
            parquet: raw.sinks.parquet,
            influxdb,
            journal: JournalConfig { reserve_bytes: raw.storage.reserve_bytes, ..raw.journal },
            dead_letters: raw.storage.dead_letters,
            devices,
            dlt645_devices,
            cjt188_devices,
            mqtt: raw.mqtt.map(|m| (m, mqtt_credentials)),
            health: raw.health,
            console,
            clock_trusted: raw.clock.trusted,
        })
    }

    /// Where the journal lives.
    pub fn journal_dir(&self) -> PathBuf {
        self.data_dir.join("journal")
    }

    /// Where sinks set aside batches a server refused for good.
    pub fn dead_letter_dir(&self) -> PathBuf {
        self.data_dir.join("dead-letter")
    }

    /// Names of the enabled sinks, as the journal knows them.
    pub fn sink_names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.parquet.enabled {
            names.push(crate::sink::parquet::ParquetSink::NAME);
        }
        if self.influxdb.is_some() {
            names.push(crate::sink::influxdb::InfluxSink::NAME);
        }
        names
    }

    /// Where the Parquet store lives.
    pub fn store_dir(&self) -> PathBuf {
        self.data_dir.join("readings")
    }
}

/// Where a DL/T 645 or CJ/T 188 meter is reached: a serial line of `[[modbus.serial_lines]]`, or
/// a serial server passing raw frames (`host` and `port`). Problems go to `err` under `key`.
fn raw_line_endpoint(key: &str, line: &Option<String>, host: &Option<String>, port: Option<u16>, lines: &HashMap<&str, SerialLine>, err: &mut impl FnMut(String, String)) -> Option<Endpoint> {
    match (line, host) {
        (Some(name), None) => match lines.get(name.as_str()) {
            Some(l) => Some(Endpoint::Serial(l.clone())),
            None => {
                err(format!("{key}.line"), format!("{name:?} is not a serial line in [[modbus.serial_lines]]"));
                None
            }
        },
        (None, Some(host)) => match port {
            Some(p) if p > 0 => Some(Endpoint::Tcp { host: host.trim().to_owned(), port: p, framing: Framing::RtuOverTcp }),
            _ => {
                err(format!("{key}.port"), "is missing: the TCP port of the serial server that passes raw frames".into());
                None
            }
        },
        _ => {
            err(key.to_owned(), "needs either line = \"NAME\" (a [[modbus.serial_lines]] entry) or host and port (a serial server passing raw frames), not both or neither".into());
            None
        }
    }
}
