//! A read-only view of the database file for a poisoned store.
//!
//! After a failed write or fsync, redb refuses every later disk access of that database handle,
//! reads included, and the file on disk may need redb's crash recovery before it can be read.
//! Recovery writes (it rebuilds allocator state and rewrites the header), but writing to a disk
//! that just failed is exactly the guess the store refuses to make. So the view opens the file
//! through this backend: reads come from the file, writes land in memory and are forgotten, and
//! fsync does nothing. Recovery then runs entirely in memory and the file is never modified.
//!
//! The overlay only ever holds what recovery and a clean close write (headers and allocator
//! state, a few pages), because nothing else writes through a view.

use redb::StorageBackend;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

const BLOCK_BYTES: u64 = 4096;

#[derive(Debug)]
pub(crate) struct ReadOverlayBackend {
    state: Mutex<OverlayState>,
}

#[derive(Debug)]
struct OverlayState {
    file: File,
    /// The length redb sees.
    length: u64,
    /// Bytes of the file below this offset are visible; above it the view reads zeroes (the
    /// file was "shrunk" in the overlay). Never grows.
    file_visible: u64,
    /// Overlay blocks by block index, each `BLOCK_BYTES` long.
    blocks: HashMap<u64, Vec<u8>>,
}

impl ReadOverlayBackend {
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        let length = file.metadata()?.len();
        Ok(ReadOverlayBackend {
            state: Mutex::new(OverlayState { file, length, file_visible: length, blocks: HashMap::new() }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, OverlayState> {
        // Every mutation below completes or returns before touching the maps; a panic elsewhere
        // cannot leave the state half-changed.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn out_of_range(offset: u64, length: usize) -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, format!("read of {length} bytes at {offset} beyond the end"))
}

impl OverlayState {
    /// Reads `out.len()` bytes at `offset` from the file as the view sees it, ignoring overlay
    /// blocks: file bytes below `file_visible`, zeroes above.
    fn read_file(&mut self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        out.fill(0);
        if offset >= self.file_visible {
            return Ok(());
        }
        let visible = usize::try_from(self.file_visible - offset).unwrap_or(usize::MAX).min(out.len());
        self.file.seek(SeekFrom::Start(offset))?;
        self.file.read_exact(out.get_mut(..visible).unwrap_or_default())
    }

    /// Calls `each(block_index, offset_in_block, range_in_buffer)` for the blocks that
    /// `offset..offset + length` touches.
    fn blocks_of(offset: u64, length: usize) -> impl Iterator<Item = (u64, usize, std::ops::Range<usize>)> {
        let mut done = 0usize;
        std::iter::from_fn(move || {
            if done >= length {
                return None;
            }
            let position = offset + done as u64;
            let within = (position % BLOCK_BYTES) as usize;
            let count = (BLOCK_BYTES as usize - within).min(length - done);
            let range = done..done + count;
            done += count;
            Some((position / BLOCK_BYTES, within, range))
        })
    }

    fn read(&mut self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let end = offset.checked_add(out.len() as u64).ok_or_else(|| out_of_range(offset, out.len()))?;
        if end > self.length {
            return Err(out_of_range(offset, out.len()));
        }
        for (block, within, range) in Self::blocks_of(offset, out.len()) {
            let target = out.get_mut(range).unwrap_or_default();
            match self.blocks.get(&block).and_then(|data| data.get(within..within + target.len())) {
                Some(source) => target.copy_from_slice(source),
                None => {
                    let position = block * BLOCK_BYTES + within as u64;
                    self.read_file(position, target)?;
                }
            }
        }
        Ok(())
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let end = offset.checked_add(data.len() as u64).ok_or_else(|| out_of_range(offset, data.len()))?;
        for (block, within, range) in Self::blocks_of(offset, data.len()) {
            if !self.blocks.contains_key(&block) {
                let mut fresh = vec![0u8; BLOCK_BYTES as usize];
                self.read_file(block * BLOCK_BYTES, &mut fresh)?;
                self.blocks.insert(block, fresh);
            }
            let source = data.get(range).unwrap_or_default();
            if let Some(target) = self.blocks.get_mut(&block).and_then(|b| b.get_mut(within..within + source.len())) {
                target.copy_from_slice(source);
            }
        }
        self.length = self.length.max(end);
        Ok(())
    }

    fn set_length(&mut self, length: u64) {
        if length < self.length {
            // Bytes past the new end must read as zeroes if the view grows again.
            self.file_visible = self.file_visible.min(length);
            self.blocks.retain(|block, _| block * BLOCK_BYTES < length);
            let within = (length % BLOCK_BYTES) as usize;
            if let Some(tail) = self.blocks.get_mut(&(length / BLOCK_BYTES)).and_then(|b| b.get_mut(within..)) {
                tail.fill(0);
            }
        }
        self.length = length;
    }
}

impl StorageBackend for ReadOverlayBackend {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.lock().length)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.lock().read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.lock().set_length(len);
        Ok(())
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        // Nothing of the view is ever made durable.
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        self.lock().write(offset, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn writes_stay_in_memory_and_reads_merge() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        let original: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        File::create(&path).unwrap().write_all(&original).unwrap();

        let overlay = ReadOverlayBackend::open(&path).unwrap();
        assert_eq!(overlay.len().unwrap(), 10_000);
        overlay.write(4090, &[1; 20]).unwrap();
        let mut out = vec![0; 40];
        overlay.read(4080, &mut out).unwrap();
        assert_eq!(&out[..10], &original[4080..4090]);
        assert_eq!(&out[10..30], &[1; 20]);
        assert_eq!(&out[30..], &original[4110..4120]);

        // Shrinking then growing exposes zeroes, not the old file bytes.
        overlay.set_len(5000).unwrap();
        overlay.set_len(9000).unwrap();
        let mut out = vec![7; 100];
        overlay.read(4950, &mut out).unwrap();
        assert_eq!(&out[..50], &original[4950..5000]);
        assert!(out[50..].iter().all(|byte| *byte == 0));
        assert!(overlay.read(8990, &mut [0; 20]).is_err());

        // Writing past the end extends the view.
        overlay.write(12_000, &[5; 10]).unwrap();
        assert_eq!(overlay.len().unwrap(), 12_010);
        let mut out = vec![9; 10];
        overlay.read(11_000, &mut out).unwrap();
        assert_eq!(out, vec![0; 10]);

        // The file itself is untouched.
        assert_eq!(std::fs::read(&path).unwrap(), original);
    }
}
