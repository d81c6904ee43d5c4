//! The journal's writer task: appends what sources send and syncs in groups, bounded by count and
//! by delay. When the journal is full under the block policy it keeps the batch, retries, and
//! raises the `full` flag: pollers skip their slots while it is up, so polling pauses until sinks
//! catch up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use readings::Reading;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::{error, warn};

use super::{lock, Journal, JournalConfig, JournalError};
use crate::stats::Stats;

/// A batch for the journal; `ack` (if any) is answered once the batch is durable.
pub struct Append {
    pub readings: Vec<Reading>,
    pub ack: Option<oneshot::Sender<()>>,
}

/// How often a full journal is retried.
const FULL_RETRY: Duration = Duration::from_millis(200);

/// Runs until every sender of `input` is gone, then syncs a last time. `durable` publishes the
/// journal's durable end after every sync.
///
/// When the journal is full and `shutdown` turns true, the batch in hand is given up (counted in
/// `stats` and logged): shutting down must not wait for sinks that may never catch up.
pub async fn run(
    journal: Arc<Mutex<Journal>>,
    config: JournalConfig,
    mut input: mpsc::Receiver<Append>,
    durable: watch::Sender<u64>,
    shutdown: watch::Receiver<bool>,
    stats: Arc<Stats>,
    full: Arc<AtomicBool>,
) {
    let (sync_records, sync_delay) = (config.sync_records, config.sync_delay.0);
    while let Some(first) = input.recv().await {
        let deadline = Instant::now() + sync_delay;
        let mut acks = Vec::new();
        let mut unsynced = 0usize;
        let mut next = Some(first);
        while let Some(batch) = next.take() {
            unsynced += batch.readings.len();
            append(&journal, &batch.readings, &shutdown, &stats, &full).await;
            acks.extend(batch.ack);
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
            // Unacknowledged sources send again; the Modbus poller's readings stay in the file
            // and become durable with the next successful sync.
            Err(e) => error!(error = %e, "syncing the journal failed"),
        }
    }
}

async fn append(journal: &Arc<Mutex<Journal>>, readings: &[Reading], shutdown: &watch::Receiver<bool>, stats: &Stats, full: &AtomicBool) {
    let mut warned = false;
    loop {
        let result = tokio::task::block_in_place(|| lock(journal).append(readings));
        match result {
            Ok(_) => {
                full.store(false, Ordering::Relaxed);
                return;
            }
            Err(e @ JournalError::Full { .. }) => {
                full.store(true, Ordering::Relaxed);
                if *shutdown.borrow() {
                    error!(readings = readings.len(), "shutting down with the journal full: these readings are lost");
                    stats.journal(|j| j.dropped += readings.len() as u64);
                    return;
                }
                if !warned {
                    warn!(error = %e, "journal full: holding new readings until the sinks catch up; polling pauses");
                    warned = true;
                }
                tokio::time::sleep(FULL_RETRY).await;
            }
            Err(e) => {
                error!(error = %e, readings = readings.len(), "appending to the journal failed; retrying");
                tokio::time::sleep(FULL_RETRY).await;
            }
        }
    }
}
