//! The journal: every normalised reading is appended here, on local disk, before anything else
//! happens to it. Sinks read from it, each with its own durable cursor; a segment is deleted once
//! every sink is past it. See `docs/journal.md`.
//!
//! Layout: `<dir>/seg-<first seq, 20 digits>.log` segment files of [`codec`] records, and
//! `<dir>/cursor-<sink>` files holding the next sequence number each sink has not yet delivered.

pub mod codec;
pub mod cursor;
mod recover;
pub mod writer;

use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use readings::Reading;
use serde::Deserialize;
use tracing::{info, warn};

use crate::settings::HumanDuration;
use crate::disk;
use cursor::Cursor;

/// What to do when the journal reaches its disk budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FullPolicy {
    /// Refuse new readings (sources stop polling) until sinks catch up.
    Block,
    /// Delete the oldest segment, losing what no sink has delivered from it (counted and logged).
    DropOldest,
}

impl FullPolicy {
    /// The spelling used in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            FullPolicy::Block => "block",
            FullPolicy::DropOldest => "drop_oldest",
        }
    }
}

/// Journal settings (`[journal]` in the config).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalConfig {
    /// Start a new segment file past this size.
    #[serde(default = "default_segment_bytes")]
    pub segment_bytes: u64,
    /// Most bytes the journal may hold on disk.
    #[serde(default = "default_budget_bytes")]
    pub budget_bytes: u64,
    #[serde(default = "default_policy")]
    pub when_full: FullPolicy,
    /// fsync once this many readings are unsynced ...
    #[serde(default = "default_sync_records")]
    pub sync_records: usize,
    /// ... or this long after the first unsynced one, whichever comes first.
    #[serde(default = "default_sync_delay")]
    pub sync_delay: HumanDuration,
    /// Free bytes appends leave on the filesystem (`storage.reserve_bytes`): the room the sinks
    /// need to deliver, and so to free the journal's segments, when the disk fills.
    #[serde(skip)]
    pub reserve_bytes: u64,
}

fn default_segment_bytes() -> u64 {
    8 * 1024 * 1024
}
fn default_budget_bytes() -> u64 {
    512 * 1024 * 1024
}
fn default_policy() -> FullPolicy {
    FullPolicy::Block
}
fn default_sync_records() -> usize {
    1000
}
fn default_sync_delay() -> HumanDuration {
    HumanDuration(std::time::Duration::from_millis(100))
}

impl Default for JournalConfig {
    fn default() -> Self {
        Self {
            segment_bytes: default_segment_bytes(),
            budget_bytes: default_budget_bytes(),
            when_full: default_policy(),
            sync_records: default_sync_records(),
            sync_delay: default_sync_delay(),
            reserve_bytes: 0,
        }
    }
}

/// What went wrong in the journal, with the file.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the journal is full ({bytes} bytes of a {budget}-byte budget) and its policy is to block")]
    Full { bytes: u64, budget: u64 },
    #[error("the data directory's filesystem has {free} bytes free, less than the {reserve}-byte reserve (storage.reserve_bytes) with {needed} more to write")]
    DiskLow { free: u64, reserve: u64, needed: u64 },
    #[error("{path}: no space left on the device (the append was rolled back)")]
    OutOfSpace { path: PathBuf },
    #[error("{path}: fsync failed: {source}; what was written since the last sync may be lost, so the journal takes no more readings until a restart rescans it")]
    SyncFailed { path: PathBuf, source: std::io::Error },
    #[error("the journal stopped after a failed fsync: {0}")]
    Stopped(String),
    #[error("no sink named {0:?}")]
    UnknownSink(String),
}

impl JournalError {
    /// A short label for counters: why an append failed.
    pub fn reason(&self) -> &'static str {
        match self {
            JournalError::Io { .. } => "io",
            JournalError::Full { .. } => "budget",
            JournalError::DiskLow { .. } => "disk_reserve",
            JournalError::OutOfSpace { .. } => "no_space",
            JournalError::SyncFailed { .. } | JournalError::Stopped(_) => "fsync",
            JournalError::UnknownSink(_) => "unknown_sink",
        }
    }

    /// Whether waiting for the sinks (or an operator freeing space) can clear it.
    pub fn is_room(&self) -> bool {
        matches!(self, JournalError::Full { .. } | JournalError::DiskLow { .. } | JournalError::OutOfSpace { .. })
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io { path: path.to_owned(), source }
}

/// Bytes and records cut from one segment on opening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub segment: PathBuf,
    pub offset: u64,
    pub bytes: u64,
    /// Records lost, from the gap in sequence numbers; a torn tail loses its partial record.
    pub records: u64,
    pub torn_tail: bool,
}

/// What opening the journal found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    pub segments: usize,
    /// Records kept and not yet delivered by every sink.
    pub records: u64,
    pub cuts: Vec<Cut>,
}

#[derive(Debug, Clone)]
struct Segment {
    base: u64,
    /// One past the last sequence number in it.
    next: u64,
    path: PathBuf,
    /// Length of the file: good records, and the holes below.
    bytes: u64,
    /// Corrupt stretches `(start, end)` recovery left in place; readers skip them.
    holes: Vec<(u64, u64)>,
}

/// Where a sink is reading: the segment, the byte offset in it, and the next sequence number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadPos {
    segment: u64,
    offset: u64,
    pub next: u64,
}

impl ReadPos {
    /// A position that starts reading at sequence number `next` (a sink's cursor).
    pub fn at(next: u64) -> Self {
        Self { segment: 0, offset: 0, next }
    }
}

/// The on-disk journal.
pub struct Journal {
    dir: PathBuf,
    config: JournalConfig,
    segments: VecDeque<Segment>,
    active: File,
    next_seq: u64,
    durable: u64,
    cursors: BTreeMap<String, Cursor>,
    dropped: u64,
    buf: Vec<u8>,
    /// (first sequence number, when appended), at most one mark a second: how old the oldest
    /// undelivered reading is. Readings recovered at start are marked with the time of opening.
    /// Monotonic: a wall clock stepped forward must not make a sink look hours behind.
    marks: VecDeque<(u64, Instant)>,
    /// Set by a failed fsync: after one, Linux may have dropped the unsynced pages while a
    /// later fsync succeeds, so nothing more is taken until a restart rescans the segments.
    stopped: Option<String>,
    /// A failed append could not be cut back off the active segment: the next append starts a
    /// new one, and the next start's scan cuts the partial record.
    tail_dirty: bool,
}

/// The journal, even if a thread panicked holding it: its state is on disk, not in the lock.
pub fn lock(journal: &std::sync::Mutex<Journal>) -> std::sync::MutexGuard<'_, Journal> {
    journal.lock().unwrap_or_else(|p| p.into_inner())
}

fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("seg-{base:020}.log"))
}

fn cursor_path(dir: &Path, sink: &str) -> PathBuf {
    dir.join(format!("cursor-{sink}"))
}

impl Journal {
    /// Opens (or creates) the journal in `dir` for `sinks`, cutting any corrupt or torn bytes and
    /// saying so. Needs no free space when the journal exists: a collector on a full disk starts
    /// and delivers what its journal holds.
    pub fn open(dir: &Path, config: JournalConfig, sinks: &[&str]) -> Result<(Journal, Recovery), JournalError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let mut bases: Vec<u64> = Vec::new();
        let mut cursors = BTreeMap::new();
        for entry in fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if let Some(base) = name.strip_prefix("seg-").and_then(|n| n.strip_suffix(".log")).and_then(|n| n.parse().ok()) {
                bases.push(base);
            } else if name.ends_with(".recover") || name.ends_with(".tmp") {
                // Left by earlier versions' recovery and cursor commits, possibly half-written.
                info!(file = %path.display(), "removing a temporary file an earlier run left");
                fs::remove_file(&path).map_err(io(&path))?;
            } else if let Some(sink) = name.strip_prefix("cursor-") {
                if sinks.contains(&sink) {
                    match Cursor::read(&path).map_err(io(&path))? {
                        Some(c) => {
                            cursors.insert(sink.to_owned(), c);
                        }
                        None => warn!(file = %path.display(), "unreadable cursor; the sink starts from the oldest reading kept"),
                    }
                } else {
                    info!(sink, "a sink no longer configured had a cursor; removing it");
                    fs::remove_file(&path).map_err(io(&path))?;
                }
            }
        }
        bases.sort_unstable();

        let mut recovery = Recovery::default();
        let mut segments = VecDeque::new();
        let mut last_seq: Option<u64> = None;
        for (i, &base) in bases.iter().enumerate() {
            let path = segment_path(dir, base);
            let (seg, cut) = recover::recover_segment(&path, base, last_seq, bases.get(i + 1).copied())?;
            if let Some(cut) = cut {
                warn!(
                    segment = %cut.segment.display(),
                    offset = cut.offset,
                    bytes = cut.bytes,
                    records = cut.records,
                    torn_tail = cut.torn_tail,
                    "cut corrupt bytes from the journal"
                );
                recovery.cuts.push(cut);
            }
            if seg.next > seg.base {
                last_seq = Some(seg.next - 1);
            }
            segments.push_back(seg);
        }
        // An empty segment holds nothing, and one numbered past where the sequence continues
        // (left by a cut tail before it, or a file deleted by hand) would have readers skip the
        // readings appended next: remove them all; a fresh active one is made below.
        for seg in segments.iter().filter(|s| s.bytes == 0) {
            fs::remove_file(&seg.path).map_err(io(&seg.path))?;
        }
        segments.retain(|s| s.bytes > 0);
        let mut next_seq = last_seq.map_or(0, |s| s + 1);
        let oldest = segments.front().map_or(next_seq, |s| s.base);
        for sink in sinks {
            let c = cursors.entry((*sink).to_owned()).or_insert(Cursor::new(oldest));
            next_seq = next_seq.max(c.next);
        }
        if segments.back().is_none_or(|s| s.next != next_seq) {
            // Start a fresh segment where the sequence continues (an empty file: no data block).
            let path = segment_path(dir, next_seq);
            File::create(&path).map_err(io(&path))?;
            sync_dir(dir)?;
            segments.push_back(Segment { base: next_seq, next: next_seq, path, bytes: 0, holes: Vec::new() });
        }
        let active_path = segments.back().map(|s| s.path.clone()).unwrap_or_default();
        let active = OpenOptions::new().append(true).open(&active_path).map_err(io(&active_path))?;
        recovery.segments = segments.len();
        let mut journal = Journal {
            dir: dir.to_owned(),
            config,
            segments,
            active,
            next_seq,
            durable: next_seq,
            cursors,
            dropped: 0,
            buf: Vec::new(),
            marks: VecDeque::new(),
            stopped: None,
            tail_dirty: false,
        };
        let min_cursor = journal.slowest_cursor();
        recovery.records = next_seq.saturating_sub(min_cursor);
        journal.marks.push_back((min_cursor.min(next_seq), Instant::now()));
        journal.delete_delivered()?;
        Ok((journal, recovery))
    }

    /// Appends `readings`; they are durable after the next [`Journal::sync`]. Returns the first
    /// sequence number given and one past the last. A failed write is cut back off the segment,
    /// so the segment never holds a partial record that readers would stop at.
    pub fn append(&mut self, readings: &[Reading]) -> Result<(u64, u64), JournalError> {
        if let Some(why) = &self.stopped {
            return Err(JournalError::Stopped(why.clone()));
        }
        let first = self.next_seq;
        self.buf.clear();
        for (i, r) in readings.iter().enumerate() {
            codec::encode(first + i as u64, r, &mut self.buf);
        }
        let size = self.buf.len() as u64;
        self.make_room(size)?;
        let active = self.segments.back().map_or(0, |s| s.bytes);
        if self.tail_dirty || (active > 0 && active + size > self.config.segment_bytes) {
            self.roll()?;
            self.tail_dirty = false;
        }
        let (path, before) = self.segments.back().map(|s| (s.path.clone(), s.bytes)).unwrap_or_default();
        if let Err(e) = self.active.write_all(&self.buf) {
            // Shortening needs no free block; should it fail anyway, the next append starts a
            // fresh segment and the partial bytes wait for the next start's scan.
            if let Err(cut) = self.active.set_len(before) {
                warn!(segment = %path.display(), error = %cut, "could not cut a failed append back off the segment; starting a new one");
                self.tail_dirty = true;
            }
            return Err(if disk::is_out_of_space(&e) { JournalError::OutOfSpace { path } } else { JournalError::Io { path, source: e } });
        }
        let now = Instant::now();
        if self.marks.back().is_none_or(|(_, t)| now.saturating_duration_since(*t) >= Duration::from_secs(1)) {
            self.marks.push_back((first, now));
        }
        self.next_seq += readings.len() as u64;
        if let Some(seg) = self.segments.back_mut() {
            seg.bytes += size;
            seg.next = self.next_seq;
        }
        Ok((first, self.next_seq))
    }

    /// Makes everything appended so far durable. A failure is final for this process (see
    /// [`JournalError::SyncFailed`]).
    pub fn sync(&mut self) -> Result<(), JournalError> {
        if let Some(why) = &self.stopped {
            return Err(JournalError::Stopped(why.clone()));
        }
        if self.durable == self.next_seq {
            return Ok(());
        }
        let path = self.segments.back().map(|s| s.path.clone()).unwrap_or_default();
        if let Err(source) = self.active.sync_data() {
            let e = JournalError::SyncFailed { path, source };
            self.stopped = Some(e.to_string());
            return Err(e);
        }
        self.durable = self.next_seq;
        Ok(())
    }

    /// One past the last durable sequence number: sinks read below it.
    pub fn durable(&self) -> u64 {
        self.durable
    }

    /// The next sequence number `sink` has not delivered.
    pub fn cursor(&self, sink: &str) -> Result<u64, JournalError> {
        self.cursors.get(sink).map(|c| c.next).ok_or_else(|| JournalError::UnknownSink(sink.to_owned()))
    }

    /// How long ago the oldest reading some sink has not delivered was appended (to within a
    /// second); `None` when every sink is up to date.
    pub fn oldest_undelivered_age(&self) -> Option<Duration> {
        self.undelivered_age(self.slowest_cursor())
    }

    /// How long ago the oldest reading `sink` has not delivered was appended; `None` when it is
    /// up to date.
    pub fn sink_undelivered_age(&self, sink: &str) -> Option<Duration> {
        self.undelivered_age(self.cursor(sink).ok()?)
    }

    fn undelivered_age(&self, from: u64) -> Option<Duration> {
        if from >= self.durable {
            return None;
        }
        let (_, at) = self.marks.iter().rev().find(|(seq, _)| *seq <= from).or(self.marks.front())?;
        Some(at.elapsed())
    }

    /// Bytes of all segments.
    pub fn disk_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// Readings deleted unread by the drop-oldest policy since opening.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Reads up to `max` durable readings from `pos` on (a sink starts from
    /// `ReadPos { next: cursor, .. }`), advancing `pos` only if the whole read succeeds: a
    /// failure part-way leaves it where it was, so nothing is skipped.
    pub fn read(&self, pos: &mut ReadPos, max: usize) -> Result<Vec<(u64, Reading)>, JournalError> {
        let mut at_pos = pos.clone();
        let out = self.read_from(&mut at_pos, max)?;
        *pos = at_pos;
        Ok(out)
    }

    fn read_from(&self, pos: &mut ReadPos, max: usize) -> Result<Vec<(u64, Reading)>, JournalError> {
        let mut out = Vec::new();
        while out.len() < max && pos.next < self.durable {
            // The segment holding pos.next (records before the oldest segment were dropped).
            let Some(seg) = self.segments.iter().rev().find(|s| s.base <= pos.next).or(self.segments.front()) else {
                break;
            };
            if seg.base != pos.segment || pos.next < seg.base {
                *pos = ReadPos { segment: seg.base, offset: 0, next: pos.next.max(seg.base) };
            }
            if let Some(&(_, end)) = seg.holes.iter().find(|(start, end)| (*start..*end).contains(&pos.offset)) {
                pos.offset = end;
            }
            let mut file = File::open(&seg.path).map_err(io(&seg.path))?;
            file.seek(SeekFrom::Start(pos.offset)).map_err(io(&seg.path))?;
            let mut bytes = Vec::new();
            // Only bytes of durable records (the active segment may hold a partly written batch),
            // and about what `max` records take, not the rest of the segment: a record that
            // straddles the end is read by the next call. A hole ends the chunk.
            let hole = seg.holes.iter().map(|(start, _)| *start).find(|start| *start > pos.offset).unwrap_or(seg.bytes);
            let remaining = hole.min(seg.bytes).saturating_sub(pos.offset);
            let chunk = ((max - out.len()) as u64).saturating_mul(256).max(codec::MAX_RECORD as u64 * 2).min(remaining);
            file.take(chunk).read_to_end(&mut bytes).map_err(io(&seg.path))?;
            let mut at = 0;
            while out.len() < max {
                match codec::decode(&bytes[at..]) {
                    Ok((seq, reading, n)) if seq < self.durable => {
                        at += n;
                        if seq >= pos.next {
                            out.push((seq, reading));
                            pos.next = seq + 1;
                        }
                    }
                    _ => break,
                }
            }
            pos.offset += at as u64;
            let at_hole = seg.holes.iter().any(|(start, _)| *start == pos.offset);
            if pos.next >= seg.next {
                match self.segments.iter().find(|s| s.base > seg.base) {
                    Some(next) => *pos = ReadPos { segment: next.base, offset: 0, next: pos.next.max(next.base) },
                    None => break,
                }
            } else if at == 0 && !at_hole {
                break;
            }
        }
        Ok(out)
    }

    /// Records that `sink` has delivered everything below `next`, and deletes segments every
    /// sink is past. The cursor file is overwritten in place: no new disk block is needed.
    pub fn commit(&mut self, sink: &str, next: u64) -> Result<(), JournalError> {
        let path = cursor_path(&self.dir, sink);
        let Some(cursor) = self.cursors.get_mut(sink) else {
            return Err(JournalError::UnknownSink(sink.to_owned()));
        };
        // Never backwards: drop_oldest may have moved it past what the sink read.
        let next = next.max(cursor.next);
        // In memory first: segments are freed even if the file cannot be written now; a restart
        // before the next good write delivers those readings again (delivery is at least once).
        let mut written = cursor.write(&path, next).map_err(io(&path));
        if written.is_err() {
            cursor.next = cursor.next.max(next);
        }
        if let Err(e) = self.delete_delivered() {
            written = written.and(Err(e));
        }
        written
    }

    /// The next sequence number the slowest sink has not delivered.
    fn slowest_cursor(&self) -> u64 {
        self.cursors.values().map(|c| c.next).min().unwrap_or(self.next_seq)
    }

    fn delete_delivered(&mut self) -> Result<(), JournalError> {
        let min = self.slowest_cursor();
        // Keep the last mark at or before the slowest cursor: it dates the oldest undelivered.
        while self.marks.len() > 1 && self.marks.get(1).is_some_and(|(seq, _)| *seq <= min) {
            self.marks.pop_front();
        }
        // A delivered active segment would hold its blocks until it reaches segment_bytes: when
        // the disk runs low (or it is big), start a new one so the old one can go.
        let delete = |j: &mut Journal| -> Result<(), JournalError> {
            while j.segments.len() > 1 && j.segments.front().is_some_and(|s| s.next <= min) {
                if let Some(seg) = j.segments.pop_front() {
                    fs::remove_file(&seg.path).map_err(io(&seg.path))?;
                }
            }
            Ok(())
        };
        delete(self)?;
        let active = self.segments.back().map_or(0, |s| s.bytes);
        if min >= self.next_seq && self.stopped.is_none() && active > 0 && (active >= self.config.segment_bytes / 8 || self.disk_low(0)) {
            // Creating the new file may itself fail on a full disk (no inode): the delivered
            // segment then stays until the next try; nothing is lost.
            match self.roll() {
                Ok(()) => delete(self)?,
                Err(e) => warn!(error = %e, "could not start a new journal segment to free the delivered one; trying again later"),
            }
        }
        Ok(())
    }

    fn roll(&mut self) -> Result<(), JournalError> {
        self.sync()?;
        if let Some(active) = self.segments.back().filter(|s| s.base == self.next_seq) {
            // The active segment holds no record yet (a failed append was not cut back off it):
            // a new file would have its name. Empty it in place instead.
            let path = active.path.clone();
            let file = OpenOptions::new().write(true).open(&path).map_err(io(&path))?;
            file.set_len(0).map_err(io(&path))?;
            self.active = OpenOptions::new().append(true).open(&path).map_err(io(&path))?;
            if let Some(seg) = self.segments.back_mut() {
                seg.bytes = 0;
            }
            return Ok(());
        }
        let path = segment_path(&self.dir, self.next_seq);
        let file = OpenOptions::new().create(true).append(true).open(&path).map_err(io(&path))?;
        sync_dir(&self.dir)?;
        self.active = file;
        self.segments.push_back(Segment { base: self.next_seq, next: self.next_seq, path, bytes: 0, holes: Vec::new() });
        Ok(())
    }

    /// Whether writing `size` more bytes would eat into the filesystem's reserve.
    fn disk_low(&self, size: u64) -> bool {
        self.config.reserve_bytes > 0 && disk::free_bytes(&self.dir).is_ok_and(|free| free < self.config.reserve_bytes.saturating_add(size))
    }

    /// Applies the disk budget and the filesystem reserve before `size` more bytes are written.
    fn make_room(&mut self, size: u64) -> Result<(), JournalError> {
        let budget = self.config.budget_bytes;
        loop {
            let over_budget = self.disk_bytes() + size > budget;
            let low = !over_budget && self.disk_low(size);
            if !over_budget && !low {
                return Ok(());
            }
            let error = |j: &Journal| match over_budget {
                true => JournalError::Full { bytes: j.disk_bytes(), budget },
                false => JournalError::DiskLow { free: disk::free_bytes(&j.dir).unwrap_or(0), reserve: j.config.reserve_bytes, needed: size },
            };
            // Dropping frees space only while closed segments exist (or, over the budget, the
            // active one holds readings).
            let can_drop = self.segments.len() > 1 || (over_budget && self.segments.back().is_some_and(|s| s.bytes > 0));
            if self.config.when_full == FullPolicy::Block || !can_drop {
                return Err(error(self));
            }
            if self.segments.len() == 1 {
                // Only the active segment is left: close it so it can go too.
                self.roll()?;
            }
            let Some(seg) = self.segments.pop_front() else { return Err(error(self)) };
            let mut lost = 0;
            for c in self.cursors.values() {
                if c.next < seg.next {
                    lost = lost.max(seg.next - c.next.max(seg.base));
                }
            }
            fs::remove_file(&seg.path).map_err(io(&seg.path))?;
            self.dropped += lost;
            warn!(segment = %seg.path.display(), readings = lost, "journal full: dropped its oldest segment with readings no sink had delivered");
            let behind: Vec<String> = self.cursors.iter().filter(|(_, c)| c.next < seg.next).map(|(s, _)| s.clone()).collect();
            for sink in behind {
                self.commit(&sink, seg.next)?;
            }
        }
    }
}

fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::codec::tests::reading;
    use super::*;

    fn config(segment_bytes: u64, budget_bytes: u64, when_full: FullPolicy) -> JournalConfig {
        JournalConfig { segment_bytes, budget_bytes, when_full, ..JournalConfig::default() }
    }

    fn batch(from: i64, n: i64) -> Vec<Reading> {
        (from..from + n).map(|i| reading(1_700_000_000_000 + i * 1000, Some(i as f64))).collect()
    }

    fn read_all(j: &Journal, sink: &str) -> Vec<(u64, Reading)> {
        let mut pos = ReadPos::at(j.cursor(sink).unwrap());
        j.read(&mut pos, usize::MAX).unwrap()
    }

    fn segment_files(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "log")).collect();
        v.sort();
        v
    }

    #[test]
    fn append_sync_reopen_replays_everything_undelivered() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut j, rec) = Journal::open(dir.path(), JournalConfig::default(), &["parquet"]).unwrap();
            assert_eq!(rec, Recovery { segments: 1, records: 0, cuts: vec![] });
            assert_eq!(j.append(&batch(0, 10)).unwrap(), (0, 10));
            assert!(read_all(&j, "parquet").is_empty(), "nothing is readable before it is durable");
            j.sync().unwrap();
            assert_eq!(read_all(&j, "parquet").len(), 10);
            j.commit("parquet", 4).unwrap();
        }
        let (j, rec) = Journal::open(dir.path(), JournalConfig::default(), &["parquet"]).unwrap();
        assert_eq!(rec.records, 6);
        let back = read_all(&j, "parquet");
        assert_eq!(back.iter().map(|(s, _)| *s).collect::<Vec<_>>(), (4..10).collect::<Vec<_>>());
        assert_eq!(back[0].1, batch(4, 1)[0]);
    }

    #[test]
    fn the_oldest_undelivered_reading_is_dated_by_its_append() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::open(dir.path(), JournalConfig::default(), &["parquet"]).unwrap();
        assert_eq!(j.oldest_undelivered_age(), None, "an empty journal has nothing undelivered");
        j.append(&batch(0, 10)).unwrap();
        j.sync().unwrap();
        // Pretend the first batch was appended a minute ago, and a second one just now.
        j.marks.back_mut().unwrap().1 = Instant::now() - Duration::from_secs(60);
        std::thread::sleep(Duration::from_millis(10));
        j.marks.push_back((10, Instant::now()));
        j.append(&batch(10, 10)).unwrap();
        j.sync().unwrap();
        let age = j.oldest_undelivered_age().unwrap();
        assert!(age >= Duration::from_secs(60) && age < Duration::from_secs(70), "{age:?}");
        j.commit("parquet", 10).unwrap();
        assert!(j.oldest_undelivered_age().unwrap() < Duration::from_secs(5), "the old batch is delivered");
        j.commit("parquet", 20).unwrap();
        assert_eq!(j.oldest_undelivered_age(), None);
    }

    #[test]
    fn small_reads_across_chunk_boundaries_miss_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::open(dir.path(), JournalConfig::default(), &["parquet"]).unwrap();
        j.append(&batch(0, 5000)).unwrap();
        j.sync().unwrap();
        assert!(j.disk_bytes() > 3 * codec::MAX_RECORD as u64 * 2, "records straddle several read chunks");
        let mut pos = ReadPos::at(0);
        let mut seqs = Vec::new();
        loop {
            let got = j.read(&mut pos, 97).unwrap();
            if got.is_empty() {
                break;
            }
            assert!(got.len() <= 97);
            seqs.extend(got.iter().map(|(s, _)| *s));
        }
        assert_eq!(seqs, (0..5000).collect::<Vec<u64>>());
    }

    #[test]
    fn a_torn_tail_is_cut_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut j, _) = Journal::open(dir.path(), JournalConfig::default(), &["parquet"]).unwrap();
            j.append(&batch(0, 5)).unwrap();
            j.sync().unwrap();
        }
        // A power cut in the middle of writing the sixth record.
        let seg = &segment_files(dir.path())[0];
        let mut partial = Vec::new();
        codec::encode(5, &batch(5, 1)[0], &mut partial);
        let mut f = OpenOptions::new().append(true).open(seg).unwrap();
        f.write_all(&partial[..partial.len() / 2]).unwrap();
        drop(f);

        let good_len = fs::metadata(seg).unwrap().len() - (partial.len() / 2) as u64;
        // A half-written copy an earlier version's recovery left behind is removed.
        fs::write(seg.with_extension("recover"), b"half").unwrap();
        let (mut j, rec) = Journal::open(dir.path(), JournalConfig::default(), &["parquet"]).unwrap();
        assert_eq!(rec.cuts.len(), 1);
        let cut = &rec.cuts[0];
        assert!(cut.torn_tail);
        assert_eq!((cut.bytes, cut.records), ((partial.len() / 2) as u64, 1));
        assert_eq!(fs::metadata(seg).unwrap().len(), good_len, "the tail is cut off in place");
        let names: Vec<String> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert!(!names.iter().any(|n| n.ends_with(".recover")), "{names:?}");
        assert_eq!(read_all(&j, "parquet").len(), 5);
        // Appending continues with the next sequence number, readable after the cut.
        assert_eq!(j.append(&batch(5, 1)).unwrap(), (5, 6));
        j.sync().unwrap();
        assert_eq!(read_all(&j, "parquet").len(), 6);
    }

    #[test]
    fn a_flipped_byte_mid_segment_costs_exactly_its_record() {
        let dir = tempfile::tempdir().unwrap();
        let record_len = {
            let mut b = Vec::new();
            codec::encode(0, &batch(0, 1)[0], &mut b);
            b.len()
        };
        {
            let (mut j, _) = Journal::open(dir.path(), JournalConfig::default(), &["parquet"]).unwrap();
            j.append(&batch(0, 10)).unwrap();
            j.sync().unwrap();
        }
        let seg = &segment_files(dir.path())[0];
        let mut bytes = fs::read(seg).unwrap();
        // Inside the fifth record's payload (records of equal length here).
        bytes[4 * record_len + codec::HEADER + 5] ^= 0x01;
        fs::write(seg, &bytes).unwrap();

        let (j, rec) = Journal::open(dir.path(), JournalConfig::default(), &["parquet"]).unwrap();
        assert_eq!(rec.cuts.len(), 1);
        assert_eq!((rec.cuts[0].records, rec.cuts[0].bytes, rec.cuts[0].torn_tail), (1, record_len as u64, false));
        assert_eq!(fs::read(seg).unwrap(), bytes, "recovery needs no room: the bad record stays in place, skipped");
        let seqs: Vec<u64> = read_all(&j, "parquet").iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, vec![0, 1, 2, 3, 5, 6, 7, 8, 9]);
        // Small reads step over the hole too.
        let mut pos = ReadPos::at(0);
        let mut small = Vec::new();
        for _ in 0..20 {
            small.extend(j.read(&mut pos, 2).unwrap().into_iter().map(|(s, _)| s));
        }
        assert_eq!(small, vec![0, 1, 2, 3, 5, 6, 7, 8, 9]);
    }

    #[test]
    fn segments_roll_and_go_once_every_sink_is_past_them() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::open(dir.path(), config(1024, 1 << 30, FullPolicy::Block), &["parquet", "influx"]).unwrap();
        for i in 0..20 {
            j.append(&batch(i * 5, 5)).unwrap();
        }
        j.sync().unwrap();
        let before = segment_files(dir.path()).len();
        assert!(before > 3, "{before} segments");
        assert_eq!(read_all(&j, "parquet").len(), 100);
        j.commit("parquet", 100).unwrap();
        assert_eq!(segment_files(dir.path()).len(), before, "influx has delivered nothing yet");
        j.commit("influx", 100).unwrap();
        assert_eq!(segment_files(dir.path()).len(), 1, "only the active segment is left");
    }

    #[test]
    fn a_full_journal_blocks_until_a_sink_catches_up() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::open(dir.path(), config(1024, 4096, FullPolicy::Block), &["parquet"]).unwrap();
        let mut appended = 0;
        let err = loop {
            match j.append(&batch(appended, 5)) {
                Ok(_) => appended += 5,
                Err(e) => break e,
            }
        };
        assert!(matches!(err, JournalError::Full { budget: 4096, .. }), "{err}");
        assert!(j.disk_bytes() <= 4096);
        j.sync().unwrap();
        j.commit("parquet", appended as u64).unwrap();
        j.append(&batch(appended, 5)).unwrap();
        assert_eq!(j.dropped(), 0);
    }

    #[test]
    fn a_full_journal_drops_its_oldest_segment_and_counts_it() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::open(dir.path(), config(1024, 4096, FullPolicy::DropOldest), &["parquet"]).unwrap();
        for i in 0..40 {
            j.append(&batch(i * 5, 5)).unwrap();
        }
        j.sync().unwrap();
        assert!(j.disk_bytes() <= 4096);
        let kept = read_all(&j, "parquet");
        let first = kept[0].0;
        assert!(first > 0);
        assert_eq!(j.dropped(), first, "every reading before the first kept one is counted as dropped");
        assert_eq!(kept.last().unwrap().0, 199);
        assert_eq!(kept.len() as u64, 200 - first);
    }

    #[test]
    fn a_failed_read_leaves_the_position_where_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::open(dir.path(), config(4096, 1 << 30, FullPolicy::Block), &["parquet"]).unwrap();
        for i in 0..40 {
            j.append(&batch(i * 5, 5)).unwrap();
        }
        j.sync().unwrap();
        let files = segment_files(dir.path());
        assert!(files.len() > 2);
        // The second segment goes missing: a read that gets through the first must fail whole.
        fs::remove_file(&files[1]).unwrap();
        let mut pos = ReadPos::at(0);
        assert!(j.read(&mut pos, usize::MAX).is_err());
        assert_eq!(pos, ReadPos::at(0), "the readings of the first segment are not skipped");
    }

    #[test]
    fn a_failed_fsync_stops_the_journal() {
        use std::os::fd::FromRawFd as _;
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::open(dir.path(), JournalConfig::default(), &["parquet"]).unwrap();
        // fsync on a pipe fails (EINVAL): a stand-in for a disk that failed to write back.
        let mut fds = [0; 2];
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let _read_end = unsafe { File::from_raw_fd(fds[0]) };
        j.active = unsafe { File::from_raw_fd(fds[1]) };
        j.append(&batch(0, 3)).unwrap();
        let err = j.sync().unwrap_err();
        assert!(matches!(err, JournalError::SyncFailed { .. }), "{err}");
        assert_eq!(j.durable(), 0, "nothing is trusted as durable");
        assert!(matches!(j.append(&batch(3, 1)), Err(JournalError::Stopped(_))));
        assert!(matches!(j.sync(), Err(JournalError::Stopped(_))), "a later fsync is not trusted either");
    }

    #[test]
    fn a_delivered_active_segment_is_rolled_so_its_space_can_go() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::open(dir.path(), config(8192, 1 << 30, FullPolicy::Block), &["parquet"]).unwrap();
        j.append(&batch(0, 40)).unwrap();
        j.sync().unwrap();
        assert!(j.disk_bytes() >= 8192 / 8);
        j.commit("parquet", 40).unwrap();
        assert_eq!(j.disk_bytes(), 0, "nothing undelivered is kept on disk");
        assert_eq!(segment_files(dir.path()).len(), 1);
        j.append(&batch(40, 1)).unwrap();
        j.sync().unwrap();
        assert_eq!(read_all(&j, "parquet").iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![40]);
    }

    #[test]
    fn appends_stop_at_the_filesystems_reserve() {
        let dir = tempfile::tempdir().unwrap();
        let free = disk::free_bytes(dir.path()).unwrap();
        // A reserve larger than what is free: nothing more may be appended.
        let config = JournalConfig { reserve_bytes: free.saturating_mul(2), ..JournalConfig::default() };
        let (mut j, _) = Journal::open(dir.path(), config, &["parquet"]).unwrap();
        let err = j.append(&batch(0, 1)).unwrap_err();
        assert!(matches!(err, JournalError::DiskLow { .. }), "{err}");
        assert!(err.is_room() && err.reason() == "disk_reserve");
        assert_eq!(j.disk_bytes(), 0);
        let (mut j, _) = Journal::open(dir.path(), JournalConfig { reserve_bytes: 1024, ..JournalConfig::default() }, &["parquet"]).unwrap();
        assert_eq!(j.append(&batch(0, 1)).unwrap(), (0, 1));
    }

    #[test]
    fn an_empty_segment_numbered_past_the_sequence_does_not_make_readers_skip() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut j, _) = Journal::open(dir.path(), JournalConfig::default(), &["parquet"]).unwrap();
            j.append(&batch(0, 10)).unwrap();
            j.sync().unwrap();
        }
        // Left by a cut tail before it, or a segment deleted by hand.
        File::create(segment_path(dir.path(), 15)).unwrap();
        let (mut j, _) = Journal::open(dir.path(), JournalConfig::default(), &["parquet"]).unwrap();
        assert_eq!(j.append(&batch(10, 10)).unwrap(), (10, 20));
        j.sync().unwrap();
        let seqs: Vec<u64> = read_all(&j, "parquet").iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, (0..20).collect::<Vec<u64>>());
    }

    #[test]
    fn a_cursor_never_moves_back() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::open(dir.path(), JournalConfig::default(), &["parquet"]).unwrap();
        j.append(&batch(0, 10)).unwrap();
        j.sync().unwrap();
        j.commit("parquet", 8).unwrap();
        j.commit("parquet", 5).unwrap();
        assert_eq!(j.cursor("parquet").unwrap(), 8);
    }

    #[test]
    fn a_corrupt_tail_of_a_closed_segment_counts_every_record_it_held() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut j, _) = Journal::open(dir.path(), config(4096, 1 << 30, FullPolicy::Block), &["parquet"]).unwrap();
            for i in 0..40 {
                j.append(&batch(i * 5, 5)).unwrap();
            }
            j.sync().unwrap();
        }
        let files = segment_files(dir.path());
        assert!(files.len() > 2);
        // The last three records of the first (closed) segment are garbled.
        let first = &files[0];
        let mut bytes = fs::read(first).unwrap();
        let record_len = {
            let mut b = Vec::new();
            codec::encode(0, &batch(0, 1)[0], &mut b);
            b.len()
        };
        let n = bytes.len();
        for b in &mut bytes[n - 3 * record_len..] {
            *b ^= 0x5A;
        }
        fs::write(first, &bytes).unwrap();
        let (_, rec) = Journal::open(dir.path(), config(4096, 1 << 30, FullPolicy::Block), &["parquet"]).unwrap();
        assert_eq!(rec.cuts.len(), 1);
        assert_eq!(rec.cuts[0].records, 3, "{:?}", rec.cuts[0]);
        assert!(!rec.cuts[0].torn_tail);
    }
}
