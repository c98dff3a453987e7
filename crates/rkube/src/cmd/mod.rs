//! One file per subcommand: its clap arguments and its `run` function.

pub mod bench;
pub mod common;
pub mod controller_manager;
pub mod image;
pub mod node;
pub mod real_node;
pub mod reset;
pub mod scheduler;
pub mod server;
pub mod shim;
pub mod sim;
pub mod up;
