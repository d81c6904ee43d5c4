//! The embedded Parquet sink: buffers readings and writes a file when the buffer reaches its size
//! or age bound, and once more on shutdown. A failed write keeps the buffer and is retried.

use std::sync::Arc;
use std::time::{Duration, Instant};

use readings::store::StoreWriter;
use readings::Reading;
use tokio::sync::mpsc;
use tracing::{debug, error, info};

use crate::config::ParquetSinkConfig;
use crate::stats::Stats;

/// Runs the sink until every sender of `input` is gone, then writes what is left.
pub async fn run(store: Arc<StoreWriter>, config: ParquetSinkConfig, stats: Arc<Stats>, mut input: mpsc::Receiver<Vec<Reading>>) {
    let max_age = config.max_age.0;
    let mut buffer: Vec<Reading> = Vec::new();
    let mut oldest: Option<Instant> = None;
    let tick = (max_age / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            batch = input.recv() => match batch {
                Some(batch) => {
                    oldest.get_or_insert_with(Instant::now);
                    buffer.extend(batch);
                    if buffer.len() >= config.max_rows {
                        flush(&store, &stats, &mut buffer, &mut oldest).await;
                    }
                }
                None => break,
            },
            _ = ticker.tick() => {
                if oldest.is_some_and(|t| t.elapsed() >= max_age) {
                    flush(&store, &stats, &mut buffer, &mut oldest).await;
                }
            }
        }
    }
    // Shutdown: keep trying a little, since what is in memory exists nowhere else.
    for attempt in 0..5 {
        if buffer.is_empty() {
            break;
        }
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
        flush(&store, &stats, &mut buffer, &mut oldest).await;
    }
    if !buffer.is_empty() {
        error!(readings = buffer.len(), "could not write the last readings to the Parquet store; they are lost");
    }
}

async fn flush(store: &Arc<StoreWriter>, stats: &Stats, buffer: &mut Vec<Reading>, oldest: &mut Option<Instant>) {
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
        }
        Ok((batch, Err(e))) => {
            error!(error = %e, readings = batch.len(), "writing to the Parquet store failed; the readings stay buffered and are retried");
            stats.sink(|s| s.write_failures += 1);
            *buffer = batch;
        }
        Err(join) => {
            // The batch was moved into the panicked task; nothing left to retry with.
            error!(error = %join, "the Parquet writer task failed");
            stats.sink(|s| s.write_failures += 1);
        }
    }
    if buffer.is_empty() {
        *oldest = None;
    } else {
        info!(readings = buffer.len(), "readings waiting for the Parquet store");
    }
}
