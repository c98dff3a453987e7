//! SPDY/3.1 as client-go's spdystream speaks it: the frame codec
//! (`frame.rs`), header blocks with their zlib dictionary
//! (`headers.rs`), and the server's connection driver (`conn.rs`: streams
//! opened by the client, replies, pings, window updates).

pub mod conn;
pub mod frame;
pub mod headers;

pub use frame::{Codec, Frame};
pub use headers::HeaderList;
