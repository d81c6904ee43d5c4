//! `analytics accounts` on the shipped reference data (config/analytics.example.toml), reading the
//! same readings from the Parquet store and from a real InfluxDB 1.x server: the tables must be
//! identical, and with the aggregation pushed to the server (LAST per hour) the totals agree
//! within the interpolation error.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Utc};
use e2e::{bin, curl, free_port, Server};
use readings::{Kind, Medium, Quality, Reading};

const ENTERPRISE: &str = "91350100M000100Y43";

/// Forty days of 15-minute polls of the demo plant's counters, with a daily load shape, some
/// polls that failed (rows without a value), and a reset of the office meter.
fn readings() -> Vec<Reading> {
    let start: DateTime<Utc> = "2026-10-25T00:00:00Z".parse().unwrap();
    // (meter, medium, quantity, mean rate per hour, starting value)
    let counters = [
        ("main-incomer", Medium::Electricity, "active_energy_import", 150.0, 12_000.0),
        ("main-incomer", Medium::Electricity, "active_energy_export", 4.0, 300.0),
        ("workshop-a", Medium::Electricity, "active_energy_import", 60.0, 5_000.0),
        ("office", Medium::Electricity, "active_energy_import", 10.0, 900.0),
        ("compressors", Medium::Electricity, "active_energy_import", 50.0, 7_000.0),
        ("water-main", Medium::Water, "volume", 8.0, 400.0),
        ("steam-header", Medium::Steam, "heat_energy", 6.0, 100.0),
    ];
    let mut out = Vec::new();
    for (n, (meter, medium, quantity, rate, first)) in counters.iter().enumerate() {
        let quantity: readings::Quantity = quantity.parse().unwrap();
        let mut value = *first;
        for i in 0..(40 * 96) {
            let time = start + chrono::Duration::minutes(15 * i);
            let hour = (i % 96) as f64 / 4.0;
            value += rate * 0.25 * (0.4 + 1.2 * (std::f64::consts::PI * hour / 24.0).sin().powi(2));
            if *meter == "office" && i == 1500 {
                value = 3.0;
            }
            let failed = (i as usize * 31 + n * 7).is_multiple_of(97);
            out.push(Reading {
                time,
                enterprise: ENTERPRISE.parse().unwrap(),
                site: "demo-plant".parse().unwrap(),
                meter: meter.parse().unwrap(),
                medium: *medium,
                quantity,
                kind: Kind::Counter,
                unit: quantity.canonical_unit(),
                value: (!failed).then_some((value * 1000.0).round() / 1000.0),
                quality: if failed { Quality::Timeout } else { Quality::Good },
            });
        }
    }
    out
}

fn accounts(extra: &[&str], out: &Path) -> String {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/analytics.example.toml");
    let run = Command::new(bin("analytics"))
        .args(["accounts", "--config"])
        .arg(&config)
        .args(["--from", "2026-11-01", "--to", "2026-12-01", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    println!("{stdout}");
    stdout
}

fn table(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.csv"))).unwrap()
}

fn column(csv: &str, name: &str) -> Vec<f64> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let i = header.iter().position(|h| *h == name).unwrap();
    lines.map(|l| l.split(',').nth(i).unwrap().parse().unwrap()).collect()
}

#[test]
fn parquet_and_influxdb_give_the_same_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let all = readings();
    let store = dir.path().join("readings");
    readings::store::StoreWriter::open(&store).unwrap().write(&all).unwrap();

    let server = Server::influxdb(free_port());
    let mut body = String::new();
    for r in &all {
        collector::sink::influxdb::line::encode("reading", r, &mut body);
    }
    let lines: PathBuf = dir.path().join("lines.lp");
    std::fs::write(&lines, body).unwrap();
    curl(&["-XPOST", &format!("http://127.0.0.1:{}/write?db=energy&precision=ms", server.port), "--data-binary", &format!("@{}", lines.display())]);

    let (from_parquet, from_influx, downsampled) = (dir.path().join("p"), dir.path().join("i"), dir.path().join("d"));
    let printed = accounts(&["--store", store.to_str().unwrap()], &from_parquet);
    assert!(printed.contains("1 enterprise-periods"), "{printed}");
    let url = format!("http://127.0.0.1:{}", server.port);
    accounts(&["--influxdb", &url, "--database", "energy"], &from_influx);
    for name in ["meters", "media", "accounts", "quality", "findings", "exclusions", "equipping"] {
        assert_eq!(table(&from_parquet, name), table(&from_influx, name), "{name}.csv differs between the stores");
    }

    // The shipped metering-points.csv lists two main electricity devices and meters one: 50 %
    // against GB 17167-2006's 95 %, a finding naming the unmetered pump.
    let equipping = table(&from_parquet, "equipping");
    assert!(equipping.lines().any(|l| l.contains(",electricity,equipment,2,1,50.0,95.0,demo-plant/boiler-feed-pump,")), "{equipping}");
    assert!(table(&from_parquet, "findings").contains("equipping rate of main equipment electricity: 1 of 2 flows metered (50.0 %); 95 % is required"));

    // November: the demo plant's boundary electricity is import minus export; the shipped
    // coefficients apply (0.1229 kgce/kWh; the east grid's latest factor, 2023's 0.55). CO2 by
    // line (docs/carbon.md): electricity bought less exported at 0.55; steam bought at 0.11
    // tCO2/GJ; process CO2 from reference/process.csv's November row, 1200 t of clinker at CaO
    // 65.2 % (0.8 % not from carbonates) and MgO 2.1 %: 1200 x (0.644 x 0.785714 + 0.021 x 1.1)
    // = 634.9197792 t.
    let accounts_csv = table(&from_parquet, "accounts");
    let kwh = column(&accounts_csv, "electricity_net_kwh")[0];
    let co2 = column(&accounts_csv, "co2_t")[0];
    assert!(kwh > 90_000.0 && kwh < 130_000.0, "{kwh}");
    let electricity = column(&accounts_csv, "co2_purchased_electricity_t")[0] + column(&accounts_csv, "co2_exports_t")[0];
    assert!((electricity - kwh * 0.55 / 1000.0).abs() < 1e-9 * electricity, "CO2 {electricity} from {kwh} kWh");
    let process = column(&accounts_csv, "co2_process_t")[0];
    assert!((process - 634.9197792).abs() < 1e-6, "process CO2 {process}");
    let media_csv = table(&from_parquet, "media");
    let steam_gj = media_csv.lines().find(|l| l.contains(",steam,")).unwrap().split(',').nth(4).unwrap().parse::<f64>().unwrap();
    let heat = column(&accounts_csv, "co2_purchased_heat_t")[0];
    assert!((heat - steam_gj * 0.11).abs() < 1e-9 * heat, "heat CO2 {heat} from {steam_gj} GJ");
    assert!((co2 - (electricity + heat + process)).abs() < 1e-9 * co2, "CO2 {co2} is the sum of its lines");
    let meters_csv = table(&from_parquet, "meters");
    let header: Vec<&str> = meters_csv.lines().next().unwrap().split(',').collect();
    let resets = header.iter().position(|h| *h == "resets").unwrap();
    let office: Vec<&str> = meters_csv.lines().find(|l| l.contains(",office,")).unwrap().split(',').collect();
    assert_eq!(office[resets], "1", "the office reset is in the evidence:\n{meters_csv}");
    assert!(meters_csv.contains("no east grid factor for 2026; used 2023's"));

    // LAST(value) per hour on the server: totals within a fraction of a percent.
    accounts(&["--influxdb", &url, "--database", "energy", "--downsample-minutes", "60"], &downsampled);
    let (exact, reduced) = (column(&accounts_csv, "energy_tce")[0], column(&table(&downsampled, "accounts"), "energy_tce")[0]);
    assert!((exact - reduced).abs() < 1e-3 * exact, "{exact} vs {reduced}");
}
