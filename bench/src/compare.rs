//! Against what users would otherwise run: one simulated plant of Modbus TCP meters (all six
//! built-in profiles in turn, each meter on its own port) polled every second by the collector,
//! by a Python script on pymodbus and paho-mqtt, and by Node-RED with node-red-contrib-modbus
//! (bench/compare/). Each reads the same register blocks (the collector's plan); the other two
//! publish every device's values to Mosquitto, where this process counts them. Per contender:
//! readings per second, CPU and resident memory, over the same window after a warm-up.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use collector::config::{Config, Endpoint};
use collector::modbus::plan::Target;
use rumqttc::{AsyncClient, MqttOptions, QoS};

/// Where Node-RED is installed by bench/compare/install.sh, relative to the workspace root.
pub const NODE_RED_DIR: &str = "target/compare/node-red";

/// What one contender did over the measured window.
struct Figures {
    readings_per_s: f64,
    cpu_percent: f64,
    rss_end_mib: f64,
    rss_max_mib: f64,
}

pub fn run(devices: usize, seconds: u64, warmup: u64, collector: Option<PathBuf>, node_red: Option<PathBuf>) -> anyhow::Result<()> {
    let collector = collector.unwrap_or_else(|| std::env::current_exe().map(|e| e.with_file_name("collector")).unwrap_or_default());
    let root = crate::workspace_root();
    let node_red = node_red.unwrap_or_else(|| root.join(NODE_RED_DIR));
    let dir = tempfile::tempdir()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let devices_toml = runtime.block_on(crate::footprint::simulated_plant(devices))?;
    let (mut broker, port) = crate::ingest::start_mosquitto(dir.path())?;

    // The collector's config, and the same plan as JSON for the other two.
    let health = crate::ingest::free_port()?;
    let config_path = dir.path().join("collector.toml");
    let text = crate::collector_config_head(&dir.path().join("collector"), "10s") + &format!("[health]\nlisten = \"127.0.0.1:{health}\"\n") + &devices_toml;
    std::fs::write(&config_path, &text)?;
    let config = Config::load(&config_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (plan, values_per_cycle) = plan_json(&config, port)?;
    let plan_path = dir.path().join("devices.json");
    std::fs::write(&plan_path, serde_json::to_string_pretty(&plan)?)?;
    println!("{devices} simulated Modbus TCP meters (six profiles in turn), {values_per_cycle} values a second in all; {warmup} s warm-up, then {seconds} s measured");

    let counted = Arc::new(AtomicU64::new(0));
    runtime.spawn(count_values(port, Arc::clone(&counted)));
    let mut rows: Vec<(String, Result<Figures, String>)> = Vec::new();

    let result = (|| -> anyhow::Result<()> {
        let child = Command::new(&collector).args(["run", "--config"]).arg(&config_path).stdout(Stdio::null()).stderr(Stdio::null()).spawn().with_context(|| format!("starting {}", collector.display()))?;
        let good = move || scrape_readings(health);
        rows.push(("collector (journal fsync + Parquet)".into(), measure(child, &runtime, warmup, seconds, &good).map_err(|e| format!("{e:#}"))));

        let python = Command::new("/usr/bin/python3").arg(root.join("bench/compare/poll_pymodbus.py")).arg(&plan_path).stdout(Stdio::null()).stderr(Stdio::null()).spawn();
        let from_mqtt = || Ok(counted.load(Ordering::Relaxed));
        rows.push(("python3 pymodbus + paho-mqtt".into(), match python {
            Ok(child) => measure(child, &runtime, warmup, seconds, &from_mqtt).map_err(|e| format!("{e:#}")),
            Err(e) => Err(format!("not started ({e}); see bench/compare/README.md")),
        }));

        rows.push(("Node-RED + node-red-contrib-modbus".into(), match start_node_red(&node_red, &plan_path, dir.path()) {
            Ok(child) => measure(child, &runtime, warmup, seconds, &from_mqtt).map_err(|e| format!("{e:#}")),
            Err(e) => Err(format!("{e:#}")),
        }));
        Ok(())
    })();
    let _ = broker.kill();
    let _ = broker.wait();
    result?;

    println!("{:<40} {:>12} {:>10} {:>10} {:>10}", "contender", "readings/s", "CPU %", "RSS MiB", "max MiB");
    for (name, row) in rows {
        match row {
            Ok(f) => println!("{name:<40} {:>12.0} {:>10.1} {:>10.1} {:>10.1}", f.readings_per_s, f.cpu_percent, f.rss_end_mib, f.rss_max_mib),
            Err(e) => println!("{name:<40} {e}"),
        }
    }
    println!("(CPU %: of one core; {values_per_cycle} readings/s is every value of every meter each second)");
    println!("machine: {}", crate::machine());
    Ok(())
}

/// The collector's requests for every device as the contenders' devices JSON
/// (bench/compare/README.md), and the number of values a cycle yields.
fn plan_json(config: &Config, mqtt_port: u16) -> anyhow::Result<(serde_json::Value, usize)> {
    let mut devices = Vec::new();
    let mut values = 0;
    for d in &config.devices {
        let Endpoint::Tcp { host, port, .. } = &d.endpoint else { anyhow::bail!("device {} is not on Modbus TCP", d.meter) };
        let (_, requests) = d.cycle_requests(None);
        let requests: Vec<serde_json::Value> = requests
            .iter()
            .map(|r| {
                let points: Vec<serde_json::Value> = r
                    .items
                    .iter()
                    .filter_map(|item| match item.target {
                        Target::Point(i) => Some(&d.map.points[i]),
                        Target::Scale(_) => None,
                    })
                    .map(|p| {
                        values += 1;
                        serde_json::json!({
                            "name": p.name,
                            "offset": p.location.address - r.start,
                            "type": p.location.data_type.to_string(),
                            "order": p.location.order.to_string(),
                            "scale": p.scale,
                        })
                    })
                    .collect();
                serde_json::json!({"function": r.function.to_string(), "address": r.start, "count": r.count, "points": points})
            })
            .collect();
        devices.push(serde_json::json!({"name": d.meter.as_str(), "host": host, "port": port, "unit": d.unit, "requests": requests}));
    }
    let plan = serde_json::json!({
        "interval_ms": 1000,
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "topic": "bench/readings"},
        "devices": devices,
    });
    Ok((plan, values))
}

/// Counts the values in every message the contenders publish.
async fn count_values(port: u16, counted: Arc<AtomicU64>) {
    let mut options = MqttOptions::new(format!("bench-count-{}", std::process::id()), "127.0.0.1", port);
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut events) = AsyncClient::new(options, 100);
    let _ = client.subscribe("bench/readings/#", QoS::AtMostOnce).await;
    while let Ok(event) = events.poll().await {
        if let rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) = event {
            let n = serde_json::from_slice::<serde_json::Value>(&p.payload).ok().and_then(|v| v.get("values")?.as_object().map(|o| o.len())).unwrap_or(0);
            counted.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
}

/// Good and flagged readings so far, from the collector's /metrics.
fn scrape_readings(port: u16) -> anyhow::Result<u64> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut body = String::new();
    stream.read_to_string(&mut body)?;
    let total = body
        .lines()
        .filter(|l| l.starts_with("collector_device_readings_total{") && !l.contains("quality=\"missing\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>();
    Ok(total as u64)
}

/// Starts Node-RED from its install directory with a flow generated from the plan.
fn start_node_red(install: &Path, plan: &Path, work: &Path) -> anyhow::Result<Child> {
    let red = install.join("node_modules/node-red/red.js");
    anyhow::ensure!(red.exists(), "not installed: run bench/compare/install.sh (looked for {})", red.display());
    let flows = work.join("flows.json");
    let user_dir = work.join("node-red-user");
    std::fs::create_dir_all(&user_dir)?;
    let generate = Command::new("node").arg(crate::workspace_root().join("bench/compare/node-red/gen-flow.js")).arg(plan).arg(&flows).env("NODE_PATH", install.join("node_modules")).output().context("node gen-flow.js")?;
    anyhow::ensure!(generate.status.success(), "gen-flow.js: {}", String::from_utf8_lossy(&generate.stderr));
    let port = crate::ingest::free_port()?;
    Command::new("node")
        .arg(&red)
        .args(["--userDir"])
        .arg(&user_dir)
        .args(["--port", &port.to_string()])
        .arg(&flows)
        .env("NODE_PATH", install.join("node_modules"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting Node-RED")
}

/// CPU seconds (user + system) a process has used, from /proc (ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).context("a /proc stat line")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).context("utime")?.parse::<f64>()? + f.get(12).context("stime")?.parse::<f64>()?;
    Ok(ticks / 100.0)
}

/// Runs a started contender through the warm-up and the window, then stops it.
fn measure(mut child: Child, runtime: &tokio::runtime::Runtime, warmup: u64, seconds: u64, count: &dyn Fn() -> anyhow::Result<u64>) -> anyhow::Result<Figures> {
    let pid = child.id();
    let outcome = (|| {
        runtime.block_on(async { tokio::time::sleep(Duration::from_secs(warmup)).await });
        anyhow::ensure!(child.try_wait()?.is_none(), "exited during the warm-up");
        let (cpu0, n0, t0) = (cpu_seconds(pid)?, count()?, Instant::now());
        let mut rss: BTreeMap<u64, f64> = BTreeMap::new();
        for s in 0..seconds {
            runtime.block_on(async { tokio::time::sleep(Duration::from_secs(1)).await });
            rss.insert(s, crate::memory_mib(pid).1);
        }
        let (cpu1, n1, elapsed) = (cpu_seconds(pid)?, count()?, t0.elapsed().as_secs_f64());
        Ok(Figures {
            readings_per_s: n1.saturating_sub(n0) as f64 / elapsed,
            cpu_percent: 100.0 * (cpu1 - cpu0) / elapsed,
            rss_end_mib: crate::memory_mib(pid).1,
            rss_max_mib: rss.values().copied().fold(0.0, f64::max),
        })
    })();
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    outcome
}
