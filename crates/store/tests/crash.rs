//! Crash recovery with a real process and `SIGKILL`.
//!
//! Each round starts this test binary again as a child (running only
//! [`crash_child`]) on one data directory. The child opens the embedded store
//! with small segments and eager snapshots (so both roll while it runs),
//! starts many concurrent writers that put unique keys, and prints
//! `ACK <key> <revision>` for every acknowledged put. The parent kills it with
//! `SIGKILL` at a random moment, then opens the directory itself and checks:
//!
//! - every acknowledged key of every round so far is there, with exactly its
//!   revision and value (no acknowledged write is lost);
//! - the keys' revisions are exactly `2..=current`: every revision holds one
//!   unique-key put, so a gap or a duplicate is a lost or invented write;
//! - reads at older revisions see exactly the keys written by then;
//! - a watch from the oldest retained revision replays every revision, in
//!   order, with no gap, up to the current one.
//!
//! The next round starts the child again on the same directory, so recovery
//! of a recovered store is tested too; some rounds kill the child while it
//! is still recovering. One variant runs periodic compaction in the child,
//! so compaction, snapshots and crashes interleave (unique keys are never
//! compacted away: each is its own newest version).
//!
//! Rounds per variant: `RKUBE_CRASH_ROUNDS` (default 5). The full run:
//!
//! ```text
//! RKUBE_CRASH_ROUNDS=50 cargo test -p rkube-store --release --test crash
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use rand::Rng;
use rkube_store::embedded::{CompactionPolicy, EmbeddedOptions, EmbeddedStore};
use rkube_store::{EventKind, KeyRange, RangeRequest, Revision, Store, WatchRequest};

/// The child's data directory; set only in the child.
const ENV_DIR: &str = "RKUBE_CRASH_CHILD_DIR";
/// The round number, part of every key the child writes.
const ENV_ROUND: &str = "RKUBE_CRASH_CHILD_ROUND";
/// "1" when the child compacts periodically.
const ENV_COMPACT: &str = "RKUBE_CRASH_CHILD_COMPACT";
/// Rounds per variant.
const ENV_ROUNDS: &str = "RKUBE_CRASH_ROUNDS";

const WRITERS: usize = 32;
/// How long a child may take to recover before the parent gives up.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

fn options(dir: &Path, compaction: CompactionPolicy) -> EmbeddedOptions {
    let mut o = EmbeddedOptions::new(dir);
    o.segment_bytes = 256 << 10;
    o.snapshot_min_bytes = 128 << 10;
    o.compaction = compaction;
    o
}

fn periodic() -> CompactionPolicy {
    CompactionPolicy::KeepRevisions {
        keep: 200,
        interval: Duration::from_millis(50),
    }
}

/// The value every key is written with, so the parent can check it.
fn value_for(key: &str) -> Bytes {
    Bytes::from(format!("{key}|").repeat(4))
}

// ---------------------------------------------------------------------------
// The child
// ---------------------------------------------------------------------------

/// Runs only as the child of a crash round (does nothing otherwise): write
/// unique keys from many tasks until killed, reporting each acknowledged put.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(ENV_DIR) else {
        return;
    };
    let round: u32 = std::env::var(ENV_ROUND)
        .ok()
        .and_then(|r| r.parse().ok())
        .expect("round");
    let compaction = match std::env::var(ENV_COMPACT).as_deref() {
        Ok("1") => periodic(),
        _ => CompactionPolicy::Manual,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let store = EmbeddedStore::open(options(Path::new(&dir), compaction)).expect("child: open");
        let rev = store.current_revision().await.expect("child: revision");
        // libtest has printed "test crash_child ... " without a newline.
        println!("\nREADY {rev}");
        std::io::stdout().flush().expect("flush");
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for n in 0u64.. {
                    let key = format!("r{round:03}/w{w:02}/{n:08}");
                    match store.put(Bytes::from(key.clone()), value_for(&key)).await {
                        Ok(rev) => {
                            // One locked, flushed write per line: the parent
                            // reads whole lines, each one a put already
                            // acknowledged (a kill may cut the last one).
                            let mut out = std::io::stdout().lock();
                            if writeln!(out, "ACK {key} {rev}")
                                .and_then(|()| out.flush())
                                .is_err()
                            {
                                // The parent is gone; so is the point of running.
                                std::process::exit(2);
                            }
                        }
                        Err(e) => {
                            eprintln!("child: put {key} failed: {e}");
                            std::process::exit(3);
                        }
                    }
                }
            }));
        }
        for t in tasks {
            t.await.expect("writer");
        }
    });
}

// ---------------------------------------------------------------------------
// The parent
// ---------------------------------------------------------------------------

/// Kills and reaps the child however the parent's test ends.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Keeps the data directory when the test fails, for a post-mortem.
struct KeepOnFailure(Option<tempfile::TempDir>);

impl Drop for KeepOnFailure {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(dir) = self.0.take() {
                eprintln!(
                    "crash test failed; data directory kept at {}",
                    dir.keep().display()
                );
            }
        }
    }
}

/// What the child's stdout said.
enum Line {
    Ready(Revision),
    Ack(String, Revision),
}

fn parse(line: &str) -> Option<Line> {
    let mut words = line.split_whitespace();
    match words.next()? {
        "READY" => Some(Line::Ready(words.next()?.parse().ok()?)),
        "ACK" => {
            let key = words.next()?.to_string();
            let rev = words.next()?.parse().ok()?;
            Some(Line::Ack(key, rev))
        }
        _ => None,
    }
}

struct RoundResult {
    acks: Vec<(String, Revision)>,
    ready: Option<Revision>,
}

/// Run one child on `dir` and kill it; return what it acknowledged.
fn run_child(dir: &Path, round: u32, compact: bool, rng: &mut impl Rng) -> RoundResult {
    let exe = std::env::current_exe().expect("current exe");
    let child = Command::new(exe)
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(ENV_DIR, dir)
        .env(ENV_ROUND, round.to_string())
        .env(ENV_COMPACT, if compact { "1" } else { "0" })
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the child");
    let mut guard = ChildGuard(child);
    let stdout = guard.0.stdout.take().expect("child stdout");
    let (ready_tx, ready_rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut acks = Vec::new();
        let mut ready = None;
        let mut r = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                // A line cut by the kill has no newline: it was never complete.
                Ok(_) if !line.ends_with('\n') => break,
                Ok(_) => match parse(&line) {
                    Some(Line::Ready(rev)) => {
                        ready = Some(rev);
                        let _ = ready_tx.send(rev);
                    }
                    Some(Line::Ack(k, rev)) => acks.push((k, rev)),
                    None => {}
                },
            }
        }
        RoundResult { acks, ready }
    });

    // Mostly kill while writing; sometimes while the child still recovers.
    if rng.gen_bool(0.2) {
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..150)));
    } else {
        let started = Instant::now();
        loop {
            match ready_rx.recv_timeout(Duration::from_millis(100)) {
                Ok(_) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(status) = guard.0.try_wait().expect("try_wait") {
                        panic!("round {round}: child exited before it was ready: {status}");
                    }
                    assert!(
                        started.elapsed() < READY_TIMEOUT,
                        "round {round}: child not ready"
                    );
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = guard.0.wait().expect("wait");
                    panic!("round {round}: child closed stdout before it was ready: {status}");
                }
            }
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(50..=400)));
    }
    if let Some(status) = guard.0.try_wait().expect("try_wait") {
        panic!("round {round}: child exited on its own (it should run until killed): {status}");
    }
    guard.0.kill().expect("kill the child");
    let status = guard.0.wait().expect("wait for the child");
    assert!(
        !status.success(),
        "round {round}: killed child reports success"
    );
    reader.join().expect("stdout reader")
}

/// Open the store the child left and check it against everything acknowledged.
/// Returns the current and the compacted revision.
async fn verify(
    dir: &Path,
    acked: &BTreeMap<String, Revision>,
    round: u32,
    rng: &mut impl Rng,
) -> (Revision, Revision) {
    let store = EmbeddedStore::open(options(dir, CompactionPolicy::Manual))
        .unwrap_or_else(|e| panic!("round {round}: open after the kill: {e}"));
    let current = store.current_revision().await.expect("revision");
    let compacted = store.compacted_revision();

    // Every key, and its value, at the current revision.
    let all = store
        .range(RangeRequest::new(KeyRange::prefix(Bytes::new())))
        .await
        .expect("range");
    assert_eq!(all.count as usize, all.kvs.len(), "round {round}");
    let mut by_rev: BTreeMap<Revision, Bytes> = BTreeMap::new();
    let mut live: BTreeMap<Bytes, Revision> = BTreeMap::new();
    for kv in &all.kvs {
        let key = std::str::from_utf8(&kv.key).expect("utf-8 key");
        assert_eq!(kv.value, value_for(key), "round {round}: value of {key}");
        assert_eq!(
            (kv.create_revision, kv.version),
            (kv.mod_revision, 1),
            "round {round}: {key} was written more than once"
        );
        if let Some(other) = by_rev.insert(kv.mod_revision, kv.key.clone()) {
            panic!(
                "round {round}: revision {} holds {other:?} and {key}",
                kv.mod_revision
            );
        }
        live.insert(kv.key.clone(), kv.mod_revision);
    }
    // No acknowledged write is lost.
    for (key, rev) in acked {
        match live.get(key.as_bytes()) {
            Some(r) => assert_eq!(r, rev, "round {round}: {key} acknowledged at {rev}, found at {r}"),
            None => panic!("round {round}: acknowledged {key} (revision {rev}) is lost; current revision {current}"),
        }
    }
    // Every revision holds exactly one put: 2..=current, no gap.
    let revs: Vec<Revision> = by_rev.keys().copied().collect();
    let expected: Vec<Revision> = (2..=current).collect();
    if revs != expected {
        let missing: Vec<_> = expected
            .iter()
            .filter(|r| !by_rev.contains_key(r))
            .take(10)
            .collect();
        let extra: Vec<_> = revs
            .iter()
            .filter(|r| **r < 2 || **r > current)
            .take(10)
            .collect();
        panic!(
            "round {round}: keys hold revisions {:?}..{:?} ({} of them) but the current revision is {current}; missing {missing:?}, beyond {extra:?}",
            revs.first(),
            revs.last(),
            revs.len()
        );
    }
    // Reads at older revisions see exactly what was written by then.
    let oldest = compacted.max(1);
    for _ in 0..4 {
        let at = rng.gen_range(oldest..=current);
        let resp = store
            .range(
                RangeRequest::new(KeyRange::prefix(Bytes::new()))
                    .at_revision(at)
                    .count_only(),
            )
            .await
            .unwrap_or_else(|e| panic!("round {round}: read at {at} (compacted {compacted}): {e}"));
        assert_eq!(resp.count, at - 1, "round {round}: keys at revision {at}");
    }
    // A watch replays every retained revision in order, then is caught up.
    let from = compacted.max(2);
    if from <= current {
        let mut w = store
            .watch(WatchRequest::new(KeyRange::prefix(Bytes::new())).from_revision(from))
            .await
            .expect("watch");
        let mut next = from;
        while next <= current {
            let batch = tokio::time::timeout(Duration::from_secs(30), w.next())
                .await
                .unwrap_or_else(|_| panic!("round {round}: watch stalled before revision {next}"))
                .unwrap_or_else(|| panic!("round {round}: watch ended before revision {next}"))
                .unwrap_or_else(|e| {
                    panic!("round {round}: watch failed before revision {next}: {e}")
                });
            for ev in batch {
                assert_eq!(ev.kind, EventKind::Put, "round {round}");
                assert_eq!(
                    ev.kv.mod_revision, next,
                    "round {round}: watch skipped or repeated"
                );
                assert_eq!(
                    by_rev.get(&next),
                    Some(&ev.kv.key),
                    "round {round}: key at {next}"
                );
                assert_eq!(
                    ev.kv.value,
                    value_for(std::str::from_utf8(&ev.kv.key).expect("utf-8"))
                );
                next += 1;
            }
        }
    }
    store.close();
    (current, compacted)
}

fn rounds() -> u32 {
    std::env::var(ENV_ROUNDS)
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5)
}

fn crash_rounds(compact: bool) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir: PathBuf = tmp.path().to_path_buf();
    let _keep = KeepOnFailure(Some(tmp));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut rng = rand::thread_rng();
    let mut acked: BTreeMap<String, Revision> = BTreeMap::new();
    let mut last_rev = 1;
    for round in 0..rounds() {
        let started = Instant::now();
        let res = run_child(&dir, round, compact, &mut rng);
        if let Some(ready) = res.ready {
            assert_eq!(
                ready, last_rev,
                "round {round}: revision the child recovered"
            );
        }
        let n = res.acks.len();
        for (key, rev) in res.acks {
            assert!(
                acked.insert(key.clone(), rev).is_none(),
                "round {round}: {key} acknowledged twice"
            );
        }
        let (current, compacted) = rt.block_on(verify(&dir, &acked, round, &mut rng));
        last_rev = current;
        eprintln!(
            "round {round}: killed {} ready, {n} puts acknowledged; revision {current}, compacted {compacted}; {:?}",
            if res.ready.is_some() { "after" } else { "before" },
            started.elapsed()
        );
    }
    assert!(!acked.is_empty(), "no round acknowledged any write");
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    crash_rounds(false);
}

#[test]
fn acknowledged_writes_survive_sigkill_with_periodic_compaction() {
    crash_rounds(true);
}
