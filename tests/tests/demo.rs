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
