//! Every long-running task of the collector, watched. A task that ends before shutdown, fails or
//! panics stops the whole collector with an error, so the process exits non-zero and systemd or
//! Docker restarts it: a dead sink or poller must not hide behind a live process. A task a
//! reload stops on purpose is retired first: its end is then expected.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use tokio::task::{AbortHandle, Id, JoinError, JoinSet};

/// The tasks of one run, by name.
#[derive(Default)]
pub struct Supervisor {
    set: JoinSet<anyhow::Result<()>>,
    names: HashMap<Id, String>,
    /// Tasks being stopped on purpose: their normal end is no failure.
    retired: HashSet<Id>,
}

impl Supervisor {
    /// Starts `task` under `name` (used in the error that reports it).
    pub fn spawn(&mut self, name: impl Into<String>, task: impl Future<Output = anyhow::Result<()>> + Send + 'static) -> AbortHandle {
        let name = name.into();
        let handle = match injected_panic(&name) {
            Some(after) => self.set.spawn(async move {
                tokio::select! {
                    r = task => r,
                    () = tokio::time::sleep(after) => panic!("injected by {PANIC_TASK_ENV}"),
                }
            }),
            None => self.set.spawn(task),
        };
        self.names.insert(handle.id(), name);
        handle
    }

    /// Marks task `id` as stopping on purpose: when it returns, that is expected.
    pub fn retire(&mut self, id: Id) {
        self.retired.insert(id);
    }

    /// Waits for the first task to end that was not retired, and returns why its end is a
    /// failure; a task that is retired and returns normally is forgotten. Never returns while
    /// no task runs. Cancel-safe: it may be raced against other events.
    pub async fn next_failure(&mut self) -> String {
        loop {
            let Some(ended) = self.set.join_next_with_id().await else {
                return std::future::pending().await;
            };
            let id = match &ended {
                Ok((id, _)) => *id,
                Err(join) => join.id(),
            };
            let retired = self.retired.remove(&id);
            let described = self.describe(ended);
            self.names.remove(&id);
            match described {
                Err(_) if retired => continue,
                Err(name) => return format!("{name} stopped on its own"),
                Ok(failure) => return failure,
            }
        }
    }

    /// Waits for `shutdown`, or for the first task to end that was not retired, whichever comes
    /// first; in the second case returns why that task's end is a failure.
    pub async fn watch(&mut self, shutdown: impl Future<Output = ()>) -> Option<String> {
        tokio::select! {
            () = shutdown => None,
            why = self.next_failure() => Some(why),
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

/// Names a task (as the supervisor names it, e.g. `the parquet sink`) that is made to panic
/// some time after it starts (`NAME@MS`, or [`INJECTED_AFTER`]): how the end-to-end tests show
/// that a panicking task stops the process. No task panics on purpose otherwise, so the path
/// needs a way in; unset, it costs one lookup per task started.
pub const PANIC_TASK_ENV: &str = "COLLECTOR_PANIC_TASK";

/// How long an injected panic waits by default: long enough for the task to have done work.
const INJECTED_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// When the task `name` is to panic, per [`PANIC_TASK_ENV`].
fn injected_panic(name: &str) -> Option<std::time::Duration> {
    let value = std::env::var(PANIC_TASK_ENV).ok()?;
    let (task, after) = match value.rsplit_once('@') {
        Some((task, ms)) => (task, ms.parse().ok().map(std::time::Duration::from_millis)?),
        None => (value.as_str(), INJECTED_AFTER),
    };
    (task == name).then_some(after)
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

    #[tokio::test]
    async fn a_retired_task_may_end_and_a_retired_task_that_fails_still_counts() {
        let mut tasks = Supervisor::default();
        let quiet = tasks.spawn("poller m1", async { Ok(()) });
        tasks.retire(quiet.id());
        let loud = tasks.spawn("poller m2", async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err(anyhow::anyhow!("port gone"))
        });
        tasks.retire(loud.id());
        tasks.spawn("sink", std::future::pending());
        assert_eq!(tasks.next_failure().await, "poller m2 failed: port gone");
        tasks.set.abort_all();
    }
}
