//! The controllers' framework, as client-go's and kube-controller-manager's
//! shared code: what every controller uses and no controller owns.

pub mod informer;
