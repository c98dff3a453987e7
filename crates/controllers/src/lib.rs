//! The controllers: each an ordinary API client on kube-runtime.
