//! The engine against small blocking test servers on loopback: echoes of every header size are
//! checked, partial writes keep frames whole and in order, and a corrupted echo or a wrong accept
//! value is counted as an error (the checks can fail).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use switchyard_bench::accept::accept_value;
use switchyard_frame::{Config, Connection, Event, OpCode, Role as CodecRole};

use super::{Engine, Mode, Role, Schedule, Setup};
use crate::counters::Counters;
use crate::net::Connector;
use crate::shared::{Offer, Shared};

/// What a test server does on each connection.
#[derive(Clone, Copy)]
struct Behaviour {
    /// Answer with an accept value computed from another key.
    wrong_accept: bool,
    /// Flip one byte of this echo (0-based message number on each connection).
    corrupt: Option<u64>,
    /// Bytes per read and per write of the echo, so that frames arrive cut at odd places.
    chunk: usize,
    /// Pause after each read: the client's socket fills up and its writes come back short.
    read_pause: Duration,
    /// Once this many messages were echoed, stop reading for this long (a server that stalls).
    stall: Option<(u64, Duration)>,
}

const PLAIN: Behaviour = Behaviour {
    wrong_accept: false,
    corrupt: None,
    chunk: 1000,
    read_pause: Duration::ZERO,
    stall: None,
};

/// A server on 127.0.0.1 for `connections` connections, each served by a thread that stops when
/// the client closes (or after 30 s without input).
fn server(connections: usize, behaviour: Behaviour) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for _ in 0..connections {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            thread::spawn(move || serve(stream, behaviour));
        }
    });
    addr
}

fn serve(mut stream: TcpStream, behaviour: Behaviour) {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let key = head
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap()
        .to_owned();
    let key = if behaviour.wrong_accept {
        "dGhlIHNhbXBsZSBub25jZQ==".to_owned()
    } else {
        key
    };
    let accept = String::from_utf8(accept_value(key.as_bytes()).to_vec()).unwrap();
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    if stream.write_all(response.as_bytes()).is_err() {
        return;
    }
    let mut codec = Connection::new(CodecRole::Server, Config::default());
    let mut input = vec![0u8; behaviour.chunk];
    let mut echoed = 0u64;
    loop {
        let n = match stream.read(&mut input) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        thread::sleep(behaviour.read_pause);
        if let Some((after, pause)) = behaviour.stall {
            if echoed >= after && echoed < after + 1_000_000 {
                thread::sleep(pause);
                // Once only.
                echoed += 1_000_000;
            }
        }
        let mut used = 0;
        let mut reply = Vec::new();
        while used < n {
            let progress = codec.handle_bytes(&mut input[used..n]).unwrap();
            used += progress.consumed;
            let (opcode, payload): (OpCode, &[u8]) = match &progress.event {
                Some(Event::Binary(data)) => (OpCode::Binary, data),
                Some(Event::Text(text)) => (OpCode::Text, text.as_bytes()),
                Some(other) => panic!("unexpected {other:?}"),
                None => break,
            };
            let header = codec.encode_header(opcode, true, payload.len()).unwrap();
            reply.extend_from_slice(&header);
            let start = reply.len();
            reply.extend_from_slice(payload);
            if behaviour.corrupt == Some(echoed) && !payload.is_empty() {
                reply[start + payload.len() / 2] ^= 0x01;
            }
            echoed += 1;
        }
        for piece in reply.chunks(behaviour.chunk) {
            if stream.write_all(piece).is_err() {
                return;
            }
        }
    }
}

/// Opens `connections` echo connections to `addr` and runs until `ops` echoes, an error, or 30 s.
fn echo(addr: SocketAddr, connections: usize, mode: Mode, ops: u64) -> (Counters, usize) {
    let mut engine = engine(addr, mode);
    engine.sending = false;
    for _ in 0..connections {
        assert!(engine.connect(Role::Plain));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while engine.in_progress > 0 && Instant::now() < deadline {
        engine.step(Duration::from_millis(10)).unwrap();
    }
    let open = engine.open;
    engine.start_echo();
    while engine.counters.ops < ops
        && engine.counters.error_count() == 0
        && engine.open > 0
        && Instant::now() < deadline
    {
        engine.step(Duration::from_millis(10)).unwrap();
    }
    (engine.counters.clone(), open)
}

/// An engine alone (thread 0 of 1) talking to `addr`.
fn engine(addr: SocketAddr, mode: Mode) -> Engine {
    let connector = Connector::new(addr, 1, true).unwrap();
    let setup = Setup {
        host: "localhost",
        path: "/",
        mode,
        tls: None,
        shared: Shared::new(false, 0),
        offer: Offer::default(),
        thread: 0,
        threads: 1,
    };
    Engine::new(connector, setup).unwrap()
}

fn binary(in_flight: usize, size: usize) -> Mode {
    Mode::Echo {
        in_flight,
        size,
        opcode: OpCode::Binary,
    }
}

#[test]
fn echoes_of_every_header_size_are_received_and_checked() {
    for size in [0, 1, 125, 126, 65_535, 65_536, 200_000] {
        let addr = server(2, PLAIN);
        let (counters, open) = echo(addr, 2, binary(4, size), 40);
        assert_eq!(open, 2, "size {size}");
        assert_eq!(counters.errors, Default::default(), "size {size}");
        assert!(counters.ops >= 40, "size {size}: {counters:?}");
        assert_eq!(counters.payload_bytes, counters.ops * size as u64);
    }
    let addr = server(1, PLAIN);
    let text = Mode::Echo {
        in_flight: 16,
        size: 16,
        opcode: OpCode::Text,
    };
    let (counters, _) = echo(addr, 1, text, 1000);
    assert_eq!(counters.error_count(), 0, "{counters:?}");
}

#[test]
fn short_writes_to_a_slow_reader_keep_frames_whole_and_in_order() {
    // 4 x 1 MiB in flight is more than loopback socket buffers hold: writes come back short.
    let slow = Behaviour {
        chunk: 64 * 1024,
        read_pause: Duration::from_millis(1),
        ..PLAIN
    };
    let addr = server(2, slow);
    let (counters, _) = echo(addr, 2, binary(4, 1 << 20), 24);
    assert_eq!(counters.errors, Default::default());
    assert!(counters.ops >= 24, "{counters:?}");
}

#[test]
fn a_corrupted_echo_is_an_error() {
    let addr = server(
        1,
        Behaviour {
            corrupt: Some(5),
            ..PLAIN
        },
    );
    let (counters, _) = echo(addr, 1, binary(4, 16_384), 1_000);
    assert_eq!(counters.errors.get("echo payload mismatch"), Some(&1));
    assert_eq!(counters.ops, 5, "the five echoes before it were good");
}

#[test]
fn a_wrong_accept_value_is_an_error() {
    let addr = server(
        3,
        Behaviour {
            wrong_accept: true,
            ..PLAIN
        },
    );
    let (counters, open) = echo(addr, 3, binary(1, 16), 1);
    assert_eq!(open, 0);
    assert_eq!(counters.upgraded, 0);
    assert_eq!(
        counters.errors.get("handshake: wrong accept value"),
        Some(&3)
    );
}

/// Latencies above `floor` recorded so far.
fn above(engine: &Engine, floor: Duration) -> u64 {
    let floor = floor.as_nanos() as u64;
    engine
        .latency
        .iter_recorded()
        .filter(|v| v.value_iterated_to() > floor)
        .map(|v| v.count_at_value())
        .sum()
}

#[test]
fn open_loop_latency_counts_from_the_intended_time_through_a_stall() {
    // The server stops reading for 300 ms after 100 echoes. At 1,000 messages/s the open loop
    // keeps sending on schedule, and every message due during the stall is timed from when it
    // was due: about 300 of them wait over 100 ms, against one in a closed loop (which would
    // just stop sending: coordinated omission).
    let stalling = Behaviour {
        stall: Some((100, Duration::from_millis(300))),
        ..PLAIN
    };
    let addr = server(1, stalling);
    let mut engine = engine(addr, binary(1, 16));
    engine.sending = false;
    assert!(engine.connect(Role::Plain));
    let deadline = Instant::now() + Duration::from_secs(10);
    while engine.open == 0 && Instant::now() < deadline {
        engine.step(Duration::from_millis(10)).unwrap();
    }
    let start = engine.now();
    engine.start_open_loop(Schedule {
        start,
        rate: 1000.0,
        ramp: 0,
    });
    let run_until = Instant::now() + Duration::from_millis(1200);
    while Instant::now() < run_until {
        let wait = engine.until_due().unwrap().min(Duration::from_millis(10));
        engine.step(wait).unwrap();
    }
    engine.sending = false;
    let drain_until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < drain_until && engine.counters.ops < 1150 {
        engine.step(Duration::from_millis(10)).unwrap();
    }
    assert_eq!(engine.counters.error_count(), 0, "{:?}", engine.counters);
    // Sending kept to the schedule: about 1,200 messages in 1.2 s, all echoed in the end.
    assert!(engine.counters.ops >= 1150, "{:?}", engine.counters);
    let slow = above(&engine, Duration::from_millis(100));
    assert!(
        (150..=400).contains(&slow),
        "{slow} messages over 100 ms; p99 {} us",
        engine.latency.value_at_quantile(0.99) / 1000
    );
    assert!(
        engine.latency.max() >= 250_000_000,
        "the first one waited the whole stall"
    );
}

#[test]
fn the_schedule_ramps_up_linearly_then_keeps_the_rate() {
    let s = Schedule {
        start: 1_000,
        rate: 1000.0,
        ramp: 2_000_000_000,
    };
    // During a 2 s ramp to 1,000/s, 1,000 messages are due (the area under the ramp).
    assert_eq!(s.due(0), 1_000);
    let at_ramp_end = s.due(1000);
    assert!(
        (at_ramp_end as i64 - 2_000_001_000).abs() < 1_000,
        "{at_ramp_end}"
    );
    // Half the ramp's messages are due at 1/sqrt(2) of it.
    let half = s.due(500) as f64 / 1e9;
    assert!((half - 2.0 / 2f64.sqrt()).abs() < 1e-3, "{half}");
    // Then one every millisecond.
    assert_eq!(s.due(1001) - s.due(1000), 1_000_000);
    let flat = Schedule { ramp: 0, ..s };
    assert_eq!(flat.due(10), 1_000 + 10_000_000);
}
