//! The collector against `meter-sim` over real TCP on loopback.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use e2e::{assert_on_cadence_and_exact, device, run_collector, stored_readings, summary_row, write_config, Sim};
use meter_sim::{DeviceSpec, Simulator};
use readings::{Quality, Reading};

const FROZEN: &str = "2026-03-04T05:06:07Z";
const SEED: &str = "42";

/// Every built-in profile, served by the simulator at a frozen instant, ends up in the store with
/// the values a correct reader decodes, in canonical units, stamped on whole-second slots.
#[test]
fn every_builtin_profile_round_trips_into_the_parquet_store() {
    let profiles: Vec<&str> = collector::modbus::profile::BUILTIN.iter().map(|(n, _)| *n).collect();
    let specs: Vec<String> = profiles.iter().enumerate().map(|(i, p)| format!("{}={p}", i + 1)).collect();
    let mut args: Vec<&str> = vec!["--seed", SEED, "--freeze-at", FROZEN];
    for s in &specs {
        args.extend(["--device", s.as_str()]);
    }
    let sim = Sim::start(&args);

    let dir = tempfile::tempdir().unwrap();
    let devices: Vec<String> =
        profiles.iter().enumerate().map(|(i, p)| device(p, sim.port(), i as u8 + 1, p, "1s", "")).collect();
    let config = write_config(dir.path(), "max_age = \"1s\"", &devices);
    let started = Utc::now();
    let out = run_collector(&config, "3500ms");
    assert!(out.status.success());
    let stopped = Utc::now();

    // The same meters, built in-process, say what each point must read.
    let parsed: Vec<DeviceSpec> = specs.iter().map(|s| s.parse().unwrap()).collect();
    let frozen: DateTime<Utc> = FROZEN.parse().unwrap();
    let reference = Simulator::new(&parsed, SEED.parse().unwrap(), Some(frozen), None).unwrap();

    let stored = stored_readings(dir.path());
    let mut slots: BTreeMap<String, std::collections::BTreeSet<i64>> = BTreeMap::new();
    for (i, profile) in profiles.iter().enumerate() {
        let meter = reference.meter(i as u8 + 1).unwrap();
        for (p, point) in meter.profile.map.points.iter().enumerate() {
            let rows: Vec<&Reading> =
                stored.iter().filter(|r| r.meter.as_str() == *profile && r.quantity == point.quantity).collect();
            assert!(rows.len() >= 2, "{profile}.{}: {} readings", point.name, rows.len());
            let (value, quality) = meter.expected(p, frozen);
            for r in rows {
                assert_eq!(r.quality, quality, "{profile}.{}", point.name);
                assert_eq!(r.quality, Quality::Good, "{profile}.{}: the simulator serves plausible values", point.name);
                assert_eq!(r.value, value, "{profile}.{}", point.name);
                assert_eq!(r.unit, point.quantity.canonical_unit());
                assert_eq!(r.medium, point.medium);
                assert_eq!(r.kind, point.kind);
                assert_eq!(r.enterprise.as_str(), "91350100M000100Y43");
                assert_eq!(r.time.timestamp_subsec_millis(), 0, "stamped with the 1 s slot, not the read time");
                assert!(r.time > started - chrono::Duration::seconds(1) && r.time < stopped);
                slots.entry(profile.to_string()).or_default().insert(r.time.timestamp());
            }
        }
    }
    // Spot-check one value by hand so the test does not only compare the simulator with itself:
    // the TUF-2000M totaliser is an int32 in units of 10^(n-3) m3; the simulator's multiplier
    // register gives 0.1 m3, so the stored volume is a whole number of tenths.
    let tuf = stored.iter().find(|r| r.meter.as_str() == "tuf2000m" && r.quantity.to_string() == "volume").unwrap();
    let tenths = tuf.value.unwrap() * 10.0;
    assert!((tenths - tenths.round()).abs() < 1e-6, "{tenths}");

    let stdout = String::from_utf8_lossy(&out.stdout);
    for profile in &profiles {
        let row = summary_row(&stdout, profile);
        assert_eq!(row.last().map(String::as_str), Some("-"), "{profile} had failures: {row:?}");
        assert!(slots[*profile].len() >= 2);
    }
}

/// Faulty meters behind the same address as a healthy one: their errors are counted and stored
/// as reading-less rows with the reason, and the healthy meter keeps every 1 s slot.
#[test]
fn faults_are_counted_and_the_healthy_meter_keeps_its_cadence() {
    let sim = Sim::start(&[
        "--device", "1=eastron_sdm630",
        "--device", "2=acrel_adw300:dead",
        "--device", "3=chint_dtsu666:exceptions=0.5",
        "--device", "4=tuf2000m:slow=1500ms@1.0",
    ]);
    let flaky = Sim::start(&["--device", "1=schneider_iem3000", "--drop-connections", "0.3"]);
    let dir = tempfile::tempdir().unwrap();
    let p = sim.port();
    let devices = vec![
        device("healthy", p, 1, "eastron_sdm630", "1s", "timeout = \"500ms\""),
        device("dead", p, 2, "acrel_adw300", "1s", "timeout = \"300ms\""),
        device("refusing", p, 3, "chint_dtsu666", "1s", "timeout = \"500ms\""),
        device("slow", p, 4, "tuf2000m", "1s", "timeout = \"300ms\""),
        device("dropped", flaky.port(), 1, "schneider_iem3000", "1s", "timeout = \"500ms\"\nretries = 3\nretry_backoff = \"50ms\""),
    ];
    let config = write_config(dir.path(), "max_age = \"1s\"", &devices);
    let out = run_collector(&config, "7s");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");

    let stored = stored_readings(dir.path());
    let of = |meter: &'static str| stored.iter().filter(move |r| r.meter.as_str() == meter);

    // Healthy: no gaps between its first and last slot, all good.
    let mut healthy: Vec<i64> = of("healthy").map(|r| r.time.timestamp()).collect();
    healthy.sort_unstable();
    healthy.dedup();
    assert!(healthy.len() >= 5, "{healthy:?}");
    assert_eq!(healthy.last().unwrap() - healthy[0] + 1, healthy.len() as i64, "a slot was missed: {healthy:?}");
    assert!(of("healthy").all(|r| r.quality == Quality::Good));
    assert_eq!(summary_row(&stdout, "healthy").last().map(String::as_str), Some("-"));

    // Dead: timeouts counted, and its slots stored without values: timed out, or skipped while
    // it was backed off (nothing asked).
    let dead = summary_row(&stdout, "dead");
    assert!(dead.iter().any(|c| c.starts_with("timeout=")), "{dead:?}");
    assert!(of("dead").count() > 0 && of("dead").all(|r| r.value.is_none() && matches!(r.quality, Quality::Timeout | Quality::SkippedBackoff)));

    // Refusing: exception 04 counted; some points stored with values, some without.
    let refusing = summary_row(&stdout, "refusing");
    assert!(refusing.iter().any(|c| c.starts_with("exception_04=")), "{refusing:?}");
    assert!(of("refusing").any(|r| r.quality == Quality::DeviceException && r.value.is_none()));
    assert!(of("refusing").any(|r| r.quality == Quality::Good && r.value.is_some()));

    // Slow: answers after the timeout count as timeouts.
    let slow = summary_row(&stdout, "slow");
    assert!(slow.iter().any(|c| c.starts_with("timeout=")), "{slow:?}");

    // Dropped connections: transport failures counted, reconnects bring readings back.
    let dropped = summary_row(&stdout, "dropped");
    assert!(dropped.iter().any(|c| c.starts_with("transport=")), "{dropped:?}");
    assert!(of("dropped").filter(|r| r.quality == Quality::Good).count() > 10);
}

/// SIGTERM ends the collector cleanly and what it buffered is written before it exits.
#[test]
fn sigterm_flushes_buffered_readings() {
    let sim = Sim::start(&["--device", "1=eastron_sdm630"]);
    let dir = tempfile::tempdir().unwrap();
    // A long max_age: nothing is written until shutdown.
    let config = write_config(dir.path(), "max_age = \"1h\"\nmax_rows = 1000000", &[device("m", sim.port(), 1, "eastron_sdm630", "1s", "")]);
    let child = std::process::Command::new(e2e::bin("collector"))
        .args(["run", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(3500));
    assert!(stored_readings(dir.path()).is_empty(), "nothing written before shutdown");
    let status = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit status {:?}", out.status);
    let stored = stored_readings(dir.path());
    assert!(stored.len() >= 16 * 2, "{} readings", stored.len());
    let row = summary_row(&String::from_utf8_lossy(&out.stdout), "m");
    // cycles x 16 points were good, and every one of them is in the store.
    assert_eq!(row[4].parse::<usize>().unwrap(), stored.len());
}

/// RTU frames over TCP, as serial-to-Ethernet converters pass them: several unit ids behind one
/// converter, one of them dead; the others keep every slot with exact values.
#[test]
fn rtu_over_tcp_through_a_converter() {
    let sim = Sim::start(&[
        "--rtu-over-tcp", "--seed", SEED, "--freeze-at", FROZEN,
        "--device", "1=eastron_sdm630", "--device", "2=tuf2000m", "--device", "3=acrel_adw300:dead",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let rtu = "transport = \"rtu_over_tcp\"\ntimeout = \"300ms\"";
    let devices = [
        device("incomer", sim.port(), 1, "eastron_sdm630", "1s", rtu),
        device("water", sim.port(), 2, "tuf2000m", "1s", rtu),
        device("dead", sim.port(), 3, "acrel_adw300", "1s", rtu),
    ];
    let config = write_config(dir.path(), "max_age = \"1s\"", &devices);
    let out = run_collector(&config, "5s");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);

    let specs: Vec<DeviceSpec> = ["1=eastron_sdm630", "2=tuf2000m"].iter().map(|s| s.parse().unwrap()).collect();
    let frozen: DateTime<Utc> = FROZEN.parse().unwrap();
    let reference = Simulator::new(&specs, SEED.parse().unwrap(), Some(frozen), None).unwrap();
    let stored = stored_readings(dir.path());
    for (unit, name) in [(1u8, "incomer"), (2, "water")] {
        assert_on_cadence_and_exact(&stored, name, reference.meter(unit).unwrap(), frozen, 3);
        assert_eq!(summary_row(&stdout, name).last().map(String::as_str), Some("-"), "{stdout}");
    }
    assert!(summary_row(&stdout, "dead").iter().any(|c| c.starts_with("timeout=")), "{stdout}");
}
