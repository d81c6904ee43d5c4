//! `metering-points.csv`: the energy and water flows an enterprise must meter, by GB 17167's
//! three levels (the enterprise boundary, each main sub-unit, each main piece of equipment), and
//! the meter that measures each, if one is installed. The list is the "theoretical requirement"
//! the equipping rate divides by (docs/accounts.md, "Equipping rates"); which sub-units and
//! equipment count as main is the enterprise's energy audit's to say, not this file's.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use readings::config_file::ConfigError;
use readings::{EnterpriseId, Medium, MeterId, SiteId};

use super::csv_rows;
use super::enterprises::{known_enterprise, Enterprise};
use super::meters::Register;

/// GB 17167's levels of metering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PointLevel {
    /// Energy crossing the enterprise boundary (进出用能单位).
    Boundary,
    /// A main sub-unit: a workshop, a production line (主要次级用能单位).
    SubUnit,
    /// A main piece of energy-using equipment (主要用能设备).
    Equipment,
}

impl PointLevel {
    /// Every level, boundary first.
    pub const ALL: [PointLevel; 3] = [PointLevel::Boundary, PointLevel::SubUnit, PointLevel::Equipment];

    /// The level as files and tables spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            PointLevel::Boundary => "boundary",
            PointLevel::SubUnit => "sub_unit",
            PointLevel::Equipment => "equipment",
        }
    }
}

impl FromStr for PointLevel {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PointLevel::ALL.into_iter().find(|l| l.as_str() == s).ok_or("is not a level of metering; expected boundary, sub_unit or equipment")
    }
}

impl fmt::Display for PointLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One flow that must be metered, and its meter if installed.
#[derive(Debug, Clone, PartialEq)]
pub struct MeteringPoint {
    pub enterprise: EnterpriseId,
    pub site: SiteId,
    /// The flow's name (a feeder, a line, a kiln), as the audit lists it.
    pub point: String,
    pub level: PointLevel,
    pub medium: Medium,
    /// The meter measuring it, registered in meters.csv at the same site and of the same medium;
    /// empty: none installed.
    pub meter: Option<MeterId>,
}

const REQUIRED: &[&str] = &["enterprise", "site", "point", "level", "medium"];
const OPTIONAL: &[&str] = &["meter"];

/// Reads `metering-points.csv`; each point once per enterprise and site, each meter in the
/// register with the point's medium.
pub fn load(path: &Path, enterprises: &BTreeMap<EnterpriseId, Enterprise>, register: &Register) -> Result<Vec<MeteringPoint>, Vec<ConfigError>> {
    let mut out = Vec::new();
    let mut seen: BTreeMap<(EnterpriseId, SiteId, String), usize> = BTreeMap::new();
    let errors = csv_rows::read(path, REQUIRED, OPTIONAL, |row| {
        let enterprise = known_enterprise(row, enterprises);
        let site = row.parse::<SiteId>("site");
        let point = row.required("point");
        // Findings list the flows without a meter separated by spaces.
        if let Some(p) = point.as_deref().filter(|p| p.contains(char::is_whitespace)) {
            row.problem("point", format!("{p:?} has a space; name the flow without one (kiln-line-2)"));
        }
        let level = row.parse::<PointLevel>("level");
        let medium = row.parse::<Medium>("medium");
        let meter = row.optional::<MeterId>("meter");
        let (Some(enterprise), Some(site), Some(point), Some(level), Some(medium), Some(meter)) = (enterprise, site, point, level, medium, meter) else { return };
        if let Some(m) = &meter {
            match register.get(&(enterprise.clone(), site.clone(), m.clone())) {
                None => row.problem("meter", format!("{} is not in the meters file at site {}", m.as_str(), site.as_str())),
                Some(info) if info.medium != medium => row.problem("meter", format!("{} measures {}, not {medium}", m.as_str(), info.medium)),
                Some(_) => {}
            }
        }
        if let Some(line) = seen.insert((enterprise.clone(), site.clone(), point.clone()), row.line()) {
            row.problem("point", format!("{point} at site {} is already on line {line}", site.as_str()));
            return;
        }
        out.push(MeteringPoint { enterprise, site, point, level, medium, meter });
    });
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}
