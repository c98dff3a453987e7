//! ComponentStatuses (core/v1, deprecated, read-only): `scheduler` and
//! `controller-manager`, healthy while their leader Lease in
//! `kube-system` is held and renewed in time (kube-apiserver probes their
//! `/healthz` ports instead; here they may run in other processes on
//! other machines, and their Lease says the same), and `etcd-0`, healthy
//! while the store answers. Written by the API server at start and when a
//! health changes (looked at every second); clients can only get and list them.

use std::time::{SystemTime, UNIX_EPOCH};

use rkube_apimachinery::table::parse_rfc3339;
use rkube_apimachinery::ApiError;
use serde_json::{json, Value};

use super::super::state::ApiState;
use super::super::store_access::read;
use super::ensure::{ensure, info, SystemObjectsConfig};

/// The components and the leader Lease (in `kube-system`) of each.
const LEASED: [(&str, &str); 2] = [
    ("scheduler", "kube-scheduler"),
    ("controller-manager", "kube-controller-manager"),
];

/// How often the health is looked at.
const POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// Health: `Ok(message)` or `Err(error)`.
type Health = Result<String, String>;

/// The health a leader Lease shows at `now` (seconds since the epoch).
pub fn lease_health(lease: Option<&Value>, lease_name: &str, now: i64) -> Health {
    let Some(lease) = lease else {
        return Err(format!("no leader lease kube-system/{lease_name}"));
    };
    let holder = lease
        .pointer("/spec/holderIdentity")
        .and_then(Value::as_str)
        .unwrap_or("");
    let renewed = lease
        .pointer("/spec/renewTime")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339);
    let duration = lease
        .pointer("/spec/leaseDurationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    match renewed {
        Some(at) if !holder.is_empty() && at + duration >= now => Ok("ok".into()),
        _ => Err(format!(
            "leader lease kube-system/{lease_name} is not held or has expired"
        )),
    }
}

/// A ComponentStatus object with its `Healthy` condition.
pub fn component_status(name: &str, health: &Health) -> Value {
    let condition = match health {
        Ok(message) => json!({"type": "Healthy", "status": "True", "message": message}),
        Err(error) => json!({"type": "Healthy", "status": "False", "error": error}),
    };
    json!({
        "apiVersion": "v1",
        "kind": "ComponentStatus",
        "metadata": {"name": name},
        "conditions": [condition],
    })
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// One pass: compute each component's health and write what changed.
async fn reconcile(state: &ApiState) -> Result<(), ApiError> {
    let statuses = info(state, "", "componentstatuses")?;
    let leases = info(state, "coordination.k8s.io", "leases")?;
    let store = state.store.as_ref();
    let mut all = Vec::new();
    for (component, lease_name) in LEASED {
        let lease = match read(store, &leases, Some("kube-system"), lease_name).await {
            Ok((lease, _)) => Some(lease),
            Err(ApiError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        all.push((component, lease_health(lease.as_ref(), lease_name, now())));
    }
    let etcd = match store.current_revision().await {
        Ok(_) => Ok("ok".to_string()),
        Err(e) => Err(e.to_string()),
    };
    all.push(("etcd-0", etcd));
    for (name, health) in all {
        ensure(
            state,
            &statuses,
            None,
            &component_status(name, &health),
            &["/conditions"],
            false,
        )
        .await?;
    }
    Ok(())
}

/// Reconcile now and then every second, forever. kube-apiserver probes
/// on every read; a pass here reads two Leases and writes only a health
/// that changed, so `kubectl get cs` right after `rkube up` already sees
/// the components that took their Lease a moment after the server started.
pub(super) async fn run(state: &ApiState, _config: &SystemObjectsConfig) {
    loop {
        if let Err(e) = reconcile(state).await {
            tracing::warn!(error = %e, "cannot write the component statuses");
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renewed_lease_is_healthy_an_expired_or_missing_one_is_not() {
        let lease = json!({"spec": {"holderIdentity": "a", "leaseDurationSeconds": 15,
            "renewTime": "2026-12-07T12:00:00.000000Z"}});
        let at = parse_rfc3339("2026-12-07T12:00:10Z").unwrap_or_default();
        assert_eq!(
            lease_health(Some(&lease), "kube-scheduler", at),
            Ok("ok".into())
        );
        assert!(lease_health(Some(&lease), "kube-scheduler", at + 10).is_err());
        assert!(lease_health(None, "kube-scheduler", at).is_err());
        let row = component_status("scheduler", &Err("down".into()));
        assert_eq!(row["conditions"][0]["status"], "False");
        assert_eq!(row["conditions"][0]["error"], "down");
    }
}
