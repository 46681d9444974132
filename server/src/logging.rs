//! Logging to stderr through `log` and `env_logger`, as text or JSON lines.
//!
//! env_logger is the plain, well-kept `log` backend: one line per record to stderr, filtered by
//! level, with `RUST_LOG` honoured so an operator can raise one module's level without a flag.
//! The JSON format (`--log-format json`) writes one object per line, `ts`, `level`, `target`
//! and `msg`; access lines (target `switchyard::access`, see [`crate::access_log`]) carry
//! their fields as an `access` object instead of `msg`.

use std::io::Write as _;

use crate::access_log::LogFormat;

/// The target of access-log lines.
pub const ACCESS_TARGET: &str = "switchyard::access";

/// Installs the text logger with `level` as the default filter; `RUST_LOG`, when set, wins.
/// Calling it twice (tests starting several servers) keeps the first logger.
pub fn init(level: &str) {
    init_with(level, LogFormat::Text);
}

/// Installs the logger in `format` (see [`init`]).
pub fn init_with(level: &str, format: LogFormat) {
    let env = env_logger::Env::default().default_filter_or(level);
    let mut builder = env_logger::Builder::from_env(env);
    match format {
        LogFormat::Text => builder.format(|buf, record| {
            writeln!(
                buf,
                "{} {:5} {}",
                buf.timestamp_millis(),
                record.level(),
                record.args()
            )
        }),
        LogFormat::Json => builder.format(|buf, record| {
            let ts = buf.timestamp_millis().to_string();
            let head = format!(
                "{{\"ts\":{},\"level\":\"{}\",\"target\":{}",
                json_string(&ts),
                record.level(),
                json_string(record.target())
            );
            if record.target() == ACCESS_TARGET {
                // The access line is already a JSON object in this format.
                writeln!(buf, "{head},\"access\":{}}}", record.args())
            } else {
                let msg = record.args().to_string();
                writeln!(buf, "{head},\"msg\":{}}}", json_string(&msg))
            }
        }),
    };
    let _ = builder.target(env_logger::Target::Stderr).try_init();
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}
