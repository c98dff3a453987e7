//! Claiming the objects a controller's selector matches, as
//! kube-controller-manager's `ControllerRefManager`: a controller keeps
//! what it controls and still selects, releases what it controls and no
//! longer selects (unless it is being deleted), and adopts orphans it
//! selects (unless it or the orphan is being deleted). What another
//! controller controls is left alone, without matching the selector.

use std::fmt::Debug;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::Api;
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::debug;

use crate::framework::owner::{adopt, release};
use crate::pods::controller_of;

/// What to do with one candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Controlled by the owner and still selected.
    Keep,
    /// An orphan the owner selects: becomes the owner's.
    Adopt,
    /// Controlled by the owner and no longer selected: let go.
    Release,
    /// Another controller's, or not to be touched now.
    Ignore,
}

/// The decision for an object with metadata `meta`, for the owner with
/// uid `owner_uid`; `selects` is asked only when the answer depends on it.
pub fn decide(
    owner_uid: &str,
    owner_deleting: bool,
    meta: &ObjectMeta,
    selects: impl Fn() -> bool,
) -> Claim {
    match controller_of(meta) {
        Some(c) if c.uid != owner_uid => Claim::Ignore,
        Some(_) if selects() => Claim::Keep,
        // An owner being deleted keeps its references: the garbage
        // collector follows them.
        Some(_) if owner_deleting => Claim::Ignore,
        Some(_) => Claim::Release,
        None if owner_deleting || meta.deletion_timestamp.is_some() => Claim::Ignore,
        None if selects() => Claim::Adopt,
        None => Claim::Ignore,
    }
}

/// Who claims: the owner's reference (with `controller: true`), whether it
/// is being deleted, and its namespace (candidates elsewhere are ignored).
pub struct Claimer<'a> {
    pub owner: OwnerReference,
    pub owner_deleting: bool,
    pub namespace: &'a str,
}

impl Claimer<'_> {
    /// Claims `candidates` through `api`: returns the objects the owner
    /// controls afterwards (an adopted one as the adoption wrote it).
    pub async fn claim<K>(
        &self,
        api: &Api<K>,
        candidates: impl IntoIterator<Item = Arc<K>>,
        selects: impl Fn(&K) -> bool,
    ) -> Result<Vec<Arc<K>>, kube::Error>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    {
        let mut owned = Vec::new();
        for obj in candidates {
            if obj.meta().namespace.as_deref().unwrap_or("") != self.namespace {
                continue;
            }
            let claim = decide(&self.owner.uid, self.owner_deleting, obj.meta(), || {
                selects(&obj)
            });
            match claim {
                Claim::Keep => owned.push(obj),
                Claim::Adopt => {
                    debug!(owner = %self.owner.name, kind = %K::kind(&()), name = %obj.name_any(), "adopting");
                    if let Some(adopted) = adopt(api, &obj, self.owner.clone()).await? {
                        owned.push(Arc::new(adopted));
                    }
                }
                Claim::Release => {
                    debug!(owner = %self.owner.name, kind = %K::kind(&()), name = %obj.name_any(), "releasing");
                    release(api, &obj, &self.owner.uid).await?;
                }
                Claim::Ignore => {}
            }
        }
        Ok(owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    fn meta(controller: Option<&str>, deleting: bool) -> ObjectMeta {
        ObjectMeta {
            owner_references: controller.map(|uid| {
                vec![OwnerReference {
                    uid: uid.into(),
                    controller: Some(true),
                    ..OwnerReference::default()
                }]
            }),
            deletion_timestamp: deleting.then_some(Time(Timestamp::UNIX_EPOCH)),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn keeps_releases_and_adopts_as_the_controller_ref_manager() {
        assert_eq!(
            decide("me", false, &meta(Some("me"), false), || true),
            Claim::Keep
        );
        assert_eq!(
            decide("me", false, &meta(Some("me"), false), || false),
            Claim::Release
        );
        assert_eq!(
            decide("me", false, &meta(None, false), || true),
            Claim::Adopt
        );
        assert_eq!(
            decide("me", false, &meta(None, false), || false),
            Claim::Ignore
        );
    }

    #[test]
    fn an_owner_being_deleted_neither_adopts_nor_releases() {
        assert_eq!(
            decide("me", true, &meta(Some("me"), false), || true),
            Claim::Keep
        );
        assert_eq!(
            decide("me", true, &meta(Some("me"), false), || false),
            Claim::Ignore
        );
        assert_eq!(
            decide("me", true, &meta(None, false), || true),
            Claim::Ignore
        );
    }

    #[test]
    fn orphans_being_deleted_are_not_adopted() {
        assert_eq!(
            decide("me", false, &meta(None, true), || true),
            Claim::Ignore
        );
    }

    #[test]
    fn another_controllers_objects_are_not_matched() {
        let claim = decide("me", false, &meta(Some("other"), false), || {
            panic!("the selector of another controller's object was asked")
        });
        assert_eq!(claim, Claim::Ignore);
    }
}
