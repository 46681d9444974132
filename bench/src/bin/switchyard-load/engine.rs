//! The event loop: connections, the upgrade, frames in and out, and what each scenario does when
//! a connection opens or a frame arrives. Timing and reporting live in `run.rs`.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use mio::event::Event;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use switchyard_bench::wire::{Agreement, ClientHandshake, FastRng, ResponseError};
use switchyard_frame::{Config, Connection, Event as Message, OpCode, Role as CodecRole};
use switchyard_handshake::ClientRequest;

use crate::counters::{connect_error_kind, handshake_error_kind, Counters};
use crate::net::Connector;
use crate::output::{push_frame, write_batch, Unsent};
use crate::payload::{compressible_pattern, pattern, payload_for, stamp};
use crate::shared::{CountingDeflate, DeflateStats, Offer, Shared};
use crate::tls::TlsClient;

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
        /// Messages published but not yet received by every subscriber (with `all_publish`: per
        /// client, its own messages not yet back to it).
        in_flight: usize,
        /// Payload bytes (at least [`stamp::OVERHEAD`]).
        size: usize,
        /// Text or binary.
        opcode: OpCode,
        /// Every connection publishes and subscribes (N x N).
        all_publish: bool,
        /// The route does not send a message back to its sender (`broadcast:exclude-sender`).
        exclude_sender: bool,
    },
}

/// A time stamp: nanoseconds since the run's shared start (`u64` lasts 584 years).
pub type Nanos = u64;

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
    /// Which server (index in the subscriber addresses) it went to.
    node: usize,
    phase: Phase,
    role: Role,
    handshake: ClientHandshake<'static>,
    /// The frame codec in the client role, from the 101 on (the upgrade storm never needs one).
    codec: Option<Connection>,
    started: Nanos,
    /// Bytes of an incomplete response head (frames split across reads are kept by the codec).
    pending: Vec<u8>,
    /// Output the socket did not take yet; new frames go to the engine's batch while it is empty.
    unsent: Unsent,
    /// Messages received (echo: also the sequence number expected next).
    received: u64,
    /// Messages sent.
    sent: u64,
    /// Send times of the messages in flight, oldest first (echo; intended times in open loop).
    sent_at: VecDeque<Nanos>,
    /// Broadcast: this connection's publisher number (with --all-publish; the publisher is 0).
    publisher_id: u64,
    /// Broadcast: the sequence number expected next from each publisher (in order, none lost).
    expect: Vec<u64>,
    /// Broadcast with --all-publish: own messages received back.
    own_back: u64,
    /// The TLS session with --tls: frames are written into it, records read from the socket
    /// go through it (boxed: about 1 KiB, and absent without --tls).
    tls: Option<Box<rustls::ClientConnection>>,
}

/// Bytes read per system call, shared by all connections. A whole window of the 16 KiB echo (16
/// server frames of 16,388 bytes: 262,208) fits with room to spare. With 256 KiB every full window
/// took two reads, and the last frame of each was cut, then copied by the codec to be assembled;
/// frames cut by the end of a read are still correct, only slower.
const READ_BUFFER: usize = 1 << 20;

/// Broadcast bookkeeping of this thread (the counts per message are in [`Shared`]).
#[derive(Default)]
struct Fanout {
    /// The oldest message not yet received by every subscriber (the publisher's thread).
    base: u64,
    /// Messages published.
    published: u64,
    /// The publisher, if it is on this thread.
    publisher: Option<usize>,
}

/// Token of the publisher thread's waker (never a connection's: the slab stays far below).
const WAKER: Token = Token(usize::MAX);

/// The load generator's event loop.
pub struct Engine {
    /// What the threads share, `epoch` (the origin of every [`Nanos`]) first.
    shared: Arc<Shared>,
    /// What each upgrade request offers.
    offer: Offer,
    /// Compressed messages received (with --deflate).
    pub deflate_stats: Arc<DeflateStats>,
    /// Open loop: the sending schedule and the next message's number.
    schedule: Option<(Schedule, u64)>,
    /// Open loop: the connections that send, in turn.
    senders: Vec<usize>,
    /// This thread's number and the number of threads: connection i of this thread gets
    /// publisher number `thread + i * threads`.
    thread: usize,
    threads: usize,
    opened_ids: u64,
    /// The stamped payload being built (broadcast).
    stamped: Vec<u8>,
    poll: Poll,
    events: Events,
    conns: Slab<Conn>,
    connector: Connector,
    /// Broadcast over several servers: one connector per subscriber address (round-robin) and
    /// the publisher's. Empty: everything goes through `connector`.
    nodes: Vec<Connector>,
    publish_connector: Option<Connector>,
    next_node: usize,
    /// Per subscriber address: deliveries and publish-to-receive latencies.
    pub node_ops: Vec<u64>,
    /// Per subscriber address: publish-to-receive latencies.
    pub node_latency: Vec<Histogram<u64>>,
    rng: FastRng,
    host: &'static str,
    path: &'static str,
    mode: Mode,
    pattern: Vec<u8>,
    /// The read buffer, shared by all connections.
    scratch: Vec<u8>,
    /// Frames being built for `batch_owner`, written at once when it is flushed (see `output`).
    batch: Vec<u8>,
    /// The connection whose events are being handled, if its frames may go to `batch`.
    batch_owner: Option<usize>,
    /// With --tls: what every connection's session is made from.
    tls: Option<TlsClient>,
    /// With --tls: the plaintext of one read, decrypted (reused).
    plain: Vec<u8>,
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
    /// The same latencies since the last per-second reading (`--timeline`).
    pub interval: Histogram<u64>,
}

/// How an engine is set up: what every connection offers and its place among the threads.
pub struct Setup {
    /// Host header.
    pub host: &'static str,
    /// Request path.
    pub path: &'static str,
    /// What the scenario does.
    pub mode: Mode,
    /// With --tls.
    pub tls: Option<TlsClient>,
    /// Shared with the other threads.
    pub shared: Arc<Shared>,
    /// Subprotocols and extensions offered.
    pub offer: Offer,
    /// This thread's number and the number of threads.
    pub thread: usize,
    /// Threads of the run.
    pub threads: usize,
}

impl Engine {
    /// An engine talking to the connector's server as `setup` says.
    pub fn new(connector: Connector, setup: Setup) -> io::Result<Self> {
        let Setup {
            host,
            path,
            mode,
            tls,
            shared,
            offer,
            thread,
            threads,
        } = setup;
        let size = match mode {
            Mode::Echo { size, .. } | Mode::Broadcast { size, .. } => size,
            Mode::Upgrade | Mode::Idle => 0,
        };
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            .wrapping_add(thread as u64 * 0x9e37_79b9_7f4a_7c15);
        let pattern = match offer.deflate {
            Some(_) => compressible_pattern(size),
            None => pattern(size),
        };
        Ok(Self {
            shared,
            offer,
            deflate_stats: Arc::default(),
            schedule: None,
            senders: Vec::new(),
            thread,
            threads: threads.max(1),
            opened_ids: 0,
            stamped: Vec::new(),
            poll: Poll::new()?,
            events: Events::with_capacity(1024),
            conns: Slab::new(),
            connector,
            nodes: Vec::new(),
            publish_connector: None,
            next_node: 0,
            node_ops: vec![0],
            node_latency: vec![
                Histogram::new_with_bounds(1, 120_000_000_000, 3).expect("valid bounds")
            ],
            rng: FastRng::new(seed),
            host,
            path,
            mode,
            pattern,
            scratch: vec![0; READ_BUFFER],
            batch: Vec::new(),
            batch_owner: None,
            tls,
            plain: Vec::new(),
            fanout: Fanout::default(),
            in_progress: 0,
            open: 0,
            sending: true,
            counters: Counters::default(),
            latency: Histogram::new_with_bounds(1, 120_000_000_000, 3).expect("valid bounds"),
            interval: Histogram::new_with_bounds(1, 120_000_000_000, 3).expect("valid bounds"),
        })
    }

    /// Registers this thread as the broadcast publisher's: other threads wake it when a message
    /// has reached every subscriber.
    pub fn register_publisher_waker(&self) -> io::Result<()> {
        let waker = mio::Waker::new(self.poll.registry(), WAKER)?;
        let _ = self.shared.publisher_waker.set(waker);
        Ok(())
    }

    /// The time now, in nanoseconds since the run's shared start.
    pub fn now(&self) -> Nanos {
        self.shared.epoch.elapsed().as_nanos() as Nanos
    }

    /// Broadcast over several servers: subscribers connect through `nodes` round-robin, the
    /// publisher through `publisher`; figures are kept per node too.
    pub fn set_nodes(&mut self, nodes: Vec<Connector>, publisher: Connector) {
        let n = nodes.len().max(1);
        self.nodes = nodes;
        self.publish_connector = Some(publisher);
        self.node_ops = vec![0; n];
        self.node_latency = (0..n)
            .map(|_| Histogram::new_with_bounds(1, 120_000_000_000, 3).expect("valid bounds"))
            .collect();
    }

    /// Clears the latency histograms (the end of the warm-up).
    pub fn reset_latency(&mut self) {
        self.latency.reset();
        self.interval.reset();
        for h in &mut self.node_latency {
            h.reset();
        }
    }

    /// Records a failure of kind `kind`.
    pub fn error(&mut self, kind: &'static str) {
        *self.counters.errors.entry(kind).or_default() += 1;
    }

    /// Starts one connection; false (and an error counted) if the socket could not be opened.
    pub fn connect(&mut self, role: Role) -> bool {
        self.counters.attempted += 1;
        let started = self.now();
        let (connector, node) = match (role, &mut self.publish_connector) {
            (Role::Publisher, Some(c)) => (c, 0),
            _ if !self.nodes.is_empty() => {
                let node = self.next_node % self.nodes.len();
                self.next_node += 1;
                (&mut self.nodes[node], node)
            }
            _ => (&mut self.connector, 0),
        };
        let mut stream = match connector.connect() {
            Ok(stream) => stream,
            Err(e) => {
                self.error(connect_error_kind(&e));
                return false;
            }
        };
        let mut request = ClientRequest::new(self.host, self.path);
        if !self.offer.subprotocols.is_empty() {
            request = request.subprotocols(self.offer.subprotocols);
        }
        if let Some((value, _)) = self.offer.deflate {
            request = request.extensions(value);
        }
        let handshake = match ClientHandshake::with_request(request, &mut self.rng) {
            Ok(handshake) => handshake,
            Err(_) => {
                self.error("invalid host or path for a request");
                return false;
            }
        };
        let mut session = match &self.tls {
            Some(tls) => match tls.session() {
                Ok(session) => Some(Box::new(session)),
                Err(_) => {
                    self.error("tls: cannot make a session");
                    return false;
                }
            },
            None => None,
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
        // The batch is empty between events: use it to build the request without allocating.
        let request = &mut self.batch;
        debug_assert!(request.is_empty());
        handshake.write_request(request);
        let mut unsent = Unsent::default();
        let phase = match session.as_mut() {
            // The request waits in the session until the handshake is done; the ClientHello
            // goes now if the socket is connected.
            Some(session) => {
                let _ = session.writer().write_all(request);
                match session.write_tls(&mut &stream) {
                    Ok(_) => Phase::Upgrading,
                    Err(_) => Phase::Connecting,
                }
            }
            None => match stream.write(request) {
                Ok(n) => {
                    unsent.queue().extend_from_slice(&request[n..]);
                    Phase::Upgrading
                }
                Err(_) => Phase::Connecting,
            },
        };
        request.clear();
        entry.insert(Conn {
            stream,
            node,
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
            publisher_id: 0,
            expect: Vec::new(),
            own_back: 0,
            tls: session,
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
        let now = self.now();
        for event in events.iter() {
            self.on_event(event, now);
        }
        self.events = events;
        if self.fanout.publisher.is_some() && self.schedule.is_none() {
            // Messages other threads' subscribers completed (they woke us).
            self.retire_broadcasts(now);
            if let Some(key) = self.fanout.publisher {
                if self.conns.contains(key) {
                    self.flush(key);
                }
            }
        }
        if self.schedule.is_some() {
            self.send_due();
        }
        result
    }

    /// Echo: every open connection starts its `in_flight` messages (connections are all opened
    /// first, so that early ones do not starve the handshakes of later ones).
    pub fn start_echo(&mut self) {
        let Mode::Echo { in_flight, .. } = self.mode else {
            return;
        };
        self.sending = true;
        let now = self.now();
        let keys: Vec<usize> = self.conns.iter().map(|(key, _)| key).collect();
        for key in keys {
            if self.conns[key].phase == Phase::Open {
                self.batch_owner = Some(key);
                for _ in 0..in_flight {
                    self.send_echo(key, now);
                }
                self.flush(key);
            }
        }
        self.batch_owner = None;
    }

    /// Messages published by every thread's clients so far (--all-publish).
    pub fn published_total(&self) -> u64 {
        self.shared.published.load(Ordering::Relaxed)
    }

    /// Whether the broadcast publisher is open on this thread.
    pub fn publisher_open(&self) -> bool {
        self.fanout
            .publisher
            .and_then(|key| self.conns.get(key))
            .is_some_and(|c| c.phase == Phase::Open)
    }

    fn on_event(&mut self, event: &Event, now: Nanos) {
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
            if conn.tls.is_none() {
                // (With TLS the request is in the session already.)
                conn.handshake.write_request(conn.unsent.queue());
            }
            if !self.flush(key) {
                return;
            }
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.on_readable(key, now);
        }
        let waiting =
            |c: &Conn| !c.unsent.is_empty() || c.tls.as_ref().is_some_and(|tls| tls.wants_write());
        if event.is_writable() && self.conns.get(key).is_some_and(waiting) {
            self.flush(key);
        }
    }

    /// Reads until a short read, handles every complete head and frame, writes once.
    fn on_readable(&mut self, key: usize, now: Nanos) {
        // Echoes and pongs for this connection are built in the batch and written once at the end.
        self.batch_owner = Some(key);
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut plain = std::mem::take(&mut self.plain);
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
            let data = match conn.tls.as_mut() {
                Some(session) => {
                    plain.clear();
                    match decrypt(session, &scratch[..n], &mut plain) {
                        Ok(()) => &mut plain[..],
                        Err(kind) => {
                            self.fail(key, kind);
                            break;
                        }
                    }
                }
                None => &mut scratch[..n],
            };
            let len = data.len();
            self.counters.wire_bytes += len as u64;
            let mut pending = std::mem::take(&mut conn.pending);
            let result = if pending.is_empty() {
                self.process(key, data, now).map(|used| {
                    pending.extend_from_slice(&data[used..len]);
                })
            } else {
                pending.extend_from_slice(data);
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
        plain.clear();
        self.plain = plain;
        if self.conns.contains(key) {
            self.flush(key);
        }
        self.batch_owner = None;
        if let Some(publisher) = self.fanout.publisher {
            if publisher != key && self.conns.contains(publisher) {
                self.flush(publisher);
            }
        }
    }

    /// Handles the complete head and frames at the start of `data`; returns the bytes used.
    fn process(&mut self, key: usize, data: &mut [u8], now: Nanos) -> Result<usize, &'static str> {
        let mut used = 0;
        let conn = &mut self.conns[key];
        if conn.phase == Phase::Upgrading {
            let offer = self.offer.deflate.as_ref().map(|(_, offer)| offer);
            let agreement = match conn.handshake.read_agreement(data, offer) {
                Ok(None) => return Ok(0),
                Ok(Some(agreement)) => agreement,
                Err(ResponseError::Handshake(e)) => return Err(handshake_error_kind(&e)),
                Err(ResponseError::Deflate(_)) => {
                    return Err("handshake: bad permessage-deflate answer")
                }
            };
            let Agreement {
                head_len,
                subprotocol,
                deflate,
            } = agreement;
            used = head_len;
            if !self.offer.subprotocols.is_empty() {
                match subprotocol {
                    Some(name) => {
                        *self.counters.subprotocols.entry(name).or_default() += 1;
                    }
                    None => self.counters.subprotocol_none += 1,
                }
            }
            if let Some(params) = deflate {
                let extension =
                    CountingDeflate::new(params.into(), Arc::clone(&self.deflate_stats))
                        .ok_or("handshake: unusable permessage-deflate parameters")?;
                let mut codec = Connection::new(CodecRole::Client, Config::default());
                codec.set_extension(Box::new(extension));
                conn.codec = Some(codec);
                self.counters.deflate_agreed += 1;
            } else if self.offer.deflate.is_some() {
                self.counters.deflate_declined += 1;
            }
            let conn = &mut self.conns[key];
            conn.phase = Phase::Open;
            let resumed = conn.tls.as_ref().and_then(|tls| tls.handshake_kind());
            if resumed == Some(rustls::HandshakeKind::Resumed) {
                self.counters.tls_resumed += 1;
            }
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
    fn on_open(&mut self, key: usize, now: Nanos) -> bool {
        match self.mode {
            Mode::Upgrade => {
                let started = self.conns[key].started;
                self.record_latency(now.saturating_sub(started));
                self.counters.ops += 1;
                self.open -= 1;
                // Dropping the stream closes it; the kernel drops it from the epoll set.
                self.remove(key);
                false
            }
            Mode::Echo { in_flight, .. } => {
                if self.sending && self.schedule.is_none() {
                    for _ in 0..in_flight {
                        self.send_echo(key, now);
                    }
                }
                true
            }
            Mode::Broadcast { all_publish, .. } => {
                let id = self.thread as u64 + self.opened_ids * self.threads as u64;
                let conn = &mut self.conns[key];
                if all_publish {
                    conn.publisher_id = id;
                    self.opened_ids += 1;
                    conn.expect = vec![0; self.shared.clients];
                } else {
                    conn.expect = vec![0];
                }
                if conn.role == Role::Plain {
                    self.shared.live.fetch_add(1, Ordering::AcqRel);
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
        now: Nanos,
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
                output(&mut self.batch, self.batch_owner, key, &mut conn.unsent)
                    .extend_from_slice(pong.as_bytes());
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
                self.record_latency(now.saturating_sub(sent));
                self.counters.ops += 1;
                self.counters.payload_bytes += payload.len() as u64;
                if self.sending && self.schedule.is_none() {
                    self.send_echo(key, now);
                }
            }
            Mode::Broadcast {
                size,
                opcode,
                all_publish,
                exclude_sender,
                ..
            } => {
                let conn = &mut self.conns[key];
                if conn.role == Role::Publisher {
                    return Ok(());
                }
                if op != opcode {
                    return Err("broadcast payload mismatch or out of order");
                }
                let stamp = stamp::check(payload, &self.pattern, size)
                    .ok_or("broadcast payload mismatch or out of order")?;
                let expected = conn
                    .expect
                    .get_mut(stamp.publisher as usize)
                    .ok_or("broadcast from an unknown publisher")?;
                if stamp.seq != *expected {
                    return Err("broadcast payload mismatch or out of order");
                }
                *expected += 1;
                conn.received += 1;
                let node = conn.node;
                let own = all_publish && stamp.publisher == conn.publisher_id;
                if own && exclude_sender {
                    return Err("own message back although --exclude-sender");
                }
                if own {
                    conn.own_back += 1;
                }
                let latency = now.saturating_sub(stamp.sent);
                self.record_latency(latency);
                if let Some(h) = self.node_latency.get_mut(node) {
                    h.saturating_record(latency);
                    self.node_ops[node] += 1;
                }
                self.counters.ops += 1;
                self.counters.payload_bytes += payload.len() as u64;
                if all_publish {
                    if own && self.sending && self.schedule.is_none() {
                        self.publish_from(key, now);
                    }
                } else if self.schedule.is_none() && self.shared.deliver(stamp.seq) {
                    if self.fanout.publisher.is_some() {
                        self.retire_broadcasts(now);
                    } else {
                        self.shared.wake_publisher();
                    }
                }
            }
            Mode::Upgrade | Mode::Idle => {}
        }
        Ok(())
    }

    fn send_echo(&mut self, key: usize, now: Nanos) {
        let Mode::Echo { size, opcode, .. } = self.mode else {
            return;
        };
        let conn = &mut self.conns[key];
        let codec = conn
            .codec
            .get_or_insert_with(|| Connection::new(CodecRole::Client, Config::default()));
        push_frame(
            codec,
            opcode,
            payload_for(&self.pattern, conn.sent, size),
            output(&mut self.batch, self.batch_owner, key, &mut conn.unsent),
        )
        .expect("a text or binary message can always be sent while open");
        conn.sent += 1;
        conn.sent_at.push_back(now);
    }

    fn record_latency(&mut self, nanos: Nanos) {
        self.latency.saturating_record(nanos);
        self.interval.saturating_record(nanos);
    }

    /// Writes what is queued: the connection's unsent bytes, then the batch if it is this
    /// connection's. False if the connection failed.
    fn flush(&mut self, key: usize) -> bool {
        let conn = &mut self.conns[key];
        if let Some(session) = conn.tls.as_mut() {
            // Plaintext into the session (encrypted there), records out to the socket.
            conn.unsent
                .take_all(|bytes| session.writer().write_all(bytes));
            if self.batch_owner == Some(key) && !self.batch.is_empty() {
                let _ = session.writer().write_all(&self.batch);
                self.batch.clear();
            }
            let stream = &conn.stream;
            while session.wants_write() {
                match session.write_tls(&mut &*stream) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        self.fail(key, "write error (reset)");
                        return false;
                    }
                }
            }
            return true;
        }
        let stream = &conn.stream;
        let mut result = conn.unsent.write_with(|bytes| (&*stream).write(bytes));
        if result.is_ok() && self.batch_owner == Some(key) && !self.batch.is_empty() {
            result = if conn.unsent.is_empty() {
                write_batch(&mut self.batch, &mut conn.unsent, |bytes| {
                    (&*stream).write(bytes)
                })
            } else {
                // The socket is full: the batch waits behind the older bytes.
                conn.unsent.queue().extend_from_slice(&self.batch);
                self.batch.clear();
                Ok(())
            };
        }
        if result.is_err() {
            self.fail(key, "write error (reset)");
            return false;
        }
        true
    }

    /// Removes a connection (closing its socket) and any frames built for it.
    fn remove(&mut self, key: usize) -> Conn {
        if self.batch_owner == Some(key) {
            self.batch.clear();
            self.batch_owner = None;
        }
        self.conns.remove(key)
    }

    fn fail(&mut self, key: usize, kind: &'static str) {
        let conn = self.remove(key);
        match conn.phase {
            Phase::Connecting | Phase::Upgrading => self.in_progress -= 1,
            Phase::Open => {
                self.open -= 1;
                if matches!(self.mode, Mode::Broadcast { .. }) && conn.role == Role::Plain {
                    self.shared.live.fetch_sub(1, Ordering::AcqRel);
                    self.shared.wake_publisher();
                }
            }
        }
        if self.fanout.publisher == Some(key) {
            self.fanout.publisher = None;
        }
        self.error(kind);
        if matches!(self.mode, Mode::Broadcast { .. }) {
            // Messages the lost subscriber never got may now be complete for the others.
            self.retire_broadcasts(self.now());
        }
    }
}

/// Feeds the records read (`raw`) to `session` and appends the plaintext they held to `plain`.
fn decrypt(
    session: &mut rustls::ClientConnection,
    mut raw: &[u8],
    plain: &mut Vec<u8>,
) -> Result<(), &'static str> {
    while !raw.is_empty() {
        session
            .read_tls(&mut raw)
            .map_err(|_| "tls: cannot take the records")?;
        let state = session
            .process_new_packets()
            .map_err(|_| "tls: handshake or record refused")?;
        let n = state.plaintext_bytes_to_read();
        if n > 0 {
            let start = plain.len();
            plain.resize(start + n, 0);
            session
                .reader()
                .read_exact(&mut plain[start..])
                .map_err(|_| "tls: plaintext lost")?;
        }
        if state.peer_has_closed() && n == 0 && raw.is_empty() && plain.is_empty() {
            return Err("server sent close_notify");
        }
    }
    Ok(())
}

/// Where a frame for connection `key` goes: the batch if it is being built for `key` and nothing
/// older waits in the connection's queue (order on the wire), else that queue.
fn output<'a>(
    batch: &'a mut Vec<u8>,
    batch_owner: Option<usize>,
    key: usize,
    unsent: &'a mut Unsent,
) -> &'a mut Vec<u8> {
    if batch_owner == Some(key) && unsent.is_empty() {
        batch
    } else {
        unsent.queue()
    }
}

mod broadcast;
mod open_loop;
#[cfg(test)]
mod tests;

pub use open_loop::Schedule;
