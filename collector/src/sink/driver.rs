//! What every sink shares: read durable readings from the journal at the sink's cursor, gather a
//! batch up to a size or age bound, deliver it, and move the cursor only once it is delivered (or
//! set aside as undeliverable). A batch that fails is retried after the delay the sink asks for;
//! a batch the server finds too large is split, and batches shrink after timeouts (growing back
//! after successes); at shutdown whatever is not delivered stays in the journal for the next
//! start.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use readings::Reading;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::journal::{lock, Journal, JournalError, ReadPos};
use crate::stats::Stats;

/// How a delivery went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored: move on.
    Delivered,
    /// Will never be accepted; the sink has set the batch aside (dead-lettered) with the reason.
    SetAside { reason: String },
    /// The server refused the batch for its size (HTTP 413): send it in halves.
    TooLarge { reason: String },
    /// Try the same batch again after `after`; `timed_out` asks for smaller batches.
    Retry { after: Duration, reason: String, timed_out: bool },
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

/// Readings read from the journal and not yet delivered, with their sequence numbers.
#[derive(Default)]
struct Buffer {
    seqs: Vec<u64>,
    readings: Vec<Reading>,
}

/// Runs `sink` until the journal writer has stopped (`durable` closed) and everything durable is
/// delivered or the shutdown grace is spent.
pub async fn run<S: Sink>(mut sink: S, batching: Batching, stats: Arc<Stats>, journal: Arc<Mutex<Journal>>, mut durable: watch::Receiver<u64>) -> Result<(), JournalError> {
    let name = sink.name();
    let start = lock(&journal).cursor(name)?;
    let mut pos = ReadPos::at(start);
    let mut buffer = Buffer::default();
    let mut oldest: Option<Instant> = None;
    let mut closing: Option<Instant> = None;
    let mut limit = batching.max_rows;
    let mut read_failures = 0u64;
    let tick = (batching.max_age / 4).clamp(Duration::from_millis(20), Duration::from_secs(1));
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let want = batching.max_rows.saturating_sub(buffer.readings.len());
        if want > 0 {
            match tokio::task::block_in_place(|| lock(&journal).read(&mut pos, want)) {
                Ok(batch) if !batch.is_empty() => {
                    read_failures = 0;
                    oldest.get_or_insert_with(Instant::now);
                    for (seq, r) in batch {
                        buffer.seqs.push(seq);
                        buffer.readings.push(r);
                    }
                    if buffer.readings.len() < batching.max_rows {
                        continue;
                    }
                }
                Ok(_) => {}
                // The position has not moved: the same readings are read again next time.
                Err(e) => {
                    read_failures += 1;
                    stats.sink(name, |s| s.read_failures += 1);
                    if read_failures == 1 || read_failures.is_power_of_two() {
                        error!(sink = name, error = %e, failures = read_failures, "reading the journal failed; retrying");
                    }
                }
            }
        }
        let due = buffer.readings.len() >= batching.max_rows || closing.is_some() || oldest.is_some_and(|t| t.elapsed() >= batching.max_age);
        if due && !buffer.readings.is_empty() {
            let mut from = 0;
            while from < buffer.readings.len() {
                let to = (from + limit.max(1)).min(buffer.readings.len());
                match deliver(&mut sink, &buffer.readings[from..to], &stats, &mut durable, &mut closing, batching.shutdown_grace).await {
                    Delivery::Done => {
                        // All of the buffer: up to the read position (past any cut records).
                        let next = if to == buffer.readings.len() { pos.next } else { buffer.seqs[to] };
                        if let Err(e) = tokio::task::block_in_place(|| lock(&journal).commit(name, next)) {
                            // Delivered but not recorded: the next start delivers this batch again.
                            stats.sink(name, |s| s.commit_failures += 1);
                            error!(sink = name, error = %e, "moving the sink's journal cursor failed");
                        }
                        from = to;
                        limit = (limit * 2).min(batching.max_rows);
                    }
                    Delivery::Smaller => {
                        limit = ((to - from) / 2).max(1);
                        info!(sink = name, rows = limit, "sending smaller batches");
                    }
                    Delivery::GaveUp => {
                        warn!(sink = name, readings = buffer.readings.len() - from, "shutting down with readings undelivered; they stay in the journal for the next start");
                        return Ok(());
                    }
                }
            }
            buffer = Buffer::default();
            oldest = None;
            continue;
        }
        if closing.is_some() {
            return Ok(());
        }
        tokio::select! {
            changed = durable.changed() => if changed.is_err() { closing = Some(Instant::now()) },
            _ = ticker.tick() => {}
        }
    }
}

/// What became of one batch.
enum Delivery {
    /// Delivered or set aside: move the cursor past it.
    Done,
    /// Send it again in smaller batches.
    Smaller,
    /// Shutdown's grace ran out first.
    GaveUp,
}

/// Delivers `batch`, retrying as the sink asks. Notices shutdown (the journal writer stopping)
/// while it waits between attempts.
async fn deliver<S: Sink>(
    sink: &mut S,
    batch: &[Reading],
    stats: &Stats,
    durable: &mut watch::Receiver<u64>,
    closing: &mut Option<Instant>,
    grace: Duration,
) -> Delivery {
    let name = sink.name();
    let mut failures = 0u32;
    loop {
        let outcome = sink.deliver(batch).await;
        match outcome {
            Outcome::Delivered => {
                stats.sink(name, |s| {
                    s.batches += 1;
                    s.readings += batch.len() as u64;
                    s.last_delivery = Some(Instant::now());
                });
                if failures > 0 {
                    info!(sink = name, failures, "delivering again");
                }
                return Delivery::Done;
            }
            Outcome::SetAside { reason } => {
                error!(sink = name, readings = batch.len(), reason = %reason, "batch refused for good; set aside in the dead-letter directory");
                stats.sink(name, |s| s.dead_lettered += batch.len() as u64);
                return Delivery::Done;
            }
            Outcome::TooLarge { reason } => {
                stats.sink(name, |s| {
                    s.failures += 1;
                    s.splits += 1;
                });
                warn!(sink = name, readings = batch.len(), reason = %reason, "batch too large for the server; splitting it");
                return Delivery::Smaller;
            }
            Outcome::Retry { after, reason, timed_out } => {
                failures += 1;
                stats.sink(name, |s| s.failures += 1);
                if failures == 1 || failures.is_power_of_two() {
                    warn!(sink = name, failures, retry_in = ?after, reason = %reason, "delivery failed; retrying");
                }
                if !wait(after, durable, closing, grace).await {
                    return Delivery::GaveUp;
                }
                if timed_out && batch.len() > 1 {
                    stats.sink(name, |s| s.shrinks += 1);
                    return Delivery::Smaller;
                }
            }
        }
    }
}

/// Waits `after` before a retry; false if shutdown's grace would run out first.
async fn wait(after: Duration, durable: &mut watch::Receiver<u64>, closing: &mut Option<Instant>, grace: Duration) -> bool {
    // A sink's delay is clamped already; this keeps `now + after` from overflowing whatever the
    // sink says.
    let until = tokio::time::Instant::now() + after.min(Duration::from_secs(86_400));
    loop {
        if closing.is_some_and(|t| t.elapsed() + until.saturating_duration_since(tokio::time::Instant::now()) > grace) {
            return false;
        }
        if closing.is_some() {
            tokio::time::sleep_until(until).await;
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(until) => return true,
            changed = durable.changed() => if changed.is_err() { *closing = Some(Instant::now()) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::codec::tests::reading;

    /// A server that takes at most `limit` readings a request and times out on the first
    /// batch of more than `slow_over`.
    struct Picky {
        limit: usize,
        slow_over: usize,
        timed_out: bool,
        batches: Vec<usize>,
    }

    impl Sink for Picky {
        fn name(&self) -> &'static str {
            "influxdb"
        }

        async fn deliver(&mut self, batch: &[Reading]) -> Outcome {
            if batch.len() > self.slow_over && !self.timed_out {
                self.timed_out = true;
                return Outcome::Retry { after: Duration::from_millis(1), reason: "timed out".into(), timed_out: true };
            }
            if batch.len() > self.limit {
                return Outcome::TooLarge { reason: "HTTP 413".into() };
            }
            self.batches.push(batch.len());
            Outcome::Delivered
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn batches_split_on_413_and_shrink_after_a_timeout_and_nothing_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::open(dir.path(), Default::default(), &["influxdb"]).unwrap();
        let readings: Vec<Reading> = (0..100).map(|i| reading(1_700_000_000_000 + i * 1000, Some(i as f64))).collect();
        j.append(&readings).unwrap();
        j.sync().unwrap();
        let durable_end = j.durable();
        let journal = Arc::new(Mutex::new(j));
        let (tx, rx) = watch::channel(durable_end);
        drop(tx); // the writer has stopped: deliver what is there and end
        let batching = Batching { max_rows: 64, max_age: Duration::from_millis(10), shutdown_grace: Duration::from_secs(5) };
        let stats = Arc::new(Stats::default());
        let sink = Picky { limit: 10, slow_over: 30, timed_out: false, batches: Vec::new() };
        // The driver owns the sink; watch what it delivered through the counters.
        run(sink, batching, Arc::clone(&stats), Arc::clone(&journal), rx).await.unwrap();
        let s = stats.snapshot().sinks["influxdb"].clone();
        assert_eq!(s.readings, 100, "every reading delivered once");
        assert!(s.splits >= 2, "{s:?}");
        assert_eq!(s.shrinks, 1, "one timeout halved the batch once: {s:?}");
        assert!(s.batches >= 10, "no batch over 10 readings: {s:?}");
        assert_eq!(lock(&journal).cursor("influxdb").unwrap(), 100);
    }
}
