//! Services and NetworkPolicies refused as kube-apiserver refuses them,
//! through `kubectl apply` (kubectl 1.37): duplicate ports and nodePorts,
//! a nodePort out of range, bad externalIPs, an affinity timeout out of
//! range, a traffic policy where it does not belong, bad source ranges,
//! a bad ExternalName; NetworkPolicies with a bad CIDR, an `except`
//! outside its `cidr`, an `endPort` below `port` or without a numeric
//! `port`, unknown protocols and policy types. Nothing is stored.

use rkube_e2e::Cluster;

fn refused(c: &Cluster, name: &str, yaml: &str, wants: &[&str]) {
    let f = c.file(name, yaml);
    let err = c.fails(&["apply", "-f", f.to_str().expect("utf-8 path")]);
    for want in wants {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
}

#[test]
fn bad_services_are_refused_with_kube_apiservers_messages() {
    let c = Cluster::up();
    refused(
        &c,
        "dup.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: dup\nspec:\n  type: NodePort\n  ports:\n  - {name: a, port: 80, nodePort: 30080}\n  - {name: b, port: 80, nodePort: 30080}\n",
        &[
            r#"The Service "dup" is invalid"#,
            r#"spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}"#,
            "spec.ports[1].nodePort: Duplicate value: 30080",
        ],
    );
    refused(
        &c,
        "range.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: range\nspec:\n  type: NodePort\n  ports:\n  - {port: 80, nodePort: 40000}\n",
        &["spec.ports[0].nodePort: Invalid value: 40000: provided port is not in the valid range. The range of valid ports is 30000-32767"],
    );
    refused(
        &c,
        "misc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: misc\nspec:\n  externalIPs: [\"not-an-ip\", \"127.0.0.1\"]\n  sessionAffinity: ClientIP\n  sessionAffinityConfig:\n    clientIP: {timeoutSeconds: 90000}\n  externalTrafficPolicy: Local\n  loadBalancerSourceRanges: [\"10.0.0.0/99\"]\n  ports:\n  - {port: 80}\n",
        &[
            r#"spec.externalIPs[0]: Invalid value: "not-an-ip": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"#,
            r#"spec.externalIPs[1]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)"#,
            "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 90000: must be greater than 0 and less than 86400",
            "spec.LoadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'",
            r#"spec.LoadBalancerSourceRanges[0]: Invalid value: "10.0.0.0/99": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"#,
        ],
    );
    refused(
        &c,
        "etp.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: etp\nspec:\n  externalTrafficPolicy: Local\n  ports:\n  - {port: 80}\n",
        &[r#"spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible services"#],
    );
    refused(
        &c,
        "ext.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: ext\nspec:\n  type: ExternalName\n  externalName: Bad_Name\n",
        &[r#"spec.externalName: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain"#],
    );
    for name in ["dup", "range", "misc", "etp", "ext"] {
        assert!(c.kubectl(&["get", "svc", name]).status.code() != Some(0));
    }
    // The same port over TCP and UDP is fine.
    let f = c.file(
        "dns.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: dns\nspec:\n  ports:\n  - {name: udp, port: 53, protocol: UDP}\n  - {name: tcp, port: 53, protocol: TCP}\n",
    );
    c.ok(&["apply", "-f", f.to_str().expect("utf-8 path")]);
}

#[test]
fn bad_network_policies_are_refused_with_kube_apiservers_messages() {
    let c = Cluster::up();
    refused(
        &c,
        "np.yaml",
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: bad
spec:
  podSelector: {}
  policyTypes: ["Ingress", "Sideways"]
  ingress:
  - from:
    - ipBlock: {cidr: "10.0.0.0/33"}
    - ipBlock: {cidr: "10.0.0.0/16", except: ["10.1.0.0/24"]}
    ports:
    - {protocol: ICMP, port: 80}
    - {port: 9000, endPort: 8000}
    - {port: http, endPort: 90}
"#,
        &[
            r#"The NetworkPolicy "bad" is invalid"#,
            r#"spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.0.0/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"#,
            r#"spec.ingress[0].from[1].ipBlock.except[0]: Invalid value: "10.1.0.0/24": must be a strict subset of `cidr`"#,
            r#"spec.ingress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP""#,
            "spec.ingress[0].ports[1].endPort: Invalid value: 9000: must be greater than or equal to `port`",
            "spec.ingress[0].ports[2].endPort: Invalid value: 90: may not be specified when `port` is non-numeric",
            r#"spec.policyTypes[1]: Unsupported value: "Sideways": supported values: "Ingress", "Egress""#,
        ],
    );
    assert!(c.kubectl(&["get", "networkpolicy", "bad"]).status.code() != Some(0));
    let f = c.file(
        "good.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: good\nspec:\n  podSelector: {}\n  ingress:\n  - from:\n    - ipBlock: {cidr: 10.0.0.0/16, except: [10.0.1.0/24]}\n    ports:\n    - {port: 8000, endPort: 9000}\n",
    );
    c.ok(&["apply", "-f", f.to_str().expect("utf-8 path")]);
}
