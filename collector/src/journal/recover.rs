//! Opening a segment: scan its records, cut a torn tail by truncating the file, and leave a
//! corrupt stretch followed by good records where it is, as a hole readers skip. Both are done in
//! place: recovery needs no free space (an earlier version copied the segment to a `.recover`
//! file, which failed on a full disk and then failed every later start too).

use std::fs::{self, OpenOptions};
use std::path::Path;

use super::{codec, io, Cut, JournalError, Segment};

/// Scans the segment at `path`; `prev` is the last sequence number of the segments before it,
/// `next_base` the first of the segment after it (none for the last).
pub(super) fn recover_segment(path: &Path, base: u64, prev: Option<u64>, next_base: Option<u64>) -> Result<(Segment, Option<Cut>), JournalError> {
    let is_last = next_base.is_none();
    let bytes = fs::read(path).map_err(io(path))?;
    let mut at = 0;
    let mut next = base;
    let mut last = prev;
    let mut holes: Vec<(u64, u64)> = Vec::new();
    let mut cut: Option<Cut> = None;
    while at < bytes.len() {
        match codec::decode(&bytes[at..]) {
            Ok((seq, _, n)) if last.is_none_or(|l| seq > l) => {
                last = Some(seq);
                next = seq + 1;
                at += n;
            }
            _ => {
                // Find the next offset where a record with a later sequence number starts.
                let resume = (at + 1..bytes.len()).find(|&o| matches!(codec::decode(&bytes[o..]), Ok((seq, _, _)) if last.is_none_or(|l| seq > l)));
                let end = resume.unwrap_or(bytes.len());
                let lost = match (resume.map(|o| codec::decode(&bytes[o..])), next_base) {
                    (Some(Ok((seq, _, _))), _) => seq - last.map_or(base, |l| l + 1),
                    // Bad bytes to the end of a closed segment: the next segment's first number
                    // says how many records they held.
                    (_, Some(next)) if end > at => next.saturating_sub(last.map_or(base, |l| l + 1)).max(1),
                    _ => u64::from(end > at),
                };
                let c = cut.get_or_insert(Cut { segment: path.to_owned(), offset: at as u64, bytes: 0, records: 0, torn_tail: false });
                c.bytes += (end - at) as u64;
                c.records += lost;
                c.torn_tail = resume.is_none() && is_last;
                holes.push((at as u64, end as u64));
                at = end;
            }
        }
    }
    let mut len = bytes.len() as u64;
    if let Some(&(start, end)) = holes.last() {
        if end == len {
            // Bad bytes up to the end: shortening a file frees blocks, it never needs one.
            let file = OpenOptions::new().write(true).open(path).map_err(io(path))?;
            file.set_len(start).map_err(io(path))?;
            file.sync_all().map_err(io(path))?;
            holes.pop();
            len = start;
        }
    }
    Ok((Segment { base, next, path: path.to_owned(), bytes: len, holes }, cut))
}
