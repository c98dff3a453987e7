//! One file per subcommand: its clap arguments and its `run` function.

pub mod bench;
pub mod common;
pub mod node;
pub mod server;
pub mod up;
