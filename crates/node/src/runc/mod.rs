//! Pods on runc: the [`rkube_cri::RuntimeService`] of a real node.
//!
//! A sandbox is a network namespace (attached by the
//! [`rkube_cri::NetworkPlugin`]) and a directory with its hostname and
//! resolv.conf; each container is an OCI bundle (root filesystem from the
//! [`rkube_cri::Snapshotter`]) run by `runc` under a small shim process
//! (`rkube shim`) that outlives the node agent, writes the container's
//! output to its CRI-format log file and records its exit code, so a
//! restarted agent adopts running containers and loses no exit.
