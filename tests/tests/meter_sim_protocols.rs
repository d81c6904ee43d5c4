//! meter-sim's DL/T 645-2007 and CJ/T 188 meters, with a Modbus RTU meter, on one TCP listener
//! passing raw frames (a serial server in front of one RS-485 line): the collector reads all
//! three with good quality and plausible values, the counters never go down, and the DL/T 645
//! meter's backfill stores its 12 settlement totals as `meter_memory` at the 1st of each month
//! 00:00 UTC+8 and its 62 daily freezes at each day's 00:00 (once where the two coincide), each
//! exactly what meter-sim's model gives for that instant.

use chrono::{DateTime, Utc};
use collector::dlt645::codec::DataId;
use collector::dlt645::profile::Profile;
use e2e::{device, run_collector, stored_readings, summary_row, Sim};
use meter_sim::dlt645::{daily_freeze_instant, settlement_instant, Dlt645Meter};
use readings::Quality;

const SEED: &str = "3";
const DLT_ADDRESS: &str = "000012345678";
const WATER_ADDRESS: &str = "00000000000001";

#[test]
fn dlt645_cjt188_and_modbus_meters_share_one_raw_frame_listener() {
    let sim = Sim::start(&[
        "--rtu-over-tcp",
        "--seed",
        SEED,
        "--device",
        "1=eastron_sdm630",
        "--dlt645",
        &format!("{DLT_ADDRESS}=dlt645_generic_3phase"),
        "--cjt188",
        &format!("cold_water:{WATER_ADDRESS}"),
    ]);
    let port = sim.port();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[gateway]\nenterprise = \"91350100M000100Y43\"\nsite = \"plant-1\"\n\n[clock]\ntrusted = true\n\n[storage]\ndata_dir = \"data\"\n\n[sinks.parquet]\nmax_age = \"1s\"\n\n{}\n\
         [[dlt645.devices]]\nname = \"boundary\"\nhost = \"127.0.0.1\"\nport = {port}\naddress = \"{DLT_ADDRESS}\"\nprofile = \"dlt645_generic_3phase\"\ninterval = \"2s\"\n\n\
         [[cjt188.devices]]\nname = \"water-main\"\nhost = \"127.0.0.1\"\nport = {port}\nmeter_type = \"cold_water\"\naddress = \"{WATER_ADDRESS}\"\ninterval = \"2s\"\n",
        device("pump", port, 1, "eastron_sdm630", "2s", "transport = \"rtu_over_tcp\""),
    );
    let config = dir.path().join("collector.toml");
    std::fs::write(&config, text).unwrap();
    let out = run_collector(&config, "9s");
    let now = Utc::now();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    for live in ["pump", "boundary", "water-main"] {
        assert_eq!(summary_row(&stdout, live).last().map(String::as_str), Some("-"), "{live} had failures:\n{stdout}");
    }

    let stored = stored_readings(dir.path());
    let series = |meter: &str, quantity: &str, quality: Quality| -> Vec<(DateTime<Utc>, f64)> {
        let mut v: Vec<_> = stored
            .iter()
            .filter(|r| r.meter.as_str() == meter && r.quantity.to_string() == quantity && r.quality == quality)
            .map(|r| (r.time, r.value.unwrap_or(f64::NAN)))
            .collect();
        v.sort_by_key(|x| x.0);
        v
    };
    // Nothing stored for these meters is anything but good, apart from the meter's own memory.
    for r in stored.iter().filter(|r| ["pump", "boundary", "water-main"].contains(&r.meter.as_str())) {
        assert!(matches!(r.quality, Quality::Good | Quality::MeterMemory), "{r:?}");
    }

    let profile = Profile::builtin("dlt645_generic_3phase").unwrap().unwrap();
    let meter = Dlt645Meter::new(DLT_ADDRESS.parse().unwrap(), profile, SEED.parse().unwrap(), None).unwrap();
    let water = meter_sim::cjt188::Cjt188Meter::new(
        collector::cjt188::codec::MeterType::ColdWater,
        WATER_ADDRESS.parse().unwrap(),
        SEED.parse().unwrap(),
        None,
    )
    .unwrap();

    // Live counters: on every slot, never going down, and what the model shows within the few
    // seconds between the slot and the read (a few kW or m3/h at most: well under 0.1).
    for (meter_name, quantity, model) in [
        ("boundary", "active_energy_import", Box::new(|t| meter.import_kwh(t)) as Box<dyn Fn(DateTime<Utc>) -> f64>),
        ("boundary", "active_energy_export", Box::new(|t| 0.01 * meter.import_kwh(t))),
        ("water-main", "volume", Box::new(|t| water.counter(t))),
    ] {
        let got = series(meter_name, quantity, Quality::Good);
        assert!(got.len() >= 3, "{meter_name} {quantity}: {got:?}");
        assert!(got.windows(2).all(|w| w[1].1 >= w[0].1), "{meter_name} {quantity} went down: {got:?}");
        for (t, v) in &got {
            assert!((v - model(*t)).abs() < 0.1, "{meter_name} {quantity} at {t}: {v}, the model {}", model(*t));
        }
    }
    for quantity in ["voltage_l1", "voltage_l2", "voltage_l3"] {
        let got = series("boundary", quantity, Quality::Good);
        assert!(!got.is_empty() && got.iter().all(|(_, v)| (220.0..240.0).contains(v)), "{quantity}: {got:?}");
    }
    let power = series("boundary", "active_power", Quality::Good);
    assert!(!power.is_empty() && power.iter().all(|(_, v)| *v > 0.0 && *v < 20.0), "{power:?}");
    assert!(!series("pump", "active_energy_import", Quality::Good).is_empty());

    // The settlement totals: 12 per energy counter, at the 1st of each month 00:00 UTC+8, and
    // the 62 daily freezes at each day's 00:00, a freeze at a settlement instant stored once;
    // each equal to the model's counter at that instant, and increasing.
    for (quantity, di) in [("active_energy_import", DataId::FORWARD_ACTIVE_ENERGY), ("active_energy_export", DataId::REVERSE_ACTIVE_ENERGY)] {
        let got = series("boundary", quantity, Quality::MeterMemory);
        let settlements = (1..=12u8).map(|n| (settlement_instant(now, n).unwrap(), meter.expected(di.at_settlement(n).unwrap(), now).unwrap()));
        let mut want: Vec<(DateTime<Utc>, f64)> = settlements.collect();
        for n in 1..=62u8 {
            let at = daily_freeze_instant(now, n).unwrap();
            if !want.iter().any(|(t, _)| *t == at) {
                want.push((at, meter.expected(di.at_daily_freeze(n).unwrap(), now).unwrap()));
            }
        }
        want.sort_by_key(|w| w.0);
        // Two or three of the 62 days are settlement days.
        assert!((12 + 59..=12 + 60).contains(&want.len()), "{}", want.len());
        assert_eq!(got, want, "{quantity} settlement totals and daily freezes");
        assert!(got.windows(2).all(|w| w[1].1 > w[0].1), "{quantity}: {got:?}");
        let live = series("boundary", quantity, Quality::Good);
        assert!(got.last().unwrap().1 <= live[0].1, "{quantity}: {got:?} vs {live:?}");
    }

    // A restart reads the meter's memory again and stores none of it twice.
    let memory = |stored: &[readings::Reading]| stored.iter().filter(|r| r.meter.as_str() == "boundary" && r.quality == Quality::MeterMemory).count();
    let before = memory(&stored);
    assert!(run_collector(&config, "3s").status.success());
    assert_eq!(memory(&stored_readings(dir.path())), before);
}

/// The same three protocols on a serial line (a socat pseudo-terminal pair) with the faults a
/// bus has: a dead DL/T 645 meter costs its timeout, meters that refuse every read answer with
/// their protocol's exception (DL/T 645 "other error", CJ/T 188 abnormal C1H), and a share of
/// answers arrives with a bad checksum; the healthy meters still read back.
#[test]
fn faults_on_a_serial_line_with_three_protocols() {
    let pair = e2e::SerialPair::start();
    let _sim = Sim::start_serial(
        &pair.b,
        &[
            "--seed",
            SEED,
            "--crc-errors",
            "0.2",
            "--device",
            "1=eastron_sdm630",
            "--dlt645",
            &format!("{DLT_ADDRESS}=dlt645_generic_3phase"),
            "--dlt645",
            "000012345679=dlt645_generic_3phase:dead",
            "--dlt645",
            "000012345680=dlt645_generic_3phase:exceptions=1",
            "--cjt188",
            "heat:00000000000002",
            "--cjt188",
            "cold_water:00000000000003:exceptions=1",
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let dlt = |name: &str, address: &str, extra: &str| {
        format!("[[dlt645.devices]]\nname = \"{name}\"\nline = \"rs485-1\"\naddress = \"{address}\"\nprofile = \"dlt645_generic_3phase\"\ninterval = \"3s\"\nbackfill = false\n{extra}\n")
    };
    let cjt = |name: &str, kind: &str, address: &str| {
        format!("[[cjt188.devices]]\nname = \"{name}\"\nline = \"rs485-1\"\nmeter_type = \"{kind}\"\naddress = \"{address}\"\ninterval = \"3s\"\n")
    };
    let text = format!(
        "[gateway]\nenterprise = \"91350100M000100Y43\"\nsite = \"plant-1\"\n\n[clock]\ntrusted = true\n\n[storage]\ndata_dir = \"data\"\n\n[sinks.parquet]\nmax_age = \"1s\"\n\n\
         [[modbus.serial_lines]]\nname = \"rs485-1\"\ndevice = \"{}\"\nbaud = 9600\nparity = \"even\"\n\n{}{}{}{}{}{}",
        pair.a.display(),
        e2e::serial_device("pump", "rs485-1", 1, "eastron_sdm630", "3s", ""),
        dlt("boundary", DLT_ADDRESS, ""),
        dlt("dead-meter", "000012345679", "timeout = \"300ms\""),
        dlt("refusing", "000012345680", ""),
        cjt("heat-1", "heat", "00000000000002"),
        cjt("water-refusing", "cold_water", "00000000000003"),
    );
    let config = dir.path().join("collector.toml");
    std::fs::write(&config, text).unwrap();
    let out = run_collector(&config, "10s");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let row = |name: &str| summary_row(&stdout, name).join(" ");
    assert!(row("dead-meter").contains("timeout="), "{stdout}");
    assert!(row("refusing").contains("exception_01="), "{stdout}");
    assert!(row("water-refusing").contains("exception_c1="), "{stdout}");
    // One answer in five has a bad checksum: some meter on the line saw it.
    assert!(["pump", "boundary", "heat-1", "refusing", "water-refusing"].iter().any(|n| row(n).contains("crc=")), "{stdout}");

    let stored = stored_readings(dir.path());
    let good = |meter: &str, quantity: &str| stored.iter().filter(|r| r.meter.as_str() == meter && r.quantity.to_string() == quantity && r.quality == Quality::Good).count();
    for (meter, quantity) in [("pump", "active_energy_import"), ("boundary", "active_energy_import"), ("heat-1", "heat_energy"), ("heat-1", "volume_flow"), ("heat-1", "volume"), ("heat-1", "supply_temperature"), ("heat-1", "return_temperature"), ("heat-1", "operating_time")] {
        assert!(good(meter, quantity) >= 1, "{meter} {quantity} never read back:\n{stdout}");
    }
    assert_eq!(good("dead-meter", "active_energy_import") + good("refusing", "active_energy_import") + good("water-refusing", "volume"), 0);
}
