//! Container lifecycle hooks: `postStart` (after the container started;
//! its failure kills the container) and `preStop` (before SIGTERM, within
//! the grace period), with exec, httpGet and sleep handlers.

use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, LifecycleHandler};

use crate::kubelet::pods::context::Context;
use crate::kubelet::pods::probes::check;
use crate::kubelet::pods::probes::http;

/// Which hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    PostStart,
    PreStop,
}

/// The container's handler for `hook`, if any.
pub fn handler(c: &Container, hook: Hook) -> Option<&LifecycleHandler> {
    let l = c.lifecycle.as_ref()?;
    match hook {
        Hook::PostStart => l.post_start.as_ref(),
        Hook::PreStop => l.pre_stop.as_ref(),
    }
}

/// Run the handler, at most `timeout`; the error says what failed.
pub async fn run(
    ctx: &Context,
    c: &Container,
    container_id: &str,
    h: &LifecycleHandler,
    ip: IpAddr,
    timeout: Duration,
) -> Result<(), String> {
    if let Some(e) = &h.exec {
        let cmd = e.command.clone().unwrap_or_default();
        return check::exec(ctx, container_id, &cmd, timeout)
            .await
            .map_err(|out| format!("command '{}' exited with error: {out}", cmd.join(" ")));
    }
    if let Some(a) = &h.http_get {
        let target = check::http_target(a, c, ip)?;
        let code = http::get(&target, timeout).await?;
        return if (200..400).contains(&code) {
            Ok(())
        } else {
            Err(format!(
                "HTTP lifecycle hook ({}) for Container \"{}\" failed - error: received status code {code}",
                target.path, c.name
            ))
        };
    }
    if let Some(s) = &h.sleep {
        let d = Duration::from_secs(s.seconds.max(0) as u64).min(timeout);
        tokio::time::sleep(d).await;
        return Ok(());
    }
    // tcpSocket is accepted and does nothing, as the kubelet does.
    Ok(())
}
