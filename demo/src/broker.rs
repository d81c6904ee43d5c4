//! The MQTT broker the demo's MQTT meters publish to: Mosquitto when it is installed, else an
//! in-process broker (rumqttd), so the demo needs nothing installed.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// Which broker to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BrokerChoice {
    /// Mosquitto if `mosquitto` is on the PATH, else in-process.
    Auto,
    /// rumqttd inside the demo process.
    InProcess,
    /// Mosquitto; fails if it is not installed.
    Mosquitto,
}

/// A running broker on loopback; Mosquitto is stopped when this is dropped.
pub struct Broker {
    pub addr: SocketAddr,
    pub kind: &'static str,
    child: Option<Child>,
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(listener.local_addr()?)
}

fn mosquitto_installed() -> bool {
    Command::new("mosquitto").arg("-h").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

/// Starts the chosen broker and waits until it accepts connections.
pub fn start(choice: BrokerChoice, work_dir: &Path) -> anyhow::Result<Broker> {
    let use_mosquitto = match choice {
        BrokerChoice::Auto => mosquitto_installed(),
        BrokerChoice::InProcess => false,
        BrokerChoice::Mosquitto => true,
    };
    let addr = free_port()?;
    let broker = if use_mosquitto { start_mosquitto(addr, work_dir)? } else { start_in_process(addr) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "the {} broker did not listen on {addr} within 10 s", broker.kind);
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(broker)
}

fn start_mosquitto(addr: SocketAddr, work_dir: &Path) -> anyhow::Result<Broker> {
    let conf = work_dir.join("mosquitto.conf");
    std::fs::write(&conf, format!("listener {} {}\nallow_anonymous true\npersistence false\n", addr.port(), addr.ip()))
        .with_context(|| format!("writing {}", conf.display()))?;
    let child = Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting mosquitto (install it, or use --broker in-process)")?;
    Ok(Broker { addr, kind: "Mosquitto", child: Some(child) })
}

fn start_in_process(addr: SocketAddr) -> Broker {
    let connections = rumqttd::ConnectionSettings {
        connection_timeout_ms: 60_000,
        max_payload_size: 64 * 1024,
        max_inflight_count: 500,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let server = rumqttd::ServerSettings { name: "demo".into(), listen: addr, tls: None, next_connection_delay_ms: 1, connections };
    let config = rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: 64,
            max_outgoing_packet_count: 1000,
            max_segment_size: 16 * 1024 * 1024,
            max_segment_count: 4,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: rumqttd::Strategy::default(),
        },
        v4: Some(HashMap::from([("demo".to_owned(), server)])),
        v5: None,
        ws: None,
        cluster: None,
        console: None,
        bridge: None,
        prometheus: None,
        metrics: None,
    };
    // The broker runs its own runtime on its own threads for the life of the process.
    std::thread::spawn(move || {
        if let Err(e) = rumqttd::Broker::new(config).start() {
            tracing::error!(error = %e, "the in-process MQTT broker stopped");
        }
    });
    Broker { addr, kind: "in-process (rumqttd)", child: None }
}
