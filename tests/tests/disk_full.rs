//! A data directory on a filesystem that fills up, for real: a 1 MiB tmpfs the test mounts (as
//! root: CI runs as root; elsewhere the test says it is skipped and passes, as mounting needs
//! root). Two meters are polled and MQTT messages arrive while a ballast file fills the disk.
//! The collector turns unhealthy, survives a SIGKILL and a restart on the full disk, and once
//! the ballast is gone delivers every MQTT message the broker handed it: an acknowledged
//! reading is never lost. No temporary file is left behind.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e::{bin, device, free_port, line_publisher, write_config, Server, Sim};

/// A tmpfs mounted at `dir`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(dir).status().unwrap();
        assert!(ok.success(), "mounting a tmpfs at {} failed although running as root", dir.display());
        Tmpfs(dir.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn health(port: u16) -> Option<(u16, String)> {
    let out = Command::new("curl").args(["-s", "-m", "2", "-w", "\n%{http_code}", &format!("http://127.0.0.1:{port}/healthz")]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n')?;
    Some((code.parse().ok()?, body.to_owned()))
}

fn metric(port: u16, name: &str) -> Option<f64> {
    let out = Command::new("curl").args(["-s", "-m", "2", &format!("http://127.0.0.1:{port}/metrics")]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| l.strip_prefix(name).and_then(|rest| rest.trim().parse().ok()))
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A running collector, killed if the test fails before it ends.
struct Collector(Option<Child>);

impl Collector {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("running")
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn(config: &Path) -> Collector {
    Collector(Some(Command::new(bin("collector")).args(["run", "--config"]).arg(config).env("RUST_LOG", "info").stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap()))
}

/// Fills the filesystem of `dir` with a ballast file until it is full.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("ballast");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0xA5u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    path
}

#[test]
fn a_full_disk_turns_the_collector_unhealthy_and_loses_no_acknowledged_reading() {
    if !is_root() {
        eprintln!("skipped: mounting a tmpfs needs root (CI runs as root)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _fs = Tmpfs::mount(&data, "1m");
    let sim = Sim::start(&["--device", "1=eastron_sdm630", "--device", "2=acrel_adw300"]);
    let broker = Server::mosquitto(free_port());
    let health_port = free_port();
    // No reserve: appends run into ENOSPC itself, the worst case (a reserve stops them earlier).
    let extra = format!(
        r#"max_age = "500ms"

[storage.dead_letters]
max_bytes = 65536
file_bytes = 16384

[journal]
segment_bytes = 65536
budget_bytes = 1048576
sync_delay = "50ms"

[health]
listen = "127.0.0.1:{health_port}"
max_sink_delay = "60s"

[mqtt]
host = "127.0.0.1"
port = {}
client_id = "disk-full"

[[mqtt.subscriptions]]
topic = "water/+/state"
meter = "wm-{{1}}"
format = "json"
time = {{ path = "ts", format = "epoch_ms" }}
[[mqtt.subscriptions.fields]]
path = "v"
quantity = "volume"
medium = "water"
kind = "counter"
unit = "m3"
"#,
        broker.port
    );
    let p = sim.port();
    let devices = [device("incomer", p, 1, "eastron_sdm630", "500ms", ""), device("pump", p, 2, "acrel_adw300", "500ms", "")];
    let config = write_config(dir.path(), &extra, &devices);
    let text = std::fs::read_to_string(&config).unwrap().replace("data_dir = \"data\"", "data_dir = \"data\"\nreserve_bytes = 0");
    std::fs::write(&config, text).unwrap();

    let mut collector = spawn(&config);
    wait_for("the collector healthy", Duration::from_secs(15), || health(health_port).is_some_and(|(c, _)| c == 200));

    // A message every 20 ms, each with its own time and sequence number, all the test long.
    let publishing = Arc::new(AtomicBool::new(true));
    let sent = Arc::new(AtomicU64::new(0));
    let publisher = std::thread::spawn({
        let (publishing, sent, port) = (Arc::clone(&publishing), Arc::clone(&sent), broker.port);
        move || {
            let (mut child, mut stdin) = line_publisher(port, "water/main/state");
            let mut n = 0u64;
            while publishing.load(Ordering::SeqCst) {
                writeln!(stdin, r#"{{"ts": {}, "v": {n}}}"#, 1_795_000_000_000u64 + n * 1000).unwrap();
                n += 1;
                sent.store(n, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
            }
            drop(stdin);
            assert!(child.wait().unwrap().success());
        }
    });
    std::thread::sleep(Duration::from_secs(2));

    let ballast = fill(&data);
    wait_for("/healthz 503 on the full disk", Duration::from_secs(15), || health(health_port).is_some_and(|(c, _)| c == 503));
    let (_, why) = health(health_port).unwrap();
    assert!(why.contains("journal takes no readings"), "{why}");
    assert_eq!(metric(health_port, "collector_journal_full"), Some(1.0));
    std::thread::sleep(Duration::from_secs(2));

    // Killed on the full disk, and started again on it: it must come up (the journal's recovery
    // once needed a copy of a whole segment) and say it is unhealthy.
    collector.child().kill().unwrap();
    collector.child().wait().unwrap();
    let mut collector = spawn(&config);
    wait_for("the restarted collector answering on the full disk", Duration::from_secs(15), || health(health_port).is_some_and(|(c, _)| c == 503));

    std::fs::remove_file(&ballast).unwrap();
    wait_for("/healthz 200 once space is freed", Duration::from_secs(30), || health(health_port).is_some_and(|(c, _)| c == 200));
    // The meter that publishes is counted on its own, with the age of its last message.
    assert!(metric(health_port, "collector_mqtt_meter_readings_total{meter=\"wm-main\"}").is_some_and(|n| n > 0.0));
    assert!(metric(health_port, "collector_mqtt_meter_last_message_age_seconds{meter=\"wm-main\"}").is_some_and(|s| s < 10.0));
    std::thread::sleep(Duration::from_secs(1));
    publishing.store(false, Ordering::SeqCst);
    publisher.join().unwrap();
    let total = sent.load(Ordering::SeqCst);

    let store = data.join("readings");
    let everything = || {
        let from = chrono::DateTime::from_timestamp(0, 0).unwrap();
        let got = readings::store::read_range(&store, from, chrono::Utc::now() + chrono::Duration::days(1)).unwrap();
        let mut seqs: Vec<u64> = got.iter().filter(|r| r.meter.as_str() == "wm-main").filter_map(|r| r.value).map(|v| v as u64).collect();
        seqs.sort_unstable();
        seqs.dedup();
        (seqs, got)
    };
    wait_for("every published message in the store", Duration::from_secs(30), || everything().0.len() as u64 == total);
    let _ = Command::new("kill").args(["-TERM", &collector.child().id().to_string()]).status();
    wait_for("the collector to exit after SIGTERM", Duration::from_secs(30), || collector.child().try_wait().unwrap().is_some());
    let out = collector.0.take().unwrap().wait_with_output().unwrap();
    assert!(out.status.success());
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains(", 0 dropped when full"), "{summary}");

    let (seqs, got) = everything();
    assert_eq!(seqs, (0..total).collect::<Vec<u64>>(), "every message, acknowledged or held by the broker, is stored");
    let after: Vec<_> = got.iter().filter(|r| r.meter.as_str() == "incomer" && r.time > chrono::Utc::now() - chrono::Duration::seconds(3)).collect();
    assert!(!after.is_empty(), "polling resumed after the disk was freed");
    let leftovers: Vec<String> = std::fs::read_dir(store.join(".tmp")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(leftovers.is_empty(), "temporary store files left: {leftovers:?}");
    let journal: Vec<String> = std::fs::read_dir(data.join("journal")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(!journal.iter().any(|n| n.ends_with(".recover") || n.ends_with(".tmp")), "{journal:?}");
}
