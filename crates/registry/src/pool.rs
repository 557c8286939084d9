//! A bounded pool for layer transfers: plain threads (each drives its
//! requests with `Session::block_on` and does the disk work itself), each
//! with its own store connection.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use store::Store;

use crate::RegistryError;

/// Runs `work` on every item, at most `workers` at once, and returns the
/// results in the items' order. After a failure no new item is started
/// (those running finish); an item not started gets `None`.
pub(crate) fn run<T: Sync, R: Send>(
    root: &Path,
    items: &[T],
    workers: usize,
    work: impl Fn(&mut Store, &T) -> Result<R, RegistryError> + Sync,
) -> Vec<Option<Result<R, RegistryError>>> {
    let results: Mutex<Vec<Option<Result<R, RegistryError>>>> =
        Mutex::new(std::iter::repeat_with(|| None).take(items.len()).collect());
    let next = AtomicUsize::new(0);
    let store_result = |i: usize, r: Result<R, RegistryError>| {
        if let Ok(mut all) = results.lock() {
            all[i] = Some(r);
        }
    };
    std::thread::scope(|s| {
        for _ in 0..workers.max(1).min(items.len()) {
            s.spawn(|| {
                let mut store = Store::open(root);
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(i) else { break };
                    let r = match &mut store {
                        Ok(st) => work(st, item),
                        Err(e) => Err(RegistryError::Protocol(e.to_string())),
                    };
                    let failed = r.is_err();
                    store_result(i, r);
                    if failed {
                        next.store(usize::MAX / 2, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    results.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner())
}
