//! Leader rules as data: one TOML file per product group under `config/leaders/`, one
//! `[[programme]]` (energy, water) each, with the indicator, the levels and their source, the
//! eligibility gates and the selection.

use std::path::Path;

use readings::config_file::{parse_toml, ConfigError};
use serde::Deserialize;

/// Which efficiency programme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Programme {
    Energy,
    Water,
}

impl Programme {
    /// The media whose metering the programme's data-quality gates judge.
    pub fn media(self) -> Vec<readings::Medium> {
        match self {
            Programme::Energy => readings::Medium::ALL.iter().copied().filter(|m| crate::accounts::is_energy(*m)).collect(),
            Programme::Water => vec![readings::Medium::Water],
        }
    }

    /// The spelling used in files and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Programme::Energy => "energy",
            Programme::Water => "water",
        }
    }
}

/// An indicator of the accounts table that a programme ranks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Indicator {
    /// Unit-product comprehensive energy consumption, kgce per unit of product.
    KgcePerUnit,
    /// Energy per output value, tce per 10k CNY.
    TcePer10kCny,
    /// Unit-product water withdrawal, m3 per unit of product.
    WaterM3PerUnit,
    /// CO2 per unit of product, t.
    Co2TPerUnit,
}

impl Indicator {
    /// The column of the accounts table.
    pub fn column(self) -> &'static str {
        match self {
            Indicator::KgcePerUnit => "kgce_per_unit",
            Indicator::TcePer10kCny => "tce_per_10k_cny",
            Indicator::WaterM3PerUnit => "water_m3_per_unit",
            Indicator::Co2TPerUnit => "co2_t_per_unit",
        }
    }
}

/// Which direction of the indicator is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    #[default]
    Lower,
    Higher,
}

impl Better {
    /// Whether `a` is strictly better than `b`.
    pub fn better(self, a: f64, b: f64) -> bool {
        match self {
            Better::Lower => a < b,
            Better::Higher => a > b,
        }
    }

    /// Orders better values first (for sorting a group from best to worst).
    pub fn order(self, a: f64, b: f64) -> std::cmp::Ordering {
        match self {
            Better::Lower => a.total_cmp(&b),
            Better::Higher => b.total_cmp(&a),
        }
    }

    /// Whether `a` is at or better than `b`.
    pub fn at_or_better(self, a: f64, b: f64) -> bool {
        a == b || self.better(a, b)
    }
}

/// Who may be selected at all; an absent gate is not applied.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gates {
    /// Months of the window with boundary coverage of at least `month_coverage`.
    pub min_months: Option<u32>,
    #[serde(default = "default_month_coverage")]
    pub month_coverage: f64,
    /// The data-quality grade over the window, this one or a better one.
    pub min_grade: Option<String>,
    /// No boundary meter past its calibration due date.
    #[serde(default)]
    pub calibrated: bool,
    /// At most this many meter-configuration findings.
    pub max_findings: Option<u32>,
    /// At least this much energy over the window (the national round's 10,000 tce).
    pub min_energy_tce: Option<f64>,
    /// At least this much water withdrawn over the window (the national round's 150,000 m3).
    pub min_water_m3: Option<f64>,
    /// The indicator at or better than the standard's advanced value.
    #[serde(default)]
    pub meets_advanced_value: bool,
    /// The indicator at or better than the sector benchmark level.
    #[serde(default)]
    pub meets_benchmark: bool,
    /// Non-fossil energy at least this share of energy use (the 2025 energy round: 0.2).
    pub min_non_fossil_share: Option<f64>,
    /// An energy management system per GB/T 23331 (enterprises.csv).
    #[serde(default)]
    pub energy_management_system: bool,
    /// A measurement management system per GB/T 19022 (enterprises.csv).
    #[serde(default)]
    pub measurement_management_system: bool,
    /// An on-line energy monitoring system in place (enterprises.csv).
    #[serde(default)]
    pub online_monitoring: bool,
    /// A water withdrawal permit, no over-plan withdrawal (enterprises.csv).
    #[serde(default)]
    pub withdrawal_permit: bool,
    /// Water meters per GB/T 24789, verified (enterprises.csv).
    #[serde(default)]
    pub water_meters_verified: bool,
}

fn default_month_coverage() -> f64 {
    0.9
}

/// How many are selected among the eligible.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    pub top_n: Option<u32>,
    /// A share of the eligible enterprises, rounded up.
    pub top_share: Option<f64>,
    /// Fewer eligible enterprises than this: no one is selected.
    #[serde(default = "default_min_group")]
    pub min_group_size: u32,
    /// The group benchmark is the mean of this best share of the group (EU ETS: 10 %).
    #[serde(default = "default_benchmark_share")]
    pub benchmark_share: f64,
}

fn default_min_group() -> u32 {
    1
}
fn default_benchmark_share() -> f64 {
    0.1
}

/// One programme's rules for one product group.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgrammeRules {
    pub programme: Programme,
    pub indicator: Indicator,
    pub unit: String,
    #[serde(default)]
    pub better: Better,
    /// The mandatory quota standard's level 1 (advanced value).
    pub advanced_value: Option<f64>,
    /// The sector benchmark level (标杆水平).
    pub benchmark: Option<f64>,
    /// The sector baseline level (基准水平).
    pub baseline: Option<f64>,
    /// The standard and edition `advanced_value` is level 1 of (e.g. "GB 16780-2021").
    pub advanced_value_edition: Option<String>,
    /// The list `benchmark` and `baseline` come from (e.g. "2023 benchmark and baseline levels").
    pub benchmark_edition: Option<String>,
    pub source: String,
    #[serde(default)]
    pub check: bool,
    pub gates: Gates,
    pub selection: Selection,
}

/// The rules of one product group.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRules {
    pub product_group: String,
    pub programme: Vec<ProgrammeRules>,
}

/// Reads every `*.toml` in `dir`; `grades` are the known data-quality grades, best first.
pub fn load_dir(dir: &Path, grades: &[&str]) -> Result<Vec<GroupRules>, Vec<ConfigError>> {
    let d = dir.display().to_string();
    let entries = std::fs::read_dir(dir).map_err(|e| vec![ConfigError::new(&d, "", format!("cannot read the directory: {e}"))])?;
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "toml")).collect();
    paths.sort();
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match load(&path, grades) {
            Ok(r) => {
                if let Some(other) = out.iter().find(|o: &&GroupRules| o.product_group == r.product_group) {
                    errors.push(ConfigError::new(&path.display().to_string(), "product_group", format!("{:?} has rules in another file already ({} programmes)", other.product_group, other.programme.len())));
                }
                out.push(r);
            }
            Err(e) => errors.extend(e),
        }
    }
    if out.is_empty() && errors.is_empty() {
        errors.push(ConfigError::new(&d, "", "holds no rules (*.toml)"));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Reads and checks one rules file.
pub fn load(path: &Path, grades: &[&str]) -> Result<GroupRules, Vec<ConfigError>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| vec![ConfigError::new(&file, "", format!("cannot read the file: {e}"))])?;
    let rules: GroupRules = parse_toml(&file, &text).map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    let mut err = |key: String, msg: String| errors.push(ConfigError::new(&file, key, msg));
    for (i, p) in rules.programme.iter().enumerate() {
        let key = |k: &str| format!("programme[{i}].{k}");
        if rules.programme[..i].iter().any(|o| o.programme == p.programme) {
            err(key("programme"), format!("{} is given twice", p.programme.as_str()));
        }
        let s = &p.selection;
        match (s.top_n, s.top_share) {
            (Some(_), Some(_)) => err(key("selection.top_share"), "give top_n or top_share, not both".into()),
            (None, None) => err(key("selection"), "give top_n or top_share".into()),
            (Some(0), _) => err(key("selection.top_n"), "is 0; select at least one".into()),
            (_, Some(x)) if !(x > 0.0 && x <= 1.0) => err(key("selection.top_share"), format!("is {x}; give a share above 0 and at most 1")),
            _ => {}
        }
        if !(s.benchmark_share > 0.0 && s.benchmark_share <= 1.0) {
            err(key("selection.benchmark_share"), format!("is {}; give a share above 0 and at most 1", s.benchmark_share));
        }
        let g = &p.gates;
        if g.min_non_fossil_share.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
            err(key("gates.min_non_fossil_share"), format!("is {}; give a share from 0 to 1 (0.2 for 20 %)", g.min_non_fossil_share.unwrap_or_default()));
        }
        if !(0.0..=1.0).contains(&g.month_coverage) {
            err(key("gates.month_coverage"), format!("is {}; give a share from 0 to 1", g.month_coverage));
        }
        if let Some(grade) = &g.min_grade {
            if !grades.contains(&grade.as_str()) {
                err(key("gates.min_grade"), format!("{grade:?} is not a grade of the data-quality rules ({})", grades.join(", ")));
            }
        }
        if g.meets_advanced_value && p.advanced_value.is_none() {
            err(key("gates.meets_advanced_value"), "needs advanced_value".into());
        }
        if g.meets_benchmark && p.benchmark.is_none() {
            err(key("gates.meets_benchmark"), "needs benchmark".into());
        }
        if let (Some(b), Some(base)) = (p.benchmark, p.baseline) {
            if p.better.better(base, b) {
                err(key("baseline"), format!("{base} is better than the benchmark {b}; the baseline is the floor"));
            }
        }
        if p.source.trim().is_empty() {
            err(key("source"), "is empty; say where the levels come from".into());
        }
    }
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod shipped {
    /// The rule files shipped in config/leaders (the SME programme's) and
    /// config/leaders/national-2025 load without a problem.
    #[test]
    fn the_shipped_rule_files_load() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/leaders");
        for dir in [root.clone(), root.join("national-2025")] {
            let rules = super::load_dir(&dir, &["A", "B", "C", "D"]).unwrap_or_else(|e| panic!("{}", readings::config_file::ConfigErrors(e)));
            assert_eq!(rules.len(), 3, "{}", dir.display());
        }
        let national = super::load_dir(&root.join("national-2025"), &["A", "B", "C", "D"]).unwrap();
        let cement = national.iter().find(|g| g.product_group == "cement_clinker").unwrap();
        let energy = &cement.programme[0].gates;
        assert_eq!((energy.min_energy_tce, energy.min_non_fossil_share, energy.energy_management_system), (Some(10000.0), Some(0.2), true));
    }
}
