//! Decoding checked against a Modbus server that is not ours: pymodbus serves hand-written
//! registers for every data type in every word and byte order, with holes between them.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use e2e::{run_collector, summary_row, write_config};
use readings::Quality;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_pymodbus(registers: &Path) -> (Server, u16) {
    assert!(
        Command::new("/usr/bin/python3").args(["-c", "import pymodbus"]).status().is_ok_and(|s| s.success()),
        "Debian's python3-pymodbus is not installed: run ./tests/run, which installs it"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("servers/pymodbus_server.py");
    let child = Command::new("/usr/bin/python3").arg(script).arg(port.to_string()).arg(registers).spawn().unwrap();
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "pymodbus did not listen on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
    (server, port)
}

/// One device per word order; its eight points are the eight data types, in this order.
const QUANTITIES: [(&str, &str, &str, u16); 8] = [
    ("voltage_l1", "u16", "V", 0),
    ("voltage_l2", "i16", "V", 2),
    ("voltage_l3", "u32", "V", 4),
    ("voltage_l12", "i32", "V", 8),
    ("voltage_l23", "u64", "V", 12),
    ("voltage_l31", "i64", "V", 18),
    ("current_l1", "f32", "A", 24),
    ("current_l2", "f64", "A", 28),
];

fn expected() -> [f64; 8] {
    [4660.0, -2.0, 287_454_020.0, -123_456_789.0, 72_623_859_790_382_856u64 as f64, -2.0, f64::from(123.456f32), 1_234_567.891]
}

#[test]
fn every_type_and_order_decodes_from_pymodbus() {
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases/independent-server");
    let (_server, port) = start_pymodbus(&case.join("registers.json"));
    let devices = [("abcd", "ABCD", "holding", 100), ("cdab", "CDAB", "holding", 200), ("badc", "BADC", "input", 100), ("dcba", "DCBA", "input", 200)];
    let entries: Vec<String> = devices
        .iter()
        .map(|(name, order, function, base)| {
            let mut s = format!(
                "[[modbus.devices]]\nname = \"{name}\"\nhost = \"127.0.0.1\"\nport = {port}\nunit = 1\ninterval = \"1s\"\nmedium = \"electricity\"\n"
            );
            for (quantity, data_type, unit, offset) in QUANTITIES {
                s.push_str(&format!(
                    "[[modbus.devices.points]]\nname = \"{quantity}\"\nquantity = \"{quantity}\"\nkind = \"gauge\"\nfunction = \"{function}\"\naddress = {}\ntype = \"{data_type}\"\norder = \"{order}\"\nunit = \"{unit}\"\n",
                    base + offset
                ));
            }
            s
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "max_age = \"1s\"", &entries);
    let out = run_collector(&config, "3500ms");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");

    let stored = readings::store::read_range(&dir.path().join("data/readings"), DateTime::from_timestamp(0, 0).unwrap(), Utc::now()).unwrap();
    for (name, ..) in devices {
        for ((quantity, data_type, ..), want) in QUANTITIES.iter().zip(expected()) {
            let rows: Vec<_> = stored.iter().filter(|r| r.meter.as_str() == name && r.quantity.to_string() == *quantity).collect();
            assert!(rows.len() >= 2, "{name} {data_type}: {} readings", rows.len());
            for r in rows {
                assert_eq!((r.value, r.quality), (Some(want), Quality::Good), "{name} {data_type}");
            }
        }
        // The registers between values are holes: the merged read was refused once with
        // exception 02, then the values were read one by one.
        let row = summary_row(&stdout, name);
        assert!(row.iter().any(|c| c.starts_with("exception_02=")), "{name}: {row:?}");
    }
}
