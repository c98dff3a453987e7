//! Services: a new Service takes its cluster IPs and node ports (keys in
//! the store, see `allocator.rs`) in the transaction that stores it, and
//! gives them back when it goes.

use bytes::Bytes;
use rkube_apimachinery::Cause;
use serde_json::Value;

use super::super::allocator::{self, Allocation};
use super::hooks::Strategy;

/// The strategy of `services`.
pub struct ServiceStrategy;

impl Strategy for ServiceStrategy {
    fn allocate(&self, obj: &mut Value) -> Result<Vec<Allocation>, Vec<Cause>> {
        allocator::for_new_service(obj)
    }

    fn held_keys(&self, obj: &Value) -> Vec<Bytes> {
        allocator::held_by(obj)
    }
}
