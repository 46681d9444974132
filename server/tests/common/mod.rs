//! Helpers shared by the integration tests: an in-process server on an ephemeral port, raw HTTP
//! exchanges, tungstenite clients, and a TCP echo backend for the bridge.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser as _;
use switchyard::config::{Cli, Config};
use switchyard::Server;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

/// Read timeout on every test socket: a test that hangs fails instead.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A server running in this process; shut down and joined on drop.
pub struct TestServer {
    pub server: Option<Server>,
    pub addr: SocketAddr,
}

impl TestServer {
    /// Starts a server on 127.0.0.1:0 with the given extra flags and, unless they say
    /// otherwise, two workers.
    pub fn start(flags: &[&str]) -> TestServer {
        let mut args = vec!["switchyard", "--listen", "127.0.0.1:0", "--no-pin"];
        if !flags.contains(&"--workers") {
            args.extend(["--workers", "2"]);
        }
        args.extend_from_slice(flags);
        let cli = Cli::try_parse_from(args).expect("test flags parse");
        let config = Config::from_cli(cli).expect("test config is valid");
        switchyard::logging::init(&std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".into()));
        let server = Server::start(config).expect("server starts");
        let addr = server.local_addrs()[0];
        TestServer {
            server: Some(server),
            addr,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// Starts graceful shutdown and waits for the server to finish.
    pub fn shutdown(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown();
            let _ = s.join();
        }
    }

    /// GET /metrics and return the value of one series (0 if absent).
    pub fn metric(&self, series: &str) -> u64 {
        let text = http_get(self.addr, "/metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

pub type Client = WebSocket<TcpStream>;

/// A TCP stream with timeouts.
pub fn tcp(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// A tungstenite client upgraded on `path`.
pub fn ws(server: &TestServer, path: &str) -> Client {
    ws_with(server, path, |r| r)
}

/// A tungstenite client, with a chance to edit the upgrade request (headers).
pub fn ws_with(
    server: &TestServer,
    path: &str,
    edit: impl FnOnce(
        tungstenite::handshake::client::Request,
    ) -> tungstenite::handshake::client::Request,
) -> Client {
    try_ws_with(server, path, edit).expect("websocket upgrade")
}

/// As [`ws_with`], returning the handshake error instead of panicking.
pub fn try_ws_with(
    server: &TestServer,
    path: &str,
    edit: impl FnOnce(
        tungstenite::handshake::client::Request,
    ) -> tungstenite::handshake::client::Request,
) -> Result<Client, Box<tungstenite::Error>> {
    use tungstenite::client::IntoClientRequest as _;
    let req = edit(server.url(path).into_client_request().unwrap());
    let stream = tcp(server.addr);
    let config = WebSocketConfig {
        max_message_size: Some(64 << 20),
        max_frame_size: Some(64 << 20),
        ..WebSocketConfig::default()
    };
    match tungstenite::client::client_with_config(req, stream, Some(config)) {
        Ok((ws, _response)) => Ok(ws),
        Err(tungstenite::HandshakeError::Failure(e)) => Err(Box::new(e)),
        Err(tungstenite::HandshakeError::Interrupted(_)) => unreachable!("blocking stream"),
    }
}

/// Reads until a data message arrives (answering pings is tungstenite's job).
pub fn next_data(ws: &mut Client) -> Message {
    loop {
        match ws.read().expect("read a message") {
            m @ (Message::Text(_) | Message::Binary(_)) => return m,
            _ => continue,
        }
    }
}

/// Reads until the server's close frame and returns its code (1005 for an empty close, 1006 if
/// the connection ended without one).
pub fn close_code(ws: &mut Client) -> u16 {
    loop {
        match ws.read() {
            // Flushing sends tungstenite's queued answering close, completing the handshake.
            Ok(Message::Close(Some(f))) => {
                let _ = ws.flush();
                return f.code.into();
            }
            Ok(Message::Close(None)) => {
                let _ = ws.flush();
                return 1005;
            }
            Ok(_) => continue,
            Err(tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
            ))
            | Err(tungstenite::Error::ConnectionClosed)
            | Err(tungstenite::Error::AlreadyClosed) => return 1006,
            Err(tungstenite::Error::Io(e)) => panic!("io error waiting for a close: {e}"),
            Err(e) => panic!("error waiting for a close: {e}"),
        }
    }
}

/// Sends `request` raw and reads the whole response until the server closes (or a full
/// `Content-Length` body arrived).
pub fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = tcp(addr);
    s.write_all(request).unwrap();
    read_response(&mut s)
}

/// Reads one HTTP response (head plus Content-Length body) from `s`. Reads byte by byte so
/// that nothing after the response is consumed (pipelined responses, frames after a 101).
pub fn read_response(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(0) => return String::from_utf8_lossy(&buf).to_string(),
            Ok(_) => buf.push(b[0]),
            Err(e) => panic!(
                "reading a response: {e}; got so far {:?}",
                String::from_utf8_lossy(&buf)
            ),
        }
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).expect("response body");
    head + &String::from_utf8_lossy(&body)
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// GET `path` with Connection: close and return the whole response.
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    raw_exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// The status code of a raw HTTP response.
pub fn status(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"))
}

/// Reads until EOF or error; true if the peer closed (EOF or reset) within `within`.
pub fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {
                if start.elapsed() > within {
                    return false;
                }
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// A TCP echo server on an ephemeral loopback port, one thread per connection; lives until the
/// test process ends.
pub fn tcp_echo_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            thread::spawn(move || {
                let mut buf = [0u8; 16384];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if conn.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

/// A masked client frame with a payload shorter than 126 bytes.
pub fn client_frame(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [0x11, 0x22, 0x33, 0x44];
    let mut f = vec![first_byte, 0x80 | payload.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Polls `cond` every 10 ms until it holds or `within` passes.
pub fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// A raw TCP stream upgraded to a WebSocket on `path` (the 101 head consumed, nothing more).
pub fn raw_ws(addr: SocketAddr, path: &str) -> TcpStream {
    raw_ws_with(addr, path, "")
}

/// [`raw_ws`] with extra request header lines (each ending in CRLF), e.g. an extension offer.
pub fn raw_ws_with(addr: SocketAddr, path: &str, extra_headers: &str) -> TcpStream {
    raw_ws_head(addr, path, extra_headers).0
}

/// [`raw_ws_with`], also returning the 101 response head (to check what was negotiated).
pub fn raw_ws_head(addr: SocketAddr, path: &str, extra_headers: &str) -> (TcpStream, String) {
    let mut s = tcp(addr);
    s.write_all(&upgrade_request(path, extra_headers)).unwrap();
    let head = read_response(&mut s);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    (s, head)
}

/// A WebSocket upgrade request for `path` (RFC 6455's sample key) with extra header lines.
pub fn upgrade_request(path: &str, extra_headers: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         {extra_headers}\r\n"
    )
    .into_bytes()
}

/// Starts the `switchyard` binary with `args`; returns it and the address from its first log
/// line (stderr is drained in a thread so the server never blocks on a full pipe).
pub fn spawn_binary(args: &[&str]) -> (std::process::Child, SocketAddr, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("the binary starts");
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    thread::spawn(move || {
        let mut sink = String::new();
        while stderr.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
            sink.clear();
        }
    });
    let addr = first
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split([' ', ',']).next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in the first log line: {first:?}"));
    (child, addr, first)
}

/// Reads and discards everything on a clone of `s` in a thread; the thread returns the byte count
/// when the connection ends.
pub fn drain(s: &TcpStream) -> thread::JoinHandle<u64> {
    let mut r = s.try_clone().unwrap();
    r.set_read_timeout(None).unwrap();
    thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        let mut total = 0u64;
        while let Ok(n @ 1..) = r.read(&mut buf) {
            total += n as u64;
        }
        total
    })
}

/// A masked client frame of any length (FIN set).
pub fn client_frame_any(opcode: u8, payload: &[u8]) -> Vec<u8> {
    client_frame_raw(0x80 | opcode, payload)
}

/// A masked client frame of any length whose first byte (FIN, RSV bits, opcode) is given.
pub fn client_frame_raw(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x5a, 0xa5, 0x0f, 0xf0];
    let mut f = vec![first_byte];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n < 65536 => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// A permessage-deflate offer without context takeover, as a request header line.
pub const DEFLATE: &str = "Sec-WebSocket-Extensions: permessage-deflate; \
                           client_no_context_takeover; server_no_context_takeover\r\n";

/// Raw deflate of `len` zero bytes, sync-flushed, without the `00 00 ff ff` tail (RFC 7692
/// 7.2.1): a message that inflates about a thousand times.
pub fn bomb(len: usize) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let mut compress = Compress::new(Compression::new(9), false);
    let mut out = Vec::with_capacity(len / 500 + 1024);
    let zeros = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let chunk = left.min(zeros.len());
        let flush = if chunk == left {
            FlushCompress::Sync
        } else {
            FlushCompress::None
        };
        let before = compress.total_in();
        while compress.total_in() - before < chunk as u64 {
            let done = (compress.total_in() - before) as usize;
            out.reserve(64 << 10);
            compress
                .compress_vec(&zeros[done..chunk], &mut out, flush)
                .unwrap();
        }
        left -= chunk;
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// The close code the server sent on a raw connection (server frames are unmasked), or
/// `None` if it closed without one or sent none within the socket's read timeout.
pub fn raw_close_code(s: &mut TcpStream) -> Option<u16> {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // Parse what arrived: skip whole frames until a close frame.
        let mut pos = 0;
        while bytes.len() >= pos + 2 {
            let (b0, len7) = (bytes[pos], usize::from(bytes[pos + 1] & 0x7f));
            let (len, header) = match len7 {
                126 if bytes.len() >= pos + 4 => (
                    usize::from(u16::from_be_bytes([bytes[pos + 2], bytes[pos + 3]])),
                    4,
                ),
                126 | 127 => break,
                n => (n, 2),
            };
            if bytes.len() < pos + header + len {
                break;
            }
            if b0 & 0x0f == 0x8 {
                let p = &bytes[pos + header..pos + header + len];
                return (p.len() >= 2).then(|| u16::from_be_bytes([p[0], p[1]]));
            }
            pos += header + len;
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
        }
    }
}

/// A `switchyard` binary started by a test, its stderr kept line by line as it comes; killed on
/// drop if still running.
pub struct Binary {
    pub child: std::process::Child,
    /// The first listen address, from the "listening on" line.
    pub addr: SocketAddr,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Binary {
    /// Starts the binary with `args` and extra environment variables `envs` (`RUST_LOG`
    /// removed, so `--log-level` decides), and waits for its "listening on" line.
    pub fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Binary {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(args)
            .envs(envs.iter().copied())
            .env_remove("RUST_LOG")
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("the binary starts");
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&lines);
        thread::spawn(move || {
            for line in stderr.lines() {
                let Ok(line) = line else { return };
                sink.lock().unwrap().push(line);
            }
        });
        let mut binary = Binary {
            child,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            lines,
        };
        let first = binary
            .wait_line(TIMEOUT, |l| l.contains("listening on "))
            .unwrap_or_else(|| panic!("no listening line; stderr: {:?}", binary.lines()));
        binary.addr = first
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split([' ', ',', '"']).next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {first:?}"));
        binary
    }

    /// Every stderr line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The first stderr line for which `pred` holds, waiting up to `within` for it.
    pub fn wait_line(&self, within: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let mut found = None;
        eventually(within, || {
            found = self.lines.lock().unwrap().iter().find(|l| pred(l)).cloned();
            found.is_some()
        });
        found
    }

    /// Sends SIGTERM (with the `kill` command: no libc in the tests).
    pub fn sigterm(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit, killing it (and failing) after `within`.
    pub fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > within {
                let _ = self.child.kill();
                panic!("the server did not exit within {within:?}");
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the binary with `args` and `envs`, expecting it to exit by itself within `within`
/// (killed and failing otherwise); returns its status and stderr.
pub fn run_binary_to_exit(
    args: &[&str],
    envs: &[(&str, &str)],
    within: Duration,
) -> (std::process::ExitStatus, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .envs(envs.iter().copied())
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stderr = child.stderr.take().unwrap();
    let reader = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    if !eventually(within, || child.try_wait().unwrap().is_some()) {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the binary did not exit within {within:?} (args {args:?})");
    }
    let status = child.wait().unwrap();
    (status, reader.join().unwrap())
}
