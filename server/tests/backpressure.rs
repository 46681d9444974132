//! Slow consumers: echo stops reading from a client that does not read its replies (nothing is
//! dropped, memory stays bounded), and resumes when it reads again.

mod common;

use common::*;
use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

#[test]
fn echo_stops_reading_a_client_that_does_not_read() {
    let server = TestServer::start(&["--outbound-cap", "262144"]);
    let mut s = raw_ws(server.addr, "/echo");
    let payload = vec![b'z'; 60_000];
    let frame = client_frame_any(0x2, &payload);
    s.set_nonblocking(true).unwrap();
    let limit: usize = 512 << 20;
    let mut sent = 0usize;
    let mut last_progress = Instant::now();
    while sent < limit && last_progress.elapsed() < Duration::from_secs(1) {
        let off = sent % frame.len();
        match s.write(&frame[off..]) {
            Ok(n) => {
                sent += n;
                last_progress = Instant::now();
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("write failed: {e}"),
        }
    }
    assert!(
        sent < 64 << 20,
        "the server kept reading {sent} bytes from a client that reads nothing"
    );
    assert!(server.metric("switchyard_backpressure_pauses_total") >= 1);
    // Finish the partial frame, then read every reply: nothing was dropped.
    s.set_nonblocking(false).unwrap();
    let off = sent % frame.len();
    let frames = sent.div_ceil(frame.len());
    let expected = frames * (payload.len() + 4);
    let reader = drain_exact(&s, expected);
    if off != 0 {
        s.write_all(&frame[off..]).unwrap();
    }
    let got = reader.join().unwrap();
    assert_eq!(got.len(), expected);
    for reply in got.chunks(payload.len() + 4) {
        assert_eq!(&reply[..4], &[0x82, 126, 0xEA, 0x60]);
        assert!(reply[4..].iter().all(|&b| b == b'z'));
    }
    // And the connection is still alive and echoing.
    s.write_all(&client_frame(0x81, b"after")).unwrap();
    let mut small = [0u8; 7];
    s.read_exact(&mut small).unwrap();
    assert_eq!(&small, b"\x81\x05after");
}

/// Reads exactly `n` bytes from a clone of `s` in a thread.
fn drain_exact(s: &std::net::TcpStream, n: usize) -> std::thread::JoinHandle<Vec<u8>> {
    let mut r = s.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; n];
        r.read_exact(&mut buf).unwrap();
        buf
    })
}
