//! The collector's health endpoint (off by default; `[health] listen`, loopback unless
//! `allow_remote`): `GET /healthz` answers 200 while readings can be journalled and 503 while the
//! journal is full, and `GET /metrics` serves every counter in the Prometheus text format. A
//! few lines of HTTP/1.1 over tokio: the gateway binary needs no web framework for two paths.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::debug;

use crate::journal::{self, Journal};
use crate::stats::{Stats, Summary, LATENCY_BUCKETS_MS};

/// `[health]` in the config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthSpec {
    /// Where to listen, e.g. `127.0.0.1:9464`.
    pub listen: SocketAddr,
    /// Listen on a non-loopback address too (the endpoint has no authentication).
    #[serde(default)]
    pub allow_remote: bool,
}

/// What the endpoint reads at each request.
pub struct Health {
    pub stats: Arc<Stats>,
    pub journal: Arc<StdMutex<Journal>>,
    pub sinks: Vec<&'static str>,
    pub journal_full: Arc<AtomicBool>,
    pub started: Instant,
}

/// Serves requests on `listener` until `shutdown` turns true.
pub async fn serve(listener: TcpListener, health: Arc<Health>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let health = Arc::clone(&health);
                    tokio::spawn(async move {
                        if let Err(e) = answer(stream, &health).await {
                            debug!(error = %e, "health request failed");
                        }
                    });
                }
                Err(e) => debug!(error = %e, "health accept failed"),
            },
            _ = shutdown.changed() => return,
        }
    }
}

async fn answer(mut stream: TcpStream, health: &Health) -> std::io::Result<()> {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    // The request line and headers: a small, bounded read with a deadline.
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 8192 {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        Ok::<(), std::io::Error>(())
    })
    .await;
    if !matches!(read, Ok(Ok(()))) {
        return Ok(());
    }
    let line = String::from_utf8_lossy(request.split(|b| *b == b'\n').next().unwrap_or_default()).into_owned();
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, content_type, body) = match (method, path) {
        ("GET", "/healthz") if health.journal_full.load(Ordering::Relaxed) => ("503 Service Unavailable", "text/plain", "journal full: polling paused until a sink catches up\n".to_owned()),
        ("GET", "/healthz") => ("200 OK", "text/plain", "ok\n".to_owned()),
        ("GET", "/metrics") => ("200 OK", "text/plain; version=0.0.4", metrics(health)),
        ("GET", _) => ("404 Not Found", "text/plain", "not found: try /healthz or /metrics\n".to_owned()),
        _ => ("405 Method Not Allowed", "text/plain", "only GET\n".to_owned()),
    };
    let head = format!("HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// Every counter, with the journal's size and each sink's lag read now.
fn metrics(health: &Health) -> String {
    let summary = health.stats.snapshot();
    let (bytes, age, lags) = {
        let j = journal::lock(&health.journal);
        let durable = j.durable();
        let lags: Vec<(&str, u64)> = health.sinks.iter().map(|s| (*s, durable.saturating_sub(j.cursor(s).unwrap_or(0)))).collect();
        (j.disk_bytes(), j.oldest_undelivered_age(), lags)
    };
    let journal = JournalGauges { bytes, oldest_undelivered_s: age.map_or(0.0, |a| a.as_secs_f64()), full: health.journal_full.load(Ordering::Relaxed) };
    render(&summary, &journal, &lags, health.started.elapsed().as_secs_f64())
}

/// Escapes a label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The journal's state read at scrape time.
pub struct JournalGauges {
    pub bytes: u64,
    /// Age of the oldest reading some sink has not delivered; 0 when none is waiting.
    pub oldest_undelivered_s: f64,
    pub full: bool,
}

/// The Prometheus text exposition of the counters.
pub fn render(s: &Summary, journal: &JournalGauges, lags: &[(&str, u64)], uptime_s: f64) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in samples {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    let device = |f: &dyn Fn(&crate::stats::DeviceCounters) -> u64| -> Vec<(String, f64)> {
        s.devices.iter().map(|(d, c)| (format!("{{device=\"{}\"}}", label(d)), f(c) as f64)).collect()
    };
    family("collector_uptime_seconds", "gauge", "Seconds since the collector started.", vec![(String::new(), uptime_s)]);
    family("collector_device_cycles_total", "counter", "Poll cycles run per device.", device(&|c| c.cycles));
    family("collector_device_skipped_slots_total", "counter", "Slots skipped (overrun, back-off, journal full).", device(&|c| c.skipped_slots));
    family("collector_device_requests_total", "counter", "Modbus read requests sent.", device(&|c| c.requests));
    let failures = s.devices.iter().flat_map(|(d, c)| c.failures.iter().map(move |(r, n)| (format!("{{device=\"{}\",reason=\"{}\"}}", label(d), label(r)), *n as f64))).collect();
    family("collector_device_request_failures_total", "counter", "Failed requests by reason (timeout, crc, exception_04, ...).", failures);
    let mut latency = Vec::new();
    for (d, c) in &s.devices {
        let d = label(d);
        let mut cumulative = 0;
        for (i, n) in c.latency_buckets.iter().enumerate() {
            cumulative += n;
            let le = LATENCY_BUCKETS_MS.get(i).map_or("+Inf".to_owned(), |ms| format!("{}", *ms as f64 / 1000.0));
            latency.push((format!("_bucket{{device=\"{d}\",le=\"{le}\"}}"), cumulative as f64));
        }
        latency.push((format!("_sum{{device=\"{d}\"}}"), c.latency_ms_total as f64 / 1000.0));
        latency.push((format!("_count{{device=\"{d}\"}}"), cumulative as f64));
    }
    family("collector_device_request_duration_seconds", "histogram", "Modbus request latency (the exchange, not the wait for a shared line).", latency);
    family("collector_device_cycle_seconds_max", "gauge", "Longest time from a slot's start to the end of its poll cycle.", device(&|c| c.cycle_ms_max).into_iter().map(|(l, v)| (l, v / 1000.0)).collect());
    family("collector_device_request_duration_seconds_max", "gauge", "Longest request latency, seconds.", device(&|c| c.latency_ms_max).into_iter().map(|(l, v)| (l, v / 1000.0)).collect());
    let readings = s
        .devices
        .iter()
        .flat_map(|(d, c)| [("good", c.readings_good), ("flagged", c.readings_flagged), ("missing", c.readings_missing)].map(|(q, n)| (format!("{{device=\"{}\",quality=\"{q}\"}}", label(d)), n as f64)))
        .collect();
    family("collector_device_readings_total", "counter", "Readings produced: good, flagged, or stored without a value.", readings);
    family("collector_journal_bytes", "gauge", "Bytes of journal segments on disk.", vec![(String::new(), journal.bytes as f64)]);
    family(
        "collector_journal_oldest_undelivered_seconds",
        "gauge",
        "Age of the oldest reading a sink has not delivered (0: none waiting).",
        vec![(String::new(), journal.oldest_undelivered_s)],
    );
    family("collector_journal_full", "gauge", "1 while the journal is full and polling is paused.", vec![(String::new(), f64::from(u8::from(journal.full)))]);
    family("collector_journal_recovered_total", "counter", "Readings found undelivered in the journal at start.", vec![(String::new(), s.journal.recovered as f64)]);
    family("collector_journal_dropped_total", "counter", "Readings dropped undelivered (drop_oldest, or lost at shutdown while full).", vec![(String::new(), s.journal.dropped as f64)]);
    let lag = lags.iter().map(|(n, l)| (format!("{{sink=\"{}\"}}", label(n)), *l as f64)).collect();
    family("collector_sink_lag_readings", "gauge", "Readings journalled but not yet delivered by the sink.", lag);
    let sink = |f: &dyn Fn(&crate::stats::SinkCounters) -> u64| -> Vec<(String, f64)> { s.sinks.iter().map(|(n, c)| (format!("{{sink=\"{}\"}}", label(n)), f(c) as f64)).collect() };
    family("collector_sink_readings_total", "counter", "Readings delivered.", sink(&|c| c.readings));
    family("collector_sink_batches_total", "counter", "Batches delivered.", sink(&|c| c.batches));
    family("collector_sink_retries_total", "counter", "Failed delivery attempts (each retried).", sink(&|c| c.failures));
    family("collector_sink_dead_lettered_total", "counter", "Readings set aside as undeliverable.", sink(&|c| c.dead_lettered));
    if let Some(m) = &s.mqtt {
        family("collector_mqtt_messages_total", "counter", "MQTT messages received.", vec![(String::new(), m.messages as f64)]);
        family("collector_mqtt_readings_total", "counter", "Readings mapped from MQTT messages.", vec![(String::new(), m.readings as f64)]);
        family("collector_mqtt_dead_lettered_total", "counter", "MQTT messages dead-lettered.", vec![(String::new(), m.dead_lettered as f64)]);
        family("collector_mqtt_connection_errors_total", "counter", "MQTT connection errors.", vec![(String::new(), m.connection_errors as f64)]);
    }
    out
}
