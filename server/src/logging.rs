//! Logging to stderr through `log` and `env_logger`.
//!
//! env_logger is the plain, well-kept `log` backend: one line per record to stderr, filtered by
//! level, with `RUST_LOG` honoured so an operator can raise one module's level without a flag.

use std::io::Write as _;

/// Installs the logger with `level` as the default filter; `RUST_LOG`, when set, wins.
/// Calling it twice (tests starting several servers) keeps the first logger.
pub fn init(level: &str) {
    let env = env_logger::Env::default().default_filter_or(level);
    let _ = env_logger::Builder::from_env(env)
        .format(|buf, record| {
            writeln!(
                buf,
                "{} {:5} {}",
                buf.timestamp_millis(),
                record.level(),
                record.args()
            )
        })
        .target(env_logger::Target::Stderr)
        .try_init();
}
