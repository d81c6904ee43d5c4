//! A sink's cursor file: the next sequence number the sink has not delivered. Two checksummed
//! slots are overwritten in turn, in place: a commit allocates no new disk block (it works on a
//! full disk, where the old write-temp-and-rename needed a fresh one), and a write torn by a
//! power cut leaves the other slot. Cursors only move forward, so the larger valid slot wins.

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

/// Bytes of one slot: 20 digits, a space, 8 hex digits of their CRC-32, a newline.
const SLOT: usize = 30;

/// A cursor as read from its file, and the slot its next write goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub next: u64,
    slot: usize,
}

impl Cursor {
    /// A cursor with no file yet.
    pub fn new(next: u64) -> Self {
        Self { next, slot: 0 }
    }

    /// Reads a cursor file; `None` when no slot is valid. Also reads the file's earlier form,
    /// one number and a newline.
    pub fn read(path: &Path) -> io::Result<Option<Cursor>> {
        let bytes = std::fs::read(path)?;
        let valid = (0..2).filter_map(|k| bytes.get(k * SLOT..(k + 1) * SLOT).and_then(decode).map(|next| (next, k))).max();
        if let Some((next, k)) = valid {
            return Ok(Some(Cursor { next, slot: 1 - k }));
        }
        // The earlier form sits where slot 0 is: the first write goes to slot 1, so a torn write
        // leaves it readable.
        let legacy = std::str::from_utf8(&bytes).ok().and_then(|t| t.trim().parse().ok());
        Ok(legacy.map(|next| Cursor { next, slot: 1 }))
    }

    /// Writes `next` into the slot not holding the current value and syncs it.
    pub fn write(&mut self, path: &Path, next: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).create(true).truncate(false).open(path)?;
        file.write_all_at(&encode(next), (self.slot * SLOT) as u64)?;
        file.sync_data()?;
        self.next = next;
        self.slot = 1 - self.slot;
        Ok(())
    }
}

fn encode(next: u64) -> [u8; SLOT] {
    let digits = format!("{next:020}");
    let text = format!("{digits} {:08x}\n", crc32fast::hash(digits.as_bytes()));
    let mut out = [0u8; SLOT];
    out.copy_from_slice(text.as_bytes());
    out
}

fn decode(slot: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(slot).ok()?;
    let (digits, rest) = text.split_at_checked(20)?;
    let crc = rest.strip_prefix(' ')?.strip_suffix('\n')?;
    (u32::from_str_radix(crc, 16).ok()? == crc32fast::hash(digits.as_bytes())).then(|| digits.parse().ok())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_alternate_and_the_larger_valid_one_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cursor-parquet");
        let mut c = Cursor::new(0);
        c.write(&path, 10).unwrap();
        c.write(&path, 25).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 2 * SLOT as u64);
        assert_eq!(Cursor::read(&path).unwrap().unwrap().next, 25);
        // A torn write of the next commit (slot 0 again) garbles it: slot 1 still says 25.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[5] = b'x';
        std::fs::write(&path, &bytes).unwrap();
        let mut back = Cursor::read(&path).unwrap().unwrap();
        assert_eq!(back.next, 25);
        // The next write goes to the garbled slot, not over the good one.
        back.write(&path, 40).unwrap();
        assert_eq!(Cursor::read(&path).unwrap().unwrap().next, 40);
        assert_eq!(decode(&std::fs::read(&path).unwrap()[SLOT..]), Some(25));
    }

    #[test]
    fn the_earlier_one_number_form_is_read_and_overwritten_in_turn() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cursor-parquet");
        std::fs::write(&path, "1234\n").unwrap();
        let mut c = Cursor::read(&path).unwrap().unwrap();
        assert_eq!(c.next, 1234);
        c.write(&path, 1300).unwrap();
        assert_eq!(Cursor::read(&path).unwrap().unwrap().next, 1300);
        std::fs::write(&path, "garbage").unwrap();
        assert_eq!(Cursor::read(&path).unwrap(), None);
    }
}
