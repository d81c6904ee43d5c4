//! The InfluxDB sink against real servers on loopback: Debian's InfluxDB 1.x through the
//! v1-compatible `/write` (read back exactly through `/query`), and VictoriaMetrics through the
//! v2 `/api/v2/write` (read back through its export API).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use e2e::{curl, device, free_port, run_collector, write_config, FaultProxy, Server, Sim};
use readings::Reading;

type Key = (i64, String, String); // time ms, meter, quantity

fn parquet_readings(dir: &std::path::Path) -> BTreeMap<Key, Reading> {
    readings::store::read_range(&dir.join("data/readings"), DateTime::from_timestamp(0, 0).unwrap(), Utc::now())
        .unwrap()
        .into_iter()
        .map(|r| ((r.time.timestamp_millis(), r.meter.to_string(), r.quantity.to_string()), r))
        .collect()
}

/// Every point InfluxDB 1.x holds, as (value, quality) by key.
fn influx_points(port: u16) -> BTreeMap<Key, (Option<f64>, String)> {
    let body = curl(&[
        "-G",
        &format!("http://127.0.0.1:{port}/query"),
        "--data-urlencode",
        "db=energy",
        "--data-urlencode",
        "epoch=ms",
        "--data-urlencode",
        "q=SELECT time, meter, quantity, value, quality FROM reading",
    ]);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut out = BTreeMap::new();
    let Some(series) = json["results"][0]["series"].as_array() else { return out };
    for s in series {
        for v in s["values"].as_array().unwrap() {
            let key = (v[0].as_i64().unwrap(), v[1].as_str().unwrap().to_owned(), v[2].as_str().unwrap().to_owned());
            out.insert(key, (v[3].as_f64(), v[4].as_str().unwrap().to_owned()));
        }
    }
    out
}

fn influx_sink(port: u16) -> String {
    format!("max_age = \"1s\"\n\n[sinks.influxdb]\nurl = \"http://127.0.0.1:{port}\"\napi = \"v1\"\ndatabase = \"energy\"\nmax_age = \"500ms\"\nretry_backoff = \"200ms\"\nmax_backoff = \"1s\"")
}

fn assert_same(parquet: &BTreeMap<Key, Reading>, influx: &BTreeMap<Key, (Option<f64>, String)>) {
    assert!(!parquet.is_empty());
    let missing: Vec<&Key> = parquet.keys().filter(|k| !influx.contains_key(*k)).collect();
    let extra: Vec<&Key> = influx.keys().filter(|k| !parquet.contains_key(*k)).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing in InfluxDB: {missing:?}\nonly in InfluxDB: {extra:?}");
    for (k, r) in parquet {
        let (value, quality) = &influx[k];
        assert_eq!(*value, r.value, "{k:?}: floats must be exact");
        assert_eq!(quality, r.quality.as_str(), "{k:?}");
    }
}

#[test]
fn influxdb_v1_holds_exactly_what_the_parquet_store_holds() {
    let server = Server::influxdb(free_port());
    let sim = Sim::start(&["--device", "1=eastron_sdm630", "--device", "2=tuf2000m:exceptions=1"]);
    let dir = tempfile::tempdir().unwrap();
    let devices = [device("incomer", sim.port(), 1, "eastron_sdm630", "1s", ""), device("water", sim.port(), 2, "tuf2000m", "1s", "")];
    let config = write_config(dir.path(), &influx_sink(server.port), &devices);
    let out = run_collector(&config, "3500ms");
    assert!(out.status.success());
    let parquet = parquet_readings(dir.path());
    assert!(parquet.values().any(|r| r.value.is_none()), "the refused polls are there too");
    assert_same(&parquet, &influx_points(server.port));
}

#[test]
fn influxdb_down_for_a_while_ends_with_every_reading() {
    let port = free_port();
    let mut server = Server::influxdb(port);
    server.stop();
    let sim = Sim::start(&["--device", "1=eastron_sdm630"]);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &influx_sink(port), &[device("incomer", sim.port(), 1, "eastron_sdm630", "1s", "")]);
    let collector = std::thread::spawn(move || run_collector(&config, "9s"));
    std::thread::sleep(std::time::Duration::from_secs(4));
    server.restart_influxdb();
    let out = collector.join().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let sink = stdout.lines().find(|l| l.starts_with("sink influxdb:")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(!sink.contains(" 0 failed attempts"), "the server was down, so attempts failed: {sink}");
    assert_same(&parquet_readings(dir.path()), &influx_points(port));
}

#[test]
fn victoria_metrics_through_the_v2_api() {
    let server = Server::victoria_metrics(free_port());
    let sim = Sim::start(&["--device", "1=eastron_sdm630"]);
    let dir = tempfile::tempdir().unwrap();
    let sink = format!(
        "max_age = \"1s\"\n\n[sinks.influxdb]\nurl = \"http://127.0.0.1:{}\"\napi = \"v2\"\norg = \"plant\"\nbucket = \"energy\"\nmax_age = \"500ms\"",
        server.port
    );
    let config = write_config(dir.path(), &sink, &[device("incomer", sim.port(), 1, "eastron_sdm630", "1s", "")]);
    assert!(run_collector(&config, "3500ms").status.success());
    let parquet = parquet_readings(dir.path());

    curl(&[&format!("http://127.0.0.1:{}/internal/force_flush", server.port)]);
    let export = curl(&["-G", &format!("http://127.0.0.1:{}/api/v1/export", server.port), "--data-urlencode", "match[]={__name__=\"reading_value\"}"]);
    let mut got: BTreeMap<Key, f64> = BTreeMap::new();
    for line in export.lines().filter(|l| !l.is_empty()) {
        let j: serde_json::Value = serde_json::from_str(line).unwrap();
        let meter = j["metric"]["meter"].as_str().unwrap().to_owned();
        let quantity = j["metric"]["quantity"].as_str().unwrap().to_owned();
        for (t, v) in j["timestamps"].as_array().unwrap().iter().zip(j["values"].as_array().unwrap()) {
            got.insert((t.as_i64().unwrap(), meter.clone(), quantity.clone()), v.as_f64().unwrap());
        }
    }
    let with_value: BTreeMap<&Key, f64> = parquet.iter().filter_map(|(k, r)| r.value.map(|v| (k, v))).collect();
    assert_eq!(got.len(), with_value.len(), "one point per stored value, no duplicates");
    for (k, v) in with_value {
        let g = got.get(k).unwrap_or_else(|| panic!("{k:?} not in VictoriaMetrics"));
        // VictoriaMetrics keeps about 13 significant digits.
        assert!((g - v).abs() <= 1e-11 * v.abs().max(1.0), "{k:?}: {g} vs {v}");
    }
}

#[test]
fn influxdb_answering_500_then_recovering_ends_with_every_reading() {
    let server = Server::influxdb(free_port());
    // The first five writes fail with 500 (and a Retry-After of 1 s).
    let proxy = FaultProxy::start(server.port, |n| (n < 5).then_some((500, "{\"error\":\"injected: engine busy\"}")));
    let sim = Sim::start(&["--device", "1=eastron_sdm630"]);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &influx_sink(proxy.port), &[device("incomer", sim.port(), 1, "eastron_sdm630", "1s", "")]);
    let out = run_collector(&config, "8s");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("5 failed attempts, 0 readings dead-lettered"), "{stdout}");
    assert_same(&parquet_readings(dir.path()), &influx_points(server.port));
}

#[test]
fn a_batch_the_server_refuses_is_dead_lettered_and_the_rest_delivered() {
    let server = Server::influxdb(free_port());
    // The second write is refused as bad data; everything else goes through.
    let proxy = FaultProxy::start(server.port, |n| (n == 1).then_some((400, "{\"error\":\"injected: unable to parse points\"}")));
    let sim = Sim::start(&["--device", "1=eastron_sdm630"]);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &influx_sink(proxy.port), &[device("incomer", sim.port(), 1, "eastron_sdm630", "1s", "")]);
    let out = run_collector(&config, "4500ms");
    assert!(out.status.success());

    let dead_dir = dir.path().join("data/dead-letter");
    let files: Vec<_> = std::fs::read_dir(&dead_dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(text.starts_with("# refused with HTTP 400: {\"error\":\"injected: unable to parse points\"}"), "{text}");
    // The dead-lettered lines plus what InfluxDB holds are exactly what the store holds.
    let mut set_aside: BTreeMap<Key, ()> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let tags = line.split(' ').next().unwrap();
        let tag = |k: &str| tags.split(',').find_map(|t| t.strip_prefix(&format!("{k}="))).unwrap().to_owned();
        let time: i64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        set_aside.insert((time, tag("meter"), tag("quantity")), ());
    }
    assert!(!set_aside.is_empty());
    let parquet = parquet_readings(dir.path());
    let influx = influx_points(server.port);
    assert!(set_aside.keys().all(|k| !influx.contains_key(k) && parquet.contains_key(k)));
    let delivered: BTreeMap<Key, Reading> = parquet.into_iter().filter(|(k, _)| !set_aside.contains_key(k)).collect();
    assert_same(&delivered, &influx);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("{} readings dead-lettered", set_aside.len())), "{stdout}");
}

#[test]
fn sigkill_mid_stream_then_restart_leaves_influxdb_exact() {
    let server = Server::influxdb(free_port());
    let sim = Sim::start(&["--device", "1=eastron_sdm630"]);
    let dir = tempfile::tempdir().unwrap();
    // InfluxDB batches every 500 ms; the Parquet sink only at shutdown, so the kill leaves it behind.
    let sink = format!(
        "max_age = \"1h\"\nmax_rows = 1000000\n\n[sinks.influxdb]\nurl = \"http://127.0.0.1:{}\"\napi = \"v1\"\ndatabase = \"energy\"\nmax_age = \"500ms\"",
        server.port
    );
    let config = write_config(dir.path(), &sink, &[device("incomer", sim.port(), 1, "eastron_sdm630", "1s", "")]);
    let mut first = std::process::Command::new(e2e::bin("collector"))
        .args(["run", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(4300));
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(!influx_points(server.port).is_empty(), "InfluxDB got batches before the kill");
    let out = run_collector(&config, "2s");
    assert!(out.status.success());
    // Parquet got everything from the journal at the restart; InfluxDB, replayed from its own
    // cursor, holds exactly the same points: replays overwrote, they did not add.
    assert_same(&parquet_readings(dir.path()), &influx_points(server.port));
}

#[test]
fn sigterm_with_influxdb_down_exits_and_keeps_the_readings_in_the_journal() {
    let nothing_there = free_port();
    let sim = Sim::start(&["--device", "1=eastron_sdm630"]);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &influx_sink(nothing_there), &[device("incomer", sim.port(), 1, "eastron_sdm630", "1s", "")]);
    let started = std::time::Instant::now();
    let out = run_collector(&config, "2s");
    // The sink gives up retrying after the shutdown grace (5 s) instead of hanging.
    assert!(out.status.success());
    assert!(started.elapsed() < std::time::Duration::from_secs(15), "{:?}", started.elapsed());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let journal = stdout.lines().find(|l| l.starts_with("journal:")).unwrap_or_else(|| panic!("{stdout}"));
    let undelivered: u64 = journal.split(", ").find_map(|p| p.strip_suffix(" undelivered")).and_then(|n| n.parse().ok()).unwrap();
    assert_eq!(undelivered as usize, parquet_readings(dir.path()).len(), "{journal}");

    // With InfluxDB back, the next run delivers what the journal kept.
    let server = Server::influxdb(nothing_there);
    assert!(run_collector(&config, "1500ms").status.success());
    assert_same(&parquet_readings(dir.path()), &influx_points(server.port));
}

/// A broken server: 503 with a `Retry-After` of u64::MAX seconds (which once panicked the sink
/// task on `Instant + Duration` while the process stayed up and healthy), then one with an
/// HTTP date in the year 9999, then 413 for any batch of more than 20 lines (a 1 s cycle holds 16). The sink clamps the
/// waits to `max_backoff`, splits the batches, and delivers everything.
#[test]
fn absurd_retry_after_and_413_are_survived_and_everything_delivered() {
    let server = Server::influxdb(free_port());
    let proxy = e2e::FaultProxy::start_with(
        server.port,
        Box::new(|n, body| {
            let busy = |retry: &str| Some(e2e::Injected { status: 503, headers: vec![("Retry-After", retry.to_owned())], body: "{\"error\":\"busy\"}".into() });
            match n {
                0 | 1 => busy("18446744073709551615"),
                2 => busy("Fri, 31 Dec 9999 23:59:59 GMT"),
                _ if body.iter().filter(|b| **b == b'\n').count() > 20 => Some(e2e::Injected { status: 413, headers: vec![], body: "{\"error\":\"request entity too large\"}".into() }),
                _ => None,
            }
        }),
    );
    let sim = Sim::start(&["--device", "1=eastron_sdm630"]);
    let dir = tempfile::tempdir().unwrap();
    let sink = format!("{}\ngzip = false\nmax_rows = 200", influx_sink(proxy.port));
    let config = write_config(dir.path(), &sink, &[device("incomer", sim.port(), 1, "eastron_sdm630", "1s", "")]);
    let out = run_collector(&config, "6s");
    assert!(out.status.success(), "the collector ends normally");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let sink = stdout.lines().find(|l| l.starts_with("sink influxdb:")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(sink.contains(" 0 readings dead-lettered"), "{sink}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("batch too large for the server; splitting it"));
    assert_same(&parquet_readings(dir.path()), &influx_points(server.port));
}
