//! Helpers shared by the bench crate's integration tests: what `switchyard-load --json` prints,
//! parsed with serde_json into typed structs, and polling with a deadline.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use serde::Deserialize;

/// The report `switchyard-load --json` prints at the end of a run: the fields these tests
/// check. Counts are integers (a count printed as `300.0` fails to parse here); a figure the
/// scenario does not report, or reports as `null` (not finite), is `None`.
#[derive(Debug, Deserialize)]
pub struct Report {
    pub scenario: String,
    pub server: String,
    pub errors: u64,
    pub ops: Option<u64>,
    pub open: Option<u64>,
    pub connections: Option<u64>,
    pub latency_p50_us: Option<f64>,
    pub server_cpu_us_per_op: Option<f64>,
    pub server_rss_before_kib: Option<f64>,
    pub server_rss_after_kib: Option<f64>,
    pub server_rss_per_conn_bytes: Option<f64>,
    pub open_after_hold: Option<u64>,
}

/// The line `switchyard-load idle --hold --json` prints once its connections are open.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Held {
    pub event: String,
    pub pid: u32,
    pub open: u64,
    pub errors: u64,
    pub hold_s: f64,
}

/// Parses one JSON line (or whole output) of `switchyard-load`, with the text in the panic.
pub fn parse<T: serde::de::DeserializeOwned>(json: &str) -> T {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

/// Polls `cond` every 20 ms until it holds; panics naming `what` once `timeout` has passed.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
