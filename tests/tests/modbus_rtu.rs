//! Modbus RTU on a real serial line: a pseudo-terminal pair made by socat, the collector on one
//! end, meter-sim's RTU server on the other, several unit ids on the one line.
//!
//! A pseudo-terminal carries bytes, not bits: baud rate, parity and stop bits are set on both ends
//! but not enforced, so these tests check framing, timing rules, CRCs and the poller's behaviour,
//! not a character-format mismatch (which on real wires shows up as CRC errors and timeouts).

use chrono::{DateTime, Utc};
use e2e::{assert_on_cadence_and_exact, run_collector, serial_device, stored_readings, summary_row, write_config, SerialPair, Sim};
use meter_sim::{DeviceSpec, Simulator};
use readings::Quality;

const FROZEN: &str = "2026-03-04T05:06:07Z";
const SEED: &str = "7";

fn serial_line(tty: &std::path::Path) -> String {
    format!("[[modbus.serial_lines]]\nname = \"rs485-1\"\ndevice = \"{}\"\nbaud = 9600\nparity = \"even\"\n", tty.display())
}

fn reference(specs: &[&str]) -> Simulator {
    let specs: Vec<DeviceSpec> = specs.iter().map(|s| s.parse().unwrap()).collect();
    Simulator::new(&specs, SEED.parse().unwrap(), Some(FROZEN.parse().unwrap()), None).unwrap()
}

/// Four meters on one line, one dead and one refusing half its reads: the dead one costs its
/// timeout and is backed off, the refusals are counted, and the healthy meters keep every 1 s
/// slot with exact values.
#[test]
fn a_dead_meter_on_the_line_costs_its_timeout_and_nothing_more() {
    let line = SerialPair::start();
    let specs = ["1=eastron_sdm630", "2=tuf2000m", "3=acrel_adw300:dead", "4=chint_dtsu666:exceptions=0.5"];
    let mut args = vec!["--seed", SEED, "--freeze-at", FROZEN, "--parity", "even"];
    for s in &specs {
        args.extend(["--device", s]);
    }
    let _sim = Sim::start_serial(&line.b, &args);
    let dir = tempfile::tempdir().unwrap();
    let t = "timeout = \"300ms\"";
    let devices = [
        serial_line(&line.a),
        serial_device("incomer", "rs485-1", 1, "eastron_sdm630", "1s", t),
        serial_device("water", "rs485-1", 2, "tuf2000m", "1s", t),
        serial_device("dead", "rs485-1", 3, "acrel_adw300", "1s", t),
        serial_device("refusing", "rs485-1", 4, "chint_dtsu666", "1s", t),
    ];
    let config = write_config(dir.path(), "max_age = \"1s\"", &devices);
    let out = run_collector(&config, "7s");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");

    let stored = stored_readings(dir.path());
    let reference = reference(&specs[..2]);
    let frozen: DateTime<Utc> = FROZEN.parse().unwrap();
    for (unit, name) in [(1u8, "incomer"), (2, "water")] {
        assert_on_cadence_and_exact(&stored, name, reference.meter(unit).unwrap(), frozen, 5);
        assert_eq!(summary_row(&stdout, name).last().map(String::as_str), Some("-"), "{stdout}");
    }

    // The dead meter: timeouts counted, its slots stored without values, and backed off after
    // three failed cycles, so it was asked fewer times than it had slots.
    let dead = summary_row(&stdout, "dead");
    let timeouts: u64 = dead.iter().find_map(|c| c.strip_prefix("timeout=")).and_then(|n| n.parse().ok()).unwrap_or(0);
    let cycles: u64 = dead[1].parse().unwrap();
    assert!(timeouts >= 3 && timeouts < cycles, "backed off: {dead:?}");
    let of = |name: &'static str| stored.iter().filter(move |r| r.meter.as_str() == name);
    assert!(of("dead").count() > 0 && of("dead").all(|r| r.value.is_none() && matches!(r.quality, Quality::Timeout | Quality::SkippedBackoff)));
    // A slot skipped by the back-off says so: nothing was asked, so it is no timeout.
    let asked: u64 = of("dead").filter(|r| r.quality == Quality::Timeout).count() as u64;
    let skipped = of("dead").filter(|r| r.quality == Quality::SkippedBackoff).count();
    assert!(skipped > 0 && asked <= timeouts, "{asked} timeout rows for {timeouts} timeouts, {skipped} skipped");

    // The refusing meter: exception 04 counted, its other reads stored with values.
    let refusing = summary_row(&stdout, "refusing");
    assert!(refusing.iter().any(|c| c.starts_with("exception_04=")), "{refusing:?}");
    assert!(of("refusing").any(|r| r.quality == Quality::DeviceException && r.value.is_none()));
    assert!(of("refusing").any(|r| r.quality == Quality::Good && r.value.is_some()));
}

/// A noisy line: a share of the answers arrives with a flipped bit. Every one is caught by its
/// CRC and counted, retried at once, and no garbled value reaches the store.
#[test]
fn crc_errors_on_a_noisy_line_are_counted_and_never_stored() {
    let line = SerialPair::start();
    let specs = ["1=eastron_sdm630", "2=tuf2000m"];
    let _sim = Sim::start_serial(
        &line.b,
        &["--seed", SEED, "--freeze-at", FROZEN, "--parity", "even", "--crc-errors", "0.3", "--device", specs[0], "--device", specs[1]],
    );
    let dir = tempfile::tempdir().unwrap();
    let t = "timeout = \"300ms\"\nretries = 3";
    let devices = [
        serial_line(&line.a),
        serial_device("incomer", "rs485-1", 1, "eastron_sdm630", "1s", t),
        serial_device("water", "rs485-1", 2, "tuf2000m", "1s", t),
    ];
    let config = write_config(dir.path(), "max_age = \"1s\"", &devices);
    let out = run_collector(&config, "6s");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");

    let crc = |name: &str| -> u64 { summary_row(&stdout, name).iter().find_map(|c| c.strip_prefix("crc=")).and_then(|n| n.parse().ok()).unwrap_or(0) };
    assert!(crc("incomer") + crc("water") >= 3, "{stdout}");

    let stored = stored_readings(dir.path());
    let reference = reference(&specs);
    let frozen: DateTime<Utc> = FROZEN.parse().unwrap();
    let mut good = 0;
    for (unit, name) in [(1u8, "incomer"), (2, "water")] {
        let meter = reference.meter(unit).unwrap();
        for (p, point) in meter.profile.map.points.iter().enumerate() {
            let expected = meter.expected(p, frozen);
            for r in stored.iter().filter(|r| r.meter.as_str() == name && r.quantity == point.quantity) {
                if r.value.is_some() {
                    good += 1;
                    assert_eq!((r.value, r.quality), expected, "{name}.{}", point.name);
                } else {
                    assert_eq!(r.quality, Quality::CommError, "{name}.{}", point.name);
                }
            }
        }
    }
    assert!(good > 50, "the retries got most values through: {good}");
}
