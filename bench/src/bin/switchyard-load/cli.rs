//! Command-line interface of `switchyard-load`.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

/// WebSocket load generator for loopback benchmarks: one mio thread, pinnable, bounded runs.
///
/// Every scenario speaks real WebSocket (upgrade request, accept value checked, masked frames,
/// payloads checked byte for byte). With --server-pid it reports the server's CPU time per
/// operation (utime+stime from /proc) and, for `idle`, its resident memory per connection.
#[derive(Debug, Parser)]
#[command(name = "switchyard-load", version)]
pub struct Cli {
    /// What to measure.
    #[command(subcommand)]
    pub scenario: Scenario,
    /// Options shared by every scenario.
    #[command(flatten)]
    pub common: Common,
}

/// Options shared by every scenario.
#[derive(Debug, Args)]
pub struct Common {
    /// Server address (loopback only: 127.0.0.0/8 or ::1). `broadcast` takes several (repeat
    /// the flag, or a comma-separated list: the nodes of a cluster) and spreads its subscribers
    /// over them round-robin; the other scenarios use the first.
    #[arg(
        long,
        global = true,
        default_value = "127.0.0.1:9001",
        value_delimiter = ','
    )]
    pub addr: Vec<SocketAddr>,
    /// Host header (default: the address).
    #[arg(long, global = true)]
    pub host: Option<String>,
    /// Request path of the upgrade.
    #[arg(long, global = true, default_value = "/")]
    pub path: String,
    /// Pin the generator's thread to this CPU (or run it under `taskset`).
    #[arg(long, global = true)]
    pub cpu: Option<usize>,
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
    Broadcast {
        /// Subscribers.
        #[arg(short = 'c', long, default_value_t = 100)]
        subscribers: usize,
        /// Messages in flight (published but not yet received by every subscriber).
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
