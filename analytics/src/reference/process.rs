//! Process emissions by guideline (docs/carbon.md): the method each product group is accounted
//! by and its factors (`config/coefficients/process-emissions.toml`), and the activity data the
//! methods need per enterprise and month (`config/reference/process.csv`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use readings::config_file::{parse_toml, ConfigError};
use readings::EnterpriseId;
use serde::Deserialize;

use super::csv_rows;
use super::enterprises::Enterprise;
use crate::period::Month;

/// How a product group's process CO2 is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessMethod {
    /// Cement clinker: clinker output x the CaO and MgO of carbonate origin in it (or a default
    /// factor per tonne of clinker).
    Clinker,
    /// Ceramics and the like: each carbonate raw material used x its purity x its
    /// stoichiometric factor.
    Carbonates,
}

impl ProcessMethod {
    /// The spelling used in files and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessMethod::Clinker => "clinker",
            ProcessMethod::Carbonates => "carbonates",
        }
    }
}

/// A carbonate raw material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Carbonate {
    /// CaCO3.
    Calcite,
    /// MgCO3.
    Magnesite,
    /// CaMg(CO3)2.
    Dolomite,
}

impl Carbonate {
    /// The spelling used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Carbonate::Calcite => "calcite",
            Carbonate::Magnesite => "magnesite",
            Carbonate::Dolomite => "dolomite",
        }
    }
}

/// What a row of `process.csv` is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Material {
    /// Clinker produced.
    Clinker,
    /// A carbonate raw material used.
    Carbonate(Carbonate),
}

impl Material {
    /// The method a row of this material belongs to.
    pub fn method(self) -> ProcessMethod {
        match self {
            Material::Clinker => ProcessMethod::Clinker,
            Material::Carbonate(_) => ProcessMethod::Carbonates,
        }
    }
}

impl FromStr for Material {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "clinker" => Ok(Material::Clinker),
            "calcite" => Ok(Material::Carbonate(Carbonate::Calcite)),
            "magnesite" => Ok(Material::Carbonate(Carbonate::Magnesite)),
            "dolomite" => Ok(Material::Carbonate(Carbonate::Dolomite)),
            _ => Err("is not a process material; expected clinker, calcite, magnesite or dolomite"),
        }
    }
}

impl fmt::Display for Material {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Material::Clinker => f.write_str("clinker"),
            Material::Carbonate(c) => f.write_str(c.as_str()),
        }
    }
}

/// Which method a product group's process CO2 follows.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupMethod {
    pub product_group: String,
    pub method: ProcessMethod,
    pub source: String,
    #[serde(default)]
    pub check: bool,
}

/// The clinker method's factors.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClinkerFactors {
    /// tCO2 per t of CaO of carbonate origin (44/56).
    pub t_co2_per_t_cao: f64,
    /// tCO2 per t of MgO of carbonate origin (44/40).
    pub t_co2_per_t_mgo: f64,
    pub source: String,
    /// tCO2 per t of clinker where its CaO and MgO are not given.
    pub default_t_co2_per_t_clinker: f64,
    pub default_source: String,
    #[serde(default)]
    pub check: bool,
}

/// One carbonate's stoichiometric factor.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarbonateFactor {
    pub material: Carbonate,
    /// tCO2 released per t of pure carbonate.
    pub t_co2_per_t: f64,
    pub source: String,
    #[serde(default)]
    pub check: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FactorFile {
    #[serde(default)]
    group: Vec<GroupMethod>,
    clinker: Option<ClinkerFactors>,
    #[serde(default)]
    carbonate: Vec<CarbonateFactor>,
}

/// The process-emission methods and factors.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProcessFactors {
    pub groups: Vec<GroupMethod>,
    pub clinker: Option<ClinkerFactors>,
    pub carbonates: Vec<CarbonateFactor>,
    /// Where they came from, for the method notes.
    pub file: String,
}

impl ProcessFactors {
    /// Reads and checks the factor file.
    pub fn load(path: &Path) -> Result<ProcessFactors, Vec<ConfigError>> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| vec![ConfigError::new(&file, "", format!("cannot read the file: {e}"))])?;
        let f: FactorFile = parse_toml(&file, &text).map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        let positive = |v: f64| v.is_finite() && v > 0.0;
        for (i, g) in f.group.iter().enumerate() {
            if f.group[..i].iter().any(|o| o.product_group == g.product_group) {
                errors.push(ConfigError::new(&file, format!("group[{i}].product_group"), format!("{:?} has a method already", g.product_group)));
            }
            if g.source.trim().is_empty() {
                errors.push(ConfigError::new(&file, format!("group[{i}].source"), "is empty; name the guideline"));
            }
            let needs = match g.method {
                ProcessMethod::Clinker => f.clinker.is_none().then_some("a [clinker] table"),
                ProcessMethod::Carbonates => f.carbonate.is_empty().then_some("[[carbonate]] rows"),
            };
            if let Some(what) = needs {
                errors.push(ConfigError::new(&file, format!("group[{i}].method"), format!("needs {what} in this file")));
            }
        }
        if let Some(c) = &f.clinker {
            for (key, v) in [("t_co2_per_t_cao", c.t_co2_per_t_cao), ("t_co2_per_t_mgo", c.t_co2_per_t_mgo), ("default_t_co2_per_t_clinker", c.default_t_co2_per_t_clinker)] {
                if !(positive(v) && v < 2.0) {
                    errors.push(ConfigError::new(&file, format!("clinker.{key}"), format!("is {v}; a factor between 0 and 2 tCO2/t is expected")));
                }
            }
        }
        for (i, c) in f.carbonate.iter().enumerate() {
            if !(positive(c.t_co2_per_t) && c.t_co2_per_t < 1.0) {
                errors.push(ConfigError::new(&file, format!("carbonate[{i}].t_co2_per_t"), format!("is {}; a carbonate releases between 0 and 1 t CO2 per t", c.t_co2_per_t)));
            }
            if f.carbonate[..i].iter().any(|o| o.material == c.material) {
                errors.push(ConfigError::new(&file, format!("carbonate[{i}].material"), format!("{} is given twice", c.material.as_str())));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ProcessFactors { groups: f.group, clinker: f.clinker, carbonates: f.carbonate, file })
    }

    /// The method of `product_group`, if it has process emissions.
    pub fn method_of(&self, product_group: &str) -> Option<&GroupMethod> {
        self.groups.iter().find(|g| g.product_group == product_group)
    }

    /// The stoichiometric factor of `c`.
    pub fn carbonate(&self, c: Carbonate) -> Option<&CarbonateFactor> {
        self.carbonates.iter().find(|f| f.material == c)
    }
}

/// One month's activity data of one enterprise for its process emissions.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessRow {
    pub enterprise: EnterpriseId,
    pub month: Month,
    pub material: Material,
    /// Clinker produced, or carbonate raw material used, t.
    pub quantity_t: f64,
    /// Clinker only: CaO and MgO content of the clinker, percent by mass (both or neither).
    pub oxides: Option<Oxides>,
    /// Carbonates only: the material's carbonate content, percent by mass.
    pub purity_percent: Option<f64>,
    /// Where the figures come from (lab report, production ledger).
    pub source: String,
}

/// The CaO and MgO content of clinker and the part of it not from carbonates, percent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Oxides {
    pub cao: f64,
    pub mgo: f64,
    pub cao_noncarbonate: f64,
    pub mgo_noncarbonate: f64,
}

const REQUIRED: &[&str] = &["enterprise", "month", "material", "quantity_t", "source"];
const OPTIONAL: &[&str] = &["cao_percent", "mgo_percent", "cao_noncarbonate_percent", "mgo_noncarbonate_percent", "purity_percent"];

/// Reads `process.csv`; each row's material must follow its enterprise's product-group method in
/// `factors`, once per enterprise, month and material.
pub fn load(path: &Path, enterprises: &BTreeMap<EnterpriseId, Enterprise>, factors: &ProcessFactors) -> Result<Vec<ProcessRow>, Vec<ConfigError>> {
    let mut out: Vec<ProcessRow> = Vec::new();
    let mut seen: BTreeMap<(EnterpriseId, Month, Material), usize> = BTreeMap::new();
    let errors = csv_rows::read(path, REQUIRED, OPTIONAL, |row| {
        let enterprise = row.parse::<EnterpriseId>("enterprise");
        let month = row.parse::<Month>("month");
        let material = row.parse::<Material>("material");
        let quantity = row.number("quantity_t", true);
        let source = row.required("source");
        let percent = |row: &mut csv_rows::Row, column: &str| -> Option<Option<f64>> {
            let v = row.optional::<f64>(column)?;
            match v {
                Some(x) if !(x.is_finite() && (0.0..=100.0).contains(&x)) => {
                    row.problem(column, format!("is {x}; give a percentage from 0 to 100"));
                    None
                }
                other => Some(other),
            }
        };
        let (cao, mgo) = (percent(row, "cao_percent"), percent(row, "mgo_percent"));
        let (cao_nc, mgo_nc) = (percent(row, "cao_noncarbonate_percent"), percent(row, "mgo_noncarbonate_percent"));
        let purity = percent(row, "purity_percent");
        let (Some(enterprise), Some(month), Some(material), Some(quantity_t), Some(source), Some(cao), Some(mgo), Some(cao_nc), Some(mgo_nc), Some(purity)) =
            (enterprise, month, material, quantity, source, cao, mgo, cao_nc, mgo_nc, purity)
        else {
            return;
        };
        let Some(ent) = enterprises.get(&enterprise) else {
            row.problem("enterprise", format!("{} is not in the enterprises file", enterprise.as_str()));
            return;
        };
        match factors.method_of(&ent.product_group) {
            None => {
                let file = if factors.file.is_empty() { "no process-emission factor file is configured".to_owned() } else { format!("{} gives no method for it", factors.file) };
                row.problem("material", format!("{material} for product group {:?}: {file}", ent.product_group));
                return;
            }
            Some(g) if g.method != material.method() => {
                row.problem("material", format!("{material} does not belong to the {} method of product group {:?}", g.method.as_str(), ent.product_group));
                return;
            }
            Some(_) => {}
        }
        let oxides = match (material, cao, mgo) {
            (Material::Clinker, Some(cao), Some(mgo)) => {
                let (cao_noncarbonate, mgo_noncarbonate) = (cao_nc.unwrap_or(0.0), mgo_nc.unwrap_or(0.0));
                if cao_noncarbonate > cao || mgo_noncarbonate > mgo {
                    row.problem(if cao_noncarbonate > cao { "cao_noncarbonate_percent" } else { "mgo_noncarbonate_percent" }, "is more than the clinker's content of that oxide");
                    return;
                }
                Some(Oxides { cao, mgo, cao_noncarbonate, mgo_noncarbonate })
            }
            (Material::Clinker, None, None) if cao_nc.is_none() && mgo_nc.is_none() => None,
            (Material::Clinker, _, _) => {
                row.problem(if cao.is_none() { "cao_percent" } else { "mgo_percent" }, "give both cao_percent and mgo_percent, or neither (the default factor per t of clinker then applies)");
                return;
            }
            (Material::Carbonate(_), ..) => {
                if let Some(c) = ["cao_percent", "mgo_percent", "cao_noncarbonate_percent", "mgo_noncarbonate_percent"].into_iter().find(|c| row.text(c).is_some()) {
                    row.problem(c, "is for clinker rows only");
                    return;
                }
                None
            }
        };
        let purity_percent = match (material, purity) {
            (Material::Carbonate(_), None) => {
                row.problem("purity_percent", "is empty; a carbonate raw material needs its carbonate content");
                return;
            }
            (Material::Carbonate(c), Some(_)) if factors.carbonate(c).is_none() => {
                row.problem("material", format!("{} has no stoichiometric factor in {}", c.as_str(), factors.file));
                return;
            }
            (Material::Clinker, Some(_)) => {
                row.problem("purity_percent", "is for carbonate rows only");
                return;
            }
            (_, p) => p,
        };
        if let Some(line) = seen.insert((enterprise.clone(), month, material), row.line()) {
            row.problem("material", format!("{material} in {month} is already on line {line}"));
            return;
        }
        out.push(ProcessRow { enterprise, month, material, quantity_t, oxides, purity_percent, source });
    });
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// One row's process CO2, t, and how it was computed (the figures a reader recomputes it from).
pub fn co2_of(row: &ProcessRow, factors: &ProcessFactors) -> Option<(f64, String)> {
    let q = row.quantity_t;
    match row.material {
        Material::Clinker => {
            let c = factors.clinker.as_ref()?;
            Some(match row.oxides {
                Some(o) => {
                    let t = q * ((o.cao - o.cao_noncarbonate) / 100.0 * c.t_co2_per_t_cao + (o.mgo - o.mgo_noncarbonate) / 100.0 * c.t_co2_per_t_mgo);
                    (t, format!("clinker {q} t x ((CaO {} - {} %) x {} + (MgO {} - {} %) x {})", o.cao, o.cao_noncarbonate, c.t_co2_per_t_cao, o.mgo, o.mgo_noncarbonate, c.t_co2_per_t_mgo))
                }
                None => (q * c.default_t_co2_per_t_clinker, format!("clinker {q} t x default {} tCO2/t", c.default_t_co2_per_t_clinker)),
            })
        }
        Material::Carbonate(m) => {
            let f = factors.carbonate(m)?;
            let p = row.purity_percent?;
            Some((q * p / 100.0 * f.t_co2_per_t, format!("{} {q} t x {p} % x {} tCO2/t", m.as_str(), f.t_co2_per_t)))
        }
    }
}
