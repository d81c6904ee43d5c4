//! `analytics leaders` from a Parquet store of two months of readings of six cement clinker
//! enterprises to the short list: who is a candidate, who is excluded and why.

use std::path::Path;
use std::process::Command;

use chrono::{DateTime, Utc};
use e2e::bin;
use readings::{Kind, Medium, Quality, Reading};

/// (id, kW drawn all the time, clinker t a month; None = no production reported)
const PLANTS: [(&str, f64, Option<f64>); 6] = [
    ("91430100MA4L00000F", 500.0, Some(4000.0)),
    ("91430100MA4L00002M", 600.0, Some(4000.0)),
    ("91310000MA1K00003F", 400.0, Some(4000.0)),
    ("91440300MA5F00004K", 700.0, Some(4000.0)),
    ("91330100MA2H000054", 450.0, Some(4000.0)),
    ("91350100M000100Y43", 300.0, None),
];

/// Registered, with a boundary meter that never sent a reading.
const SILENT: &str = "91110000MA00000077";

/// Metered both months, production reported for November only.
const PARTIAL: (&str, f64) = ("91420100MA4K00006B", 420.0);

fn write_reference(dir: &Path) -> std::path::PathBuf {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let mut enterprises = String::from("id,name,industry_code,region,grid_region,product_group\n");
    let mut meters = String::from("meter,enterprise,site,medium,role,accuracy_class,calibration_due,max_rate\n");
    let mut production = String::from("enterprise,month,product,quantity,unit,output_value_10k_cny\n");
    for (i, (id, _, tonnes)) in PLANTS.iter().enumerate() {
        enterprises.push_str(&format!("{id},Plant {i},C3011,Hunan,central,cement_clinker\n"));
        meters.push_str(&format!("incomer,{id},plant,electricity,boundary,0.5,2030-01-01,2000\n"));
        if let Some(t) = tonnes {
            for month in ["2026-11", "2026-12"] {
                production.push_str(&format!("{id},{month},cement_clinker,{t},t,120\n"));
            }
        }
    }
    enterprises.push_str(&format!("{SILENT},Silent Plant,C3011,Beijing,north,cement_clinker\n"));
    enterprises.push_str(&format!("{},Partial Plant,C3011,Hubei,central,cement_clinker\n", PARTIAL.0));
    meters.push_str(&format!("incomer,{},plant,electricity,boundary,0.5,2030-01-01,2000\n", PARTIAL.0));
    production.push_str(&format!("{},2026-11,cement_clinker,4000,t,120\n", PARTIAL.0));
    meters.push_str(&format!("incomer,{SILENT},plant,electricity,boundary,0.5,2030-01-01,2000\n"));
    production.push_str(&format!("{SILENT},2026-11,cement_clinker,4000,t,120\n"));
    let rules = "product_group = \"cement_clinker\"\n\
        [[programme]]\nprogramme = \"energy\"\nindicator = \"kgce_per_unit\"\nunit = \"kgce/t\"\nadvanced_value = 10.0\nbenchmark = 11.0\nbaseline = 14.0\nsource = \"test levels\"\n\
        [programme.gates]\nmin_months = 2\nmin_grade = \"C\"\ncalibrated = true\n\
        [programme.selection]\ntop_n = 2\nmin_group_size = 3\n\
        [[programme]]\nprogramme = \"water\"\nindicator = \"water_m3_per_unit\"\nunit = \"m3/t\"\nsource = \"test\"\n\
        [programme.gates]\nmin_months = 2\nmin_grade = \"C\"\n\
        [programme.selection]\ntop_n = 1\nmin_group_size = 1\n";
    std::fs::create_dir_all(dir.join("leaders")).unwrap();
    for (name, text) in [("enterprises.csv", enterprises), ("meters.csv", meters), ("production.csv", production), ("leaders/cement_clinker.toml", rules.to_owned())] {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let text = format!(
        "[reference]\nenterprises = \"enterprises.csv\"\nmeters = \"meters.csv\"\nproduction = \"production.csv\"\n\
         energy_coefficients = \"{}\"\nemission_factors = \"{}\"\ndata_quality = \"{}\"\nleaders = \"leaders\"\n",
        config.join("coefficients/energy-gbt2589-2020.toml").display(),
        config.join("coefficients/emission-factors.toml").display(),
        config.join("data-quality.toml").display()
    );
    let path = dir.join("analytics.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn readings() -> Vec<Reading> {
    let start: DateTime<Utc> = "2026-10-30T00:00:00Z".parse().unwrap();
    let mut out = Vec::new();
    for (id, kw) in PLANTS.iter().map(|(id, kw, _)| (*id, *kw)).chain([PARTIAL]) {
        for i in 0..(65 * 96) {
            out.push(Reading {
                time: start + chrono::Duration::minutes(15 * i),
                enterprise: id.parse().unwrap(),
                site: "plant".parse().unwrap(),
                meter: "incomer".parse().unwrap(),
                medium: Medium::Electricity,
                quantity: "active_energy_import".parse().unwrap(),
                kind: Kind::Counter,
                unit: readings::Unit::KWh,
                value: Some(10_000.0 + kw * 0.25 * i as f64),
                quality: Quality::Good,
            });
        }
    }
    out
}

/// Runs `analytics leaders` on the plants; returns the temp dir, the output dir and stdout.
fn run_leaders() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_reference(dir.path());
    let store = dir.path().join("readings");
    readings::store::StoreWriter::open(&store).unwrap().write(&readings()).unwrap();
    let out_dir = dir.path().join("out");
    let run = Command::new(bin("analytics"))
        .args(["leaders", "--config"])
        .arg(&config)
        .args(["--store"])
        .arg(&store)
        .args(["--from", "2026-11-01", "--to", "2027-01-01", "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    println!("{stdout}");
    (dir, out_dir, stdout)
}

#[test]
fn the_short_list_names_the_candidates_and_why_the_others_are_not() {
    let (_dir, out_dir, stdout) = run_leaders();

    // kgce/t = kW x 1464 h (Nov + Dec) x 0.1229 / 8000 t: 400 kW -> 8.996, 450 -> 10.121,
    // 500 -> 11.245, 600 -> 13.494, 700 -> 15.743.
    let line = |id: &str| stdout.lines().find(|l| l.contains(id)).unwrap_or_else(|| panic!("{id} missing:\n{stdout}")).to_owned();
    assert!(line("91310000MA1K00003F").contains("8.996") && line("91310000MA1K00003F").contains("CANDIDATE"));
    assert!(line("91330100MA2H000054").contains("10.121") && line("91330100MA2H000054").contains("CANDIDATE"));
    assert!(line("91430100MA4L00000F").contains("eligible") && !line("91430100MA4L00000F").contains("CANDIDATE"));
    assert!(line("91350100M000100Y43").contains("excluded: no production reported for 2026-11 2026-12, month(s) with metered use"), "{stdout}");
    assert!(line(SILENT).contains("excluded: no boundary readings in the window"), "{stdout}");
    // Half its output over all its use would look like twice the intensity: no indicator at all.
    assert!(line(PARTIAL.0).contains("excluded: no production reported for 2026-12, month(s) with metered use: no kgce_per_unit over part of the output"), "{stdout}");
    assert!(stdout.contains("cement_clinker / energy: 8 enterprises, 5 eligible, 2 selected"), "{stdout}");
    // The plants meter no water: the water programme judges their water metering (none), not
    // their electricity, so no one is eligible and the reasons say why.
    let water = stdout.split("cement_clinker / water:").nth(1).unwrap_or_else(|| panic!("no water programme:\n{stdout}"));
    assert!(water.starts_with(" 8 enterprises, 0 eligible, 0 selected"), "{water}");
    let plant = water.lines().find(|l| l.contains("91310000MA1K00003F")).unwrap();
    assert!(plant.contains("no water_m3_per_unit") && plant.contains("0 month(s) with data") && plant.contains("data-quality grade -"), "{plant}");

    let groups = std::fs::read_to_string(out_dir.join("leaders_groups.csv")).unwrap();
    assert!(groups.lines().count() == 3 && groups.contains("test levels"), "{groups}");
    // Savings at the candidates' level (10.121): the three worse plants brought to it.
    let expected = [11.245, 13.494, 15.743].iter().map(|v| (v - 10.121) * 8000.0 / 1000.0).sum::<f64>();
    let header: Vec<&str> = groups.lines().next().unwrap().split(',').collect();
    let row: Vec<&str> = groups.lines().nth(1).unwrap().split(',').collect();
    let savings: f64 = row[header.iter().position(|h| *h == "savings").unwrap()].parse().unwrap();
    assert!((savings - expected).abs() < 0.05, "{savings} vs {expected}");
    for table in ["leaders_enterprises.csv", "monthly_accounts.csv", "window_quality.csv"] {
        assert!(out_dir.join(table).exists(), "{table}");
    }
}

/// The workbook opens with a reader library (calamine) and holds the same rows as the CSV.
#[test]
fn the_workbook_has_the_rows_of_the_csv() {
    use calamine::{open_workbook, Data, Reader, Xlsx};
    let (_dir, out_dir, _) = run_leaders();
    let mut book: Xlsx<_> = open_workbook(out_dir.join("leaders.xlsx")).unwrap();
    for sheet in ["leaders_enterprises", "leaders_groups", "window_accounts"] {
        let range = book.worksheet_range(sheet).unwrap();
        let mut csv = csv::Reader::from_path(out_dir.join(format!("{sheet}.csv"))).unwrap();
        let header: Vec<String> = csv.headers().unwrap().iter().map(str::to_owned).collect();
        let records: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
        let rows: Vec<&[Data]> = range.rows().collect();
        assert_eq!(rows.len(), records.len() + 1, "{sheet}: a header and one row per CSV row");
        assert_eq!(rows[0].iter().map(|c| c.to_string()).collect::<Vec<_>>(), header, "{sheet}");
        for (row, record) in rows[1..].iter().zip(&records) {
            for (cell, text) in row.iter().zip(record.iter()) {
                match cell {
                    Data::Float(v) => assert!((v - text.parse::<f64>().unwrap()).abs() <= 1e-9 * v.abs().max(1.0), "{sheet}: {v} vs {text}"),
                    Data::Empty => assert_eq!(text, "", "{sheet}"),
                    other => assert_eq!(other.to_string(), text, "{sheet}"),
                }
            }
        }
    }
}

/// The report opens in headless Chromium (installed by tests/run), and the rendered page shows
/// every candidate, every enterprise's result and a drawn chart; each enterprise has its page.
#[test]
fn the_report_opens_in_chromium_and_shows_every_candidate() {
    let (_dir, out_dir, stdout) = run_leaders();
    let report = out_dir.join("report.html");
    let profile = tempfile::tempdir().unwrap();
    let run = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--dump-dom"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", report.display()))
        .output()
        .expect("chromium runs (tests/run installs Debian's chromium)");
    let dom = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success() && dom.contains("</html>"), "chromium failed:\n{}", String::from_utf8_lossy(&run.stderr));
    let candidates: Vec<&str> = stdout.lines().filter(|l| l.contains("CANDIDATE")).filter_map(|l| l.split_whitespace().nth(1)).collect();
    assert_eq!(candidates.len(), 2, "{stdout}");
    for id in candidates {
        let row = dom.split("<tr").find(|r| r.contains(id)).unwrap_or_else(|| panic!("{id} not in the rendered report"));
        assert!(row.contains("CANDIDATE"), "{id}: {row}");
    }
    assert!(dom.contains("no boundary readings in the window"), "the exclusions are shown");
    assert!(dom.matches("<rect").count() >= 6, "the ranked chart is drawn");
    assert!(dom.contains("<polyline"), "the candidates' trend is drawn");
    for (id, _, _) in PLANTS {
        assert!(out_dir.join("enterprises").join(format!("{id}.html")).exists(), "{id} has its page");
    }
}
