//! A host whose iptables `FORWARD` policy is DROP (what a Docker daemon
//! sets), with `br_netfilter` passing bridged traffic through that hook:
//! pods still reach each other through rkube's own `FORWARD` rules, which
//! teardown removes, leaving the policy as it was.
//!
//! The host is a scratch network namespace (so the real host's firewall is
//! never touched): the outer test makes it, sets its policy to DROP and runs
//! this test binary's inner test inside it.

mod common;

use std::process::Command;

use common::{ping, require, sh, TestNet};
use rkube_cri::NetworkPlugin;
use rkube_net::BridgeNetwork;

const INNER: &str = "RKUBE_NET_FORWARD_DROP_INNER";

struct Scratch(String);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn forward_rules() -> String {
    let out = sh(&["iptables", "-w", "-S", "FORWARD"]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn pods_reach_each_other_through_a_forward_drop_policy() {
    require("iptables", "iptables");
    require("ip", "iproute2");
    let name = format!("rkube-fw{}-{}", std::process::id(), rand_suffix());
    let out = sh(&["ip", "netns", "add", &name]);
    assert!(out.status.success(), "ip netns add: {out:?}");
    let _scratch = Scratch(name.clone());
    let out = sh(&[
        "ip", "netns", "exec", &name, "iptables", "-w", "-P", "FORWARD", "DROP",
    ]);
    assert!(out.status.success(), "iptables -P FORWARD DROP: {out:?}");
    let exe = std::env::current_exe().expect("test binary");
    let out = Command::new("ip")
        .args(["netns", "exec", &name])
        .arg(exe)
        .args(["--exact", "inner_forward_drop", "--ignored", "--nocapture"])
        .env(INNER, "1")
        .output()
        .expect("run the inner test");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "inner test failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos()
}

#[tokio::test]
#[ignore = "runs inside a scratch namespace, started by pods_reach_each_other_through_a_forward_drop_policy"]
async fn inner_forward_drop() {
    assert!(
        std::env::var_os(INNER).is_some(),
        "only for the scratch namespace of pods_reach_each_other_through_a_forward_drop_policy"
    );
    let _ = sh(&["ip", "link", "set", "lo", "up"]);
    assert!(forward_rules().contains("-P FORWARD DROP"));
    let mut t = TestNet::new();
    let (ns_a, ns_b) = (t.netns(), t.netns());
    let net = BridgeNetwork::start(t.config.clone()).await.expect("start");
    let a = net
        .add(&t.attachment(&t.sandbox("a"), &ns_a))
        .await
        .expect("add a");
    net.add(&t.attachment(&t.sandbox("b"), &ns_b))
        .await
        .expect("add b");
    let mark = format!("rkube-podnet {}", t.config.bridge);
    assert!(forward_rules().contains(&mark), "{}", forward_rules());
    assert!(ping(&ns_b, &a.ip.to_string()), "b cannot reach a");

    // Without rkube's rules the policy drops the bridged traffic …
    rkube_net::host_firewall::remove(&t.config).await;
    assert!(!forward_rules().contains(&mark));
    assert!(
        !ping(&ns_b, &a.ip.to_string()),
        "the DROP policy did not apply"
    );
    // … and a resync puts them back.
    net.resync().await.expect("resync");
    assert!(
        ping(&ns_b, &a.ip.to_string()),
        "b cannot reach a after resync"
    );

    net.teardown_all().await.expect("teardown");
    let rules = forward_rules();
    assert!(!rules.contains(&mark), "{rules}");
    assert!(
        rules.contains("-P FORWARD DROP"),
        "the policy changed: {rules}"
    );
}
