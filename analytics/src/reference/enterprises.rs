//! `enterprises.csv`: who is metered, in which sector, region and product group.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use chrono::FixedOffset;
use readings::config_file::ConfigError;
use readings::EnterpriseId;

use super::csv_rows;

/// The regional power grids whose average CO2 factors MEE and NBS publish, and the national one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GridRegion {
    National,
    North,
    Northeast,
    East,
    Central,
    Northwest,
    South,
    Southwest,
}

impl GridRegion {
    const NAMES: [(&'static str, GridRegion); 8] = [
        ("national", GridRegion::National),
        ("north", GridRegion::North),
        ("northeast", GridRegion::Northeast),
        ("east", GridRegion::East),
        ("central", GridRegion::Central),
        ("northwest", GridRegion::Northwest),
        ("south", GridRegion::South),
        ("southwest", GridRegion::Southwest),
    ];

    /// The spelling used in files.
    pub fn as_str(self) -> &'static str {
        Self::NAMES.iter().find(|(_, r)| *r == self).map_or("?", |(n, _)| n)
    }
}

impl FromStr for GridRegion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::NAMES.iter().find(|(n, _)| *n == s).map(|(_, r)| *r).ok_or_else(|| {
            format!("is not a grid region; expected one of: {}", Self::NAMES.map(|(n, _)| n).join(", "))
        })
    }
}

impl fmt::Display for GridRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An industry class code of GB/T 4754-2017: a section letter and 2 to 4 digits (`C3011`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IndustryCode(String);

impl IndustryCode {
    /// The code as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for IndustryCode {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut chars = s.chars();
        let section = chars.next().ok_or("is empty")?;
        let digits = chars.as_str();
        let ok = ('A'..='T').contains(&section) && (2..=4).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit());
        if ok {
            Ok(IndustryCode(s.to_owned()))
        } else {
            Err("is not a GB/T 4754-2017 code: a section letter A-T and 2 to 4 digits, e.g. C3011")
        }
    }
}

/// An offset from UTC written `+08:00`; periods are cut in this local time.
struct Offset(FixedOffset);

impl FromStr for Offset {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::config::parse_offset(s).map(Offset).ok_or("is not a UTC offset such as +08:00")
    }
}

/// One metered enterprise.
#[derive(Debug, Clone, PartialEq)]
pub struct Enterprise {
    pub id: EnterpriseId,
    pub name: String,
    pub industry: IndustryCode,
    /// Province or city, as the programme writes it.
    pub region: String,
    /// The grid whose emission factor applies to its purchased electricity.
    pub grid_region: GridRegion,
    /// Enterprises compared with each other; also the product whose output the unit-product
    /// indicators divide by.
    pub product_group: String,
    /// Periods are cut in this local time (China Standard Time, +08:00, by default).
    pub utc_offset: FixedOffset,
    /// Management systems and monitoring in place, as the programme has verified them.
    pub practices: Practices,
}

/// What the leader rounds ask to be in place besides the figures (docs/leaders.md); `None`
/// when the enterprises file does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Practices {
    /// An energy management system per GB/T 23331.
    pub energy_management_system: Option<bool>,
    /// A measurement management system per GB/T 19022.
    pub measurement_management_system: Option<bool>,
    /// An on-line energy monitoring system or energy(-carbon) management centre.
    pub online_monitoring: Option<bool>,
    /// A water withdrawal permit, and no withdrawal over plan in three years.
    pub withdrawal_permit: Option<bool>,
    /// Water meters fitted per GB/T 24789 and verified or calibrated.
    pub water_meters_verified: Option<bool>,
}

/// `yes` or `no`.
struct YesNo(bool);

impl FromStr for YesNo {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "yes" => Ok(YesNo(true)),
            "no" => Ok(YesNo(false)),
            _ => Err("is not yes or no (leave it empty when not known)"),
        }
    }
}

const REQUIRED: &[&str] = &["id", "name", "industry_code", "region", "grid_region", "product_group"];
const OPTIONAL: &[&str] = &["utc_offset", "energy_management_system", "measurement_management_system", "online_monitoring", "withdrawal_permit", "water_meters_verified"];

/// The row's `enterprise` column, parsed; an enterprise the enterprises file lacks is a problem
/// of the row (the id is still returned, so the row's other checks run too).
pub fn known_enterprise(row: &mut csv_rows::Row, enterprises: &BTreeMap<EnterpriseId, Enterprise>) -> Option<EnterpriseId> {
    let enterprise = row.parse::<EnterpriseId>("enterprise")?;
    if !enterprises.contains_key(&enterprise) {
        row.problem("enterprise", format!("{} is not in the enterprises file", enterprise.as_str()));
    }
    Some(enterprise)
}

/// Reads `enterprises.csv`, keyed by id.
pub fn load(path: &Path, default_offset: FixedOffset) -> Result<BTreeMap<EnterpriseId, Enterprise>, Vec<ConfigError>> {
    let mut out = BTreeMap::new();
    let errors = csv_rows::read(path, REQUIRED, OPTIONAL, |row| {
        let id = row.parse::<EnterpriseId>("id");
        if let Some(id) = &id {
            if !id.is_uscc() {
                row.problem("id", format!("{:?} is not an 18-character unified social credit code (GB 32100-2015)", id.as_str()));
            }
        }
        let name = row.required("name");
        let industry = row.parse::<IndustryCode>("industry_code");
        let region = row.required("region");
        let grid_region = row.parse::<GridRegion>("grid_region");
        let product_group = row.required("product_group");
        let offset = row.optional::<Offset>("utc_offset");
        let mut flag = |column: &str| row.optional::<YesNo>(column).map(|v| v.map(|y| y.0));
        let flags = [flag("energy_management_system"), flag("measurement_management_system"), flag("online_monitoring"), flag("withdrawal_permit"), flag("water_meters_verified")];
        if let (Some(id), Some(name), Some(industry), Some(region), Some(grid_region), Some(product_group), Some(offset), [Some(ems), Some(mms), Some(online), Some(permit), Some(water)]) =
            (id, name, industry, region, grid_region, product_group, offset, flags)
        {
            let practices = Practices { energy_management_system: ems, measurement_management_system: mms, online_monitoring: online, withdrawal_permit: permit, water_meters_verified: water };
            let e = Enterprise { id: id.clone(), name, industry, region, grid_region, product_group, utc_offset: offset.map_or(default_offset, |o| o.0), practices };
            if out.insert(id.clone(), e).is_some() {
                row.problem("id", format!("{} is listed twice", id.as_str()));
            }
        }
    });
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn industry_codes_and_offsets() {
        assert!("C3011".parse::<IndustryCode>().is_ok());
        assert!("C30".parse::<IndustryCode>().is_ok());
        assert!("3011".parse::<IndustryCode>().is_err());
        assert!("Z3011".parse::<IndustryCode>().is_err());
        assert_eq!("+08:00".parse::<Offset>().map(|o| o.0.local_minus_utc()), Ok(8 * 3600));
        assert_eq!("-03:30".parse::<Offset>().map(|o| o.0.local_minus_utc()), Ok(-(3 * 3600 + 1800)));
        assert!("8".parse::<Offset>().is_err());
    }
}
