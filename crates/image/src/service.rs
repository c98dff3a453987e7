//! The CRI traits on [`ImageStore`]: [`ImageService`] and [`Snapshotter`].
//! Blocking file work runs on tokio's blocking pool.

use async_trait::async_trait;
use rkube_cri::{CriError, ImageInfo, ImageService, RegistryAuth, Rootfs, Snapshotter};

use crate::error::ImageError;
use crate::store::ImageStore;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ImageError> + Send + 'static,
) -> Result<T, CriError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(CriError::from),
        Err(err) => Err(CriError::Runtime(format!("image store task failed: {err}"))),
    }
}

#[async_trait]
impl ImageService for ImageStore {
    async fn image_status(&self, image: &str) -> Result<Option<ImageInfo>, CriError> {
        let (store, image) = (self.clone(), image.to_string());
        blocking(move || store.resolve(&image)).await
    }

    async fn pull_image(&self, image: &str, auth: &[RegistryAuth]) -> Result<ImageInfo, CriError> {
        self.pull(image, auth).await.map_err(|err| match err {
            ImageError::NotFound(_)
            | ImageError::Registry { .. }
            | ImageError::InvalidReference(..) => CriError::ImagePull(err.to_string()),
            other => CriError::ImagePull(format!("pulling {image}: {other}")),
        })
    }

    async fn list_images(&self) -> Result<Vec<ImageInfo>, CriError> {
        let store = self.clone();
        blocking(move || store.list()).await
    }

    async fn remove_image(&self, image: &str) -> Result<(), CriError> {
        let (store, image) = (self.clone(), image.to_string());
        blocking(move || store.remove(&image)).await
    }
}

#[async_trait]
impl Snapshotter for ImageStore {
    async fn prepare(&self, key: &str, image_id: &str) -> Result<Rootfs, CriError> {
        let (store, key, image) = (self.clone(), key.to_string(), image_id.to_string());
        let path = blocking(move || store.prepare_rootfs(&key, &image)).await?;
        Ok(Rootfs { path })
    }

    async fn remove(&self, key: &str) -> Result<(), CriError> {
        let (store, key) = (self.clone(), key.to_string());
        blocking(move || store.remove_rootfs(&key)).await
    }
}
