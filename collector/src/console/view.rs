//! What the console shows, gathered from the counters, the live values, the journal and the
//! running config: one snapshot for the overview (and its events), one per device, and the
//! latest dead letters.

use std::path::Path;

use serde::Serialize;

use crate::config::Config;
use crate::health::Health;
use crate::journal;
use crate::line::Endpoint;
use crate::live::{Live, PointView};

/// Failed cycles in a row after which a device shows as failing.
const FAILING_AFTER: u32 = 1;

/// One device or the MQTT source, as the overview lists it.
#[derive(Debug, Serialize)]
pub struct SourceView {
    pub name: String,
    pub protocol: &'static str,
    pub endpoint: String,
    pub interval: String,
    /// `ok`, `failing` or `waiting` (no cycle yet).
    pub state: &'static str,
    pub last_reading: Option<String>,
    pub good: u64,
    pub flagged: u64,
    pub missing: u64,
    pub latency_ms: Option<u64>,
    pub failures: String,
}

/// A sink's delivery.
#[derive(Debug, Serialize)]
pub struct SinkView {
    pub name: String,
    pub lag: u64,
    pub delivered: u64,
    pub failures: u64,
}

/// The MQTT source's counters.
#[derive(Debug, Serialize)]
pub struct MqttView {
    pub connected: bool,
    pub messages: u64,
    pub readings: u64,
    pub dead_lettered: u64,
}

/// A meter seen on MQTT (its name comes from the topic, so the config does not list it).
#[derive(Debug, Serialize)]
pub struct MqttMeterView {
    pub name: String,
    pub last_reading: Option<String>,
    /// Its latest values: `quantity = value unit`.
    pub values: String,
}

/// Everything on the overview.
#[derive(Debug, Serialize)]
pub struct Snapshot {
    pub sources: Vec<SourceView>,
    /// MQTT subscriptions as configured: topic filter and meter name pattern.
    pub subscriptions: Vec<(String, String)>,
    pub mqtt_meters: Vec<MqttMeterView>,
    pub journal_bytes: u64,
    pub undelivered: u64,
    pub sinks: Vec<SinkView>,
    pub mqtt: Option<MqttView>,
    /// Why `/healthz` fails now; empty when healthy.
    pub problems: Vec<String>,
}

/// One device's page.
#[derive(Debug, Serialize)]
pub struct DeviceView {
    pub source: SourceView,
    pub points: Vec<PointView>,
    /// The requests one cycle sends (Modbus), or the items it reads (DL/T 645, CJ/T 188).
    pub requests: Vec<String>,
    /// Share of the line's time one cycle per interval takes (serial Modbus lines).
    pub line_share: Option<f64>,
}

/// The overview's data now.
pub fn snapshot(health: &Health, live: &Live, config: &Config) -> Snapshot {
    let summary = health.stats.snapshot();
    let latest = live.snapshot();
    let mut sources: Vec<SourceView> = Vec::new();
    let mut push = |name: &str, protocol: &'static str, endpoint: String, interval: String| {
        let c = summary.devices.get(name).cloned().unwrap_or_default();
        let last = latest.get(name).and_then(|points| points.values().filter(|p| p.value.is_some()).map(|p| p.time).max());
        let state = if c.cycles == 0 {
            "waiting"
        } else if c.fail_streak >= FAILING_AFTER {
            "failing"
        } else {
            "ok"
        };
        sources.push(SourceView {
            name: name.to_owned(),
            protocol,
            endpoint,
            interval,
            state,
            last_reading: last.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)),
            good: c.readings_good,
            flagged: c.readings_flagged,
            missing: c.readings_missing,
            latency_ms: c.latency_ms_total.checked_div(c.requests),
            failures: c.failures.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "),
        });
    };
    for d in &config.devices {
        push(d.meter.as_str(), "Modbus", format!("{} unit {}", d.endpoint, d.unit), d.interval.to_string());
    }
    for d in &config.dlt645_devices {
        push(d.meter.as_str(), "DL/T 645", format!("{} {}", d.endpoint, d.address), d.interval.to_string());
    }
    for d in &config.cjt188_devices {
        push(d.meter.as_str(), "CJ/T 188", format!("{} {}", d.endpoint, d.address), d.interval.to_string());
    }
    let (journal_bytes, undelivered, lags) = {
        let j = journal::lock(&health.journal);
        let lags: Vec<(String, u64)> = health.sinks.iter().map(|s| (s.to_string(), j.durable().saturating_sub(j.cursor(s).unwrap_or(0)))).collect();
        (j.disk_bytes(), lags.iter().map(|(_, l)| *l).max().unwrap_or(0), lags)
    };
    let sinks = lags
        .into_iter()
        .map(|(name, lag)| {
            let c = summary.sinks.get(&name).cloned().unwrap_or_default();
            SinkView { name, lag, delivered: c.readings, failures: c.failures }
        })
        .collect();
    let mqtt = summary.mqtt.as_ref().map(|m| MqttView { connected: m.down_since.is_none(), messages: m.messages, readings: m.readings, dead_lettered: m.dead_lettered });
    let subscriptions = config.mqtt.as_ref().map(|(m, _)| m.subscriptions.iter().map(|s| (s.topic.clone(), s.meter.clone())).collect()).unwrap_or_default();
    // Live values of names no device has: what MQTT subscriptions delivered.
    let mqtt_meters = latest
        .iter()
        .filter(|(name, _)| !sources.iter().any(|s| &s.name == *name))
        .map(|(name, points)| MqttMeterView {
            name: name.clone(),
            last_reading: points.values().map(|p| p.time).max().map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)),
            values: points.iter().map(|(q, p)| format!("{q} = {} {}", p.value.map_or("–".to_owned(), |v| v.to_string()), p.unit.symbol())).collect::<Vec<_>>().join(", "),
        })
        .collect();
    Snapshot { sources, subscriptions, mqtt_meters, journal_bytes, undelivered, sinks, mqtt, problems: crate::health::problems(health) }
}

/// Device `name`'s page, if it is configured.
pub fn device(health: &Health, live: &Live, config: &Config, name: &str) -> Option<DeviceView> {
    let source = snapshot(health, live, config).sources.into_iter().find(|s| s.name == name)?;
    let points = live.snapshot().get(name).map(|p| p.iter().map(|(q, p)| PointView::new(q, p)).collect()).unwrap_or_default();
    let (requests, line_share) = if let Some(d) = config.devices.iter().find(|d| d.meter.as_str() == name) {
        let (_, requests) = d.cycle_requests(None);
        let share = match &d.endpoint {
            Endpoint::Serial(line) => {
                let busy: std::time::Duration = requests.iter().map(|r| crate::modbus::rtu::exchange_time(line, r.count)).sum();
                Some(busy.as_secs_f64() / d.interval.0.as_secs_f64().max(1e-3))
            }
            Endpoint::Tcp { .. } => None,
        };
        (requests.iter().map(|r| r.to_string()).collect(), share)
    } else if let Some(d) = config.dlt645_devices.iter().find(|d| d.meter.as_str() == name) {
        (d.items.iter().map(|i| format!("read {:08X} ({})", i.di, i.quantity)).collect(), None)
    } else if let Some(d) = config.cjt188_devices.iter().find(|d| d.meter.as_str() == name) {
        (vec![format!("read DI 901F of {} meter {}", d.meter_type, d.address)], None)
    } else {
        (Vec::new(), None)
    };
    Some(DeviceView { source, points, requests, line_share })
}

/// One dead letter.
#[derive(Debug, Serialize)]
pub struct Letter {
    pub file: String,
    pub time: String,
    pub reason: String,
    /// The topic (MQTT) or what else the letter says it came from.
    pub what: String,
}

/// The newest `limit` dead letters in `dir`, newest first.
pub fn dead_letters(dir: &Path, limit: usize) -> Vec<Letter> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect()).unwrap_or_default();
    // Names start with the source and a sortable time.
    files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    let mut out = Vec::new();
    for file in files.iter().rev() {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let Ok(text) = std::fs::read_to_string(file) else { continue };
        for line in text.lines().rev() {
            let (time, reason, what) = match serde_json::from_str::<serde_json::Value>(line) {
                Ok(v) => {
                    let s = |k: &str| v.get(k).map(|x| x.as_str().map(str::to_owned).unwrap_or_else(|| x.to_string())).unwrap_or_default();
                    (s("received").max(s("time")), s("reason").max(s("error")), s("topic").max(s("sink")))
                }
                Err(_) => (String::new(), line.chars().take(200).collect(), String::new()),
            };
            out.push(Letter { file: name.clone(), time, reason, what });
            if out.len() >= limit {
                return out;
            }
        }
    }
    out
}
