//! The app API, end to end: a probe app whose clients drive every handler and every method of
//! the connection handle by text commands, on a two-reactor server.

mod common;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use switchyard::app::{App, CloseInfo, Connection, Message, Publish, Upgrade, UpgradeRequest};
use switchyard::{Config, Server, ServerHandle};
use tungstenite::Message as WsMessage;

/// What the probe saw, in order, as text lines.
type Log = Arc<Mutex<Vec<String>>>;

struct Probe {
    log: Log,
}

/// Per connection: the path and a message counter.
struct State {
    path: String,
    messages: u32,
    /// Messages sent by `flood` before the queue passed the cap.
    flooded: u32,
}

impl Probe {
    fn note(&self, line: String) {
        self.log.lock().unwrap().push(line);
    }
}

impl App for Probe {
    type State = State;

    fn upgrade<'r>(&self, request: &UpgradeRequest<'r>) -> Upgrade<'r, State> {
        self.note(format!(
            "upgrade {} {} query={} peer={} x-test={}",
            request.method(),
            request.path(),
            request.query().unwrap_or("-"),
            request.peer().is_some(),
            request
                .header("x-test")
                .map_or("-".into(), |v| String::from_utf8_lossy(v).into_owned()),
        ));
        let state = State {
            path: request.path().to_owned(),
            messages: 0,
            flooded: 0,
        };
        match request.path() {
            "/reject" => Upgrade::reject(403, "go away"),
            "/proto" => Upgrade::Accept {
                state,
                subprotocol: request.offered_subprotocols().nth(1),
            },
            _ => Upgrade::accept(state),
        }
    }

    fn open(&self, conn: &mut Connection<'_, '_, Self>, request: &UpgradeRequest<'_>) {
        self.note(format!("open {}", request.path()));
        if let Some(topic) = request.path().strip_prefix("/topic/") {
            conn.subscribe(topic);
        }
    }

    fn message(&self, conn: &mut Connection<'_, '_, Self>, message: Message<'_>) {
        conn.state().messages += 1;
        let Message::Text(text) = message else {
            let _ = conn.send(message);
            return;
        };
        let (command, rest) = text.split_once(' ').unwrap_or((text, ""));
        match command {
            "echo" => {
                let _ = conn.send_text(rest);
            }
            "count" => {
                let n = conn.state().messages;
                let _ = conn.send_text(&n.to_string());
            }
            "twice" => {
                // Two replies to one message: the second must follow the first on the wire.
                let _ = conn.send(Message::Text(rest));
                let _ = conn.send_text(&format!("{rest} again"));
            }
            "close" => conn.close(rest.parse().unwrap(), "asked to"),
            "last" => {
                // A reply (built in place) then the close: the reply must come first.
                let _ = conn.send_text(rest);
                conn.close(4002, "after the reply");
                let _ = conn.send_text("never sent");
            }
            "sub" => {
                let new = conn.subscribe(rest);
                let _ = conn.send_text(&format!("sub {new} {}", conn.is_subscribed(rest)));
            }
            "unsub" => {
                let gone = conn.unsubscribe(rest);
                let _ = conn.send_text(&format!("unsub {gone}"));
            }
            "pub" | "pubx" => {
                let (topic, body) = rest.split_once(' ').unwrap();
                let who = if command == "pub" {
                    Publish::IncludeSender
                } else {
                    Publish::ExcludeSender
                };
                conn.publish(topic, Message::Text(body), who);
            }
            "timer" => {
                conn.set_timer(Duration::from_millis(rest.parse().unwrap()), 7);
            }
            "timer-cancel" => {
                let t = conn.set_timer(Duration::from_millis(rest.parse().unwrap()), 8);
                let cancelled = conn.cancel_timer(t);
                let _ = conn.send_text(&format!("cancelled {cancelled}"));
            }
            "pause" => {
                conn.pause_reading();
                conn.set_timer(Duration::from_millis(rest.parse().unwrap()), 9);
            }
            "flood" => {
                // Sends 64 KiB messages until the queue passes the cap (the client is not
                // reading): `backpressure` then notes how many went out.
                let chunk = vec![b'x'; 64 << 10];
                for _ in 0..1000 {
                    if conn.queued() > 256 << 10 {
                        break;
                    }
                    let _ = conn.send_binary(&chunk);
                    conn.state().flooded += 1;
                }
                let queued = conn.queued();
                self.note(format!("flooded queued>0={}", queued > 0));
            }
            "id" => {
                let (id, core) = (conn.id(), conn.core());
                let peer = conn.peer_addr().is_some();
                let _ = conn.send_text(&format!("{id} {core} {peer}"));
            }
            _ => {
                let _ = conn.send_text("?");
            }
        }
    }

    fn backpressure(&self, conn: &mut Connection<'_, '_, Self>) {
        let n = conn.state().flooded;
        self.note(format!("backpressure after {n}"));
    }

    fn drain(&self, conn: &mut Connection<'_, '_, Self>) {
        self.note("drain".into());
        let _ = conn.send_text("drained");
    }

    fn timer(&self, conn: &mut Connection<'_, '_, Self>, token: u32) {
        if token == 9 {
            conn.resume_reading();
            return;
        }
        let _ = conn.send_text(&format!("timer {token}"));
    }

    fn close(&self, conn: &mut Connection<'_, '_, Self>, close: CloseInfo<'_>) {
        let sent = conn.send_text("too late").is_err();
        let path = conn.state().path.clone();
        // Publishing still works from the close handler (a chat's "X left").
        if let Some(topic) = path.strip_prefix("/topic/") {
            conn.publish(topic, Message::Text("left"), Publish::ExcludeSender);
        }
        self.note(format!(
            "close {path} {} {} refused={sent}",
            close.code,
            close.by.as_str()
        ));
    }

    fn metrics(&self, out: &mut String) {
        out.push_str("# HELP probe_up The probe app.\n# TYPE probe_up gauge\nprobe_up 1\n");
    }
}

struct Running {
    server: Option<Server>,
    handle: ServerHandle,
    addr: std::net::SocketAddr,
    log: Log,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown();
            let _ = s.join();
        }
    }
}

fn start() -> Running {
    let log = Log::default();
    let config = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        workers: 2,
        pin: false,
        // Small enough that `flood` passes it quickly.
        outbound_cap: 256 << 10,
        ..Config::default()
    };
    let server = Server::start_app(config, Probe { log: log.clone() }).expect("starts");
    Running {
        addr: server.local_addrs()[0],
        handle: server.handle(),
        server: Some(server),
        log,
    }
}

impl Running {
    fn ws(&self, path: &str) -> Client {
        use tungstenite::client::IntoClientRequest as _;
        let req = format!("ws://{}{path}", self.addr)
            .into_client_request()
            .unwrap();
        tungstenite::client::client(req, tcp(self.addr))
            .expect("upgrade")
            .0
    }

    fn logged(&self, prefix: &str) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with(prefix))
            .cloned()
            .collect()
    }

    fn wait_logged(&self, line: &str) -> bool {
        eventually(Duration::from_secs(5), || {
            self.log.lock().unwrap().iter().any(|l| l == line)
        })
    }
}

#[track_caller]
fn text(ws: &mut Client) -> String {
    if std::env::var("PROBE_TRACE").is_ok() {
        eprintln!("reading at {}", std::panic::Location::caller());
    }
    match next_data(ws) {
        WsMessage::Text(t) => t.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

fn say(ws: &mut Client, line: &str) {
    ws.send(WsMessage::text(line)).unwrap();
}

#[test]
fn upgrade_sees_the_request_and_open_and_message_run_with_state() {
    let s = start();
    let mut raw = tcp(s.addr);
    let head = upgrade_request("/room?x=1", "X-Test: yes\r\n");
    raw.write_all(&head).unwrap();
    assert_eq!(status(&read_response(&mut raw)), 101);
    assert_eq!(
        s.logged("upgrade"),
        ["upgrade GET /room query=x=1 peer=true x-test=yes"]
    );
    assert_eq!(s.logged("open"), ["open /room"]);
    let mut c = s.ws("/state");
    say(&mut c, "echo hi");
    assert_eq!(text(&mut c), "hi");
    say(&mut c, "count");
    assert_eq!(text(&mut c), "2", "the state keeps counting");
    c.send(WsMessage::binary(vec![1u8, 2, 3])).unwrap();
    assert_eq!(next_data(&mut c), WsMessage::binary(vec![1u8, 2, 3]));
    say(&mut c, "twice x");
    assert_eq!(text(&mut c), "x");
    assert_eq!(text(&mut c), "x again");
    say(&mut c, "id");
    let id = text(&mut c);
    let parts: Vec<&str> = id.split(' ').collect();
    assert!(parts[0].parse::<u64>().is_ok() && parts[1].parse::<usize>().unwrap() < 2);
    assert_eq!(parts[2], "true");
    // Several messages in one read: each reply in order (some built in place).
    let mut burst = Vec::new();
    for i in 0..20 {
        burst.extend(client_frame(0x81, format!("echo {i}").as_bytes()));
    }
    raw.write_all(&burst).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < 20 * 3 {
        let n = raw.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    let mut expected = Vec::new();
    for i in 0..20 {
        let p = i.to_string();
        expected.extend([0x81, p.len() as u8]);
        expected.extend(p.as_bytes());
    }
    assert_eq!(got[..expected.len()], expected[..]);
}

#[test]
fn a_rejected_upgrade_gets_the_apps_status_and_body() {
    let s = start();
    let response = raw_exchange(s.addr, &upgrade_request("/reject", ""));
    assert_eq!(status(&response), 403, "{response}");
    assert!(response.ends_with("\r\n\r\ngo away\n"), "{response}");
    assert!(response.contains("Connection: close\r\n"));
    assert!(s.logged("open").is_empty());
    let metrics = http_get(s.addr, "/metrics");
    assert!(
        metrics.contains("switchyard_app_rejects_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("probe_up 1"), "the app's own metrics");
}

#[test]
fn the_app_chooses_a_subprotocol_the_client_offered() {
    let s = start();
    let (_raw, head) = raw_ws_head(s.addr, "/proto", "Sec-WebSocket-Protocol: a, b, c\r\n");
    assert_eq!(status(&head), 101);
    assert!(head.contains("\r\nSec-WebSocket-Protocol: b\r\n"), "{head}");
    assert_eq!(head.matches("Sec-WebSocket-Protocol").count(), 1);
    let (_raw, head) = raw_ws_head(s.addr, "/proto", "Sec-WebSocket-Protocol: only\r\n");
    assert_eq!(status(&head), 101);
    assert!(!head.contains("Sec-WebSocket-Protocol"), "{head}");
}

#[test]
fn close_from_the_app_and_from_the_client_reach_the_close_handler() {
    let s = start();
    let mut c = s.ws("/a");
    say(&mut c, "close 4001");
    assert_eq!(close_code(&mut c), 4001);
    assert!(s.wait_logged("close /a 4001 server refused=true"));
    let mut c = s.ws("/b");
    c.close(None).unwrap();
    let _ = c.read();
    assert!(s.wait_logged("close /b 1005 client refused=true"));
    let mut c = s.ws("/c");
    c.close(Some(tungstenite::protocol::CloseFrame {
        code: 1000.into(),
        reason: "done".into(),
    }))
    .unwrap();
    let _ = c.read();
    assert!(s.wait_logged("close /c 1000 client refused=true"));
    let c = s.ws("/d");
    drop(c);
    assert!(s.wait_logged("close /d 1006 network refused=true"));
    // A reply then a close in one handler: the reply arrives first, nothing after the close.
    let mut c = s.ws("/f");
    say(&mut c, "last words");
    assert_eq!(text(&mut c), "words");
    assert_eq!(close_code(&mut c), 4002);
    // An invalid code from the app becomes 1000.
    let mut c = s.ws("/e");
    say(&mut c, "close 1005");
    assert_eq!(close_code(&mut c), 1000);
}

#[test]
fn topics_reach_subscribers_on_every_core_with_or_without_the_sender() {
    let s = start();
    // Enough clients that both reactors hold some.
    let mut subs: Vec<Client> = (0..8).map(|_| s.ws("/topic/news")).collect();
    let mut other = s.ws("/topic/sport");
    say(&mut subs[0], "pub news hello");
    for c in subs.iter_mut() {
        assert_eq!(text(c), "hello");
    }
    say(&mut subs[1], "pubx news quiet");
    for (i, c) in subs.iter_mut().enumerate() {
        if i != 1 {
            assert_eq!(text(c), "quiet");
        }
    }
    // The sender did not get it: its next message is the answer to its next command.
    say(&mut subs[1], "echo marker");
    assert_eq!(text(&mut subs[1]), "marker");
    // Subscribe and unsubscribe by command; a second subscribe is refused.
    say(&mut other, "sub news");
    assert_eq!(text(&mut other), "sub true true");
    say(&mut other, "sub news");
    assert_eq!(text(&mut other), "sub false true");
    say(&mut subs[2], "pubx news to nine");
    assert_eq!(text(&mut other), "to nine");
    for (i, c) in subs.iter_mut().enumerate() {
        if i != 2 {
            assert_eq!(text(c), "to nine");
        }
    }
    say(&mut other, "unsub news");
    assert_eq!(text(&mut other), "unsub true");
    say(&mut other, "unsub news");
    assert_eq!(text(&mut other), "unsub false");
    // A publish from a connection that does not subscribe, to a topic it does not hold.
    say(&mut other, "pub news from outside");
    for c in subs.iter_mut() {
        assert_eq!(text(c), "from outside");
    }
    say(&mut other, "echo only this");
    assert_eq!(text(&mut other), "only this");
    // The topic gauges: news on both cores, sport on one.
    let m = http_get(s.addr, "/metrics");
    let sum = |name: &str| -> u64 {
        m.lines()
            .filter(|l| l.starts_with(name))
            .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
            .sum()
    };
    assert_eq!(sum("switchyard_topic_subscriptions{"), 9, "{m}");
    assert!((2..=3).contains(&sum("switchyard_topics{")), "{m}");
    // The close handler publishes "left" to the others.
    drop(subs.pop());
    for c in subs.iter_mut() {
        assert_eq!(text(c), "left");
    }
    drop(subs);
    drop(other);
    assert!(eventually(Duration::from_secs(5), || {
        let m = http_get(s.addr, "/metrics");
        m.lines()
            .filter(|l| l.starts_with("switchyard_topics{"))
            .all(|l| l.ends_with(" 0"))
    }));
}

#[test]
fn other_threads_publish_through_the_server_handle() {
    let s = start();
    let mut subs: Vec<Client> = (0..4).map(|_| s.ws("/topic/ticker")).collect();
    let handle = s.handle.clone();
    std::thread::spawn(move || {
        assert_eq!(handle.publish("ticker", Message::Text("tick")), 2);
        handle.publish("ticker", Message::Binary(&[9, 9]));
        handle.publish("nobody", Message::Text("lost"));
    })
    .join()
    .unwrap();
    for c in subs.iter_mut() {
        assert_eq!(text(c), "tick");
        assert_eq!(next_data(c), WsMessage::binary(vec![9u8, 9]));
    }
    assert!(s.handle.connections() >= 4);
}

#[test]
fn timers_fire_unless_cancelled() {
    let s = start();
    let mut c = s.ws("/t");
    say(&mut c, "timer-cancel 50");
    assert_eq!(text(&mut c), "cancelled true");
    say(&mut c, "timer 50");
    // The cancelled timer (token 8) never fires: the first timer message is token 7's.
    assert_eq!(text(&mut c), "timer 7");
}

#[test]
fn pause_reading_holds_input_until_resumed() {
    let s = start();
    let mut c = s.ws("/p");
    let start = Instant::now();
    say(&mut c, "pause 300");
    // In a later read: frames already read when the handler pauses are still delivered.
    std::thread::sleep(Duration::from_millis(50));
    say(&mut c, "echo after");
    assert_eq!(text(&mut c), "after");
    assert!(
        start.elapsed() >= Duration::from_millis(280),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn backpressure_and_drain_follow_the_queue() {
    let s = start();
    let mut c = s.ws("/flood");
    say(&mut c, "flood");
    assert!(s.wait_logged("flooded queued>0=true"));
    let bp = s.logged("backpressure");
    assert_eq!(bp.len(), 1, "{bp:?}");
    let sent: u32 = bp[0].rsplit(' ').next().unwrap().parse().unwrap();
    // Now read everything: the queue drains, `drain` runs and says so.
    let mut binaries = 0;
    loop {
        match next_data(&mut c) {
            WsMessage::Binary(b) => {
                assert_eq!(b.len(), 64 << 10);
                binaries += 1;
            }
            WsMessage::Text(t) => {
                assert_eq!(t.as_str(), "drained");
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(binaries >= sent, "{binaries} < {sent}");
    assert_eq!(s.logged("drain").len(), 1);
}
