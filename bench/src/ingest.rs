//! MQTT ingest end to end: a publisher floods Mosquitto with QoS 1 messages; first
//! `mosquitto_sub` takes them (the broker's raw delivery rate), then the collector (each message
//! mapped to two readings, journalled and fsynced before the broker gets its acknowledgement).

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use collector::config::Config;
use collector::stats::Stats;
use rumqttc::{AsyncClient, MqttOptions, QoS};

fn free_port() -> anyhow::Result<u16> {
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

pub fn run(messages: u64) -> anyhow::Result<()> {
    let port = free_port()?;
    let dir = tempfile::tempdir()?;
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(&conf, format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\nmax_inflight_messages 0\n"))?;
    let mut broker = Command::new("mosquitto").arg("-c").arg(&conf).stdout(Stdio::null()).stderr(Stdio::null()).spawn().context("starting mosquitto (install it: ./tests/run does)")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "mosquitto did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let result = runtime.block_on(measure(port, messages, dir.path()));
    let _ = broker.kill();
    let _ = broker.wait();
    let (raw_s, collector_s, readings) = result?;
    let raw = messages as f64 / raw_s;
    let through = messages as f64 / collector_s;
    println!("mosquitto_sub (QoS 1): {messages} messages in {raw_s:.2} s, {raw:.0} messages/s");
    println!("collector (QoS 1, journal fsync on, acknowledged after the sync): {messages} messages = {readings} readings in {collector_s:.2} s, {through:.0} messages/s, {:.0} readings/s", readings as f64 / collector_s);
    println!("collector / raw: {:.0} % of the broker's delivery rate to mosquitto_sub", 100.0 * through / raw);
    println!("machine: {} (publisher, broker and subscriber share it)", crate::machine());
    Ok(())
}

/// (raw seconds, collector seconds, readings the collector journalled)
async fn measure(port: u16, messages: u64, dir: &std::path::Path) -> anyhow::Result<(f64, f64, u64)> {
    // 1. The broker's own rate: mosquitto_sub takes every message, QoS 1.
    let mut sub = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-t", "bench/#", "-C", &messages.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .context("mosquitto_sub")?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    publish(port, messages).await?;
    tokio::task::spawn_blocking(move || sub.wait()).await??;
    let raw_s = started.elapsed().as_secs_f64();

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
    let stats = Arc::new(Stats::default());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let collector = tokio::spawn(collector::run::run(config, Arc::clone(&stats), async move {
        let _ = stop_rx.await;
    }));
    let connected = Instant::now() + Duration::from_secs(10);
    while stats.snapshot().mqtt.is_none_or(|m| m.messages == 0) && Instant::now() < connected {
        tokio::time::sleep(Duration::from_millis(100)).await;
        // The session is up once a probe message arrives.
        let _ = publish(port, 1).await;
    }
    let before = stats.snapshot().mqtt.map_or(0, |m| m.readings);
    let started = Instant::now();
    publish(port, messages).await?;
    let want = before + 2 * messages;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let got = stats.snapshot().mqtt.map_or(0, |m| m.readings);
        if got >= want {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the collector took {got} of {want} readings in 600 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let collector_s = started.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    collector.await??;
    Ok((raw_s, collector_s, 2 * messages))
}
