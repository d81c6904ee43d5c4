//! Figures that used to come out wrong without a word (issue 12, items 13 to 16), through the
//! whole path a run takes: a Parquet store, `Job::prepare`, the monthly tables.
//!
//! January 2026 in China Standard Time runs from 2025-12-31T16:00Z to 2026-01-31T16:00Z: 744 h.



use analytics::accounts::Tables;
use analytics::frame::{numbers, strings};
use analytics::jobs::{Job, Source};
use analytics::period::PeriodKind;
use chrono::NaiveDate;
use crate::common::{electricity, hourly, store, t, write_reference, ENTERPRISE};
use polars::prelude::DataFrame;
use readings::Unit;

fn january(config: &std::path::Path, store: &std::path::Path) -> anyhow::Result<Tables> {
    let (from, to) = (NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(), NaiveDate::from_ymd_opt(2026, 2, 1).unwrap());
    let (job, _) = Job::prepare(config, Source::Parquet(Some(store.to_owned())), from, to, PeriodKind::Month, None, &[])?;
    job.tables(PeriodKind::Month)
}

fn number(df: &DataFrame, column: &str, row: usize) -> f64 {
    numbers(df, column).unwrap()[row].unwrap_or_else(|| panic!("{column}[{row}] is empty:\n{df}"))
}

fn close(got: f64, want: f64, what: &str) {
    assert!((got - want).abs() <= 1e-9 * want.abs().max(1.0), "{what}: {got} != {want}");
}

/// The same counter kept in kWh (as the collector keeps it), in MWh and in Wh (as another tool
/// may): every figure is the kWh store's. Before, MWh gave CO2 1000 times too low and Wh had
/// every interval thrown out as beyond max_rate.
#[test]
fn mwh_and_wh_stores_give_the_kwh_stores_figures() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_reference(dir.path(), &[&format!("grid,{ENTERPRISE},plant,electricity,boundary,0.5,2030-01-01,150,0.01")]);
    // 100 kWh an hour (the meter measures up to 150 kW), from before the month to after it.
    let kwh = hourly(t("2025-12-30T00:00"), t("2026-02-02T00:00"), 1_000.0, 100.0);
    let scaled = |f: f64| kwh.iter().map(|&(time, v)| (time, v * f)).collect::<Vec<_>>();
    let stores = [
        ("kWh", store(dir.path(), "kwh", &electricity("plant", "grid", Unit::KWh, &kwh))),
        ("MWh", store(dir.path(), "mwh", &electricity("plant", "grid", Unit::MWh, &scaled(1e-3)))),
        ("Wh", store(dir.path(), "wh", &electricity("plant", "grid", Unit::Wh, &scaled(1e3)))),
    ];
    let tables: Vec<(&str, Tables)> = stores.iter().map(|(unit, s)| (*unit, january(&config, s).unwrap())).collect();
    let reference = &tables[0].1;
    close(number(&reference.accounts, "electricity_net_kwh", 0), 74_400.0, "kWh store, electricity");
    close(number(&reference.accounts, "co2_t", 0), 74_400.0 * 0.55 / 1000.0, "kWh store, CO2 (east grid 0.55 kg/kWh)");
    for (unit, t) in &tables {
        assert_eq!(strings(&t.meters, "unit").unwrap(), ["kWh"], "{unit} store: accounted in kWh");
        assert_eq!(number(&t.meters, "implausible", 0), 0.0, "{unit} store: no interval beyond max_rate");
        for column in ["electricity_net_kwh", "energy_tce", "co2_t"] {
            close(number(&t.accounts, column, 0), number(&reference.accounts, column, 0), &format!("{unit} store, {column}"));
        }
        close(number(&t.quality, "coverage", 0), 1.0, &format!("{unit} store, coverage"));
    }
}

/// A counter stored in a unit of another dimension is refused, naming the unit, the file and
/// the series: its figures would be wrong by an unknown factor.
#[test]
fn a_unit_of_another_dimension_is_refused_naming_the_unit_file_and_series() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_reference(dir.path(), &[&format!("grid,{ENTERPRISE},plant,electricity,boundary,0.5,2030-01-01,150,0.01")]);
    let points = hourly(t("2026-01-10T00:00"), t("2026-01-10T05:00"), 1_000.0, 100.0);
    let root = store(dir.path(), "readings", &electricity("plant", "grid", Unit::M3, &points));
    let file = std::fs::read_dir(root.join("date=2026-01-10")).unwrap().next().unwrap().unwrap().path();
    let Err(e) = january(&config, &root) else { panic!("a counter of kWh stored in m3 was accounted") };
    let e = format!("{e:#}");
    println!("{e}");
    assert!(e.contains(&file.display().to_string()), "names the file: {e}");
    assert!(e.contains(&format!("series {ENTERPRISE}/plant/grid/active_energy_import")), "names the series: {e}");
    assert!(e.contains("unit \"m3\" cannot be read as kWh"), "names the unit: {e}");
}

/// Two sites of one enterprise, each with a boundary meter named `incomer`: two counters, each
/// with its own consumption, no resets. Before, the store's two series were merged into one
/// (resets wherever the values crossed) and the register could not hold both.
#[test]
fn two_sites_with_one_meter_name_give_two_counters() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_reference(
        dir.path(),
        &[
            &format!("incomer,{ENTERPRISE},north,electricity,boundary,0.5,2030-01-01,50,0.01"),
            &format!("incomer,{ENTERPRISE},south,electricity,boundary,0.5,2030-01-01,50,0.01"),
        ],
    );
    let (from, to) = (t("2025-12-30T00:00"), t("2026-02-02T00:00"));
    let mut readings = electricity("north", "incomer", Unit::KWh, &hourly(from, to, 1_000.0, 10.0));
    readings.extend(electricity("south", "incomer", Unit::KWh, &hourly(from, to, 500_000.0, 20.0)));
    let root = store(dir.path(), "readings", &readings);
    let counters = analytics::load::counters_from_parquet(&root, from, to, &[]).unwrap();
    let names: Vec<String> = counters.iter().map(|c| c.series()).collect();
    assert_eq!(names, [format!("{ENTERPRISE}/north/incomer/active_energy_import"), format!("{ENTERPRISE}/south/incomer/active_energy_import")]);

    let tables = january(&config, &root).unwrap();
    let meters = &tables.meters;
    assert_eq!(strings(meters, "site").unwrap(), ["north", "south"], "{meters}");
    close(number(meters, "consumption", 0), 7_440.0, "north");
    close(number(meters, "consumption", 1), 14_880.0, "south");
    assert_eq!((number(meters, "resets", 0), number(meters, "resets", 1)), (0.0, 0.0));
    close(number(&tables.accounts, "electricity_net_kwh", 0), 22_320.0, "both sites");
    assert_eq!(number(&tables.quality, "boundary_counters", 0), 2.0, "{}", tables.quality);
    assert_eq!(strings(&tables.exclusions, "meter").unwrap().len(), 0, "{}", tables.exclusions);
}

/// One reading far above its neighbours on a meter without max_rate: dropped as a glitch, the
/// month's consumption is the counter's rise, and the missing max_rate is a finding.
#[test]
fn a_spike_is_dropped_and_a_boundary_counter_without_max_rate_is_a_finding() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_reference(dir.path(), &[&format!("grid,{ENTERPRISE},plant,electricity,boundary,0.5,2030-01-01,,")]);
    let mut points = hourly(t("2025-12-30T00:00"), t("2026-02-02T00:00"), 1_000.0, 100.0);
    let spike = points.iter().position(|p| p.0 == t("2026-01-15T00:00")).unwrap();
    points[spike].1 = 9_999_999.0;
    let root = store(dir.path(), "readings", &electricity("plant", "grid", Unit::KWh, &points));
    let tables = january(&config, &root).unwrap();
    close(number(&tables.meters, "consumption", 0), 74_400.0, "consumption without the spike");
    assert_eq!((number(&tables.meters, "glitches", 0), number(&tables.meters, "resets", 0)), (1.0, 0.0));
    let findings = strings(&tables.findings, "finding").unwrap();
    assert!(findings.iter().any(|f| f.starts_with("boundary meter grid (site plant) has no max_rate")), "{findings:?}");
    let reasons = strings(&tables.exclusions, "reason").unwrap();
    assert_eq!(reasons, ["momentary dip or spike (glitch): reading dropped"]);
}
