//! Meter rules by edition: a period is graded by the edition of the standard in force on its first
//! day. The test's rules give electricity two editions that differ on purpose: "GB 17167-2006"
//! (from 2007-01-01) asks area sub-meters to cover 100 % of the boundary flow, "GB 17167-2025"
//! (from 2026-02-01, marked check) 50 %; tolerance 5 %. A plant's boundary meter counts 1,000 kWh
//! in January 2026 and again in February, its one area meter 600 kWh each month: 60 % coverage.
//!   January (2006 edition): 60 % < 95 %: one finding, citing GB 17167-2006; grade B.
//!   February (2025 edition): 60 % >= 45 %: no finding; grade A.

use analytics::accounts::{meter_frame, meter_periods, AccountsSpec};
use analytics::config::{AnalyticsConfig, NonFossilMethod};
use analytics::load::CounterReadings;
use analytics::period::PeriodKind;
use analytics::quality;
use analytics::reference::{ElectricityMethod, Reference};
use chrono::NaiveDate;
use readings::Medium;

const E: &str = "91430100MA7D00101Q";

fn counter(meter: &str, values: [f64; 3]) -> CounterReadings {
    let times = ["2025-12-31T16:00:00Z", "2026-01-31T16:00:00Z", "2026-02-28T16:00:00Z"].map(|t| t.parse::<chrono::DateTime<chrono::Utc>>().unwrap().timestamp_millis());
    CounterReadings {
        enterprise: E.into(),
        site: "p".into(),
        meter: meter.into(),
        medium: Medium::Electricity,
        quantity: "active_energy_import".into(),
        unit: "kWh".into(),
        points: times.into_iter().zip(values).collect(),
        unusable: Vec::new(),
    }
}

#[test]
fn each_period_is_graded_by_the_edition_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("enterprises.csv", format!("id,name,industry_code,region,grid_region,product_group\n{E},P,C3011,Hunan,central,cement_clinker\n")),
        (
            "meters.csv",
            format!("meter,enterprise,site,medium,role,accuracy_class,calibration_due,max_rate\ngrid,{E},p,electricity,boundary,1,2030-01-01,100\nkiln,{E},p,electricity,area,1,2030-01-01,100\n"),
        ),
        ("production.csv", "enterprise,month,product,quantity,unit,output_value_10k_cny\n".to_owned()),
        ("energy.toml", "[[coefficient]]\nmedium = \"electricity\"\nunit = \"kWh\"\nmethod = \"equivalent\"\nkgce_per_unit = 0.1229\nsource = \"t\"\n".to_owned()),
        ("emission.toml", "[[grid]]\nyear = 2026\nregion = \"central\"\nkg_co2_per_kwh = 0.5271\nsource = \"t\"\n".to_owned()),
        (
            "quality.toml",
            "tolerance_percent = 5\n\
             [[requirement]]\nmedium = \"electricity\"\narea_percent = 100\nmax_accuracy_class = 1.0\nedition = \"GB 17167-2006\"\napplies_from = \"2007-01-01\"\nsource = \"old\"\n\
             [[requirement]]\nmedium = \"electricity\"\narea_percent = 50\nmax_accuracy_class = 1.0\nedition = \"GB 17167-2025\"\napplies_from = \"2026-02-01\"\nsource = \"new\"\ncheck = true\n\
             [[grade]]\ngrade = \"A\"\nmax_findings = 0\n[[grade]]\ngrade = \"B\"\n"
                .to_owned(),
        ),
        (
            "analytics.toml",
            "[reference]\nenterprises = \"enterprises.csv\"\nmeters = \"meters.csv\"\nproduction = \"production.csv\"\n\
             energy_coefficients = \"energy.toml\"\nemission_factors = \"emission.toml\"\ndata_quality = \"quality.toml\"\n"
                .to_owned(),
        ),
    ];
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let config = AnalyticsConfig::load(&dir.path().join("analytics.toml")).unwrap();
    let reference = Reference::load(&config).unwrap_or_else(|e| panic!("{e}"));
    let spec = AccountsSpec {
        kind: PeriodKind::Month,
        from: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        to: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
        method: ElectricityMethod::Equivalent,
        gap_h: 10_000.0,
        non_fossil: NonFossilMethod::OwnAndGreen,
    };
    let counters = [counter("grid", [0.0, 1000.0, 2000.0]), counter("kiln", [0.0, 600.0, 1200.0])];
    let (rows, _) = meter_periods(&counters, &reference, spec, &[]).unwrap();
    let findings = quality::findings(&rows, &reference, &reference.quality);
    let text: Vec<String> = findings.iter().map(|f| format!("{} {} | {}", f.period, f.finding, f.source)).collect();
    assert_eq!(text, ["2026-01 area sub-meters (1) cover 60.0 % of the boundary electricity; 100 % is required | GB 17167-2006: old"]);

    let graded = quality::graded(quality::evidence(&meter_frame(&rows).unwrap()).unwrap(), &findings, &reference.quality).unwrap();
    let grades: Vec<&str> = graded.column("grade").unwrap().str().unwrap().iter().map(|g| g.unwrap()).collect();
    assert_eq!(grades, ["B", "A"]);

    // The edition in force, and the check mark the report shows with it.
    let feb = NaiveDate::from_ymd_opt(2026, 2, 1).unwrap();
    let jan = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap();
    assert_eq!(reference.quality.requirement_on(Medium::Electricity, jan).unwrap().cited(), "GB 17167-2006: old");
    assert_eq!(reference.quality.requirement_on(Medium::Electricity, feb).unwrap().cited(), "GB 17167-2025: new [check]");
}
