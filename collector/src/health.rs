//! The collector's health endpoint (off by default; `[health] listen`, loopback unless
//! `allow_remote`): `GET /healthz` answers 200 while the collector does its job and 503, with
//! every reason in the body, while it does not (the journal takes nothing, a sink has not
//! delivered for `max_sink_delay`, MQTT has been down for `max_mqtt_down`, every device is
//! failing); `GET /metrics` serves every counter in the Prometheus text format. hyper's HTTP/1
//! server with bounds: at most `MAX_CONNECTIONS` at once (more are closed at once and counted),
//! a deadline on reading the request and on the whole exchange, and a backoff on accept errors
//! (out of file descriptors).

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tracing::{debug, warn};

use crate::settings::HumanDuration;
use crate::dead_letter::DeadLetters;
use crate::disk;
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
    /// Unhealthy once a sink's oldest undelivered reading is older than this.
    #[serde(default = "default_max_sink_delay")]
    pub max_sink_delay: HumanDuration,
    /// Unhealthy once the MQTT source has had no connection for this long.
    #[serde(default = "default_max_mqtt_down")]
    pub max_mqtt_down: HumanDuration,
}

fn default_max_sink_delay() -> HumanDuration {
    HumanDuration(Duration::from_secs(600))
}
fn default_max_mqtt_down() -> HumanDuration {
    HumanDuration(Duration::from_secs(120))
}

/// Connections served at once; more are closed on accept (a scraper and a probe need two).
pub const MAX_CONNECTIONS: usize = 16;
/// Time to read a request's head.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Time for a whole exchange, the answer's write included: a client that stops reading is cut.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// Failed cycles in a row after which a device counts as failing.
const DEVICE_FAILING_AFTER: u32 = 3;

/// What the endpoint reads at each request.
pub struct Health {
    pub spec: HealthSpec,
    pub stats: Arc<Stats>,
    pub journal: Arc<StdMutex<Journal>>,
    pub sinks: Vec<&'static str>,
    pub journal_full: Arc<AtomicBool>,
    pub started: Instant,
    pub data_dir: PathBuf,
    pub reserve_bytes: u64,
    pub dead_letters: DeadLetters,
    /// Connections closed because `MAX_CONNECTIONS` were open.
    pub rejected: AtomicU64,
    /// Failed accepts (EMFILE when the process is out of descriptors, ENFILE, ENOMEM).
    pub accept_errors: AtomicU64,
    pub trust: Arc<crate::clock::ClockTrust>,
}

/// Serves requests on `listener` until `shutdown` turns true; paths other than `/healthz` and
/// `/metrics` go to `pages` when given (the console). With `tls`, every connection is HTTPS.
pub async fn serve(listener: TcpListener, health: Arc<Health>, pages: Option<axum::Router>, tls: Option<tokio_rustls::TlsAcceptor>, mut shutdown: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut accept_backoff = Duration::from_millis(10);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => {
                accept_backoff = Duration::from_millis(10);
                stream
            }
            Err(e) => {
                // EMFILE and friends: accepting again at once would spin; wait for descriptors.
                health.accept_errors.fetch_add(1, Ordering::Relaxed);
                warn!(error = %e, retry_in = ?accept_backoff, "health endpoint: accept failed");
                tokio::time::sleep(accept_backoff).await;
                accept_backoff = (accept_backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            health.rejected.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        let health = Arc::clone(&health);
        let pages = pages.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|request: Request<Incoming>| {
                let health = Arc::clone(&health);
                let pages = pages.clone();
                async move {
                    let path = request.uri().path();
                    match pages {
                        Some(mut router) if path != "/healthz" && path != "/metrics" => {
                            use tower_service::Service as _;
                            match router.call(request.map(axum::body::Body::new)).await {
                                Ok(response) => Ok::<_, Infallible>(response),
                                Err(never) => match never {},
                            }
                        }
                        _ => Ok(answer(&request, &health).map(axum::body::Body::new)),
                    }
                }
            });
            let exchange = async {
                match tls {
                    // The handshake counts against the head's deadline: a client that opens a
                    // connection and says nothing holds a slot no longer than one that says
                    // nothing over plain HTTP.
                    Some(acceptor) => match tokio::time::timeout(READ_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(secure)) => serve_connection(secure, service).await,
                        Ok(Err(e)) => Ok(debug!(error = %e, "TLS handshake failed")),
                        Err(_) => Ok(debug!("TLS handshake cut at its deadline")),
                    },
                    None => serve_connection(stream, service).await,
                }
            };
            match tokio::time::timeout(EXCHANGE_TIMEOUT, exchange).await {
                Ok(Err(e)) => debug!(error = %e, "health request failed"),
                Err(_) => debug!("health request cut at its deadline"),
                Ok(Ok(())) => {}
            }
            drop(slot);
        });
    }
}

/// One HTTP/1 exchange on `io`, plain or TLS, with the head's read deadline.
async fn serve_connection<S, Svc>(io: S, service: Svc) -> Result<(), hyper::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    Svc: hyper::service::Service<Request<Incoming>, Response = Response<axum::body::Body>, Error = Infallible>,
{
    hyper::server::conn::http1::Builder::new().timer(TokioTimer::new()).header_read_timeout(READ_TIMEOUT).keep_alive(false).serve_connection(TokioIo::new(io), service).await
}

fn answer(request: &Request<Incoming>, health: &Health) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (request.method(), request.uri().path()) {
        (&Method::GET, "/healthz") => match problems(health) {
            problems if problems.is_empty() => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
            problems => (StatusCode::SERVICE_UNAVAILABLE, "text/plain", problems.iter().map(|p| format!("{p}\n")).collect()),
        },
        (&Method::GET, "/metrics") => (StatusCode::OK, "text/plain; version=0.0.4", metrics(health)),
        (&Method::GET, _) => (StatusCode::NOT_FOUND, "text/plain", "not found: try /healthz or /metrics\n".to_owned()),
        _ => (StatusCode::METHOD_NOT_ALLOWED, "text/plain", "only GET\n".to_owned()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    response
}

/// Why the collector is not doing its job right now, one line each; empty when it is.
pub fn problems(health: &Health) -> Vec<String> {
    let summary = health.stats.snapshot();
    let mut out = Vec::new();
    if health.journal_full.load(Ordering::Relaxed) || summary.journal.blocked.is_some() {
        let why = summary.journal.blocked.as_deref().unwrap_or("full");
        out.push(format!("journal takes no readings, polling paused: {why}"));
    }
    {
        let j = journal::lock(&health.journal);
        for sink in &health.sinks {
            if let Some(age) = j.sink_undelivered_age(sink).filter(|a| *a > health.spec.max_sink_delay.0) {
                out.push(format!("sink {sink}: its oldest undelivered reading waits for {} s (health.max_sink_delay is {})", age.as_secs(), health.spec.max_sink_delay));
            }
        }
    }
    if let Some(down) = summary.mqtt.as_ref().and_then(|m| m.down_since).map(|t| t.elapsed()).filter(|d| *d > health.spec.max_mqtt_down.0) {
        out.push(format!("mqtt: no connection to the broker for {} s (health.max_mqtt_down is {})", down.as_secs(), health.spec.max_mqtt_down));
    }
    if let Some(m) = summary.mqtt.as_ref().filter(|m| m.subscriptions_refused > 0) {
        out.push(format!("mqtt: the broker refused {} subscription(s); check the ACL of this user", m.subscriptions_refused));
    }
    if !summary.devices.is_empty() && summary.devices.values().all(|d| d.fail_streak >= DEVICE_FAILING_AFTER) {
        out.push(format!("every device ({}) has failed its last {DEVICE_FAILING_AFTER} or more cycles", summary.devices.len()));
    }
    out
}

/// Every counter, with the journal's size, each sink's lag and the disk read now.
fn metrics(health: &Health) -> String {
    let summary = health.stats.snapshot();
    let (bytes, age, lags) = {
        let j = journal::lock(&health.journal);
        let durable = j.durable();
        let lags: Vec<(&str, u64)> = health.sinks.iter().map(|s| (*s, durable.saturating_sub(j.cursor(s).unwrap_or(0)))).collect();
        (j.disk_bytes(), j.oldest_undelivered_age(), lags)
    };
    let (dead_letter_bytes, dead_letter_cap) = health.dead_letters.usage();
    let gauges = Gauges {
        journal_bytes: bytes,
        oldest_undelivered_s: age.map_or(0.0, |a| a.as_secs_f64()),
        journal_full: health.journal_full.load(Ordering::Relaxed) || summary.journal.blocked.is_some(),
        disk_free_bytes: disk::free_bytes(&health.data_dir).ok(),
        reserve_bytes: health.reserve_bytes,
        dead_letter_bytes,
        dead_letter_cap,
        dead_letters_refused: health.dead_letters.refused(),
        healthy: problems(health).is_empty(),
        clock_synchronised: health.trust.synchronised(),
        health_rejected: health.rejected.load(Ordering::Relaxed),
        health_accept_errors: health.accept_errors.load(Ordering::Relaxed),
    };
    render(&summary, &gauges, &lags, health.started.elapsed().as_secs_f64())
}

/// Escapes a label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The state read at scrape time.
pub struct Gauges {
    pub journal_bytes: u64,
    /// Age of the oldest reading some sink has not delivered; 0 when none is waiting.
    pub oldest_undelivered_s: f64,
    pub journal_full: bool,
    /// `None` when the filesystem could not be asked.
    pub disk_free_bytes: Option<u64>,
    pub reserve_bytes: u64,
    pub dead_letter_bytes: u64,
    pub dead_letter_cap: u64,
    pub dead_letters_refused: u64,
    pub healthy: bool,
    pub health_rejected: u64,
    pub health_accept_errors: u64,
    pub clock_synchronised: bool,
}

/// The Prometheus text exposition of the counters.
pub fn render(s: &Summary, g: &Gauges, lags: &[(&str, u64)], uptime_s: f64) -> String {
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
    // Every reason of every device, zeros included: a series that appears only at its first
    // increment hides that increment from rate().
    let skipped = s
        .devices
        .iter()
        .flat_map(|(d, c)| crate::stats::SkipReason::ALL.map(|r| (format!("{{device=\"{}\",reason=\"{}\"}}", label(d), r.as_str()), c.skipped.get(&r).copied().unwrap_or(0) as f64)))
        .collect();
    family("collector_device_skipped_slots_total", "counter", "Slots skipped by reason (backoff, journal_full, overrun).", skipped);
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
    family("collector_device_garbage_bytes_total", "counter", "Bytes before an answer's frame that were noise, not the frame or its wake-up bytes (DL/T 645, CJ/T 188).", device(&|c| c.garbage_bytes));
    let drift = s.devices.iter().filter_map(|(d, c)| c.clock_drift_ms.map(|ms| (format!("{{device=\"{}\"}}", label(d)), ms as f64 / 1000.0))).collect();
    family("collector_meter_clock_drift_seconds", "gauge", "The meter's clock minus the gateway's at the last read (DL/T 645 and CJ/T 188 meters that keep one).", drift);
    family("collector_device_cycle_seconds_max", "gauge", "Longest time from a slot's start to the end of its poll cycle.", device(&|c| c.cycle_ms_max).into_iter().map(|(l, v)| (l, v / 1000.0)).collect());
    family("collector_device_request_duration_seconds_max", "gauge", "Longest request latency, seconds.", device(&|c| c.latency_ms_max).into_iter().map(|(l, v)| (l, v / 1000.0)).collect());
    let readings = s
        .devices
        .iter()
        .flat_map(|(d, c)| [("good", c.readings_good), ("flagged", c.readings_flagged), ("missing", c.readings_missing)].map(|(q, n)| (format!("{{device=\"{}\",quality=\"{q}\"}}", label(d)), n as f64)))
        .collect();
    family("collector_device_readings_total", "counter", "Readings produced: good, flagged, or stored without a value.", readings);
    family("collector_clock_steps_total", "counter", "Steps of the wall clock the pollers saw (they re-plan their slots).", vec![(String::new(), s.clock_steps as f64)]);
    family("collector_clock_synchronised", "gauge", "1 while the clock is synchronised (or trusted); 0 while readings are stored as clock_unsynced.", vec![(String::new(), f64::from(u8::from(g.clock_synchronised)))]);
    family("collector_healthy", "gauge", "1 while /healthz answers 200.", vec![(String::new(), f64::from(u8::from(g.healthy)))]);
    family("collector_journal_bytes", "gauge", "Bytes of journal segments on disk.", vec![(String::new(), g.journal_bytes as f64)]);
    family(
        "collector_journal_oldest_undelivered_seconds",
        "gauge",
        "Age of the oldest reading a sink has not delivered (0: none waiting).",
        vec![(String::new(), g.oldest_undelivered_s)],
    );
    family("collector_journal_full", "gauge", "1 while the journal takes no readings (budget, disk reserve, write errors) and polling is paused.", vec![(String::new(), f64::from(u8::from(g.journal_full)))]);
    let append_failures = s.journal.append_failures.iter().map(|(r, n)| (format!("{{reason=\"{}\"}}", label(r)), *n as f64)).collect();
    family("collector_journal_append_failures_total", "counter", "Failed journal appends by reason (budget, disk_reserve, no_space, io), each retried.", append_failures);
    if let Some(free) = g.disk_free_bytes {
        family("collector_disk_free_bytes", "gauge", "Free bytes on the data directory's filesystem.", vec![(String::new(), free as f64)]);
    }
    family("collector_disk_reserve_bytes", "gauge", "Free bytes the journal and dead letters leave for the sinks (storage.reserve_bytes).", vec![(String::new(), g.reserve_bytes as f64)]);
    family("collector_dead_letter_bytes", "gauge", "Bytes in the dead-letter directory.", vec![(String::new(), g.dead_letter_bytes as f64)]);
    family("collector_dead_letter_max_bytes", "gauge", "The dead-letter directory's cap.", vec![(String::new(), g.dead_letter_cap as f64)]);
    family("collector_dead_letters_refused_total", "counter", "Dead letters not kept (directory at its cap, disk at its reserve, write failed).", vec![(String::new(), g.dead_letters_refused as f64)]);
    family("collector_health_connections_rejected_total", "counter", "Health endpoint connections closed because too many were open.", vec![(String::new(), g.health_rejected as f64)]);
    family("collector_health_accept_errors_total", "counter", "Health endpoint accepts that failed (out of descriptors: EMFILE); accepting backs off up to 1 s.", vec![(String::new(), g.health_accept_errors as f64)]);
    family("collector_journal_recovered_total", "counter", "Readings found undelivered in the journal at start.", vec![(String::new(), s.journal.recovered as f64)]);
    family("collector_journal_recovery_cut_readings", "gauge", "Readings the start's recovery cut from the journal (torn tails, corrupt records); the log names the segments.", vec![(String::new(), s.journal.cut_readings as f64)]);
    family("collector_journal_recovery_cut_bytes", "gauge", "Bytes the start's recovery cut from the journal.", vec![(String::new(), s.journal.cut_bytes as f64)]);
    family("collector_journal_dropped_total", "counter", "Readings dropped undelivered (drop_oldest, or lost at shutdown while full).", vec![(String::new(), s.journal.dropped as f64)]);
    let lag = lags.iter().map(|(n, l)| (format!("{{sink=\"{}\"}}", label(n)), *l as f64)).collect();
    family("collector_sink_lag_readings", "gauge", "Readings journalled but not yet delivered by the sink.", lag);
    let sink = |f: &dyn Fn(&crate::stats::SinkCounters) -> u64| -> Vec<(String, f64)> { s.sinks.iter().map(|(n, c)| (format!("{{sink=\"{}\"}}", label(n)), f(c) as f64)).collect() };
    family("collector_sink_readings_total", "counter", "Readings delivered.", sink(&|c| c.readings));
    family("collector_sink_batches_total", "counter", "Batches delivered.", sink(&|c| c.batches));
    family("collector_sink_retries_total", "counter", "Failed delivery attempts (each retried).", sink(&|c| c.failures));
    family("collector_sink_dead_lettered_total", "counter", "Readings set aside as undeliverable.", sink(&|c| c.dead_lettered));
    family("collector_sink_splits_total", "counter", "Batches split because the server found them too large (HTTP 413).", sink(&|c| c.splits));
    family("collector_sink_shrinks_total", "counter", "Times the batch size was halved after a request timed out.", sink(&|c| c.shrinks));
    family("collector_sink_journal_read_failures_total", "counter", "Failed reads of the journal by the sink (retried from the same position).", sink(&|c| c.read_failures));
    family("collector_sink_cursor_commit_failures_total", "counter", "Delivered batches whose journal cursor could not be recorded (delivered again after a restart).", sink(&|c| c.commit_failures));
    if let Some(m) = &s.mqtt {
        family("collector_mqtt_messages_total", "counter", "MQTT messages received.", vec![(String::new(), m.messages as f64)]);
        family("collector_mqtt_readings_total", "counter", "Readings mapped from MQTT messages.", vec![(String::new(), m.readings as f64)]);
        family("collector_mqtt_readings_flagged_total", "counter", "MQTT readings stored with a flag (a negative counter, an unsynchronised clock).", vec![(String::new(), m.meters.values().map(|s| s.flagged).sum::<u64>() as f64)]);
        family("collector_mqtt_dead_lettered_total", "counter", "MQTT messages dead-lettered.", vec![(String::new(), m.dead_lettered as f64)]);
        family("collector_mqtt_connection_errors_total", "counter", "MQTT connection errors.", vec![(String::new(), m.connection_errors as f64)]);
        family("collector_mqtt_subscriptions_refused_total", "counter", "Subscriptions the broker refused (SUBACK failure).", vec![(String::new(), m.subscriptions_refused as f64)]);
        family("collector_mqtt_oversized_total", "counter", "MQTT messages larger than mqtt.max_message_bytes (dead-lettered).", vec![(String::new(), m.oversized as f64)]);
        let meter = |f: &dyn Fn(&crate::mqtt::source::MeterSeen) -> f64| -> Vec<(String, f64)> { m.meters.iter().map(|(name, seen)| (format!("{{meter=\"{}\"}}", label(name)), f(seen))).collect() };
        family("collector_mqtt_meter_readings_total", "counter", "Readings per MQTT meter.", meter(&|s| s.readings as f64));
        family("collector_mqtt_meter_readings_flagged_total", "counter", "Readings per MQTT meter stored with a flag.", meter(&|s| s.flagged as f64));
        family("collector_mqtt_meter_last_message_age_seconds", "gauge", "Seconds since each MQTT meter's last message: alert on a meter gone quiet.", meter(&|s| s.last.map_or(f64::NAN, |t| t.elapsed().as_secs_f64())));
        family("collector_mqtt_connected", "gauge", "1 while connected to the broker.", vec![(String::new(), f64::from(u8::from(m.down_since.is_none())))]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn health(dir: &std::path::Path) -> Health {
        let (journal, _) = Journal::open(&dir.join("journal"), Default::default(), &["parquet"]).unwrap();
        Health {
            spec: HealthSpec { listen: "127.0.0.1:0".parse().unwrap(), allow_remote: false, max_sink_delay: HumanDuration(Duration::from_secs(600)), max_mqtt_down: HumanDuration(Duration::from_secs(120)) },
            stats: Arc::new(Stats::default()),
            journal: Arc::new(StdMutex::new(journal)),
            sinks: vec!["parquet"],
            journal_full: Arc::new(AtomicBool::new(false)),
            started: Instant::now(),
            data_dir: dir.to_owned(),
            reserve_bytes: 0,
            dead_letters: DeadLetters::new(dir.join("dead-letter"), Default::default(), 0),
            rejected: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
            trust: Arc::new(crate::clock::ClockTrust::new(true)),
        }
    }

    #[test]
    fn healthz_names_every_reason_it_is_not_ok() {
        let dir = tempfile::tempdir().unwrap();
        let h = health(dir.path());
        assert!(problems(&h).is_empty());
        h.stats.device("a", |c| c.fail_streak = 3);
        h.stats.device("b", |c| c.fail_streak = 1);
        assert!(problems(&h).is_empty(), "one device still answers");
        h.stats.device("b", |c| c.fail_streak = 4);
        h.stats.journal(|j| j.blocked = Some("no space left on the device".into()));
        h.stats.mqtt(|m| m.down_since = Some(Instant::now() - Duration::from_secs(300)));
        let p = problems(&h);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].contains("journal takes no readings, polling paused: no space left on the device"), "{p:?}");
        assert!(p[1].starts_with("mqtt: no connection to the broker for 300 s"), "{p:?}");
        assert!(p[2].starts_with("every device (2) has failed"), "{p:?}");
        let text = metrics(&h);
        assert!(text.contains("\ncollector_healthy 0\n"), "{text}");
        assert!(text.contains("\ncollector_mqtt_connected 0\n"), "{text}");
    }

    /// A sink whose oldest undelivered reading waits longer than `max_sink_delay` makes the
    /// collector unhealthy, naming the sink; delivering it makes it healthy again.
    #[test]
    fn a_sink_behind_for_longer_than_the_set_age_is_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = health(dir.path());
        // A second: a loaded machine may stall a test thread for a good part of one.
        h.spec.max_sink_delay = HumanDuration(Duration::from_secs(1));
        let reading = readings::Reading {
            time: chrono::Utc::now(),
            enterprise: "91350100M000100Y43".parse().unwrap(),
            site: "plant".parse().unwrap(),
            meter: "m1".parse().unwrap(),
            medium: readings::Medium::Electricity,
            quantity: "active_energy_import".parse().unwrap(),
            kind: readings::Kind::Counter,
            unit: readings::Unit::KWh,
            value: Some(1.0),
            quality: readings::Quality::Good,
        };
        {
            let mut j = journal::lock(&h.journal);
            j.append(&[reading]).unwrap();
            j.sync().unwrap();
        }
        assert!(problems(&h).is_empty(), "just appended");
        std::thread::sleep(Duration::from_millis(1500));
        let p = problems(&h);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("sink parquet: its oldest undelivered reading waits for"), "{p:?}");
        journal::lock(&h.journal).commit("parquet", 1).unwrap();
        assert!(problems(&h).is_empty(), "delivered");
    }
}

#[cfg(test)]
mod limits {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// Idle connections hold at most `MAX_CONNECTIONS` slots: the next one is closed at once
    /// and counted, and the endpoint answers again once they go.
    #[tokio::test]
    async fn connections_beyond_the_cap_are_closed_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let h = Arc::new(tests::health(dir.path()));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (_stop, shutdown) = watch::channel(false);
        tokio::spawn(serve(listener, Arc::clone(&h), None, None, shutdown));
        let mut idle = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut extra = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(2), extra.read(&mut buf)).await.expect("closed at once, not left hanging");
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
        assert_eq!(h.rejected.load(Ordering::Relaxed), 1);
        drop(idle);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut ok = tokio::net::TcpStream::connect(addr).await.unwrap();
        ok.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut answer = String::new();
        ok.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(answer.ends_with("ok\n"), "{answer}");
    }
}
