//! Dead letters: what a source or a sink could not store, kept with its reason for a person to
//! look at. The directory is bounded: files rotate at `file_bytes`, and once the directory holds
//! `max_bytes` (or the filesystem is down to its reserve) new letters are refused, counted and
//! logged instead. Writes and fsyncs run on tokio's blocking pool, never on an async worker.
//! File names carry the time, the process and a sequence number: two letters never share one.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tracing::warn;

use crate::disk;

/// `[storage.dead_letters]`: how much room dead letters may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterLimits {
    /// Most bytes the dead-letter directory may hold.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// A line file (MQTT messages) is closed and a new one started past this size.
    #[serde(default = "default_file_bytes")]
    pub file_bytes: u64,
}

fn default_max_bytes() -> u64 {
    64 * 1024 * 1024
}
fn default_file_bytes() -> u64 {
    4 * 1024 * 1024
}

impl Default for DeadLetterLimits {
    fn default() -> Self {
        Self { max_bytes: default_max_bytes(), file_bytes: default_file_bytes() }
    }
}

/// Why a letter was not kept.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("the dead-letter directory {dir} holds {bytes} bytes, its cap (storage.dead_letters.max_bytes) is {cap}")]
    Full { dir: PathBuf, bytes: u64, cap: u64 },
    #[error("the filesystem of {dir} has {free} bytes free, less than the {reserve}-byte reserve (storage.reserve_bytes)")]
    DiskLow { dir: PathBuf, free: u64, reserve: u64 },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// The dead-letter directory, shared by every source and sink.
#[derive(Clone)]
pub struct DeadLetters {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    limits: DeadLetterLimits,
    reserve_bytes: u64,
    seq: AtomicU64,
    /// Letters refused (directory full, disk low, write failed).
    refused: AtomicU64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Bytes in the directory (scanned at start, then counted).
    bytes: u64,
    /// The open line file of each stream, and its size.
    lines: Vec<(String, PathBuf, u64)>,
    logs: LogLimit,
}

impl DeadLetters {
    /// The directory `dir` (created on the first letter); counts what it already holds.
    pub fn new(dir: PathBuf, limits: DeadLetterLimits, reserve_bytes: u64) -> Self {
        let state = State { bytes: dir_bytes(&dir), ..State::default() };
        Self { inner: Arc::new(Inner { dir, limits, reserve_bytes, seq: AtomicU64::new(0), refused: AtomicU64::new(0), state: Mutex::new(state) }) }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Bytes the directory holds, and its cap.
    pub fn usage(&self) -> (u64, u64) {
        (self.inner.lock().bytes, self.inner.limits.max_bytes)
    }

    /// Letters refused since start.
    pub fn refused(&self) -> u64 {
        self.inner.refused.load(Ordering::Relaxed)
    }

    /// Appends `line` (one JSON object, no newline) to stream `stream`'s current file
    /// (`<stream>-<time>-<pid>-<seq>.jsonl`), synced before this returns.
    pub async fn append_line(&self, stream: &'static str, line: String) -> Result<PathBuf, DeadLetterError> {
        let inner = Arc::clone(&self.inner);
        self.blocking(move || inner.append_line(stream, &line)).await
    }

    /// Writes `body` as a file of its own (`<stream>-<time>-<pid>-<seq>.<ext>`), synced.
    pub async fn write_file(&self, stream: &'static str, ext: &'static str, body: Vec<u8>) -> Result<PathBuf, DeadLetterError> {
        let inner = Arc::clone(&self.inner);
        self.blocking(move || inner.write_file(stream, ext, &body)).await
    }

    async fn blocking(&self, f: impl FnOnce() -> Result<PathBuf, DeadLetterError> + Send + 'static) -> Result<PathBuf, DeadLetterError> {
        let dir = self.inner.dir.clone();
        let result = tokio::task::spawn_blocking(f)
            .await
            .unwrap_or_else(|e| Err(DeadLetterError::Io { path: dir, source: std::io::Error::other(e.to_string()) }));
        if let Err(e) = &result {
            self.inner.refused.fetch_add(1, Ordering::Relaxed);
            if let Some(suppressed) = self.inner.lock().logs.allow() {
                warn!(error = %e, suppressed_since_last = suppressed, "a dead letter was not kept");
            }
        }
        result
    }

    /// Whether a log line about a dead letter may go out now (at most 10 a minute); `Some(n)`
    /// with the number held back since the last one that did.
    pub fn log_allowed(&self) -> Option<u64> {
        self.inner.lock().logs.allow()
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn name(&self, stream: &str, ext: &str) -> PathBuf {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("{stream}-{stamp}-{}-{seq}.{ext}", std::process::id()))
    }

    /// Checks the cap and the reserve for `size` more bytes. At the cap the directory is
    /// measured again: an operator may have emptied it.
    fn room(&self, state: &mut State, size: u64) -> Result<(), DeadLetterError> {
        if state.bytes + size > self.limits.max_bytes {
            state.bytes = dir_bytes(&self.dir);
        }
        if state.bytes + size > self.limits.max_bytes {
            return Err(DeadLetterError::Full { dir: self.dir.clone(), bytes: state.bytes, cap: self.limits.max_bytes });
        }
        let io = |source| DeadLetterError::Io { path: self.dir.clone(), source };
        fs::create_dir_all(&self.dir).map_err(io)?;
        let free = disk::free_bytes(&self.dir).map_err(io)?;
        if free < self.reserve_bytes.saturating_add(size) {
            return Err(DeadLetterError::DiskLow { dir: self.dir.clone(), free, reserve: self.reserve_bytes });
        }
        Ok(())
    }

    fn append_line(&self, stream: &'static str, line: &str) -> Result<PathBuf, DeadLetterError> {
        let mut state = self.lock();
        let size = line.len() as u64 + 1;
        self.room(&mut state, size)?;
        let at = state.lines.iter().position(|(s, _, bytes)| s == stream && bytes + size <= self.limits.file_bytes.max(size));
        let path = match at {
            Some(i) => state.lines[i].1.clone(),
            None => {
                state.lines.retain(|(s, _, _)| s != stream);
                let path = self.name(stream, "jsonl");
                state.lines.push((stream.to_owned(), path.clone(), 0));
                path
            }
        };
        let io = |source| DeadLetterError::Io { path: path.clone(), source };
        let mut f = OpenOptions::new().create(true).append(true).open(&path).map_err(io)?;
        let before = f.metadata().map_err(io)?.len();
        let written = f.write_all(format!("{line}\n").as_bytes()).and_then(|()| f.sync_data());
        if let Err(e) = written {
            // Leave no partial line for the next letter to follow.
            let _ = f.set_len(before);
            return Err(io(e));
        }
        state.bytes += size;
        if let Some(entry) = state.lines.iter_mut().find(|(s, _, _)| s == stream) {
            entry.2 += size;
        }
        Ok(path)
    }

    fn write_file(&self, stream: &'static str, ext: &'static str, body: &[u8]) -> Result<PathBuf, DeadLetterError> {
        let mut state = self.lock();
        let size = body.len() as u64;
        self.room(&mut state, size)?;
        let path = self.name(stream, ext);
        let io = |source| DeadLetterError::Io { path: path.clone(), source };
        let written = File::options().write(true).create_new(true).open(&path).and_then(|mut f| {
            f.write_all(body)?;
            f.sync_all()
        });
        if let Err(e) = written {
            let _ = fs::remove_file(&path);
            return Err(io(e));
        }
        let _ = File::open(&self.dir).and_then(|d| d.sync_all());
        state.bytes += size;
        Ok(path)
    }
}

/// Bytes of the files in `dir` (0 if it does not exist yet).
fn dir_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir).map(|entries| entries.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum()).unwrap_or(0)
}

/// At most `PER_MINUTE` log lines a minute; the rest are counted and reported with the next.
#[derive(Default)]
struct LogLimit {
    window: Option<Instant>,
    in_window: u32,
    suppressed: u64,
}

const PER_MINUTE: u32 = 10;

impl LogLimit {
    fn allow(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self.window.is_none_or(|w| now.duration_since(w) >= Duration::from_secs(60)) {
            self.window = Some(now);
            self.in_window = 0;
        }
        if self.in_window < PER_MINUTE {
            self.in_window += 1;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn files_rotate_names_never_collide_and_the_cap_refuses_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let letters = DeadLetters::new(dir.path().join("dead-letter"), DeadLetterLimits { max_bytes: 1000, file_bytes: 250 }, 0);
        let line = "x".repeat(99); // 100 bytes with its newline
        let mut files = std::collections::BTreeSet::new();
        for _ in 0..5 {
            files.insert(letters.append_line("mqtt", line.clone()).await.unwrap());
        }
        assert_eq!(files.len(), 3, "two lines a file: {files:?}");
        // Batches written in the same millisecond get files of their own.
        let a = letters.write_file("influxdb", "lp", vec![b'a'; 200]).await.unwrap();
        let b = letters.write_file("influxdb", "lp", vec![b'b'; 200]).await.unwrap();
        assert_ne!(a, b);
        assert_eq!(letters.usage(), (900, 1000));
        let refused = letters.write_file("influxdb", "lp", vec![b'c'; 200]).await.unwrap_err();
        assert!(matches!(refused, DeadLetterError::Full { bytes: 900, cap: 1000, .. }), "{refused}");
        assert_eq!(letters.refused(), 1);
        let on_disk: u64 = fs::read_dir(letters.dir()).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
        assert_eq!(on_disk, 900);
        // A new process counts what is there.
        assert_eq!(DeadLetters::new(letters.dir().to_owned(), DeadLetterLimits::default(), 0).usage().0, 900);
        // An operator empties the directory: letters are kept again, without a restart.
        for e in fs::read_dir(letters.dir()).unwrap() {
            fs::remove_file(e.unwrap().path()).unwrap();
        }
        letters.write_file("influxdb", "lp", vec![b'd'; 200]).await.unwrap();
        assert_eq!(letters.usage().0, 200);
    }

    /// Below the data directory's reserve of free space a letter is refused and counted, and
    /// nothing is written: the journal's appends need that space more.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_letter_is_refused_below_the_disk_reserve() {
        let dir = tempfile::tempdir().unwrap();
        let free = disk::free_bytes(dir.path()).unwrap();
        let letters = DeadLetters::new(dir.path().join("dead-letter"), DeadLetterLimits::default(), free.saturating_add(1 << 30));
        let refused = letters.append_line("mqtt", "{}".into()).await.unwrap_err();
        assert!(matches!(refused, DeadLetterError::DiskLow { .. }), "{refused}");
        assert_eq!(letters.refused(), 1);
        assert_eq!(fs::read_dir(letters.dir()).map_or(0, |d| d.count()), 0, "nothing written");
        // With the reserve met, the same letter is kept.
        let roomy = DeadLetters::new(dir.path().join("dead-letter"), DeadLetterLimits::default(), 0);
        roomy.append_line("mqtt", "{}".into()).await.unwrap();
    }

    #[test]
    fn logging_is_limited_and_reports_what_it_held_back() {
        let mut limit = LogLimit::default();
        for _ in 0..PER_MINUTE {
            assert_eq!(limit.allow(), Some(0));
        }
        assert_eq!(limit.allow(), None);
        assert_eq!(limit.allow(), None);
        limit.window = Some(Instant::now() - Duration::from_secs(61));
        assert_eq!(limit.allow(), Some(2));
    }
}
