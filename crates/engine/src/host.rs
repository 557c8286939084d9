//! What the engine asks of the host for containers that exist: the OCI
//! runtime (freeze, thaw, forget a container) and the network driver
//! (take a container's network down). The engine's rules around them
//! (state transitions, what a failure leaves, what is reported) take a
//! `&dyn Host`, so unit tests drive them with a fake host, without root;
//! the real one is [`System`]. Creating and supervising a container stay
//! with the monitor, which only the real host can run.

use std::path::Path;

use crate::container::ContainerConfig;
use crate::{Error, Result};

/// An OCI runtime's operations on an existing container.
pub trait ContainerRuntime {
    fn pause(&self, id: &str) -> Result<()>;
    fn resume(&self, id: &str) -> Result<()>;
    /// Resumes it if it is paused.
    fn thaw(&self, id: &str) -> Result<()>;
    /// Forgets the container (its state and cgroup), killing what is left.
    fn delete(&self, id: &str) -> Result<()>;
}

/// A network driver's operations on a container's network.
pub trait NetworkDriver {
    /// Takes the container's network down: every step tried, each
    /// failure returned.
    fn teardown(&self, id: &str) -> Vec<Error>;
}

/// The host: the runtime a container was created for, and the network.
pub trait Host {
    fn runtime(&self, root: &Path, cfg: &ContainerConfig) -> Box<dyn ContainerRuntime>;
    fn network(&self) -> &dyn NetworkDriver;
}

/// The real host: the embedded runtime or the container's `--runtime`
/// binary, and wharf's bridge networking.
pub struct System;

impl Host for System {
    fn runtime(&self, root: &Path, cfg: &ContainerConfig) -> Box<dyn ContainerRuntime> {
        Box::new(crate::monitor::runtime_for(root, cfg.runtime.as_deref()))
    }

    fn network(&self) -> &dyn NetworkDriver {
        self
    }
}

impl NetworkDriver for System {
    fn teardown(&self, id: &str) -> Vec<Error> {
        network::teardown(id).into_iter().map(Error::from).collect()
    }
}

impl ContainerRuntime for runtime::Runtime {
    fn pause(&self, id: &str) -> Result<()> {
        Ok(runtime::Runtime::pause(self, id)?)
    }

    fn resume(&self, id: &str) -> Result<()> {
        Ok(runtime::Runtime::resume(self, id)?)
    }

    fn thaw(&self, id: &str) -> Result<()> {
        Ok(runtime::Runtime::thaw(self, id)?)
    }

    fn delete(&self, id: &str) -> Result<()> {
        Ok(runtime::Runtime::delete(self, id)?)
    }
}

#[cfg(test)]
pub(crate) mod fake {
    //! A host that records what the engine asked of it and fails where
    //! told to.

    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;

    #[derive(Default, Clone)]
    pub struct FakeHost {
        /// `pause ID`, `resume ID`, `delete ID`, `teardown ID`, in order.
        pub calls: Rc<RefCell<Vec<String>>>,
        /// Operations (`pause`, `teardown`, ...) that fail.
        pub failing: Rc<RefCell<Vec<&'static str>>>,
    }

    impl FakeHost {
        pub fn fail(&self, op: &'static str) {
            self.failing.borrow_mut().push(op);
        }

        pub fn calls(&self) -> Vec<String> {
            self.calls.borrow().clone()
        }

        fn record(&self, op: &'static str, id: &str) -> Result<()> {
            self.calls.borrow_mut().push(format!("{op} {id}"));
            match self.failing.borrow().contains(&op) {
                true => Err(Error::internal(format!("{op} failed"))),
                false => Ok(()),
            }
        }
    }

    impl Host for FakeHost {
        fn runtime(&self, _: &Path, _: &ContainerConfig) -> Box<dyn ContainerRuntime> {
            Box::new(self.clone())
        }

        fn network(&self) -> &dyn NetworkDriver {
            self
        }
    }

    impl ContainerRuntime for FakeHost {
        fn pause(&self, id: &str) -> Result<()> {
            self.record("pause", id)
        }

        fn resume(&self, id: &str) -> Result<()> {
            self.record("resume", id)
        }

        fn thaw(&self, id: &str) -> Result<()> {
            self.record("thaw", id)
        }

        fn delete(&self, id: &str) -> Result<()> {
            self.record("delete", id)
        }
    }

    impl NetworkDriver for FakeHost {
        fn teardown(&self, id: &str) -> Vec<Error> {
            self.record("teardown", id).err().into_iter().collect()
        }
    }
}
