//! Running a workload in a child process (for a clean peak RSS), and being
//! that child.
//!
//! The parent re-executes itself as `rkube bench store --child ROLE --dir
//! DIR ...`; the child prints its [`Measurements`] on stdout and logs on
//! stderr (passed through).

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use rkube_store::embedded::{EmbeddedOptions, EmbeddedStore};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use super::plan::Plan;
use super::proc_status::read_rss;
use super::results::Measurements;
use super::{memory, workload};
use crate::bench::args::ChildRole;

/// Be the child: run `role` with `plan` (whose `dir` is the store's own
/// fresh directory) and print the results.
pub async fn run_child(role: ChildRole, plan: &Plan) -> anyhow::Result<()> {
    let mut out = Measurements::default();
    match role {
        ChildRole::Embedded => {
            let dir = plan.dir.clone();
            let t0 = Instant::now();
            let store =
                tokio::task::spawn_blocking(move || EmbeddedStore::open(EmbeddedOptions::new(dir)))
                    .await?
                    .context("cannot open the embedded store")?;
            out.set("open_s", t0.elapsed().as_secs_f64());
            workload::run(Arc::new(store.clone()), plan, &mut out).await;
            out.set("rss.peak", read_rss(None)?.peak);
            tokio::task::spawn_blocking(move || store.close()).await?;
        }
        ChildRole::Memory => memory::run(plan, &mut out).await?,
    }
    print!("{}", out.to_lines());
    Ok(())
}

/// Run `role` in a child process with its store in `dir`; returns what it
/// measured. A child that fails or times out is an error (with the
/// measurements it printed, if any, lost).
pub async fn spawn(role: ChildRole, plan: &Plan, dir: &Path) -> anyhow::Result<Measurements> {
    let exe = std::env::current_exe().context("cannot find the rkube executable to re-run")?;
    let mut child = Command::new(&exe)
        .args(plan.child_args(role, dir))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    let stdout = child
        .stdout
        .take()
        .context("the child's stdout is not piped")?;
    let collect = async {
        let mut out = Measurements::default();
        let mut lines = BufReader::new(stdout).lines();
        while let Some(line) = lines.next_line().await? {
            if !out.parse_line(&line) {
                println!("{line}");
            }
        }
        let status = child.wait().await?;
        anyhow::Ok((out, status))
    };
    let bound = plan.child_timeout();
    let (out, status) = tokio::time::timeout(bound, collect)
        .await
        .with_context(|| format!("the {role:?} child process ran longer than {bound:?}"))??;
    if !status.success() {
        anyhow::bail!("the {role:?} child process failed ({status})");
    }
    Ok(out)
}
