//! [`ImageService`]: the images a node has, pulls and removes (CRI's
//! `ImageService`).

use async_trait::async_trait;

use crate::error::CriError;

/// An image the node has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageInfo {
    /// `sha256:<hex>` of the image's config: `imageID` in a container's
    /// status, and the key the snapshotter prepares a rootfs from.
    pub id: String,
    /// Normalised names, `docker.io/library/busybox:latest`.
    pub repo_tags: Vec<String>,
    /// `docker.io/library/busybox@sha256:<manifest hex>` for pulled images.
    pub repo_digests: Vec<String>,
    /// Bytes on disk (compressed layers plus config), as `status.images`.
    pub size: u64,
    /// From the image config: what runs when the pod says nothing.
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// `NAME=value`, in the image's order.
    pub env: Vec<String>,
    pub working_dir: String,
    /// `user`, `uid`, `user:group` or `uid:gid`, as the image says; empty
    /// for root.
    pub user: String,
    /// Loaded from a file (`rkube image load`, the import directory) rather
    /// than pulled: never garbage collected while a pod uses it.
    pub loaded: bool,
}

/// Credentials for one registry, from an `imagePullSecrets` entry of type
/// `kubernetes.io/dockerconfigjson`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistryAuth {
    pub username: String,
    pub password: String,
    /// A bearer token given directly (`registrytoken` in the config).
    pub registry_token: String,
}

/// The node's images (CRI `ImageService`). Names are as a pod spec writes
/// them (`busybox`, `localhost:5000/app:v1`, `app@sha256:…`); the service
/// normalises them as Docker does.
#[async_trait]
pub trait ImageService: Send + Sync {
    /// The image this name refers to, if the node has it.
    async fn image_status(&self, image: &str) -> Result<Option<ImageInfo>, CriError>;
    /// Pull the image from its registry. `auth` holds the credentials that
    /// match the registry, tried in order (none: anonymous).
    async fn pull_image(&self, image: &str, auth: &[RegistryAuth]) -> Result<ImageInfo, CriError>;
    /// Every image the node has.
    async fn list_images(&self) -> Result<Vec<ImageInfo>, CriError>;
    /// Remove the image (by name or id).
    async fn remove_image(&self, image: &str) -> Result<(), CriError>;
}
