//! Accounts of a small data set computed by hand, through the whole path: readings written to a
//! Parquet store, scanned back with polars, turned into consumption, tce, water, CO2 and
//! intensities.
//!
//! Enterprise 91350100M000100Y43, China Standard Time, east grid, product group cement_clinker.
//! January 2023 runs from 2022-12-31T16:00Z to 2023-01-31T16:00Z, February to 2023-02-28T16:00Z.
//!
//! grid (electricity, boundary, register wraps at 100,000 kWh), polls at irregular times:
//!   12-31 12:00 99000 | 12-31 20:00 99400 | 01-15 20:00 1000 (wrapped: +1600) | 01-31 12:00 3000
//!   | 01-31 20:00 3800 | 02-28 12:00 9000 | 02-28 20:00 9400
//!   Jan start lies half-way through 99000..99400 -> 99200; Feb start half-way through
//!   3000..3800 -> 3400; Mar start -> 9200.
//!   Jan = 200 + 1600 + 2000 + 400 = 4200 kWh;  Feb = 400 + 5200 + 200 = 5800 kWh.
//! kiln (electricity, area sub-meter): 0 | 2100 | 4420 at the month starts -> Jan 2100, Feb 2320;
//!   area coverage 2100/4200 = 0.5 and 2320/5800 = 0.4.
//! gas (natural gas, boundary), replaced on 01-12: 5000 | 01-10 5300 | 01-12 20 (new meter: the
//!   48 h interval is excluded, never negative) | 01-31 16:00 520 | 02-28 16:00 1520
//!   Jan = 300 + 500 = 800 m3; Feb = 1000 m3.
//! diesel (boundary, mass in t): 10.0 | 01-20 0.0 (a momentary zero: dropped) | 12.5 | 14.0
//!   Jan = 2.5 t; Feb = 1.5 t.
//! water (boundary, at most 10 m3/h, steps of 1 m3): 100 | 01-31 16:00 1100 | 02-10 16:00 1300 |
//!   02-10 17:00 1350 (+50 in an hour: implausible, excluded) | 02-28 16:00 1900
//!   Jan = 1000 m3; Feb = 200 + 550 = 750 m3.
//! co2 (a direct CO2 meter, t): 50 | 53 | 55 -> Jan 3 t, Feb 2 t.
//! Every boundary meter has a max_rate (none is reached), so none is a finding for lacking one.
//!
//! Coefficients (GB/T 2589-2020): electricity 0.1229 kgce/kWh, natural gas 1.2143 kgce/m3, diesel
//! 1.4571 kgce/kg. CO2: east grid 2023 0.5500 kg/kWh, natural gas 2.1622 kg/m3, diesel 3.0959
//! kg/kg.
//!
//! January: 4200 x 0.1229 = 516.18; 800 x 1.2143 = 971.44; 2500 x 1.4571 = 3642.75;
//!   energy 5130.37 kgce = 5.13037 tce.
//!   CO2 4200 x 0.55 = 2310; 800 x 2.1622 = 1729.76; 2500 x 3.0959 = 7739.75; direct 3000;
//!   14779.51 kg = 14.77951 t.
//!   Production: 1000 t clinker (30.0 x 10k CNY) and 200 t slag powder (5.0): output 35.0.
//!   5.13037 kgce/t; 0.146582 tce per 10k CNY; 1.0 m3/t; 0.01477951 tCO2/t; 0.422272 tCO2 per 10k CNY.
//! February: 5800 x 0.1229 = 712.82; 1000 x 1.2143 = 1214.3; 1500 x 1.4571 = 2185.65;
//!   energy 4112.77 kgce = 4.11277 tce.
//!   CO2 3190 + 2162.2 + 4643.85 + 2000 = 11996.05 kg = 11.99605 t.
//!   Production 1250 t clinker, output 40.0: 3.290216 kgce/t; 0.10281925 tce per 10k CNY;
//!   0.6 m3/t; 0.00959684 tCO2/t; 0.29990125 tCO2 per 10k CNY.

use std::path::Path;

use analytics::accounts::{self, AccountsSpec};
use analytics::config::AnalyticsConfig;
use analytics::consumption::{counter_series, CounterLimits};
use analytics::period::PeriodKind;
use analytics::reference::{ElectricityMethod, Reference};
use chrono::{DateTime, NaiveDate, Utc};
use polars::prelude::*;
use readings::{Kind, Medium, Quality, Reading};

const ENTERPRISE: &str = "91350100M000100Y43";

fn t(s: &str) -> DateTime<Utc> {
    format!("2023-{s}:00Z").parse().or_else(|_| format!("{s}:00Z").parse()).unwrap()
}

fn counter(meter: &str, medium: Medium, quantity: &str, points: &[(&str, f64)]) -> Vec<Reading> {
    let quantity: readings::Quantity = quantity.parse().unwrap();
    points
        .iter()
        .map(|&(time, value)| Reading {
            time: t(time),
            enterprise: ENTERPRISE.parse().unwrap(),
            site: "plant".parse().unwrap(),
            meter: meter.parse().unwrap(),
            medium,
            quantity,
            kind: Kind::Counter,
            unit: quantity.canonical_unit(),
            value: Some(value),
            quality: Quality::Good,
        })
        .collect()
}

fn write_reference(dir: &Path) -> std::path::PathBuf {
    let files = [
        ("enterprises.csv", format!("id,name,industry_code,region,grid_region,product_group\n{ENTERPRISE},Hand Computed Co.,C3011,Fujian,east,cement_clinker\n")),
        (
            "meters.csv",
            format!(
                "meter,enterprise,site,medium,role,accuracy_class,calibration_due,rollover,max_rate,resolution\n\
                 grid,{ENTERPRISE},plant,electricity,boundary,0.5,2030-01-01,100000,1000,\n\
                 kiln,{ENTERPRISE},plant,electricity,area,1,2030-01-01,,,\n\
                 gas,{ENTERPRISE},plant,natural_gas,boundary,2,2030-01-01,,100,\n\
                 diesel,{ENTERPRISE},plant,diesel,boundary,0.5,2030-01-01,,1,\n\
                 water,{ENTERPRISE},plant,water,boundary,2.5,2023-02-15,,10,1\n\
                 co2,{ENTERPRISE},plant,co2,boundary,2,2030-01-01,,1,\n"
            ),
        ),
        (
            "production.csv",
            format!(
                "enterprise,month,product,quantity,unit,output_value_10k_cny\n\
                 {ENTERPRISE},2023-01,cement_clinker,1000,t,30.0\n\
                 {ENTERPRISE},2023-01,slag_powder,200,t,5.0\n\
                 {ENTERPRISE},2023-02,cement_clinker,1250,t,40.0\n"
            ),
        ),
        (
            "energy.toml",
            "[[coefficient]]\nmedium = \"electricity\"\nunit = \"kWh\"\nmethod = \"equivalent\"\nkgce_per_unit = 0.1229\nsource = \"GB/T 2589-2020\"\n\n\
             [[coefficient]]\nmedium = \"natural_gas\"\nunit = \"m3\"\nkgce_per_unit = 1.2143\nsource = \"GB/T 2589-2020\"\n\n\
             [[coefficient]]\nmedium = \"diesel\"\nunit = \"kg\"\nkgce_per_unit = 1.4571\nsource = \"GB/T 2589-2020\"\n"
                .to_owned(),
        ),
        (
            "emission.toml",
            "[[grid]]\nyear = 2023\nregion = \"east\"\nkg_co2_per_kwh = 0.5500\nsource = \"MEE/NBS 2023\"\n\n\
             [[fuel]]\nmedium = \"natural_gas\"\nunit = \"m3\"\nkg_co2_per_unit = 2.1622\nsource = \"x\"\n\n\
             [[fuel]]\nmedium = \"diesel\"\nunit = \"kg\"\nkg_co2_per_unit = 3.0959\nsource = \"x\"\n"
                .to_owned(),
        ),
        (
            "quality.toml",
            "tolerance_percent = 5\n\
             [[requirement]]\nmedium = \"electricity\"\narea_percent = 100\nmax_accuracy_class = 1.0\nsource = \"GB 17167\"\n\
             [[requirement]]\nmedium = \"water\"\narea_percent = 0\nmax_accuracy_class = 2.0\nsource = \"GB/T 24789\"\n\
             [[grade]]\ngrade = \"A\"\nmin_coverage = 0.9\n\
             [[grade]]\ngrade = \"D\"\n"
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
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir.join("analytics.toml")
}

fn readings() -> Vec<Reading> {
    let mut all = Vec::new();
    all.extend(counter(
        "grid",
        Medium::Electricity,
        "active_energy_import",
        &[("2022-12-31T12:00", 99000.0), ("2022-12-31T20:00", 99400.0), ("01-15T20:00", 1000.0), ("01-31T12:00", 3000.0), ("01-31T20:00", 3800.0), ("02-28T12:00", 9000.0), ("02-28T20:00", 9400.0)],
    ));
    all.extend(counter("kiln", Medium::Electricity, "active_energy_import", &[("2022-12-31T16:00", 0.0), ("01-31T16:00", 2100.0), ("02-28T16:00", 4420.0)]));
    all.extend(counter(
        "gas",
        Medium::NaturalGas,
        "volume",
        &[("2022-12-31T16:00", 5000.0), ("01-10T16:00", 5300.0), ("01-12T16:00", 20.0), ("01-31T16:00", 520.0), ("02-28T16:00", 1520.0)],
    ));
    all.extend(counter("diesel", Medium::Diesel, "mass", &[("2022-12-31T16:00", 10.0), ("01-20T16:00", 0.0), ("01-31T16:00", 12.5), ("02-28T16:00", 14.0)]));
    all.extend(counter(
        "water",
        Medium::Water,
        "volume",
        &[("2022-12-31T16:00", 100.0), ("01-31T16:00", 1100.0), ("02-10T16:00", 1300.0), ("02-10T17:00", 1350.0), ("02-28T16:00", 1900.0)],
    ));
    all.extend(counter("co2", Medium::Co2, "mass", &[("2022-12-31T16:00", 50.0), ("01-31T16:00", 53.0), ("02-28T16:00", 55.0)]));
    // The same grid reading twice (a batch the store wrote twice after a crash): counted once.
    all.extend(counter("grid", Medium::Electricity, "active_energy_import", &[("01-31T12:00", 3000.0)]));
    all
}

fn f64_col(df: &DataFrame, name: &str) -> Vec<Option<f64>> {
    df.column(name).unwrap().f64().unwrap().iter().collect()
}

fn close(got: Option<f64>, want: f64, tolerance: f64, what: &str) {
    let got = got.unwrap_or_else(|| panic!("{what}: no value"));
    assert!((got - want).abs() <= tolerance, "{what}: {got} != {want}");
}

#[test]
fn a_hand_computed_plant_gives_the_hand_computed_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let config = AnalyticsConfig::load(&write_reference(dir.path())).unwrap();
    let reference = Reference::load(&config).unwrap();
    let store = dir.path().join("readings");
    readings::store::StoreWriter::open(&store).unwrap().write(&readings()).unwrap();

    let (from, to) = (NaiveDate::from_ymd_opt(2023, 1, 1).unwrap(), NaiveDate::from_ymd_opt(2023, 3, 1).unwrap());
    let counters = analytics::load::counters_from_parquet(&store, t("2022-12-30T00:00"), t("03-02T00:00"), &[]).unwrap();
    let spec = AccountsSpec { kind: PeriodKind::Month, from, to, method: ElectricityMethod::Equivalent, gap_h: 1.0, non_fossil: analytics::config::NonFossilMethod::OwnAndGreen };
    let (rows, notes) = accounts::meter_periods(&counters, &reference, spec, &[]).unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    let meters = accounts::meter_frame(&rows).unwrap();
    let production = accounts::production_frame(&reference, PeriodKind::Month, from, to).unwrap();
    let carbon = analytics::carbon::frame(&reference, PeriodKind::Month, from, to, spec.method, spec.non_fossil).unwrap();
    let table = accounts::accounts(&meters, &production, &carbon, &reference).unwrap();
    println!("{table}");

    let periods: Vec<String> = table.column("period").unwrap().str().unwrap().iter().map(|p| p.unwrap().to_owned()).collect();
    assert_eq!(periods, ["2023-01", "2023-02"]);
    let expected: [(&str, [f64; 2], f64); 9] = [
        ("energy_tce", [5.13037, 4.11277], 1e-9),
        ("electricity_net_kwh", [4200.0, 5800.0], 1e-6),
        ("water_m3", [1000.0, 750.0], 1e-6),
        ("co2_t", [14.77951, 11.99605], 1e-9),
        ("kgce_per_unit", [5.13037, 3.290216], 1e-9),
        ("tce_per_10k_cny", [0.146582, 0.10281925], 1e-6),
        ("water_m3_per_unit", [1.0, 0.6], 1e-9),
        ("co2_t_per_unit", [0.01477951, 0.00959684], 1e-9),
        ("co2_t_per_10k_cny", [0.422272, 0.29990125], 1e-6),
    ];
    for (column, want, tolerance) in expected {
        let got = f64_col(&table, column);
        for (i, w) in want.iter().enumerate() {
            close(got[i], *w, tolerance, &format!("{column} {}", periods[i]));
        }
    }

    // The quarter: January, February, and the first four hours of March (CST) that the grid
    // meter's last reading (02-28 20:00Z = 03-01 04:00 CST) covers: 200 kWh more. Electricity
    // 10200 kWh = 1253.58 kgce, gas 1800 m3 = 2185.74, diesel 4000 kg = 5828.4: 9.26772 tce
    // over 2250 t of clinker = 4.1189867 kgce/t; output value 75.
    let quarter = AccountsSpec { kind: PeriodKind::Quarter, ..spec };
    let (q_rows, _) = accounts::meter_periods(&counters, &reference, quarter, &[]).unwrap();
    let q_production = accounts::production_frame(&reference, PeriodKind::Quarter, from, to).unwrap();
    let q_carbon = analytics::carbon::frame(&reference, PeriodKind::Quarter, from, to, spec.method, spec.non_fossil).unwrap();
    let q_table = accounts::accounts(&accounts::meter_frame(&q_rows).unwrap(), &q_production, &q_carbon, &reference).unwrap();
    assert_eq!(q_table.column("period").unwrap().str().unwrap().get(0), Some("2023-Q1"));
    close(f64_col(&q_table, "energy_tce")[0], 9.26772, 1e-9, "Q1 energy");
    close(f64_col(&q_table, "kgce_per_unit")[0], 4.1189867, 1e-6, "Q1 kgce/t");
    close(f64_col(&q_table, "output_value_10k_cny")[0], 75.0, 1e-12, "Q1 output value");

    // The evidence: the wrap, the replacement, the glitch, the spike, the expired calibration.
    let of = |meter: &str, period: &str| rows.iter().find(|r| r.meter == meter && r.period == period).unwrap();
    assert_eq!(of("grid", "2023-01").usage.rollovers, 1);
    assert_eq!((of("gas", "2023-01").usage.resets, of("gas", "2023-01").usage.excluded_h), (1, 48.0));
    assert_eq!(of("diesel", "2023-01").usage.glitches, 1);
    assert_eq!((of("water", "2023-02").usage.implausible, of("water", "2023-02").usage.excluded_h), (1, 1.0));
    assert!(!of("water", "2023-01").calibration_expired && of("water", "2023-02").calibration_expired);

    // Meter configuration: the kiln covers half of January's and 40 % of February's boundary
    // electricity (100 % required); the water meter is class 2.5 where 2.0 is required.
    let findings = analytics::quality::findings(&rows, &reference, &reference.quality);
    let text: Vec<String> = findings.iter().map(|f| format!("{} {} {}", f.period, f.medium, f.finding)).collect();
    assert_eq!(
        text,
        [
            "2023-01 electricity area sub-meters (1) cover 50.0 % of the boundary electricity; 100 % is required",
            "2023-01 water boundary meter water is class 2.5; class 2 or better is required",
            "2023-02 electricity area sub-meters (1) cover 40.0 % of the boundary electricity; 100 % is required",
            "2023-02 water boundary meter water is class 2.5; class 2 or better is required",
        ]
    );
    // Readings a month apart cover nothing at a 1 h gap threshold: grade D; February has the
    // water meter past its calibration date.
    let graded = analytics::quality::graded(analytics::quality::evidence(&meters).unwrap(), &findings, &reference.quality).unwrap();
    let grades: Vec<&str> = graded.column("grade").unwrap().str().unwrap().iter().map(|g| g.unwrap()).collect();
    assert_eq!(grades, ["D", "D"]);
    let past: Vec<Option<u32>> = graded.column("meters_past_calibration").unwrap().cast(&DataType::UInt32).unwrap().u32().unwrap().iter().collect();
    assert_eq!(past, [Some(0), Some(1)]);

    let media = accounts::by_medium(&meters).unwrap();
    let electricity = media.clone().lazy().filter(col("medium").eq(lit("electricity"))).collect().unwrap();
    let coverage = f64_col(&electricity, "area_coverage");
    close(coverage[0], 0.5, 1e-12, "area coverage Jan");
    close(coverage[1], 0.4, 1e-12, "area coverage Feb");
}

/// Fifteen-minute polls of a counter with a daily load shape over two months, against the same
/// counter polled hourly: the monthly totals agree within the interpolation error at the two
/// boundaries. That error is bounded by one hourly interval's consumption on each side (about
/// 120 kWh here, 0.25 % of a month); with a smooth load it is far smaller, and the test holds it
/// to 0.01 %.
#[test]
fn a_quarter_of_the_polls_gives_the_same_monthly_totals() {
    let q = 15 * 60_000i64;
    let start = t("2022-12-25T00:00").timestamp_millis();
    let mut value = 1_000.0;
    let mut dense = Vec::new();
    for i in 0..(70 * 96) {
        let time = start + i * q;
        let hour = (i % 96) as f64 / 4.0;
        // 20 kW at night, 120 kW at midday, and some jitter in the poll times.
        let kw = 20.0 + 100.0 * (std::f64::consts::PI * hour / 24.0).sin().powi(2);
        value += kw * 0.25;
        let jitter = ((i * 7919) % 60) * 1000;
        dense.push((time + jitter, value));
    }
    let sparse: Vec<(i64, f64)> = dense.iter().step_by(4).copied().collect();
    let (a, b) = (counter_series(&dense, CounterLimits::default()), counter_series(&sparse, CounterLimits::default()));
    for (from, to) in [("2022-12-31T16:00", "01-31T16:00"), ("01-31T16:00", "02-28T16:00")] {
        let (from, to) = (t(from).timestamp_millis(), t(to).timestamp_millis());
        let (dense_total, sparse_total) = (a.period(from, to, 2.0).consumption, b.period(from, to, 2.0).consumption);
        assert!((dense_total - sparse_total).abs() <= 1e-4 * dense_total, "{dense_total} vs {sparse_total}");
        assert!(dense_total > 40_000.0, "{dense_total}");
        println!("dense {dense_total:.2} kWh, sparse {sparse_total:.2} kWh, difference {:.3} %", 100.0 * (dense_total - sparse_total) / dense_total);
    }
}
