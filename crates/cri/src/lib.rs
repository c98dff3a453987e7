//! The interfaces between the kubelet (`rkube-node`'s `kubelet/`) and what
//! runs its pods, after Kubernetes' CRI (`RuntimeService`, `ImageService`)
//! and containerd's snapshotter and CNI plugins:
//!
//! - [`RuntimeService`]: pod sandboxes and containers (`rkube-node`'s
//!   `runc/` implements it with runc);
//! - [`ImageService`] and [`Snapshotter`]: images and the root filesystems
//!   made from them (`rkube-image`);
//! - [`NetworkPlugin`]: a pod's interface and address in its network
//!   namespace (`rkube-net`).
//!
//! Types and traits only: no I/O, no Kubernetes objects. The kubelet turns
//! a Pod into these requests; the implementations know nothing of Pods.

mod error;
mod image;
mod network;
mod runtime;
mod snapshot;
mod streaming;

pub use error::CriError;
pub use image::{ImageInfo, ImageService, RegistryAuth};
pub use network::{NetworkAttachment, NetworkPlugin, PodAddress, PortMapping, Protocol};
pub use runtime::{
    Capabilities, ContainerConfig, ContainerState, ContainerStatus, DnsConfig, ExecResult, Mount,
    PodSandboxConfig, Resources, RuntimeService, SandboxInfo, SandboxState, Seccomp,
    SecurityConfig,
};
pub use snapshot::{Rootfs, Snapshotter};
pub use streaming::{
    AttachRequest, ContainerStats, ExecRequest, ExitFuture, PodSandboxStats, StreamIo, TermSize,
};
