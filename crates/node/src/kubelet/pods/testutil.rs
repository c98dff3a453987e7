#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

//! Builders for the pure tests of `plan` and `status`: pods from JSON,
//! sandboxes and container runs at fixed times.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::Pod;
use rkube_cri::{ContainerState, ContainerStatus, SandboxInfo, SandboxState};
use serde_json::{json, Value};

/// A fixed instant `s` seconds after a base time.
pub fn t(s: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s)
}

/// A pod `p` in `default` with uid `u1` and the given spec.
pub fn pod(spec: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
        "spec": spec,
    }))
    .unwrap()
}

pub fn sandbox(id: &str, attempt: u32, ready: bool) -> SandboxInfo {
    SandboxInfo {
        id: id.to_string(),
        pod_uid: "u1".into(),
        pod_name: "p".into(),
        pod_namespace: "default".into(),
        attempt,
        state: if ready {
            SandboxState::Ready
        } else {
            SandboxState::NotReady
        },
        ip: Some("10.244.0.5".parse().unwrap()),
        created_at: t(0),
    }
}

/// A running container run.
pub fn running(id: &str, name: &str, sb: &str, attempt: u32, started: u64) -> ContainerStatus {
    ContainerStatus {
        id: id.to_string(),
        sandbox_id: sb.to_string(),
        name: name.to_string(),
        attempt,
        state: ContainerState::Running,
        created_at: t(started),
        started_at: Some(t(started)),
        finished_at: None,
        exit_code: 0,
        reason: String::new(),
        message: String::new(),
        image: "busybox".into(),
        image_id: "sha256:abc".into(),
        log_path: PathBuf::new(),
        labels: BTreeMap::new(),
    }
}

/// An exited container run.
pub fn exited(
    id: &str,
    name: &str,
    sb: &str,
    attempt: u32,
    code: i32,
    started: u64,
    finished: u64,
) -> ContainerStatus {
    ContainerStatus {
        state: ContainerState::Exited,
        finished_at: Some(t(finished)),
        exit_code: code,
        reason: if code == 0 { "Completed" } else { "Error" }.into(),
        ..running(id, name, sb, attempt, started)
    }
}
