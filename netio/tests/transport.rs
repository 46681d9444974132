//! A connection with a [`Transport`]: a toy length-prefixed, XOR-ed record layer with a
//! one-record handshake stands for TLS. Input decoded in place with tails carried across reads,
//! every write encoded (corked, immediate, deferred), the end-of-stream record on a close after
//! flush, the answer to a read that also held data ahead of the reply to that data, and a
//! failing decode answered, reported and closed.

mod common;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchyard_netio::{start, Accepted, Close, Config, ConnId, Ctx, Decoded, Handler, Transport};

const KEY: u8 = 0x55;

/// Records are `[len][len bytes XOR KEY]`; the first must be `HELLO`, answered with a raw
/// `OK`; a zero-length record is the end of stream; a record of 255 is garbage.
#[derive(Default)]
struct Toy {
    ready: bool,
    received: bool,
}

fn record(data: &[u8]) -> Vec<u8> {
    let mut r = vec![data.len() as u8];
    r.extend(data.iter().map(|b| b ^ KEY));
    r
}

impl Transport for Toy {
    fn decode(&mut self, buf: &mut [u8], out: &mut Vec<u8>) -> io::Result<Decoded> {
        self.received |= !buf.is_empty();
        let mut got = Decoded::default();
        loop {
            let rest = &buf[got.consumed..];
            let Some(&len) = rest.first() else {
                return Ok(got);
            };
            let len = usize::from(len);
            if len == 255 {
                out.push(b'!');
                return Err(io::Error::new(io::ErrorKind::InvalidData, "garbage"));
            }
            if len == 0 {
                got.consumed += 1;
                got.end = true;
                return Ok(got);
            }
            if rest.len() < 1 + len {
                return Ok(got);
            }
            let start = got.consumed + 1;
            if !self.ready {
                assert_eq!(&buf[start..start + len], &record(b"HELLO")[1..]);
                self.ready = true;
                out.extend_from_slice(b"OK");
            } else {
                for i in 0..len {
                    buf[got.data + i] = buf[start + i] ^ KEY;
                }
                got.data += len;
            }
            got.consumed += 1 + len;
        }
    }

    fn encode(&mut self, data: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        for chunk in data.chunks(254) {
            out.extend_from_slice(&record(chunk));
        }
        Ok(())
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        out.push(0);
    }

    fn eof(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        if self.ready || !self.received {
            return Ok(());
        }
        out.push(b'T');
        Err(io::Error::new(io::ErrorKind::UnexpectedEof, "truncated"))
    }

    fn is_established(&self) -> bool {
        self.ready
    }
}

#[derive(Default)]
struct Log {
    events: Vec<String>,
    conns: Vec<ConnId>,
}

/// Echoes; `bye` closes after flushing; `quiet` gets no reply; `all:` sends the rest to every
/// connection, deferred.
struct Server(Arc<Mutex<Log>>);

impl Handler for Server {
    type Conn = ();
    type Message = ();
    fn accept(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &Accepted) -> Option<()> {
        ctx.set_transport(id, Box::new(Toy::default())).unwrap();
        self.0.lock().unwrap().conns.push(id);
        Some(())
    }
    fn on_transport_ready(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &mut ()) {
        assert!(ctx.transport::<Toy>(id).unwrap().is_established());
        self.0.lock().unwrap().events.push("ready".into());
    }
    fn on_transport_error(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &mut (), e: &io::Error) {
        self.0.lock().unwrap().events.push(format!("error {e}"));
    }
    fn on_data(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &mut (), data: &mut [u8]) {
        if data == b"bye" {
            ctx.write(id, b"see you").unwrap();
            ctx.close(id, Close::AfterFlush);
        } else if data == b"quiet" {
            // No reply.
        } else if let Some(rest) = data.strip_prefix(b"all:") {
            let conns = self.0.lock().unwrap().conns.clone();
            for c in conns {
                let _ = ctx.write_owned_deferred(c, rest.to_vec());
            }
        } else {
            // Two writes in one callback: corked, encoded together.
            ctx.write(id, &data[..data.len() / 2]).unwrap();
            ctx.write(id, &data[data.len() / 2..]).unwrap();
        }
    }
    fn on_eof(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &mut ()) {
        self.0.lock().unwrap().events.push("eof".into());
        ctx.close(id, Close::AfterFlush);
    }
}

fn server() -> (
    switchyard_netio::Reactors<()>,
    std::net::SocketAddr,
    Arc<Mutex<Log>>,
) {
    let log = Arc::new(Mutex::new(Log::default()));
    let l = Arc::clone(&log);
    let config = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        reactors: 1,
        ..Config::default()
    };
    let server = start(config, move |_| Server(Arc::clone(&l))).unwrap();
    let addr = server.local_addrs()[0];
    (server, addr, log)
}

fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    s.write_all(&record(b"HELLO")).unwrap();
    let mut ok = [0u8; 2];
    s.read_exact(&mut ok).unwrap();
    assert_eq!(&ok, b"OK");
    s
}

/// Reads `n` decoded bytes of records from `s`.
fn read_decoded(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < n {
        let mut len = [0u8; 1];
        s.read_exact(&mut len).unwrap();
        let mut body = vec![0u8; usize::from(len[0])];
        s.read_exact(&mut body).unwrap();
        got.extend(body.iter().map(|b| b ^ KEY));
    }
    got
}

#[test]
fn records_split_across_reads_are_decoded_and_writes_encoded() {
    let (_server, addr, log) = server();
    let mut s = connect(addr);
    // One record in three writes, then two records and half of a third in one write.
    let r = record(b"hello transport");
    for part in [&r[..1], &r[1..5], &r[5..]] {
        s.write_all(part).unwrap();
        std::thread::sleep(Duration::from_millis(30));
    }
    assert_eq!(read_decoded(&mut s, 15), b"hello transport");
    let mut joined = record(b"one");
    joined.extend(record(b"two"));
    let three = record(b"three");
    joined.extend_from_slice(&three[..2]);
    s.write_all(&joined).unwrap();
    std::thread::sleep(Duration::from_millis(30));
    s.write_all(&three[2..]).unwrap();
    let mut want = b"onetwo".to_vec();
    want.extend_from_slice(b"three");
    assert_eq!(read_decoded(&mut s, 11), want);
    // Deferred writes to every connection are encoded too.
    let mut other = connect(addr);
    s.write_all(&record(b"all:news")).unwrap();
    assert_eq!(read_decoded(&mut s, 4), b"news");
    assert_eq!(read_decoded(&mut other, 4), b"news");
    // A close after flush: the reply, the end-of-stream record, then FIN.
    s.write_all(&record(b"bye")).unwrap();
    assert_eq!(read_decoded(&mut s, 7), b"see you");
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, [0]);
    // The peer's end-of-stream record is an end of input.
    other.write_all(&[0]).unwrap();
    let mut rest = Vec::new();
    other.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, [0], "our end of stream answers");
    let events = log.lock().unwrap().events.clone();
    assert_eq!(events, ["ready", "ready", "eof"]);
}

#[test]
fn a_failing_decode_is_answered_reported_and_closed() {
    let (_server, addr, log) = server();
    let mut s = connect(addr);
    s.write_all(&[255, 1, 2, 3]).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"!", "the answer and no end of stream");
    // A handshake cut by a FIN: the transport's answer, reported, closed.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&record(b"HELLO")[..3]).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"T");
    let events = log.lock().unwrap().events.clone();
    assert_eq!(events, ["ready", "error garbage", "error truncated"]);
}

/// Opens a connection whose first write is the handshake record and `first` behind it, and
/// reads the handshake's answer.
fn connect_with(addr: std::net::SocketAddr, first: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    let mut hello = record(b"HELLO");
    hello.extend(record(first));
    s.write_all(&hello).unwrap();
    let mut ok = [0u8; 2];
    s.read_exact(&mut ok).unwrap();
    assert_eq!(&ok, b"OK", "the answer comes first");
    s
}

#[test]
fn the_answer_to_a_read_with_data_goes_ahead_of_the_reply() {
    // The answer is held for the reply to the data read with it (one send for both, as a TLS
    // server's tickets and its first response): every way of replying keeps the order.
    let (_server, addr, log) = server();
    // A corked reply.
    let mut s = connect_with(addr, b"abcd");
    assert_eq!(read_decoded(&mut s, 4), b"abcd");
    // No reply: the answer still goes when the callback returns.
    let mut quiet = connect_with(addr, b"quiet");
    // A deferred write, to this connection and the others.
    let mut all = connect_with(addr, b"all:x");
    assert_eq!(read_decoded(&mut all, 1), b"x");
    assert_eq!(read_decoded(&mut s, 1), b"x");
    assert_eq!(read_decoded(&mut quiet, 1), b"x");
    // A close after flush: the reply, our end of stream, FIN.
    let mut bye = connect_with(addr, b"bye");
    assert_eq!(read_decoded(&mut bye, 7), b"see you");
    let mut rest = Vec::new();
    bye.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, [0]);
    let events = log.lock().unwrap().events.clone();
    assert_eq!(events, ["ready", "ready", "ready", "ready"]);
}
