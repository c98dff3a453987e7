//! `bindings` (core/v1 `Binding`): a create binds the pod the body names
//! (kube-apiserver's `BindingREST`); nothing is stored.

use super::hooks::{CreateAction, Strategy};

/// The strategy of `bindings`.
pub struct BindingStrategy;

impl Strategy for BindingStrategy {
    fn create_action(&self) -> CreateAction {
        CreateAction::BindPod
    }
}
