//! The access log's per-connection records, kept only when the access log is on
//! (`--access-log`): a side table indexed by the connection's keepalive slot, so a server
//! without an access log spends nothing on it (not even a pointer per connection).
//!
//! A record is created at the 101, counts messages and bytes both ways, and becomes one
//! `info` line on target `switchyard::access` when the WebSocket leaves (see
//! [`crate::access_log`] for the line).

use std::net::SocketAddr;
use std::time::Instant;

use crate::access_log::{write_access_line, AccessRecord, ClosedBy, LogFormat};

/// One connection's figures.
pub(crate) struct Stats {
    started: Instant,
    peer: Option<SocketAddr>,
    path: Box<str>,
    subprotocol: Option<Box<str>>,
    messages_in: u64,
    bytes_in: u64,
    messages_out: u64,
    bytes_out: u64,
}

/// The records of one reactor, by keepalive slot.
#[derive(Default)]
pub(crate) struct AccessLog {
    by_slot: Vec<Option<Box<Stats>>>,
    format: Option<LogFormat>,
}

impl AccessLog {
    /// An access log in `format`, or none.
    pub fn new(format: Option<LogFormat>) -> Self {
        Self {
            by_slot: Vec::new(),
            format,
        }
    }

    /// Whether records are kept.
    #[inline]
    pub fn enabled(&self) -> bool {
        self.format.is_some()
    }

    /// Starts the record of the connection in keepalive slot `slot`.
    pub fn open(
        &mut self,
        slot: u32,
        now: Instant,
        peer: Option<SocketAddr>,
        path: &str,
        subprotocol: Option<&str>,
    ) {
        if !self.enabled() {
            return;
        }
        let i = slot as usize;
        if self.by_slot.len() <= i {
            self.by_slot.resize_with(i + 1, || None);
        }
        // The query is left out: it may carry a token.
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        self.by_slot[i] = Some(Box::new(Stats {
            started: now,
            peer,
            path: path.into(),
            subprotocol: subprotocol.map(Into::into),
            messages_in: 0,
            bytes_in: 0,
            messages_out: 0,
            bytes_out: 0,
        }));
    }

    /// Counts traffic of the connection in `slot`.
    #[inline]
    pub fn count(&mut self, slot: u32, messages_in: u64, bytes_in: u64, out: (u64, u64)) {
        if let Some(Some(s)) = self.by_slot.get_mut(slot as usize) {
            s.messages_in += messages_in;
            s.bytes_in += bytes_in;
            s.messages_out += out.0;
            s.bytes_out += out.1;
        }
    }

    /// Ends the record of the connection in `slot` with its line.
    pub fn close(&mut self, slot: u32, now: Instant, code: Option<u16>, by: ClosedBy) {
        let (Some(format), Some(entry)) = (self.format, self.by_slot.get_mut(slot as usize)) else {
            return;
        };
        let Some(s) = entry.take() else { return };
        let record = AccessRecord {
            peer: s.peer,
            path: &s.path,
            subprotocol: s.subprotocol.as_deref(),
            duration: now.saturating_duration_since(s.started),
            messages_in: s.messages_in,
            bytes_in: s.bytes_in,
            messages_out: s.messages_out,
            bytes_out: s.bytes_out,
            close_code: code,
            closed_by: by,
        };
        let mut line = String::with_capacity(160);
        write_access_line(&record, format, &mut line);
        log::info!(target: crate::logging::ACCESS_TARGET, "{line}");
    }
}
