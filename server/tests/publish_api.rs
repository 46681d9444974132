//! The publish API on one server (no Redis: the cluster-wide case is in `cluster.rs`): every
//! status it answers with, both body framings, text and binary, keep-alive after a 204, the
//! token from a file.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;
use tungstenite::Message;

fn server(max_message_size: &str) -> (TestServer, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "switchyard-publish-{}-{max_message_size}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let server = TestServer::start(&[
        "--route",
        "/rooms/*=broadcast",
        "--publish-token-file",
        token.to_str().unwrap(),
        "--max-message-size",
        max_message_size,
        "--head-timeout",
        "0.5",
    ]);
    (server, dir)
}

const AUTH: &str = "Authorization: Bearer s3cret-token\r\n";

fn post(server: &TestServer, path: &str, headers: &str, body: &[u8]) -> String {
    let mut req = format!("POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n")
        .into_bytes();
    req.extend_from_slice(body);
    raw_exchange(server.addr, &req)
}

#[test]
fn a_post_publishes_to_the_path_s_subscribers_as_text_or_binary() {
    let (server, dir) = server("100");
    let mut a = ws(&server, "/rooms/a");
    let mut other = ws(&server, "/rooms/b");
    let r = post(
        &server,
        "/rooms/a",
        &format!("{AUTH}Content-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n"),
        b"hi",
    );
    assert_eq!(status(&r), 204, "{r}");
    assert!(!r.contains("Content-Length: 2"), "no body on a 204: {r}");
    assert_eq!(next_data(&mut a), Message::text("hi"));
    let r = post(
        &server,
        "/rooms/a",
        &format!("{AUTH}Transfer-Encoding: chunked\r\n"),
        b"2\r\n\x00\x01\r\n1;ext=1\r\n\xff\r\n0\r\nTrailer: yes\r\n\r\n",
    );
    assert_eq!(status(&r), 204, "{r}");
    assert_eq!(next_data(&mut a), Message::binary(vec![0u8, 1, 255]));
    // Only the path's topic got them.
    other
        .get_mut()
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert!(other.read().is_err(), "another topic got nothing");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn every_refusal_has_its_status() {
    let (server, dir) = server("100");
    // 401: no token, or another scheme; the answer names the scheme.
    let r = post(&server, "/rooms/a", "Content-Length: 1\r\n", b"x");
    assert_eq!(status(&r), 401, "{r}");
    assert!(r.contains("WWW-Authenticate: Bearer\r\n"), "{r}");
    let r = post(&server, "/rooms/a", "Authorization: Basic eDp5\r\n", b"");
    assert_eq!(status(&r), 401, "{r}");
    // 403: a wrong token.
    let r = post(
        &server,
        "/rooms/a",
        "Authorization: Bearer s3cret-tokeN\r\n",
        b"",
    );
    assert_eq!(status(&r), 403, "{r}");
    // 413: over the maximum message size, by Content-Length or chunk by chunk.
    let r = post(
        &server,
        "/rooms/a",
        &format!("{AUTH}Content-Length: 101\r\n"),
        b"",
    );
    assert_eq!(status(&r), 413, "{r}");
    let r = post(
        &server,
        "/rooms/a",
        &format!("{AUTH}Transfer-Encoding: chunked\r\n"),
        b"65\r\n",
    );
    assert_eq!(status(&r), 413, "{r}");
    // 405 for another method on a broadcast route, naming the allowed ones.
    let r = raw_exchange(
        server.addr,
        format!("PUT /rooms/a HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: 0\r\n\r\n").as_bytes(),
    );
    assert_eq!(status(&r), 405, "{r}");
    assert!(r.contains("Allow: GET, POST\r\n"), "{r}");
    // 404 for a path that is not a broadcast route.
    let r = post(
        &server,
        "/echo",
        &format!("{AUTH}Content-Length: 0\r\n"),
        b"",
    );
    assert_eq!(status(&r), 404, "{r}");
    // 400: a broken chunked body; text that is not UTF-8.
    let r = post(
        &server,
        "/rooms/a",
        &format!("{AUTH}Transfer-Encoding: chunked\r\n"),
        b"zz\r\n",
    );
    assert_eq!(status(&r), 400, "{r}");
    let r = post(
        &server,
        "/rooms/a",
        &format!("{AUTH}Content-Type: text/plain\r\nContent-Length: 2\r\n"),
        b"\xff\xfe",
    );
    assert_eq!(status(&r), 400, "{r}");
    // 408: the body does not arrive in time.
    let mut s = tcp(server.addr);
    s.write_all(
        format!("POST /rooms/a HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: 10\r\n\r\nabc")
            .as_bytes(),
    )
    .unwrap();
    let r = read_response(&mut s);
    assert_eq!(status(&r), 408, "{r}");
    // A GET of the route is still its WebSocket endpoint's 426.
    assert_eq!(status(&http_get(server.addr, "/rooms/a")), 426);
    let counted =
        |s: u16| server.metric(&format!("switchyard_publish_api_total{{status=\"{s}\"}}"));
    assert_eq!(counted(401), 2);
    assert_eq!(counted(413), 2);
    assert_eq!(counted(400), 2);
    assert_eq!(counted(408), 1);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_kept_connection_publishes_again_and_a_body_may_come_in_pieces() {
    let (server, dir) = server("100");
    let mut a = ws(&server, "/rooms/k");
    let mut s = tcp(server.addr);
    let head = format!("POST /rooms/k HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: 6\r\n\r\n");
    // Head and half the body, then the rest with a second pipelined request.
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(b"one").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let mut rest = b"two".to_vec();
    rest.extend_from_slice(head.replace("6", "5").as_bytes());
    rest.extend_from_slice(b"three");
    s.write_all(&rest).unwrap();
    assert_eq!(status(&read_response(&mut s)), 204);
    assert_eq!(status(&read_response(&mut s)), 204);
    assert_eq!(next_data(&mut a), Message::binary(b"onetwo".to_vec()));
    assert_eq!(next_data(&mut a), Message::binary(b"three".to_vec()));
    // Expect: 100-continue is answered before the body.
    s.write_all(
        format!(
            "POST /rooms/k HTTP/1.1\r\nHost: x\r\n{AUTH}Expect: 100-continue\r\nContent-Length: 1\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut cont = [0u8; 25];
    s.read_exact(&mut cont).unwrap();
    assert_eq!(&cont, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"!").unwrap();
    assert_eq!(status(&read_response(&mut s)), 204);
    assert_eq!(next_data(&mut a), Message::binary(b"!".to_vec()));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn without_a_token_the_api_is_off() {
    let server = TestServer::start(&["--route", "/rooms/*=broadcast"]);
    let r = post(
        &server,
        "/rooms/a",
        &format!("{AUTH}Content-Length: 0\r\n"),
        b"",
    );
    assert_eq!(status(&r), 404, "{r}");
}
