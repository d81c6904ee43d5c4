//! The demo end to end, as the README's first command runs it (shorter, and hourly backfill to
//! keep a debug build quick): live gateways over Modbus TCP and MQTT through the in-process
//! broker, a backfilled year, and a leaders report naming the candidates the fleet file was
//! written to produce.

use std::path::Path;
use std::process::Command;

use e2e::bin;

#[test]
fn the_demo_runs_end_to_end_and_its_report_names_the_expected_candidates() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("demo-data");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let run = Command::new(bin("demo"))
        .current_dir(&root)
        .args(["--seconds", "8", "--step-minutes", "60", "--broker", "in-process", "--data-dir"])
        .arg(&data_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stdout}\n{stderr}");
    println!("{stdout}");

    // The demo registers its own live meters: the centre accounts them and warns about none.
    assert!(!stderr.contains("not in the meter register"), "{stderr}");
    assert!(stdout.contains("3 MQTT meters publishing"), "{stdout}");

    // Live: both gateways stored what they read, the refusing meter's exceptions were counted.
    assert!(stdout.contains("MQTT meters publishing through the in-process (rumqttd) broker"), "{stdout}");
    let stored = |plant: &str| -> usize {
        let section = stdout.split(&format!("({plant}) collector summary:")).nth(1).unwrap_or_else(|| panic!("no summary for {plant}:\n{stdout}"));
        let line = section.lines().find(|l| l.contains("its Parquet store")).unwrap();
        line.split(" holds ").nth(1).and_then(|t| t.split_whitespace().next()).and_then(|n| n.parse().ok()).unwrap()
    };
    assert!(stored("91430100MA7D00101Q") > 100, "the Modbus gateway stored readings");
    assert!(stored("91330600MA7D001120") > 10, "the MQTT gateway stored readings");
    assert!(stdout.contains("exception_04="), "the refusing meter's failures are counted:\n{stdout}");

    // The candidates the fleet was built to produce, and the reasons for the flawed plants.
    let candidates = stdout.split("leader candidates:").nth(1).unwrap();
    for (group, programme, who) in [
        ("cement_clinker", "energy", "Quancheng Building Materials (91370100MA7D00103Q)"),
        ("cement_clinker", "water", "Quancheng Building Materials (91370100MA7D00103Q), Xiangjiang Clinker Co. (91430100MA7D00101Q)"),
        ("ceramic_tiles", "energy", "Jinjiang Porcelain Tile (91350500MA7D00109P)"),
        ("textile_dyeing", "energy", "Keqiao Dyeing & Finishing (91330600MA7D001120)"),
        ("textile_dyeing", "water", "Keqiao Dyeing & Finishing (91330600MA7D001120)"),
    ] {
        let line = candidates.lines().find(|l| l.contains(group) && l.contains(programme)).unwrap_or_else(|| panic!("{group} {programme}:\n{candidates}"));
        assert!(line.trim_end().ends_with(who), "{group} {programme}: {line}");
    }
    let reason = |id: &str, programme: &str| -> String {
        // A programme's block runs from its heading to the next one.
        let block = stdout.split(&format!("{programme}:")).nth(1).unwrap_or_default();
        let block = block.split(" / ").next().unwrap_or_default();
        block.lines().find(|l| l.contains(id)).unwrap_or_default().to_owned()
    };
    assert!(reason("91340100MA7D00106M", "cement_clinker / energy").contains("past calibration"), "lapsed calibration");
    assert!(reason("91610100MA7D00111Y", "ceramic_tiles / energy").contains("5 month(s) with data"), "late joiner");
    assert!(reason("91370300MA7D00110T", "ceramic_tiles / energy").contains("data-quality grade C"), "the outage lowers the grade");
    assert!(reason("91330400MA7D00114U", "textile_dyeing / water").contains("meter-configuration finding"), "no water sub-meter");

    // The report is where the demo says, and names every candidate.
    let report_line = stdout.lines().find(|l| l.contains("Open the report:")).unwrap();
    let report = Path::new(report_line.rsplit(": ").next().unwrap().trim());
    let html = std::fs::read_to_string(report).unwrap();
    for id in ["91370100MA7D00103Q", "91430100MA7D00101Q", "91350500MA7D00109P", "91330600MA7D001120"] {
        let row = html.split("<tr").find(|r| r.contains(id) && r.contains("CANDIDATE"));
        assert!(row.is_some(), "{id} is a candidate in the report");
    }

    // Cement plants carry process CO2 (docs/carbon.md): clinker at CaO 65.3 % (0.9 % not from
    // carbonates) and MgO 2.1 % (0.1 %) releases 0.644 x 0.785714 + 0.020 x 1.1 = 0.5280 t per t,
    // the largest line of their CO2.
    let centre = data_dir.join("centre");
    let accounts = std::fs::read_to_string(centre.join("report/window_accounts.csv")).unwrap();
    let mut lines = accounts.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let mut cement = 0;
    for line in lines.filter(|l| l.contains(",cement_clinker,")) {
        let cells: Vec<&str> = line.split(',').collect();
        let number = |name: &str| cells[at(name)].parse::<f64>().unwrap();
        let (process, total, production) = (number("co2_process_t"), number("co2_t"), number("production"));
        assert!((process / production - 0.5280).abs() < 1e-3, "process CO2 per t clinker: {line}");
        assert!(process > 0.4 * total && process < total, "process CO2 is the largest line: {line}");
        cement += 1;
    }
    assert_eq!(cement, 6, "six cement plants:\n{accounts}");

    // The national 2025 rules on the same data: every enterprise not selected is told why.
    let by_hand = stdout.lines().find(|l| l.contains("the same job by hand:")).unwrap();
    let arg = |flag: &str| by_hand.split(&format!("{flag} ")).nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    let national = dir.path().join("national");
    let run = Command::new(bin("analytics"))
        .current_dir(&root)
        .args(["leaders", "--rules", "config/leaders/national-2025", "--config", &arg("--config"), "--store", &arg("--store"), "--from", &arg("--from"), "--to", &arg("--to"), "--out"])
        .arg(&national)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(run.status.success(), "{printed}\n{}", String::from_utf8_lossy(&run.stderr));
    println!("{printed}");
    for line in printed.lines().filter(|l| l.starts_with("    ") && l.contains("excluded")) {
        assert!(!line.trim_end().ends_with("excluded:"), "an exclusion without its reason: {line}");
    }
    let excluded = |id: &str, programme: &str| -> String {
        let block = printed.split(&format!("{programme}:")).nth(1).unwrap_or_default();
        let block = block.split(" / ").next().unwrap_or_default();
        block.lines().find(|l| l.contains(id)).unwrap_or_default().to_owned()
    };
    // Cement's electricity is a tenth of its energy: even half of it green is far from 20 %.
    assert!(excluded("91430100MA7D00101Q", "cement_clinker / energy").contains("% of energy use (20% required)"), "non-fossil gate");
    assert!(excluded("91410100MA7D00102K", "cement_clinker / energy").contains("no energy management system (GB/T 23331)"), "no EnMS");
    assert!(excluded("91320500MA7D00113R", "textile_dyeing / energy").contains("no measurement management system (GB/T 19022)"), "no MMS");
    assert!(excluded("91320500MA7D00113R", "textile_dyeing / water").contains("no water withdrawal permit"), "no permit");
    assert!(excluded("91330600MA7D001120", "textile_dyeing / energy").contains("tce used (10000 required)"), "below 10,000 tce");

    // A second run empties what the first made instead of adding to it.
    let again = Command::new(bin("demo"))
        .current_dir(&root)
        .args(["--seconds", "2", "--step-minutes", "240", "--broker", "in-process", "--data-dir"])
        .arg(&data_dir)
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    // A directory the demo did not make is refused, not emptied.
    let foreign = dir.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("keep.txt"), "mine").unwrap();
    let refused = Command::new(bin("demo")).current_dir(&root).arg("--data-dir").arg(&foreign).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("was not made by the demo"));
    assert!(foreign.join("keep.txt").exists());
}
