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
        outcome(tokio::task::spawn_blocking(move || store.write(&batch)).await)
    }
}

/// What a finished write means for the batch.
fn outcome<T, E: std::fmt::Display>(written: Result<Result<T, E>, tokio::task::JoinError>) -> Outcome {
    match written {
        Ok(Ok(_files)) => Outcome::Delivered,
        // Disk full, permissions: may clear; the readings are safe in the journal meanwhile.
        Ok(Err(e)) => Outcome::Retry { after: Duration::from_secs(5), reason: e.to_string(), timed_out: false },
        // A panic in the writer is a bug, not a state that clears: it goes on to the sink's
        // task, whose supervisor stops the collector (retrying would hide it for ever).
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(join) => Outcome::Retry { after: Duration::from_secs(5), reason: join.to_string(), timed_out: false },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that panicked makes the sink panic with the writer's message (its supervisor
    /// then stops the collector); a writer that failed makes it retry.
    #[tokio::test]
    async fn a_panicking_writer_panics_the_sink_and_a_failing_one_retries() {
        let panicked = tokio::task::spawn_blocking(|| -> Result<(), String> { panic!("writer bug") }).await;
        let sink = tokio::spawn(async move { outcome(panicked) }).await.expect_err("the sink task panics");
        assert_eq!(sink.into_panic().downcast_ref::<&str>(), Some(&"writer bug"));
        let failed = tokio::task::spawn_blocking(|| -> Result<(), String> { Err("No space left on device".into()) }).await;
        assert!(matches!(outcome(failed), Outcome::Retry { reason, .. } if reason == "No space left on device"));
    }
}
