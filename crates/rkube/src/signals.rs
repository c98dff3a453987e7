//! Waiting for the signals that stop rkube cleanly.

use anyhow::Context;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// The SIGINT and SIGTERM handlers, installed once at start so that a signal
/// arriving early is not lost.
pub struct ShutdownSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl ShutdownSignals {
    /// Install the handlers. From now on SIGINT and SIGTERM no longer kill
    /// the process: [`ShutdownSignals::recv`] reports them.
    pub fn install() -> anyhow::Result<Self> {
        let interrupt =
            signal(SignalKind::interrupt()).context("cannot install a SIGINT handler")?;
        let terminate =
            signal(SignalKind::terminate()).context("cannot install a SIGTERM handler")?;
        Ok(ShutdownSignals {
            interrupt,
            terminate,
        })
    }

    /// Wait for SIGINT or SIGTERM; returns the signal's name.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}
