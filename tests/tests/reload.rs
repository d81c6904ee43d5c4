//! Live reload under load: the collector polls three meter-sim meters over TCP while a
//! publisher sends a numbered MQTT message every 50 ms through Mosquitto, and it gets SIGHUP
//! every second for a minute. Along the way a meter is added (by `collector reload`), another
//! removed, a config with a mistake is refused (by `collector reload` itself and by the running
//! collector) and the good one restored. No message the broker delivered (an independent
//! subscriber counts them) is lost or stored twice; the meters that
//! did not change keep every 1 s slot; the added one starts, the removed one stops.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use e2e::{bin, device, free_port, line_publisher, stored_readings, write_config, Server, Sim};
use readings::Reading;

const SECONDS: u64 = 60;

fn config(dir: &std::path::Path, sim: u16, broker: u16, meters: &[(&str, u8)], mistake: bool) {
    let mut entries: Vec<String> = meters.iter().map(|(name, unit)| device(name, sim, *unit, "eastron_sdm630", "1s", "")).collect();
    entries.push(format!(
        "[mqtt]\nhost = \"127.0.0.1\"\nport = {broker}\nclient_id = \"reload-test\"\n\n[[mqtt.subscriptions]]\ntopic = \"reload/+/volume\"\nmeter = \"water-{{1}}\"\nformat = \"number\"\n[[mqtt.subscriptions.fields]]\nquantity = \"volume\"\nmedium = \"water\"\nkind = \"counter\"\nunit = \"m3\"\n"
    ));
    if mistake {
        entries.push("[[modbus.devices]]\nname = \"typo\"\nhots = \"127.0.0.1\"\n".into());
    }
    write_config(dir, "max_age = \"500ms\"", &entries);
}

fn hup(pid: u32) {
    assert!(Command::new("kill").args(["-HUP", &pid.to_string()]).status().unwrap().success());
}

fn reload_command(config: &std::path::Path) -> std::process::Output {
    Command::new(bin("collector")).args(["reload", "--config"]).arg(config).output().unwrap()
}

/// The times of `meter`'s import energy readings, in order.
fn slots(stored: &[Reading], meter: &str) -> Vec<DateTime<Utc>> {
    let mut t: Vec<DateTime<Utc>> = stored.iter().filter(|r| r.meter.as_str() == meter && r.quantity.to_string() == "active_energy_import").map(|r| r.time).collect();
    t.sort();
    t
}

/// Every slot one second after the one before: none skipped, none twice.
fn assert_every_slot(meter: &str, t: &[DateTime<Utc>]) {
    assert!(t.len() >= 5, "{meter}: {} readings", t.len());
    for w in t.windows(2) {
        assert_eq!((w[1] - w[0]).num_milliseconds(), 1000, "{meter}: a gap or a duplicate between {} and {}", w[0], w[1]);
    }
}

#[test]
fn sighup_every_second_for_a_minute_loses_and_duplicates_nothing() {
    let sim = Sim::start(&["--seed", "7", "--device", "1=eastron_sdm630", "--device", "2=eastron_sdm630", "--device", "3=eastron_sdm630"]);
    let broker = Server::mosquitto(free_port());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collector.toml");
    config(dir.path(), sim.port(), broker.port, &[("m1", 1), ("m2", 2)], false);
    let log = std::fs::File::create(dir.path().join("collector.log")).unwrap();
    let mut collector = Command::new(bin("collector")).args(["run", "--config"]).arg(&path).stdout(Stdio::null()).stderr(log).spawn().unwrap();
    let pid = collector.id();
    std::thread::sleep(Duration::from_secs(2));

    // An independent subscriber counts what the broker delivers, so that a publisher that falls
    // behind on a loaded machine is not taken for a collector that lost messages.
    let witness_file = std::fs::File::create(dir.path().join("witness.txt")).unwrap();
    let mut witness = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-q", "1", "-i", "reload-witness", "-t", "reload/+/volume"])
        .stdout(witness_file)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // One numbered message every 50 ms, QoS 1, through one mosquitto_pub (-l: a message a line).
    let (mut publisher, mut lines) = line_publisher(broker.port, "reload/main/volume");
    let publishing = std::thread::spawn(move || {
        let mut n = 0u64;
        let end = Instant::now() + Duration::from_secs(SECONDS + 2);
        while Instant::now() < end {
            n += 1;
            writeln!(lines, "{n}").unwrap();
            lines.flush().unwrap();
            std::thread::sleep(Duration::from_millis(50));
        }
        n
    });

    let mut added_at = None;
    let mut removed_at = None;
    for second in 1..=SECONDS {
        std::thread::sleep(Duration::from_secs(1));
        match second {
            15 => {
                config(dir.path(), sim.port(), broker.port, &[("m1", 1), ("m2", 2), ("m3", 3)], false);
                added_at = Some(Utc::now());
                let out = reload_command(&path);
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                continue;
            }
            30 => {
                config(dir.path(), sim.port(), broker.port, &[("m1", 1), ("m3", 3)], false);
                removed_at = Some(Utc::now());
            }
            45 => {
                config(dir.path(), sim.port(), broker.port, &[("m1", 1), ("m3", 3)], true);
                let out = reload_command(&path);
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(!out.status.success() && stderr.contains("modbus.devices[2]") && stderr.contains("hots"), "{stderr}");
            }
            50 => config(dir.path(), sim.port(), broker.port, &[("m1", 1), ("m3", 3)], false),
            _ => {}
        }
        hup(pid);
    }
    let published = publishing.join().unwrap();
    assert!(publisher.wait().unwrap().success());
    std::thread::sleep(Duration::from_secs(2));
    let _ = witness.kill();
    let _ = witness.wait();
    let mut delivered: Vec<u64> = std::fs::read_to_string(dir.path().join("witness.txt")).unwrap().lines().filter_map(|l| l.trim().parse().ok()).collect();
    delivered.sort();
    delivered.dedup();
    assert!(delivered.len() as u64 * 10 >= published * 9, "the broker delivered {} of {published} messages to a plain subscriber", delivered.len());
    assert!(Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap().success());
    assert!(collector.wait().unwrap().success());
    let log = std::fs::read_to_string(dir.path().join("collector.log")).unwrap();

    let stored = stored_readings(dir.path());
    // Every message exactly once.
    let mut values: Vec<u64> = stored.iter().filter(|r| r.meter.as_str() == "water-main").map(|r| r.value.unwrap() as u64).collect();
    values.sort();
    let tail: Vec<&str> = log.lines().filter(|l| !l.contains("polling") && !l.contains("config reloaded") && !l.contains("reloading the config") && !l.contains("SIGHUP")).collect();
    // Every message the broker delivered, exactly once (values are unique, so a duplicate shows).
    assert!(values == delivered, "MQTT messages lost or stored twice: {} stored of {} delivered ({published} published), the first {:?}, the last {:?}\n{}", values.len(), delivered.len(), values.first(), values.last(), tail.join("\n"));
    // m1 never changed: every slot, through sixty reloads.
    assert_every_slot("m1", &slots(&stored, "m1"));
    // m3 from its reload on, every slot.
    let m3 = slots(&stored, "m3");
    assert_every_slot("m3", &m3);
    assert!(m3[0] > added_at.unwrap() && m3[0] < added_at.unwrap() + chrono::Duration::seconds(4), "{m3:?}");
    // m2 every slot until its removal, none after.
    let m2 = slots(&stored, "m2");
    assert_every_slot("m2", &m2);
    let removed = removed_at.unwrap();
    assert!(*m2.last().unwrap() < removed + chrono::Duration::seconds(3) && *m2.last().unwrap() > removed - chrono::Duration::seconds(3), "{m2:?} removed at {removed}");
    // The log says what each reload did.
    assert!(log.contains("added: modbus:m3; removed: none"), "{log}");
    assert!(log.contains("removed: modbus:m2"), "{log}");
    assert!(log.contains("reload refused") && log.contains("hots"), "{log}");
    assert!(log.matches("config reloaded").count() >= 55, "{}", log.matches("config reloaded").count());
    // Sources that did not change were never restarted: each started once.
    for started in ["polling device=m1 ", "polling device=m3 ", "MQTT source"] {
        assert_eq!(log.matches(started).count(), 1, "{started:?} in\n{log}");
    }
}
