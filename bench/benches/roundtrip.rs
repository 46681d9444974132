//! End-to-end upgrade round trip over loopback in one process: a `std::net::TcpListener` thread
//! answers each connection with `switchyard-handshake`'s server side, the client opens a TCP
//! connection, sends the upgrade request, verifies the 101 and closes. Measures the whole
//! connect-upgrade-close latency, kernel included. Run with
//! `cargo bench -p switchyard-bench --bench roundtrip`.
// criterion_group! and criterion_main! generate undocumented items.
#![allow(missing_docs)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use switchyard_bench::wire::{ClientHandshake, FastRng};
use switchyard_handshake::{Acceptor, Decision, Status, EMPTY_HEADER};

/// Serves upgrades until the listener thread's process ends.
fn serve(listener: TcpListener) {
    let acceptor = Acceptor::new();
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let _ = stream.set_nodelay(true);
        let mut buf = [0u8; 4096];
        let mut len = 0;
        let mut out = [0u8; 1024];
        let mut parser = acceptor.parser();
        loop {
            let n = match stream.read(&mut buf[len..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            len += n;
            let mut headers = [EMPTY_HEADER; 32];
            match acceptor.accept(&mut parser, &buf[..len], &mut headers, &mut out) {
                Ok(Status::Partial) => continue,
                Ok(Status::Complete(Decision::Switch(switch))) => {
                    let _ = stream.write_all(switch.response);
                    // Wait for the client's close, as a WebSocket server would read frames.
                    let _ = stream.read(&mut buf);
                }
                Ok(Status::Complete(Decision::Reject(reject))) => {
                    let _ = stream.write_all(reject.response);
                }
                _ => {}
            }
            break;
        }
    }
}

fn round_trip(c: &mut Criterion) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    std::thread::spawn(move || serve(listener));
    let mut rng = FastRng::new(7);
    let host = addr.to_string();
    let mut group = c.benchmark_group("roundtrip");
    group.throughput(Throughput::Elements(1));
    group.bench_function("connect_upgrade_close_loopback", |b| {
        let mut request = Vec::with_capacity(256);
        let mut response = [0u8; 1024];
        b.iter(|| {
            let mut stream = TcpStream::connect(addr).expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let mut client = ClientHandshake::new(&host, "/", &mut rng).expect("request");
            request.clear();
            client.write_request(&mut request);
            stream.write_all(&request).expect("send request");
            let mut len = 0;
            loop {
                let n = stream.read(&mut response[len..]).expect("read 101");
                assert!(n > 0, "server closed before its 101");
                len += n;
                if client
                    .read_response(&response[..len])
                    .expect("valid 101")
                    .is_some()
                {
                    break;
                }
            }
        })
    });
    group.finish();
}

criterion_group!(benches, round_trip);
criterion_main!(benches);
