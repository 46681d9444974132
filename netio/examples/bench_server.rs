//! The raw TCP echo server that the figures in `benches/FIGURES.md` were measured on: the echo
//! example plus flags (reactors, accept mode, defer-accept, CPUs) and a raised descriptor limit.
//! `benches/figures.sh` now measures through the `switchyard` server with `switchyard-load`,
//! which speaks WebSocket; drive this one with any raw TCP client.
//!
//! `bench_server [--addr 127.0.0.1:7000] [--reactors N] [--accept reuseport|rr|ll]
//! [--defer-accept SECS] [--cpus 0,1]`

use std::collections::HashMap;
use std::time::Duration;

use switchyard_netio::{
    start, AcceptMode, Accepted, Balance, Config, ConnId, Ctx, Handler, Pressure,
};

struct Echo;

impl Handler for Echo {
    type Conn = ();
    type Message = ();
    fn accept(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &Accepted) -> Option<()> {
        Some(())
    }
    fn on_data(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &mut (), data: &mut [u8]) {
        let _ = ctx.write(id, data);
    }
    fn on_pressure(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &mut (), p: Pressure) {
        match p {
            Pressure::High => ctx.pause_read(id),
            Pressure::Drained => ctx.resume_read(id),
        }
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut opts = HashMap::new();
    while let (Some(k), Some(v)) = (args.next(), args.next()) {
        opts.insert(k.trim_start_matches("--").to_string(), v);
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for the duration of both calls; getrlimit
    // writes it and setrlimit only reads it. The soft limit goes up to the hard one.
    let ok = unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0
        }
    };
    if !ok {
        eprintln!("raising RLIMIT_NOFILE: {}", std::io::Error::last_os_error());
    }
    let accept = match opts.get("accept").map(String::as_str) {
        None | Some("reuseport") => AcceptMode::ReusePort,
        Some("rr") => AcceptMode::Acceptor(Balance::RoundRobin),
        Some("ll") => AcceptMode::Acceptor(Balance::LeastLoaded),
        Some(other) => panic!("--accept {other}?"),
    };
    let config = Config {
        listen: vec![opts
            .get("addr")
            .map_or("127.0.0.1:7000", |s| s.as_str())
            .parse()
            .expect("--addr")],
        reactors: opts
            .get("reactors")
            .map_or(0, |s| s.parse().expect("--reactors")),
        cpus: opts
            .get("cpus")
            .map(|s| s.split(',').map(|c| c.parse().expect("--cpus")).collect()),
        accept,
        defer_accept: opts
            .get("defer-accept")
            .map(|s| Duration::from_secs(s.parse().expect("--defer-accept"))),
        ..Config::default()
    };
    let server = start(config, |_| Echo)?;
    eprintln!(
        "bench_server pid {} on {:?}, {} reactors",
        std::process::id(),
        server.local_addrs(),
        server.reactor_count()
    );
    server.join()
}
