//! Services get cluster IPs and node ports from kube-apiserver's default
//! ranges, never twice, and give them back when deleted — through kubectl.

use rkube_e2e::Cluster;

fn service(name: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  selector: {{app: {name}}}\n  ports:\n  - port: 80\n{extra_spec}"
    )
}

#[test]
fn cluster_ips_and_node_ports_are_allocated_once_and_released() {
    let c = Cluster::up();
    let create = |name: &str, spec: &str| {
        let f = c.file(&format!("{name}.yaml"), &service(name, spec));
        c.kubectl(&["create", "-f", f.to_str().expect("path")])
    };
    let ip_of = |name: &str| c.ok(&["get", "svc", name, "-o", "jsonpath={.spec.clusterIP}"]);

    assert!(create("a", "").status.success());
    assert!(create("b", "  type: NodePort\n").status.success());
    let (a, b) = (ip_of("a"), ip_of("b"));
    for ip in [&a, &b] {
        let octets: Vec<u8> = ip.split('.').map(|o| o.parse().expect("octet")).collect();
        assert!(
            octets[0] == 10 && (96..112).contains(&octets[1]),
            "{ip} not in 10.96.0.0/12"
        );
    }
    assert_ne!(a, b);
    let node_port: u16 = c
        .ok(&[
            "get",
            "svc",
            "b",
            "-o",
            "jsonpath={.spec.ports[0].nodePort}",
        ])
        .parse()
        .expect("port");
    assert!((30000..=32767).contains(&node_port), "{node_port}");

    // Asking for a taken IP is Invalid, naming the field.
    let out = create("c", &format!("  clusterIP: {a}\n"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!(r#"Service "c" is invalid: spec.clusterIPs: Invalid value: []string{{"{a}"}}: failed to allocate IP {a}: provided IP is already allocated"#)),
        "{err}"
    );
    // Out of range too.
    let out = create("d", "  clusterIP: 192.168.0.10\n");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not in the valid range"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Deleting the Service releases its IP: the same IP can be asked for again.
    c.ok(&["delete", "svc", "a"]);
    assert!(
        create("c", &format!("  clusterIP: {a}\n")).status.success(),
        "{}",
        c.log()
    );
    assert_eq!(ip_of("c"), a);

    // Headless Services have no IP.
    assert!(create("h", "  clusterIP: None\n").status.success());
    assert_eq!(ip_of("h"), "None");
}
