//! The journal: every normalised reading is appended here, on local disk, before anything else
//! happens to it. Sinks read from it, each with its own durable cursor; a segment is deleted once
//! every sink is past it. See `docs/journal.md`.
//!
//! Layout: `<dir>/seg-<first seq, 20 digits>.log` segment files of [`codec`] records, and
//! `<dir>/cursor-<sink>` files holding the next sequence number each sink has not yet delivered.

pub mod codec;
pub mod writer;

use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use readings::Reading;
use serde::Deserialize;
use tracing::{info, warn};

use crate::config::HumanDuration;

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
    #[error("no sink named {0:?}")]
    UnknownSink(String),
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
    bytes: u64,
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
    cursors: BTreeMap<String, u64>,
    dropped: u64,
    buf: Vec<u8>,
    /// (first sequence number, when appended), at most one mark a second: how old the oldest
    /// undelivered reading is. Readings recovered at start are marked with the time of opening.
    marks: VecDeque<(u64, SystemTime)>,
}

/// The journal, even if a thread panicked holding it: its state is on disk, not in the lock.
pub fn lock(journal: &std::sync::Mutex<Journal>) -> std::sync::MutexGuard<'_, Journal> {
    journal.lock().unwrap_or_else(|p| p.into_inner())
}

fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("seg-{base:020}.log"))
}

impl Journal {
    /// Opens (or creates) the journal in `dir` for `sinks`, cutting any corrupt or torn bytes and
    /// saying so.
    pub fn open(dir: &Path, config: JournalConfig, sinks: &[&str]) -> Result<(Journal, Recovery), JournalError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let mut bases: Vec<u64> = Vec::new();
        let mut cursors = BTreeMap::new();
        for entry in fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if let Some(base) = name.strip_prefix("seg-").and_then(|n| n.strip_suffix(".log")).and_then(|n| n.parse().ok()) {
                bases.push(base);
            } else if let Some(sink) = name.strip_prefix("cursor-") {
                if sink.ends_with(".tmp") {
                    let _ = fs::remove_file(&path);
                } else if sinks.contains(&sink) {
                    let text = fs::read_to_string(&path).map_err(io(&path))?;
                    match text.trim().parse::<u64>() {
                        Ok(c) => {
                            cursors.insert(sink.to_owned(), c);
                        }
                        Err(_) => warn!(file = %path.display(), "unreadable cursor; the sink starts from the oldest reading kept"),
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
        let count = bases.len();
        for (i, base) in bases.into_iter().enumerate() {
            let path = segment_path(dir, base);
            let (seg, cut) = recover_segment(&path, base, last_seq, i + 1 == count)?;
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
        let mut next_seq = last_seq.map_or(0, |s| s + 1);
        let oldest = segments.front().map_or(next_seq, |s| s.base);
        for sink in sinks {
            let c = cursors.entry((*sink).to_owned()).or_insert(oldest);
            next_seq = next_seq.max(*c);
        }
        if segments.back().is_none_or(|s| s.bytes > 0 && s.next != next_seq) {
            // Start a fresh segment where the sequence continues.
            let path = segment_path(dir, next_seq);
            File::create(&path).map_err(io(&path))?;
            sync_dir(dir)?;
            segments.push_back(Segment { base: next_seq, next: next_seq, path, bytes: 0 });
        }
        let active_path = segments.back().map(|s| s.path.clone()).unwrap_or_default();
        let active = OpenOptions::new().append(true).open(&active_path).map_err(io(&active_path))?;
        recovery.segments = segments.len();
        let mut journal = Journal { dir: dir.to_owned(), config, segments, active, next_seq, durable: next_seq, cursors, dropped: 0, buf: Vec::new(), marks: VecDeque::new() };
        let min_cursor = journal.slowest_cursor();
        recovery.records = next_seq.saturating_sub(min_cursor);
        journal.marks.push_back((min_cursor.min(next_seq), SystemTime::now()));
        journal.delete_delivered()?;
        Ok((journal, recovery))
    }

    /// Appends `readings`; they are durable after the next [`Journal::sync`]. Returns the first
    /// sequence number given and one past the last.
    pub fn append(&mut self, readings: &[Reading]) -> Result<(u64, u64), JournalError> {
        let first = self.next_seq;
        self.buf.clear();
        for (i, r) in readings.iter().enumerate() {
            codec::encode(first + i as u64, r, &mut self.buf);
        }
        let size = self.buf.len() as u64;
        self.make_room(size)?;
        let active = self.segments.back().map_or(0, |s| s.bytes);
        if active > 0 && active + size > self.config.segment_bytes {
            self.roll()?;
        }
        let path = self.segments.back().map(|s| s.path.clone()).unwrap_or_default();
        self.active.write_all(&self.buf).map_err(io(&path))?;
        let now = SystemTime::now();
        if self.marks.back().is_none_or(|(_, t)| now.duration_since(*t).unwrap_or_default() >= Duration::from_secs(1)) {
            self.marks.push_back((first, now));
        }
        self.next_seq += readings.len() as u64;
        if let Some(seg) = self.segments.back_mut() {
            seg.bytes += size;
            seg.next = self.next_seq;
        }
        Ok((first, self.next_seq))
    }

    /// Makes everything appended so far durable.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        if self.durable == self.next_seq {
            return Ok(());
        }
        let path = self.segments.back().map(|s| s.path.clone()).unwrap_or_default();
        self.active.sync_data().map_err(io(&path))?;
        self.durable = self.next_seq;
        Ok(())
    }

    /// One past the last durable sequence number: sinks read below it.
    pub fn durable(&self) -> u64 {
        self.durable
    }

    /// The next sequence number `sink` has not delivered.
    pub fn cursor(&self, sink: &str) -> Result<u64, JournalError> {
        self.cursors.get(sink).copied().ok_or_else(|| JournalError::UnknownSink(sink.to_owned()))
    }

    /// How long ago the oldest reading some sink has not delivered was appended (to within a
    /// second); `None` when every sink is up to date.
    pub fn oldest_undelivered_age(&self) -> Option<Duration> {
        let min = self.slowest_cursor();
        if min >= self.next_seq {
            return None;
        }
        let (_, at) = self.marks.iter().rev().find(|(seq, _)| *seq <= min).or(self.marks.front())?;
        Some(SystemTime::now().duration_since(*at).unwrap_or_default())
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
    /// `ReadPos { next: cursor, .. }`), advancing `pos`.
    pub fn read(&self, pos: &mut ReadPos, max: usize) -> Result<Vec<(u64, Reading)>, JournalError> {
        let mut out = Vec::new();
        while out.len() < max && pos.next < self.durable {
            // The segment holding pos.next (records before the oldest segment were dropped).
            let Some(seg) = self.segments.iter().rev().find(|s| s.base <= pos.next).or(self.segments.front()) else {
                break;
            };
            if seg.base != pos.segment || pos.next < seg.base {
                *pos = ReadPos { segment: seg.base, offset: 0, next: pos.next.max(seg.base) };
            }
            let mut file = File::open(&seg.path).map_err(io(&seg.path))?;
            file.seek(SeekFrom::Start(pos.offset)).map_err(io(&seg.path))?;
            let mut bytes = Vec::new();
            // Only bytes of durable records (the active segment may hold a partly written batch),
            // and about what `max` records take, not the rest of the segment: a record that
            // straddles the end is read by the next call.
            let remaining = seg.bytes - pos.offset;
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
            if pos.next >= seg.next {
                match self.segments.iter().find(|s| s.base > seg.base) {
                    Some(next) => *pos = ReadPos { segment: next.base, offset: 0, next: pos.next.max(next.base) },
                    None => break,
                }
            } else if at == 0 {
                break;
            }
        }
        Ok(out)
    }

    /// Records that `sink` has delivered everything below `next`, and deletes segments every
    /// sink is past.
    pub fn commit(&mut self, sink: &str, next: u64) -> Result<(), JournalError> {
        if !self.cursors.contains_key(sink) {
            return Err(JournalError::UnknownSink(sink.to_owned()));
        }
        let path = self.dir.join(format!("cursor-{sink}"));
        let tmp = self.dir.join(format!("cursor-{sink}.tmp"));
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(format!("{next}\n").as_bytes()).map_err(io(&tmp))?;
        f.sync_data().map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))?;
        self.cursors.insert(sink.to_owned(), next);
        self.delete_delivered()
    }

    /// The next sequence number the slowest sink has not delivered.
    fn slowest_cursor(&self) -> u64 {
        self.cursors.values().copied().min().unwrap_or(self.next_seq)
    }

    fn delete_delivered(&mut self) -> Result<(), JournalError> {
        let min = self.slowest_cursor();
        // Keep the last mark at or before the slowest cursor: it dates the oldest undelivered.
        while self.marks.len() > 1 && self.marks.get(1).is_some_and(|(seq, _)| *seq <= min) {
            self.marks.pop_front();
        }
        while self.segments.len() > 1 && self.segments.front().is_some_and(|s| s.next <= min) {
            if let Some(seg) = self.segments.pop_front() {
                fs::remove_file(&seg.path).map_err(io(&seg.path))?;
            }
        }
        Ok(())
    }

    fn roll(&mut self) -> Result<(), JournalError> {
        self.sync()?;
        let path = segment_path(&self.dir, self.next_seq);
        self.active = OpenOptions::new().create(true).append(true).open(&path).map_err(io(&path))?;
        sync_dir(&self.dir)?;
        self.segments.push_back(Segment { base: self.next_seq, next: self.next_seq, path, bytes: 0 });
        Ok(())
    }

    /// Applies the disk budget before `size` more bytes are written.
    fn make_room(&mut self, size: u64) -> Result<(), JournalError> {
        let budget = self.config.budget_bytes;
        while self.disk_bytes() + size > budget {
            match self.config.when_full {
                FullPolicy::Block => return Err(JournalError::Full { bytes: self.disk_bytes(), budget }),
                FullPolicy::DropOldest => {
                    if self.segments.len() == 1 {
                        // Only the active segment is left: close it so it can go too.
                        self.roll()?;
                    }
                    let Some(seg) = self.segments.pop_front() else { break };
                    let mut lost = 0;
                    for c in self.cursors.values_mut() {
                        if *c < seg.next {
                            lost = lost.max(seg.next - (*c).max(seg.base));
                            *c = seg.next;
                        }
                    }
                    fs::remove_file(&seg.path).map_err(io(&seg.path))?;
                    self.dropped += lost;
                    warn!(segment = %seg.path.display(), readings = lost, "journal full: dropped its oldest segment with readings no sink had delivered");
                    for (sink, c) in self.cursors.clone() {
                        self.commit(&sink, c)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Scans a segment; cuts a corrupt stretch (rewriting the file without it) or a torn tail.
fn recover_segment(path: &Path, base: u64, prev: Option<u64>, is_last: bool) -> Result<(Segment, Option<Cut>), JournalError> {
    let bytes = fs::read(path).map_err(io(path))?;
    let mut at = 0;
    let mut next = base;
    let mut last = prev;
    let mut keep: Vec<(usize, usize)> = Vec::new(); // byte ranges of good records
    let mut cut: Option<Cut> = None;
    while at < bytes.len() {
        match codec::decode(&bytes[at..]) {
            Ok((seq, _, n)) if last.is_none_or(|l| seq > l) => {
                keep.push((at, at + n));
                last = Some(seq);
                next = seq + 1;
                at += n;
            }
            _ => {
                // Find the next offset where a record with a later sequence number starts.
                let resume = (at + 1..bytes.len()).find(|&o| {
                    matches!(codec::decode(&bytes[o..]), Ok((seq, _, _)) if last.is_none_or(|l| seq > l))
                });
                let end = resume.unwrap_or(bytes.len());
                let lost = match resume.map(|o| codec::decode(&bytes[o..])) {
                    Some(Ok((seq, _, _))) => seq - last.map_or(base, |l| l + 1),
                    _ => u64::from(end > at),
                };
                let c = cut.get_or_insert(Cut { segment: path.to_owned(), offset: at as u64, bytes: 0, records: 0, torn_tail: false });
                c.bytes += (end - at) as u64;
                c.records += lost;
                c.torn_tail = resume.is_none() && is_last;
                at = end;
            }
        }
    }
    if cut.is_some() {
        let good: Vec<u8> = keep.iter().flat_map(|&(a, b)| bytes[a..b].iter().copied()).collect();
        let tmp = path.with_extension("recover");
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(&good).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, path).map_err(io(path))?;
    }
    let kept: usize = keep.iter().map(|(a, b)| b - a).sum();
    Ok((Segment { base, next, path: path.to_owned(), bytes: kept as u64 }, cut))
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
        j.marks.back_mut().unwrap().1 = SystemTime::now() - Duration::from_secs(60);
        std::thread::sleep(Duration::from_millis(10));
        j.marks.push_back((10, SystemTime::now()));
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

        let (mut j, rec) = Journal::open(dir.path(), JournalConfig::default(), &["parquet"]).unwrap();
        assert_eq!(rec.cuts.len(), 1);
        let cut = &rec.cuts[0];
        assert!(cut.torn_tail);
        assert_eq!((cut.bytes, cut.records), ((partial.len() / 2) as u64, 1));
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
        let seqs: Vec<u64> = read_all(&j, "parquet").iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, vec![0, 1, 2, 3, 5, 6, 7, 8, 9]);
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
}
