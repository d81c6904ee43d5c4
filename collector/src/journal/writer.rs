//! The journal's writer task: appends what sources send and syncs in groups, bounded by count and
//! by delay. When an append cannot be made (the budget, the filesystem's reserve, no space, an
//! I/O error) it keeps the batch, retries, and raises the `full` flag: pollers skip their slots
//! while it is up, so polling pauses until there is room again. A failed fsync ends the task with
//! an error: the collector exits and the next start rescans the journal.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use readings::Reading;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::{error, info, warn};

use super::{lock, Journal, JournalConfig, JournalError};
use crate::stats::Stats;

/// A batch for the journal; `ack` (if any) is answered once the batch is durable, and dropped
/// unanswered if the batch was not journalled.
pub struct Append {
    pub readings: Vec<Reading>,
    pub ack: Option<oneshot::Sender<()>>,
}

/// How often a held batch is retried.
const FULL_RETRY: Duration = Duration::from_millis(200);

/// Runs until every sender of `input` is gone, then syncs a last time. `durable` publishes the
/// journal's durable end after every sync. Returns an error only for a failed fsync.
///
/// When appends are failing and `shutdown` turns true, the batch in hand is given up (counted in
/// `stats` and logged, its acknowledgement never sent): shutting down must not wait for room
/// that may never come.
pub async fn run(
    journal: Arc<Mutex<Journal>>,
    config: JournalConfig,
    mut input: mpsc::Receiver<Append>,
    durable: watch::Sender<u64>,
    shutdown: watch::Receiver<bool>,
    stats: Arc<Stats>,
    full: Arc<AtomicBool>,
) -> Result<(), JournalError> {
    let (sync_records, sync_delay) = (config.sync_records, config.sync_delay.0);
    while let Some(first) = input.recv().await {
        let deadline = Instant::now() + sync_delay;
        let mut acks = Vec::new();
        let mut unsynced = 0usize;
        let mut next = Some(first);
        while let Some(batch) = next.take() {
            unsynced += batch.readings.len();
            if append(&journal, &batch.readings, &shutdown, &stats, &full, &durable, &mut acks).await? {
                acks.extend(batch.ack);
            }
            if unsynced >= sync_records {
                break;
            }
            next = tokio::select! {
                b = input.recv() => b,
                _ = tokio::time::sleep_until(deadline) => None,
            };
        }
        let synced = tokio::task::block_in_place(|| {
            let mut j = lock(&journal);
            j.sync().map(|()| j.durable())
        });
        match synced {
            Ok(end) => {
                let _ = durable.send(end);
                for ack in acks {
                    let _ = ack.send(());
                }
            }
            Err(e) => {
                // Unacknowledged sources send again; the pollers' readings since the last sync
                // are rescanned (or cut, if the pages were lost) at the next start.
                error!(error = %e, "syncing the journal failed; stopping the collector");
                stats.journal(|j| j.blocked = Some(e.to_string()));
                full.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Appends `readings`, holding them until it succeeds; false if they were given up at shutdown.
/// Before it waits, what the group already appended is synced and acknowledged (`acks`): a
/// block may last hours, and those readings must not wait in the page cache meanwhile.
async fn append(
    journal: &Arc<Mutex<Journal>>,
    readings: &[Reading],
    shutdown: &watch::Receiver<bool>,
    stats: &Stats,
    full: &AtomicBool,
    durable: &watch::Sender<u64>,
    acks: &mut Vec<oneshot::Sender<()>>,
) -> Result<bool, JournalError> {
    let mut failures = 0u64;
    loop {
        let result = tokio::task::block_in_place(|| lock(journal).append(readings));
        match result {
            Ok(_) => {
                if failures > 0 {
                    info!(failed_attempts = failures, "appending to the journal works again; polling resumes");
                    full.store(false, Ordering::Relaxed);
                    stats.journal(|j| j.blocked = None);
                }
                return Ok(true);
            }
            Err(e @ (JournalError::Stopped(_) | JournalError::SyncFailed { .. })) => return Err(e),
            Err(e) => {
                failures += 1;
                if failures == 1 {
                    let end = tokio::task::block_in_place(|| {
                        let mut j = lock(journal);
                        j.sync().map(|()| j.durable())
                    })?;
                    let _ = durable.send(end);
                    for ack in acks.drain(..) {
                        let _ = ack.send(());
                    }
                }
                full.store(true, Ordering::Relaxed);
                let reason = e.reason();
                stats.journal(|j| {
                    *j.append_failures.entry(reason.to_owned()).or_default() += 1;
                    j.blocked = Some(e.to_string());
                });
                if *shutdown.borrow() {
                    error!(readings = readings.len(), error = %e, "shutting down while the journal takes nothing: these readings are lost (none was acknowledged to its source)");
                    stats.journal(|j| j.dropped += readings.len() as u64);
                    return Ok(false);
                }
                // Logged on the first failure and then sparsely: it repeats every 200 ms.
                if failures == 1 || failures.is_power_of_two() {
                    if e.is_room() {
                        warn!(error = %e, failed_attempts = failures, "journal has no room: holding new readings until there is; polling pauses");
                    } else {
                        error!(error = %e, failed_attempts = failures, "appending to the journal failed: holding new readings and retrying; polling pauses");
                    }
                }
                tokio::time::sleep(FULL_RETRY).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::codec::tests::reading;
    use crate::journal::FullPolicy;

    /// Stopping while the journal takes nothing gives up the batch in hand: its source must not
    /// hear that it was journalled (an MQTT message would be acknowledged and lost).
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_batch_given_up_at_shutdown_is_never_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let config = JournalConfig { segment_bytes: 4096, budget_bytes: 8192, when_full: FullPolicy::Block, ..JournalConfig::default() };
        let (mut j, _) = Journal::open(dir.path(), config.clone(), &["parquet"]).unwrap();
        let batch = |from: i64| (from..from + 5).map(|i| reading(1_700_000_000_000 + i * 1000, Some(i as f64))).collect::<Vec<_>>();
        let mut n = 0;
        while j.append(&batch(n)).is_ok() {
            n += 5;
        }
        j.sync().unwrap();
        let journal = Arc::new(Mutex::new(j));
        let (tx, rx) = mpsc::channel(4);
        let (durable, _) = watch::channel(0);
        let (_stop, shutdown) = watch::channel(true);
        let stats = Arc::new(Stats::default());
        let full = Arc::new(AtomicBool::new(false));
        let (ack, acked) = oneshot::channel();
        tx.send(Append { readings: batch(n), ack: Some(ack) }).await.unwrap();
        drop(tx);
        run(journal, config, rx, durable, shutdown, Arc::clone(&stats), full).await.unwrap();
        assert!(acked.await.is_err(), "the dropped batch was acknowledged");
        let s = stats.snapshot().journal;
        assert_eq!(s.dropped, 5);
        assert_eq!(s.append_failures.get("budget"), Some(&1));
    }

    /// A batch held by a full journal does not hold back the ones appended before it in the
    /// same group: they are synced, readable and acknowledged while it waits.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_before_a_held_one_are_synced_and_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let config = JournalConfig { segment_bytes: 4096, budget_bytes: 8192, when_full: FullPolicy::Block, sync_delay: crate::settings::HumanDuration(Duration::from_secs(5)), ..JournalConfig::default() };
        let (j, _) = Journal::open(dir.path(), config.clone(), &["parquet"]).unwrap();
        let journal = Arc::new(Mutex::new(j));
        let batch = |from: i64, n: i64| (from..from + n).map(|i| reading(1_700_000_000_000 + i * 1000, Some(i as f64))).collect::<Vec<_>>();
        let (tx, rx) = mpsc::channel(4);
        let (durable_tx, durable_rx) = watch::channel(0);
        let (stop, shutdown) = watch::channel(false);
        let writer = tokio::spawn(run(Arc::clone(&journal), config, rx, durable_tx, shutdown, Arc::new(Stats::default()), Arc::new(AtomicBool::new(false))));
        let (ack_a, acked_a) = oneshot::channel();
        tx.send(Append { readings: batch(0, 5), ack: Some(ack_a) }).await.unwrap();
        // Far over the budget: held.
        tx.send(Append { readings: batch(5, 200), ack: None }).await.unwrap();
        tokio::time::timeout(Duration::from_secs(2), acked_a).await.expect("acknowledged while the next batch is held, not after the 5 s group delay").unwrap();
        assert_eq!(*durable_rx.borrow(), 5);
        stop.send(true).unwrap();
        drop(tx);
        writer.await.unwrap().unwrap();
    }
}
