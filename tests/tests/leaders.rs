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

/// The workbook opens with a reader library (calamine) and holds every table of the CSV files
/// cell for cell under a row of names and a row of units; its totals are formulas over the
/// monthly sheet whose text, recomputed here from the sheet's own cells, gives their stored value.
#[test]
fn the_workbook_has_every_table_of_the_csv_and_its_totals_recompute() {
    use calamine::{open_workbook, Data, DataType as _, Reader, Xlsx};
    let (_dir, out_dir, _) = run_leaders();
    let mut book: Xlsx<_> = open_workbook(out_dir.join("leaders.xlsx")).unwrap();
    let mut csvs: Vec<String> = std::fs::read_dir(&out_dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n.ends_with(".csv")).collect();
    csvs.sort();
    assert_eq!(csvs.len(), 16, "{csvs:?}");
    let sheets = book.sheet_names();
    for csv_name in &csvs {
        let sheet = csv_name.trim_end_matches(".csv");
        assert!(sheets.iter().any(|s| s == sheet), "{sheet} is a sheet: {sheets:?}");
        let range = book.worksheet_range(sheet).unwrap();
        let mut csv = csv::Reader::from_path(out_dir.join(csv_name)).unwrap();
        let header: Vec<String> = csv.headers().unwrap().iter().map(str::to_owned).collect();
        let records: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
        let rows: Vec<&[Data]> = range.rows().collect();
        assert_eq!(rows.len(), records.len() + 2, "{sheet}: names, units and one row per CSV row");
        assert_eq!(rows[0].iter().map(|c| c.to_string()).collect::<Vec<_>>(), header, "{sheet}");
        for (column, unit) in header.iter().zip(rows[1]) {
            let unit = unit.to_string();
            if column.ends_with("_tce") || column.ends_with("_kwh") || column.ends_with("_m3") || column.ends_with("_h") {
                assert!(!unit.is_empty(), "{sheet}: {column} has a unit");
            }
        }
        for (row, record) in rows[2..].iter().zip(&records) {
            assert_eq!(row.len(), record.len(), "{sheet}");
            for (cell, text) in row.iter().zip(record.iter()) {
                match cell {
                    Data::Float(v) => assert!((v - text.parse::<f64>().unwrap()).abs() <= 1e-9 * v.abs().max(1.0), "{sheet}: {v} vs {text}"),
                    Data::Int(v) => assert_eq!(v.to_string(), text, "{sheet}"),
                    Data::Empty => assert_eq!(text, "", "{sheet}"),
                    other => assert_eq!(other.to_string(), text, "{sheet}"),
                }
            }
        }
    }

    // Totals: =SUMIFS(monthly_accounts!$X$3:$X$n,monthly_accounts!$A$3:$A$n,$A<r>) per enterprise,
    // =SUM(...) below them, and intensities =IF(P<r>>0,B<r>*1000/P<r>,"") from those sums.
    // Recompute each from the sheets and compare with its stored result.
    let monthly = book.worksheet_range("monthly_accounts").unwrap();
    let totals = book.worksheet_range("totals").unwrap();
    let formulas = book.worksheet_formula("totals").unwrap();
    let column_index = |letters: &str| letters.bytes().fold(0usize, |n, b| n * 26 + usize::from(b - b'A' + 1)) - 1;
    let cell_ref = |r: &str| -> (usize, usize) {
        let r = r.replace('$', "");
        let split = r.find(|c: char| c.is_ascii_digit()).unwrap();
        (r[split..].parse::<usize>().unwrap() - 1, column_index(&r[..split]))
    };
    let value = |range: &calamine::Range<Data>, (row, col): (usize, usize)| -> Data { range.get_value((row as u32, col as u32)).cloned().unwrap_or(Data::Empty) };
    let mut checked = 0;
    let (start_row, start_col) = formulas.start().unwrap();
    for (r, row) in formulas.rows().enumerate() {
        for (c, text) in row.iter().enumerate() {
            if text.is_empty() {
                continue;
            }
            let at = (r + start_row as usize, c + start_col as usize);
            let stored = match value(&totals, at) {
                Data::Float(v) => v,
                other => panic!("totals {at:?}: {other:?} for {text}"),
            };
            let recomputed = if let Some(args) = text.trim_start_matches('=').strip_prefix("SUMIFS(").and_then(|t| t.strip_suffix(')')) {
                let args: Vec<&str> = args.split(',').collect();
                let range = |a: &str| -> ((usize, usize), (usize, usize)) {
                    let (from, to) = a.trim_start_matches("monthly_accounts!").split_once(':').unwrap();
                    (cell_ref(from), cell_ref(to))
                };
                let ((v0, vc), (v1, _)) = range(args[0]);
                let ((_, kc), _) = range(args[1]);
                let key = value(&totals, cell_ref(args[2])).to_string();
                (v0..=v1).filter(|r| value(&monthly, (*r, kc)).to_string() == key).map(|r| value(&monthly, (r, vc)).as_f64().unwrap_or(0.0)).sum::<f64>()
            } else if let Some(args) = text.trim_start_matches('=').strip_prefix("SUM(").and_then(|t| t.strip_suffix(')')) {
                let (from, to) = args.split_once(':').unwrap();
                let ((r0, c0), (r1, _)) = (cell_ref(from), cell_ref(to));
                (r0..=r1).map(|r| value(&totals, (r, c0)).as_f64().unwrap_or(0.0)).sum::<f64>()
            } else if let Some(args) = text.trim_start_matches('=').strip_prefix("IF(").and_then(|t| t.strip_suffix(",\"-\")")) {
                // P3>0,B3*1000/P3
                let (condition, quotient) = args.split_once(',').unwrap();
                let den = value(&totals, cell_ref(condition.trim_end_matches(">0"))).as_f64().unwrap_or(0.0);
                let (product, den_ref) = quotient.split_once('/').unwrap();
                assert_eq!(den_ref, condition.trim_end_matches(">0"), "{text}");
                let (num_ref, factor) = product.split_once('*').unwrap();
                let num = value(&totals, cell_ref(num_ref)).as_f64().unwrap_or(0.0);
                assert!(den > 0.0, "{text}: an intensity formula without production");
                num * factor.parse::<f64>().unwrap() / den
            } else {
                panic!("an unexpected formula {text}");
            };
            assert!((recomputed - stored).abs() <= 1e-9 * stored.abs().max(1.0), "{text}: recomputed {recomputed}, stored {stored}");
            checked += 1;
        }
    }
    // 8 enterprises and the total row for each of 9 summed figures, the 8 enterprises' production
    // (no total across products), and 3 intensities per enterprise with production ("-" without).
    let names: Vec<String> = totals.rows().next().unwrap().iter().map(|c| c.to_string()).collect();
    let production = names.iter().position(|n| n == "production").unwrap();
    let producing = totals.rows().skip(2).filter(|r| r[0].to_string() != "all enterprises" && r[production].as_f64().is_some_and(|p| p > 0.0)).count();
    assert!(producing >= 5, "{producing} enterprises with production");
    assert_eq!(checked, 9 * 9 + 8 + 3 * producing, "every total and intensity is a formula");
    // The window's energy equals the months' (the counters interpolate at the same bounds).
    let window = std::fs::read_to_string(out_dir.join("window_accounts.csv")).unwrap();
    let header: Vec<&str> = window.lines().next().unwrap().split(',').collect();
    let tce = header.iter().position(|h| *h == "energy_tce").unwrap();
    let window_total: f64 = window.lines().skip(1).filter_map(|l| l.split(',').nth(tce)?.parse::<f64>().ok()).sum();
    let all = totals.rows().find(|r| r[0].to_string() == "all enterprises").unwrap();
    assert!((all[1].as_f64().unwrap() - window_total).abs() < 1e-6 * window_total, "{all:?} vs {window_total}");
    // The intensity the totals sheet divides out is the window's indicator the leaders rank by.
    let kgce = header.iter().position(|h| *h == "kgce_per_unit").unwrap();
    let intensity = names.iter().position(|n| n == "kgce_per_unit").unwrap();
    let mut compared = 0;
    for line in window.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let Ok(want) = cells[kgce].parse::<f64>() else { continue };
        let row = totals.rows().find(|r| r[0].to_string() == cells[0]).unwrap_or_else(|| panic!("{} has no totals row", cells[0]));
        let got = row[intensity].as_f64().unwrap();
        assert!((got - want).abs() <= 1e-9 * want.abs(), "{}: totals sheet {got} kgce per unit, window {want}", cells[0]);
        compared += 1;
    }
    assert!(compared >= 5, "intensities compared: {compared}");
    let sources = book.worksheet_range("sources").unwrap();
    let text: Vec<String> = sources.rows().map(|r| r.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(" | ")).collect();
    assert!(text.iter().any(|l| l.starts_with("enterprises | ") && l.split(" | ").nth(2).is_some_and(|h| h.len() == 64)), "{text:?}");
    assert!(text.iter().any(|l| l.contains("GB/T 2589")), "coefficients with their sources: {text:?}");
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
