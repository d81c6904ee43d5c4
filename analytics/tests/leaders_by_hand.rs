//! Leader selection on a hand-built product group with a known answer, and each gate failing
//! alone.
//!
//! Group "clinker", energy programme, kgce/t, lower is better; advanced value 80, sector
//! benchmark 100, baseline 117. Gates: 10 months at 90 % coverage, grade B or better, calibrated,
//! no findings, at least 100 tce. Selection: top 40 % of the eligible, at least 3 eligible; group
//! benchmark = mean of the best 20 %.
//!
//! | ent | kgce/t | t      | CO2 t | months | grade | eligible |
//! | E1  | 90     | 10,000 | 2,000 | 12     | A     | yes, rank 1 |
//! | E2  | 95     | 20,000 | 4,000 | 12     | A     | yes, rank 2 |
//! | E3  | 95     |  5,000 | 1,000 | 12     | B     | yes, rank 2 (tie) |
//! | E4  | 110    |  8,000 | 1,500 | 12     | A     | yes, rank 4 |
//! | E5  | 120    | 10,000 | 2,500 | 12     | C     | no: grade |
//! | E6  | 85     |  4,000 |   700 |  9     | A     | no: months |
//! | E7  | -      |   -    |   300 | 12     | A     | no: no production |
//! | E8 (another group) | 70 | ... | ignored |
//!
//! 4 eligible, 40 % -> ceil(1.6) = 2 places; E2 and E3 tie at rank 2, so E1, E2, E3 are selected
//! (3 for 2 places). The candidates' level is 95. Values of the group: 85 90 95 95 110 120:
//! median 95; best 20 % = ceil(1.2) = 2 values, benchmark (85 + 90) / 2 = 87.5.
//! Savings at 95: E4 (110 - 95) x 8,000 / 1000 = 120 tce, E5 (120 - 95) x 10,000 / 1000 = 250
//! tce: 370 tce; CO2 in proportion: 1,500 x 15/110 + 2,500 x 25/120 = 204.545454 + 520.833333
//! = 725.378788 t.
//! E1: better than 4 of the other 5 values: percentile 80; margin to the advanced value
//! (80 - 90) / 80 = -0.125; to the group benchmark (87.5 - 90) / 87.5 = -0.0285714.
//! Placement: E1 at or better than the benchmark, E4 between, E5 worse than the baseline.

use analytics::leaders::rules::{Better, Gates, Indicator, Programme, ProgrammeRules, Selection};
use analytics::leaders::{select, Facts, Placement};
use analytics::reference::Practices;

const GRADES: [&str; 4] = ["A", "B", "C", "D"];

fn facts(e: &str, group: &str, kgce: Option<f64>, production: Option<f64>, co2: f64, months: usize, grade: &str) -> Facts {
    let mut coverage = vec![0.95; months];
    coverage.extend(vec![0.5; 12 - months]);
    Facts {
        enterprise: e.into(),
        name: format!("{e} Co."),
        product_group: group.into(),
        kgce_per_unit: kgce,
        tce_per_10k_cny: None,
        water_m3_per_unit: None,
        co2_t_per_unit: None,
        production,
        output_value_10k_cny: None,
        energy_tce: kgce.zip(production).map_or(500.0, |(k, p)| k * p / 1000.0),
        water_m3: 0.0,
        co2_t: co2,
        monthly_coverage: coverage,
        grade: grade.into(),
        findings: 0,
        meters_past_calibration: 0,
        has_data: true,
        unreported_months: Vec::new(),
        non_fossil_share: Some(0.25),
        practices: Practices { energy_management_system: Some(true), measurement_management_system: Some(true), online_monitoring: Some(true), withdrawal_permit: Some(true), water_meters_verified: Some(true) },
    }
}

fn rules() -> ProgrammeRules {
    ProgrammeRules {
        programme: Programme::Energy,
        indicator: Indicator::KgcePerUnit,
        unit: "kgce/t".into(),
        better: Better::Lower,
        advanced_value: Some(80.0),
        benchmark: Some(100.0),
        baseline: Some(117.0),
        advanced_value_edition: None,
        benchmark_edition: None,
        source: "test".into(),
        check: false,
        gates: Gates {
            min_months: Some(10),
            month_coverage: 0.9,
            min_grade: Some("B".into()),
            calibrated: true,
            max_findings: Some(0),
            min_energy_tce: Some(100.0),
            min_water_m3: None,
            meets_advanced_value: false,
            meets_benchmark: false,
            min_non_fossil_share: None,
            energy_management_system: false,
            measurement_management_system: false,
            online_monitoring: false,
            withdrawal_permit: false,
            water_meters_verified: false,
        },
        selection: Selection { top_n: None, top_share: Some(0.4), min_group_size: 3, benchmark_share: 0.2 },
    }
}

fn group() -> Vec<Facts> {
    vec![
        facts("E1", "clinker", Some(90.0), Some(10_000.0), 2_000.0, 12, "A"),
        facts("E2", "clinker", Some(95.0), Some(20_000.0), 4_000.0, 12, "A"),
        facts("E3", "clinker", Some(95.0), Some(5_000.0), 1_000.0, 12, "B"),
        facts("E4", "clinker", Some(110.0), Some(8_000.0), 1_500.0, 12, "A"),
        facts("E5", "clinker", Some(120.0), Some(10_000.0), 2_500.0, 12, "C"),
        facts("E6", "clinker", Some(85.0), Some(4_000.0), 700.0, 9, "A"),
        facts("E7", "clinker", None, None, 300.0, 12, "A"),
        facts("E8", "glass", Some(70.0), Some(1_000.0), 100.0, 12, "A"),
    ]
}

fn close(got: Option<f64>, want: f64, what: &str) {
    let got = got.unwrap_or_else(|| panic!("{what}: none"));
    assert!((got - want).abs() < 1e-6, "{what}: {got} != {want}");
}

#[test]
fn the_hand_built_group_gives_the_known_answer() {
    let r = select(&rules(), "clinker", &group(), &GRADES);
    let of = |e: &str| r.assessments.iter().find(|a| a.enterprise == e).unwrap();
    assert_eq!((r.enterprises, r.with_value, r.eligible, r.selected), (7, 6, 4, 3));
    let selected: Vec<&str> = r.assessments.iter().filter(|a| a.selected).map(|a| a.enterprise.as_str()).collect();
    assert_eq!(selected, ["E1", "E2", "E3"]);
    assert_eq!([of("E1").rank, of("E2").rank, of("E3").rank, of("E4").rank], [Some(1), Some(2), Some(2), Some(4)]);
    assert!(of("E2").tied_at_cut && of("E3").tied_at_cut && !of("E1").tied_at_cut);
    assert_eq!(r.note, "3 selected for 2 places: ties at the cut are all selected");

    assert_eq!(of("E5").failed, ["data-quality grade C (B or better required)"]);
    assert_eq!(of("E6").failed, ["9 month(s) with data (at least 10 at 90% coverage required)"]);
    assert_eq!(of("E7").failed, ["no kgce_per_unit: production or output value missing or zero, or no readings of its medium"]);
    assert!(r.assessments.iter().all(|a| a.enterprise != "E8"));

    close(r.level, 95.0, "level");
    close(r.median, 95.0, "median");
    close(r.group_benchmark, 87.5, "group benchmark");
    close(Some(r.savings), 370.0, "savings tce");
    close(Some(r.savings_co2_t), 725.378788, "savings CO2");
    assert_eq!(r.savings_unit, "tce");
    close(of("E1").percentile, 80.0, "E1 percentile");
    close(of("E1").margin_to_advanced, -0.125, "E1 margin to advanced");
    close(of("E1").margin_to_group_benchmark, -0.0285714, "E1 margin to group benchmark");
    assert_eq!(of("E1").placement, Some(Placement::AtBenchmark));
    assert_eq!(of("E4").placement, Some(Placement::Between));
    assert_eq!(of("E5").placement, Some(Placement::BelowBaseline));
    assert_eq!(of("E7").placement, None);
}

#[test]
fn a_group_below_its_smallest_size_selects_no_one() {
    let mut rules = rules();
    rules.selection.min_group_size = 5;
    let r = select(&rules, "clinker", &group(), &GRADES);
    assert_eq!(r.selected, 0);
    assert_eq!(r.level, None);
    assert_eq!(r.note, "4 eligible enterprise(s), fewer than the 5 the rules require: no one is selected");
}

/// Every gate, failing alone for one enterprise, excludes exactly that enterprise, with that
/// reason and no other.
#[test]
fn each_gate_failing_alone_excludes_exactly_that_enterprise() {
    let mut strict = rules();
    strict.gates.meets_advanced_value = true;
    strict.gates.meets_benchmark = true;
    strict.gates.min_water_m3 = Some(10.0);
    strict.gates.min_non_fossil_share = Some(0.2);
    strict.gates.energy_management_system = true;
    strict.gates.measurement_management_system = true;
    strict.gates.online_monitoring = true;
    strict.gates.withdrawal_permit = true;
    strict.gates.water_meters_verified = true;
    let base = || -> Vec<Facts> {
        (1..=5)
            .map(|i| {
                let mut f = facts(&format!("E{i}"), "clinker", Some(70.0 + i as f64), Some(10_000.0), 1_000.0, 12, "A");
                f.water_m3 = 100.0;
                f
            })
            .collect()
    };
    assert!(select(&strict, "clinker", &base(), &GRADES).assessments.iter().all(|a| a.eligible()), "the base group passes every gate");

    type Breaker = fn(&mut Facts);
    let cases: [(&str, Breaker, &str); 19] = [
        ("readings", |f| f.has_data = false, "no boundary readings in the window"),
        ("production", |f| f.kgce_per_unit = None, "no kgce_per_unit: production or output value missing or zero, or no readings of its medium"),
        ("unreported production", |f| f.unreported_months = vec!["2025-03".into(), "2025-07".into()], "no production reported for 2025-03 2025-07, month(s) with metered use: no kgce_per_unit over part of the output"),
        ("months", |f| f.monthly_coverage[..3].fill(0.89), "9 month(s) with data (at least 10 at 90% coverage required)"),
        ("grade", |f| f.grade = "C".into(), "data-quality grade C (B or better required)"),
        ("calibration", |f| f.meters_past_calibration = 1, "1 boundary meter(s) past calibration"),
        ("configuration", |f| f.findings = 2, "2 meter-configuration finding(s) (at most 0)"),
        ("energy threshold", |f| f.energy_tce = 99.5, "99.5 tce used (100 required)"),
        ("water threshold", |f| f.water_m3 = 9.0, "9 m3 withdrawn (10 required)"),
        ("advanced value", |f| f.kgce_per_unit = Some(80.5), "80.5 kgce/t misses the advanced value 80"),
        ("benchmark", |f| f.kgce_per_unit = Some(100.25), "100.25 kgce/t misses the sector benchmark 100"),
        ("non-fossil share", |f| f.non_fossil_share = Some(0.1995), "non-fossil energy 19.95% of energy use (20% required)"),
        ("non-fossil share unknown", |f| f.non_fossil_share = None, "no non-fossil share (no energy use in the window; 20% required)"),
        ("energy management", |f| f.practices.energy_management_system = Some(false), "no energy management system (GB/T 23331)"),
        ("energy management unknown", |f| f.practices.energy_management_system = None, "energy management system (GB/T 23331) not recorded in the enterprises file"),
        ("measurement management", |f| f.practices.measurement_management_system = Some(false), "no measurement management system (GB/T 19022)"),
        ("on-line monitoring", |f| f.practices.online_monitoring = Some(false), "no on-line energy monitoring system"),
        ("withdrawal permit", |f| f.practices.withdrawal_permit = Some(false), "no water withdrawal permit"),
        ("water meters", |f| f.practices.water_meters_verified = Some(false), "no water meters per GB/T 24789, verified"),
    ];
    for (gate, breaker, reason) in cases {
        let mut group = base();
        breaker(&mut group[2]);
        // The advanced value (80) is stricter than the benchmark (100): to see the benchmark
        // gate alone, that one run leaves the advanced-value gate off.
        let mut rules = strict.clone();
        rules.gates.meets_advanced_value = gate != "benchmark";
        let r = select(&rules, "clinker", &group, &GRADES);
        let excluded: Vec<(&str, &Vec<String>)> = r.assessments.iter().filter(|a| !a.eligible()).map(|a| (a.enterprise.as_str(), &a.failed)).collect();
        assert_eq!(excluded, [("E3", &vec![reason.to_owned()])], "{gate}");
    }
}
