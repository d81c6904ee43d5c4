//! The analytics job's config file: where the reference data and the readings are, and the
//! accounting choices. Relative paths are relative to the file.

use std::path::{Path, PathBuf};

use chrono::FixedOffset;
use readings::config_file::{parse_toml, ConfigError, ConfigErrors};
use serde::Deserialize;

use crate::reference::ElectricityMethod;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    reference: RawReference,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    accounts: RawAccounts,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReference {
    enterprises: PathBuf,
    meters: PathBuf,
    production: PathBuf,
    energy_coefficients: PathBuf,
    emission_factors: PathBuf,
    data_quality: PathBuf,
    leaders: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    parquet: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccounts {
    #[serde(default = "default_method")]
    electricity_method: ElectricityMethod,
    #[serde(default = "default_offset")]
    utc_offset: String,
    #[serde(default = "default_gap_minutes")]
    gap_minutes: f64,
}

impl Default for RawAccounts {
    fn default() -> Self {
        Self { electricity_method: default_method(), utc_offset: default_offset(), gap_minutes: default_gap_minutes() }
    }
}

fn default_method() -> ElectricityMethod {
    ElectricityMethod::Equivalent
}
fn default_offset() -> String {
    "+08:00".into()
}
fn default_gap_minutes() -> f64 {
    60.0
}

/// The validated analytics config.
#[derive(Debug, Clone)]
pub struct AnalyticsConfig {
    pub enterprises: PathBuf,
    pub meters: PathBuf,
    pub production: PathBuf,
    pub energy_coefficients: PathBuf,
    pub emission_factors: PathBuf,
    pub data_quality: PathBuf,
    /// The directory of leader rules (one file per product group), if the config names one.
    pub leaders: Option<PathBuf>,
    /// The Parquet store's root, if the config names one (the command line may instead).
    pub parquet_store: Option<PathBuf>,
    pub electricity_method: ElectricityMethod,
    /// Local time of enterprises whose row gives none.
    pub utc_offset: FixedOffset,
    /// Two counter readings further apart than this leave a gap in the data-quality evidence
    /// (the consumption across it still counts: the counter integrates).
    pub gap_hours: f64,
}

impl AnalyticsConfig {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<AnalyticsConfig, ConfigErrors> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::new(&file, "", format!("cannot read the file: {e}")))?;
        let raw: RawConfig = parse_toml(&file, &text)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut errors = Vec::new();
        let utc_offset = match parse_offset(&raw.accounts.utc_offset) {
            Some(o) => o,
            None => {
                errors.push(ConfigError::new(&file, "accounts.utc_offset", format!("{:?} is not a UTC offset such as \"+08:00\"", raw.accounts.utc_offset)));
                FixedOffset::east_opt(0).expect("zero offset")
            }
        };
        if !(raw.accounts.gap_minutes.is_finite() && raw.accounts.gap_minutes > 0.0) {
            errors.push(ConfigError::new(&file, "accounts.gap_minutes", format!("is {}; it must be more than zero", raw.accounts.gap_minutes)));
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        let r = raw.reference;
        Ok(AnalyticsConfig {
            enterprises: base.join(r.enterprises),
            meters: base.join(r.meters),
            production: base.join(r.production),
            energy_coefficients: base.join(r.energy_coefficients),
            emission_factors: base.join(r.emission_factors),
            data_quality: base.join(r.data_quality),
            leaders: r.leaders.map(|p| base.join(p)),
            parquet_store: raw.store.parquet.map(|p| base.join(p)),
            electricity_method: raw.accounts.electricity_method,
            utc_offset,
            gap_hours: raw.accounts.gap_minutes / 60.0,
        })
    }
}

/// `+08:00` as an offset.
pub fn parse_offset(s: &str) -> Option<FixedOffset> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 14 || !(0..60).contains(&m) || h < 0 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}
