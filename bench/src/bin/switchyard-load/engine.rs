//! The event loop: connections, the upgrade, frames in and out, and what each scenario does when
//! a connection opens or a frame arrives. Timing and reporting live in `run.rs`.

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::event::Event;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use switchyard_bench::wire::{ClientError, ClientHandshake, FastRng};
use switchyard_frame::{Config, Connection, Event as Message, OpCode, Role as CodecRole};

use crate::net::Connector;

/// What the engine does with open connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Close as soon as the 101 is verified; the latency is connect-to-101.
    Upgrade,
    /// Keep `in_flight` messages of `size` bytes outstanding; check each echo.
    Echo {
        /// Messages outstanding per connection.
        in_flight: usize,
        /// Payload bytes.
        size: usize,
        /// Text or binary.
        opcode: OpCode,
    },
    /// Hold the connection; answer pings.
    Idle,
    /// Subscribers check each broadcast; the publisher keeps `in_flight` messages undelivered.
    Broadcast {
        /// Messages published but not yet received by every subscriber.
        in_flight: usize,
        /// Payload bytes.
        size: usize,
        /// Text or binary.
        opcode: OpCode,
    },
}

/// Which side of a broadcast a connection is on (everything else is `Plain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// An ordinary connection (or a broadcast subscriber).
    Plain,
    /// The broadcast publisher.
    Publisher,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Upgrading,
    Open,
}

struct Conn {
    stream: TcpStream,
    phase: Phase,
    role: Role,
    handshake: ClientHandshake<'static>,
    /// The frame codec in the client role, from the 101 on (the upgrade storm never needs one).
    codec: Option<Connection>,
    started: Instant,
    /// Bytes of an incomplete response head or frame.
    pending: Vec<u8>,
    /// Output the socket did not take yet.
    unsent: Vec<u8>,
    /// Messages received (echo: also the sequence number expected next).
    received: u64,
    /// Messages sent.
    sent: u64,
    /// Send times of the messages in flight, oldest first (echo).
    sent_at: VecDeque<Instant>,
}

/// Sizes of payload patterns: a payload is `PATTERN[seq % PERIOD..][..size]`, so consecutive
/// messages differ and each can be checked with one comparison.
const PERIOD: usize = 251;

/// The pattern all payloads are cut from: printable ASCII (valid UTF-8 for text messages) with
/// period 251 (prime, so every shift below 251 is a different string).
fn pattern(size: usize) -> Vec<u8> {
    (0..size + PERIOD)
        .map(|i| b'!' + ((i % PERIOD) * 37 % 94) as u8)
        .collect()
}

fn payload_for(pattern: &[u8], seq: u64, size: usize) -> &[u8] {
    let start = (seq % PERIOD as u64) as usize;
    &pattern[start..start + size]
}

/// Counters the run reads.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    /// Connection attempts started.
    pub attempted: u64,
    /// Connections that completed the upgrade.
    pub upgraded: u64,
    /// Operations: upgrades, echoes received, or broadcast deliveries.
    pub ops: u64,
    /// Payload bytes of the operations.
    pub payload_bytes: u64,
    /// Broadcast messages received by every subscriber.
    pub broadcasts_complete: u64,
    /// Failures by kind.
    pub errors: BTreeMap<&'static str, u64>,
}

impl Counters {
    /// Total failures.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Broadcast bookkeeping: per message in flight, its publish time and how many subscribers got it.
#[derive(Default)]
struct Fanout {
    /// Sequence number of the front of the queues.
    base: u64,
    published_at: VecDeque<Instant>,
    delivered: VecDeque<usize>,
    live_subscribers: usize,
    publisher: Option<usize>,
}

/// The load generator's event loop.
pub struct Engine {
    poll: Poll,
    events: Events,
    conns: Slab<Conn>,
    connector: Connector,
    rng: FastRng,
    host: &'static str,
    path: &'static str,
    mode: Mode,
    pattern: Vec<u8>,
    scratch: Vec<u8>,
    fanout: Fanout,
    /// Connections connecting or upgrading.
    pub in_progress: usize,
    /// Connections open (upgraded).
    pub open: usize,
    /// Whether echo and broadcast keep sending.
    pub sending: bool,
    /// Counters of the run.
    pub counters: Counters,
    /// Latencies in nanoseconds: connect-to-101, echo round trip, or publish-to-receive.
    pub latency: Histogram<u64>,
}

impl Engine {
    /// An engine talking to the connector's server with `Host: host` and `GET path`.
    pub fn new(
        connector: Connector,
        host: &'static str,
        path: &'static str,
        mode: Mode,
    ) -> io::Result<Self> {
        let size = match mode {
            Mode::Echo { size, .. } | Mode::Broadcast { size, .. } => size,
            Mode::Upgrade | Mode::Idle => 0,
        };
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Ok(Self {
            poll: Poll::new()?,
            events: Events::with_capacity(1024),
            conns: Slab::new(),
            connector,
            rng: FastRng::new(seed),
            host,
            path,
            mode,
            pattern: pattern(size),
            scratch: vec![0; 256 * 1024],
            fanout: Fanout::default(),
            in_progress: 0,
            open: 0,
            sending: true,
            counters: Counters::default(),
            latency: Histogram::new_with_bounds(1, 120_000_000_000, 3).expect("valid bounds"),
        })
    }

    /// Records a failure of kind `kind`.
    pub fn error(&mut self, kind: &'static str) {
        *self.counters.errors.entry(kind).or_default() += 1;
    }

    /// Starts one connection; false (and an error counted) if the socket could not be opened.
    pub fn connect(&mut self, role: Role) -> bool {
        self.counters.attempted += 1;
        let started = Instant::now();
        let mut stream = match self.connector.connect() {
            Ok(stream) => stream,
            Err(e) => {
                self.error(connect_error_kind(&e));
                return false;
            }
        };
        let handshake = match ClientHandshake::new(self.host, self.path, &mut self.rng) {
            Ok(handshake) => handshake,
            Err(_) => {
                self.error("invalid host or path for a request");
                return false;
            }
        };
        let entry = self.conns.vacant_entry();
        if self
            .poll
            .registry()
            .register(
                &mut stream,
                Token(entry.key()),
                Interest::READABLE | Interest::WRITABLE,
            )
            .is_err()
        {
            self.error("epoll register failed");
            return false;
        }
        if role == Role::Publisher {
            self.fanout.publisher = Some(entry.key());
        }
        // On loopback the three-way handshake has usually completed inside connect(): send the
        // request at once and skip a readiness round trip. If the socket is not connected yet,
        // the write fails (ENOTCONN or EAGAIN) and the request goes out on the writable event.
        let mut unsent = Vec::new();
        handshake.write_request(&mut unsent);
        let phase = match stream.write(&unsent) {
            Ok(n) => {
                unsent.drain(..n);
                Phase::Upgrading
            }
            Err(_) => {
                unsent.clear();
                Phase::Connecting
            }
        };
        entry.insert(Conn {
            stream,
            phase,
            role,
            handshake,
            codec: None,
            started,
            pending: Vec::new(),
            unsent,
            received: 0,
            sent: 0,
            sent_at: VecDeque::new(),
        });
        self.in_progress += 1;
        true
    }

    /// Waits up to `timeout` for events and handles them.
    pub fn step(&mut self, timeout: Duration) -> io::Result<()> {
        let mut events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        let result = match self.poll.poll(&mut events, Some(timeout)) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => Err(e),
            _ => Ok(()),
        };
        let now = Instant::now();
        for event in events.iter() {
            self.on_event(event, now);
        }
        self.events = events;
        result
    }

    /// Broadcast: the publisher starts publishing (`in_flight` messages).
    pub fn start_publishing(&mut self) {
        if let Mode::Broadcast { in_flight, .. } = self.mode {
            let now = Instant::now();
            for _ in 0..in_flight {
                self.publish(now);
            }
            if let Some(key) = self.fanout.publisher {
                self.flush(key);
            }
        }
    }

    /// Echo: every open connection starts its `in_flight` messages (connections are all opened
    /// first, so that early ones do not starve the handshakes of later ones).
    pub fn start_echo(&mut self) {
        let Mode::Echo { in_flight, .. } = self.mode else {
            return;
        };
        self.sending = true;
        let now = Instant::now();
        let keys: Vec<usize> = self.conns.iter().map(|(key, _)| key).collect();
        for key in keys {
            if self.conns[key].phase == Phase::Open {
                for _ in 0..in_flight {
                    self.send_echo(key, now);
                }
                self.flush(key);
            }
        }
    }

    /// Whether the broadcast publisher is open.
    pub fn publisher_open(&self) -> bool {
        self.fanout
            .publisher
            .and_then(|key| self.conns.get(key))
            .is_some_and(|c| c.phase == Phase::Open)
    }

    fn on_event(&mut self, event: &Event, now: Instant) {
        let key = event.token().0;
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.phase == Phase::Connecting {
            match conn.stream.take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => return self.fail(key, connect_error_kind(&e)),
            }
            if conn.stream.peer_addr().is_err() {
                if event.is_error() || event.is_read_closed() || event.is_write_closed() {
                    self.fail(key, "connection refused");
                }
                return;
            }
            conn.phase = Phase::Upgrading;
            conn.handshake.write_request(&mut conn.unsent);
            if !self.flush(key) {
                return;
            }
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.on_readable(key, now);
        }
        if event.is_writable() && self.conns.get(key).is_some_and(|c| !c.unsent.is_empty()) {
            self.flush(key);
        }
    }

    /// Reads until a short read, handles every complete head and frame, writes once.
    fn on_readable(&mut self, key: usize, now: Instant) {
        let mut scratch = std::mem::take(&mut self.scratch);
        while let Some(conn) = self.conns.get_mut(key) {
            let n = match conn.stream.read(&mut scratch) {
                Ok(0) => {
                    self.fail(key, "server closed the connection");
                    break;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.fail(key, "read error (reset)");
                    break;
                }
            };
            let mut pending = std::mem::take(&mut conn.pending);
            let result = if pending.is_empty() {
                self.process(key, &mut scratch[..n], now).map(|used| {
                    pending.extend_from_slice(&scratch[used..n]);
                })
            } else {
                pending.extend_from_slice(&scratch[..n]);
                self.process(key, &mut pending, now).map(|used| {
                    pending.drain(..used);
                })
            };
            match result {
                Ok(()) => {
                    if let Some(conn) = self.conns.get_mut(key) {
                        conn.pending = pending;
                    }
                }
                Err(kind) => {
                    self.fail(key, kind);
                    break;
                }
            }
            if n < scratch.len() {
                break;
            }
        }
        self.scratch = scratch;
        if self.conns.contains(key) {
            self.flush(key);
        }
        if let Some(publisher) = self.fanout.publisher {
            if publisher != key && self.conns.contains(publisher) {
                self.flush(publisher);
            }
        }
    }

    /// Handles the complete head and frames at the start of `data`; returns the bytes used.
    fn process(
        &mut self,
        key: usize,
        data: &mut [u8],
        now: Instant,
    ) -> Result<usize, &'static str> {
        let mut used = 0;
        let conn = &mut self.conns[key];
        if conn.phase == Phase::Upgrading {
            match conn.handshake.read_response(data) {
                Ok(None) => return Ok(0),
                Ok(Some(n)) => used = n,
                Err(e) => return Err(handshake_error_kind(&e)),
            }
            conn.phase = Phase::Open;
            self.in_progress -= 1;
            self.open += 1;
            self.counters.upgraded += 1;
            if !self.on_open(key, now) {
                return Ok(data.len());
            }
        }
        while used < data.len() {
            let codec = self.conns[key]
                .codec
                .get_or_insert_with(|| Connection::new(CodecRole::Client, Config::default()));
            let progress = codec
                .handle_bytes(&mut data[used..])
                .map_err(|_| "invalid frame from server")?;
            used += progress.consumed;
            match progress.event {
                Some(message) => self.on_message(key, message, now)?,
                // The codec keeps partial frames itself: no event means all input was taken.
                None => break,
            }
        }
        Ok(used)
    }

    /// A connection finished its upgrade; false if it was closed.
    fn on_open(&mut self, key: usize, now: Instant) -> bool {
        match self.mode {
            Mode::Upgrade => {
                let started = self.conns[key].started;
                self.record_latency(now - started);
                self.counters.ops += 1;
                self.open -= 1;
                // Dropping the stream closes it; the kernel drops it from the epoll set.
                self.conns.remove(key);
                false
            }
            Mode::Echo { in_flight, .. } => {
                if self.sending {
                    for _ in 0..in_flight {
                        self.send_echo(key, now);
                    }
                }
                true
            }
            Mode::Broadcast { .. } => {
                if self.conns[key].role == Role::Plain {
                    self.fanout.live_subscribers += 1;
                }
                true
            }
            Mode::Idle => true,
        }
    }

    fn on_message(
        &mut self,
        key: usize,
        message: Message<'_>,
        now: Instant,
    ) -> Result<(), &'static str> {
        let (op, payload): (OpCode, &[u8]) = match &message {
            Message::Text(text) => (OpCode::Text, text.as_bytes()),
            Message::Binary(data) => (OpCode::Binary, data),
            Message::Ping(payload) => {
                let conn = &mut self.conns[key];
                let codec = conn.codec.as_mut().ok_or("ping before open")?;
                let pong = codec
                    .encode_pong(payload)
                    .map_err(|_| "cannot answer ping")?;
                conn.unsent.extend_from_slice(pong.as_bytes());
                return Ok(());
            }
            Message::Pong(_) => return Ok(()),
            Message::Close { .. } => return Err("server sent close"),
        };
        match self.mode {
            Mode::Echo { size, opcode, .. } => {
                let conn = &mut self.conns[key];
                let expected = payload_for(&self.pattern, conn.received, size);
                if op != opcode || payload != expected {
                    return Err("echo payload mismatch");
                }
                conn.received += 1;
                let sent = conn.sent_at.pop_front().ok_or("echo of nothing sent")?;
                self.record_latency(now - sent);
                self.counters.ops += 1;
                self.counters.payload_bytes += payload.len() as u64;
                if self.sending {
                    self.send_echo(key, now);
                }
            }
            Mode::Broadcast { size, opcode, .. } => {
                let conn = &mut self.conns[key];
                if conn.role == Role::Publisher {
                    return Ok(());
                }
                let seq = conn.received;
                if op != opcode || payload != payload_for(&self.pattern, seq, size) {
                    return Err("broadcast payload mismatch or out of order");
                }
                conn.received += 1;
                let index = seq
                    .checked_sub(self.fanout.base)
                    .ok_or("broadcast received twice")? as usize;
                let published = *self
                    .fanout
                    .published_at
                    .get(index)
                    .ok_or("broadcast never published")?;
                self.fanout.delivered[index] += 1;
                self.record_latency(now - published);
                self.counters.ops += 1;
                self.counters.payload_bytes += payload.len() as u64;
                self.retire_broadcasts(now);
            }
            Mode::Upgrade | Mode::Idle => {}
        }
        Ok(())
    }

    /// Pops messages every live subscriber has received; publishes one more for each.
    fn retire_broadcasts(&mut self, now: Instant) {
        while self
            .fanout
            .delivered
            .front()
            .is_some_and(|&n| n >= self.fanout.live_subscribers)
        {
            self.fanout.delivered.pop_front();
            self.fanout.published_at.pop_front();
            self.fanout.base += 1;
            self.counters.broadcasts_complete += 1;
            if self.sending {
                self.publish(now);
            }
        }
    }

    fn publish(&mut self, now: Instant) {
        let Mode::Broadcast { size, opcode, .. } = self.mode else {
            return;
        };
        let Some(conn) = self.fanout.publisher.and_then(|k| self.conns.get_mut(k)) else {
            return;
        };
        let seq = conn.sent;
        conn.sent += 1;
        let codec = conn
            .codec
            .get_or_insert_with(|| Connection::new(CodecRole::Client, Config::default()));
        codec
            .encode_message(
                opcode,
                payload_for(&self.pattern, seq, size),
                &mut conn.unsent,
            )
            .expect("a text or binary message can always be sent while open");
        self.fanout.published_at.push_back(now);
        self.fanout.delivered.push_back(0);
    }

    fn send_echo(&mut self, key: usize, now: Instant) {
        let Mode::Echo { size, opcode, .. } = self.mode else {
            return;
        };
        let conn = &mut self.conns[key];
        let codec = conn
            .codec
            .get_or_insert_with(|| Connection::new(CodecRole::Client, Config::default()));
        codec
            .encode_message(
                opcode,
                payload_for(&self.pattern, conn.sent, size),
                &mut conn.unsent,
            )
            .expect("a text or binary message can always be sent while open");
        conn.sent += 1;
        conn.sent_at.push_back(now);
    }

    fn record_latency(&mut self, latency: Duration) {
        self.latency
            .saturating_record(latency.as_nanos().min(u64::MAX as u128) as u64);
    }

    /// Writes what is queued; false if the connection failed.
    fn flush(&mut self, key: usize) -> bool {
        let conn = &mut self.conns[key];
        while !conn.unsent.is_empty() {
            match conn.stream.write(&conn.unsent) {
                Ok(n) => {
                    let all = n == conn.unsent.len();
                    conn.unsent.drain(..n);
                    if !all {
                        // A short write means the socket buffer is full: wait for writable
                        // rather than spend a system call on EAGAIN.
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.fail(key, "write error (reset)");
                    return false;
                }
            }
        }
        true
    }

    fn fail(&mut self, key: usize, kind: &'static str) {
        let conn = self.conns.remove(key);
        match conn.phase {
            Phase::Connecting | Phase::Upgrading => self.in_progress -= 1,
            Phase::Open => {
                self.open -= 1;
                if matches!(self.mode, Mode::Broadcast { .. }) && conn.role == Role::Plain {
                    self.fanout.live_subscribers -= 1;
                }
            }
        }
        if self.fanout.publisher == Some(key) {
            self.fanout.publisher = None;
        }
        self.error(kind);
        if matches!(self.mode, Mode::Broadcast { .. }) {
            // Messages the lost subscriber never got may now be complete for the others.
            self.retire_broadcasts(Instant::now());
        }
    }
}

fn connect_error_kind(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => "connection refused",
        Some(libc::EADDRNOTAVAIL) => "no free source port (EADDRNOTAVAIL)",
        Some(libc::EMFILE) | Some(libc::ENFILE) => "too many open files",
        Some(libc::ETIMEDOUT) => "connect timed out",
        Some(libc::ECONNRESET) => "connection reset",
        _ => "connect failed",
    }
}

fn handshake_error_kind(e: &ClientError) -> &'static str {
    match e {
        ClientError::MalformedResponse => "handshake: malformed response",
        ClientError::UnexpectedStatus { .. } => "handshake: status not 101",
        ClientError::InvalidUpgrade | ClientError::InvalidConnection => {
            "handshake: no websocket upgrade"
        }
        ClientError::InvalidAccept => "handshake: wrong accept value",
        ClientError::HeadTooLarge { .. } | ClientError::TooManyHeaders { .. } => {
            "handshake: response head too large"
        }
        _ => "handshake: refused",
    }
}
