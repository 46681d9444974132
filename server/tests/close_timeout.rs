//! `--close-timeout`: a client that never answers our close frame is cut after the configured
//! time.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::*;

/// Upgrades, starts a graceful shutdown (which sends close 1001 and waits for the client's
/// close frame), reads that close frame and never answers it. Returns how long after the close
/// frame the server cut the connection, or `None` if it was still open after `wait`.
fn cut_after_unanswered_close(server: &TestServer, wait: Duration) -> Option<Duration> {
    let mut s = raw_ws(server.addr, "/echo");
    server.server.as_ref().unwrap().shutdown();
    let mut head = [0u8; 4];
    s.read_exact(&mut head).unwrap();
    assert_eq!(
        (head[0], head[2], head[3]),
        (0x88, 0x03, 0xE9),
        "close 1001"
    );
    let mut reason = vec![0u8; usize::from(head[1]) - 2];
    s.read_exact(&mut reason).unwrap();
    let sent = Instant::now();
    closed_within(&mut s, wait).then(|| sent.elapsed())
}

#[test]
fn an_unanswered_close_is_cut_after_the_configured_close_timeout() {
    // The shutdown deadline far off, so that only the close deadline can end the connection.
    let server = TestServer::start(&["--close-timeout", "0.3", "--shutdown-timeout", "30"]);
    let after = cut_after_unanswered_close(&server, Duration::from_secs(5))
        .expect("cut within 5 s of an unanswered close");
    assert!(
        (Duration::from_millis(250)..Duration::from_secs(3)).contains(&after),
        "cut {after:?} after the close frame, close_timeout 0.3 s"
    );

    let server = TestServer::start(&["--close-timeout", "2", "--shutdown-timeout", "30"]);
    assert_eq!(
        cut_after_unanswered_close(&server, Duration::from_secs(1)),
        None,
        "still open 1 s into a 2 s close_timeout"
    );
}
