//! Pulling images over the OCI distribution API: [`client`] speaks HTTP
//! (plain to loopback registries, HTTPS with the system's roots otherwise)
//! and answers authentication challenges ([`auth`]); [`pull`] fetches a
//! manifest, picks this platform from an index, and downloads and
//! verifies every blob into the store.

pub mod auth;
pub mod client;
pub mod pull;
