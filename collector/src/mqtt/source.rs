//! The MQTT source: a persistent session (clean session off, a stable client id, QoS 1) whose
//! messages are acknowledged to the broker only once their readings are durable in the journal,
//! so a collector that is down or killed loses nothing the broker holds. A message that does not
//! map is dead-lettered with its reason and acknowledged: it never holds the queue.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use readings::Reading;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{error, info, warn};

use super::mapping::Subscription;
use crate::config::{read_file, read_secret, ConfigError, HumanDuration};
use crate::journal::writer::Append;
use crate::normalise::Identity;
use crate::stats::Stats;

/// `[mqtt]` as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttSpec {
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    /// Stable across restarts: the broker keeps the session (and its queued messages) by it.
    pub client_id: String,
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub tls: Option<TlsSpec>,
    #[serde(default = "default_keep_alive")]
    pub keep_alive: HumanDuration,
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
}

/// `[mqtt.tls]`: the broker's CA, and a client certificate where the broker asks for one.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    pub ca_file: PathBuf,
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
}

/// What the source needs to connect, read once at start-up: the password and the TLS files.
#[derive(Clone, Default)]
pub struct Credentials {
    pub password: Option<String>,
    pub ca: Option<Vec<u8>>,
    pub client_auth: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(***)")
    }
}

impl PartialEq for Credentials {
    fn eq(&self, other: &Self) -> bool {
        self.password == other.password && self.ca == other.ca && self.client_auth == other.client_auth
    }
}

impl MqttSpec {
    /// Reads the password and TLS files once, pushing a keyed problem for anything missing.
    /// `base` anchors relative paths.
    pub fn credentials(&self, file: &str, base: &std::path::Path, errors: &mut Vec<ConfigError>) -> Credentials {
        let mut c = Credentials { password: read_secret(file, "mqtt.password", &self.password_env, &self.password_file, base, errors), ..Default::default() };
        if c.password.is_some() && self.username.is_none() {
            errors.push(ConfigError::new(file, "mqtt.username", "is missing: a password needs a username"));
        }
        if let Some(tls) = &self.tls {
            c.ca = read_file(file, "mqtt.tls.ca_file", &base.join(&tls.ca_file), errors);
            match (&tls.client_cert_file, &tls.client_key_file) {
                (Some(cert), Some(key)) => {
                    let cert = read_file(file, "mqtt.tls.client_cert_file", &base.join(cert), errors);
                    let key = read_file(file, "mqtt.tls.client_key_file", &base.join(key), errors);
                    c.client_auth = cert.zip(key);
                }
                (None, None) => {}
                _ => errors.push(ConfigError::new(file, "mqtt.tls.client_cert_file", "a client certificate needs its key, and the key its certificate")),
            }
        }
        c
    }
}

fn default_port() -> u16 {
    1883
}
fn default_keep_alive() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

/// Counters of the MQTT source.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MqttCounters {
    pub messages: u64,
    pub readings: u64,
    pub dead_lettered: u64,
    pub connection_errors: u64,
}

/// Runs the source until `shutdown`; readings go to the journal writer through `out`.
pub async fn run(spec: MqttSpec, credentials: Credentials, identity: Identity, out: mpsc::Sender<Append>, dead_letter: PathBuf, stats: Arc<Stats>, mut shutdown: watch::Receiver<bool>) {
    let mut options = MqttOptions::new(spec.client_id.clone(), spec.host.clone(), spec.port);
    options.set_keep_alive(spec.keep_alive.0);
    options.set_clean_session(false);
    options.set_manual_acks(true);
    if let (Some(user), Some(password)) = (&spec.username, &credentials.password) {
        options.set_credentials(user.clone(), password.clone());
    }
    if let Some(ca) = credentials.ca.clone() {
        options.set_transport(rumqttc::Transport::Tls(rumqttc::TlsConfiguration::Simple { ca, alpn: None, client_auth: credentials.client_auth.clone() }));
    }
    let (client, mut events) = AsyncClient::new(options, 256);
    // Acknowledgements go out in the order messages came in, each once its readings are durable.
    let (ack_tx, mut ack_rx) = mpsc::unbounded_channel::<(Publish, Option<oneshot::Receiver<()>>)>();
    let acker_client = client.clone();
    let acker = tokio::spawn(async move {
        while let Some((publish, durable)) = ack_rx.recv().await {
            if let Some(d) = durable {
                if d.await.is_err() {
                    // The journal stopped before syncing: leave the message to the broker.
                    continue;
                }
            }
            let _ = acker_client.ack(&publish).await;
        }
    });
    let mut backoff = Duration::from_millis(200);
    loop {
        let event = tokio::select! {
            e = events.poll() => e,
            _ = shutdown.changed() => break,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                info!(broker = %format!("{}:{}", spec.host, spec.port), session_present = ack.session_present, "MQTT connected");
                backoff = Duration::from_millis(200);
                for s in &spec.subscriptions {
                    if let Err(e) = client.subscribe(s.topic.clone(), QoS::AtLeastOnce).await {
                        error!(topic = %s.topic, error = %e, "subscribing failed");
                    }
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let (readings, problem) = map(&spec.subscriptions, &identity, &p);
                stats.mqtt(|c| {
                    c.messages += 1;
                    c.readings += readings.len() as u64;
                });
                if let Some(reason) = problem {
                    dead_letter_message(&dead_letter, &p, &reason);
                    stats.mqtt(|c| c.dead_lettered += 1);
                }
                if readings.is_empty() {
                    let _ = ack_tx.send((p, None));
                    continue;
                }
                let (tx, rx) = oneshot::channel();
                if out.send(Append { readings, ack: Some(tx) }).await.is_err() {
                    break;
                }
                let _ = ack_tx.send((p, Some(rx)));
            }
            Ok(_) => {}
            Err(e) => {
                stats.mqtt(|c| c.connection_errors += 1);
                warn!(error = %e, retry_in = ?backoff, "MQTT connection failed");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => break,
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
    drop(ack_tx);
    // Send the acknowledgements of what was journalled, then leave.
    let _ = tokio::time::timeout(Duration::from_secs(2), acker).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = client.disconnect().await;
        while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(200), events.poll()).await {}
    })
    .await;
}

/// The readings of a message under the first subscription whose filter matches its topic, and
/// the reason it did not map, if it did not.
fn map(subscriptions: &[Subscription], identity: &Identity, p: &Publish) -> (Vec<Reading>, Option<String>) {
    let topic = p.topic.clone();
    let Some(sub) = subscriptions.iter().find(|s| super::mapping::captures(&s.topic, &topic).is_some()) else {
        return (Vec::new(), Some(format!("no subscription's filter matches topic {topic:?}")));
    };
    match sub.map(identity, &topic, &p.payload, Utc::now()) {
        Ok(readings) => (readings, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    }
}

fn dead_letter_message(dir: &std::path::Path, p: &Publish, reason: &str) {
    let payload: String = String::from_utf8_lossy(&p.payload).chars().take(512).collect();
    let line = serde_json::json!({
        "received": Utc::now().to_rfc3339(),
        "topic": p.topic,
        "payload": payload,
        "reason": reason,
    });
    warn!(topic = %p.topic, reason, "MQTT message dead-lettered");
    let written = std::fs::create_dir_all(dir).and_then(|()| {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("mqtt.jsonl"))?;
        writeln!(f, "{line}")?;
        f.sync_data()
    });
    if let Err(e) = written {
        error!(error = %e, "writing the MQTT dead-letter file failed; the message is only in this log: {line}");
    }
}
