//! One RS-485 line as plants wire it: a Modbus RTU meter, two DL/T 645-2007 meters, an older
//! DL/T 645-1997 meter and a CJ/T 188 water meter on one pseudo-terminal (the far end answers all three protocols, as the meters on
//! a bus would: tests/servers/mixed_bus.py), and a Modbus unit nobody has. The line's one owner
//! polls them one request at a time; the live ones read back exactly on every slot and the dead
//! one costs its timeout only.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use e2e::{run_collector, stored_readings, summary_row, SerialPair};
use readings::Quality;

struct Bus(Child);

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A DL/T 645 profile of two items, for meters that keep only these.
const PROFILE: &str = r#"[profile]
name = "two_items"
vendor = "test"
model = "energy and voltage"
protocol = "dlt645-2007"
medium = "electricity"
source = "DL/T 645-2007 appendix A"
verified = false

[[items]]
name = "active_energy_import"
di = "00010000"
quantity = "active_energy_import"
kind = "counter"
unit = "kWh"
format = "XXXXXX.XX"

[[items]]
name = "voltage_l1"
di = "02010100"
quantity = "voltage_l1"
kind = "gauge"
unit = "V"
format = "XXX.X"
"#;

/// A DL/T 645-1997 meter's items: two-byte identifiers, read with control 01H.
const PROFILE_1997: &str = "[profile]\nname = \"one_phase_1997\"\nvendor = \"test\"\nmodel = \"m\"\nprotocol = \"dlt645-1997\"\nmedium = \"electricity\"\nsource = \"s\"\nverified = false\n\n\
[[items]]\nname = \"e\"\ndi = \"9010\"\nquantity = \"active_energy_import\"\nkind = \"counter\"\nunit = \"kWh\"\nformat = \"XXXXXX.XX\"\n\n\
[[items]]\nname = \"v\"\ndi = \"B611\"\nquantity = \"voltage_l1\"\nkind = \"gauge\"\nunit = \"V\"\nformat = \"XXX\"\n\n\
[[items]]\nname = \"i\"\ndi = \"B621\"\nquantity = \"current_l1\"\nkind = \"gauge\"\nunit = \"A\"\nformat = \"XX.XX\"\n";

#[test]
fn modbus_dlt645_and_cjt188_meters_share_one_line() {
    one_line(false);
}

/// The same line behind a half-duplex adapter that hears its own requests (`echo = true`): each
/// request's echo is dropped and the answers read as before, the dead unit's echo no answer.
#[test]
fn an_echoing_adapter_carries_the_same_line() {
    one_line(true);
}

fn one_line(echo: bool) {
    let pair = SerialPair::start();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("servers/mixed_bus.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args(["--serial", pair.b.to_str().unwrap()])
        .args(["--modbus", "1:62:123456"])
        .args(["--dlt645", "000012345678:00010000:12345.67", "--dlt645", "000012345678:02010100:230.4"])
        .args(["--dlt645", "000012345679:00010000:222.5", "--dlt645", "000012345679:02010100:229.9"])
        .args(["--cjt188", "10:00000000000001:77.5"])
        .args(["--dlt645-1997", "000000000003:9010:4321.5", "--dlt645-1997", "000000000003:B611:231", "--dlt645-1997", "000000000003:B621:12.34"])
        .args(echo.then_some("--echo"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs the bus");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "listening");
    let _bus = Bus(child);

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("profiles")).unwrap();
    std::fs::write(dir.path().join("profiles/two_items.toml"), PROFILE).unwrap();
    std::fs::write(dir.path().join("profiles/one_phase_1997.toml"), PROFILE_1997).unwrap();
    let dlt = |name: &str, address: &str| format!("[[dlt645.devices]]\nname = \"{name}\"\nline = \"rs485-1\"\naddress = \"{address}\"\nprofile = \"two_items\"\ninterval = \"2s\"\n");
    let old_meter = "[[dlt645.devices]]\nname = \"old-meter\"\nline = \"rs485-1\"\naddress = \"000000000003\"\nprofile = \"one_phase_1997\"\ninterval = \"2s\"\n";
    let modbus = |name: &str, unit: u8, extra: &str| format!("[[modbus.devices]]\nname = \"{name}\"\nline = \"rs485-1\"\nunit = {unit}\nprofile = \"acrel_adw300\"\ninterval = \"2s\"\n{extra}\n");
    let text = format!(
        "[gateway]\nenterprise = \"91350100M000100Y43\"\nsite = \"plant-1\"\n\n[clock]\ntrusted = true\n\n[storage]\ndata_dir = \"data\"\n\n[sinks.parquet]\nmax_age = \"1s\"\n\n\
         [[modbus.serial_lines]]\nname = \"rs485-1\"\ndevice = \"{}\"\nbaud = 9600\nparity = \"even\"\necho = {echo}\n\n{}{}\n[dlt645]\nprofiles_dir = \"profiles\"\n\n{}{}\
         [[cjt188.devices]]\nname = \"water-main\"\nline = \"rs485-1\"\nmeter_type = \"cold_water\"\naddress = \"00000000000001\"\ninterval = \"2s\"\n",
        pair.a.display(),
        modbus("pump", 1, ""),
        modbus("dead", 9, "timeout = \"300ms\""),
        dlt("boundary", "000012345678"),
        dlt("boundary-2", "000012345679") + old_meter,
    );
    let config = dir.path().join("collector.toml");
    std::fs::write(&config, text).unwrap();
    let out = run_collector(&config, "9s");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    for live in ["pump", "boundary", "boundary-2", "water-main", "old-meter"] {
        assert_eq!(summary_row(&stdout, live).last().map(String::as_str), Some("-"), "{live} had failures:\n{stdout}");
    }
    assert!(summary_row(&stdout, "dead").iter().any(|c| c.starts_with("timeout=")), "{stdout}");

    let stored = stored_readings(dir.path());
    for (meter, quantity, want) in [
        ("pump", "active_energy_import", 1234.56),
        ("boundary", "active_energy_import", 12345.67),
        ("boundary", "voltage_l1", 230.4),
        ("boundary-2", "active_energy_import", 222.5),
        ("boundary-2", "voltage_l1", 229.9),
        ("water-main", "volume", 77.5),
        ("old-meter", "active_energy_import", 4321.5),
        ("old-meter", "voltage_l1", 231.0),
        ("old-meter", "current_l1", 12.34),
    ] {
        // The live readings (the CJ/T 188 meter's settlement-day value, from its memory and
        // stamped by its 2015 clock, is stored apart as clock_unsynced).
        let mut got: Vec<(i64, Option<f64>, Quality)> = stored
            .iter()
            .filter(|r| r.meter.as_str() == meter && r.quantity.to_string() == quantity && !matches!(r.quality, Quality::MeterMemory | Quality::ClockUnsynced))
            .map(|r| (r.time.timestamp(), r.value, r.quality))
            .collect();
        got.sort_by_key(|g| g.0);
        assert!(got.len() >= 3, "{meter} {quantity}: {got:?}");
        assert!(got.iter().all(|(_, v, q)| *v == Some(want) && *q == Quality::Good), "{meter} {quantity}: {got:?}, want {want}");
        assert_eq!((got.last().unwrap().0 - got[0].0) / 2 + 1, got.len() as i64, "{meter} {quantity} missed a 2 s slot: {got:?}");
    }
}
