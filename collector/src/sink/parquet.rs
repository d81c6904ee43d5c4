//! The embedded Parquet sink: reads durable readings from the journal, writes a file when its
//! buffer reaches the size or age bound (and at shutdown), and only then moves its journal cursor.
//! A failed write keeps the buffer and is retried; what is not written stays in the journal.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use readings::store::StoreWriter;
use readings::Reading;
use tokio::sync::watch;
use tracing::{debug, error, info};

use crate::config::ParquetSinkConfig;
use crate::journal::writer::lock;
use crate::journal::{Journal, ReadPos};
use crate::stats::Stats;

/// The sink's name in the journal (its cursor file is `cursor-parquet`).
pub const NAME: &str = "parquet";

/// Runs until the journal writer has stopped (`durable` closed) and everything durable is written.
pub async fn run(store: Arc<StoreWriter>, config: ParquetSinkConfig, stats: Arc<Stats>, journal: Arc<Mutex<Journal>>, mut durable: watch::Receiver<u64>) {
    let max_age = config.max_age.0;
    let start = match lock(&journal).cursor(NAME) {
        Ok(c) => c,
        Err(e) => {
            error!(error = %e, "the Parquet sink has no cursor in the journal");
            return;
        }
    };
    let mut pos = ReadPos::at(start);
    let mut buffer: Vec<Reading> = Vec::new();
    let mut oldest: Option<Instant> = None;
    let mut closing = false;
    let tick = (max_age / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let want = config.max_rows.saturating_sub(buffer.len()).max(1);
        let batch = tokio::task::block_in_place(|| lock(&journal).read(&mut pos, want));
        match batch {
            Ok(batch) if !batch.is_empty() => {
                oldest.get_or_insert_with(Instant::now);
                buffer.extend(batch.into_iter().map(|(_, r)| r));
                if buffer.len() >= config.max_rows {
                    flush(&store, &stats, &journal, &mut buffer, &mut oldest, pos.next).await;
                }
                continue;
            }
            Ok(_) => {}
            Err(e) => error!(error = %e, "reading the journal failed; retrying"),
        }
        if closing {
            // Everything durable has been read: write it, or leave it in the journal for the next start.
            flush(&store, &stats, &journal, &mut buffer, &mut oldest, pos.next).await;
            if !buffer.is_empty() {
                error!(readings = buffer.len(), "could not write to the Parquet store at shutdown; the readings stay in the journal for the next start");
            }
            return;
        }
        tokio::select! {
            changed = durable.changed() => closing = changed.is_err(),
            _ = ticker.tick() => {
                if oldest.is_some_and(|t| t.elapsed() >= max_age) {
                    flush(&store, &stats, &journal, &mut buffer, &mut oldest, pos.next).await;
                }
            }
        }
    }
}

/// Writes the buffer; on success moves the sink's cursor to `next` (everything below it is stored).
async fn flush(store: &Arc<StoreWriter>, stats: &Stats, journal: &Arc<Mutex<Journal>>, buffer: &mut Vec<Reading>, oldest: &mut Option<Instant>, next: u64) {
    if buffer.is_empty() {
        return;
    }
    let batch = std::mem::take(buffer);
    let writer = Arc::clone(store);
    let result = tokio::task::spawn_blocking(move || {
        let r = writer.write(&batch);
        (batch, r)
    })
    .await;
    match result {
        Ok((batch, Ok(files))) => {
            debug!(readings = batch.len(), files = files.len(), "wrote readings to the Parquet store");
            stats.sink(|s| {
                s.files += files.len() as u64;
                s.readings += batch.len() as u64;
            });
            *oldest = None;
            let committed = tokio::task::block_in_place(|| lock(journal).commit(NAME, next));
            if let Err(e) = committed {
                // The files are written; a restart would write them again (see docs/store.md).
                error!(error = %e, "moving the Parquet sink's journal cursor failed");
            }
        }
        Ok((batch, Err(e))) => {
            error!(error = %e, readings = batch.len(), "writing to the Parquet store failed; the readings stay buffered and are retried");
            stats.sink(|s| s.write_failures += 1);
            *buffer = batch;
            info!(readings = buffer.len(), "readings waiting for the Parquet store");
        }
        Err(join) => {
            // The batch went down with the task; it is still in the journal, from the cursor on.
            error!(error = %join, "the Parquet writer task failed");
            stats.sink(|s| s.write_failures += 1);
        }
    }
}
