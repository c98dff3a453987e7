//! Rows as kubectl shows them against kube-apiserver.

use serde_json::{json, Value};

use super::*;

const NOW: i64 = 1_700_000_000; // 2023-11-14T22:13:20Z

fn opts() -> TableOptions {
    TableOptions {
        api_version: "meta.k8s.io/v1",
        include: IncludeObject::Metadata,
        headers: true,
        now: NOW,
    }
}

fn cells(group: &str, kind: &str, o: Value) -> Vec<Value> {
    row(group, kind, &o, &opts())["cells"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn pods() {
    let running = json!({"metadata": {"name": "web", "creationTimestamp": "2023-11-14T22:08:10Z"},
        "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n1"},
        "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}], "containerStatuses": [
            {"name": "a", "ready": true, "restartCount": 2, "state": {"running": {}},
             "lastState": {"terminated": {"finishedAt": "2023-11-14T22:10:20Z"}}},
            {"name": "b", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
    assert_eq!(
        cells("", "Pod", running),
        [
            json!("web"),
            json!("1/2"),
            json!("CrashLoopBackOff"),
            json!("2 (3m ago)"),
            json!("5m10s"),
            json!("10.0.0.5"),
            json!("n1"),
            json!("<none>"),
            json!("<none>")
        ]
    );
    let pending = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}],
        "initContainers": [{"name": "i1"}, {"name": "i2"}]},
        "status": {"phase": "Pending", "initContainerStatuses": [{"name": "i1", "state": {"running": {}}}]}});
    assert_eq!(cells("", "Pod", pending)[2], "Init:0/2");
    let deleting = json!({"metadata": {"name": "d", "deletionTimestamp": "2023-11-14T22:13:00Z"},
        "spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Running"}});
    assert_eq!(cells("", "Pod", deleting)[2], "Terminating");
    let done = json!({"metadata": {"name": "j"}, "spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Succeeded"}});
    assert_eq!(
        row("", "Pod", &done, &opts())["conditions"][0]["reason"],
        "Succeeded"
    );
}

#[test]
fn services_deployments_and_the_default() {
    let svc = json!({"metadata": {"name": "s"}, "spec": {"type": "NodePort", "clusterIPs": ["10.96.0.10"],
        "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
        "selector": {"app": "web", "tier": "a"}}});
    assert_eq!(
        cells("", "Service", svc),
        [
            json!("s"),
            json!("NodePort"),
            json!("10.96.0.10"),
            json!("<none>"),
            json!("80:30080/TCP,53/UDP"),
            json!("<unknown>"),
            json!("app=web,tier=a")
        ]
    );
    let d = json!({"metadata": {"name": "d"}, "spec": {"replicas": 3,
        "selector": {"matchLabels": {"app": "d"}, "matchExpressions": [{"key": "env", "operator": "In", "values": ["b", "a"]}]},
        "template": {"spec": {"containers": [{"name": "c1", "image": "i1"}, {"name": "c2", "image": "i2"}]}}},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
    assert_eq!(
        cells("apps", "Deployment", d),
        [
            json!("d"),
            json!("2/3"),
            json!(3),
            json!(2),
            json!("<unknown>"),
            json!("c1,c2"),
            json!("i1,i2"),
            json!("app=d,env in (a,b)")
        ]
    );
    let role = json!({"metadata": {"name": "r", "creationTimestamp": "2023-01-02T03:04:05Z"}});
    let t = table(
        "rbac.authorization.k8s.io",
        "Role",
        &[role],
        json!({"resourceVersion": "5"}),
        &opts(),
    );
    assert_eq!(t["columnDefinitions"][1]["name"], "Created At");
    assert_eq!(t["rows"][0]["cells"], json!(["r", "2023-01-02T03:04:05Z"]));
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(t["columnDefinitions"][0]["format"], "name");
}

#[test]
fn every_kind_prints_one_cell_per_column() {
    for (g, k) in [
        ("", "Pod"),
        ("", "Service"),
        ("", "Endpoints"),
        ("", "Node"),
        ("", "Namespace"),
        ("", "ConfigMap"),
        ("", "Secret"),
        ("", "ServiceAccount"),
        ("", "Event"),
        ("", "PersistentVolume"),
        ("", "PersistentVolumeClaim"),
        ("", "ResourceQuota"),
        ("apps", "Deployment"),
        ("apps", "ReplicaSet"),
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("apps", "ControllerRevision"),
        ("batch", "Job"),
        ("batch", "CronJob"),
        ("coordination.k8s.io", "Lease"),
        ("discovery.k8s.io", "EndpointSlice"),
        ("networking.k8s.io", "Ingress"),
        ("networking.k8s.io", "IngressClass"),
        ("networking.k8s.io", "NetworkPolicy"),
        ("policy", "PodDisruptionBudget"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("", "PodTemplate"),
        ("", "ReplicationController"),
        ("", "ComponentStatus"),
        ("node.k8s.io", "RuntimeClass"),
        ("apiregistration.k8s.io", "APIService"),
        ("rbac.authorization.k8s.io", "RoleBinding"),
        ("", "LimitRange"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSINode"),
        ("storage.k8s.io", "CSIStorageCapacity"),
        ("storage.k8s.io", "VolumeAttachment"),
        ("storage.k8s.io", "VolumeAttributesClass"),
    ] {
        for o in [
            json!({}),
            json!(null),
            json!({"metadata": {"name": 3}, "spec": [], "status": "x"}),
        ] {
            let t = table(g, k, &[o], Value::Null, &opts());
            let cols = t["columnDefinitions"].as_array().map_or(0, Vec::len);
            assert_eq!(
                t["rows"][0]["cells"].as_array().map_or(0, Vec::len),
                cols,
                "{g}/{k}"
            );
        }
    }
}

#[test]
fn volumes_and_claims() {
    let pv = json!({"metadata": {"name": "pvc-1", "creationTimestamp": "2023-11-14T22:08:20Z"},
        "spec": {"capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOncePod", "ReadWriteOnce", "ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "local-path",
            "claimRef": {"namespace": "default", "name": "data"}, "volumeMode": "Filesystem"},
        "status": {"phase": "Bound"}});
    assert_eq!(
        cells("", "PersistentVolume", pv),
        [
            json!("pvc-1"),
            json!("1Gi"),
            json!("RWO,RWOP"),
            json!("Delete"),
            json!("Bound"),
            json!("default/data"),
            json!("local-path"),
            json!("<unset>"),
            json!(""),
            json!("5m"),
            json!("Filesystem"),
        ]
    );
    let pending = json!({"metadata": {"name": "data", "creationTimestamp": "2023-11-14T22:08:20Z"},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "local-path",
            "resources": {"requests": {"storage": "1Gi"}}},
        "status": {"phase": "Pending"}});
    assert_eq!(
        cells("", "PersistentVolumeClaim", pending),
        [
            json!("data"),
            json!("Pending"),
            json!(""),
            json!(""),
            json!(""),
            json!("local-path"),
            json!("<unset>"),
            json!("5m"),
            json!("<unset>"),
        ]
    );
    let bound = json!({"metadata": {"name": "data", "deletionTimestamp": "2023-11-14T22:13:00Z"},
        "spec": {"volumeName": "pvc-1", "volumeMode": "Filesystem"},
        "status": {"phase": "Bound", "capacity": {"storage": "2Gi"}, "accessModes": ["ReadWriteMany"]}});
    let got = cells("", "PersistentVolumeClaim", bound);
    assert_eq!(got[1], "Terminating");
    assert_eq!(got[2], "pvc-1");
    assert_eq!(got[3], "2Gi");
    assert_eq!(got[4], "RWX");
}
