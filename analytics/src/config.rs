//! The analytics job's config file: where the reference data and the readings are, and the
//! accounting choices. Relative paths are relative to the file.

use std::path::{Path, PathBuf};

use chrono::FixedOffset;
use readings::config_file::{parse_toml, ConfigError, ConfigErrors};
use serde::Deserialize;

use crate::reference::ElectricityMethod;

/// What counts as non-fossil energy in the non-fossil share (docs/carbon.md, "Non-fossil
/// share"): sources differ on whether grid electricity brings its grid's non-fossil share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum NonFossilMethod {
    /// On-site renewable electricity used, green certificates and green power bought, biomass:
    /// only what the enterprise itself can evidence (the default).
    #[default]
    OwnAndGreen,
    /// As `own_and_green`, plus the grid's non-fossil share of the rest of the grid electricity
    /// bought (a year's row in `[[grid_non_fossil]]` of the emission factors).
    WithGridShare,
}

impl NonFossilMethod {
    /// The spelling used in files and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            NonFossilMethod::OwnAndGreen => "own_and_green",
            NonFossilMethod::WithGridShare => "with_grid_share",
        }
    }
}

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
    process_emissions: Option<PathBuf>,
    process_inputs: Option<PathBuf>,
    green_electricity: Option<PathBuf>,
    metering_points: Option<PathBuf>,
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
    #[serde(default)]
    non_fossil_method: NonFossilMethod,
}

impl Default for RawAccounts {
    fn default() -> Self {
        Self { electricity_method: default_method(), utc_offset: default_offset(), gap_minutes: default_gap_minutes(), non_fossil_method: NonFossilMethod::default() }
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
    /// Process-emission methods and factors per product group (docs/carbon.md).
    pub process_emissions: Option<PathBuf>,
    /// Clinker output and composition, carbonate raw materials, per enterprise and month.
    pub process_inputs: Option<PathBuf>,
    /// Green electricity certificates and green power bought.
    pub green_electricity: Option<PathBuf>,
    /// The flows each enterprise must meter and their meters: the equipping rates' basis.
    pub metering_points: Option<PathBuf>,
    /// How the non-fossil share of energy is counted.
    pub non_fossil_method: NonFossilMethod,
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
            process_emissions: r.process_emissions.map(|p| base.join(p)),
            process_inputs: r.process_inputs.map(|p| base.join(p)),
            green_electricity: r.green_electricity.map(|p| base.join(p)),
            metering_points: r.metering_points.map(|p| base.join(p)),
            non_fossil_method: raw.accounts.non_fossil_method,
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
