//! The operator's endpoints: `--admin-listen` moves `/healthz` and `/metrics` to an address of
//! their own (which serves nothing else, upgrades included), and `--page`, `--healthz` and
//! `--metrics-path` move or remove them on the main listener.

mod common;

use std::io::Write as _;
use std::net::SocketAddr;

use common::*;
use tungstenite::Message;

/// The admin listener's address of a server started with `--admin-listen`.
fn admin_addr(server: &TestServer) -> SocketAddr {
    let admin = server
        .server
        .as_ref()
        .unwrap()
        .admin_addr()
        .expect("an admin listener");
    assert_ne!(admin, server.addr);
    admin
}

/// The value of one series in a metrics text (None if absent).
fn series(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn the_admin_listener_serves_health_and_metrics_and_the_main_one_does_not() {
    let server = TestServer::start(&["--admin-listen", "127.0.0.1:0"]);
    let admin = admin_addr(&server);
    let health = http_get(admin, "/healthz");
    assert_eq!(status(&health), 200, "{health}");
    assert!(health.ends_with("ok\n"), "{health}");
    let metrics = http_get(admin, "/metrics");
    assert_eq!(status(&metrics), 200, "{metrics}");
    assert!(
        metrics.contains("# TYPE switchyard_connections gauge"),
        "{metrics}"
    );
    // Not on the main listener: there they are ordinary catch-all paths (404 to a plain GET).
    assert_eq!(status(&http_get(server.addr, "/healthz")), 404);
    assert_eq!(status(&http_get(server.addr, "/metrics")), 404);
    // The main listener still serves the page and upgrades.
    let page = http_get(server.addr, "/");
    assert_eq!(status(&page), 200);
    assert!(page.contains("text/html"), "{page}");
    let mut c = ws(&server, "/echo");
    c.send(Message::text("main")).unwrap();
    assert_eq!(next_data(&mut c), Message::text("main"));
    // The admin listener serves no page and nothing else.
    assert_eq!(status(&http_get(admin, "/")), 404);
    assert_eq!(status(&http_get(admin, "/broadcast")), 404, "no 426 there");
    // The metrics served there count the main listener's traffic.
    let metrics = http_get(admin, "/metrics");
    assert!(
        series(
            &metrics,
            "switchyard_upgrades_total{protocol=\"websocket\"}"
        ) >= Some(1),
        "{metrics}"
    );
    assert!(
        series(&metrics, "switchyard_http_responses_total{status=\"404\"}") >= Some(2),
        "{metrics}"
    );
}

#[test]
fn the_admin_listener_refuses_upgrades() {
    let server = TestServer::start(&["--admin-listen", "127.0.0.1:0"]);
    let admin = admin_addr(&server);
    // A valid WebSocket upgrade is answered as a plain request: 404 on a route path, the
    // endpoint on an endpoint path, never a 101.
    for (path, want) in [
        ("/echo", 404),
        ("/broadcast", 404),
        ("/", 404),
        ("/healthz", 200),
    ] {
        let r = raw_exchange(admin, &upgrade_request(path, ""));
        assert_eq!(status(&r), want, "{path}: {r}");
        assert!(!r.contains("Sec-WebSocket-Accept"), "{path}: {r}");
    }
    // The connection stays plain HTTP: a second request on it is answered.
    let mut s = tcp(admin);
    s.write_all(&upgrade_request("/echo", "")).unwrap();
    assert_eq!(status(&read_response(&mut s)), 404);
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(status(&read_response(&mut s)), 200);
    // A WebSocket client fails its handshake there.
    let url = format!("ws://{admin}/echo");
    match tungstenite::client::client(url, tcp(admin)) {
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
            assert_eq!(r.status(), 404)
        }
        Err(e) => panic!("expected an HTTP error, got {e}"),
        Ok(_) => panic!("the admin listener upgraded"),
    }
    let metrics = http_get(admin, "/metrics");
    assert_eq!(
        series(
            &metrics,
            "switchyard_upgrades_total{protocol=\"websocket\"}"
        ),
        Some(0),
        "{metrics}"
    );
}

#[test]
fn endpoints_move_or_turn_off_on_the_main_listener() {
    let server = TestServer::start(&[
        "--page",
        "off",
        "--healthz",
        "/live",
        "--metrics-path",
        "/stats",
    ]);
    // No page: / is a catch-all path.
    let root = http_get(server.addr, "/");
    assert_eq!(status(&root), 404, "{root}");
    let live = http_get(server.addr, "/live");
    assert_eq!(status(&live), 200, "{live}");
    assert!(live.ends_with("ok\n"), "{live}");
    let stats = http_get(server.addr, "/stats");
    assert_eq!(status(&stats), 200, "{stats}");
    assert!(
        stats.contains("# TYPE switchyard_connections gauge"),
        "{stats}"
    );
    assert!(stats.contains("switchyard_app_rejects_total 0"), "{stats}");
    // The old paths are gone.
    assert_eq!(status(&http_get(server.addr, "/metrics")), 404);
    assert_eq!(status(&http_get(server.addr, "/healthz")), 404);
    // Upgrades are unaffected.
    let mut c = ws(&server, "/");
    c.send(Message::text("root echoes")).unwrap();
    assert_eq!(next_data(&mut c), Message::text("root echoes"));
}

#[test]
fn without_a_page_a_routed_root_is_426() {
    let server = TestServer::start(&["--page", "off", "--route", "/=echo"]);
    let root = http_get(server.addr, "/");
    assert_eq!(status(&root), 426, "{root}");
    assert!(root.contains("\r\nUpgrade: websocket\r\n"), "{root}");
    // With the page on, the page wins over the route for a plain GET, and the route upgrades.
    let server = TestServer::start(&["--route", "/=echo"]);
    assert_eq!(status(&http_get(server.addr, "/")), 200);
    let mut c = ws(&server, "/");
    c.send(Message::text("x")).unwrap();
    assert_eq!(next_data(&mut c), Message::text("x"));
}

#[test]
fn endpoints_turned_off_with_an_admin_listener_are_nowhere() {
    let server = TestServer::start(&[
        "--admin-listen",
        "127.0.0.1:0",
        "--healthz",
        "off",
        "--metrics-path",
        "/prom",
    ]);
    let admin = admin_addr(&server);
    assert_eq!(status(&http_get(admin, "/healthz")), 404);
    assert_eq!(status(&http_get(server.addr, "/healthz")), 404);
    let prom = http_get(admin, "/prom");
    assert_eq!(status(&prom), 200, "{prom}");
    assert!(prom.contains("switchyard_connections"), "{prom}");
    assert_eq!(status(&http_get(server.addr, "/prom")), 404);
    assert_eq!(status(&http_get(admin, "/metrics")), 404);
}
