//! Switchyard's benchmark tooling: the `switchyard-load` generator, the `switchyard-null`
//! reference server, criterion suites (`benches/`) and the peer comparison (`compare.py`).
//!
//! This library holds what the binaries and benches share:
//! - [`procfs`]: a process's CPU time (utime+stime) and resident memory, read from `/proc`, so that
//!   the load generator can report server CPU per operation and memory per connection;
//! - [`sys`]: raising `RLIMIT_NOFILE` and pinning the calling thread to a core;
//! - [`accept`]: the `Sec-WebSocket-Accept` value (RFC 6455 section 4.2.2), used by the null
//!   server, which must stay independent of the crates it is the yardstick for;
//! - [`mask`]: XOR masking of payloads with a 4-byte key (RFC 6455 section 5.3), for the null
//!   server;
//! - [`wire`]: the client side of the protocol as the load generator speaks it: the opening
//!   handshake through `switchyard-handshake`'s client, and masked client frames.
//!
//! Crates used and why: `hdrhistogram` gives latency percentiles with bounded error and constant
//! memory however many samples are recorded; `mio` is the event loop the server itself uses, so
//! the generator has the same syscall profile as a careful client; `socket2` binds a source
//! address before connecting (to spread connections over 127.0.0.x past the ~28,000 ephemeral
//! ports of one source address). `serde` and `serde_json` write what `switchyard-load` prints with
//! `--json` (the report and the `--hold` line) from typed values, and the crate's tests parse it
//! back into typed structs: hand-written JSON got escaping and non-finite numbers to get right
//! by hand, and tests that scraped it by string matching broke on any change of spacing.
#![deny(unsafe_code)]

pub mod accept;
pub mod mask;
pub mod procfs;
pub mod sys;
pub mod wire;
