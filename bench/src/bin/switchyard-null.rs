//! `switchyard-null`: the "null" WebSocket server, the practical limit of this machine and the
//! yardstick the benchmark targets are ratios of.
//!
//! It is deliberately naive and does the least work a WebSocket echo server can do: one mio
//! thread; on readable, read until a short read; until the blank line of the request head it
//! looks only for `Sec-WebSocket-Key` and answers a fixed 101 with the computed accept value; then
//! each frame is unmasked and written back with its header rewritten (no validation, no UTF-8
//! check, no limits, no ping handling: a close frame is echoed and the connection closed). One
//! write per read batch; what the socket does not take waits for the next writable event.
//! It sets TCP_NODELAY, as every server in the comparison does.
//!
//! Usage: `switchyard-null [ADDR:PORT]` (default 127.0.0.1:9002).

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use switchyard_bench::accept::accept_value;
use switchyard_bench::mask::apply_mask;

const LISTENER: Token = Token(usize::MAX);
const READ_CHUNK: usize = 64 * 1024;

struct Conn {
    stream: TcpStream,
    upgraded: bool,
    /// Bytes of an incomplete head or frame, kept until the rest arrives.
    pending: Vec<u8>,
    /// Output the socket did not take yet.
    unsent: Vec<u8>,
    close_after_flush: bool,
}

fn main() -> io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9002".into())
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let _ = switchyard_bench::sys::raise_nofile_limit();
    let mut listener = bind(addr)?;
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    eprintln!("switchyard-null listening on {addr}");

    let mut conns: Slab<Conn> = Slab::new();
    let mut events = Events::with_capacity(1024);
    let mut scratch = vec![0u8; READ_CHUNK];
    let mut out = Vec::with_capacity(READ_CHUNK + 1024);
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                accept_all(&listener, &poll, &mut conns);
                continue;
            }
            let key = event.token().0;
            let Some(conn) = conns.get_mut(key) else {
                continue;
            };
            let mut alive = true;
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                alive = on_readable(conn, &mut scratch, &mut out);
            }
            if alive && event.is_writable() && !conn.unsent.is_empty() {
                alive = flush(conn);
            }
            if !alive {
                // Dropping the stream closes it, which also removes it from the epoll set.
                conns.remove(key);
            }
        }
    }
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM.nonblocking().cloexec(),
        None,
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(TcpListener::from_std(socket.into()))
}

fn accept_all(listener: &TcpListener, poll: &Poll, conns: &mut Slab<Conn>) {
    loop {
        match listener.accept() {
            Ok((mut stream, _)) => {
                let _ = stream.set_nodelay(true);
                let entry = conns.vacant_entry();
                let token = Token(entry.key());
                if poll
                    .registry()
                    .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                    .is_ok()
                {
                    entry.insert(Conn {
                        stream,
                        upgraded: false,
                        pending: Vec::new(),
                        unsent: Vec::new(),
                        close_after_flush: false,
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // EMFILE and friends: drop this round, try again on the next event.
                eprintln!("accept: {e}");
                return;
            }
        }
    }
}

/// Reads until a short read, answers everything complete; false when the connection must close.
fn on_readable(conn: &mut Conn, scratch: &mut [u8], out: &mut Vec<u8>) -> bool {
    loop {
        let n = match conn.stream.read(scratch) {
            Ok(0) => return false,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        };
        out.clear();
        if conn.pending.is_empty() {
            let consumed = process(&mut scratch[..n], conn, out);
            conn.pending.extend_from_slice(&scratch[consumed..n]);
        } else {
            conn.pending.extend_from_slice(&scratch[..n]);
            let mut pending = std::mem::take(&mut conn.pending);
            let consumed = process(&mut pending, conn, out);
            pending.drain(..consumed);
            conn.pending = pending;
        }
        if !out.is_empty() {
            if conn.unsent.is_empty() {
                match conn.stream.write(out) {
                    Ok(written) => conn.unsent.extend_from_slice(&out[written..]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        conn.unsent.extend_from_slice(out)
                    }
                    Err(_) => return false,
                }
            } else {
                conn.unsent.extend_from_slice(out);
            }
        }
        if conn.close_after_flush && conn.unsent.is_empty() {
            return false;
        }
        if n < scratch.len() {
            return true;
        }
    }
}

fn flush(conn: &mut Conn) -> bool {
    match conn.stream.write(&conn.unsent) {
        Ok(written) => {
            conn.unsent.drain(..written);
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(_) => return false,
    }
    !(conn.close_after_flush && conn.unsent.is_empty())
}

/// Handles the complete heads and frames at the start of `data`, appending answers to `out`;
/// returns how many bytes were used.
fn process(data: &mut [u8], conn: &mut Conn, out: &mut Vec<u8>) -> usize {
    let mut used = 0;
    if !conn.upgraded {
        let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
            return 0;
        };
        used = end + 4;
        match find_key(&data[..end]) {
            Some(key) => {
                out.extend_from_slice(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                      Connection: Upgrade\r\nSec-WebSocket-Accept: ",
                );
                out.extend_from_slice(&accept_value(key));
                out.extend_from_slice(b"\r\n\r\n");
                conn.upgraded = true;
            }
            None => {
                out.extend_from_slice(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
                conn.close_after_flush = true;
                return data.len();
            }
        }
    }
    while !conn.close_after_flush {
        let rest = &mut data[used..];
        let Some((header_len, payload_len)) = frame_header(rest) else {
            break;
        };
        let total = header_len + payload_len;
        if rest.len() < total {
            break;
        }
        let opcode = rest[0] & 0x0f;
        let mask = [
            rest[header_len - 4],
            rest[header_len - 3],
            rest[header_len - 2],
            rest[header_len - 1],
        ];
        let payload = &mut rest[header_len..total];
        apply_mask(payload, mask);
        // Same first byte, same length encoding, mask bit and key dropped.
        out.push(rest[0]);
        out.push(rest[1] & 0x7f);
        out.extend_from_slice(&rest[2..header_len - 4]);
        out.extend_from_slice(&rest[header_len..total]);
        used += total;
        if opcode == 0x8 {
            conn.close_after_flush = true;
        }
    }
    used
}

/// Header length (with the 4-byte mask key) and payload length of a client frame, once the
/// header is complete.
fn frame_header(buf: &[u8]) -> Option<(usize, usize)> {
    let [_, b1, ..] = *buf else { return None };
    let (len_bytes, len) = match b1 & 0x7f {
        126 => (
            2,
            u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize,
        ),
        127 => (
            8,
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
        ),
        small => (0, small as usize),
    };
    let header = 2 + len_bytes + 4;
    (buf.len() >= header).then_some((header, len))
}

/// The value of the `Sec-WebSocket-Key` header line of a request head, if any.
fn find_key(head: &[u8]) -> Option<&[u8]> {
    const NAME: &[u8] = b"sec-websocket-key:";
    head.split(|&b| b == b'\n').find_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        (line.len() > NAME.len() && line[..NAME.len()].eq_ignore_ascii_case(NAME))
            .then(|| line[NAME.len()..].trim_ascii())
    })
}
