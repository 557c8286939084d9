//! The container model and monitor live in the engine; these names stay
//! here while the CLI's commands move onto the engine's operations.

use crate::exit::{Failure, ENGINE_ERROR};

pub use engine::container::{load_config, RestartPolicy};
pub use engine::monitor::*;

pub fn engine(msg: impl Into<String>) -> anyhow::Error {
    Failure::new(ENGINE_ERROR, msg).into()
}
