//! SIGINT and SIGTERM: the first starts a graceful shutdown, bounded by a watchdog; a second one
//! exits at once. SIGHUP reloads the TLS certificates ([`crate::ServerHandle::reload_tls`]).
//!
//! signal-hook's iterator runs the handler's real work on an ordinary thread, so the shutdown
//! may lock, allocate and log (none of which is allowed in a signal handler).

use std::io;
use std::time::Duration;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::ServerHandle;

/// How long past the shutdown timeout the watchdog waits before it ends the process: time for
/// the reactors to notice their deadline after the piece of work they are in (one read's
/// messages), close what is left and return.
pub const WATCHDOG_GRACE: Duration = Duration::from_secs(1);

/// Exit status when a second signal cuts the drain short (128 + SIGINT, as shells report it).
pub const EXIT_SECOND_SIGNAL: i32 = 130;

/// Exit status when the watchdog ends a shutdown that overran its timeout: the drain was not
/// graceful, which whoever supervises the process should see.
pub const EXIT_WATCHDOG: i32 = 1;

/// Spawns the signal thread. On the first SIGINT or SIGTERM it starts `server`'s graceful
/// shutdown and a watchdog: if the process still runs `shutdown_timeout` plus
/// [`WATCHDOG_GRACE`] later (a reactor that has not come back to its loop), the watchdog logs
/// the workers that did not stop and exits with [`EXIT_WATCHDOG`]. SIGHUP reloads the TLS
/// certificates and changes nothing else. On a second SIGINT or SIGTERM the
/// process exits with [`EXIT_SECOND_SIGNAL`] without waiting for the drain.
pub fn spawn(server: ServerHandle, shutdown_timeout: Duration) -> io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("switchyard-signals".to_owned())
        .spawn(move || {
            let mut first = true;
            for sig in signals.forever() {
                if sig == SIGHUP {
                    // Certificate rotation: established connections are not touched.
                    match server.reload_tls() {
                        Some(report) => log::info!(
                            "SIGHUP: TLS certificates reloaded ({} replaced, {} kept after errors)",
                            report.replaced.len(),
                            report.kept.len()
                        ),
                        None => log::info!("SIGHUP: no TLS certificates to reload"),
                    }
                    continue;
                }
                let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
                if !first {
                    log::warn!("{name} again: exiting without waiting");
                    std::process::exit(EXIT_SECOND_SIGNAL);
                }
                first = false;
                log::info!("{name}: shutting down gracefully (send again to exit now)");
                server.shutdown();
                let watched = server.clone();
                let watchdog = std::thread::Builder::new()
                    .name("switchyard-watchdog".to_owned())
                    .spawn(move || watchdog(&watched, shutdown_timeout + WATCHDOG_GRACE));
                if let Err(e) = watchdog {
                    log::error!("cannot start the shutdown watchdog: {e}");
                }
            }
        })?;
    Ok(())
}

/// Sleeps `limit`, then ends the process: it only runs that long if the shutdown overran (a
/// stopped server returns from `main`, which ends this thread with the process).
fn watchdog(server: &ServerHandle, limit: Duration) {
    std::thread::sleep(limit);
    let running = server.running_workers();
    log::error!(
        "shutdown did not finish within {} ms: workers {} still running ({} connections \
         open); exiting",
        limit.as_millis(),
        running
            .iter()
            .map(|w| w.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        server.connections()
    );
    std::process::exit(EXIT_WATCHDOG);
}
