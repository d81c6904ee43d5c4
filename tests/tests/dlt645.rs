//! DL/T 645-2007 against an independent implementation: the PyPI package `dlt645` (Apache-2.0,
//! installed by tests/run into target/py-dlt645) serves a meter over TCP, and as an RTU slave on
//! a pseudo-terminal; the collector reads it with the generic three-phase profile, and what it
//! stores equals what the package was given, sign and decimals included.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use e2e::{free_port, run_collector, stored_readings, summary_row, SerialPair};

/// What the package's meter is given, as (DI, value), and the quantity each is stored as.
const VALUES: &[(&str, &str, f64)] = &[
    ("00010000", "active_energy_import", 12345.67),
    ("00020000", "active_energy_export", 1.5),
    ("02010100", "voltage_l1", 220.1),
    ("02010200", "voltage_l2", 219.9),
    ("02010300", "voltage_l3", 221.0),
    ("02020100", "current_l1", -5.125),
    ("02020200", "current_l2", 4.25),
    ("02020300", "current_l3", 0.001),
    ("02030000", "active_power", -1.2345),
    ("02060000", "power_factor", 0.987),
    ("02800002", "frequency", 50.01),
];

const ADDRESS: &str = "000012345678";

fn python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_owned();
    let py = root.join("target/py-dlt645/bin/python");
    assert!(py.exists(), "{} is missing: ./tests/run installs the PyPI dlt645 package there", py.display());
    py
}

/// The package's meter, killed when dropped.
struct PackageMeter(Child);

impl PackageMeter {
    fn start(listen: &[&str]) -> PackageMeter {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("servers/dlt645_server.py");
        let mut args: Vec<String> = listen.iter().map(|s| (*s).to_owned()).collect();
        args.extend(["--address".into(), ADDRESS.into()]);
        for (di, _, v) in VALUES {
            args.extend(["--set".into(), format!("{di}={v}")]);
        }
        let mut child = Command::new(python()).arg(script).args(&args).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("the dlt645 package's server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("it says it listens");
        assert_eq!(line.trim(), "listening", "{line:?}");
        PackageMeter(child)
    }
}

impl Drop for PackageMeter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn config(dir: &Path, endpoint: &str) -> PathBuf {
    let text = format!(
        "[gateway]\nenterprise = \"91350100M000100Y43\"\nsite = \"plant-1\"\n\n[clock]\ntrusted = true\n\n[storage]\ndata_dir = \"data\"\n\n[sinks.parquet]\nmax_age = \"1s\"\n\n{endpoint}\n\
         [[dlt645.devices]]\nname = \"boundary\"\n{}\naddress = \"{ADDRESS}\"\nprofile = \"dlt645_generic_3phase\"\ninterval = \"2s\"\ntimeout = \"1500ms\"\n",
        if endpoint.contains("serial_lines") { "line = \"rs485-1\"".to_owned() } else { String::new() }
    );
    let path = dir.join("collector.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn assert_stored_as_given(dir: &Path, stdout: &str) {
    let row = summary_row(stdout, "boundary");
    assert_eq!(row.last().map(String::as_str), Some("-"), "no failures: {row:?}");
    let stored = stored_readings(dir);
    for (di, quantity, given) in VALUES {
        let mine: Vec<_> = stored.iter().filter(|r| r.quantity.to_string() == *quantity).collect();
        assert!(!mine.is_empty(), "{di} {quantity} was stored");
        for r in mine {
            assert_eq!(r.value, Some(*given), "{di} {quantity}: the nearest double to what the package was given");
            assert_eq!(r.quality, readings::Quality::Good);
        }
    }
}

#[test]
fn a_meter_served_by_the_dlt645_package_over_tcp_reads_back_exactly() {
    let port = free_port();
    let _meter = PackageMeter::start(&["--tcp", &format!("127.0.0.1:{port}")]);
    let dir = tempfile::tempdir().unwrap();
    // A serial server (DTU) passing raw frames: the collector speaks DL/T 645 through it.
    let text = std::fs::read_to_string(config(dir.path(), "")).unwrap().replace("name = \"boundary\"\n", &format!("name = \"boundary\"\nhost = \"127.0.0.1\"\nport = {port}\n"));
    std::fs::write(dir.path().join("collector.toml"), text).unwrap();
    let out = run_collector(&dir.path().join("collector.toml"), "5s");
    assert!(out.status.success());
    assert_stored_as_given(dir.path(), &String::from_utf8_lossy(&out.stdout));
}

#[test]
fn a_meter_served_by_the_dlt645_package_on_a_serial_line_reads_back_exactly() {
    let pair = SerialPair::start();
    let _meter = PackageMeter::start(&["--serial", pair.b.to_str().unwrap(), "--baud", "9600"]);
    let dir = tempfile::tempdir().unwrap();
    let line = format!("[[modbus.serial_lines]]\nname = \"rs485-1\"\ndevice = \"{}\"\nbaud = 9600\nparity = \"even\"\n", pair.a.display());
    let cfg = config(dir.path(), &line);
    let out = run_collector(&cfg, "6s");
    assert!(out.status.success());
    assert_stored_as_given(dir.path(), &String::from_utf8_lossy(&out.stdout));
}
