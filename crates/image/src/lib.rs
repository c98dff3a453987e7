//! rkube's image store: the images of a node, and the root filesystems of
//! its containers. Start at [`ImageStore`]:
//!
//! - [`ImageStore::open`] a directory (`DATA_DIR/images`, see
//!   [`layout`](crate::layout) for what lives where);
//! - [`ImageStore::load_file`]: `docker save` tarballs, OCI layout
//!   directories and tars, compressed or not (`load.rs`, one pass through
//!   the file: `ingest.rs` stores, hashes and unpacks each layer as it
//!   streams by; `unpack.rs` refuses hostile archives);
//! - [`ImageStore::pull`]: the OCI distribution API (`registry/`);
//! - [`ImageStore::list`], [`ImageStore::resolve`], [`ImageStore::remove`];
//! - [`ImageStore::gc`] at the kubelet's thresholds, [`ImageStore::import_dir`]
//!   and [`watch_import_dir`] for the air-gap directory;
//! - [`ImageStore::prepare_rootfs`] / [`ImageStore::remove_rootfs`]:
//!   overlay mounts or copies (`snapshot.rs`).
//!
//! [`ImageStore`] implements [`rkube_cri::ImageService`] and
//! [`rkube_cri::Snapshotter`] (`service.rs`). Several processes may use one
//! store: the index is replaced by rename and its writers hold an flock.

mod blobs;
mod commit;
mod compression;
mod digest;
mod error;
mod gc;
mod import;
mod index;
mod ingest;
pub mod layout;
mod load;
mod manifest;
mod reference;
mod registry;
mod service;
mod snapshot;
mod space;
mod store;
#[cfg(feature = "test-support")]
pub mod test_support;
mod unpack;

pub use compression::Compression;
pub use digest::Digest;
pub use error::ImageError;
pub use gc::{DEFAULT_HIGH_PERCENT, DEFAULT_LOW_PERCENT};
pub use import::{watch_import_dir, Imported};
pub use reference::{normalize, Reference};
pub use snapshot::{is_mounted, SnapshotKind};
pub use store::ImageStore;
