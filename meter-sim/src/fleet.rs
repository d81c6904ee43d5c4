//! A simulated fleet (the demo's is config/demo/fleet.toml): plants in product groups, their
//! meters, their flaws; and what follows from it: the reference files the analytics job reads
//! (enterprises, meters, production) and the counters of a backfilled history. The demo runs it;
//! the analytics benchmark scales it up.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike as _, Duration, NaiveDate, Utc};
use crate::history::HistoryCounter;
use crate::model::{load_hours, noise};
use readings::config_file::{parse_toml, ConfigError, ConfigErrors};
use readings::{EnterpriseId, Medium, MeterId, Quantity};
use serde::Deserialize;

/// The fleet file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fleet {
    pub meter_set: Vec<MeterSet>,
    pub plant: Vec<Plant>,
}

/// The meters every plant of a product group has, and what a unit of product takes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeterSet {
    pub product_group: String,
    pub product_unit: String,
    /// Output value, 10,000 CNY per product unit.
    pub value_per_unit: f64,
    pub meters: Vec<MeterSpec>,
    /// The activity data of the group's process emissions, written to reference/process.csv.
    #[serde(default)]
    pub process: Vec<ProcessSpec>,
}

/// One process-emission material of a product group (analytics' process.csv; docs/carbon.md).
/// The analytics job checks the values when it loads the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessSpec {
    /// clinker, calcite, magnesite or dolomite.
    pub material: String,
    /// t of the material per product unit (1.0 for clinker in t of clinker).
    pub per_unit: f64,
    pub cao_percent: Option<f64>,
    pub mgo_percent: Option<f64>,
    pub cao_noncarbonate_percent: Option<f64>,
    pub mgo_noncarbonate_percent: Option<f64>,
    pub purity_percent: Option<f64>,
}

/// A meter of a set.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeterSpec {
    pub name: MeterId,
    pub medium: Medium,
    pub role: Role,
    /// Boundary meters: consumption per product unit, in the counter's stored unit.
    pub per_unit: Option<f64>,
    /// Area meters: their share of the medium's boundary flow.
    pub share: Option<f64>,
    pub class: f64,
}

/// Where a meter sits (meters.csv's role).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Boundary,
    Area,
}

/// One simulated enterprise.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plant {
    pub id: EnterpriseId,
    pub name: String,
    pub region: String,
    pub grid_region: String,
    pub industry_code: String,
    pub product_group: String,
    /// Product units an hour at load shape 1.0.
    pub output_per_hour: f64,
    /// Multiplies every per_unit of the plant's meter set.
    pub intensity: f64,
    /// Months of history before the end of the year (default: all of it).
    pub history_months: Option<u32>,
    pub outage_days: Option<Outage>,
    pub calibration_due: Option<NaiveDate>,
    pub missing_area: Option<MeterId>,
    pub live: Option<Live>,
    /// What it has in place, as enterprises.csv's yes/no columns (energy_management_system,
    /// measurement_management_system, online_monitoring, withdrawal_permit,
    /// water_meters_verified); the others are written "no".
    #[serde(default)]
    pub practices: Vec<String>,
    /// The share of its boundary electricity covered by green electricity certificates.
    pub green_share: Option<f64>,
}

/// The columns of enterprises.csv that [`Plant::practices`] fills.
pub const PRACTICES: [&str; 5] = ["energy_management_system", "measurement_management_system", "online_monitoring", "withdrawal_permit", "water_meters_verified"];

/// Days without any reading.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    /// Day of the year (0 = its first day) the outage starts.
    pub from: u32,
    pub days: u32,
}

/// How a plant's gateway runs live in the demo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Live {
    Modbus,
    Mqtt,
}

/// The site every demo plant's meters are at.
pub const SITE: &str = "works";

/// Sub-circuit meters a plant live over MQTT publishes (Shelly style, `shellies/m<i>/status`).
pub const LIVE_MQTT_METERS: usize = 3;

/// The register name of live MQTT meter `i`: the gateway names it `shelly-` and the topic's
/// device segment.
pub fn live_mqtt_meter(i: usize) -> String {
    format!("shelly-m{i}")
}

/// Decimal digits of every simulated counter register (a resolution of 0.01 in meters.csv).
pub const COUNTER_DECIMALS: i32 = 2;

impl Fleet {
    /// Reads and checks the fleet file; every problem names the file and the key.
    pub fn load(path: &Path) -> Result<Fleet, ConfigErrors> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors(vec![ConfigError::new(&file, "", format!("cannot read the file: {e}"))]))?;
        let fleet: Fleet = parse_toml(&file, &text).map_err(|e| ConfigErrors(vec![e]))?;
        let mut errors = Vec::new();
        for (i, set) in fleet.meter_set.iter().enumerate() {
            for (j, m) in set.meters.iter().enumerate() {
                let key = format!("meter_set[{i}].meters[{j}]");
                match (m.role, m.per_unit, m.share) {
                    (Role::Boundary, Some(v), None) if v > 0.0 => {}
                    (Role::Area, None, Some(s)) if s > 0.0 && s <= 1.0 => {}
                    (Role::Boundary, ..) => errors.push(ConfigError::new(&file, &key, "a boundary meter needs a positive per_unit and no share")),
                    (Role::Area, ..) => errors.push(ConfigError::new(&file, &key, "an area meter needs a share in (0, 1] and no per_unit")),
                }
                if m.role == Role::Area && !set.meters.iter().any(|b| b.role == Role::Boundary && b.medium == m.medium) {
                    errors.push(ConfigError::new(&file, &key, format!("no boundary meter of {} to take a share of", m.medium)));
                }
            }
        }
        let mut ids = BTreeSet::new();
        for (i, p) in fleet.plant.iter().enumerate() {
            let key = |k: &str| format!("plant[{i}].{k}");
            if !ids.insert(p.id.to_string()) {
                errors.push(ConfigError::new(&file, key("id"), format!("{} appears twice", p.id)));
            }
            match fleet.set_of(p) {
                None => errors.push(ConfigError::new(&file, key("product_group"), format!("no meter_set for {}", p.product_group))),
                Some(set) => {
                    if let Some(name) = &p.missing_area {
                        if !set.meters.iter().any(|m| &m.name == name && m.role == Role::Area) {
                            errors.push(ConfigError::new(&file, key("missing_area"), format!("{name} is not an area meter of {}", p.product_group)));
                        }
                    }
                }
            }
            if !(p.output_per_hour > 0.0 && p.intensity > 0.0) {
                errors.push(ConfigError::new(&file, key("output_per_hour"), "output_per_hour and intensity must be positive"));
            }
            if p.history_months.is_some_and(|m| m == 0 || m > 12) {
                errors.push(ConfigError::new(&file, key("history_months"), "must be 1..=12"));
            }
        }
        if errors.is_empty() {
            Ok(fleet)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// The fleet repeated `copies` times (at most 100): copy k > 0 of a plant has the plant's
    /// credit code with k in two digits of its organisation code (and the check character that
    /// follows), and the same meters, size and flaws (for benchmarks at scale).
    pub fn scaled(self, copies: usize) -> Result<Fleet, readings::IdError> {
        let mut plants = Vec::with_capacity(self.plant.len() * copies);
        for k in 0..copies {
            for p in &self.plant {
                let mut copy = p.clone();
                if k > 0 {
                    let id = p.id.to_string();
                    let first17 = format!("{}{:02}{}", &id[..12], k % 100, &id[14..17]);
                    copy.id = format!("{first17}{}", readings::uscc_check_char(&first17)?).parse()?;
                    copy.live = None;
                }
                plants.push(copy);
            }
        }
        Ok(Fleet { meter_set: self.meter_set, plant: plants })
    }

    /// The meter set of a plant's product group.
    pub fn set_of(&self, plant: &Plant) -> Option<&MeterSet> {
        self.meter_set.iter().find(|s| s.product_group == plant.product_group)
    }

    /// The meters a plant has (its set, less a missing area meter), with their rate per hour at
    /// load shape 1.0 in the stored unit.
    pub fn meters_of<'a>(&'a self, plant: &'a Plant) -> Vec<(&'a MeterSpec, f64)> {
        let Some(set) = self.set_of(plant) else { return Vec::new() };
        let boundary_rate = |medium: Medium| {
            set.meters.iter().find(|m| m.role == Role::Boundary && m.medium == medium).and_then(|m| m.per_unit).unwrap_or(0.0) * plant.intensity * plant.output_per_hour
        };
        set.meters
            .iter()
            .filter(|m| plant.missing_area.as_ref() != Some(&m.name))
            .map(|m| (m, m.per_unit.map_or_else(|| m.share.unwrap_or(0.0) * boundary_rate(m.medium), |u| u * plant.intensity * plant.output_per_hour)))
            .collect()
    }

    /// The counters of the backfilled history of every plant.
    pub fn history_counters(&self) -> Vec<HistoryCounter> {
        let mut out = Vec::new();
        for plant in &self.plant {
            for (k, (m, rate)) in self.meters_of(plant).into_iter().enumerate() {
                // Every plant and meter its own counter start, copies of a plant included.
                let seed = plant.id.to_string().bytes().fold(7u64, |h, b| h.wrapping_mul(131).wrapping_add(u64::from(b))) + k as u64;
                out.push(HistoryCounter {
                    enterprise: plant.id.clone(),
                    site: SITE.parse().expect("a valid site id"),
                    meter: m.name.clone(),
                    medium: m.medium,
                    quantity: Quantity::total(m.medium.default_counter()),
                    rated: rate,
                    // A counter that has been running for a while, different per meter.
                    start_value: (1000.0 + 9000.0 * (noise(seed, k, 0.0) + 1.0) / 2.0).round(),
                    decimals: COUNTER_DECIMALS,
                });
            }
        }
        out
    }
}

/// The year of history: the twelve whole UTC months before the month of `now`.
pub fn history_window(now: DateTime<Utc>) -> (NaiveDate, NaiveDate) {
    let this_month = NaiveDate::from_ymd_opt(now.year(), now.month(), 1).expect("a first day");
    let start = this_month.checked_sub_months(chrono::Months::new(12)).expect("a year earlier");
    (start, this_month)
}

/// The first day of a plant's history: the window's, or later for a late joiner.
fn joined(plant: &Plant, window: (NaiveDate, NaiveDate)) -> NaiveDate {
    plant.history_months.map_or(window.0, |m| window.1.checked_sub_months(chrono::Months::new(m)).unwrap_or(window.0))
}

/// Whether `plant` has readings at `t` (its history start and outage).
pub fn reports_at(plant: &Plant, window: (NaiveDate, NaiveDate), t: DateTime<Utc>) -> bool {
    let day = t.date_naive();
    if day < joined(plant, window) {
        return false;
    }
    match plant.outage_days {
        Some(o) => {
            let from = window.0 + Duration::days(i64::from(o.from));
            !(day >= from && day < from + Duration::days(i64::from(o.days)))
        }
        None => true,
    }
}

/// Writes what the analytics job needs to account for the fleet over `window` into `dir`:
/// reference/{enterprises,meters,production,process}.csv and analytics.toml naming them and the
/// coefficient, data-quality and leader-rule files under `config_dir` (the project's config/).
/// Returns the analytics config's path.
pub fn write_analytics_inputs(fleet: &Fleet, window: (NaiveDate, NaiveDate), dir: &Path, config_dir: &Path) -> std::io::Result<PathBuf> {
    write_reference(fleet, window, &dir.join("reference"))?;
    let config_dir = std::fs::canonicalize(config_dir)?;
    let text = format!(
        "# Written for a simulated fleet (meter_sim::fleet).\n[reference]\nenterprises = \"reference/enterprises.csv\"\nmeters = \"reference/meters.csv\"\nproduction = \"reference/production.csv\"\n\
         process_inputs = \"reference/process.csv\"\ngreen_electricity = \"reference/green-electricity.csv\"\nmetering_points = \"reference/metering-points.csv\"\nprocess_emissions = {:?}\n\
         energy_coefficients = {:?}\nemission_factors = {:?}\ndata_quality = {:?}\nleaders = {:?}\n",
        config_dir.join("coefficients/process-emissions.toml").display().to_string(),
        config_dir.join("coefficients/energy-gbt2589-2020.toml").display().to_string(),
        config_dir.join("coefficients/emission-factors.toml").display().to_string(),
        config_dir.join("data-quality.toml").display().to_string(),
        config_dir.join("leaders").display().to_string(),
    );
    let path = dir.join("analytics.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Writes enterprises.csv, meters.csv, metering-points.csv and production.csv for the fleet into
/// `dir`; production follows the load shape of each month, with a few percent of month-to-month
/// noise. Every simulated meter measures a flow the plant must meter (its boundary meters the
/// boundary, its area meters main sub-units, its live MQTT meters main equipment).
fn write_reference(fleet: &Fleet, window: (NaiveDate, NaiveDate), dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut enterprises = format!("id,name,industry_code,region,grid_region,product_group,utc_offset,{}\n", PRACTICES.join(","));
    let mut green = String::from("enterprise,month,kind,mwh,reference\n");
    let mut meters = String::from("meter,enterprise,site,medium,role,accuracy_class,calibration_due,max_rate,resolution\n");
    let mut points = String::from("enterprise,site,point,level,medium,meter\n");
    let mut production = String::from("enterprise,month,product,quantity,unit,output_value_10k_cny\n");
    let mut process = String::from("enterprise,month,material,quantity_t,cao_percent,mgo_percent,cao_noncarbonate_percent,mgo_noncarbonate_percent,purity_percent,source\n");
    let cell = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    let csv_text = |s: &str| if s.contains([',', '"']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() };
    let far = window.1 + Duration::days(2 * 365);
    for plant in &fleet.plant {
        let Some(set) = fleet.set_of(plant) else { continue };
        let _ = writeln!(
            enterprises,
            "{},{},{},{},{},{},+08:00,{}",
            plant.id,
            csv_text(&plant.name),
            plant.industry_code,
            csv_text(&plant.region),
            plant.grid_region,
            plant.product_group,
            PRACTICES.map(|p| if plant.practices.iter().any(|x| x == p) { "yes" } else { "no" }).join(",")
        );
        let kwh_per_unit: f64 = set.meters.iter().filter(|m| m.medium == Medium::Electricity && m.role == Role::Boundary).filter_map(|m| m.per_unit).sum::<f64>() * plant.intensity;
        for (m, rate) in fleet.meters_of(plant) {
            let role = match m.role {
                Role::Boundary => "boundary",
                Role::Area => "area",
            };
            let due = if m.role == Role::Boundary { plant.calibration_due.unwrap_or(far) } else { far };
            let resolution = 10f64.powi(-COUNTER_DECIMALS);
            let _ = writeln!(meters, "{},{},{SITE},{},{role},{},{due},{},{resolution}", m.name, plant.id, m.medium, m.class, (rate * 1.2).ceil());
            let level = if m.role == Role::Boundary { "boundary" } else { "sub_unit" };
            let _ = writeln!(points, "{},{SITE},{},{level},{},{}", plant.id, m.name, m.medium, m.name);
        }
        // The live MQTT meters are device sub-meters of the plant's electricity: registered, so
        // that the centre accounts their readings instead of leaving them out with a warning.
        if plant.live == Some(Live::Mqtt) {
            for i in 0..LIVE_MQTT_METERS {
                let _ = writeln!(meters, "{},{},{SITE},electricity,device,1.0,{far},,", live_mqtt_meter(i), plant.id);
                let _ = writeln!(points, "{},{SITE},{},equipment,electricity,{}", plant.id, live_mqtt_meter(i), live_mqtt_meter(i));
            }
        }
        let mut month = window.0;
        while month < window.1 {
            let next = month.checked_add_months(chrono::Months::new(1)).expect("a next month");
            let start = month.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
            // Production is reported from the month a plant joined, outages or not.
            if month >= joined(plant, window) {
                let hours = load_hours(start, next.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
                let wobble = 1.0 + 0.03 * noise(u64::from(month.month()) << 8 | u64::from(plant.id.to_string().as_bytes()[17]), 0, f64::from(month.year()));
                let quantity = (plant.output_per_hour * hours * wobble).round();
                let _ = writeln!(
                    production,
                    "{},{},{},{quantity},{},{:.1}",
                    plant.id,
                    month.format("%Y-%m"),
                    plant.product_group,
                    set.product_unit,
                    quantity * set.value_per_unit
                );
                if let Some(share) = plant.green_share {
                    let mwh = (quantity * kwh_per_unit * share / 1000.0).round();
                    let _ = writeln!(green, "{},{},certificate,{mwh},simulated GEC batch {}", plant.id, month.format("%Y-%m"), month.format("%Y%m"));
                }
                for p in &set.process {
                    let _ = writeln!(
                        process,
                        "{},{},{},{},{},{},{},{},{},simulated ledger and lab analysis",
                        plant.id,
                        month.format("%Y-%m"),
                        p.material,
                        (quantity * p.per_unit * 1000.0).round() / 1000.0,
                        cell(p.cao_percent),
                        cell(p.mgo_percent),
                        cell(p.cao_noncarbonate_percent),
                        cell(p.mgo_noncarbonate_percent),
                        cell(p.purity_percent)
                    );
                }
            }
            month = next;
        }
    }
    std::fs::write(dir.join("enterprises.csv"), enterprises)?;
    std::fs::write(dir.join("meters.csv"), meters)?;
    std::fs::write(dir.join("metering-points.csv"), points)?;
    std::fs::write(dir.join("process.csv"), process)?;
    std::fs::write(dir.join("green-electricity.csv"), green)?;
    std::fs::write(dir.join("production.csv"), production)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet() -> Fleet {
        Fleet::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/demo/fleet.toml")).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_shipped_fleet_is_valid_and_area_meters_cover_their_boundary() {
        let fleet = fleet();
        assert!(fleet.plant.len() >= 12 && fleet.meter_set.len() >= 3);
        for plant in &fleet.plant {
            let meters = fleet.meters_of(plant);
            for medium in meters.iter().filter(|(m, _)| m.role == Role::Boundary).map(|(m, _)| m.medium) {
                let boundary: f64 = meters.iter().filter(|(m, _)| m.role == Role::Boundary && m.medium == medium).map(|(_, r)| r).sum();
                let area: f64 = meters.iter().filter(|(m, _)| m.role == Role::Area && m.medium == medium).map(|(_, r)| r).sum();
                let missing = plant.missing_area.as_ref().is_some_and(|a| fleet.set_of(plant).unwrap().meters.iter().any(|m| &m.name == a && m.medium == medium));
                // Within the data-quality tolerance (5 %) unless an area meter is missing on purpose.
                assert_eq!(area / boundary >= 0.95, !missing, "{} {medium}: {area} of {boundary}", plant.id);
            }
        }
    }

    #[test]
    fn a_broken_fleet_file_names_the_key_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.toml");
        let load = |text: &str| {
            std::fs::write(&path, text).unwrap();
            Fleet::load(&path).map(|_| ()).unwrap_err().to_string()
        };
        let plant = "[[plant]]\nid = \"91350100M000100Y43\"\nname = \"P\"\nregion = \"R\"\ngrid_region = \"east\"\nindustry_code = \"C3011\"\nproduction = 0\n";
        let set = |meters: &str| format!("[[meter_set]]\nproduct_group = \"g\"\nproduct_unit = \"t\"\nvalue_per_unit = 1.0\nmeters = [{meters}]\n");
        let good_plant = plant.replace("production = 0\n", "product_group = \"g\"\noutput_per_hour = 1.0\nintensity = 1.0\n");

        let e = load(&(set(r#"{ name = "bad name", medium = "water", role = "boundary", per_unit = 1.0, class = 2.5 }"#) + &good_plant));
        assert!(e.contains("fleet.toml") && e.contains("meter_set") && e.contains("' '"), "{e}");
        let e = load(&(set(r#"{ name = "sub", medium = "water", role = "area", share = 0.5, class = 2.5 }"#) + &good_plant));
        assert!(e.contains("meter_set[0].meters[0]: no boundary meter of water to take a share of"), "{e}");
        let e = load(&(set(r#"{ name = "main", medium = "water", role = "boundary", share = 0.5, class = 2.5 }"#) + &good_plant));
        assert!(e.contains("meter_set[0].meters[0]: a boundary meter needs a positive per_unit and no share"), "{e}");
        let e = load(&(set(r#"{ name = "main", medium = "water", role = "boundary", per_unit = 1.0, class = 2.5 }"#) + &good_plant.replace("\"g\"\noutput", "\"h\"\noutput")));
        assert!(e.contains("plant[0].product_group: no meter_set for h"), "{e}");
    }

    #[test]
    fn a_late_joiner_and_an_outage_have_no_readings_when_they_should_not() {
        let fleet = fleet();
        let window = (NaiveDate::from_ymd_opt(2025, 11, 1).unwrap(), NaiveDate::from_ymd_opt(2026, 11, 1).unwrap());
        let at = |d: &str| format!("{d}T12:00:00Z").parse::<DateTime<Utc>>().unwrap();
        let late = fleet.plant.iter().find(|p| p.history_months == Some(5)).unwrap();
        assert!(!reports_at(late, window, at("2026-05-31")) && reports_at(late, window, at("2026-06-01")));
        let outage = fleet.plant.iter().find(|p| p.outage_days.is_some()).unwrap();
        let o = outage.outage_days.unwrap();
        let first = window.0 + Duration::days(i64::from(o.from));
        assert!(reports_at(outage, window, at(&(first - Duration::days(1)).to_string())));
        assert!(!reports_at(outage, window, at(&first.to_string())));
        assert!(reports_at(outage, window, at(&(first + Duration::days(i64::from(o.days))).to_string())));
    }
}
