//! The MQTT source: a persistent session (clean session off, a stable client id, QoS 1) whose
//! messages are acknowledged to the broker only once their readings are durable in the journal,
//! so a collector that is down or killed loses nothing the broker holds. A message that does not
//! map, or is larger than `max_message_bytes`, is dead-lettered with its reason and acknowledged
//! once the dead letter is written: it never holds the queue. A message too large for the
//! connection's read limit breaks the connection (rumqttc refuses it before reading it); the
//! next connection reads up to that message's size, once, so it can be dead-lettered instead of
//! being resent forever.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use readings::Reading;
use rumqttc::{AsyncClient, ConnectionError, Event, MqttOptions, Packet, Publish, QoS, StateError};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{error, info, warn};

use super::mapping::Subscription;
use super::reconnect::{self, Reconnect};
use crate::clock::ClockTrust;
use crate::settings::{read_file, read_secret, ConfigError, HumanDuration};
use crate::dead_letter::DeadLetters;
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
    /// Larger messages are dead-lettered, not mapped (default 256 KiB).
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
}

fn default_max_message_bytes() -> usize {
    256 * 1024
}

/// Room for the topic and the packet's own fields on top of a payload of `max_message_bytes`.
const PACKET_OVERHEAD: usize = 64 * 1024 + 16;
/// The largest message the source reads at all, to dead-letter it: a broker should refuse
/// larger ones (`max_packet_size`); 64 MiB is what a small gateway can hold once.
pub const READ_CEILING: usize = 64 * 1024 * 1024;

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
    /// Messages larger than `max_message_bytes` (dead-lettered).
    pub oversized: u64,
    /// Subscriptions the broker refused (an ACL, a bad filter).
    pub subscriptions_refused: u64,
    /// Since when the source has had no connection (from start until the first one).
    pub down_since: Option<Instant>,
    /// Per meter the subscriptions delivered: a meter that stops publishing shows as its last
    /// message growing old, which the counts of the whole source would hide.
    pub meters: std::collections::BTreeMap<String, MeterSeen>,
}

/// What one MQTT meter delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeterSeen {
    pub readings: u64,
    /// Of them, readings stored with a flag (a negative counter: `out_of_range`; an
    /// unsynchronised clock: `clock_unsynced`).
    pub flagged: u64,
    /// When its last message came.
    pub last: Option<Instant>,
}

/// Runs the source until `shutdown`; readings go to the journal writer through `out`.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    spec: MqttSpec,
    credentials: Credentials,
    identity: Identity,
    out: mpsc::Sender<Append>,
    dead_letters: DeadLetters,
    stats: Arc<Stats>,
    trust: Arc<ClockTrust>,
    live: Arc<crate::live::Live>,
    mut shutdown: watch::Receiver<bool>,
) {
    let read_limit = spec.max_message_bytes.saturating_add(PACKET_OVERHEAD);
    let mut options = MqttOptions::new(spec.client_id.clone(), spec.host.clone(), spec.port);
    options.set_keep_alive(spec.keep_alive.0);
    options.set_clean_session(false);
    options.set_manual_acks(true);
    options.set_max_packet_size(read_limit, read_limit);
    if let (Some(user), Some(password)) = (&spec.username, &credentials.password) {
        options.set_credentials(user.clone(), password.clone());
    }
    if let Some(ca) = credentials.ca.clone() {
        options.set_transport(rumqttc::Transport::Tls(rumqttc::TlsConfiguration::Simple { ca, alpn: None, client_auth: credentials.client_auth.clone() }));
    }
    let (client, mut events) = AsyncClient::new(options, 256);
    stats.mqtt(|c| c.down_since = Some(Instant::now()));
    // Acknowledgements go out in the order messages came in, each once its readings are durable
    // (or its dead letter written). A message whose readings were not journalled is never
    // acknowledged: the broker sends it again.
    let (ack_tx, mut ack_rx) = mpsc::unbounded_channel::<(Publish, Option<oneshot::Receiver<()>>)>();
    let acker_client = client.clone();
    let mut acker = tokio::spawn(async move {
        while let Some((publish, durable)) = ack_rx.recv().await {
            if let Some(d) = durable {
                if d.await.is_err() {
                    continue;
                }
            }
            let _ = acker_client.ack(&publish).await;
        }
    });
    let mut reconnect = Reconnect::default();
    loop {
        let event = tokio::select! {
            e = events.poll() => e,
            _ = shutdown.changed() => break,
            // The acker lives as long as this loop feeds it: its end is a failure of the source,
            // reported to the supervisor as this task's (a panic as a panic).
            ended = &mut acker => match ended {
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                _ => {
                    error!("the MQTT acknowledger stopped; stopping the MQTT source");
                    return;
                }
            },
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                info!(broker = %format!("{}:{}", spec.host, spec.port), session_present = ack.session_present, "MQTT connected");
                reconnect.connected(Instant::now());
                stats.mqtt(|c| c.down_since = None);
                // A raised read limit served this connection; the next one starts normal again.
                events.mqtt_options.set_max_packet_size(read_limit, read_limit);
                // From another task: the request channel is drained by this loop's poll, so
                // awaiting room in it here could wait for ever when it is full of acks.
                let (subscriber, topics) = (client.clone(), spec.subscriptions.iter().map(|s| s.topic.clone()).collect::<Vec<_>>());
                tokio::spawn(async move {
                    for topic in topics {
                        if let Err(e) = subscriber.subscribe(topic.clone(), QoS::AtLeastOnce).await {
                            error!(topic = %topic, error = %e, "subscribing failed");
                        }
                    }
                });
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let (readings, problem) = if p.payload.len() > spec.max_message_bytes {
                    stats.mqtt(|c| c.oversized += 1);
                    (Vec::new(), Some(format!("the message has {} bytes, more than mqtt.max_message_bytes ({})", p.payload.len(), spec.max_message_bytes)))
                } else {
                    map(&spec.subscriptions, &identity, &p, &trust)
                };
                let now = Instant::now();
                stats.mqtt(|c| {
                    c.messages += 1;
                    c.readings += readings.len() as u64;
                    for r in &readings {
                        // Looked up before inserting: a key is allocated once per meter.
                        let seen = match c.meters.get_mut(r.meter.as_str()) {
                            Some(seen) => seen,
                            None => c.meters.entry(r.meter.as_str().to_owned()).or_default(),
                        };
                        seen.readings += 1;
                        seen.flagged += u64::from(r.quality != readings::Quality::Good);
                        seen.last = Some(now);
                    }
                });
                if let Some(reason) = problem {
                    stats.mqtt(|c| c.dead_lettered += 1);
                    let (tx, rx) = oneshot::channel();
                    let letters = dead_letters.clone();
                    let line = dead_letter_line(&p, &reason);
                    if let Some(held_back) = letters.log_allowed() {
                        warn!(topic = %p.topic, reason, suppressed_since_last = held_back, "MQTT message dead-lettered");
                    }
                    tokio::spawn(async move {
                        // Refused (the directory is at its cap or the disk at its reserve): it
                        // is counted and logged there, and the message is acknowledged all the
                        // same, or it would hold every message behind it.
                        let _ = letters.append_line("mqtt", line).await;
                        let _ = tx.send(());
                    });
                    let _ = ack_tx.send((p, Some(rx)));
                    continue;
                }
                if readings.is_empty() {
                    let _ = ack_tx.send((p, None));
                    continue;
                }
                live.record(&readings);
                let (tx, rx) = oneshot::channel();
                if out.send(Append { readings, ack: Some(tx) }).await.is_err() {
                    break;
                }
                let _ = ack_tx.send((p, Some(rx)));
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                // A refused subscription would look like a quiet meter: say so loudly.
                if ack.return_codes.iter().any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure)) {
                    stats.mqtt(|c| c.subscriptions_refused += 1);
                    error!(pkid = ack.pkid, codes = ?ack.return_codes, "the broker refused a subscription (check the ACL for this user)");
                }
            }
            Ok(_) => {}
            Err(e) => {
                stats.mqtt(|c| {
                    c.connection_errors += 1;
                    c.down_since.get_or_insert_with(Instant::now);
                });
                let mut wait = reconnect.failed(Instant::now(), fastrand::f64());
                if let Some(size) = oversized(&e) {
                    if size <= READ_CEILING {
                        // Read it once on the next connection, to dead-letter it.
                        warn!(bytes = size, limit = spec.max_message_bytes, "an MQTT message too large to read broke the connection; reconnecting to read it once and dead-letter it");
                        events.mqtt_options.set_max_packet_size(size + 16, read_limit);
                        wait = reconnect::FIRST;
                    } else {
                        error!(bytes = size, ceiling = READ_CEILING, "an MQTT message larger than the collector will read holds the session's queue; set the broker's max_packet_size below this (see docs/mqtt.md)");
                    }
                } else {
                    warn!(error = %e, retry_in = ?wait, "MQTT connection failed");
                }
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => break,
                }
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

/// The size of the packet that broke the connection by being over the read limit, if that is
/// what happened.
fn oversized(e: &ConnectionError) -> Option<usize> {
    match e {
        ConnectionError::MqttState(StateError::Deserialization(rumqttc::Error::PayloadSizeLimitExceeded(size))) => Some(*size),
        _ => None,
    }
}

/// The readings of a message under the first subscription whose filter matches its topic, and
/// the reason it did not map, if it did not.
fn map(subscriptions: &[Subscription], identity: &Identity, p: &Publish, trust: &ClockTrust) -> (Vec<Reading>, Option<String>) {
    let topic = p.topic.clone();
    let Some(sub) = subscriptions.iter().find(|s| super::mapping::captures(&s.topic, &topic).is_some()) else {
        return (Vec::new(), Some(format!("no subscription's filter matches topic {topic:?}")));
    };
    let received = Utc::now();
    match sub.map(identity, &topic, &p.payload, received) {
        // A reading stamped with the gateway's time (the message had none) is only as good as
        // that clock.
        Ok(mut readings) => {
            for r in readings.iter_mut().filter(|r| r.time == received) {
                r.quality = trust.stamp(r.quality);
            }
            (readings, None)
        }
        Err(e) => (Vec::new(), Some(e.to_string())),
    }
}

/// The dead letter of a message: when, the topic, its size, the start of its payload, and why.
fn dead_letter_line(p: &Publish, reason: &str) -> String {
    let payload: String = String::from_utf8_lossy(&p.payload[..p.payload.len().min(2048)]).chars().take(512).collect();
    serde_json::json!({
        "received": Utc::now().to_rfc3339(),
        "topic": p.topic,
        "bytes": p.payload.len(),
        "payload": payload,
        "reason": reason,
    })
    .to_string()
}
