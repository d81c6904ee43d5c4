//! The MQTT source against a real Mosquitto broker on loopback.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, Utc};
use e2e::{bin, free_port, line_publisher, make_certificates, publish, run_collector, Server};
use readings::{Quality, Reading};

fn config(dir: &std::path::Path, port: u16, client_id: &str) -> std::path::PathBuf {
    let text = format!(
        r#"[gateway]
enterprise = "91350100M000100Y43"
site = "plant-1"

[clock]
trusted = true

[storage]
data_dir = "data"

[sinks.parquet]
max_age = "500ms"

[mqtt]
host = "127.0.0.1"
port = {port}
client_id = "{client_id}"

# Style 1: a nested JSON document with its own time in ms (many gateways).
[[mqtt.subscriptions]]
topic = "plant/+/meters/+/state"
meter = "{{2}}"
format = "json"
time = {{ path = "ts", format = "epoch_ms" }}
[[mqtt.subscriptions.fields]]
path = "energy.import_wh"
quantity = "active_energy_import"
medium = "electricity"
kind = "counter"
unit = "Wh"
[[mqtt.subscriptions.fields]]
path = "power.0"
quantity = "active_power_l1"
medium = "electricity"
kind = "gauge"
unit = "W"

# Style 2: a flat Shelly-like status with epoch seconds.
[[mqtt.subscriptions]]
topic = "shellies/+/status"
meter = "shelly-{{1}}"
format = "json"
time = {{ path = "unixtime", format = "epoch_s" }}
[[mqtt.subscriptions.fields]]
path = "aenergy.total"
quantity = "active_energy_import"
medium = "electricity"
kind = "counter"
unit = "Wh"

# A plain number, and a CSV line with an RFC 3339 time.
[[mqtt.subscriptions]]
topic = "water/+/volume"
meter = "water-{{1}}"
format = "number"
[[mqtt.subscriptions.fields]]
quantity = "volume"
medium = "water"
kind = "counter"
unit = "L"

[[mqtt.subscriptions]]
topic = "gas/#"
meter = "boiler"
format = "csv"
time = {{ path = "0", format = "rfc3339" }}
[[mqtt.subscriptions.fields]]
path = "1"
quantity = "volume"
medium = "natural_gas"
kind = "counter"
unit = "m3"
"#
    );
    let path = dir.join("collector.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn stored(dir: &std::path::Path) -> Vec<Reading> {
    readings::store::read_range(&dir.join("data/readings"), DateTime::from_timestamp(0, 0).unwrap(), Utc::now() + chrono::Duration::days(1)).unwrap()
}

/// Every MQTT dead letter, oldest first (files `mqtt-<time>-<pid>-<seq>.jsonl`).
fn dead_letters(dir: &std::path::Path) -> Vec<serde_json::Value> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir.join("data/dead-letter"))
        .map(|d| d.map(|e| e.unwrap().path()).filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("mqtt-")).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().flat_map(|f| std::fs::read_to_string(f).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect::<Vec<_>>()).collect()
}

/// Starts the collector in the background; the broker keeps its session while it is down.
fn spawn_collector(config: &std::path::Path) -> std::process::Child {
    Command::new(bin("collector")).args(["run", "--config"]).arg(config).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
}

#[test]
fn each_payload_style_maps_to_readings() {
    let broker = Server::mosquitto(free_port());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), broker.port, "styles");
    // Connect once so the broker has the session and its subscriptions, then publish while it runs.
    let collector = std::thread::spawn({
        let cfg = cfg.clone();
        move || run_collector(&cfg, "4s")
    });
    std::thread::sleep(Duration::from_millis(1500));
    publish(broker.port, "plant/p1/meters/incomer/state", &[br#"{"ts": 1795000123456, "energy": {"import_wh": 1234500}, "power": [5000, 6000]}"#]);
    publish(broker.port, "shellies/kitchen/status", &[br#"{"unixtime": 1795000200, "aenergy": {"total": 250.5}, "apower": 12}"#]);
    publish(broker.port, "water/main/volume", &[b"2500"]);
    publish(broker.port, "gas/site1/boiler", &[b"2026-11-23T08:00:00+08:00,1234.75"]);
    let out = collector.join().unwrap();
    assert!(out.status.success());

    let got: BTreeMap<(String, String), (i64, Option<f64>)> =
        stored(dir.path()).into_iter().map(|r| ((r.meter.to_string(), r.quantity.to_string()), (r.time.timestamp_millis(), r.value))).collect();
    assert_eq!(got[&("incomer".into(), "active_energy_import".into())], (1_795_000_123_456, Some(1234.5)));
    assert_eq!(got[&("incomer".into(), "active_power_l1".into())], (1_795_000_123_456, Some(5.0)));
    assert_eq!(got[&("shelly-kitchen".into(), "active_energy_import".into())], (1_795_000_200_000, Some(0.2505)));
    assert_eq!(got[&("water-main".into(), "volume".into())].1, Some(2.5));
    assert_eq!(got[&("boiler".into(), "volume".into())], (DateTime::parse_from_rfc3339("2026-11-23T00:00:00Z").unwrap().timestamp_millis(), Some(1234.75)));
}

#[test]
fn twenty_malformed_payloads_are_dead_lettered_with_reasons() {
    let broker = Server::mosquitto(free_port());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), broker.port, "malformed");
    let collector = std::thread::spawn({
        let cfg = cfg.clone();
        move || run_collector(&cfg, "5s")
    });
    std::thread::sleep(Duration::from_millis(1500));
    let t = "plant/p1/meters/incomer/state";
    let bad: Vec<(&str, &[u8], &str)> = vec![
        (t, b"", "payload is not JSON"),
        (t, b"{", "payload is not JSON"),
        (t, b"null", "no field at"),
        (t, b"[]", "no field at"),
        (t, b"42", "no field at"),
        (t, br#"{"ts": 1795000123456}"#, "no field at \"energy.import_wh\""),
        (t, br#"{"ts": 1795000123456, "energy": {}}"#, "no field at \"energy.import_wh\""),
        (t, br#"{"ts": 1795000123456, "energy": {"import_wh": 1}}"#, "no field at \"power.0\""),
        (t, br#"{"ts": 1795000123456, "energy": {"import_wh": 1}, "power": []}"#, "no field at \"power.0\""),
        (t, br#"{"ts": 1795000123456, "energy": {"import_wh": "x"}, "power": [1]}"#, "is \"x\", not a number"),
        (t, br#"{"ts": 1795000123456, "energy": {"import_wh": true}, "power": [1]}"#, "is true, not a number"),
        (t, br#"{"ts": 1795000123456, "energy": {"import_wh": [1]}, "power": [1]}"#, "is [1], not a number"),
        (t, br#"{"energy": {"import_wh": 1}, "power": [1]}"#, "no field at \"ts\""),
        (t, br#"{"ts": "soon", "energy": {"import_wh": 1}, "power": [1]}"#, "time at \"ts\""),
        (t, br#"{"ts": 12, "energy": {"import_wh": 1}, "power": [1]}"#, "outside 2000..2100"),
        (t, &[0xff, 0xfe, 0x00], "payload is not UTF-8"),
        ("shellies/x/status", br#"{"unixtime": "2026", "aenergy": {"total": 1}}"#, "outside 2000..2100"),
        ("water/main/volume", b"two thousand", "not a number"),
        ("gas/site1/boiler", b"2026-11-23T08:00:00+08:00", "no field at \"1\""),
        ("gas/site1/boiler", b"yesterday,12", "time at \"0\""),
    ];
    assert_eq!(bad.len(), 20);
    for (topic, payload, _) in &bad {
        publish(broker.port, topic, &[payload]);
    }
    publish(broker.port, t, &[br#"{"ts": 1795000999000, "energy": {"import_wh": 7000}, "power": [1]}"#]);
    let out = collector.join().unwrap();
    assert!(out.status.success());

    let lines = dead_letters(dir.path());
    assert_eq!(lines.len(), 20, "{lines:?}");
    for ((topic, _, why), line) in bad.iter().zip(&lines) {
        assert_eq!(line["topic"], *topic);
        let reason = line["reason"].as_str().unwrap();
        assert!(reason.contains(why), "{topic}: {reason:?} should say {why:?}");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("20 dead-lettered"), "{stdout}");
    // The good message after them went through: nothing held the queue.
    assert!(stored(dir.path()).iter().any(|r| r.value == Some(7.0) && r.quality == Quality::Good));
}

#[test]
fn sigkill_while_publishing_loses_no_acknowledged_message() {
    let broker = Server::mosquitto(free_port());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), broker.port, "killed");
    let mut collector = spawn_collector(&cfg);
    std::thread::sleep(Duration::from_millis(1500));

    let (mut publisher, mut stdin) = line_publisher(broker.port, "plant/p1/meters/k/state");
    const N: u64 = 400;
    for i in 0..N {
        // Each message carries its own time, so a redelivery is the same reading, not a new one.
        writeln!(stdin, r#"{{"ts": {}, "energy": {{"import_wh": {}}}, "power": [1]}}"#, 1_795_000_000_000 + i * 1000, (i + 1) * 1000).unwrap();
        std::thread::sleep(Duration::from_millis(8));
        if i == N / 3 {
            collector.kill().unwrap(); // SIGKILL mid-stream
            collector.wait().unwrap();
        }
        if i == 2 * N / 3 {
            collector = spawn_collector(&cfg);
        }
    }
    drop(stdin);
    assert!(publisher.wait().unwrap().success());
    std::thread::sleep(Duration::from_secs(2));
    let _ = Command::new("kill").args(["-TERM", &collector.id().to_string()]).status();
    assert!(collector.wait().unwrap().success());

    // Exactly once in effect: one value per (series, time), and every message's value there.
    let mut by_time: BTreeMap<i64, f64> = BTreeMap::new();
    for r in stored(dir.path()).iter().filter(|r| r.meter.as_str() == "k" && r.quantity.to_string() == "active_energy_import") {
        let v = r.value.unwrap();
        if let Some(prev) = by_time.insert(r.time.timestamp_millis(), v) {
            assert_eq!(prev, v, "two different values for one message");
        }
    }
    let expected: BTreeMap<i64, f64> = (0..N).map(|i| (1_795_000_000_000 + i as i64 * 1000, (i + 1) as f64)).collect();
    assert_eq!(by_time, expected);
}

#[test]
fn tls_with_a_client_certificate() {
    let certs = tempfile::tempdir().unwrap();
    make_certificates(certs.path());
    // Mosquitto started as root drops to its own user, which must be able to read these.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(certs.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for f in ["ca.pem", "server.pem", "server.key"] {
        std::fs::set_permissions(certs.path().join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let c = certs.path().display().to_string();
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    let conf = data.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\ncafile {c}/ca.pem\ncertfile {c}/server.pem\nkeyfile {c}/server.key\nrequire_certificate true\n"),
    )
    .unwrap();
    let mut broker = Command::new("mosquitto").arg("-c").arg(&conf).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "the TLS broker did not start: {:?}", broker.try_wait());
        std::thread::sleep(Duration::from_millis(50));
    }

    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), port, "tls");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text = text.replacen(
        "client_id = \"tls\"\n",
        &format!("client_id = \"tls\"\ntls = {{ ca_file = \"{c}/ca.pem\", client_cert_file = \"{c}/client.pem\", client_key_file = \"{c}/client.key\" }}\n"),
        1,
    );
    std::fs::write(&cfg, text).unwrap();
    let collector = std::thread::spawn(move || run_collector(&cfg, "4s"));
    std::thread::sleep(Duration::from_millis(1500));
    let status = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-t", "water/tls/volume", "-m", "4200"])
        .args(["--cafile", &format!("{c}/ca.pem"), "--cert", &format!("{c}/client.pem"), "--key", &format!("{c}/client.key")])
        .status()
        .unwrap();
    assert!(status.success());
    let out = collector.join().unwrap();
    let _ = broker.kill();
    let _ = broker.wait();
    assert!(out.status.success());
    assert!(stored(dir.path()).iter().any(|r| r.meter.as_str() == "water-tls" && r.value == Some(4.2)), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn meter_sim_publishes_both_styles_and_every_message_is_stored() {
    let broker = Server::mosquitto(free_port());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), broker.port, "sim");
    let collector = std::thread::spawn({
        let cfg = cfg.clone();
        move || run_collector(&cfg, "7s")
    });
    std::thread::sleep(Duration::from_millis(1500));
    let broker_addr = format!("127.0.0.1:{}", broker.port);
    for (style, interval, rounds) in [("nested", "200ms", "10"), ("shelly", "1s", "3")] {
        let out = Command::new(bin("meter-sim"))
            .args(["--mqtt", &broker_addr, "--mqtt-meters", "5", "--mqtt-style", style, "--mqtt-interval", interval, "--mqtt-rounds", rounds])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let out = collector.join().unwrap();
    assert!(out.status.success());
    let readings = stored(dir.path());
    let count = |prefix: &str, quantity: &str| readings.iter().filter(|r| r.meter.as_str().starts_with(prefix) && r.quantity.to_string() == quantity).count();
    // Nested: 5 meters x 10 rounds, energy and power; Shelly: 5 meters x 3 rounds, energy.
    assert_eq!(count("m", "active_energy_import"), 50);
    assert_eq!(count("m", "active_power_l1"), 50);
    assert_eq!(count("shelly-m", "active_energy_import"), 15);
    // Counters only grow, per meter, in time order.
    let mut by_meter: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for r in readings.iter().filter(|r| r.quantity.to_string() == "active_energy_import") {
        by_meter.entry(r.meter.to_string()).or_default().push((r.time.timestamp_millis(), r.value.unwrap()));
    }
    for (meter, mut series) in by_meter {
        series.sort_by_key(|(t, _)| *t);
        assert!(series.windows(2).all(|w| w[1].1 >= w[0].1), "{meter}: {series:?}");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("mqtt: 65 messages, 115 readings, 0 dead-lettered"), "{stdout}");
}

/// A 20 KiB message (over rumqttc's default 10 KiB packet limit, which broke the connection and
/// had the broker resend it forever, holding every message behind it) is read and stored; a
/// 2 MiB one (over `max_message_bytes`) is dead-lettered with its size; the good messages
/// after both are stored within seconds.
#[test]
fn big_messages_do_not_hold_the_queue() {
    let broker = Server::mosquitto(free_port());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), broker.port, "big");
    let mut collector = spawn_collector(&cfg);
    std::thread::sleep(Duration::from_millis(1500));
    let t = "plant/p1/meters/big/state";
    let padded = format!(r#"{{"ts": 1795000100000, "energy": {{"import_wh": 1000}}, "power": [1], "note": "{}"}}"#, "x".repeat(20 * 1024));
    let huge = vec![b'y'; 2 * 1024 * 1024];
    publish(broker.port, t, &[padded.as_bytes(), &huge]);
    let good: Vec<String> = (0..5).map(|i| format!(r#"{{"ts": {}, "energy": {{"import_wh": {}}}, "power": [1]}}"#, 1_795_000_200_000i64 + i * 1000, 2000 + i)).collect();
    let published = std::time::Instant::now();
    publish(broker.port, t, &good.iter().map(|g| g.as_bytes()).collect::<Vec<_>>());
    // Wh by the message's own time: a message redelivered after the reconnect is the same reading.
    let counters = loop {
        let energy: BTreeMap<i64, i64> = stored(dir.path())
            .iter()
            .filter(|r| r.meter.as_str() == "big" && r.quantity.to_string() == "active_energy_import")
            .filter_map(|r| Some((r.time.timestamp_millis(), (r.value? * 1000.0).round() as i64)))
            .collect();
        if energy.len() == 6 || published.elapsed() > Duration::from_secs(15) {
            break energy;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let took = published.elapsed();
    let _ = Command::new("kill").args(["-TERM", &collector.id().to_string()]).status();
    assert!(collector.wait().unwrap().success());
    assert_eq!(counters.into_values().collect::<Vec<_>>(), vec![1000, 2000, 2001, 2002, 2003, 2004], "the 20 KiB message and the five after the 2 MiB one are stored");
    assert!(took < Duration::from_secs(10), "the good messages waited {took:?}");
    let letters = dead_letters(dir.path());
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["bytes"], 2 * 1024 * 1024);
    assert!(letters[0]["reason"].as_str().unwrap().contains("more than mqtt.max_message_bytes (262144)"), "{}", letters[0]);
}
