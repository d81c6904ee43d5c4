//! The embedded Parquet sink: each delivered batch becomes one file per UTC day in the store.

use std::sync::Arc;
use std::time::Duration;

use readings::store::StoreWriter;
use readings::Reading;

use super::driver::{Outcome, Sink};

/// Writes batches into the Parquet store.
pub struct ParquetSink {
    store: Arc<StoreWriter>,
}

impl ParquetSink {
    /// The sink's name in the journal (its cursor file is `cursor-parquet`).
    pub const NAME: &'static str = "parquet";

    /// A sink writing into `store`.
    pub fn new(store: Arc<StoreWriter>) -> Self {
        Self { store }
    }
}

impl Sink for ParquetSink {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    async fn deliver(&mut self, batch: &[Reading]) -> Outcome {
        let store = Arc::clone(&self.store);
        let batch = batch.to_vec();
        match tokio::task::spawn_blocking(move || store.write(&batch)).await {
            Ok(Ok(_files)) => Outcome::Delivered,
            // Disk full, permissions: may clear; the readings are safe in the journal meanwhile.
            Ok(Err(e)) => Outcome::Retry { after: Duration::from_secs(5), reason: e.to_string(), timed_out: false },
            // A panic in the writer is a bug, not a state that clears: it goes on to the sink's
            // task, whose supervisor stops the collector (retrying would hide it for ever).
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Err(join) => Outcome::Retry { after: Duration::from_secs(5), reason: join.to_string(), timed_out: false },
        }
    }
}
