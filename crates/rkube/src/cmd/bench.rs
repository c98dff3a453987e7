//! `rkube bench`: benchmarks that print a table.

use clap::{Args, Subcommand};

use crate::bench::args::{
    ApiBenchArgs, ClusterBenchArgs, NetBenchArgs, NodeBenchArgs, StoreBenchArgs,
};

/// Run a benchmark and print a table (build with --release for real numbers).
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Compare the embedded store with etcd on the same workload, same run.
    ///
    /// Durable puts at several concurrencies, a range of many keys by prefix,
    /// many watchers receiving many events, peak RSS, and the embedded
    /// store's memory for a large key set. The embedded store runs in a child
    /// process (for a clean peak RSS); etcd is started by the benchmark. Data
    /// goes to fresh temporary directories under --dir, removed at the end.
    Store(StoreBenchArgs),

    /// The API server end to end over HTTPS with kube-rs clients, on the
    /// embedded store and on etcd (started by the benchmark), side by side.
    ///
    /// Config map creates at many clients, loading and listing many pods
    /// (whole and paged), many watchers receiving every event (delivery
    /// latency), RSS idle and loaded, cold start to /readyz empty and with
    /// the objects stored. Each backend's server is a child `rkube server`.
    Api(ApiBenchArgs),

    /// A whole simulated cluster: `rkube up --sim-nodes N` (a child process)
    /// runs one Deployment of many replicas, then, on a fresh cluster, many
    /// small Deployments; time to all pods Running and Ready, pod startup
    /// latency seen through a watch, scheduler throughput, peak RSS and CPU.
    Cluster(ClusterBenchArgs),

    /// One real node (`rkube up --real-node`, a child process, containers
    /// through runc): many busybox pods created at once, time to all
    /// Running, pod startup latency, RSS and CPU of rkube and of the
    /// containers' shims, deletion of all; beside it, in the same run, the
    /// same container started as many times with bare `runc run -d` (the
    /// floor); and the time `rkube image load` takes for a 100 MiB image.
    /// Needs root, runc and /bin/busybox (busybox-static).
    Node(NodeBenchArgs),

    /// Services, DNS and the pod network on one real node (`rkube up
    /// --real-node`, a child process): N Services without selectors with
    /// M made-up endpoints each (inside the cluster's pod range, off this
    /// node: nothing can leave the machine), then the time from a Service
    /// or endpoint change to its rule in the proxy's nftables table, seen
    /// by `nft monitor` (p50/p99); Debian's dnsperf against the node's DNS
    /// with names rkube answers itself (queries/s, latency p50/p99); TCP
    /// throughput pod to pod, pod to Service and host loopback with
    /// busybox nc, in the same run. Needs root, runc, nft, dnsperf and
    /// /bin/busybox (busybox-static).
    Net(NetBenchArgs),
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.command {
        BenchCommand::Store(args) => crate::bench::run_store(args).await,
        BenchCommand::Api(args) => crate::bench::api::run_api(args).await,
        BenchCommand::Cluster(args) => crate::bench::cluster::run_cluster(args).await,
        BenchCommand::Node(args) => crate::bench::node::run_node(args).await,
        BenchCommand::Net(args) => crate::bench::net::run_net(args).await,
    }
}
