//! The real node in this process (`rkube up`, `rkube node`): the image
//! store, the pod network, pods on runc and the kubelet, wired together;
//! and [`reset`], which removes everything a real node left on the host
//! (`rkube reset`).
//!
//! Start-up order, as a kubelet with a CNI plugin: register the Node, wait
//! for the node-IPAM controller to give it a pod range, bring up the pod
//! network for that range, adopt what the runtime left (containers kept
//! running across a `kill -9`), release the addresses of sandboxes that are
//! gone, then run the kubelet. On stop, every container is stopped
//! gracefully (SIGTERM, then SIGKILL after the grace period) before the
//! control plane stops.
//!
//! The node's API (the kubelet's port: logs, exec, stats) is bound before
//! registration, so the Node names the port it really got
//! (`daemonEndpoints`), and serves once the runtime is up; it stops with
//! the kubelet.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use kube::Client;
use rkube_cri::{CriError, NetworkAttachment, NetworkPlugin, PodAddress, RuntimeService};
use rkube_image::ImageStore;
use rkube_net::{BridgeNetwork, NetConfig};
use rkube_node::kubelet::{self, KubeletConfig};
use rkube_node::runc::{RuncConfig, RuncRuntime};
use rkube_node::server::listen::{self, ListenConfig, NodeListener, ServingCert};
use rkube_node::server::ServerState;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

/// How long a container gets between SIGTERM and SIGKILL when the node
/// stops.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// How the real node is set up.
#[derive(Clone, Debug)]
pub struct RealNodeOptions {
    pub data_dir: PathBuf,
    pub node_name: String,
    pub node_ip: IpAddr,
    /// The pod bridge; the service range goes to `<bridge>-svc`.
    pub bridge: String,
    /// The cluster's pod range (`--cluster-cidr`).
    pub cluster_cidr: String,
    /// The service range (`--service-cluster-ip-range`).
    pub service_range: String,
    /// The kubelet's `--eviction-hard`.
    pub eviction_hard: rkube_node::kubelet::node::thresholds::EvictionThresholds,
    /// The certificates of the node's API.
    pub node_api: NodeApiTls,
    /// The cluster DNS's upstream resolvers (empty: the host's).
    pub dns_upstreams: Vec<std::net::SocketAddr>,
}

/// Where the node's API gets its certificates.
#[derive(Clone, Debug, Default)]
pub enum NodeApiTls {
    /// The node inside `rkube up`: a serving certificate issued by the
    /// cluster CA in `DATA_DIR/pki`, whose clients (the API server's
    /// admin certificate) are accepted.
    #[default]
    ClusterCa,
    /// `rkube node`: a self-signed serving certificate kept in
    /// `DATA_DIR/kubelet/pki`; clients of these CAs (the kubeconfig's,
    /// DER) are accepted.
    SelfSigned { client_cas: Vec<Vec<u8>> },
}

impl RealNodeOptions {
    fn net_config(&self, pod_cidr: &str) -> anyhow::Result<NetConfig> {
        let mut config = NetConfig::new(pod_cidr, &self.data_dir)
            .with_context(|| format!("the pod range {pod_cidr:?}"))?;
        config.bridge = self.bridge.clone();
        config.dummy = format!("{}-svc", self.bridge);
        config.nft_table = if self.bridge == "rkube0" {
            "rkube-podnet".to_string()
        } else {
            format!("rkube-podnet-{}", self.bridge)
        };
        config.cluster_cidr = self
            .cluster_cidr
            .parse()
            .with_context(|| format!("--cluster-cidr {:?}", self.cluster_cidr))?;
        config.service_cidr = self
            .service_range
            .parse()
            .with_context(|| format!("--service-cluster-ip-range {:?}", self.service_range))?;
        config.validate()?;
        Ok(config)
    }

    /// The `kube-dns` Service's address: the tenth of the service range.
    fn cluster_dns_ip(&self) -> anyhow::Result<std::net::Ipv4Addr> {
        let range: rkube_net::Ipv4Cidr = self
            .service_range
            .parse()
            .with_context(|| format!("--service-cluster-ip-range {:?}", self.service_range))?;
        Ok(std::net::Ipv4Addr::from(u32::from(range.network()) + 10))
    }

    fn proxy_config(&self, net: &NetConfig) -> rkube_proxy::ProxyConfig {
        rkube_proxy::ProxyConfig {
            node_name: self.node_name.clone(),
            node_ip: self.node_ip,
            bridge: net.bridge.clone(),
            pod_cidr: net.pod_cidr,
            cluster_cidr: net.cluster_cidr,
            service_cidr: net.service_cidr,
            table: rkube_proxy::ProxyConfig::table_for(&net.bridge),
        }
    }

    fn policy_config(&self, net: &NetConfig) -> rkube_netpol::PolicyConfig {
        rkube_netpol::PolicyConfig {
            node_name: self.node_name.clone(),
            bridge: net.bridge.clone(),
            pod_cidr: net.pod_cidr,
            cluster_cidr: net.cluster_cidr,
            table: rkube_netpol::PolicyConfig::table_for(&net.bridge),
        }
    }

    fn dns_config(&self, net: &NetConfig) -> rkube_dns::DnsConfig {
        rkube_dns::DnsConfig {
            node_name: self.node_name.clone(),
            address: IpAddr::V4(net.pod_cidr.gateway()),
            port: 53,
            cluster_domain: rkube_dns::CLUSTER_DOMAIN.to_string(),
            upstreams: self.dns_upstreams.clone(),
        }
    }

    fn runc_config(&self) -> RuncConfig {
        RuncConfig::new(&self.data_dir)
    }

    fn images(&self) -> anyhow::Result<ImageStore> {
        ImageStore::open(self.data_dir.join("images")).context("cannot open the image store")
    }
}

/// A running real node.
pub struct RealNode {
    task: AbortOnDrop,
    runtime: Arc<OnceCell<Arc<RuncRuntime>>>,
}

impl RealNode {
    /// Start the node's work in the background.
    pub fn start(client: Client, options: RealNodeOptions) -> RealNode {
        let runtime = Arc::new(OnceCell::new());
        let task = AbortOnDrop(tokio::spawn(run(client, options, runtime.clone())));
        RealNode { task, runtime }
    }

    /// Stop the kubelet, then every container gracefully.
    pub async fn stop(mut self) {
        self.task.0.abort();
        let _ = (&mut self.task.0).await;
        if let Some(runtime) = self.runtime.get() {
            if let Err(e) = kubelet::pods::stop_all(runtime.as_ref(), STOP_GRACE).await {
                warn!(error = %e, "cannot stop the real node's containers");
            }
        }
    }
}

async fn run(client: Client, options: RealNodeOptions, slot: Arc<OnceCell<Arc<RuncRuntime>>>) {
    if let Err(e) = try_run(client, options, slot).await {
        error!(error = format!("{e:#}"), "the real node stopped");
    }
}

async fn try_run(
    client: Client,
    options: RealNodeOptions,
    slot: Arc<OnceCell<Arc<RuncRuntime>>>,
) -> anyhow::Result<()> {
    let images = options.images()?;
    let mut config = KubeletConfig::new(
        options.node_name.clone(),
        options.node_ip,
        &options.data_dir,
    );
    // The cluster DNS: the `kube-dns` Service's address, the tenth of the
    // service range (as kubeadm), served by this node (`rkube-dns`).
    config.cluster_dns = vec![IpAddr::V4(options.cluster_dns_ip()?)];
    config.eviction_hard = options.eviction_hard;
    let api = match bind_node_api(&options, &config).await {
        Ok(listener) => {
            config.port = listener.port();
            Some(listener)
        }
        Err(e) => {
            error!(
                error = format!("{e:#}"),
                "the node's API cannot serve: no logs, exec or stats from this node"
            );
            None
        }
    };
    let config = Arc::new(config);
    let version = runc_version().await;
    kubelet::node::register(&client, &config, &version)
        .await
        .context("cannot register the node")?;
    info!(node = %config.node_name, "real node registered; waiting for its pod range");
    let pod_cidr = kubelet::node::wait_for_pod_cidr(&client, &config.node_name)
        .await
        .context("no pod range for the node")?;
    let net_config = options.net_config(&pod_cidr)?;
    let network = Arc::new(
        BridgeNetwork::start(net_config.clone())
            .await
            .context("cannot set up the pod network")?,
    );
    // Services, NetworkPolicy and cluster DNS, each a task of its own that
    // stops with the node (their tables stay for the next start).
    let proxy = AbortOnDrop(tokio::spawn(log_exit(
        "the Service proxy",
        rkube_proxy::run(client.clone(), options.proxy_config(&net_config)),
    )));
    let policy = AbortOnDrop(tokio::spawn(log_exit(
        "NetworkPolicy enforcement",
        rkube_netpol::run(client.clone(), options.policy_config(&net_config)),
    )));
    let dns = AbortOnDrop(tokio::spawn(log_exit(
        "the cluster DNS",
        rkube_dns::run(client.clone(), options.dns_config(&net_config)),
    )));
    let routes = AbortOnDrop(tokio::spawn(log_exit(
        "the routes to other nodes' pod ranges",
        kubelet::node::routes::run(
            client.clone(),
            kubelet::node::routes::RoutesConfig {
                node_name: options.node_name.clone(),
                pod_cidr: net_config.pod_cidr,
                cluster_cidr: net_config.cluster_cidr,
            },
        ),
    )));
    let runtime = Arc::new(
        RuncRuntime::new(
            options.runc_config(),
            Arc::new(images.clone()),
            network.clone(),
        )
        .context("cannot start the runc runtime")?,
    );
    let _ = slot.set(runtime.clone());
    runtime
        .gc_network()
        .await
        .context("cannot release the addresses of gone sandboxes")?;
    info!(node = %config.node_name, %pod_cidr, port = config.port, "real node ready");
    let api = api.map(|listener| {
        let state = Arc::new(ServerState {
            config: config.clone(),
            runtime: runtime.clone(),
        });
        AbortOnDrop(tokio::spawn(
            listener.serve(rkube_node::server::router(state)),
        ))
    });
    let image_gc = AbortOnDrop(tokio::spawn(collect_images(
        images.clone(),
        runtime.clone(),
    )));
    let import = config.image_import_dir.clone().map(|dir| {
        AbortOnDrop(tokio::spawn(rkube_image::watch_import_dir(
            images.clone(),
            dir,
            Duration::from_secs(5),
        )))
    });
    let result = kubelet::run(client, config, runtime, Arc::new(images)).await;
    drop(api);
    drop(routes);
    drop(dns);
    drop(policy);
    drop(proxy);
    drop(import);
    drop(image_gc);
    result.context("the kubelet stopped")
}

/// The names the node's serving certificate carries: its IP, its name
/// (when it is a DNS name) and loopback.
fn serving_names(config: &KubeletConfig) -> Vec<String> {
    let mut names = vec![config.node_ip.to_string()];
    if config.node_name.parse::<IpAddr>().is_err()
        && rustls::pki_types::ServerName::try_from(config.node_name.as_str()).is_ok()
    {
        names.push(config.node_name.clone());
    }
    for n in ["localhost", "127.0.0.1"] {
        if !names.iter().any(|m| m == n) {
            names.push(n.to_string());
        }
    }
    names
}

/// Bind the node's API on the node's IP, from port 10250, with its
/// certificates.
async fn bind_node_api(
    options: &RealNodeOptions,
    config: &KubeletConfig,
) -> anyhow::Result<NodeListener> {
    let names = serving_names(config);
    let (serving, client_cas) = match &options.node_api {
        NodeApiTls::ClusterCa => {
            let paths = rkube_apiserver::pki::PkiPaths::new(options.data_dir.join("pki"));
            let leaf = rkube_apiserver::pki::issue_node_serving(&paths, &config.node_name, &names)
                .context("cannot issue the node's serving certificate")?;
            let ca_pem = std::fs::read(paths.ca_cert())
                .with_context(|| format!("cannot read {}", paths.ca_cert().display()))?;
            let cas = CertificateDer::pem_slice_iter(&ca_pem)
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| {
                    format!("{} is not a PEM certificate", paths.ca_cert().display())
                })?;
            let serving = ServingCert {
                cert_pem: leaf.cert_pem,
                key_pem: leaf.key_pem,
            };
            (serving, cas)
        }
        NodeApiTls::SelfSigned { client_cas } => {
            let serving = ServingCert::self_signed_in(&config.root_dir.join("pki"), &names)?;
            let cas = client_cas
                .iter()
                .map(|der| CertificateDer::from(der.clone()))
                .collect();
            (serving, cas)
        }
    };
    let listener = NodeListener::bind(ListenConfig {
        address: config.node_ip,
        first_port: listen::port::DEFAULT_PORT,
        serving,
        client_cas,
        auth: listen::Authenticator::default(),
    })
    .await?;
    Ok(listener)
}

async fn runc_version() -> String {
    match tokio::process::Command::new("runc")
        .arg("--version")
        .output()
        .await
    {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            let v = text
                .lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(2))
                .unwrap_or("unknown");
            format!("runc://{v}")
        }
        Err(_) => "runc://unknown".to_string(),
    }
}

/// Image garbage collection at the kubelet's thresholds (85 % / 80 % of the
/// image store's disk), every five minutes as the kubelet does, never
/// removing an image a container uses.
async fn collect_images(images: ImageStore, runtime: Arc<RuncRuntime>) {
    let mut tick = tokio::time::interval(Duration::from_secs(300));
    loop {
        tick.tick().await;
        let in_use: Vec<String> = match runtime.list_containers().await {
            Ok(c) => c.into_iter().map(|c| c.image_id).collect(),
            Err(e) => {
                warn!(error = %e, "image GC: cannot list the containers");
                continue;
            }
        };
        let store = images.clone();
        let removed = tokio::task::spawn_blocking(move || {
            store.gc(
                rkube_image::DEFAULT_HIGH_PERCENT,
                rkube_image::DEFAULT_LOW_PERCENT,
                &in_use,
            )
        })
        .await;
        match removed {
            Ok(Ok(ids)) if !ids.is_empty() => {
                info!(images = ids.len(), "image GC removed unused images")
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => warn!(error = %e, "image GC failed"),
            Err(e) => warn!(error = %e, "image GC task failed"),
        }
    }
}

/// Run a part of the node; log why it stopped, if it did.
async fn log_exit<E: std::fmt::Display>(
    what: &'static str,
    part: impl std::future::Future<Output = Result<(), E>>,
) {
    if let Err(e) = part.await {
        error!(error = %e, "{what} stopped");
    }
}

/// Kill every running container and stop every sandbox, all at once.
async fn kill_all(runtime: &RuncRuntime) {
    let grace = Duration::ZERO;
    let containers = match runtime.list_containers().await {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "cannot list the containers to stop them");
            return;
        }
    };
    let running: Vec<_> = containers
        .into_iter()
        .filter(|c| c.state == rkube_cri::ContainerState::Running)
        .collect();
    info!(
        containers = running.len(),
        "stopping the real node's containers"
    );
    futures::future::join_all(running.iter().map(|c| async move {
        if let Err(e) = runtime.stop_container(&c.id, grace).await {
            warn!(container = %c.id, error = %e, "cannot stop a container");
        }
    }))
    .await;
    if let Ok(sandboxes) = runtime.list_pod_sandboxes().await {
        futures::future::join_all(sandboxes.iter().map(|s| async move {
            if let Err(e) = runtime.stop_pod_sandbox(&s.id).await {
                warn!(sandbox = %s.id, error = %e, "cannot stop a sandbox");
            }
        }))
        .await;
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A network plugin that attaches nothing: `rkube reset` removes sandboxes
/// whose interfaces go with their namespaces, then the whole network.
struct Detached;

#[async_trait]
impl NetworkPlugin for Detached {
    async fn add(&self, _: &NetworkAttachment) -> Result<PodAddress, CriError> {
        Err(CriError::Network("rkube reset attaches no pod".to_string()))
    }
    async fn del(&self, _: &str) -> Result<(), CriError> {
        Ok(())
    }
    async fn gc(&self, _: &[String]) -> Result<(), CriError> {
        Ok(())
    }
}

/// Remove everything a real node on `options.data_dir` left on the host:
/// its containers (killed), sandboxes and their network namespaces, every
/// mount under the data directory (root filesystems, tmpfs volumes), and
/// the pod network (bridge, service interface, routes, nftables table,
/// firewall exceptions). Images and the cluster's data stay.
pub async fn reset(options: &RealNodeOptions) -> anyhow::Result<()> {
    let images = options.images()?;
    let runtime = RuncRuntime::new(options.runc_config(), Arc::new(images), Arc::new(Detached))
        .context("cannot open the runc runtime's records")?;
    kill_all(&runtime).await;
    for c in runtime.list_containers().await.unwrap_or_default() {
        if let Err(e) = runtime.remove_container(&c.id).await {
            warn!(container = %c.id, error = %e, "cannot remove a container");
        }
    }
    for s in runtime.list_pod_sandboxes().await.unwrap_or_default() {
        if let Err(e) = runtime.remove_pod_sandbox(&s.id).await {
            warn!(sandbox = %s.id, error = %e, "cannot remove a sandbox");
        }
    }
    unmount_all_under(&options.data_dir)?;
    let net = options.net_config(&first_range(&options.cluster_cidr))?;
    rkube_proxy::teardown(&rkube_proxy::ProxyConfig::table_for(&net.bridge))
        .await
        .context("cannot remove the Service rules")?;
    rkube_netpol::teardown(&rkube_netpol::PolicyConfig::table_for(&net.bridge))
        .await
        .context("cannot remove the NetworkPolicy rules")?;
    rkube_net::teardown(&net)
        .await
        .context("cannot remove the pod network")?;
    Ok(())
}

/// A /24 inside `cluster_cidr` (the pod range does not matter to a
/// teardown, which removes the interfaces and their routes by name).
fn first_range(cluster_cidr: &str) -> String {
    let ip = cluster_cidr.split('/').next().unwrap_or("10.244.0.0");
    format!("{ip}/24")
}

/// Unmount every mount point under `dir`, deepest first.
fn unmount_all_under(dir: &Path) -> anyhow::Result<()> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let prefix = dir.to_string_lossy().to_string();
    let info = std::fs::read_to_string("/proc/self/mountinfo").context("reading mountinfo")?;
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter(|m| *m == prefix || m.starts_with(&format!("{prefix}/")))
        .map(|m| m.replace("\\040", " "))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    points.dedup();
    for p in points {
        let status = std::process::Command::new("umount")
            .arg("--lazy")
            .arg(&p)
            .status()
            .with_context(|| format!("cannot run umount {p}"))?;
        if !status.success() {
            warn!(mount = %p, "umount failed");
        }
    }
    Ok(())
}
