//! The byte-level storage the embedded log sits on: a directory of
//! append-only files. Two implementations:
//! - [`FileDir`]: real files, `fsync` for durability;
//! - [`MemDir`]: memory only, which remembers what was synced, can simulate
//!   a crash (dropping unsynced bytes, optionally leaving a torn tail) and
//!   inject I/O errors — so crash and fault tests need no disk.
//!
//! Nothing above this module touches `std::fs`.

mod file;
mod mem;

pub use file::FileDir;
pub use mem::{Fault, MemDir};

use std::io;

/// A directory of named files.
pub trait Dir: Send + Sync + std::fmt::Debug {
    /// Names of the files in the directory (no sub-directories), unordered.
    fn list(&self) -> io::Result<Vec<String>>;
    /// Open an existing file for reading and appending.
    fn open(&self, name: &str) -> io::Result<Box<dyn LogFile>>;
    /// Create a new, empty file (truncating one that exists).
    fn create(&self, name: &str) -> io::Result<Box<dyn LogFile>>;
    /// Remove a file.
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Atomically rename `from` to `to`, replacing `to`.
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    /// Make creations, removals and renames durable.
    fn sync_dir(&self) -> io::Result<()>;
    /// A path to show in error messages for `name`.
    fn display_path(&self, name: &str) -> std::path::PathBuf;
}

/// One append-only file.
pub trait LogFile: Send + Sync + std::fmt::Debug {
    /// Current length in bytes (including unsynced appends).
    fn len(&self) -> io::Result<u64>;
    /// Whether the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Read exactly `buf.len()` bytes at `offset`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Append bytes at the end.
    fn append(&mut self, data: &[u8]) -> io::Result<()>;
    /// Make every appended byte durable.
    fn sync(&mut self) -> io::Result<()>;
    /// Cut the file to `len` bytes (and make that durable).
    fn truncate(&mut self, len: u64) -> io::Result<()>;

    /// Read the whole file.
    fn read_all(&self) -> io::Result<Vec<u8>> {
        let len = usize::try_from(self.len()?)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "file too large"))?;
        let mut buf = vec![0; len];
        self.read_at(0, &mut buf)?;
        Ok(buf)
    }
}
