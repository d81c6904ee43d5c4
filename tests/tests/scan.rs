//! `collector scan` on a pseudo-terminal whose far end answers as meters of three protocols would
//! (tests/servers/scan_bus.py): it finds exactly the meters there, and the config it prints,
//! under a gateway and storage header with Modbus profiles picked, passes `collector check`.
//! Several meters answering one wildcard read-address are reported, not taken for one.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use e2e::{bin, SerialPair, Sim};

struct Bus(Child);

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts scan_bus.py on `tty` with `args` and waits until it listens.
fn bus(tty: &Path, args: &[&str]) -> Bus {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("servers/scan_bus.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args(["--serial", tty.to_str().expect("a UTF-8 path")])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs the bus");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut line).expect("the bus says it listens");
    assert_eq!(line.trim(), "listening");
    Bus(child)
}

fn scan(args: &[&str]) -> (Output, String, String) {
    let out = Command::new(bin("collector")).arg("scan").args(args).output().expect("collector runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("{stderr}");
    (out, stdout, stderr)
}

#[test]
fn scan_finds_the_meters_on_a_line_and_prints_config_that_checks() {
    let pair = SerialPair::start();
    // Unit 17 answers every read with exception 02H (no such register): it is still there.
    let _bus = bus(&pair.b, &["--modbus", "3", "--modbus", "17:2", "--dlt645", "000012345678", "--cjt188", "10:00000000000001"]);
    let tty = pair.a.to_str().expect("a UTF-8 path");
    let (out, stdout, stderr) = scan(&["--device", tty, "--units", "1-20", "--timeout", "150ms"]);
    assert!(out.status.success(), "{stderr}");

    // Progress every 16 unit ids and at the end, then the summary.
    assert!(stderr.contains("16/20 unit ids probed, 1 answered") && stderr.contains("20/20 unit ids probed, 2 answered"), "{stderr}");
    assert!(stderr.contains("DL/T 645: meter 000012345678"), "{stderr}");
    assert!(stderr.contains("CJ/T 188: meter 00000000000001, type 10H (cold water)"), "{stderr}");
    assert!(stderr.contains("answering: 3 (register 0 = 0), 17 (exception 02H IllegalDataAddress)"), "{stderr}");

    // The line first, then one entry per meter found, and nothing else.
    let entries: Vec<&str> = stdout.lines().filter(|l| l.starts_with("[[")).collect();
    assert_eq!(entries, ["[[modbus.serial_lines]]", "[[dlt645.devices]]", "[[cjt188.devices]]", "[[modbus.devices]]", "[[modbus.devices]]"], "{stdout}");
    for line in [
        &format!("device = \"{tty}\"") as &str,
        "address = \"000012345678\"",
        "profile = \"dlt645_generic_3phase\"",
        "meter_type = \"cold_water\"",
        "address = \"00000000000001\"",
        "unit = 3",
        "unit = 17",
        "profile = \"?\"  # pick one: collector profiles",
    ] {
        assert!(stdout.lines().any(|l| l.starts_with(line)), "no {line:?} in:\n{stdout}");
    }

    // Pasted under a header, a profile picked for each Modbus unit: a valid config of exactly
    // those meters on that line.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("collector.toml");
    let text = format!(
        "[gateway]\nenterprise = \"91350100M000100Y43\"\nsite = \"plant-1\"\n\n[storage]\ndata_dir = \"data\"\n\n{}",
        stdout.replace("profile = \"?\"", "profile = \"acrel_adw300\"")
    );
    std::fs::write(&config, text).unwrap();
    let check = Command::new(bin("collector")).args(["check", "--config"]).arg(&config).output().expect("collector check runs");
    let checked = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{}\n{checked}", String::from_utf8_lossy(&check.stderr));
    let devices: Vec<&str> = checked.lines().filter(|l| l.starts_with("device ") || l.starts_with("DL/T 645 meter ") || l.starts_with("CJ/T 188 meter ")).collect();
    assert_eq!(devices.len(), 4, "{checked}");
    for (prefix, what) in [
        ("device unit-3 at ", " unit 3: profile acrel_adw300"),
        ("device unit-17 at ", " unit 17: profile acrel_adw300"),
        ("DL/T 645 meter meter-000012345678 at ", " address 000012345678: profile dlt645_generic_3phase"),
        ("CJ/T 188 meter meter-00000000000001 at ", " address 00000000000001: 10H (cold water) meter (water)"),
    ] {
        assert!(devices.iter().any(|l| l.starts_with(prefix) && l.contains(tty) && l.contains(what)), "no {prefix}..{what} in:\n{checked}");
    }
}

/// Two meters of a protocol answering the wildcard: at once (their bytes garbled together) or
/// one after the other. Either way the scan says so and offers no address.
#[test]
fn several_meters_answering_a_wildcard_are_reported() {
    for several in ["garble", "in_turn"] {
        let pair = SerialPair::start();
        let _bus = bus(
            &pair.b,
            &["--several", several, "--dlt645", "000012345678", "--dlt645", "000012345679", "--cjt188", "10:00000000000001", "--cjt188", "10:00000000000002"],
        );
        let (out, stdout, stderr) = scan(&["--device", pair.a.to_str().unwrap(), "--protocols", "dlt645,cjt188", "--timeout", "150ms"]);
        assert!(out.status.success(), "{stderr}");
        for protocol in ["DL/T 645", "CJ/T 188"] {
            let said = format!("several {protocol} meters answered at once; give addresses by hand");
            assert!(stdout.lines().any(|l| l.starts_with('#') && l.contains(&said)), "{several}: {protocol}:\n{stdout}");
            assert!(stderr.contains(&said), "{several}: {protocol}:\n{stderr}");
        }
        assert!(!stdout.contains("[["), "{several}: nothing to configure:\n{stdout}");
        // Only what was asked for is probed.
        assert!(!stderr.contains("Modbus"), "{stderr}");
    }
}

/// Meters of five built-in profiles behind a serial server (meter-sim passing RTU frames over
/// TCP): the scan reads each found unit at every profile's witness registers (a frequency: its
/// range excludes zero) and proposes the one profile whose readings are plausible. The Acrel
/// meter's profile (energy only) and the flow meter's have no such reading: they get none, and
/// it is said so.
#[test]
fn scan_proposes_the_profile_each_meter_reads_plausibly_with() {
    let sim = Sim::start(&["--rtu-over-tcp", "--seed", "11", "--device", "1=eastron_sdm630", "--device", "2=acrel_adw300", "--device", "3=chint_dtsu666", "--device", "4=schneider_iem3000", "--device", "5=tuf2000m"]);
    let port = sim.port().to_string();
    let (out, stdout, stderr) = scan(&["--host", "127.0.0.1", "--port", &port, "--protocols", "modbus", "--units", "1-6", "--timeout", "200ms"]);
    assert!(out.status.success(), "{stderr}");
    let profile_of = |unit: u8| -> String {
        let entry = stdout.split("[[modbus.devices]]").find(|e| e.contains(&format!("\nunit = {unit}\n"))).unwrap_or_else(|| panic!("unit {unit} not found:\n{stdout}"));
        entry.lines().find(|l| l.starts_with("profile = ")).unwrap().to_owned()
    };
    for (unit, profile) in [(1, "eastron_sdm630"), (3, "chint_dtsu666"), (4, "schneider_iem3000")] {
        let line = profile_of(unit);
        assert!(line.starts_with(&format!("profile = \"{profile}\"  # proposed: frequency = ")), "unit {unit}: {line}");
    }
    for unit in [2, 5] {
        assert!(profile_of(unit).starts_with("profile = \"?\"  # pick one"), "{}", profile_of(unit));
    }
    assert!(stderr.contains("unit 1 reads plausibly with: eastron_sdm630 (frequency = "), "{stderr}");
    assert!(stderr.contains("unit 5 reads plausibly with: no built-in profile"), "{stderr}");
}

/// Over a pseudo-terminal: meter-sim serves three Modbus meters as an RTU line, and the scan
/// finds all three and names the profile of each.
#[test]
fn scan_over_a_serial_line_names_each_meters_profile() {
    let pair = SerialPair::start();
    let _sim = Sim::start_serial(&pair.b, &["--seed", "4", "--device", "3=eastron_sdm630", "--device", "7=chint_dtsu666", "--device", "12=schneider_iem3000"]);
    let tty = pair.a.to_str().expect("a UTF-8 path");
    let (out, stdout, stderr) = scan(&["--device", tty, "--protocols", "modbus", "--units", "1-12", "--timeout", "150ms"]);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("12/12 unit ids probed, 3 answered"), "{stderr}");
    for (unit, profile) in [(3, "eastron_sdm630"), (7, "chint_dtsu666"), (12, "schneider_iem3000")] {
        let entry = stdout.split("[[modbus.devices]]").find(|e| e.contains(&format!("\nunit = {unit}\n"))).unwrap_or_else(|| panic!("unit {unit} not found:\n{stdout}"));
        assert!(entry.contains(&format!("profile = \"{profile}\"  # proposed: frequency = ")), "unit {unit}:\n{entry}");
    }
}
