//! `meters.csv`: what each meter measures for whom, where it sits in the metering tree, and
//! what its counter can and cannot do.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use chrono::NaiveDate;
use readings::config_file::ConfigError;
use readings::{EnterpriseId, Measure, Medium, MeterId, SiteId};

use super::csv_rows;
use super::enterprises::{known_enterprise, Enterprise};

/// Where a meter sits in the enterprise's metering tree (GB 17167: enterprise boundary, main
/// sub-units, main equipment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MeterRole {
    /// Measures what crosses the enterprise's boundary: the accounts are built from these.
    Boundary,
    /// A sub-meter of an area, workshop or process (a main sub-unit).
    Area,
    /// A sub-meter of one major energy-using device.
    Device,
    /// An on-site renewable generator's output meter (PV, wind): what it generated.
    Generation,
    /// The part of on-site renewable generation used on site (generation less what went to the
    /// grid): non-fossil electricity the enterprise uses without buying it.
    SelfUse,
}

impl MeterRole {
    /// The spelling used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            MeterRole::Boundary => "boundary",
            MeterRole::Area => "area",
            MeterRole::Device => "device",
            MeterRole::Generation => "generation",
            MeterRole::SelfUse => "self_use",
        }
    }
}

impl FromStr for MeterRole {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "boundary" => Ok(MeterRole::Boundary),
            "area" => Ok(MeterRole::Area),
            "device" => Ok(MeterRole::Device),
            "generation" => Ok(MeterRole::Generation),
            "self_use" => Ok(MeterRole::SelfUse),
            _ => Err("is not a meter role; expected boundary, area, device, generation or self_use"),
        }
    }
}

impl fmt::Display for MeterRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which way a boundary meter's flow crosses the boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Direction {
    /// Bought in (the default).
    #[default]
    Import,
    /// Supplied to others (electricity to the grid, heat or steam to a neighbour): deducted from
    /// the energy and the CO2 (GB/T 2589-2020, GB/T 32150-2015).
    Export,
}

impl FromStr for Direction {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "import" => Ok(Direction::Import),
            "export" => Ok(Direction::Export),
            _ => Err("is not a direction; expected import or export"),
        }
    }
}

/// An on-site renewable source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Renewable {
    Pv,
    Wind,
}

impl Renewable {
    /// The spelling used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Renewable::Pv => "pv",
            Renewable::Wind => "wind",
        }
    }
}

impl FromStr for Renewable {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pv" => Ok(Renewable::Pv),
            "wind" => Ok(Renewable::Wind),
            _ => Err("is not an on-site renewable source; expected pv or wind"),
        }
    }
}

/// A date written YYYY-MM-DD.
struct Date(NaiveDate);

impl FromStr for Date {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").map(Date).map_err(|_| "is not a date written YYYY-MM-DD")
    }
}

/// One meter of the register.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterInfo {
    pub meter: MeterId,
    pub enterprise: EnterpriseId,
    pub site: SiteId,
    pub medium: Medium,
    pub role: MeterRole,
    /// Accuracy class as the nameplate gives it (0.5, 1, 2, 2.5 ...).
    pub accuracy_class: f64,
    /// Readings after this date come from a meter past its verification or calibration.
    pub calibration_due: NaiveDate,
    /// The value at which the counter wraps to zero, in the stored (canonical) unit.
    pub rollover: Option<f64>,
    /// The highest rate the meter can measure, in the canonical unit per hour (kW for kWh, m3/h
    /// for m3, t/h for t); a delta implying more is not consumption.
    pub max_rate: Option<f64>,
    /// The counter's smallest step in the stored unit (a register of whole m3 steps by 1): one
    /// step more than `max_rate` allows is still plausible over a short interval.
    pub resolution: f64,
    /// The counter the accounts take from this meter (a steam meter may count both mass and
    /// heat); by default the medium's usual one, see [`Medium::default_counter`].
    pub counter: Measure,
    /// Which row of a medium's coefficient table applies (a steam pressure class, a gas
    /// quality), when the table has several.
    pub variant: Option<String>,
    /// Import (bought in) or export (supplied out) across the boundary.
    pub direction: Direction,
    /// Generation and self-use meters: the on-site source.
    pub renewable: Option<Renewable>,
}

const REQUIRED: &[&str] = &["meter", "enterprise", "site", "medium", "role", "accuracy_class", "calibration_due"];
const OPTIONAL: &[&str] = &["rollover", "max_rate", "resolution", "counter", "variant", "direction", "renewable"];

/// The meter register by enterprise, site and meter, as the store names a series: two sites may
/// each have a meter of one name.
pub type Register = BTreeMap<(EnterpriseId, SiteId, MeterId), MeterInfo>;

/// Reads `meters.csv` into a [`Register`]; every enterprise must be in `enterprises`.
pub fn load(path: &Path, enterprises: &BTreeMap<EnterpriseId, Enterprise>) -> Result<Register, Vec<ConfigError>> {
    let mut out = BTreeMap::new();
    let errors = csv_rows::read(path, REQUIRED, OPTIONAL, |row| {
        let meter = row.parse::<MeterId>("meter");
        let enterprise = known_enterprise(row, enterprises);
        let site = row.parse::<SiteId>("site");
        let medium = row.parse::<Medium>("medium");
        let role = row.parse::<MeterRole>("role");
        let accuracy_class = row.number("accuracy_class", false);
        let due = row.parse::<Date>("calibration_due");
        let rollover = positive(row, "rollover");
        let max_rate = positive(row, "max_rate");
        let resolution = positive(row, "resolution");
        let counter = row.optional::<Measure>("counter");
        if let Some(Some(m)) = counter {
            if !matches!(m, Measure::ActiveEnergyImport | Measure::Volume | Measure::Mass | Measure::HeatEnergy) {
                row.problem("counter", format!("{m} is not a consumption counter; expected active_energy_import, volume, mass or heat_energy"));
            }
        }
        let variant = row.text("variant").map(str::to_owned);
        let direction = row.optional::<Direction>("direction");
        let renewable = row.optional::<Renewable>("renewable");
        if let (Some(Some(Direction::Export)), Some(m), Some(r)) = (direction, medium, role) {
            if !matches!(m, Medium::Electricity | Medium::Heat | Medium::Steam) || r != MeterRole::Boundary {
                row.problem("direction", format!("export is for boundary meters of electricity, heat or steam, not a {r} meter of {m}"));
            }
        }
        match (role, renewable, medium) {
            (Some(MeterRole::Generation | MeterRole::SelfUse), Some(None), _) => row.problem("renewable", "is empty; a generation or self_use meter names its source (pv or wind)"),
            (Some(MeterRole::Generation | MeterRole::SelfUse), _, Some(m)) if m != Medium::Electricity => row.problem("medium", format!("is {m}; generation and self_use meters measure electricity")),
            (Some(r), Some(Some(_)), _) if !matches!(r, MeterRole::Generation | MeterRole::SelfUse) => row.problem("renewable", format!("is for generation and self_use meters, not a {r} meter")),
            _ => {}
        }
        if let (Some(meter), Some(enterprise), Some(site), Some(medium), Some(role), Some(accuracy_class), Some(due), Some(rollover), Some(max_rate), Some(resolution), Some(direction), Some(renewable)) =
            (meter, enterprise, site, medium, role, accuracy_class, due, rollover, max_rate, resolution, direction, renewable)
        {
            let counter = counter.flatten().unwrap_or_else(|| medium.default_counter());
            let direction = direction.unwrap_or_default();
            let info = MeterInfo { meter: meter.clone(), enterprise: enterprise.clone(), site: site.clone(), medium, role, accuracy_class, calibration_due: due.0, rollover, max_rate, resolution: resolution.unwrap_or(0.0), counter, variant, direction, renewable };
            if out.insert((enterprise, site.clone(), meter.clone()), info).is_some() {
                row.problem("meter", format!("{} is listed twice for this enterprise and site {}", meter.as_str(), site.as_str()));
            }
        }
    });
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// An optional number that must be more than zero when given.
fn positive(row: &mut csv_rows::Row, column: &str) -> Option<Option<f64>> {
    let v = row.optional::<f64>(column)?;
    match v {
        Some(x) if !(x.is_finite() && x > 0.0) => {
            row.problem(column, format!("is {x}; it must be more than zero, or left empty"));
            None
        }
        other => Some(other),
    }
}
