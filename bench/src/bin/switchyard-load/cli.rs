//! Command-line interface of `switchyard-load`.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

/// WebSocket load generator for loopback benchmarks: mio threads (--threads, pinnable with
/// --cpus), one report, bounded runs.
///
/// Every scenario speaks real WebSocket (upgrade request, accept value checked, masked frames,
/// payloads checked byte for byte). With --server-pid it reports the server's CPU time per
/// operation (utime+stime from /proc) and, for `idle`, its resident memory per connection.
/// The target is `--addr` and `--path`, or a URL: `switchyard-load ws://127.0.0.1:8080/broadcast
/// broadcast -c 1000` (`wss://` implies --tls).
#[derive(Debug, Parser)]
#[command(name = "switchyard-load", version)]
pub struct Cli {
    /// Target URL, `ws://HOST:PORT/PATH` or `wss://...` (HOST an IP literal); same as --url.
    #[arg(value_name = "URL")]
    pub target: Option<String>,
    /// What to measure.
    #[command(subcommand)]
    pub scenario: Scenario,
    /// Options shared by every scenario.
    #[command(flatten)]
    pub common: Common,
}

impl Cli {
    /// Applies the target URL (positional or --url) and the defaults that depend on it: the
    /// address (default the server's, 127.0.0.1:8080), Host, path, and TLS for `wss://`.
    pub fn resolve(&mut self) -> Result<(), String> {
        let common = &mut self.common;
        let url = match (self.target.take(), common.url.take()) {
            (Some(_), Some(_)) => return Err("give the URL once (positional or --url)".into()),
            (a, b) => a.or(b),
        };
        if let Some(url) = url {
            let target = crate::target::parse_url(&url).map_err(|e| format!("{url}: {e}"))?;
            if !common.addr.is_empty() {
                return Err("give --addr or a URL, not both".into());
            }
            common.addr = vec![target.addr];
            common.host.get_or_insert(target.host);
            common.path.get_or_insert(target.path);
            common.tls |= target.tls;
        }
        if common.addr.is_empty() {
            common.addr = vec![crate::target::DEFAULT_ADDR
                .parse()
                .expect("a valid address")];
        }
        if common.threads == 0 {
            return Err("--threads must be at least 1".into());
        }
        Ok(())
    }
}

/// Options shared by every scenario.
#[derive(Debug, Args)]
pub struct Common {
    /// Server address (loopback only: 127.0.0.0/8 or ::1). `broadcast` takes several (repeat
    /// the flag, or a comma-separated list: the nodes of a cluster) and spreads its subscribers
    /// over them round-robin; the other scenarios use the first.
    /// Default: the server's default listen address, 127.0.0.1:8080.
    #[arg(long, global = true, value_delimiter = ',')]
    pub addr: Vec<SocketAddr>,
    /// Target URL, `ws://HOST:PORT/PATH` or `wss://...`: sets the address, the Host header and
    /// the path (an explicit --host or --path wins), and `wss://` turns on --tls.
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,
    /// Host header (default: the address).
    #[arg(long, global = true)]
    pub host: Option<String>,
    /// Request path of the upgrade (default `/`, or the URL's).
    #[arg(long, global = true)]
    pub path: Option<String>,
    /// Pin the generator's thread to this CPU (or run it under `taskset`); with --threads, the
    /// same as `--cpus N`.
    #[arg(long, global = true)]
    pub cpu: Option<usize>,
    /// Event-loop threads sharing the run: connections are spread over them round-robin,
    /// counters and latency histograms merged into one report. Default 1.
    #[arg(long, global = true, default_value_t = 1)]
    pub threads: usize,
    /// CPUs to pin the threads to, comma-separated: thread i runs on the (i mod len)-th.
    #[arg(long, global = true, value_delimiter = ',')]
    pub cpus: Vec<usize>,
    /// Offer this subprotocol (Sec-WebSocket-Protocol); repeat for several, in order of
    /// preference. The server's choice must be one of them; connections that got none are
    /// counted (`subprotocol_none`).
    #[arg(long, global = true, value_name = "NAME")]
    pub subprotocol: Vec<String>,
    /// Offer `permessage-deflate; server_no_context_takeover; client_no_context_takeover`,
    /// check the answer, and decompress compressed messages before checking them (the
    /// generator sends uncompressed). Payloads become compressible JSON-like text.
    #[arg(long, global = true)]
    pub deflate: bool,
    /// Open loop: send this many messages per second in total (echo: over all connections;
    /// broadcast: over all publishers) on a fixed schedule, replies or not; latency counts from
    /// each message's intended send time. Default: closed loop (`-w` in flight).
    #[arg(long, global = true, value_name = "MSGS_PER_S")]
    pub rate: Option<f64>,
    /// With --rate: raise the rate linearly from 0 over this many seconds before the warm-up
    /// and the measurement (which run at the full rate). Without --rate: open the connections
    /// linearly over this many seconds (echo, broadcast subscribers, idle).
    #[arg(long, global = true, default_value_t = 0.0, value_name = "SECS")]
    pub ramp_up: f64,
    /// Write one record per second of the run to FILE: time, ops/s, latency p50/p99/p99.9 of
    /// that second, open connections, server RSS and CPU (with --server-pid), generator CPU per
    /// thread. JSON lines, or CSV with --timeline-format csv. `bench/chart.py` draws them.
    #[arg(long, global = true, value_name = "FILE")]
    pub timeline: Option<std::path::PathBuf>,
    /// Format of --timeline.
    #[arg(long, global = true, value_enum, default_value_t = TimelineFormat::Json)]
    pub timeline_format: TimelineFormat,
    /// Measurement time in seconds (after warm-up); every run stops by itself.
    #[arg(long, global = true, default_value_t = 5.0)]
    pub duration: f64,
    /// PID of the server: report its CPU per operation (and memory per connection for `idle`).
    /// Repeat for several servers (a cluster's nodes): their CPU times are added up.
    #[arg(long, global = true)]
    pub server_pid: Vec<u32>,
    /// Number of source addresses 127.0.0.1, 127.0.0.2, ... to spread connections over (each
    /// gives about 28,000 ports towards one server address).
    #[arg(long, global = true, default_value_t = 16)]
    pub sources: usize,
    /// Print the result as one JSON object on stdout instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress line on stderr.
    #[arg(long, global = true)]
    pub quiet: bool,
    /// Speak wss:// (TLS with rustls over aws-lc-rs, ALPN http/1.1); needs --ca or --insecure.
    #[arg(long, global = true)]
    pub tls: bool,
    /// With --tls: trust the CA certificates (PEM) in FILE.
    #[arg(long, global = true, value_name = "FILE")]
    pub ca: Option<std::path::PathBuf>,
    /// With --tls: accept any server certificate (signatures are still checked).
    #[arg(long, global = true)]
    pub insecure: bool,
    /// With --tls: the server name sent as SNI and checked in the certificate.
    #[arg(long, global = true, default_value = "localhost")]
    pub server_name: String,
    /// With --tls: no session resumption (every handshake full). Default: TLS 1.3 tickets are
    /// kept and used, so connections after the first resume.
    #[arg(long, global = true)]
    pub no_resumption: bool,
    /// With --tls: offer X25519 alone for the key exchange. Default: aws-lc-rs's list, which
    /// starts with the post-quantum hybrid X25519MLKEM768, as current browsers do.
    #[arg(long, global = true)]
    pub x25519: bool,
}

/// Format of the `--timeline` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TimelineFormat {
    /// One JSON object per line.
    Json,
    /// A header line, then one comma-separated row per second.
    Csv,
}

/// The scenarios.
#[derive(Debug, Clone, Subcommand)]
pub enum Scenario {
    /// Connection storm: connect, upgrade, check the accept value, close; repeat.
    Upgrade {
        /// Upgrades in progress at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Stop after this many upgrades (else after --duration).
        #[arg(long)]
        count: Option<u64>,
    },
    /// C connections, W messages in flight on each, every echo checked byte for byte.
    Echo {
        /// Connections.
        #[arg(short = 'c', long, default_value_t = 100)]
        connections: usize,
        /// Messages in flight per connection.
        #[arg(short = 'w', long, default_value_t = 16)]
        in_flight: usize,
        /// Payload size in bytes.
        #[arg(short = 's', long, default_value_t = 16)]
        size: usize,
        /// Send binary messages (default: text).
        #[arg(long)]
        binary: bool,
        /// Seconds of traffic before measuring.
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
    },
    /// Hold N upgraded connections; with --server-pid report resident memory per connection.
    Idle {
        /// Connections to hold.
        #[arg(short = 'c', long, default_value_t = 10_000)]
        connections: usize,
        /// Connection attempts in progress at once while opening.
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
        /// Seconds to wait after the last upgrade before reading the server's memory.
        #[arg(long, default_value_t = 1.0)]
        settle: f64,
        /// After settling, keep the connections open (answering pings) for up to this many
        /// seconds before closing them, so that several generator processes (each under its own
        /// descriptor limit) hold theirs at the same time. A line goes to stdout when the hold
        /// starts (`{"event": "held", "open": N, ...}` with --json), for a driver to read the
        /// server's memory while every process holds. Default 0: close at once.
        #[arg(long, default_value_t = 0.0)]
        hold: f64,
        /// End --hold early when standard input reaches end of file: a driver closes the pipe
        /// once it has measured.
        #[arg(long)]
        release_on_eof: bool,
    },
    /// One publisher, N subscribers on the same path; fan-out rate and publish-to-receive latency.
    /// With --all-publish, N clients that each publish and subscribe (N x N).
    Broadcast {
        /// Subscribers (with --all-publish: clients, each publisher and subscriber).
        #[arg(short = 'c', long, default_value_t = 100)]
        subscribers: usize,
        /// Messages in flight (published but not yet received by every subscriber; with
        /// --all-publish, per client: its own messages not yet back to it).
        #[arg(short = 'w', long, default_value_t = 4)]
        in_flight: usize,
        /// Payload size in bytes.
        #[arg(short = 's', long, default_value_t = 64)]
        size: usize,
        /// Send binary messages (default: text).
        #[arg(long)]
        binary: bool,
        /// Seconds of traffic before measuring.
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        /// Where the publisher connects (default: the first --addr). With a cluster, another
        /// node than the subscribers' makes every delivery cross Redis.
        #[arg(long)]
        publish_addr: Option<SocketAddr>,
        /// PID of the cluster's Redis: also report its CPU per delivery.
        #[arg(long)]
        redis_pid: Option<u32>,
        /// Seconds to wait between opening the subscribers and the first publish: a cluster's
        /// nodes subscribe on Redis asynchronously, and a message published before a node
        /// subscribed never reaches its subscribers (the run would stall on it). Default 0.5
        /// with several addresses or a --publish-addr, else 0.
        #[arg(long)]
        settle: Option<f64>,
        /// N x N: every client publishes to every other (and, on a route without
        /// exclude-sender, to itself: its own message coming back closes its window).
        #[arg(long)]
        all_publish: bool,
        /// The route is `broadcast:exclude-sender`: a client never gets its own messages, so a
        /// message makes N - 1 deliveries. With --all-publish it needs --rate (the closed loop
        /// counts on a client's own messages coming back).
        #[arg(long)]
        exclude_sender: bool,
    },
}

impl Scenario {
    /// The scenario's name as typed on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Upgrade { .. } => "upgrade",
            Self::Echo { .. } => "echo",
            Self::Idle { .. } => "idle",
            Self::Broadcast { .. } => "broadcast",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    fn parsed(args: &[&str]) -> Result<Cli, String> {
        let mut cli = Cli::try_parse_from(args).map_err(|e| e.to_string())?;
        cli.resolve()?;
        Ok(cli)
    }

    #[test]
    fn a_url_sets_address_host_path_and_tls() {
        let cli = parsed(&["load", "wss://127.0.0.1:8443/chat?x=1", "echo"]).unwrap();
        assert_eq!(cli.common.addr, vec!["127.0.0.1:8443".parse().unwrap()]);
        assert_eq!(cli.common.path.as_deref(), Some("/chat?x=1"));
        assert_eq!(cli.common.host.as_deref(), Some("127.0.0.1"));
        assert!(cli.common.tls);
        let cli = parsed(&[
            "load",
            "echo",
            "--url",
            "ws://127.0.0.1:9/b",
            "--path",
            "/own",
        ])
        .unwrap();
        assert_eq!(cli.common.path.as_deref(), Some("/own"), "--path wins");
        assert!(!cli.common.tls);
        let cli = parsed(&["load", "idle"]).unwrap();
        assert_eq!(cli.common.addr, vec!["127.0.0.1:8080".parse().unwrap()]);
        assert!(parsed(&[
            "load",
            "ws://127.0.0.1:1/",
            "--url",
            "ws://127.0.0.1:2/",
            "idle"
        ])
        .is_err());
        assert!(parsed(&["load", "ws://127.0.0.1:1/", "--addr", "127.0.0.1:2", "idle"]).is_err());
        assert!(parsed(&["load", "ws://localhost:1/", "idle"]).is_err());
    }
}
