//! `green-electricity.csv`: green electricity certificates (GEC, 绿证) surrendered and green
//! power bought under contract (绿电交易) per enterprise and month, counted as non-fossil
//! electricity (docs/carbon.md, "Non-fossil share").

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use readings::config_file::ConfigError;
use readings::EnterpriseId;

use super::csv_rows;
use super::enterprises::{known_enterprise, Enterprise};
use crate::period::Month;

/// How the green electricity is evidenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GreenKind {
    /// Green electricity certificates held for the month's use (one GEC = 1 MWh).
    Certificate,
    /// Green power bought in a green-power trade, with its certificates bundled.
    GreenPower,
}

impl FromStr for GreenKind {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "certificate" => Ok(GreenKind::Certificate),
            "green_power" => Ok(GreenKind::GreenPower),
            _ => Err("is not a kind of green electricity; expected certificate or green_power"),
        }
    }
}

impl fmt::Display for GreenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GreenKind::Certificate => "certificate",
            GreenKind::GreenPower => "green_power",
        })
    }
}

/// One month's green electricity of one enterprise, of one kind.
#[derive(Debug, Clone, PartialEq)]
pub struct GreenRow {
    pub enterprise: EnterpriseId,
    pub month: Month,
    pub kind: GreenKind,
    pub mwh: f64,
    /// Certificate numbers or the contract.
    pub reference: String,
}

const REQUIRED: &[&str] = &["enterprise", "month", "kind", "mwh", "reference"];

/// Reads `green-electricity.csv`; one row per enterprise, month and kind.
pub fn load(path: &Path, enterprises: &BTreeMap<EnterpriseId, Enterprise>) -> Result<Vec<GreenRow>, Vec<ConfigError>> {
    let mut out = Vec::new();
    let mut seen: BTreeMap<(EnterpriseId, Month, GreenKind), usize> = BTreeMap::new();
    let errors = csv_rows::read(path, REQUIRED, &[], |row| {
        let enterprise = known_enterprise(row, enterprises);
        let month = row.parse::<Month>("month");
        let kind = row.parse::<GreenKind>("kind");
        let mwh = row.number("mwh", true);
        let reference = row.required("reference");
        if let (Some(enterprise), Some(month), Some(kind), Some(mwh), Some(reference)) = (enterprise, month, kind, mwh, reference) {
            if let Some(line) = seen.insert((enterprise.clone(), month, kind), row.line()) {
                row.problem("kind", format!("{kind} in {month} is already on line {line}"));
                return;
            }
            out.push(GreenRow { enterprise, month, kind, mwh, reference });
        }
    });
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}
