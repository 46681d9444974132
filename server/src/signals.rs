//! SIGINT and SIGTERM: the first starts a graceful shutdown, a second one exits at once.
//!
//! signal-hook's iterator runs the handler's real work on an ordinary thread, so the shutdown
//! callback may lock, allocate and log (none of which is allowed in a signal handler).

use std::io;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Spawns the signal thread. `shutdown` runs on the first SIGINT or SIGTERM; on the second the
/// process exits with status 130 without waiting for the drain.
pub fn spawn(shutdown: impl FnOnce() + Send + 'static) -> io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("switchyard-signals".to_owned())
        .spawn(move || {
            let mut shutdown = Some(shutdown);
            for sig in signals.forever() {
                let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
                match shutdown.take() {
                    Some(f) => {
                        log::info!("{name}: shutting down gracefully (send again to exit now)");
                        f();
                    }
                    None => {
                        log::warn!("{name} again: exiting without waiting");
                        std::process::exit(130);
                    }
                }
            }
        })?;
    Ok(())
}
