//! The sandbox half of the CRI calls: `run_pod_sandbox`,
//! `stop_pod_sandbox`, `remove_pod_sandbox`, and [`SandboxEntry`], one
//! sandbox in the runtime's table.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use rkube_cri::{CriError, DnsConfig, NetworkAttachment, PodSandboxConfig, SandboxInfo};

use super::cgroups;
use super::fsutil::{new_id, to_nanos, write_atomic};
use super::locks::{lock, read, write};
use super::netns;
use super::records::SandboxRecord;
use super::runtime::RuncRuntime;
use super::sandbox_entry::SandboxEntry;

/// `/etc/resolv.conf` for the pod; the host's when the config is empty.
fn resolv_conf(dns: &DnsConfig) -> String {
    if dns.servers.is_empty() && dns.searches.is_empty() && dns.options.is_empty() {
        return std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    }
    let mut text = String::new();
    if !dns.searches.is_empty() {
        text.push_str(&format!("search {}\n", dns.searches.join(" ")));
    }
    for server in &dns.servers {
        text.push_str(&format!("nameserver {server}\n"));
    }
    if !dns.options.is_empty() {
        text.push_str(&format!("options {}\n", dns.options.join(" ")));
    }
    text
}

impl RuncRuntime {
    fn netns_name(&self, id: &str) -> String {
        format!("{}{id}", self.config.netns_prefix)
    }

    pub(crate) async fn run_sandbox(
        &self,
        config: &PodSandboxConfig,
    ) -> Result<SandboxInfo, CriError> {
        let id = new_id();
        let dir = self.sandbox_dir(&id);
        let result = self.setup_sandbox(&id, &dir, config).await;
        match result {
            Ok(entry) => {
                let info = entry.info();
                write(&self.sandboxes).insert(id.clone(), entry);
                tracing::info!(sandbox = %id, pod = %config.pod_name, namespace = %config.pod_namespace, ip = ?info.ip, "sandbox ready");
                Ok(info)
            }
            Err(err) => {
                tracing::warn!(pod = %config.pod_name, error = %err, "sandbox failed");
                self.teardown(&id, &dir, !config.host_network).await;
                Err(err)
            }
        }
    }

    async fn setup_sandbox(
        &self,
        id: &str,
        dir: &Path,
        config: &PodSandboxConfig,
    ) -> Result<Arc<SandboxEntry>, CriError> {
        let ns_dir = dir.join("ns");
        std::fs::create_dir_all(&ns_dir)
            .map_err(CriError::io(format!("creating {}", ns_dir.display())))?;
        let hostname = if config.host_network {
            nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default()
        } else {
            config.hostname.clone()
        };
        write_atomic(&dir.join("hostname"), format!("{hostname}\n").as_bytes())
            .map_err(CriError::io("writing hostname"))?;
        write_atomic(
            &dir.join("resolv.conf"),
            resolv_conf(&config.dns).as_bytes(),
        )
        .map_err(CriError::io("writing resolv.conf"))?;
        let mut record = SandboxRecord {
            id: id.to_string(),
            pod_uid: config.pod_uid.clone(),
            pod_name: config.pod_name.clone(),
            pod_namespace: config.pod_namespace.clone(),
            attempt: config.attempt,
            hostname: hostname.clone(),
            host_network: config.host_network,
            netns_path: None,
            ipc_ns: ns_dir.join("ipc"),
            uts_ns: (!config.host_network).then(|| ns_dir.join("uts")),
            ip: None,
            ready: false,
            created_at: to_nanos(SystemTime::now()),
            boot_id: self.boot_id.clone(),
            cgroup_parent: config.cgroup_parent.clone(),
            log_directory: config.log_directory.clone(),
            labels: config.labels.clone(),
        };
        let entry = Arc::new(SandboxEntry::new(dir.to_path_buf(), record.clone()));
        // Recorded first: a crash from here on leaves a sandbox the next
        // agent lists (NotReady) and can remove.
        entry.save(&record)?;
        netns::add_ipc_uts(&record.ipc_ns, record.uts_ns.as_deref(), &hostname).await?;
        if !config.host_network {
            let path = netns::add_netns(&self.netns_name(id)).await?;
            record.netns_path = Some(path.clone());
            let address = self
                .network
                .add(&NetworkAttachment {
                    sandbox_id: id.to_string(),
                    pod_namespace: config.pod_namespace.clone(),
                    pod_name: config.pod_name.clone(),
                    pod_uid: config.pod_uid.clone(),
                    netns_path: path,
                    port_mappings: config.port_mappings.clone(),
                })
                .await?;
            record.ip = Some(address.ip);
        }
        if let Some(dir) = config.log_directory.to_str().filter(|d| !d.is_empty()) {
            std::fs::create_dir_all(dir).map_err(CriError::io(format!("creating {dir}")))?;
        }
        record.ready = true;
        entry.save(&record)?;
        *lock(&entry.record) = record;
        Ok(entry)
    }

    /// Undo what a sandbox set up (each step tolerates what is missing).
    async fn teardown(&self, id: &str, dir: &Path, with_network: bool) {
        if with_network {
            if let Err(e) = self.network.del(id).await {
                tracing::warn!(sandbox = %id, error = %e, "network teardown failed");
            }
        }
        if let Err(e) = netns::delete_netns(&self.netns_name(id)).await {
            tracing::warn!(sandbox = %id, error = %e, "deleting the network namespace failed");
        }
        netns::remove_ns_file(&dir.join("ns").join("ipc"));
        netns::remove_ns_file(&dir.join("ns").join("uts"));
        let _ = std::fs::remove_dir_all(dir);
    }

    /// The ids of a sandbox's containers.
    fn containers_of(&self, sandbox_id: &str) -> Vec<String> {
        read(&self.containers)
            .values()
            .filter(|c| c.record.sandbox_id == sandbox_id)
            .map(|c| c.record.id.clone())
            .collect()
    }

    pub(crate) async fn stop_sandbox(&self, id: &str) -> Result<(), CriError> {
        let entry = self.sandbox(id)?;
        let stops = self
            .containers_of(id)
            .into_iter()
            .map(|c| async move { self.stop(&c, std::time::Duration::ZERO).await });
        for result in futures::future::join_all(stops).await {
            if let Err(e) = result {
                tracing::warn!(sandbox = %id, error = %e, "stopping a container failed");
            }
        }
        let host_network = lock(&entry.record).host_network;
        if !host_network {
            self.network.del(id).await?;
        }
        let record = {
            let mut r = lock(&entry.record);
            r.ready = false;
            r.clone()
        };
        entry.save(&record)?;
        tracing::info!(sandbox = %id, "sandbox stopped");
        Ok(())
    }

    pub(crate) async fn remove_sandbox(&self, id: &str) -> Result<(), CriError> {
        let Ok(entry) = self.sandbox(id) else {
            return Ok(());
        };
        let (ready, host_network, cgroup) = {
            let r = lock(&entry.record);
            (
                r.ready,
                r.host_network,
                cgroups::container_cgroup_path(&self.config.cgroup_root, &r.cgroup_parent, ""),
            )
        };
        if ready {
            self.stop_sandbox(id).await?;
        }
        let removals = self
            .containers_of(id)
            .into_iter()
            .map(|c| async move { self.remove(&c).await });
        for result in futures::future::join_all(removals).await {
            result?;
        }
        self.teardown(id, &entry.dir, !host_network).await;
        // The pod's own cgroup, if runc made it and nothing else uses it.
        let depth = cgroup.split('/').filter(|s| !s.is_empty()).count();
        cgroups::remove_dirs(&cgroup, depth.saturating_sub(1));
        write(&self.sandboxes).remove(id);
        tracing::info!(sandbox = %id, "sandbox removed");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_from_dns_config() {
        let dns = DnsConfig {
            servers: vec!["10.96.0.10".into()],
            searches: vec!["ns.svc.cluster.local".into(), "svc.cluster.local".into()],
            options: vec!["ndots:5".into()],
        };
        assert_eq!(
            resolv_conf(&dns),
            "search ns.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
        );
    }
}
