//! Equipping rates (GB 17167: meters installed over the flows that must be metered), worked by
//! hand. One plant lists five electricity flows in metering-points.csv: the incomer (boundary,
//! metered), two main sub-units (the kiln line metered, the raw-mill line not) and two main
//! pieces of equipment (fan 1 metered, fan 2 not), and one natural-gas incomer (metered).
//! The test's rules give electricity two editions that differ on purpose: 100/100/95 from
//! 2007-01-01 ("GB 17167-2006"), 100/50/50 from 2026-02-01 ("GB 17167-2025", check); natural gas
//! has no requirement.
//!   January: boundary 1/1 = 100 %; sub-units 1/2 = 50 % < 100 %; equipment 1/2 = 50 % < 95 %:
//!            two findings, each naming the unmetered flow, citing the 2006 row; grade B.
//!   February: 50 % >= 50 % at both levels: no finding; grade A.

use analytics::accounts::{AccountsSpec, Tables};
use analytics::config::{AnalyticsConfig, NonFossilMethod};
use analytics::load::CounterReadings;
use analytics::period::PeriodKind;
use analytics::reference::{ElectricityMethod, Reference};
use chrono::NaiveDate;
use readings::Medium;

const E: &str = "91430100MA7D00101Q";

fn counter(meter: &str, medium: Medium, unit: &str, values: [f64; 3]) -> CounterReadings {
    let times = ["2025-12-31T16:00:00Z", "2026-01-31T16:00:00Z", "2026-02-28T16:00:00Z"].map(|t| t.parse::<chrono::DateTime<chrono::Utc>>().unwrap().timestamp_millis());
    CounterReadings {
        enterprise: E.into(),
        site: "p".into(),
        meter: meter.into(),
        medium,
        quantity: if medium == Medium::Electricity { "active_energy_import".into() } else { "volume".into() },
        unit: unit.into(),
        points: times.into_iter().zip(values).collect(),
        unusable: Vec::new(),
    }
}

/// Writes the reference files with `points` as metering-points.csv; returns the config's path.
fn reference_dir(dir: &std::path::Path, points: &str) -> std::path::PathBuf {
    let files = [
        ("enterprises.csv", format!("id,name,industry_code,region,grid_region,product_group\n{E},P,C3011,Hunan,central,cement_clinker\n")),
        (
            "meters.csv",
            format!(
                "meter,enterprise,site,medium,role,accuracy_class,calibration_due,max_rate\n\
                 grid,{E},p,electricity,boundary,1,2030-01-01,100\n\
                 kiln,{E},p,electricity,area,1,2030-01-01,100\n\
                 fan-1,{E},p,electricity,device,1,2030-01-01,100\n\
                 gas-main,{E},p,natural_gas,boundary,2,2030-01-01,100\n"
            ),
        ),
        ("production.csv", "enterprise,month,product,quantity,unit,output_value_10k_cny\n".to_owned()),
        (
            "energy.toml",
            "[[coefficient]]\nmedium = \"electricity\"\nunit = \"kWh\"\nmethod = \"equivalent\"\nkgce_per_unit = 0.1229\nsource = \"t\"\n\
             [[coefficient]]\nmedium = \"natural_gas\"\nunit = \"m3\"\nkgce_per_unit = 1.2143\nsource = \"t\"\n"
                .to_owned(),
        ),
        ("emission.toml", "[[grid]]\nyear = 2026\nregion = \"central\"\nkg_co2_per_kwh = 0.5271\nsource = \"t\"\n[[fuel]]\nmedium = \"natural_gas\"\nunit = \"m3\"\nkg_co2_per_unit = 2.162\nsource = \"t\"\n".to_owned()),
        (
            "quality.toml",
            "tolerance_percent = 5\n\
             [[requirement]]\nmedium = \"electricity\"\narea_percent = 0\nmax_accuracy_class = 1.0\nequipping = { boundary = 100, sub_unit = 100, equipment = 95 }\nedition = \"GB 17167-2006\"\napplies_from = \"2007-01-01\"\nsource = \"old\"\n\
             [[requirement]]\nmedium = \"electricity\"\narea_percent = 0\nmax_accuracy_class = 1.0\nequipping = { boundary = 100, sub_unit = 50, equipment = 50 }\nedition = \"GB 17167-2025\"\napplies_from = \"2026-02-01\"\nsource = \"new\"\ncheck = true\n\
             [[grade]]\ngrade = \"A\"\nmax_findings = 0\n[[grade]]\ngrade = \"B\"\n"
                .to_owned(),
        ),
        ("metering-points.csv", points.to_owned()),
        (
            "analytics.toml",
            "[reference]\nenterprises = \"enterprises.csv\"\nmeters = \"meters.csv\"\nproduction = \"production.csv\"\n\
             energy_coefficients = \"energy.toml\"\nemission_factors = \"emission.toml\"\ndata_quality = \"quality.toml\"\nmetering_points = \"metering-points.csv\"\n"
                .to_owned(),
        ),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir.join("analytics.toml")
}

#[test]
fn equipping_rates_by_hand_and_by_the_edition_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let points = format!(
        "enterprise,site,point,level,medium,meter\n\
         {E},p,incomer,boundary,electricity,grid\n\
         {E},p,kiln-line,sub_unit,electricity,kiln\n\
         {E},p,raw-mill-line,sub_unit,electricity,\n\
         {E},p,fan-1,equipment,electricity,fan-1\n\
         {E},p,fan-2,equipment,electricity,\n\
         {E},p,gas-incomer,boundary,natural_gas,gas-main\n"
    );
    let config = AnalyticsConfig::load(&reference_dir(dir.path(), &points)).unwrap();
    let reference = Reference::load(&config).unwrap_or_else(|e| panic!("{e}"));
    let spec = AccountsSpec {
        kind: PeriodKind::Month,
        from: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        to: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
        method: ElectricityMethod::Equivalent,
        gap_h: 10_000.0,
        non_fossil: NonFossilMethod::OwnAndGreen,
    };
    let counters = [
        counter("grid", Medium::Electricity, "kWh", [0.0, 1000.0, 2000.0]),
        counter("kiln", Medium::Electricity, "kWh", [0.0, 600.0, 1200.0]),
        counter("gas-main", Medium::NaturalGas, "m3", [0.0, 100.0, 200.0]),
    ];
    let (tables, _) = Tables::compute(&counters, &reference, spec, &[]).unwrap();

    let rates = &tables.equipping;
    let col = |name: &str| -> Vec<String> { rates.column(name).unwrap().cast(&polars::prelude::DataType::String).unwrap().str().unwrap().iter().map(|v| v.unwrap_or("").to_owned()).collect() };
    let rows: Vec<String> = (0..rates.height())
        .map(|i| format!("{} {} {} {}/{} {} req {} [{}]", col("period")[i], col("medium")[i], col("level")[i], col("equipped")[i], col("points")[i], col("rate_percent")[i], col("required_percent")[i], col("unequipped")[i]))
        .collect();
    assert_eq!(
        rows,
        [
            "2026-01 electricity boundary 1/1 100.0 req 100.0 []",
            "2026-01 electricity sub_unit 1/2 50.0 req 100.0 [p/raw-mill-line]",
            "2026-01 electricity equipment 1/2 50.0 req 95.0 [p/fan-2]",
            "2026-01 natural_gas boundary 1/1 100.0 req  []",
            "2026-02 electricity boundary 1/1 100.0 req 100.0 []",
            "2026-02 electricity sub_unit 1/2 50.0 req 50.0 [p/raw-mill-line]",
            "2026-02 electricity equipment 1/2 50.0 req 50.0 [p/fan-2]",
            "2026-02 natural_gas boundary 1/1 100.0 req  []",
        ]
    );

    let findings: Vec<String> = tables.finding_list.iter().filter(|f| f.finding.starts_with("equipping")).map(|f| format!("{} {} | {} | {}", f.period, f.finding, f.meter, f.source)).collect();
    assert_eq!(
        findings,
        [
            "2026-01 equipping rate of main sub-units electricity: 1 of 2 flows metered (50.0 %); 100 % is required | p/raw-mill-line | GB 17167-2006: old",
            "2026-01 equipping rate of main equipment electricity: 1 of 2 flows metered (50.0 %); 95 % is required | p/fan-2 | GB 17167-2006: old",
        ]
    );
    let grades: Vec<&str> = tables.quality.column("grade").unwrap().str().unwrap().iter().map(|g| g.unwrap()).collect();
    assert_eq!(grades, ["B", "A"], "the findings count in the grade");
}

/// Every problem of the points file is named with its line and column: a meter not registered
/// at the site, a meter of another medium, a level that is not one, a flow listed twice, a
/// flow named with a space.
#[test]
fn a_points_file_with_mistakes_is_refused_line_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let points = format!(
        "enterprise,site,point,level,medium,meter\n\
         {E},p,incomer,boundary,electricity,no-such-meter\n\
         {E},p,kiln-line,sub_unit,electricity,gas-main\n\
         {E},p,mill,workshop,electricity,\n\
         {E},p,incomer,boundary,electricity,grid\n\
         {E},p,kiln line 2,sub_unit,electricity,\n"
    );
    let config = AnalyticsConfig::load(&reference_dir(dir.path(), &points)).unwrap();
    let e = Reference::load(&config).err().expect("refused").to_string();
    println!("{e}");
    for (line, column, says) in [
        (2, "meter", "no-such-meter is not in the meters file at site p"),
        (3, "meter", "gas-main measures natural_gas, not electricity"),
        (4, "level", "is not a level of metering; expected boundary, sub_unit or equipment"),
        (5, "point", "incomer at site p is already on line 2"),
        (6, "point", "\"kiln line 2\" has a space"),
    ] {
        assert!(e.lines().any(|l| l.contains(&format!("metering-points.csv:{line}:")) && l.contains(column) && l.contains(says)), "line {line} {column}: {says}\n{e}");
    }
}
