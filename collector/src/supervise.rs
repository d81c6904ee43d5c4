//! Every long-running task of the collector, watched. A task that ends before shutdown, fails or
//! panics stops the whole collector with an error, so the process exits non-zero and systemd or
//! Docker restarts it: a dead sink or poller must not hide behind a live process.

use std::collections::HashMap;
use std::future::Future;

use tokio::task::{Id, JoinError, JoinSet};

/// The tasks of one run, by name.
#[derive(Default)]
pub struct Supervisor {
    set: JoinSet<anyhow::Result<()>>,
    names: HashMap<Id, String>,
}

impl Supervisor {
    /// Starts `task` under `name` (used in the error that reports it).
    pub fn spawn(&mut self, name: impl Into<String>, task: impl Future<Output = anyhow::Result<()>> + Send + 'static) {
        let handle = self.set.spawn(task);
        self.names.insert(handle.id(), name.into());
    }

    /// Waits for `shutdown`, or for the first task to end, whichever comes first; in the second
    /// case returns why that task's end is a failure.
    pub async fn watch(&mut self, shutdown: impl Future<Output = ()>) -> Option<String> {
        if self.set.is_empty() {
            shutdown.await;
            return None;
        }
        tokio::select! {
            () = shutdown => None,
            Some(ended) = self.set.join_next_with_id() => Some(self.describe(ended).unwrap_or_else(|name| format!("{name} stopped on its own"))),
        }
    }

    /// Waits for every task to end; the failures among them.
    pub async fn join_all(mut self) -> Vec<String> {
        let mut failures = Vec::new();
        while let Some(ended) = self.set.join_next_with_id().await {
            if let Ok(failure) = self.describe(ended) {
                failures.push(failure);
            }
        }
        failures
    }

    /// `Ok(why)` for a task that failed or panicked, `Err(name)` for one that returned normally.
    fn describe(&self, ended: Result<(Id, anyhow::Result<()>), JoinError>) -> Result<String, String> {
        match ended {
            Ok((id, Ok(()))) => Err(self.name(id)),
            Ok((id, Err(e))) => Ok(format!("{} failed: {e:#}", self.name(id))),
            Err(join) => {
                let name = self.name(join.id());
                match join.try_into_panic() {
                    Ok(panic) => {
                        let message = panic.downcast_ref::<&str>().map(|s| (*s).to_owned()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_default();
                        Ok(format!("{name} panicked: {message}"))
                    }
                    Err(_) => Ok(format!("{name} was cancelled")),
                }
            }
        }
    }

    fn name(&self, id: Id) -> String {
        self.names.get(&id).cloned().unwrap_or_else(|| "a task".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_panicking_task_is_reported_before_shutdown() {
        let mut tasks = Supervisor::default();
        tasks.spawn("sink influxdb", async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            // The failure the issue saw: Instant + Duration overflow on a huge Retry-After.
            let _ = std::time::Instant::now() + Duration::from_secs(u64::MAX);
            Ok(())
        });
        tasks.spawn("poller m1", std::future::pending());
        let why = tasks.watch(tokio::time::sleep(Duration::from_secs(30))).await;
        let why = why.expect("the panic ends the watch, not the 30 s shutdown");
        assert!(why.starts_with("sink influxdb panicked: "), "{why}");
        tasks.set.abort_all();
    }

    #[tokio::test]
    async fn a_task_that_returns_or_fails_early_is_a_failure_and_shutdown_is_not() {
        let mut tasks = Supervisor::default();
        tasks.spawn("journal writer", async { Err(anyhow::anyhow!("fsync failed")) });
        assert_eq!(tasks.watch(std::future::pending()).await.as_deref(), Some("journal writer failed: fsync failed"));
        let mut tasks = Supervisor::default();
        tasks.spawn("health endpoint", async { Ok(()) });
        assert_eq!(tasks.watch(std::future::pending()).await.as_deref(), Some("health endpoint stopped on its own"));
        let mut tasks = Supervisor::default();
        tasks.spawn("poller", async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(())
        });
        assert_eq!(tasks.watch(std::future::ready(())).await, None);
        assert!(tasks.join_all().await.is_empty(), "a task that ends after shutdown is no failure");
    }
}
