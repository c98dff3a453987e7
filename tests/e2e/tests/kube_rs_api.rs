//! kube-rs against what its typed API does beyond CRUD: the pod
//! subresources that act (`binding` assigns a node once, a second binding
//! is a 409; `eviction` deletes a pod unless a PodDisruptionBudget allows
//! no disruption, 429 TooManyRequests), the metadata-only API, paged
//! lists, and a watcher that stops reading for a while.

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, EvictParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use rkube_e2e::Cluster;
use serde_json::json;

async fn client(c: &Cluster) -> Client {
    let kc = Kubeconfig::read_from(c.kubeconfig()).expect("read kubeconfig");
    let mut config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    // kube-rs retries 429s by default; the test wants to see the first one.
    config.default_retry = false;
    Client::try_from(config).expect("client")
}

fn api_code(e: kube::Error) -> u16 {
    match e {
        kube::Error::Api(s) => s.code,
        other => panic!("not an API error: {other}"),
    }
}

#[tokio::test]
async fn binding_and_eviction() {
    // The API's own semantics: no scheduler binding the pod, no disruption
    // controller recounting the budget the test writes.
    let c = Cluster::up_with(&["--disable-controller-manager", "--disable-scheduler"]);
    let client = client(&c).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("create");

    // Bind it, as a scheduler does.
    let binding = json!({"apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": "web"}, "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}});
    let status: kube::core::Status = pods
        .create_subresource("binding", "web", &PostParams::default(), &binding)
        .await
        .expect("bind");
    assert_eq!(status.code, 201);
    let bound = pods.get("web").await.expect("get");
    assert_eq!(
        bound.spec.as_ref().and_then(|s| s.node_name.as_deref()),
        Some("node-1")
    );
    let scheduled = bound
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"))
        .map(|c| c.status.clone());
    assert_eq!(scheduled.as_deref(), Some("True"));
    let again = pods
        .create_subresource::<_, kube::core::Status>(
            "binding",
            "web",
            &PostParams::default(),
            &binding,
        )
        .await
        .expect_err("bound twice");
    assert_eq!(api_code(again), 409);

    // A running pod covered by a budget that allows nothing stays.
    pods.patch_status(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Running"}})),
    )
    .await
    .expect("running");
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}
    }))
    .expect("pdb");
    pdbs.create(&PostParams::default(), &pdb)
        .await
        .expect("pdb");
    pdbs.patch_status(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {
        "disruptionsAllowed": 0, "currentHealthy": 1, "desiredHealthy": 1, "expectedPods": 1}})),
    )
    .await
    .expect("pdb status");
    let evict = EvictParams {
        delete_options: Some(DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        }),
        ..Default::default()
    };
    let refused = pods.evict("web", &evict).await.expect_err("budget");
    assert_eq!(api_code(refused), 429);
    assert!(pods.get_opt("web").await.expect("get").is_some());

    // Once the budget allows one disruption, the eviction deletes the pod.
    pdbs.patch_status(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"disruptionsAllowed": 1}})),
    )
    .await
    .expect("pdb status");
    let done = pods.evict("web", &evict).await.expect("evict");
    assert_eq!(done.code, 201);
    // kube-rs sends the delete options as `delete_options`, which the API
    // (kube-apiserver too) does not read: the bound, running pod gets the
    // default grace period and waits for its node, marked for deletion.
    let evicted = pods.get("web").await.expect("get");
    assert!(evicted.metadata.deletion_timestamp.is_some());
    assert_eq!(evicted.metadata.deletion_grace_period_seconds, Some(30));
}

/// kube-rs' metadata API asks only for `PartialObjectMetadata(List)` (no
/// fallback): get, list and watch answer with metadata only.
#[tokio::test]
async fn metadata_only_get_list_and_watch() {
    use futures::StreamExt;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{ListParams, WatchEvent, WatchParams};

    let c = Cluster::up();
    let client = client(&c).await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "meta", "labels": {"k": "v"}}, "data": {"secret": "not sent"}
    }))
    .expect("cm");
    cms.create(&PostParams::default(), &cm)
        .await
        .expect("create");

    let one = cms.get_metadata("meta").await.expect("get metadata");
    assert_eq!(
        one.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("k"))
            .map(String::as_str),
        Some("v")
    );
    let list = cms
        .list_metadata(&ListParams::default())
        .await
        .expect("list metadata");
    assert_eq!(list.items.len(), 1);
    let rv = list.metadata.resource_version.clone().expect("list rv");

    let mut events = cms
        .watch_metadata(&WatchParams::default().timeout(5), &rv)
        .await
        .expect("watch metadata")
        .boxed();
    let cm2: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "meta2"}})).expect("cm");
    cms.create(&PostParams::default(), &cm2)
        .await
        .expect("create");
    let first = events.next().await.expect("an event").expect("decoded");
    match first {
        WatchEvent::Added(m) => assert_eq!(m.metadata.name.as_deref(), Some("meta2")),
        other => panic!("expected ADDED, got {other:?}"),
    }
}

/// A watcher that stops reading while thousands of changes go by (more than
/// the server keeps in memory for its resource's watchers, more than the
/// connection buffers) still gets every one, once, in order; a watcher that
/// kept up gets the same.
#[tokio::test]
async fn a_watcher_left_far_behind_still_gets_every_change_in_order() {
    use futures::{StreamExt, TryStreamExt};
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{ListParams, WatchEvent, WatchParams};

    const N: usize = 6_000;
    let c = Cluster::up();
    let client = client(&c).await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let rv = cms
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("list rv");
    let params = WatchParams::default().timeout(120);
    let stalled = cms.watch(&params, &rv).await.expect("watch").boxed();
    let prompt = cms.watch(&params, &rv).await.expect("watch").boxed();
    let collect = |events: futures::stream::BoxStream<
        'static,
        kube::Result<WatchEvent<ConfigMap>>,
    >| async move {
        events
            .map_ok(|e| match e {
                WatchEvent::Added(cm) => (
                    cm.metadata.name.unwrap_or_default(),
                    cm.metadata
                        .resource_version
                        .and_then(|rv| rv.parse::<u64>().ok())
                        .unwrap_or_default(),
                ),
                other => panic!("expected ADDED, got {other:?}"),
            })
            .take(N)
            .try_collect::<Vec<_>>()
            .await
            .expect("watch events")
    };
    let prompt = tokio::spawn(collect(prompt));

    // 6,000 config maps of 8 KiB: about 50 MB of events.
    let data = "x".repeat(8 * 1024);
    futures::stream::iter(0..N)
        .map(|i| {
            let cms = cms.clone();
            let cm: ConfigMap = serde_json::from_value(json!({
                "metadata": {"name": format!("cm-{i:05}")}, "data": {"d": data}
            }))
            .expect("cm");
            async move { cms.create(&PostParams::default(), &cm).await }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .expect("creates");

    let late = collect(stalled).await;
    let prompt = prompt.await.expect("prompt watcher");
    for (who, seen) in [("stalled", &late), ("prompt", &prompt)] {
        assert_eq!(seen.len(), N, "{who} watcher");
        assert!(
            seen.windows(2).all(|w| w[0].1 < w[1].1),
            "{who} watcher: resourceVersions not increasing"
        );
        let mut names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), N, "{who} watcher: each config map once");
    }
    assert_eq!(late, prompt, "both watchers saw the same history");
    assert!(
        c.log().contains("left behind by its feed"),
        "the stalled watcher was served past the server's in-memory window"
    );
}

/// kube-rs server-side apply (`Patch::Apply`): create by apply, a
/// conflicting apply by another manager is a 409 naming the field, and
/// `force()` takes it.
#[tokio::test]
async fn server_side_apply_through_kube_rs() {
    use k8s_openapi::api::core::v1::ConfigMap;
    let c = Cluster::up();
    let client = client(&c).await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let doc = |v: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"level": v}});
    let made = cms
        .patch("cfg", &PatchParams::apply("alpha"), &Patch::Apply(doc("1")))
        .await
        .expect("apply creates");
    assert_eq!(
        made.data.and_then(|d| d.get("level").cloned()).as_deref(),
        Some("1")
    );
    let e = cms
        .patch("cfg", &PatchParams::apply("beta"), &Patch::Apply(doc("2")))
        .await
        .expect_err("conflict");
    match e {
        kube::Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
            assert!(
                s.message.contains("conflict with \"alpha\": .data.level"),
                "{}",
                s.message
            );
        }
        other => panic!("not an API error: {other}"),
    }
    let forced = cms
        .patch(
            "cfg",
            &PatchParams::apply("beta").force(),
            &Patch::Apply(doc("2")),
        )
        .await
        .expect("forced apply");
    assert_eq!(
        forced.data.and_then(|d| d.get("level").cloned()).as_deref(),
        Some("2")
    );
    let managers: Vec<String> = forced
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(
        managers,
        vec!["beta".to_string()],
        "alpha lost its only field"
    );
}

/// Server-side apply of a body without `metadata.name` (as some clients
/// send it): applied to the existing object on the URL, which keeps its
/// name; an apply that would create the object still needs the name.
#[tokio::test]
async fn server_side_apply_without_a_name() {
    let c = Cluster::up();
    let client = client(&c).await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let named = json!({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "baz"}, "data": {"a": "1"}});
    cms.patch("baz", &PatchParams::apply("tester"), &Patch::Apply(named))
        .await
        .expect("apply creates");
    let nameless = json!({"apiVersion": "v1", "kind": "ConfigMap",
                          "data": {"a": "1", "b": "2"}});
    let applied = cms
        .patch(
            "baz",
            &PatchParams::apply("tester"),
            &Patch::Apply(&nameless),
        )
        .await
        .expect("apply without a name merges into the live object");
    assert_eq!(applied.metadata.name.as_deref(), Some("baz"));
    let data = applied.data.unwrap_or_default();
    assert_eq!(
        (
            data.get("a").map(String::as_str),
            data.get("b").map(String::as_str)
        ),
        (Some("1"), Some("2"))
    );
    match cms
        .patch(
            "nosuch",
            &PatchParams::apply("tester"),
            &Patch::Apply(&nameless),
        )
        .await
    {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 400, "{s:?}");
            assert!(
                s.message.contains(
                    "the name of the object () does not match the name on the URL (nosuch)"
                ),
                "{}",
                s.message
            );
        }
        other => panic!("an apply creating an object without a name: {other:?}"),
    }
    assert_eq!(
        api_code(cms.get("nosuch").await.expect_err("nothing was created")),
        404
    );
}

/// Pages of a list, as client-go's pager reads them: every page at the
/// first page's revision (writes in between are not seen), and
/// `remainingItemCount` counting down to the last page, which has no
/// `continue`.
#[tokio::test]
async fn paged_lists_count_what_is_left() {
    let c = Cluster::up_with(&["--disable-controller-manager", "--disable-scheduler"]);
    let client = client(&c).await;
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    ns.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "paged"}})).expect("ns"),
    )
    .await
    .expect("namespace");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "paged");
    let cm = |i: usize| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": format!("cm-{i:02}")}})).expect("cm")
    };
    for i in 0..11 {
        cms.create(&PostParams::default(), &cm(i))
            .await
            .expect("create");
    }
    let total = cms
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .len();
    assert!(total >= 11, "{total}");

    let mut seen = Vec::new();
    let mut remaining = Vec::new();
    let mut token: Option<String> = None;
    let mut revision = None;
    loop {
        let mut lp = ListParams::default().limit(3);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = cms.list(&lp).await.expect("page");
        assert!(page.items.len() <= 3);
        seen.extend(page.items.iter().filter_map(|c| c.metadata.name.clone()));
        remaining.push(page.metadata.remaining_item_count);
        let rv = page.metadata.resource_version.clone();
        assert_eq!(
            *revision.get_or_insert(rv.clone()),
            rv,
            "every page at one revision"
        );
        if token.is_none() {
            // Written after the first page: not in this list.
            cms.create(&PostParams::default(), &cm(99))
                .await
                .expect("create");
        }
        match page.metadata.continue_.filter(|t| !t.is_empty()) {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(seen.len(), total, "{seen:?}");
    assert!(!seen.contains(&"cm-99".to_string()));
    let want: Vec<Option<i64>> = (1..=total.div_ceil(3))
        .map(|p| {
            let left = total as i64 - 3 * p as i64;
            (left > 0).then_some(left)
        })
        .collect();
    assert_eq!(remaining, want);
}

/// The metadata-only answer is not only for reads: kube-rs'
/// `patch_metadata` (and a create, update or delete asking for it) gets
/// `PartialObjectMetadata` back, as from kube-apiserver.
#[tokio::test]
async fn metadata_only_answers_to_writes() {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use kube::api::PartialObjectMeta;
    use kube::core::PartialObjectMetaExt;

    let c = Cluster::up_with(&["--disable-controller-manager", "--disable-scheduler"]);
    let client = client(&c).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "meta", "labels": {"k": "v"}}, "data": {"secret": "not sent"}
    }))
    .expect("cm");
    cms.create(&PostParams::default(), &cm)
        .await
        .expect("create");

    let patch = json!({"metadata": {"labels": {"patched": "yes"}}});
    let patched: PartialObjectMeta<ConfigMap> = cms
        .patch_metadata("meta", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch metadata");
    assert_eq!(patched.metadata.name.as_deref(), Some("meta"));
    let labels = patched.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("k").map(String::as_str), Some("v"));
    assert_eq!(labels.get("patched").map(String::as_str), Some("yes"));
    assert!(patched.metadata.resource_version.is_some());

    // An apply patch through the metadata API.
    let apply = ObjectMeta {
        name: Some("meta".into()),
        annotations: Some([("applied".to_string(), "yes".to_string())].into()),
        ..ObjectMeta::default()
    }
    .into_request_partial::<ConfigMap>();
    let applied: PartialObjectMeta<ConfigMap> = cms
        .patch_metadata(
            "meta",
            &PatchParams::apply("meta-test"),
            &Patch::Apply(&apply),
        )
        .await
        .expect("apply metadata");
    assert_eq!(
        applied
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("applied"))
            .map(String::as_str),
        Some("yes")
    );

    let got = cms.get_metadata("meta").await.expect("get metadata");
    assert_eq!(got.metadata.uid, patched.metadata.uid);
    assert_eq!(
        got.types
            .as_ref()
            .map(|t| (t.api_version.as_str(), t.kind.as_str())),
        Some(("meta.k8s.io/v1", "PartialObjectMetadata"))
    );

    // The raw answers: kind, apiVersion, no data, the content type, for
    // every verb that answers with the object.
    const AS: &str = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
    let path = "/api/v1/namespaces/default/configmaps";
    let send = |method: &str, uri: String, accept: &str, ct: &str, body: Vec<u8>| {
        let req = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("Accept", accept)
            .header("Content-Type", ct)
            .body(body)
            .expect("request");
        let client = client.clone();
        async move {
            let resp = client.send(req.map(Into::into)).await.expect("send");
            let status = resp.status().as_u16();
            let content_type = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let body = resp.into_body().collect_bytes().await.expect("body");
            let value: serde_json::Value = if content_type == "application/json" {
                serde_json::from_slice(&body).expect("JSON body")
            } else {
                serde_json::Value::Null
            };
            (status, content_type, value, body.to_vec())
        }
    };
    let created = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "raw", "labels": {"a": "b"}}, "data": {"x": "y"}});
    let posted = send(
        "POST",
        path.into(),
        AS,
        "application/json",
        created.to_string().into_bytes(),
    )
    .await;
    // The update names the resourceVersion the create answered with.
    let mut replaced = created.clone();
    replaced["metadata"]["resourceVersion"] = posted.2["metadata"]["resourceVersion"].clone();
    let answers = [
        posted,
        send(
            "GET",
            format!("{path}/raw"),
            AS,
            "application/json",
            Vec::new(),
        )
        .await,
        send(
            "PUT",
            format!("{path}/raw"),
            AS,
            "application/json",
            replaced.to_string().into_bytes(),
        )
        .await,
        send(
            "PATCH",
            format!("{path}/raw"),
            AS,
            "application/merge-patch+json",
            br#"{"data":{"x":"z"}}"#.to_vec(),
        )
        .await,
        send(
            "DELETE",
            format!("{path}/raw"),
            AS,
            "application/json",
            Vec::new(),
        )
        .await,
    ];
    for (i, (status, content_type, value, _)) in answers.iter().enumerate() {
        assert!(
            *status == 200 || *status == 201,
            "answer {i}: {status} {value}"
        );
        assert_eq!(content_type, "application/json", "answer {i}");
        assert_eq!(
            value["kind"], "PartialObjectMetadata",
            "answer {i}: {value}"
        );
        assert_eq!(value["apiVersion"], "meta.k8s.io/v1", "answer {i}");
        assert_eq!(value["metadata"]["name"], "raw", "answer {i}");
        assert_eq!(value["metadata"]["labels"]["a"], "b", "answer {i}");
        assert!(value.get("data").is_none(), "answer {i}: {value}");
    }

    // The list form asked of one object, or the object form of a list, is
    // 406 NotAcceptable, as from kube-apiserver; a form the server does not
    // know falls through to the next clause.
    let (status, _, value, _) = send(
        "GET",
        format!("{path}/meta"),
        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
        "application/json",
        Vec::new(),
    )
    .await;
    assert_eq!(status, 406, "{value}");
    assert_eq!(value["reason"], "NotAcceptable");
    assert_eq!(
        value["message"],
        "you requested PartialObjectMetadataList, but the requested object is not a list (*core.ConfigMap)"
    );
    let (status, _, value, _) = send("GET", path.into(), AS, "application/json", Vec::new()).await;
    assert_eq!(status, 406, "{value}");
    assert_eq!(
        value["message"],
        "you requested PartialObjectMetadata, but the requested object is a list (*core.ConfigMapList)"
    );
    let (status, _, value, _) = send(
        "GET",
        format!("{path}/meta"),
        "application/json;as=Unknown;g=meta.k8s.io;v=v1, application/json",
        "application/json",
        Vec::new(),
    )
    .await;
    assert_eq!(status, 200, "{value}");
    assert_eq!(value["kind"], "ConfigMap");
    let (status, _, value, _) = send(
        "GET",
        format!("{path}/meta"),
        "application/json;as=Unknown;g=meta.k8s.io;v=v1",
        "application/json",
        Vec::new(),
    )
    .await;
    assert_eq!(status, 406, "{value}");

    // client-go's metadata client asks for protobuf first: it gets
    // protobuf (`k8s\0`, then a runtime.Unknown naming the kind).
    const PROTOBUF_FIRST: &str = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";
    let (status, content_type, _, body) = send(
        "GET",
        format!("{path}/meta"),
        PROTOBUF_FIRST,
        "application/json",
        Vec::new(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/vnd.kubernetes.protobuf");
    assert!(body.starts_with(b"k8s\0"), "{body:?}");
    let contains = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    assert!(contains(b"meta.k8s.io/v1") && contains(b"PartialObjectMetadata"));
    assert!(contains(b"applied") && !contains(b"not sent"));
}

#[tokio::test]
async fn the_kubernetes_service_always_exists() {
    use k8s_openapi::api::core::v1::{Endpoints, Service};
    use k8s_openapi::api::discovery::v1::EndpointSlice;

    let c = Cluster::up_with(&["--disable-controller-manager", "--disable-scheduler"]);
    let client = client(&c).await;
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let port = i32::from(c.addr.port());
    let ip = c.addr.ip().to_string();

    let svc = services.get("kubernetes").await.expect("get kubernetes");
    let labels = svc.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("component").map(String::as_str),
        Some("apiserver")
    );
    assert_eq!(
        labels.get("provider").map(String::as_str),
        Some("kubernetes")
    );
    let spec = svc.spec.clone().unwrap_or_default();
    assert_eq!(spec.cluster_ip.as_deref(), Some("10.96.0.1"));
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    let ports = spec.ports.unwrap_or_default();
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0].name.as_deref(), Some("https"));
    assert_eq!(ports[0].port, 443);
    assert_eq!(
        ports[0].target_port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(port))
    );

    let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), "default");
    let eps = endpoints.get("kubernetes").await.expect("get endpoints");
    let subset = &eps.subsets.unwrap_or_default()[0];
    let addresses: Vec<String> = subset
        .addresses
        .iter()
        .flatten()
        .map(|a| a.ip.clone())
        .collect();
    assert_eq!(addresses, std::slice::from_ref(&ip));
    let eports = subset.ports.clone().unwrap_or_default();
    assert_eq!(
        (eports[0].name.as_deref(), eports[0].port),
        (Some("https"), port)
    );

    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    let slice = slices.get("kubernetes").await.expect("get endpointslice");
    assert_eq!(slice.address_type, "IPv4");
    assert_eq!(
        slice
            .metadata
            .labels
            .unwrap_or_default()
            .get("kubernetes.io/service-name")
            .map(String::as_str),
        Some("kubernetes")
    );
    let endpoints = slice.endpoints.clone().unwrap_or_default();
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0].addresses, [ip]);
    assert_eq!(
        endpoints[0].conditions.as_ref().and_then(|c| c.ready),
        Some(true)
    );
    let sports = slice.ports.unwrap_or_default();
    assert_eq!(
        (sports[0].name.as_deref(), sports[0].port),
        (Some("https"), Some(port))
    );

    // Deleted, it comes back (the server reconciles every 10 s).
    services
        .delete("kubernetes", &DeleteParams::default())
        .await
        .expect("delete");
    slices
        .delete("kubernetes", &DeleteParams::default())
        .await
        .expect("delete slice");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(25);
    loop {
        let svc = services.get_opt("kubernetes").await.expect("get");
        let slice = slices.get_opt("kubernetes").await.expect("get slice");
        if let (Some(svc), Some(_)) = (svc, slice) {
            let ip = svc.spec.and_then(|s| s.cluster_ip);
            assert_eq!(ip.as_deref(), Some("10.96.0.1"));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the kubernetes service was not recreated:\n{}",
            c.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
