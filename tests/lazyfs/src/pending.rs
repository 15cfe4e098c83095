//! The unsynced state of one file: the pages written since its last `fsync`
//! and its length, laid over the durable file in the backing directory.
//!
//! Reads see the overlay (what a process reads back from the page cache);
//! [`Pending::apply`] is what an `fsync` makes durable; dropping a
//! `Pending` is what a power cut does to it.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// The unit the overlay tracks, as a page cache would.
pub const PAGE: u64 = 4096;

/// Writes and truncations of one file since its last sync.
#[derive(Debug)]
pub struct Pending {
    /// The file's length as processes see it.
    len: u64,
    /// The shortest the file was since the last sync: durable bytes at or
    /// beyond it were cut off, and read as zeros unless rewritten.
    base_len: u64,
    /// Page index → the page's whole current content.
    pages: BTreeMap<u64, Box<[u8]>>,
}

impl Pending {
    /// Nothing pending over a durable file of `durable_len` bytes.
    pub fn new(durable_len: u64) -> Pending {
        Pending {
            len: durable_len,
            base_len: durable_len,
            pages: BTreeMap::new(),
        }
    }

    /// The file's length as processes see it.
    pub fn visible_len(&self) -> u64 {
        self.len
    }

    /// Bytes held in memory only: what a power cut now would lose.
    pub fn unsynced_bytes(&self) -> u64 {
        self.pages.len() as u64 * PAGE + self.base_len.abs_diff(self.len)
    }

    /// Writes `data` at `offset`, over the durable content of `durable`.
    pub fn write(&mut self, durable: &File, offset: u64, data: &[u8]) -> io::Result<()> {
        let end = offset + data.len() as u64;
        let mut at = offset;
        while at < end {
            let index = at / PAGE;
            let start = index * PAGE;
            let base_len = self.base_len;
            let page = match self.pages.entry(index) {
                std::collections::btree_map::Entry::Occupied(page) => page.into_mut(),
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(durable_page(durable, start, base_len)?)
                }
            };
            let from = (at - start) as usize;
            let count = ((end - at) as usize).min(PAGE as usize - from);
            let source = (at - offset) as usize;
            page[from..from + count].copy_from_slice(&data[source..source + count]);
            at += count as u64;
        }
        self.len = self.len.max(end);
        Ok(())
    }

    /// Sets the length to `len`, as `ftruncate` does.
    pub fn truncate(&mut self, len: u64) {
        if len < self.len {
            let first_gone = len.div_ceil(PAGE);
            self.pages.split_off(&first_gone);
            if let Some(page) = self.pages.get_mut(&(len / PAGE)) {
                page[(len % PAGE) as usize..].fill(0);
            }
            self.base_len = self.base_len.min(len);
        }
        self.len = len;
    }

    /// Up to `size` bytes at `offset`, as a process reading the file sees them.
    pub fn read(&self, durable: &File, offset: u64, size: u64) -> io::Result<Vec<u8>> {
        let end = (offset + size).min(self.len);
        let mut out = Vec::with_capacity(end.saturating_sub(offset) as usize);
        let mut at = offset;
        while at < end {
            let index = at / PAGE;
            let start = index * PAGE;
            let from = (at - start) as usize;
            let count = ((end - at) as usize).min(PAGE as usize - from);
            match self.pages.get(&index) {
                Some(page) => out.extend_from_slice(&page[from..from + count]),
                None => {
                    let page = durable_page(durable, start, self.base_len)?;
                    out.extend_from_slice(&page[from..from + count]);
                }
            }
            at += count as u64;
        }
        Ok(out)
    }

    /// Makes the pending state durable in `durable` (what `fsync` does).
    pub fn apply(&self, durable: &File) -> io::Result<()> {
        durable.set_len(self.base_len)?;
        for (&index, page) in &self.pages {
            let start = index * PAGE;
            if start >= self.len {
                continue;
            }
            let count = (self.len - start).min(PAGE) as usize;
            durable.write_all_at(&page[..count], start)?;
        }
        durable.set_len(self.len)?;
        durable.sync_all()
    }
}

/// The durable page at `start`, zero beyond `base_len`.
fn durable_page(durable: &File, start: u64, base_len: u64) -> io::Result<Box<[u8]>> {
    let mut page = vec![0u8; PAGE as usize].into_boxed_slice();
    let wanted = base_len.saturating_sub(start).min(PAGE) as usize;
    let mut filled = 0;
    while filled < wanted {
        match durable.read_at(&mut page[filled..wanted], start + filled as u64)? {
            0 => break,
            read => filled += read,
        }
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(content: &[u8]) -> (tempfile::NamedTempFile, File) {
        let named = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(named.path(), content).unwrap();
        let file = File::options()
            .read(true)
            .write(true)
            .open(named.path())
            .unwrap();
        (named, file)
    }

    fn durable(named: &tempfile::NamedTempFile) -> Vec<u8> {
        std::fs::read(named.path()).unwrap()
    }

    #[test]
    fn writes_are_read_back_but_reach_the_file_only_when_applied() {
        let (named, file) = file(b"hello world");
        let mut pending = Pending::new(11);
        pending.write(&file, 6, b"there, you").unwrap();
        pending.write(&file, 5000, b"far").unwrap();
        assert_eq!(pending.visible_len(), 5003);
        assert_eq!(pending.read(&file, 0, 16).unwrap(), b"hello there, you");
        assert_eq!(pending.read(&file, 4998, 10).unwrap(), b"\0\0far");
        assert_eq!(durable(&named), b"hello world");
        pending.apply(&file).unwrap();
        let after = durable(&named);
        assert_eq!(after.len(), 5003);
        assert_eq!(&after[..16], b"hello there, you");
        assert_eq!(&after[5000..], b"far");
    }

    #[test]
    fn a_truncation_then_an_extension_reads_zeros_where_data_was_cut() {
        let (named, file) = file(&[7u8; 10_000]);
        let mut pending = Pending::new(10_000);
        pending.truncate(100);
        assert_eq!(pending.read(&file, 0, 200).unwrap(), vec![7u8; 100]);
        pending.write(&file, 9_000, b"x").unwrap();
        let read = pending.read(&file, 0, 10_000).unwrap();
        assert_eq!(read.len(), 9_001);
        assert!(read[100..9_000].iter().all(|&b| b == 0));
        pending.apply(&file).unwrap();
        assert_eq!(durable(&named), read);
    }

    #[test]
    fn nothing_pending_loses_nothing_and_all_pending_counts() {
        let (_named, file) = file(b"abc");
        let mut pending = Pending::new(3);
        assert_eq!(pending.unsynced_bytes(), 0);
        pending.write(&file, 0, b"z").unwrap();
        assert_eq!(pending.unsynced_bytes(), PAGE);
    }
}
