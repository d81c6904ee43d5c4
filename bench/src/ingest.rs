//! MQTT ingest end to end: a publisher floods Mosquitto with QoS 1 messages; first
//! `mosquitto_sub` takes them (the broker's raw delivery rate), then the collector (each message
//! mapped to two readings, journalled and fsynced before the broker gets its acknowledgement).
//!
//! Then the same without the publisher competing for the two cores: the messages are queued
//! in the broker for an offline persistent session first, and the clock runs while the
//! subscriber (mosquitto_sub, then the collector) drains the backlog. That is the collector's
//! own ceiling on this machine, next to the broker's.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use collector::config::Config;
use collector::stats::Stats;
use rumqttc::{AsyncClient, MqttOptions, QoS};

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Publishes `n` messages as fast as QoS 1 allows; returns when the last is acknowledged.
async fn publish(port: u16, n: u64) -> anyhow::Result<()> {
    let mut options = MqttOptions::new(format!("bench-pub-{}", std::process::id()), "127.0.0.1", port);
    options.set_inflight(1000);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut events) = AsyncClient::new(options, 10_000);
    let acked = tokio::spawn(async move {
        let mut acks = 0u64;
        while acks < n {
            match events.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => acks += 1,
                Ok(_) => {}
                Err(e) => return Err(anyhow::anyhow!("publisher: {e}")),
            }
        }
        Ok(())
    });
    let t0 = chrono::Utc::now().timestamp_millis();
    for i in 0..n {
        let payload = format!("{{\"ts\":{},\"e\":{},\"p\":{}}}", t0 + i as i64, 1000 + i, 500 + i % 100);
        client.publish(format!("bench/m{:03}/state", i % 100), QoS::AtLeastOnce, false, payload).await?;
    }
    acked.await??;
    let _ = client.disconnect().await;
    Ok(())
}

/// Starts Mosquitto on a free loopback port with its config in `dir`, without limits on queued
/// or in-flight messages; returns it once it listens, and its port.
pub fn start_mosquitto(dir: &std::path::Path) -> anyhow::Result<(std::process::Child, u16)> {
    let port = free_port()?;
    let conf = dir.join("mosquitto.conf");
    std::fs::write(&conf, format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\nmax_inflight_messages 0\n"))?;
    let mut broker = Command::new("mosquitto").arg("-c").arg(&conf).stdout(Stdio::null()).stderr(Stdio::null()).spawn().context("starting mosquitto (install it: ./tests/run does)")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            let _ = broker.kill();
            anyhow::bail!("mosquitto did not listen on {port}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((broker, port))
}

pub fn run(messages: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut broker, port) = start_mosquitto(dir.path())?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let result = runtime.block_on(measure(port, messages, dir.path()));
    let _ = broker.kill();
    let _ = broker.wait();
    let m = result?;
    let line = |what: &str, raw_s: f64, collector_s: f64| {
        let (raw, through) = (messages as f64 / raw_s, messages as f64 / collector_s);
        println!("{what}:");
        println!("  mosquitto_sub (QoS 1): {messages} messages in {raw_s:.2} s, {raw:.0} messages/s");
        println!(
            "  collector (QoS 1, journal fsync on, acknowledged after the sync): {messages} messages = {} readings in {collector_s:.2} s, {through:.0} messages/s, {:.0} readings/s",
            2 * messages,
            (2 * messages) as f64 / collector_s
        );
        println!("  collector / raw: {:.0} % of the broker's delivery rate to mosquitto_sub", 100.0 * through / raw);
    };
    line("live (the publisher floods the broker while the subscriber takes)", m.live_raw_s, m.live_collector_s);
    line("backlog (queued for an offline persistent session, then drained; no publisher running)", m.drain_raw_s, m.drain_collector_s);
    println!("machine: {} (publisher, broker and subscriber share it)", crate::machine());
    Ok(())
}

/// Seconds each subscriber took for all the messages, in each mode.
struct Measured {
    live_raw_s: f64,
    live_collector_s: f64,
    drain_raw_s: f64,
    drain_collector_s: f64,
}

/// Runs `mosquitto_sub` as client `bench-raw` taking `count` messages; 0: only subscribes and
/// leaves. With `persistent` the broker keeps its session (and queues for it) when it leaves;
/// without, the session ends.
fn mosquitto_sub(port: u16, count: u64, persistent: bool) -> anyhow::Result<std::process::Child> {
    let mut cmd = Command::new("mosquitto_sub");
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-t", "bench/#", "-i", "bench-raw"]);
    if persistent {
        cmd.arg("-c");
    }
    if count == 0 {
        cmd.arg("-E");
    } else {
        cmd.args(["-C", &count.to_string()]);
    }
    cmd.stdout(Stdio::null()).spawn().context("mosquitto_sub")
}

/// Starts the collector in this process with fresh statistics; returns them, its stop switch
/// and its task.
fn start_collector(config: Config) -> (Arc<Stats>, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<anyhow::Result<collector::stats::Summary>>) {
    let stats = Arc::new(Stats::default());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(collector::run::run(config, Arc::clone(&stats), async move {
        let _ = stop_rx.await;
    }));
    (stats, stop_tx, task)
}

/// Waits until the collector has counted `want` MQTT readings.
async fn readings_reach(stats: &Stats, want: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let got = stats.snapshot().mqtt.map_or(0, |m| m.readings);
        if got >= want {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "the collector took {got} of {want} readings in 600 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn measure(port: u16, messages: u64, dir: &std::path::Path) -> anyhow::Result<Measured> {
    // 1. The broker's own rate: mosquitto_sub takes every message, QoS 1, while they come.
    let mut sub = mosquitto_sub(port, messages, true)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    publish(port, messages).await?;
    tokio::task::spawn_blocking(move || sub.wait()).await??;
    let live_raw_s = started.elapsed().as_secs_f64();
    // ... and a backlog queued while it is away, then drained.
    publish(port, messages).await?;
    let started = Instant::now();
    let mut sub = mosquitto_sub(port, messages, true)?;
    tokio::task::spawn_blocking(move || sub.wait()).await??;
    let drain_raw_s = started.elapsed().as_secs_f64();
    // End its session, or the broker would go on queueing for it during the collector's turn.
    let mut sub = mosquitto_sub(port, 0, false)?;
    tokio::task::spawn_blocking(move || sub.wait()).await??;

    // 2. The collector, subscribed with its persistent QoS 1 session.
    let mqtt = format!(
        "[mqtt]\nhost = \"127.0.0.1\"\nport = {port}\nclient_id = \"bench-collector\"\n\
         [[mqtt.subscriptions]]\ntopic = \"bench/+/state\"\nmeter = \"{{1}}\"\nformat = \"json\"\ntime = {{ path = \"ts\", format = \"epoch_ms\" }}\n\
         [[mqtt.subscriptions.fields]]\npath = \"e\"\nquantity = \"active_energy_import\"\nmedium = \"electricity\"\nkind = \"counter\"\nunit = \"Wh\"\n\
         [[mqtt.subscriptions.fields]]\npath = \"p\"\nquantity = \"active_power\"\nmedium = \"electricity\"\nkind = \"gauge\"\nunit = \"W\"\n",
    );
    let path = dir.join("collector.toml");
    std::fs::write(&path, crate::collector_config_head(&dir.join("collector"), "2s") + &mqtt)?;
    let config = Config::load(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (stats, stop_tx, collector) = start_collector(config);
    let connected = Instant::now() + Duration::from_secs(10);
    while stats.snapshot().mqtt.is_none_or(|m| m.messages == 0) && Instant::now() < connected {
        tokio::time::sleep(Duration::from_millis(100)).await;
        // The session is up once a probe message arrives.
        let _ = publish(port, 1).await;
    }
    let before = stats.snapshot().mqtt.map_or(0, |m| m.readings);
    let started = Instant::now();
    publish(port, messages).await?;
    readings_reach(&stats, before + 2 * messages).await?;
    let live_collector_s = started.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    collector.await??;

    // 3. The backlog: queued for the collector's persistent session while it is stopped, then
    // drained from its start (journal recovery and connection included).
    publish(port, messages).await?;
    let config = Config::load(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let started = Instant::now();
    let (stats, stop_tx, collector) = start_collector(config);
    readings_reach(&stats, 2 * messages).await?;
    let drain_collector_s = started.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    collector.await??;
    Ok(Measured { live_raw_s, live_collector_s, drain_raw_s, drain_collector_s })
}
