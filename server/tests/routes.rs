//! The route table against the running server: wildcard broadcast routes (each concrete path
//! its own topic), `broadcast:exclude-sender`, a removed (`*=none`) or changed (`*=broadcast`)
//! catch-all, 426 for a plain GET on a WebSocket route (404 where only the catch-all serves),
//! and a duplicated route refused by the configuration and the binary.

mod common;

use std::time::Duration;

use clap::Parser as _;
use common::*;
use switchyard::config::{Cli, Config, ConfigError};
use switchyard::routes::RouteError;
use tungstenite::Message;

/// Asserts that nothing arrives on `client` for `quiet` (a negative check needs a bound), then
/// restores the usual read timeout.
fn assert_quiet(client: &mut Client, quiet: Duration) {
    client.get_mut().set_read_timeout(Some(quiet)).unwrap();
    match client.read() {
        Err(tungstenite::Error::Io(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        other => panic!("expected nothing within {quiet:?}, got {other:?}"),
    }
    client.get_mut().set_read_timeout(Some(TIMEOUT)).unwrap();
}

/// `client` sends `marker` and must hear it back first (include-sender broadcast): anything
/// queued for it before that would come first.
fn first_message_is_own(client: &mut Client, marker: &str) {
    client.send(Message::text(marker)).unwrap();
    assert_eq!(next_data(client), Message::text(marker));
}

#[test]
fn a_wildcard_broadcast_route_makes_each_path_its_own_topic() {
    let server = TestServer::start(&["--route", "/rooms/*=broadcast"]);
    let mut a1 = ws(&server, "/rooms/a");
    let mut a2 = ws(&server, "/rooms/a?user=2");
    let mut b = ws(&server, "/rooms/b");
    a1.send(Message::text("in a")).unwrap();
    assert_eq!(next_data(&mut a1), Message::text("in a"), "the sender too");
    assert_eq!(next_data(&mut a2), Message::text("in a"));
    // /rooms/b heard nothing of it: its own message is the first it gets, and then silence.
    first_message_is_own(&mut b, "in b");
    assert_quiet(&mut b, Duration::from_millis(200));
    // And /rooms/a heard nothing of /rooms/b's.
    a2.send(Message::text("a again")).unwrap();
    assert_eq!(next_data(&mut a1), Message::text("a again"));
    assert_eq!(next_data(&mut a2), Message::text("a again"));
    // Two topics with subscribers (a topic with subscribers on both cores counts on both).
    let topics: u64 = (0..2)
        .map(|core| server.metric(&format!("switchyard_topics{{core=\"{core}\"}}")))
        .sum();
    assert!((2..=3).contains(&topics), "{topics} topics");
    let subscriptions: u64 = (0..2)
        .map(|core| {
            server.metric(&format!(
                "switchyard_topic_subscriptions{{core=\"{core}\"}}"
            ))
        })
        .sum();
    assert_eq!(subscriptions, 3);
    // The wildcard needs a character after its prefix: /rooms/ itself is the catch-all's (echo).
    let mut bare = ws(&server, "/rooms/");
    bare.send(Message::text("echo?")).unwrap();
    assert_eq!(next_data(&mut bare), Message::text("echo?"));
    assert_quiet(&mut a1, Duration::from_millis(100));
    // Subscriptions end with their connections.
    for mut c in [a1, a2, b] {
        c.close(None).unwrap();
        close_code(&mut c);
    }
    assert!(eventually(Duration::from_secs(5), || {
        (0..2).all(|core| {
            server.metric(&format!(
                "switchyard_topic_subscriptions{{core=\"{core}\"}}"
            )) == 0
                && server.metric(&format!("switchyard_topics{{core=\"{core}\"}}")) == 0
        })
    }));
}

#[test]
fn exclude_sender_leaves_the_sender_out_of_its_own_message() {
    let server = TestServer::start(&["--route", "/quiet=broadcast:exclude-sender"]);
    let mut sender = ws(&server, "/quiet");
    let mut others: Vec<_> = (0..3).map(|_| ws(&server, "/quiet")).collect();
    sender.send(Message::text("from sender")).unwrap();
    for o in others.iter_mut() {
        assert_eq!(next_data(o), Message::text("from sender"));
    }
    // The sender's own copy, had it been sent, would have been queued before anything that an
    // other client sends after receiving the message.
    others[0].send(Message::text("reply")).unwrap();
    assert_eq!(next_data(&mut sender), Message::text("reply"));
    for o in others[1..].iter_mut() {
        assert_eq!(next_data(o), Message::text("reply"));
    }
    assert_quiet(&mut others[0], Duration::from_millis(200));
    assert_quiet(&mut sender, Duration::from_millis(50));
}

#[test]
fn without_a_catch_all_unrouted_paths_get_404_and_routed_ones_still_upgrade() {
    let server = TestServer::start(&["--route", "*=none", "--route", "/chat=echo"]);
    let upgrade = raw_exchange(server.addr, &upgrade_request("/nowhere", ""));
    assert_eq!(status(&upgrade), 404, "{upgrade}");
    assert!(!upgrade.contains("Upgrade: websocket"), "{upgrade}");
    assert_eq!(server.metric("switchyard_app_rejects_total"), 1);
    let get = http_get(server.addr, "/nowhere");
    assert_eq!(status(&get), 404, "{get}");
    // The routed paths upgrade: the user's and the built-in broadcast route.
    let mut chat = ws(&server, "/chat");
    chat.send(Message::text("hi")).unwrap();
    assert_eq!(next_data(&mut chat), Message::text("hi"));
    let mut b = ws(&server, "/broadcast");
    first_message_is_own(&mut b, "all");
    // The plain endpoints are not routes: they are still served.
    assert_eq!(status(&http_get(server.addr, "/healthz")), 200);
    assert_eq!(status(&http_get(server.addr, "/")), 200);
}

#[test]
fn a_builtin_route_can_be_removed() {
    let server = TestServer::start(&["--route", "/broadcast=none"]);
    let upgrade = raw_exchange(server.addr, &upgrade_request("/broadcast", ""));
    assert_eq!(status(&upgrade), 404, "{upgrade}");
    // The catch-all still echoes everywhere else.
    let mut e = ws(&server, "/other");
    e.send(Message::text("x")).unwrap();
    assert_eq!(next_data(&mut e), Message::text("x"));
}

#[test]
fn a_broadcast_catch_all_makes_every_unrouted_path_a_topic() {
    let server = TestServer::start(&["--route", "*=broadcast"]);
    let mut l1 = ws(&server, "/lobby");
    let mut l2 = ws(&server, "/lobby");
    let mut other = ws(&server, "/elsewhere");
    l1.send(Message::text("lobby news")).unwrap();
    assert_eq!(next_data(&mut l1), Message::text("lobby news"));
    assert_eq!(
        next_data(&mut l2),
        Message::text("lobby news"),
        "not an echo"
    );
    first_message_is_own(&mut other, "elsewhere news");
    assert_quiet(&mut other, Duration::from_millis(200));
    assert_quiet(&mut l2, Duration::from_millis(50));
}

#[test]
fn a_plain_get_on_a_websocket_route_is_426_and_on_a_catch_all_path_404() {
    let server = TestServer::start(&["--route", "/chat=echo", "--route", "/rooms/*=broadcast"]);
    for path in ["/broadcast", "/broadcast?x=1", "/chat", "/rooms/a"] {
        let r = http_get(server.addr, path);
        assert_eq!(status(&r), 426, "{path}: {r}");
        let head = r.split("\r\n\r\n").next().unwrap();
        assert!(head.contains("\r\nUpgrade: websocket"), "{path}: {r}");
        assert!(
            head.contains("\r\nSec-WebSocket-Version: 13"),
            "{path}: {r}"
        );
        assert!(r.ends_with("this is a WebSocket endpoint\n"), "{path}: {r}");
    }
    // Kept alive, the 426 also says `Connection: Upgrade` (an Upgrade field needs it).
    let r = raw_exchange(server.addr, b"GET /chat HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status(&r), 426, "{r}");
    assert!(r.contains("\r\nConnection: Upgrade\r\n"), "{r}");
    // Paths only the catch-all (echo) serves: 404 to a plain GET, yet they upgrade.
    for path in ["/echo", "/anything/else", "/rooms/"] {
        let r = http_get(server.addr, path);
        assert_eq!(status(&r), 404, "{path}: {r}");
        assert!(!r.contains("Upgrade:"), "{path}: {r}");
    }
    let mut e = ws(&server, "/anything/else");
    e.send(Message::text("still echoes")).unwrap();
    assert_eq!(next_data(&mut e), Message::text("still echoes"));
    assert!(server.metric("switchyard_http_responses_total{status=\"426\"}") >= 5);
}

#[test]
fn a_route_given_twice_is_a_configuration_error() {
    let cli = Cli::try_parse_from([
        "switchyard",
        "--listen",
        "127.0.0.1:0",
        "--route",
        "/x=echo",
        "--route",
        "/x=echo",
    ])
    .unwrap();
    match Config::from_cli(cli) {
        Err(ConfigError::Route(RouteError::Duplicate(path))) => assert_eq!(path, "/x"),
        other => panic!("expected a duplicate route, got {other:?}"),
    }
    // Also with different apps for the same pattern, and for the catch-all.
    for (a, b) in [("/x=echo", "/x=broadcast"), ("*=echo", "*=none")] {
        let cli = Cli::try_parse_from(["switchyard", "--route", a, "--route", b]).unwrap();
        assert!(
            matches!(
                Config::from_cli(cli),
                Err(ConfigError::Route(RouteError::Duplicate(_)))
            ),
            "{a} {b}"
        );
    }
    // Replacing a built-in route once is not a duplicate.
    let cli = Cli::try_parse_from(["switchyard", "--route", "/broadcast=echo"]).unwrap();
    assert!(Config::from_cli(cli).is_ok());
}

#[test]
fn the_binary_exits_2_naming_a_duplicated_route() {
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--route",
        "/x=echo",
        "--route",
        "/x=echo",
    ];
    // Bounded: a binary that started serving instead is killed and fails the test.
    let (status, text) = run_binary_to_exit(&args, &[], Duration::from_secs(10));
    assert_eq!(status.code(), Some(2), "{text}");
    assert!(text.contains("\"/x\" is routed twice"), "{text}");
    assert!(text.contains("--route"), "{text}");
}
