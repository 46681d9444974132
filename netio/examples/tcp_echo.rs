//! A TCP echo server on netio: `cargo run --release -p switchyard-netio --example tcp_echo [ADDR]`
//! (default 127.0.0.1:7000). One reactor per core; Ctrl-C stops it.

use switchyard_netio::{start, Accepted, Config, ConnId, Ctx, Handler, Pressure};

struct Echo;

impl Handler for Echo {
    type Conn = ();
    type Message = ();

    fn accept(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &Accepted) -> Option<()> {
        Some(())
    }

    fn on_data(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &mut (), data: &mut [u8]) {
        let _ = ctx.write(id, data); // corked: one sendmsg when this callback returns
    }

    // A client that sends but does not read: stop reading from it until its replies drain.
    fn on_pressure(&mut self, ctx: &mut Ctx<'_, Self>, id: ConnId, _: &mut (), p: Pressure) {
        match p {
            Pressure::High => ctx.pause_read(id),
            Pressure::Drained => ctx.resume_read(id),
        }
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".into());
    let reactors: usize = std::env::var("REACTORS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let config = Config {
        listen: vec![addr.parse().map_err(std::io::Error::other)?],
        reactors,
        ..Config::default()
    };
    let server = start(config, |_| Echo)?;
    eprintln!(
        "echo on {:?} with {} reactors",
        server.local_addrs(),
        server.reactor_count()
    );
    server.join()
}
