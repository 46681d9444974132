//! Plain HTTP on the WebSocket port: the page, /healthz, /metrics, 404, keep-alive.

mod common;

use common::*;
use std::io::Write;

#[test]
fn page_healthz_metrics_and_404() {
    let server = TestServer::start(&[]);
    let page = http_get(server.addr, "/");
    assert_eq!(status(&page), 200);
    assert!(page.contains("text/html"));
    assert!(page.contains("id=\"echo-result\""));
    let health = http_get(server.addr, "/healthz");
    assert_eq!(status(&health), 200);
    assert!(health.ends_with("ok\n"));
    let metrics = http_get(server.addr, "/metrics");
    assert_eq!(status(&metrics), 200);
    assert!(metrics.contains("# TYPE switchyard_connections gauge"));
    assert!(metrics.contains("switchyard_connections{core=\"1\"}"));
    assert_eq!(status(&http_get(server.addr, "/nothing-here")), 404);
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let server = TestServer::start(&[]);
    let mut s = tcp(server.addr);
    for path in ["/healthz", "/", "/missing", "/healthz"] {
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .unwrap();
        let r = read_response(&mut s);
        assert!(r.contains("Connection: keep-alive"), "{r}");
    }
    // Pipelined: two requests in one write, two responses in order.
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(status(&read_response(&mut s)), 200);
    assert_eq!(status(&read_response(&mut s)), 404);
    // Connection: close is honoured.
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(status(&read_response(&mut s)), 200);
    assert!(closed_within(&mut s, std::time::Duration::from_secs(5)));
}

#[test]
fn an_upgrade_to_an_unknown_protocol_is_a_plain_request() {
    let server = TestServer::start(&[]);
    let r = raw_exchange(
        server.addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade, close\r\n\r\n",
    );
    assert_eq!(status(&r), 200);
}

#[test]
fn metrics_count_upgrades_messages_and_http() {
    let server = TestServer::start(&[]);
    let mut ws = ws(&server, "/echo");
    ws.send(tungstenite::Message::text("12345")).unwrap();
    next_data(&mut ws);
    ws.close(None).unwrap();
    close_code(&mut ws);
    assert!(eventually(std::time::Duration::from_secs(5), || {
        server.metric("switchyard_upgrades_total{protocol=\"websocket\"}") >= 1
            && server.metric("switchyard_messages_in_total") >= 1
            && server.metric("switchyard_messages_out_total") >= 1
            && server.metric("switchyard_bytes_in_total") >= 5
            && server.metric("switchyard_closes_total{by=\"client\",code=\"1005\"}") >= 1
    }));
    http_get(server.addr, "/nope");
    assert!(server.metric("switchyard_http_responses_total{status=\"404\"}") >= 1);
}
