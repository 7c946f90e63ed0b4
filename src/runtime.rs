//! The process's one async runtime.
//!
//! Built on first use and never dropped (a static): a current-thread runtime with IO and
//! timers. Every part that needs async work from synchronous code — the render's fetch phase,
//! `versions`, the Kubernetes settings Secret, Vault transit and AWS KMS keys inside a sops
//! decryption, `refresh`, the exec commands' signal handling — runs on it through
//! [`block_on`], so connections a shared client opened stay usable by every later caller.
//!
//! [`block_on`] may be called from the main thread and from the runtime's blocking threads (a
//! sops decryption the render moved off the async thread): tokio lets a thread that does not
//! hold the runtime's core wait on its own future while the core's holder drives IO and
//! timers. It must not be called from inside an async task.
//!
//! Never dropping it means a blocking decryption the run's deadline gave up on never delays
//! the exit: the process ends with it still running.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::Runtime;

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// The runtime, built on first use.
pub fn get() -> Result<&'static Runtime, String> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the async runtime: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Runs `fut` to completion on the runtime (see the module documentation for where it may be
/// called).
pub fn block_on<F: Future>(fut: F) -> Result<F::Output, String> {
    Ok(get()?.block_on(fut))
}

#[cfg(test)]
mod tests {
    #[test]
    fn blocking_threads_of_a_running_block_on_can_block_on_too() {
        // What a render does: the main thread drives the runtime; a blocking thread (a sops
        // decryption) runs its own async call (transit) on the same runtime and waits for it.
        let out = super::block_on(async {
            tokio::task::spawn_blocking(|| {
                super::block_on(async {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    7
                })
            })
            .await
        })
        .unwrap();
        assert_eq!(out.unwrap().unwrap(), 7);
    }
}
