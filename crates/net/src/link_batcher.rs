//! [`LinkBatcher`]: host-side `ip` commands of many pods in one process.
//!
//! Pods are attached many at a time (a Deployment scaled to 100); each
//! needs a few host-side lines (its veth on the bridge, hairpin, up).
//! Starting `ip` once per pod would cost more than the work itself, so
//! lines that arrive while a batch runs wait for the next one, and every
//! batch is one `ip -force -batch -`; the failed line numbers it reports
//! tell which pod's lines failed.

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::cmd;
use crate::error::NetError;

type Reply = oneshot::Sender<Result<(), NetError>>;

#[derive(Default)]
pub struct LinkBatcher {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    pending: Vec<(String, Reply)>,
    running: bool,
}

impl LinkBatcher {
    /// Runs `lines` (each ending in a newline) in the next batch.
    pub async fn run(self: &Arc<Self>, lines: String) -> Result<(), NetError> {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut state = self.lock();
            state.pending.push((lines, tx));
            !std::mem::replace(&mut state.running, true)
        };
        if start {
            // A task of its own: a caller that stops waiting does not
            // strand the others' lines.
            tokio::spawn(self.clone().drain());
        }
        rx.await.unwrap_or_else(|_| {
            Err(NetError::Config(
                "the ip batch was dropped before it ran".to_string(),
            ))
        })
    }

    async fn drain(self: Arc<Self>) {
        loop {
            let jobs = {
                let mut state = self.lock();
                if state.pending.is_empty() {
                    state.running = false;
                    return;
                }
                std::mem::take(&mut state.pending)
            };
            let batch: String = jobs.iter().map(|(l, _)| l.as_str()).collect();
            let result = cmd::run(cmd::IP, &["-force", "-batch", "-"], Some(&batch)).await;
            let failed = match &result {
                Ok(_) => Vec::new(),
                Err(NetError::Command { stderr, .. }) => failed_lines(stderr),
                Err(_) => Vec::new(),
            };
            let mut first_line = 1;
            for (lines, reply) in jobs {
                let count = lines.lines().count();
                let mine = first_line..first_line + count;
                first_line += count;
                let outcome = match &result {
                    Ok(_) => Ok(()),
                    Err(NetError::Command {
                        what,
                        status,
                        stderr,
                    }) => {
                        if failed.is_empty() || failed.iter().any(|n| mine.contains(n)) {
                            Err(NetError::Command {
                                what: format!("{what}: {}", lines.trim_end().replace('\n', "; ")),
                                status: status.clone(),
                                stderr: stderr.clone(),
                            })
                        } else {
                            Ok(())
                        }
                    }
                    Err(e) => Err(NetError::Config(e.to_string())),
                };
                let _ = reply.send(outcome);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The line numbers `ip -force -batch -` reports as failed
/// (`Command failed -:N`).
fn failed_lines(stderr: &str) -> Vec<usize> {
    stderr
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Command failed -:"))
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_failed_lines() {
        let e = "Cannot find device \"a\"\nCommand failed -:1\nCannot find device \"b\"\nCommand failed -:3\n";
        assert_eq!(failed_lines(e), vec![1, 3]);
    }

    #[tokio::test]
    async fn a_failing_line_fails_only_its_caller() {
        let b = Arc::new(LinkBatcher::default());
        let ok = b.run("link show lo\n".to_string());
        let bad = b.run("link set rkube-no-such-link up\n".to_string());
        let (ok, bad) = tokio::join!(ok, bad);
        ok.expect("lo exists");
        assert!(bad.is_err());
    }
}
