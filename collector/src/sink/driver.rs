//! What every sink shares: read durable readings from the journal at the sink's cursor, gather a
//! batch up to a size or age bound, deliver it, and move the cursor only once it is delivered (or
//! set aside as undeliverable). A batch that fails is retried after the delay the sink asks for;
//! at shutdown whatever is not delivered stays in the journal for the next start.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use readings::Reading;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::journal::{lock, Journal, ReadPos};
use crate::stats::Stats;

/// How a delivery went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored: move on.
    Delivered,
    /// Will never be accepted; the sink has set the batch aside (dead-lettered) with the reason.
    SetAside { reason: String },
    /// Try the same batch again after `after`.
    Retry { after: Duration, reason: String },
}

/// A destination for readings.
pub trait Sink: Send {
    /// The sink's name: its cursor in the journal and its label in counters.
    fn name(&self) -> &'static str;
    /// Delivers `batch` once (retries are the driver's).
    fn deliver(&mut self, batch: &[Reading]) -> impl Future<Output = Outcome> + Send;
}

/// Batch bounds.
#[derive(Debug, Clone, Copy)]
pub struct Batching {
    pub max_rows: usize,
    pub max_age: Duration,
    /// At shutdown, how long to keep retrying a failing batch before leaving it in the journal.
    pub shutdown_grace: Duration,
}

/// Runs `sink` until the journal writer has stopped (`durable` closed) and everything durable is
/// delivered or the shutdown grace is spent.
pub async fn run<S: Sink>(mut sink: S, batching: Batching, stats: Arc<Stats>, journal: Arc<Mutex<Journal>>, mut durable: watch::Receiver<u64>) {
    let name = sink.name();
    let start = match lock(&journal).cursor(name) {
        Ok(c) => c,
        Err(e) => {
            error!(sink = name, error = %e, "the sink has no cursor in the journal");
            return;
        }
    };
    let mut pos = ReadPos::at(start);
    let mut buffer: Vec<Reading> = Vec::new();
    let mut oldest: Option<Instant> = None;
    let mut closing: Option<Instant> = None;
    let tick = (batching.max_age / 4).clamp(Duration::from_millis(20), Duration::from_secs(1));
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let want = batching.max_rows.saturating_sub(buffer.len());
        if want > 0 {
            match tokio::task::block_in_place(|| lock(&journal).read(&mut pos, want)) {
                Ok(batch) if !batch.is_empty() => {
                    oldest.get_or_insert_with(Instant::now);
                    buffer.extend(batch.into_iter().map(|(_, r)| r));
                    if buffer.len() < batching.max_rows {
                        continue;
                    }
                }
                Ok(_) => {}
                Err(e) => error!(sink = name, error = %e, "reading the journal failed; retrying"),
            }
        }
        let due = buffer.len() >= batching.max_rows || closing.is_some() || oldest.is_some_and(|t| t.elapsed() >= batching.max_age);
        if due && !buffer.is_empty() {
            if !deliver(&mut sink, &buffer, &stats, &mut durable, &mut closing, batching.shutdown_grace).await {
                // Shutdown with the batch undelivered: it stays in the journal.
                warn!(sink = name, readings = buffer.len(), "shutting down with readings undelivered; they stay in the journal for the next start");
                return;
            }
            if let Err(e) = tokio::task::block_in_place(|| lock(&journal).commit(name, pos.next)) {
                // Delivered but not recorded: the next start delivers this batch again.
                error!(sink = name, error = %e, "moving the sink's journal cursor failed");
            }
            buffer.clear();
            oldest = None;
            continue;
        }
        if closing.is_some() {
            return;
        }
        tokio::select! {
            changed = durable.changed() => if changed.is_err() { closing = Some(Instant::now()) },
            _ = ticker.tick() => {}
        }
    }
}

/// Delivers `batch`, retrying as the sink asks; false if shutdown's grace ran out first. Notices
/// shutdown (the journal writer stopping) while it waits between attempts.
async fn deliver<S: Sink>(
    sink: &mut S,
    batch: &[Reading],
    stats: &Stats,
    durable: &mut watch::Receiver<u64>,
    closing: &mut Option<Instant>,
    grace: Duration,
) -> bool {
    let name = sink.name();
    let mut failures = 0u32;
    loop {
        let outcome = sink.deliver(batch).await;
        match outcome {
            Outcome::Delivered => {
                stats.sink(name, |s| {
                    s.batches += 1;
                    s.readings += batch.len() as u64;
                });
                if failures > 0 {
                    info!(sink = name, failures, "delivering again");
                }
                return true;
            }
            Outcome::SetAside { reason } => {
                error!(sink = name, readings = batch.len(), reason = %reason, "batch refused for good; set aside in the dead-letter directory");
                stats.sink(name, |s| s.dead_lettered += batch.len() as u64);
                return true;
            }
            Outcome::Retry { after, reason } => {
                failures += 1;
                stats.sink(name, |s| s.failures += 1);
                if failures == 1 || failures.is_power_of_two() {
                    warn!(sink = name, failures, retry_in = ?after, reason = %reason, "delivery failed; retrying");
                }
                let until = tokio::time::Instant::now() + after;
                loop {
                    if closing.is_some_and(|t| t.elapsed() + until.saturating_duration_since(tokio::time::Instant::now()) > grace) {
                        return false;
                    }
                    if closing.is_some() {
                        tokio::time::sleep_until(until).await;
                        break;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => break,
                        changed = durable.changed() => if changed.is_err() { *closing = Some(Instant::now()) },
                    }
                }
            }
        }
    }
}
