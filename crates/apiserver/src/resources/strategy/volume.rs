//! PersistentVolumes and PersistentVolumeClaims: everything but admission
//! is the default; their admission plugins are the storage ones
//! (DefaultStorageClass, StorageObjectInUseProtection,
//! PersistentVolumeClaimResize).

use super::hooks::{Admitted, Strategy};

/// The strategy of PersistentVolumeClaims.
pub struct ClaimStrategy;

impl Strategy for ClaimStrategy {
    fn admitted(&self) -> Admitted {
        Admitted::Claim
    }
}

/// The strategy of PersistentVolumes.
pub struct VolumeStrategy;

impl Strategy for VolumeStrategy {
    fn admitted(&self) -> Admitted {
        Admitted::Volume
    }
}
