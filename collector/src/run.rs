//! Wires a validated config into running tasks: one poller per device, one link per address, the
//! sink, and an orderly shutdown that flushes what was read.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex as StdMutex;

use anyhow::Context as _;
use readings::store::StoreWriter;
use tokio::sync::{mpsc, watch, Mutex};
use tracing::{info, warn};

use crate::config::Config;
use crate::journal::{self, Journal};
use crate::modbus::link::Link;
use crate::modbus::poller::DevicePoller;
use crate::normalise::Identity;
use crate::sink::driver::{self, Batching};
use crate::sink::influxdb::InfluxSink;
use crate::sink::parquet::ParquetSink;
use crate::stats::{Stats, Summary};

/// How long sinks keep retrying at shutdown before leaving readings in the journal.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Polls every device of `config` into the store until `shutdown` completes, then writes what is
/// buffered and returns the counters (which `stats` shows live meanwhile).
pub async fn run(config: Config, stats: Arc<Stats>, shutdown: impl Future<Output = ()>) -> anyhow::Result<Summary> {
    let store_dir = config.store_dir();
    let identity = Identity { enterprise: config.enterprise.clone(), site: config.site.clone() };

    let journal_dir = config.journal_dir();
    let sink_names = config.sink_names();
    let (journal, recovery) = Journal::open(&journal_dir, config.journal.clone(), &sink_names)
        .with_context(|| format!("opening the journal at {}", journal_dir.display()))?;
    if recovery.records > 0 || !recovery.cuts.is_empty() {
        info!(readings = recovery.records, segments = recovery.segments, "journal holds readings not yet delivered; delivering them first");
    }
    for cut in &recovery.cuts {
        warn!(segment = %cut.segment.display(), bytes = cut.bytes, readings = cut.records, torn_tail = cut.torn_tail, "journal recovery cut corrupt bytes");
    }
    stats.journal(|j| {
        j.recovered = recovery.records;
        j.cut_bytes = recovery.cuts.iter().map(|c| c.bytes).sum();
        j.cut_readings = recovery.cuts.iter().map(|c| c.records).sum();
    });
    let durable_end = journal.durable();
    let journal = Arc::new(StdMutex::new(journal));
    let (durable_tx, durable_rx) = watch::channel(durable_end);
    let (stop_tx, stop_rx) = watch::channel(false);
    let journal_full = Arc::new(AtomicBool::new(false));
    // Small: what is queued here when the journal fills waits for room (or is lost at shutdown).
    let (tx, rx) = mpsc::channel(16);
    let writer = tokio::spawn(journal::writer::run(
        Arc::clone(&journal),
        config.journal.clone(),
        rx,
        durable_tx,
        stop_rx.clone(),
        Arc::clone(&stats),
        Arc::clone(&journal_full),
    ));
    let mut sinks = Vec::new();
    if config.parquet.enabled {
        let batching = Batching { max_rows: config.parquet.max_rows, max_age: config.parquet.max_age.0, shutdown_grace: SHUTDOWN_GRACE };
        let store = StoreWriter::open(&store_dir).with_context(|| format!("opening the Parquet store at {}", store_dir.display()))?;
        let parquet = ParquetSink::new(Arc::new(store));
        sinks.push(tokio::spawn(driver::run(parquet, batching, Arc::clone(&stats), Arc::clone(&journal), durable_rx.clone())));
    }
    if let Some(influx) = &config.influxdb {
        let batching = Batching { max_rows: influx.max_rows, max_age: influx.max_age.0, shutdown_grace: SHUTDOWN_GRACE };
        info!(url = %influx.write_url, "InfluxDB sink");
        let sink = InfluxSink::new(influx.clone(), config.dead_letter_dir()).context("building the InfluxDB client")?;
        sinks.push(tokio::spawn(driver::run(sink, batching, Arc::clone(&stats), Arc::clone(&journal), durable_rx.clone())));
    }
    drop(durable_rx);

    let mut links: BTreeMap<_, Arc<Mutex<Link>>> = BTreeMap::new();
    let mut pollers = Vec::new();
    let dead_letter = config.dead_letter_dir();
    for device in config.devices {
        let link = links.entry(device.endpoint.clone()).or_insert_with(|| Arc::new(Mutex::new(Link::new(device.endpoint.clone()))));
        info!(
            device = %device.meter,
            endpoint = %device.endpoint,
            unit = device.unit,
            interval = %device.interval,
            points = device.map.points.len(),
            "polling"
        );
        let poller = DevicePoller::new(device, Arc::clone(link), identity.clone(), Arc::clone(&stats), tx.clone(), Arc::clone(&journal_full));
        pollers.push(tokio::spawn(poller.run(stop_rx.clone())));
    }
    if let Some((mqtt, credentials)) = config.mqtt {
        info!(broker = %format!("{}:{}", mqtt.host, mqtt.port), subscriptions = mqtt.subscriptions.len(), "MQTT source");
        let source = crate::mqtt::source::run(mqtt, credentials, identity.clone(), tx.clone(), dead_letter, Arc::clone(&stats), stop_rx.clone());
        pollers.push(tokio::spawn(source));
    }
    drop(tx);
    info!(devices = pollers.len(), connections = links.len(), data = %config.data_dir.display(), "collector running");
    if let Some(spec) = &config.health {
        let listener = tokio::net::TcpListener::bind(spec.listen).await.with_context(|| format!("binding the health endpoint to {}", spec.listen))?;
        info!(listen = %listener.local_addr().unwrap_or(spec.listen), "health endpoint: /healthz and /metrics");
        let health = Arc::new(crate::health::Health {
            stats: Arc::clone(&stats),
            journal: Arc::clone(&journal),
            sinks: sink_names.clone(),
            journal_full: Arc::clone(&journal_full),
            started: std::time::Instant::now(),
        });
        pollers.push(tokio::spawn(crate::health::serve(listener, health, stop_rx.clone())));
    }

    shutdown.await;
    info!("shutting down: finishing cycles under way and writing buffered readings");
    let _ = stop_tx.send(true);
    for p in pollers {
        p.await.context("a device poller failed")?;
    }
    writer.await.context("the journal writer failed")?;
    for s in sinks {
        s.await.context("a sink failed")?;
    }
    let j = journal::lock(&journal);
    stats.journal(|c| {
        c.bytes = j.disk_bytes();
        c.dropped += j.dropped();
        c.undelivered = sink_names.iter().map(|n| j.durable().saturating_sub(j.cursor(n).unwrap_or(0))).max().unwrap_or(0);
    });
    Ok(stats.snapshot())
}
