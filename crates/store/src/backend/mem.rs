//! [`Dir`] in memory, with crash simulation and fault injection.
//!
//! Durability is modelled as on a POSIX file system: a file's bytes are
//! durable up to its last `sync`, and the set of names is durable as of the
//! last `sync_dir`. [`MemDir::crash`] returns what a machine would find after
//! power loss.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use rand::Rng;

use super::{Dir, LogFile};

/// An I/O failure to inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `sync` fails after this many more successful syncs.
    SyncAfter(u64),
    /// `append` fails after this many more successful appends.
    AppendAfter(u64),
}

#[derive(Debug, Default)]
struct FileData {
    data: Vec<u8>,
    synced: usize,
}

type Shared = Arc<Mutex<FileData>>;

#[derive(Debug, Default)]
struct State {
    files: HashMap<String, Shared>,
    durable_names: HashMap<String, Shared>,
    fault: Option<Fault>,
}

impl State {
    /// Count one operation of a kind against the armed fault.
    fn check(&mut self, is_sync: bool) -> io::Result<()> {
        let remaining = match (&mut self.fault, is_sync) {
            (Some(Fault::SyncAfter(n)), true) | (Some(Fault::AppendAfter(n)), false) => n,
            _ => return Ok(()),
        };
        if *remaining == 0 {
            return Err(io::Error::other("injected I/O error"));
        }
        *remaining -= 1;
        Ok(())
    }
}

/// An in-memory directory. Clones share the same files.
#[derive(Debug, Clone, Default)]
pub struct MemDir {
    state: Arc<Mutex<State>>,
}

impl MemDir {
    pub fn new() -> Self {
        Self::default()
    }

    /// Arm (or with `None`, clear) an injected fault.
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.state.lock().fault = fault;
    }

    /// What survives a power loss now: the names durable at the last
    /// `sync_dir`, each cut to its last `sync`. With `torn_tail`, each file
    /// also keeps a random part of its unsynced bytes, as a half-finished
    /// write would leave it.
    pub fn crash(&self, torn_tail: bool) -> MemDir {
        let state = self.state.lock();
        let mut rng = rand::thread_rng();
        let mut files = HashMap::new();
        for (name, file) in &state.durable_names {
            let file = file.lock();
            let mut keep = file.synced;
            if torn_tail && file.data.len() > file.synced {
                keep += rng.gen_range(0..=file.data.len() - file.synced);
            }
            let data = file.data[..keep].to_vec();
            files.insert(
                name.clone(),
                Arc::new(Mutex::new(FileData {
                    synced: data.len(),
                    data,
                })),
            );
        }
        MemDir {
            state: Arc::new(Mutex::new(State {
                durable_names: files.clone(),
                files,
                fault: None,
            })),
        }
    }

    /// The current bytes of a file (for tests that corrupt data).
    pub fn file_bytes(&self, name: &str) -> Option<Vec<u8>> {
        self.state
            .lock()
            .files
            .get(name)
            .map(|f| f.lock().data.clone())
    }

    /// Replace a file's bytes, all durable (for tests that corrupt data).
    pub fn set_file_bytes(&self, name: &str, data: Vec<u8>) {
        let mut state = self.state.lock();
        let synced = data.len();
        let file = Arc::new(Mutex::new(FileData { data, synced }));
        state.files.insert(name.to_string(), file.clone());
        state.durable_names.insert(name.to_string(), file);
    }
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{name}: no such file"))
}

impl Dir for MemDir {
    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.state.lock().files.keys().cloned().collect())
    }

    fn open(&self, name: &str) -> io::Result<Box<dyn LogFile>> {
        let file = self
            .state
            .lock()
            .files
            .get(name)
            .cloned()
            .ok_or_else(|| not_found(name))?;
        Ok(Box::new(MemFile {
            dir: self.state.clone(),
            file,
        }))
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn LogFile>> {
        let file: Shared = Arc::default();
        self.state
            .lock()
            .files
            .insert(name.to_string(), file.clone());
        Ok(Box::new(MemFile {
            dir: self.state.clone(),
            file,
        }))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.state
            .lock()
            .files
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| not_found(name))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut state = self.state.lock();
        let file = state.files.remove(from).ok_or_else(|| not_found(from))?;
        state.files.insert(to.to_string(), file);
        Ok(())
    }

    fn sync_dir(&self) -> io::Result<()> {
        let mut state = self.state.lock();
        state.check(true)?;
        state.durable_names = state.files.clone();
        Ok(())
    }

    fn display_path(&self, name: &str) -> PathBuf {
        PathBuf::from(format!("mem:{name}"))
    }
}

#[derive(Debug)]
struct MemFile {
    dir: Arc<Mutex<State>>,
    file: Shared,
}

impl LogFile for MemFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.file.lock().data.len() as u64)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let file = self.file.lock();
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let end = start
            .checked_add(buf.len())
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        let src = file
            .data
            .get(start..end)
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.dir.lock().check(false)?;
        self.file.lock().data.extend_from_slice(data);
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.dir.lock().check(true)?;
        let mut file = self.file.lock();
        file.synced = file.data.len();
        Ok(())
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        let mut file = self.file.lock();
        let len = usize::try_from(len).map_err(|_| io::ErrorKind::InvalidInput)?;
        file.data.truncate(len);
        file.synced = file.data.len();
        Ok(())
    }
}
