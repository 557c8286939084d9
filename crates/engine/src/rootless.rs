//! What an ordinary user's wharf cannot do yet. Image layers hold files of
//! many owners and containers need namespaces, mounts and cgroups: both
//! take a user namespace mapping the user's subordinate IDs, which wharf
//! does not set up yet. Until it does, these operations are refused in
//! words up front rather than failing half-way on the first chown
//! ("Operation not permitted") and leaving a partial layer behind.

use crate::{Error, Result};

/// Refuses `what` (e.g. "importing an image") for an ordinary user.
pub fn needs_root(what: &str) -> Result<()> {
    if paths::rootless() {
        return Err(Error::unsupported(format!(
            "{what} as an ordinary user needs a user namespace, which this wharf does not set up yet: run it as root"
        )));
    }
    Ok(())
}
