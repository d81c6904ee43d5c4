//! Wires a validated config into running tasks: one poller per device, one link per address, the
//! sink, and an orderly shutdown that flushes what was read.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex as StdMutex;

use anyhow::Context as _;
use readings::store::StoreWriter;
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::clock::ClockTrust;
use crate::config::Config;
use crate::dead_letter::DeadLetters;
use crate::journal::{self, Journal};
use crate::modbus::poller::PollerShared;
use crate::normalise::Identity;
use crate::reload::{restart_needed, PidFile, ReloadError, ReloadRequest};
use crate::sink::driver::{self, Batching};
use crate::sink::influxdb::InfluxSink;
use crate::sink::parquet::ParquetSink;
use crate::sources::{Changes, Env, Sources};
use crate::stats::{Stats, Summary};
use crate::supervise::Supervisor;

/// How long sinks keep retrying at shutdown before leaving readings in the journal.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Polls every device of `config` into the store until `shutdown` completes, then writes what is
/// buffered and returns the counters (which `stats` shows live meanwhile).
pub async fn run(config: Config, stats: Arc<Stats>, shutdown: impl Future<Output = ()>) -> anyhow::Result<Summary> {
    // Only the console (if the config has one) sends.
    let (reload, reloads) = mpsc::channel(4);
    serve(config, stats, shutdown, reload, reloads).await
}

/// [`run`], reloading the config file whenever `reloads` asks ([`crate::reload`]): SIGHUP and
/// `collector reload` through a clone of `reload_sender`, the console's Apply through another.
pub async fn serve(config: Config, stats: Arc<Stats>, shutdown: impl Future<Output = ()>, reload_sender: mpsc::Sender<ReloadRequest>, mut reloads: mpsc::Receiver<ReloadRequest>) -> anyhow::Result<Summary> {
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
    let dead_letters = DeadLetters::new(config.dead_letter_dir(), config.dead_letters, config.journal.reserve_bytes);
    let mut tasks = Supervisor::default();
    let writer = journal::writer::run(
        Arc::clone(&journal),
        config.journal.clone(),
        rx,
        durable_tx,
        stop_rx.clone(),
        Arc::clone(&stats),
        Arc::clone(&journal_full),
    );
    tasks.spawn("the journal writer", async move { Ok(writer.await?) });
    if config.parquet.enabled {
        let batching = Batching { max_rows: config.parquet.max_rows, max_age: config.parquet.max_age.0, shutdown_grace: SHUTDOWN_GRACE };
        let store = StoreWriter::open(&store_dir).with_context(|| format!("opening the Parquet store at {}", store_dir.display()))?;
        let parquet = ParquetSink::new(Arc::new(store));
        let sink = driver::run(parquet, batching, Arc::clone(&stats), Arc::clone(&journal), durable_rx.clone());
        tasks.spawn("the parquet sink", async move { Ok(sink.await?) });
    }
    if let Some(influx) = &config.influxdb {
        let batching = Batching { max_rows: influx.max_rows, max_age: influx.max_age.0, shutdown_grace: SHUTDOWN_GRACE };
        info!(url = %influx.write_url, "InfluxDB sink");
        let sink = InfluxSink::new(influx.clone(), dead_letters.clone()).context("building the InfluxDB client")?;
        let sink = driver::run(sink, batching, Arc::clone(&stats), Arc::clone(&journal), durable_rx.clone());
        tasks.spawn("the influxdb sink", async move { Ok(sink.await?) });
    }
    drop(durable_rx);

    let trust = Arc::new(ClockTrust::new(config.clock_trusted));
    if !trust.synchronised() {
        warn!("the system clock is not synchronised (no NTP, chrony or timesyncd sync): readings are stored as clock_unsynced until it is; set [clock] trusted = true if its time is right");
    }
    let live = Arc::new(crate::live::Live::default());
    let shared = PollerShared { identity: identity.clone(), stats: Arc::clone(&stats), out: tx.clone(), journal_full: Arc::clone(&journal_full), trust: Arc::clone(&trust), live: Arc::clone(&live) };
    let mut sources = Sources::new(Env {
        shared: shared.clone(),
        identity: identity.clone(),
        out: tx.clone(),
        dead_letters: dead_letters.clone(),
        stats: Arc::clone(&stats),
        trust: Arc::clone(&trust),
        backfill_dir: config.data_dir.join("backfill"),
    });
    sources.start_all(crate::sources::specs(&config), &mut tasks);
    let (devices, connections) = sources.counts();
    // Kept until shutdown: a collector with no source at all (draining its journal after its
    // meters were removed) must not see its journal writer end at once and exit.
    let idle_sender = tx.clone();
    drop((tx, shared));
    info!(devices, connections, data = %config.data_dir.display(), "collector running");
    let mut shown_config: Option<Arc<StdMutex<Config>>> = None;
    if let Some(spec) = &config.health {
        let listener = tokio::net::TcpListener::bind(spec.listen).await.with_context(|| format!("binding the health endpoint to {}", spec.listen))?;
        info!(listen = %listener.local_addr().unwrap_or(spec.listen), "health endpoint: /healthz and /metrics");
        let health = Arc::new(crate::health::Health {
            spec: spec.clone(),
            stats: Arc::clone(&stats),
            journal: Arc::clone(&journal),
            sinks: sink_names.clone(),
            journal_full: Arc::clone(&journal_full),
            started: std::time::Instant::now(),
            data_dir: config.data_dir.clone(),
            reserve_bytes: config.journal.reserve_bytes,
            dead_letters: dead_letters.clone(),
            rejected: Default::default(),
            accept_errors: Default::default(),
            trust: Arc::clone(&trust),
        });
        let pages = config.console.as_ref().map(|c| {
            let shown = Arc::new(StdMutex::new(config.clone()));
            shown_config = Some(Arc::clone(&shown));
            info!(token = c.token.is_some(), "console on the health endpoint: /");
            crate::console::router(Arc::new(crate::console::Console {
                health: Arc::clone(&health),
                live: Arc::clone(&live),
                config: shown,
                token: c.token.clone(),
                reload: reload_sender.clone(),
                links: sources.links(),
                scans: Default::default(),
            }))
        });
        let tls = config.console.as_ref().and_then(|c| c.tls.as_ref()).map(|t| tokio_rustls::TlsAcceptor::from(std::sync::Arc::clone(&t.server)));
        if tls.is_some() {
            info!("the health endpoint and console speak HTTPS only");
        }
        let serve = crate::health::serve(listener, health, pages, tls, stop_rx.clone());
        tasks.spawn("the health endpoint", async move {
            serve.await;
            Ok(())
        });
    }

    let _pid = PidFile::create(&config.data_dir);
    tokio::pin!(shutdown);
    let mut current = config;
    let early = loop {
        tokio::select! {
            () = &mut shutdown => break None,
            why = tasks.next_failure() => break Some(why),
            Some(request) = reloads.recv() => {
                let outcome = reload(&mut current, request.text, &mut sources, &mut tasks).await;
                if outcome.is_ok() {
                    if let Some(shown) = &shown_config {
                        *shown.lock().unwrap_or_else(|p| p.into_inner()) = current.clone();
                    }
                }
                if let Some(reply) = request.reply {
                    let _ = reply.send(outcome);
                }
            }
        }
    };
    match &early {
        Some(why) => error!(reason = %why, "a task of the collector ended; stopping the collector so it is restarted"),
        None => info!("shutting down: finishing cycles under way and writing buffered readings"),
    }
    sources.signal_stop();
    let _ = stop_tx.send(true);
    drop(idle_sender);
    drop(sources);
    let mut failures: Vec<String> = early.into_iter().collect();
    failures.extend(tasks.join_all().await);
    let j = journal::lock(&journal);
    stats.journal(|c| {
        c.bytes = j.disk_bytes();
        c.dropped += j.dropped();
        c.undelivered = sink_names.iter().map(|n| j.durable().saturating_sub(j.cursor(n).unwrap_or(0))).max().unwrap_or(0);
    });
    let summary = stats.snapshot();
    if !failures.is_empty() {
        error!("summary at exit:\n{summary}");
        anyhow::bail!("{}", failures.join("; "));
    }
    Ok(summary)
}

/// Reads `current`'s config file again (or takes `text` for it, written once it is accepted)
/// and brings the sources in line with it, or says why nothing changed.
async fn reload(current: &mut Config, text: Option<String>, sources: &mut Sources, tasks: &mut Supervisor) -> Result<Changes, ReloadError> {
    let file = current.file.clone();
    info!(file = %file.display(), from_console = text.is_some(), "reloading the config");
    let parsed = match &text {
        Some(t) => Config::parse(&file, t),
        None => Config::load(&file),
    };
    let new = match parsed {
        Ok(new) => new,
        Err(errors) => {
            let e = ReloadError::Invalid(errors.to_string());
            warn!(error = %e, "reload refused");
            return Err(e);
        }
    };
    let restart = restart_needed(current, &new);
    if !restart.is_empty() {
        let e = ReloadError::NeedsRestart(restart);
        warn!(error = %e, "reload refused");
        return Err(e);
    }
    if let Some(t) = &text {
        if let Err(cause) = write_atomically(&file, t) {
            let e = ReloadError::Write { file: file.display().to_string(), cause: cause.to_string() };
            warn!(error = %e, "reload refused");
            return Err(e);
        }
    }
    let changes = sources.apply(crate::sources::specs(&new), tasks).await;
    info!(%changes, "config reloaded");
    *current = new;
    Ok(changes)
}

/// Replaces `path` with `text` so that a crash leaves the old file or the new one, never half.
fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("toml.new");
    std::fs::write(&tmp, text)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)
}
