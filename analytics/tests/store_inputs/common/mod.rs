//! What the integration tests share: a reference directory with the shipped coefficients and
//! data-quality rules, counter readings, and a Parquet store of them.

// Each test file uses part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use readings::{Kind, Medium, Quality, Reading, Unit};

/// An enterprise of the east grid (China Standard Time by default).
pub const ENTERPRISE: &str = "91350100M000100Y43";

/// Writes `enterprises.csv` (one enterprise, [`ENTERPRISE`]), `meters.csv` from `meters` (rows
/// after the header `meter,enterprise,site,medium,role,accuracy_class,calibration_due,max_rate,resolution`),
/// an empty `production.csv` and `analytics.toml` naming the shipped coefficient and
/// data-quality files; returns the config's path.
pub fn write_reference(dir: &Path, meters: &[&str]) -> PathBuf {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let mut meter_rows = String::from("meter,enterprise,site,medium,role,accuracy_class,calibration_due,max_rate,resolution\n");
    for m in meters {
        meter_rows.push_str(m);
        meter_rows.push('\n');
    }
    let files = [
        ("enterprises.csv", format!("id,name,industry_code,region,grid_region,product_group\n{ENTERPRISE},Test Co.,C3011,Fujian,east,cement_clinker\n")),
        ("meters.csv", meter_rows),
        ("production.csv", "enterprise,month,product,quantity,unit,output_value_10k_cny\n".to_owned()),
        (
            "analytics.toml",
            format!(
                "[reference]\nenterprises = \"enterprises.csv\"\nmeters = \"meters.csv\"\nproduction = \"production.csv\"\n\
                 energy_coefficients = {:?}\nemission_factors = {:?}\ndata_quality = {:?}\n",
                config.join("coefficients/energy-gbt2589-2020.toml").display().to_string(),
                config.join("coefficients/emission-factors.toml").display().to_string(),
                config.join("data-quality.toml").display().to_string()
            ),
        ),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir.join("analytics.toml")
}

/// An instant written `2026-01-31T16:00`.
pub fn t(s: &str) -> DateTime<Utc> {
    format!("{s}:00Z").parse().unwrap()
}

/// Electricity import readings of one meter at one site, in `unit`.
pub fn electricity(site: &str, meter: &str, unit: Unit, points: &[(DateTime<Utc>, f64)]) -> Vec<Reading> {
    points
        .iter()
        .map(|&(time, value)| Reading {
            time,
            enterprise: ENTERPRISE.parse().unwrap(),
            site: site.parse().unwrap(),
            meter: meter.parse().unwrap(),
            medium: Medium::Electricity,
            quantity: "active_energy_import".parse().unwrap(),
            kind: Kind::Counter,
            unit,
            value: Some(value),
            quality: Quality::Good,
        })
        .collect()
}

/// A reading every hour from `from` until before `to`, starting at `start` and rising `per_hour`.
pub fn hourly(from: DateTime<Utc>, to: DateTime<Utc>, start: f64, per_hour: f64) -> Vec<(DateTime<Utc>, f64)> {
    let hours = (to - from).num_hours();
    (0..hours).map(|h| (from + chrono::Duration::hours(h), start + per_hour * h as f64)).collect()
}

/// Writes `readings` into a new store at `dir/name`; returns its root.
pub fn store(dir: &Path, name: &str, readings: &[Reading]) -> PathBuf {
    let root = dir.join(name);
    readings::store::StoreWriter::open(&root).unwrap().write(readings).unwrap();
    root
}
