//! Carbon by guideline worked by hand (docs/carbon.md): four plants over November 2026 (China
//! Standard Time: 2026-10-31T16:00Z to 2026-11-30T16:00Z), each counter read exactly at the
//! month's bounds so no interpolation enters the figures.
//!
//! Factors written into the test's own files: electricity 0.1229 kgce/kWh, coal 0.7143 kgce/kg,
//! natural gas 1.2143 kgce/m3, heat 0.03412 kgce/MJ, biomass 0.5323 kgce/kg; grid 2026 central
//! 0.5271, east 0.5500 kgCO2/kWh; coal 1.9003 kgCO2/kg, natural gas 2.1622 kgCO2/m3; heat 110
//! kgCO2/GJ; biomass 1.747 kgCO2/kg; clinker 44/56 = 0.785714 per t CaO, 44/40 = 1.1 per t MgO;
//! calcite 0.440, dolomite 0.477 tCO2/t.
//!
//! CEMENT (cement_clinker, central grid): grid 500,000 kWh; coal 120 t; heat supplied to a
//! neighbour 800 GJ (an export meter); 10,000 t clinker at CaO 65 %, MgO 2 %, of which CaO 1 %
//! from non-carbonate sources.
//!   process      10,000 x ((65 - 1) % x 0.785714 + 2 % x 1.1) = 10,000 x 0.52485696 = 5,248.5696 t
//!   combustion   120,000 kg x 1.9003 = 228.036 t
//!   electricity  500,000 x 0.5271 = 263.55 t
//!   exports      -800 GJ x 110 = -88 t
//!   total        5,652.1556 t; per t clinker 0.56521556; process per t 0.52485696
//!   energy       61,450 + 85,716 - 27,296 kgce = 119.87 tce; 11.987 kgce/t
//!
//! CERAMICS (ceramic_tiles, east grid): gas 100,000 m3; grid 200,000 kWh; calcite 2,000 t at 90 %,
//! dolomite 500 t at 80 %; 100,000 m2 of tiles; 300 MWh of green certificates.
//!   process      2,000 x 0.9 x 0.440 + 500 x 0.8 x 0.477 = 792 + 190.8 = 982.8 t
//!   combustion   216.22 t; electricity 110 t; total 1,309.02 t; 0.0130902 t/m2
//!   non-fossil   certificates for 300,000 kWh count only up to the 200,000 kWh bought:
//!                24.58 tce of 24.58 + 121.43 = 146.01 tce: 0.168344634
//!
//! BIOMASS (textile_dyeing, east grid): a biomass boiler burns 300 t; grid 100,000 kWh.
//!   biomass memo 300,000 x 1.747 = 524.1 t, not in the total; total = electricity 55 t
//!   non-fossil   biomass 159.69 tce of 159.69 + 12.29 = 171.98 tce: 0.928538202
//!
//! PV (textile_dyeing, east grid): grid 400,000 kWh; gas 50,000 m3; rooftop PV generated 120,000
//! kWh of which 100,000 used on site; 60 MWh of certificates and 20 MWh of green power bought.
//!   energy       49,160 + 60,715 kgce = 109.875 tce bought; with the PV used, 122.165 tce
//!   non-fossil   own_and_green: 12.29 (PV used) + 9.832 (80,000 kWh green) = 22.122 tce: 0.181082962
//!                with_grid_share (0.35): + 320,000 x 0.35 x 0.1229 / 1000 = 13.7648: 35.8868 tce: 0.293756804
//!   CO2          220 + 108.11 = 328.11 t (green electricity does not change the grid factor)

use std::path::Path;

use analytics::accounts::{AccountsSpec, Tables};
use analytics::config::{AnalyticsConfig, NonFossilMethod};
use analytics::load::CounterReadings;
use analytics::period::PeriodKind;
use analytics::reference::{ElectricityMethod, Reference};
use chrono::NaiveDate;
use polars::prelude::*;
use readings::Medium;

const CEMENT: &str = "91430100MA7D00101Q";
const CERAMICS: &str = "91440600MA7D001079";
const BIOMASS: &str = "91330600MA7D001120";
const PV: &str = "91320500MA7D00113R";

fn write_reference(dir: &Path) -> std::path::PathBuf {
    let files = [
        (
            "enterprises.csv",
            format!(
                "id,name,industry_code,region,grid_region,product_group\n\
                 {CEMENT},Cement,C3011,Hunan,central,cement_clinker\n\
                 {CERAMICS},Ceramics,C3071,Guangdong,east,ceramic_tiles\n\
                 {BIOMASS},Biomass,C1713,Zhejiang,east,textile_dyeing\n\
                 {PV},PV,C1713,Jiangsu,east,textile_dyeing\n"
            ),
        ),
        (
            "meters.csv",
            format!(
                "meter,enterprise,site,medium,role,accuracy_class,calibration_due,max_rate,direction,renewable\n\
                 grid,{CEMENT},p,electricity,boundary,0.5,2030-01-01,100000,,\n\
                 coal,{CEMENT},p,coal,boundary,0.5,2030-01-01,100,,\n\
                 heat-out,{CEMENT},p,heat,boundary,2,2030-01-01,100,export,\n\
                 grid,{CERAMICS},p,electricity,boundary,0.5,2030-01-01,100000,,\n\
                 gas,{CERAMICS},p,natural_gas,boundary,2,2030-01-01,10000,,\n\
                 grid,{BIOMASS},p,electricity,boundary,0.5,2030-01-01,100000,,\n\
                 boiler,{BIOMASS},p,biomass,boundary,0.5,2030-01-01,10,,\n\
                 grid,{PV},p,electricity,boundary,0.5,2030-01-01,100000,,\n\
                 gas,{PV},p,natural_gas,boundary,2,2030-01-01,10000,,\n\
                 pv-inverter,{PV},p,electricity,generation,1,2030-01-01,1000,,pv\n\
                 pv-own-use,{PV},p,electricity,self_use,1,2030-01-01,1000,,pv\n"
            ),
        ),
        (
            "production.csv",
            format!(
                "enterprise,month,product,quantity,unit,output_value_10k_cny\n\
                 {CEMENT},2026-11,cement_clinker,10000,t,350\n\
                 {CERAMICS},2026-11,ceramic_tiles,100000,m2,450\n\
                 {BIOMASS},2026-11,textile_dyeing,1000,100m,120\n\
                 {PV},2026-11,textile_dyeing,2000,100m,240\n"
            ),
        ),
        (
            "process.csv",
            format!(
                "enterprise,month,material,quantity_t,cao_percent,mgo_percent,cao_noncarbonate_percent,mgo_noncarbonate_percent,purity_percent,source\n\
                 {CEMENT},2026-11,clinker,10000,65,2,1,0,,lab\n\
                 {CERAMICS},2026-11,calcite,2000,,,,,90,ledger\n\
                 {CERAMICS},2026-11,dolomite,500,,,,,80,ledger\n"
            ),
        ),
        (
            "green.csv",
            format!(
                "enterprise,month,kind,mwh,reference\n\
                 {CERAMICS},2026-11,certificate,300,GEC 1-300\n\
                 {PV},2026-11,certificate,60,GEC 301-360\n\
                 {PV},2026-11,green_power,20,contract 7\n"
            ),
        ),
        (
            "energy.toml",
            "[[coefficient]]\nmedium = \"electricity\"\nunit = \"kWh\"\nmethod = \"equivalent\"\nkgce_per_unit = 0.1229\nsource = \"t\"\n\
             [[coefficient]]\nmedium = \"coal\"\nunit = \"kg\"\nkgce_per_unit = 0.7143\nsource = \"t\"\n\
             [[coefficient]]\nmedium = \"natural_gas\"\nunit = \"m3\"\nkgce_per_unit = 1.2143\nsource = \"t\"\n\
             [[coefficient]]\nmedium = \"heat\"\nunit = \"MJ\"\nkgce_per_unit = 0.03412\nsource = \"t\"\n\
             [[coefficient]]\nmedium = \"biomass\"\nunit = \"kg\"\nkgce_per_unit = 0.5323\nsource = \"t\"\n"
                .to_owned(),
        ),
        (
            "emission.toml",
            "[[grid]]\nyear = 2026\nregion = \"central\"\nkg_co2_per_kwh = 0.5271\nsource = \"t\"\n\
             [[grid]]\nyear = 2026\nregion = \"east\"\nkg_co2_per_kwh = 0.5500\nsource = \"t\"\n\
             [[fuel]]\nmedium = \"coal\"\nunit = \"kg\"\nkg_co2_per_unit = 1.9003\nsource = \"t\"\n\
             [[fuel]]\nmedium = \"natural_gas\"\nunit = \"m3\"\nkg_co2_per_unit = 2.1622\nsource = \"t\"\n\
             [[heat]]\nmedium = \"heat\"\nunit = \"GJ\"\nkg_co2_per_unit = 110\nsource = \"t\"\n\
             [[biomass]]\nmedium = \"biomass\"\nunit = \"kg\"\nkg_co2_per_unit = 1.747\nsource = \"t\"\n\
             [[grid_non_fossil]]\nyear = 2026\nshare = 0.35\nsource = \"t\"\n"
                .to_owned(),
        ),
        (
            "process.toml",
            "[[group]]\nproduct_group = \"cement_clinker\"\nmethod = \"clinker\"\nsource = \"t\"\n\
             [[group]]\nproduct_group = \"ceramic_tiles\"\nmethod = \"carbonates\"\nsource = \"t\"\n\
             [clinker]\nt_co2_per_t_cao = 0.785714\nt_co2_per_t_mgo = 1.1\nsource = \"t\"\ndefault_t_co2_per_t_clinker = 0.52\ndefault_source = \"t\"\n\
             [[carbonate]]\nmaterial = \"calcite\"\nt_co2_per_t = 0.440\nsource = \"t\"\n\
             [[carbonate]]\nmaterial = \"dolomite\"\nt_co2_per_t = 0.477\nsource = \"t\"\n"
                .to_owned(),
        ),
        ("quality.toml", "[[grade]]\ngrade = \"A\"\n".to_owned()),
        (
            "analytics.toml",
            "[reference]\nenterprises = \"enterprises.csv\"\nmeters = \"meters.csv\"\nproduction = \"production.csv\"\n\
             energy_coefficients = \"energy.toml\"\nemission_factors = \"emission.toml\"\ndata_quality = \"quality.toml\"\n\
             process_emissions = \"process.toml\"\nprocess_inputs = \"process.csv\"\ngreen_electricity = \"green.csv\"\n"
                .to_owned(),
        ),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir.join("analytics.toml")
}

/// A counter read at the month's two bounds: `used` in between.
fn counter(enterprise: &str, meter: &str, medium: Medium, quantity: &str, unit: &str, used: f64) -> CounterReadings {
    let (from, to) = ("2026-10-31T16:00:00Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap(), "2026-11-30T16:00:00Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap());
    CounterReadings {
        enterprise: enterprise.into(),
        site: "p".into(),
        meter: meter.into(),
        medium,
        quantity: quantity.into(),
        unit: unit.into(),
        points: vec![(from.timestamp_millis(), 1000.0), (to.timestamp_millis(), 1000.0 + used)],
        unusable: Vec::new(),
    }
}

fn counters() -> Vec<CounterReadings> {
    vec![
        counter(CEMENT, "grid", Medium::Electricity, "active_energy_import", "kWh", 500_000.0),
        counter(CEMENT, "coal", Medium::Coal, "mass", "t", 120.0),
        counter(CEMENT, "heat-out", Medium::Heat, "heat_energy", "GJ", 800.0),
        counter(CERAMICS, "grid", Medium::Electricity, "active_energy_import", "kWh", 200_000.0),
        counter(CERAMICS, "gas", Medium::NaturalGas, "volume", "m3", 100_000.0),
        counter(BIOMASS, "grid", Medium::Electricity, "active_energy_import", "kWh", 100_000.0),
        counter(BIOMASS, "boiler", Medium::Biomass, "mass", "t", 300.0),
        counter(PV, "grid", Medium::Electricity, "active_energy_import", "kWh", 400_000.0),
        counter(PV, "gas", Medium::NaturalGas, "volume", "m3", 50_000.0),
        counter(PV, "pv-inverter", Medium::Electricity, "active_energy_import", "kWh", 120_000.0),
        counter(PV, "pv-own-use", Medium::Electricity, "active_energy_import", "kWh", 100_000.0),
    ]
}

fn accounts(non_fossil: NonFossilMethod) -> DataFrame {
    let dir = tempfile::tempdir().unwrap();
    let config = AnalyticsConfig::load(&write_reference(dir.path())).unwrap();
    let reference = Reference::load(&config).unwrap_or_else(|e| panic!("{e}"));
    let (from, to) = (NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(), NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
    let spec = AccountsSpec { kind: PeriodKind::Month, from, to, method: ElectricityMethod::Equivalent, gap_h: 1000.0, non_fossil };
    let (tables, notes) = Tables::compute(&counters(), &reference, spec, &[]).unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    println!("{}", tables.accounts);
    tables.accounts
}

/// The value of `column` for `enterprise` (one period).
fn value(table: &DataFrame, enterprise: &str, column: &str) -> Option<f64> {
    let row = table.column("enterprise").unwrap().str().unwrap().iter().position(|e| e == Some(enterprise)).unwrap();
    table.column(column).unwrap().cast(&DataType::Float64).unwrap().f64().unwrap().get(row)
}

fn close(table: &DataFrame, enterprise: &str, column: &str, want: f64) {
    let got = value(table, enterprise, column).unwrap_or_else(|| panic!("{enterprise} {column}: no value"));
    assert!((got - want).abs() <= 1e-9 * want.abs().max(1.0), "{enterprise} {column}: {got} != {want}");
}

#[test]
fn a_cement_plant_worked_by_hand() {
    let t = accounts(NonFossilMethod::OwnAndGreen);
    close(&t, CEMENT, "co2_process_t", 5248.5696);
    close(&t, CEMENT, "co2_combustion_t", 228.036);
    close(&t, CEMENT, "co2_purchased_electricity_t", 263.55);
    close(&t, CEMENT, "co2_exports_t", -88.0);
    close(&t, CEMENT, "co2_t", 5652.1556);
    close(&t, CEMENT, "co2_t_per_unit", 0.56521556);
    close(&t, CEMENT, "co2_process_t_per_unit", 0.52485696);
    close(&t, CEMENT, "energy_tce", 119.87);
    close(&t, CEMENT, "kgce_per_unit", 11.987);
    assert_eq!(value(&t, CEMENT, "co2_purchased_heat_t"), None, "no heat bought: no counter on the line");
    assert_eq!(value(&t, CEMENT, "co2_biomass_memo_t"), None);
}

#[test]
fn a_ceramics_plant_with_carbonate_raw_materials() {
    let t = accounts(NonFossilMethod::OwnAndGreen);
    close(&t, CERAMICS, "co2_process_t", 982.8);
    close(&t, CERAMICS, "co2_combustion_t", 216.22);
    close(&t, CERAMICS, "co2_purchased_electricity_t", 110.0);
    close(&t, CERAMICS, "co2_t", 1309.02);
    close(&t, CERAMICS, "co2_t_per_unit", 0.0130902);
    // Certificates beyond the electricity bought do not count.
    close(&t, CERAMICS, "green_kwh", 300_000.0);
    close(&t, CERAMICS, "green_kwh_counted", 200_000.0);
    close(&t, CERAMICS, "non_fossil_share", 24.58 / 146.01);
}

#[test]
fn biomass_is_reported_apart_and_not_in_the_total() {
    let t = accounts(NonFossilMethod::OwnAndGreen);
    close(&t, BIOMASS, "co2_biomass_memo_t", 524.1);
    close(&t, BIOMASS, "co2_t", 55.0);
    close(&t, BIOMASS, "co2_process_t", 0.0);
    close(&t, BIOMASS, "non_fossil_share", 159.69 / 171.98);
}

#[test]
fn on_site_pv_and_green_certificates_give_the_non_fossil_share() {
    let t = accounts(NonFossilMethod::OwnAndGreen);
    close(&t, PV, "energy_tce", 109.875);
    close(&t, PV, "energy_use_tce", 122.165);
    close(&t, PV, "onsite_generation_kwh", 120_000.0);
    close(&t, PV, "onsite_self_use_kwh", 100_000.0);
    close(&t, PV, "green_kwh_counted", 80_000.0);
    close(&t, PV, "non_fossil_tce", 22.122);
    close(&t, PV, "non_fossil_share", 22.122 / 122.165);
    close(&t, PV, "co2_t", 328.11);
    let with_grid = accounts(NonFossilMethod::WithGridShare);
    close(&with_grid, PV, "non_fossil_tce", 35.8868);
    close(&with_grid, PV, "non_fossil_share", 35.8868 / 122.165);
}

#[test]
fn a_process_row_that_does_not_fit_its_group_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_reference(dir.path());
    let process = dir.path().join("process.csv");
    let mut text = std::fs::read_to_string(&process).unwrap();
    text.push_str(&format!("{PV},2026-11,clinker,10,,,,,,x\n{CEMENT},2026-12,clinker,10,65,,,,,x\n{CERAMICS},2026-12,calcite,10,,,,,,x\n"));
    std::fs::write(&process, text).unwrap();
    let config = AnalyticsConfig::load(&path).unwrap();
    let errors = Reference::load(&config).unwrap_err().to_string();
    for want in [
        "process.csv:5:3: material: clinker for product group \"textile_dyeing\"",
        "process.csv:6:6: mgo_percent: give both cao_percent and mgo_percent",
        "process.csv:7:9: purity_percent: is empty",
    ] {
        assert!(errors.contains(want), "{want:?} not in:\n{errors}");
    }
}
