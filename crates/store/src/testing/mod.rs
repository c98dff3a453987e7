//! Helpers for tests and benchmarks that need real external processes.
//!
//! - [`EtcdServer`]: a throw-away single-member etcd on loopback ports, used by
//!   the etcd conformance tests and by `rkube bench` as the comparison peer.
//!
//! This is an ordinary (not `cfg(test)`) module so that other crates'
//! tests and the benchmark harness can use it.

mod etcd_server;

pub use etcd_server::{EtcdServer, EtcdServerOptions};
