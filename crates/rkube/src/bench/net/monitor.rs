//! Watching one nftables table from outside: `nft -a monitor` in a child
//! process, its lines parsed into a mirror of the table's rules and set
//! elements, and for every IPv4 address they mention the moment it last
//! appeared (first rule or element naming it) and last vanished (last one
//! gone). The rule-programming measurement waits on those moments.
//!
//! Chain names are left out of the count on purpose: a proxy may keep an
//! emptied endpoint chain for a while before deleting it (kube-proxy
//! does), and an empty chain sends no packet anywhere.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The addresses of one table as `nft monitor` reported them.
#[derive(Debug, Default)]
pub(super) struct Mirror {
    table: String,
    /// (chain, handle) → the addresses the rule names.
    rules: HashMap<(String, u64), Vec<Ipv4Addr>>,
    /// set or map → element key → the addresses the element names.
    elements: HashMap<String, HashMap<String, Vec<Ipv4Addr>>>,
    counts: HashMap<Ipv4Addr, u32>,
    appeared: HashMap<Ipv4Addr, Instant>,
    vanished: HashMap<Ipv4Addr, Instant>,
    /// Lines of this table seen.
    pub lines: u64,
}

impl Mirror {
    pub fn new(table: &str) -> Mirror {
        Mirror {
            table: table.to_string(),
            ..Mirror::default()
        }
    }

    /// Whether some rule or element names `addr` now.
    pub fn present(&self, addr: Ipv4Addr) -> bool {
        self.counts.get(&addr).is_some_and(|n| *n > 0)
    }

    /// When `addr` last went from absent to present.
    pub fn appeared(&self, addr: Ipv4Addr) -> Option<Instant> {
        self.appeared.get(&addr).copied()
    }

    /// When `addr` last went from present to absent.
    pub fn vanished(&self, addr: Ipv4Addr) -> Option<Instant> {
        self.vanished.get(&addr).copied()
    }

    /// Take one line of `nft -a monitor` (text), seen at `at`.
    pub fn apply(&mut self, line: &str, at: Instant) {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        // verb object family table [name ...]
        let (Some(verb), Some(object), Some(table)) =
            (tokens.first(), tokens.get(1), tokens.get(3))
        else {
            return;
        };
        if *table != self.table {
            return;
        }
        self.lines += 1;
        let name = tokens.get(4).copied().unwrap_or("");
        match (*verb, *object) {
            ("add", "rule") => {
                let Some((body, handle)) = rule_body_and_handle(line, &tokens) else {
                    return;
                };
                let addrs = addresses(body);
                self.add_addrs(&addrs, at);
                if let Some(old) = self.rules.insert((name.to_string(), handle), addrs) {
                    self.remove_addrs(&old, at);
                }
            }
            ("delete", "rule") => {
                let handle = tokens
                    .iter()
                    .position(|t| *t == "handle")
                    .and_then(|i| tokens.get(i + 1))
                    .and_then(|h| h.parse::<u64>().ok());
                if let Some(h) = handle {
                    if let Some(old) = self.rules.remove(&(name.to_string(), h)) {
                        self.remove_addrs(&old, at);
                    }
                }
            }
            ("delete", "chain") | ("flush", "chain") => {
                let keys: Vec<_> = self
                    .rules
                    .keys()
                    .filter(|(c, _)| c == name)
                    .cloned()
                    .collect();
                for k in keys {
                    if let Some(old) = self.rules.remove(&k) {
                        self.remove_addrs(&old, at);
                    }
                }
            }
            ("add", "element") | ("delete", "element") => {
                let set = self.elements.entry(name.to_string()).or_default();
                let mut gained = Vec::new();
                let mut lost = Vec::new();
                for element in elements(line) {
                    let key = element_key(element);
                    if *verb == "add" {
                        let addrs = addresses(element);
                        gained.extend(addrs.iter().copied());
                        if let Some(old) = set.insert(key, addrs) {
                            lost.extend(old);
                        }
                    } else if let Some(old) = set.remove(&key) {
                        lost.extend(old);
                    }
                }
                self.add_addrs(&gained, at);
                self.remove_addrs(&lost, at);
            }
            ("delete", "set") | ("delete", "map") | ("flush", "set") | ("flush", "map") => {
                if let Some(set) = self.elements.remove(name) {
                    let lost: Vec<Ipv4Addr> = set.into_values().flatten().collect();
                    self.remove_addrs(&lost, at);
                }
            }
            ("flush", "table") => {
                let lost: Vec<Ipv4Addr> = self.rules.drain().flat_map(|(_, a)| a).collect();
                self.remove_addrs(&lost, at);
            }
            ("delete", "table") => {
                let mut lost: Vec<Ipv4Addr> = self.rules.drain().flat_map(|(_, a)| a).collect();
                lost.extend(
                    self.elements
                        .drain()
                        .flat_map(|(_, s)| s.into_values().flatten()),
                );
                self.remove_addrs(&lost, at);
            }
            _ => {}
        }
    }

    fn add_addrs(&mut self, addrs: &[Ipv4Addr], at: Instant) {
        for a in addrs {
            let n = self.counts.entry(*a).or_insert(0);
            if *n == 0 {
                self.appeared.insert(*a, at);
            }
            *n += 1;
        }
    }

    fn remove_addrs(&mut self, addrs: &[Ipv4Addr], at: Instant) {
        for a in addrs {
            if let Some(n) = self.counts.get_mut(a) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.counts.remove(a);
                    self.vanished.insert(*a, at);
                }
            }
        }
    }
}

/// The statement part of an `add rule FAMILY TABLE CHAIN ... # handle N`
/// line, and N.
fn rule_body_and_handle<'a>(line: &'a str, tokens: &[&str]) -> Option<(&'a str, u64)> {
    let (body, handle) = line.rsplit_once("# handle ")?;
    let handle = handle.trim().parse().ok()?;
    // Skip "add rule FAMILY TABLE CHAIN": the body starts after the chain.
    let chain = tokens.get(4)?;
    let start = line.find(&format!(" {chain} "))? + chain.len() + 2;
    Some((body.get(start..).unwrap_or(""), handle))
}

/// The elements of `... { a, b : goto c, d }`, split at the top level.
fn elements(line: &str) -> Vec<&str> {
    let Some(open) = line.find('{') else {
        return Vec::new();
    };
    let Some(close) = line.rfind('}') else {
        return Vec::new();
    };
    if close <= open {
        return Vec::new();
    }
    let inner = &line[open + 1..close];
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in inner.char_indices() {
        match c {
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(inner[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(inner[start..].trim());
    out.retain(|e| !e.is_empty());
    out
}

/// An element's key: the part before its value (`: verdict`) and before
/// what changes on its own (`timeout`, `expires`, `counter`, `comment`).
fn element_key(element: &str) -> String {
    let mut words = Vec::new();
    for w in element.split_whitespace() {
        if matches!(w, ":" | "timeout" | "expires" | "counter" | "comment") {
            break;
        }
        words.push(w);
    }
    words.join(" ")
}

/// Every IPv4 address in `text`: runs of digits and dots that parse as
/// one (so `p80__10.1.2.3/80` names 10.1.2.3, and 10.1.2.3 is not found
/// in 10.1.2.34).
pub(super) fn addresses(text: &str) -> Vec<Ipv4Addr> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|t| t.len() >= 7)
        .filter_map(|t| t.parse::<Ipv4Addr>().ok())
        .collect()
}

/// `nft -a monitor` running, feeding a [`Mirror`].
pub(super) struct Monitor {
    child: Child,
    mirror: Arc<Mutex<Mirror>>,
    changed: watch::Receiver<u64>,
    reader: JoinHandle<()>,
}

impl Monitor {
    /// Start `nft -a monitor` for `table` and wait until it reports
    /// events (a throwaway table of this process made and deleted).
    pub async fn start(table: &str) -> anyhow::Result<Monitor> {
        let mut child = Command::new("nft")
            .args(["-a", "monitor"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("cannot run nft monitor (install the Debian package nftables)")?;
        let stdout = child.stdout.take().context("nft monitor's stdout")?;
        let mirror = Arc::new(Mutex::new(Mirror::new(table)));
        let probe = format!(
            "rkube-bench-probe-{}-{:06x}",
            std::process::id(),
            rand::random::<u32>() & 0xff_ffff
        );
        let (tx, changed) = watch::channel(0u64);
        let seen_probe = Arc::new(Mutex::new(false));
        let reader = {
            let mirror = mirror.clone();
            let probe = probe.clone();
            let seen_probe = seen_probe.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                let mut n = 0u64;
                while let Ok(Some(line)) = lines.next_line().await {
                    let at = Instant::now();
                    if line.contains(&probe) {
                        if let Ok(mut s) = seen_probe.lock() {
                            *s = true;
                        }
                    }
                    if let Ok(mut m) = mirror.lock() {
                        m.apply(&line, at);
                    }
                    n += 1;
                    let _ = tx.send(n);
                }
            })
        };
        let mut monitor = Monitor {
            child,
            mirror,
            changed,
            reader,
        };
        // Subscribed once the probe table's creation comes through.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let _ =
                rkube_net::cmd::nft(&format!("add table ip {probe}\ndelete table ip {probe}\n"))
                    .await;
            let seen = seen_probe.lock().map(|s| *s).unwrap_or(false);
            if seen {
                break;
            }
            if let Some(status) = monitor.child.try_wait()? {
                anyhow::bail!("nft monitor exited ({status})");
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "nft monitor reported no event in 10 s"
            );
            let _ =
                tokio::time::timeout(Duration::from_millis(100), monitor.changed.changed()).await;
        }
        Ok(monitor)
    }

    /// Read the mirror.
    pub fn with<T>(&self, f: impl FnOnce(&Mirror) -> T) -> anyhow::Result<T> {
        let m = self
            .mirror
            .lock()
            .map_err(|_| anyhow::anyhow!("the monitor's mirror is poisoned"))?;
        Ok(f(&m))
    }

    /// Wait until `addr` is present (or absent) through a change seen at
    /// or after `after`; when it was seen. `None` after `timeout`.
    pub async fn wait_for(
        &mut self,
        addr: Ipv4Addr,
        present: bool,
        after: Instant,
        timeout: Duration,
    ) -> anyhow::Result<Option<Instant>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let seen = self.with(|m| {
                if present {
                    m.appeared(addr).filter(|t| m.present(addr) && *t >= after)
                } else {
                    m.vanished(addr).filter(|t| !m.present(addr) && *t >= after)
                }
            })?;
            if seen.is_some() {
                return Ok(seen);
            }
            self.ensure_running()?;
            match tokio::time::timeout_at(deadline, self.changed.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => anyhow::bail!("nft monitor stopped"),
                Err(_) => return Ok(None),
            }
        }
    }

    /// Wait until every one of `addrs` is present; when the last one was
    /// seen, or an error naming how many are missing after `timeout`.
    pub async fn wait_all(
        &mut self,
        addrs: &[Ipv4Addr],
        timeout: Duration,
    ) -> anyhow::Result<Instant> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let (missing, last) = self.with(|m| {
                let missing = addrs.iter().filter(|a| !m.present(**a)).count();
                let last = addrs.iter().filter_map(|a| m.appeared(*a)).max();
                (missing, last)
            })?;
            if missing == 0 {
                return last.context("no address to wait for");
            }
            self.ensure_running()?;
            match tokio::time::timeout_at(deadline, self.changed.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => anyhow::bail!("nft monitor stopped"),
                Err(_) => anyhow::bail!(
                    "{missing} of {} addresses not in the nftables table {} after {timeout:?} (is the Service proxy running?)",
                    addrs.len(),
                    self.with(|m| m.table.clone())?
                ),
            }
        }
    }

    fn ensure_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            anyhow::bail!("nft monitor exited ({status})");
        }
        Ok(())
    }

    /// Stop `nft monitor` (by pid).
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
        self.reader.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "rkube-proxy-rkbt000001";

    fn mirror(lines: &str) -> Mirror {
        let mut m = Mirror::new(T);
        for l in lines.lines() {
            m.apply(l, Instant::now());
        }
        m
    }

    #[test]
    fn addresses_are_whole_tokens() {
        assert_eq!(
            addresses("goto endpoint-X-ns/s/tcp/p80__10.9.0.5/80 dnat to 10.9.0.55:80"),
            vec![Ipv4Addr::new(10, 9, 0, 5), Ipv4Addr::new(10, 9, 0, 55)]
        );
        assert!(addresses("handle 5 tcp dport 8080 1.2.3").is_empty());
    }

    #[test]
    fn rules_come_and_go_by_handle() {
        let a = Ipv4Addr::new(10, 9, 0, 5);
        let lines = format!(
            "add table ip {T} # handle 427\n\
             add chain ip {T} endpoint-X-ns/s/tcp/p80__10.9.0.5/80 # handle 1\n\
             add rule ip {T} endpoint-X-ns/s/tcp/p80__10.9.0.5/80 meta l4proto tcp dnat to 10.9.0.5:80 # handle 5\n\
             add rule ip {T} s1 numgen random mod 1 vmap {{ 0 : goto endpoint-X-ns/s/tcp/p80__10.9.0.5/80 }} # handle 7\n"
        );
        let mut m = mirror(&lines);
        assert!(m.present(a));
        // The chain's name alone does not count.
        m.apply(&format!("delete rule ip {T} s1 handle 7"), Instant::now());
        assert!(m.present(a));
        m.apply(
            &format!("delete rule ip {T} endpoint-X-ns/s/tcp/p80__10.9.0.5/80 handle 5"),
            Instant::now(),
        );
        assert!(!m.present(a));
        assert!(m.vanished(a).is_some());
        // Another table's lines are not ours.
        m.apply(
            "add rule ip rkube-proxy-other c ip daddr 10.9.0.5 accept # handle 9",
            Instant::now(),
        );
        assert!(!m.present(a));
    }

    #[test]
    fn elements_of_maps_and_sets() {
        let ip = Ipv4Addr::new(10, 8, 0, 1);
        let ip2 = Ipv4Addr::new(10, 8, 0, 2);
        let mut m = mirror(&format!(
            "add element ip {T} service-ips {{ 10.8.0.1 . tcp . 80 : goto service-A, 10.8.0.2 . tcp . 80 : goto service-B }}"
        ));
        assert!(m.present(ip) && m.present(ip2));
        m.apply(
            &format!(
                "delete element ip {T} service-ips {{ 10.8.0.1 . tcp . 80 : goto service-A }}"
            ),
            Instant::now(),
        );
        assert!(!m.present(ip) && m.present(ip2));
        m.apply(&format!("delete map ip {T} service-ips"), Instant::now());
        assert!(!m.present(ip2));
        m.apply(
            &format!("add element ip {T} aff {{ 10.8.0.9 timeout 10s expires 9s }}"),
            Instant::now(),
        );
        m.apply(
            &format!("delete element ip {T} aff {{ 10.8.0.9 timeout 10s expires 2s }}"),
            Instant::now(),
        );
        assert!(!m.present(Ipv4Addr::new(10, 8, 0, 9)));
    }

    #[test]
    fn deleting_the_table_clears_everything() {
        let mut m = mirror(&format!(
            "add rule ip {T} c ip daddr 10.8.0.3 accept # handle 3\n\
             add element ip {T} s {{ 10.8.0.4 }}"
        ));
        m.apply(&format!("delete table ip {T} # handle 427"), Instant::now());
        assert!(!m.present(Ipv4Addr::new(10, 8, 0, 3)));
        assert!(!m.present(Ipv4Addr::new(10, 8, 0, 4)));
    }

    /// A table of this test's own, loaded and changed with `nft`, seen
    /// through `nft monitor` (root and nftables, as CI has).
    #[tokio::test]
    async fn monitor_sees_a_table_loaded_here() {
        let table = format!(
            "rkube-bench-mon-{}-{:06x}",
            std::process::id(),
            rand::random::<u32>() & 0xff_ffff
        );
        struct Drop_(String);
        impl Drop for Drop_ {
            fn drop(&mut self) {
                let _ = std::process::Command::new("nft")
                    .args(["delete", "table", "ip", &self.0])
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let _guard = Drop_(table.clone());
        let mut mon = Monitor::start(&table)
            .await
            .expect("nft monitor runs (root, Debian package nftables)");
        let vip = Ipv4Addr::new(10, 213, 0, 7);
        let ep = Ipv4Addr::new(10, 212, 1, 9);
        let t0 = Instant::now();
        rkube_net::cmd::nft(&format!(
            "table ip {table} {{\n\
               map service-ips {{ type ipv4_addr . inet_proto . inet_service : verdict; }}\n\
               chain endpoint-A__{ep}/80 {{ meta l4proto tcp dnat to {ep}:80; }}\n\
               chain service-A {{ numgen random mod 1 vmap {{ 0 : goto endpoint-A__{ep}/80 }}; }}\n\
             }}\n\
             add element ip {table} service-ips {{ {vip} . tcp . 80 : goto service-A }}\n"
        ))
        .await
        .expect("nft loads the table");
        let seen = mon
            .wait_for(vip, true, t0, Duration::from_secs(5))
            .await
            .expect("monitor");
        assert!(seen.is_some(), "the ClusterIP's element was not seen");
        mon.wait_all(&[vip, ep], Duration::from_secs(5))
            .await
            .expect("both addresses seen");

        let t1 = Instant::now();
        rkube_net::cmd::nft(&format!(
            "flush chain ip {table} service-A\nflush chain ip {table} endpoint-A__{ep}/80\n"
        ))
        .await
        .expect("nft flushes the chains");
        let gone = mon
            .wait_for(ep, false, t1, Duration::from_secs(5))
            .await
            .expect("monitor");
        assert!(gone.is_some(), "the endpoint's rules were seen going");
        assert!(mon.with(|m| m.present(vip)).expect("mirror"));

        let t2 = Instant::now();
        rkube_net::cmd::nft(&format!(
            "delete element ip {table} service-ips {{ {vip} . tcp . 80 }}\n"
        ))
        .await
        .expect("nft deletes the element");
        let gone = mon
            .wait_for(vip, false, t2, Duration::from_secs(5))
            .await
            .expect("monitor");
        assert!(gone.is_some(), "the ClusterIP's element was seen going");
        mon.stop().await;
    }
}
