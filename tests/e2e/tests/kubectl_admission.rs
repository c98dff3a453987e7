//! The built-in admission plugins through kubectl: ServiceAccount and
//! DefaultTolerationSeconds defaults on pods, LimitRanger defaults and
//! bounds, PodSecurity by namespace label (enforce and warn), and
//! ResourceQuota counting and refusing.

use rkube_e2e::Cluster;
use serde_json::Value;

fn json(s: &str) -> Value {
    serde_json::from_str(s).expect("kubectl printed JSON")
}

#[test]
fn admission_plugins_default_bound_and_refuse_pods() {
    let c = Cluster::up();
    c.ok(&["create", "namespace", "team"]);

    // ServiceAccount + DefaultTolerationSeconds.
    c.ok(&["run", "plain", "--image=busybox", "-n", "team"]);
    let pod = json(&c.ok(&["get", "pod", "plain", "-n", "team", "-o", "json"]));
    assert_eq!(pod["spec"]["serviceAccountName"], "default");
    let tolerations = pod["spec"]["tolerations"].to_string();
    assert!(
        tolerations.contains("node.kubernetes.io/not-ready")
            && tolerations.contains("node.kubernetes.io/unreachable")
            && tolerations.contains("300"),
        "{tolerations}"
    );

    // LimitRanger: defaults, then a maximum.
    let lr = c.file(
        "limits.yaml",
        "apiVersion: v1\nkind: LimitRange\nmetadata: {name: limits, namespace: team}\nspec:\n  limits:\n  - type: Container\n    default: {cpu: 500m, memory: 128Mi}\n    defaultRequest: {cpu: 100m, memory: 64Mi}\n    max: {cpu: '1'}\n",
    );
    c.ok(&["apply", "-f", lr.to_str().expect("path")]);
    c.ok(&["run", "limited", "--image=busybox", "-n", "team"]);
    let res = json(&c.ok(&[
        "get",
        "pod",
        "limited",
        "-n",
        "team",
        "-o",
        "jsonpath={.spec.containers[0].resources}",
    ]));
    assert_eq!(res["limits"]["cpu"], "500m");
    assert_eq!(res["requests"]["memory"], "64Mi");
    let big = c.fails(&[
        "run", "big", "--image=busybox", "-n", "team",
        "--overrides", r#"{"spec":{"containers":[{"name":"big","image":"busybox","resources":{"limits":{"cpu":"2"}}}]}}"#,
    ]);
    assert!(
        big.contains(
            "pods \"big\" is forbidden: maximum cpu usage per Container is 1, but limit is 2"
        ),
        "{big}"
    );

    // ResourceQuota: counted from the pods there, refused past hard.
    let q = c.file(
        "quota.yaml",
        "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: q, namespace: team}\nspec:\n  hard: {pods: '3'}\n",
    );
    c.ok(&["apply", "-f", q.to_str().expect("path")]);
    c.ok(&["run", "third", "--image=busybox", "-n", "team"]);
    // Admission charges the quota at create; the quota controller's
    // recount from its informer may lag a moment behind.
    c.wait_until(
        "the quota counts three pods",
        std::time::Duration::from_secs(10),
        || {
            c.ok(&[
                "get",
                "quota",
                "q",
                "-n",
                "team",
                "-o",
                "jsonpath={.status.used.pods}",
            ]) == "3"
        },
    );
    let over = c.fails(&["run", "fourth", "--image=busybox", "-n", "team"]);
    assert!(
        over.contains("pods \"fourth\" is forbidden: exceeded quota: q, requested: pods=1, used: pods=3, limited: pods=3"),
        "{over}"
    );
    c.ok(&[
        "delete",
        "pod",
        "plain",
        "-n",
        "team",
        "--grace-period=0",
        "--force",
    ]);
    c.ok(&["run", "fourth", "--image=busybox", "-n", "team"]);

    // PodSecurity: baseline enforced, restricted warned.
    c.ok(&[
        "label",
        "namespace",
        "team",
        "pod-security.kubernetes.io/enforce=baseline",
        "pod-security.kubernetes.io/warn=restricted",
    ]);
    c.ok(&["delete", "quota", "q", "-n", "team"]);
    let privileged = c.fails(&[
        "run",
        "priv",
        "--image=busybox",
        "-n",
        "team",
        "--privileged",
    ]);
    assert!(
        privileged.contains(
            "pods \"priv\" is forbidden: violates PodSecurity \"baseline:latest\": privileged (container \"priv\" must not set securityContext.privileged=true)"
        ),
        "{privileged}"
    );
    let out = c.kubectl(&["run", "warned", "--image=busybox", "-n", "team"]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Warning: would violate PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false"),
        "{stderr}"
    );
}
