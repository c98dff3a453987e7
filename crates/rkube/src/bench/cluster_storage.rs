//! `rkube bench cluster`, its storage half: StatefulSets of simulated pods
//! (`podManagementPolicy: Parallel`) created once without claims and once
//! with one claim per pod (a `volumeClaimTemplates` entry of the
//! `local-path` class, WaitForFirstConsumer: the scheduler picks the node,
//! the local-path provisioner makes the volume there, the PV controller
//! binds it, and only then is the pod bound). Each is timed from the first
//! create until every pod is Ready and, with claims, every claim Bound;
//! the table shows both and their ratio (the target: claims add at
//! most 50 %).

use std::collections::HashSet;
use std::fmt::Write;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use serde_json::json;

use super::cluster_plan::{Outcome, Plan};
use super::duration::human_seconds;
use super::proc_status::human_bytes;

/// The class the claims use: rkube's default, ensured by the API server.
const CLASS: &str = "local-path";

/// The StatefulSet `i` of `replicas` pods, with a claim per pod or not.
fn statefulset(i: usize, replicas: usize, claims: bool) -> serde_json::Value {
    let name = format!("s{i}");
    let mut container = json!({"name": "c", "image": "registry.local/app:1",
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}});
    let mut spec = json!({
        "replicas": replicas,
        "serviceName": name,
        "podManagementPolicy": "Parallel",
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": {}},
    });
    if claims {
        container["volumeMounts"] = json!([{"name": "data", "mountPath": "/data"}]);
        spec["volumeClaimTemplates"] = json!([{
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": CLASS,
                     "resources": {"requests": {"storage": "1Gi"}}},
        }]);
    }
    spec["template"]["spec"]["containers"] = json!([container]);
    json!({"metadata": {"name": name}, "spec": spec})
}

/// Creates `count` StatefulSets of `replicas` in namespace `bench`.
pub(super) async fn create_statefulsets(
    client: &kube::Client,
    count: usize,
    replicas: usize,
    claims: bool,
) -> anyhow::Result<()> {
    let api: Api<StatefulSet> = Api::namespaced(client.clone(), "bench");
    let creates = (1..=count).map(|i| {
        let set: Result<StatefulSet, _> = serde_json::from_value(statefulset(i, replicas, claims));
        let api = api.clone();
        async move {
            api.create(&PostParams::default(), &set?)
                .await
                .map_err(anyhow::Error::from)
        }
    });
    let results: Vec<anyhow::Result<StatefulSet>> = futures::stream::iter(creates)
        .buffer_unordered(16)
        .collect()
        .await;
    for r in results {
        r?;
    }
    Ok(())
}

/// Watches the claims until `total` are Bound; how many were.
pub(super) async fn observe_claims(
    claims: Api<PersistentVolumeClaim>,
    total: usize,
    timeout: Duration,
) -> anyhow::Result<usize> {
    let mut bound: HashSet<String> = HashSet::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut events = watcher(claims, watcher::Config::default()).boxed();
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    while bound.len() < total {
        let event = tokio::select! {
            e = events.next() => e,
            _ = &mut deadline => anyhow::bail!(
                "only {} of {total} claims Bound in {} ({} created; the local-path \
                 provisioner and the PV controller bind them, the `{CLASS}` StorageClass \
                 must exist)",
                bound.len(),
                human_seconds(timeout.as_secs_f64()),
                seen.len(),
            ),
        };
        let Some(event) = event else {
            anyhow::bail!("the claim watch ended");
        };
        let claim = match event? {
            watcher::Event::Apply(c) | watcher::Event::InitApply(c) => c,
            _ => continue,
        };
        let uid = claim.metadata.uid.clone().unwrap_or_default();
        seen.insert(uid.clone());
        if claim.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound") {
            bound.insert(uid);
        }
    }
    Ok(bound.len())
}

/// The table of the two StatefulSet scenarios and their ratio.
pub(super) fn render(
    plan: &Plan,
    plain: &anyhow::Result<Outcome>,
    claimed: &anyhow::Result<Outcome>,
) -> String {
    let mut out = String::new();
    let shape = format!(
        "{} StatefulSets × {}",
        plan.statefulsets, plan.per_statefulset
    );
    let _ = writeln!(
        out,
        "| measurement | {shape}, no claims | {shape}, a `{CLASS}` claim each | with / without | target |"
    );
    let _ = writeln!(out, "| --- | --- | --- | --- | --- |");
    let cell = |o: &anyhow::Result<Outcome>, f: &dyn Fn(&Outcome) -> String| match o {
        Ok(o) => f(o),
        Err(e) => format!("failed: {e:#}"),
    };
    let ratio = |f: &dyn Fn(&Outcome) -> f64| match (plain, claimed) {
        (Ok(a), Ok(b)) if f(a) > 0.0 => format!("{:.2}×", f(b) / f(a)),
        _ => "-".into(),
    };
    type Row<'a> = (
        &'a str,
        &'a dyn Fn(&Outcome) -> String,
        Option<&'a dyn Fn(&Outcome) -> f64>,
        &'a str,
    );
    let secs = |d: Duration| human_seconds(d.as_secs_f64());
    let rows: [Row; 7] = [
        ("pods Ready", &|o| o.pods.to_string(), None, ""),
        (
            "claims Bound",
            &|o| match o.claims {
                0 => "-".into(),
                n => n.to_string(),
            },
            None,
            "",
        ),
        (
            "time to all Ready (and claims Bound)",
            &|o| secs(o.all_ready),
            Some(&|o| o.all_ready.as_secs_f64()),
            "≤ 1.50×",
        ),
        (
            "pod startup p99",
            &|o| {
                o.startup
                    .as_ref()
                    .map_or("-".into(), |p| human_seconds(p.p99))
            },
            Some(&|o| o.startup.as_ref().map_or(0.0, |p| p.p99)),
            "",
        ),
        (
            "  of which created → bound, p99",
            &|o| {
                o.binding
                    .as_ref()
                    .map_or("-".into(), |p| human_seconds(p.p99))
            },
            Some(&|o| o.binding.as_ref().map_or(0.0, |p| p.p99)),
            "",
        ),
        (
            "peak RSS of rkube up",
            &|o| human_bytes(o.peak_rss as f64),
            Some(&|o| o.peak_rss as f64),
            "",
        ),
        (
            "CPU time of rkube up",
            &|o| format!("{:.1} s", o.cpu_s),
            Some(&|o| o.cpu_s),
            "",
        ),
    ];
    for (label, f, r, target) in rows {
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} | {target} |",
            cell(plain, f),
            cell(claimed, f),
            r.map_or(String::new(), |r| ratio(r)),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_come_from_a_template_of_the_local_path_class() {
        let with: StatefulSet = serde_json::from_value(statefulset(1, 100, true)).expect("set");
        let spec = with.spec;
        assert_eq!(spec.pod_management_policy.as_deref(), Some("Parallel"));
        let t = &spec.volume_claim_templates.expect("templates")[0];
        assert_eq!(
            t.spec
                .as_ref()
                .and_then(|s| s.storage_class_name.as_deref()),
            Some(CLASS)
        );
        let without: StatefulSet = serde_json::from_value(statefulset(1, 100, false)).expect("set");
        assert!(without.spec.volume_claim_templates.is_none());
    }

    #[test]
    fn the_table_shows_the_ratio_and_failures() {
        let plan = Plan {
            nodes: 20,
            replicas: 0,
            deployments: 0,
            per_deployment: 0,
            statefulsets: 2,
            per_statefulset: 10,
            timeout: Duration::from_secs(60),
        };
        let a = Outcome {
            pods: 20,
            all_ready: Duration::from_secs(2),
            ..Outcome::default()
        };
        let b = Outcome {
            pods: 20,
            claims: 20,
            all_ready: Duration::from_secs(3),
            ..Outcome::default()
        };
        let t = render(&plan, &Ok(a), &Ok(b));
        assert!(
            t.contains("| time to all Ready (and claims Bound) | 2.00 s | 3.00 s | 1.50× |"),
            "{t}"
        );
        let failed = render(
            &plan,
            &Ok(Outcome::default()),
            &Err(anyhow::anyhow!("only 0 of 20 claims Bound")),
        );
        assert!(
            failed.contains("failed: only 0 of 20 claims Bound"),
            "{failed}"
        );
    }
}
