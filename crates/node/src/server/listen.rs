//! (being built) HTTPS for the node's API; see `mod.rs`.
