//! The `switchyard` binary: flags and config file in, a running server out, until SIGINT or
//! SIGTERM.

use std::process::ExitCode;

use switchyard::{logging, signals, Server};
use switchyard::{Config, Settings};

fn main() -> ExitCode {
    let config = match Config::from_cli(Settings::from_args()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("switchyard: {e}");
            return ExitCode::from(2);
        }
    };
    logging::init_with(&config.log_level, config.log_format);
    let summary = config.summary();
    // The drain window moves the shutdown deadline, and so the watchdog.
    let shutdown_timeout = config.shutdown_timeout + config.drain_window;
    let server = match Server::start(config) {
        Ok(s) => s,
        Err(e) => {
            log::error!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addrs: Vec<String> = server.local_addrs().iter().map(|a| a.to_string()).collect();
    log::info!("switchyard listening on {} {summary}", addrs.join(", "));
    // The first signal starts a graceful shutdown, which a watchdog bounds: the process ends
    // within the shutdown timeout plus a grace even if a reactor is stuck in a long piece of
    // work.
    let handle = server.handle();
    if let Err(e) = signals::spawn(server.handle(), shutdown_timeout) {
        log::error!("cannot install signal handlers: {e}");
        return ExitCode::FAILURE;
    }
    match server.join() {
        Ok(()) => {
            log::info!("switchyard stopped: {}", handle.summary());
            ExitCode::SUCCESS
        }
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
