//! Starting and stopping a server: netio reactors running [`Reactor`] handlers (each sweeps its
//! own keepalives on a reactor timer).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use switchyard_frame::deflate::CompressionPolicy;
use switchyard_handshake::{
    Acceptor, DeflateNegotiator, DeflatePolicy, Limits, OriginPolicy, WebSocketConfig,
};
use switchyard_netio::{Liveness, Mailbox, Reactors, ShutdownHandle};

use crate::app::{App, Message as AppMessage};
use crate::apps::Builtin;
use crate::cluster::Engine;
use crate::config::{Config, DeflateMode};
use crate::head::TcpTunnel;
use crate::http::Endpoints;
use crate::metrics::Registry;
use crate::published::Published;
use crate::reactor::{Message, Reactor, Shared};
use crate::tls::{CertStore, ReloadReport};

/// The `--tls-reload-interval` poll: a thread that reloads the certificates whose files
/// changed, every `every`, until the store is dropped with the server's configuration.
fn spawn_reload_poll(store: std::sync::Weak<CertStore>, every: Duration) -> io::Result<()> {
    std::thread::Builder::new()
        .name("switchyard-tls-reload".to_owned())
        .spawn(move || loop {
            std::thread::sleep(every);
            let Some(store) = store.upgrade() else { return };
            if let Some(report) = store.reload_if_changed() {
                log::info!(
                    "tls: files changed: {} pair(s) reloaded, {} kept",
                    report.replaced.len(),
                    report.kept.len()
                );
            }
        })?;
    Ok(())
}

/// A thread-safe handle to a running [`Server`]: cheap to clone, usable from any thread, and
/// still safe to use after the server has stopped (shutdown is then a no-op).
#[derive(Clone)]
pub struct ServerHandle {
    shutdown: Option<ShutdownHandle>,
    liveness: Option<Liveness>,
    metrics: Registry,
    mailboxes: Vec<Mailbox<Message>>,
    cluster: Option<Arc<Engine>>,
    tls: Option<Arc<CertStore>>,
}

impl ServerHandle {
    /// Publishes `message` to every subscriber of `topic` on every core (see
    /// [`crate::app::Connection::publish`]): encoded once here, the same bytes shared by every
    /// subscriber; with a cluster engine, to every other node's subscribers too. Returns the number of reactors it was handed to (0 after shutdown).
    pub fn publish(&self, topic: &str, message: AppMessage<'_>) -> usize {
        if self.mailboxes.is_empty() {
            return 0;
        }
        let frame = Published::encode(message.opcode(), message.payload(), &mut Vec::new());
        let topic: Arc<str> = Arc::from(topic);
        if let Some(cluster) = &self.cluster {
            cluster.forward(&topic, frame.plain());
        }
        self.mailboxes
            .iter()
            .filter(|m| {
                m.send(Message::Publish {
                    topic: Arc::clone(&topic),
                    frame: frame.clone(),
                })
                .is_ok()
            })
            .count()
    }

    /// Starts graceful shutdown without waiting: stop accepting, close 1001 to every
    /// WebSocket, drain writes up to the shutdown deadline. [`Server::join`] waits for the end.
    pub fn shutdown(&self) {
        if let Some(s) = &self.shutdown {
            s.shutdown();
        }
    }

    /// Re-reads every TLS certificate and key (SIGHUP): new handshakes use the new ones,
    /// established connections carry on untouched, and a pair whose new files are unusable
    /// keeps its old certificate (logged). `None` without TLS.
    pub fn reload_tls(&self) -> Option<ReloadReport> {
        self.tls.as_ref().map(|store| store.reload())
    }

    /// Every metric in the Prometheus text format, as `GET /metrics` serves it.
    pub fn metrics_text(&self) -> String {
        self.metrics.render()
    }

    /// Totals since start, in plain words (the binary logs it at shutdown).
    pub fn summary(&self) -> String {
        self.metrics.summary()
    }

    /// Open TCP connections, all cores together (WebSockets, HTTP and bridge backends).
    pub fn connections(&self) -> u64 {
        self.metrics.connections()
    }

    /// The workers (by core index) whose reactor thread has not stopped yet: after a shutdown,
    /// the ones still draining (or stuck in a long piece of work).
    pub fn running_workers(&self) -> Vec<usize> {
        self.liveness
            .as_ref()
            .map_or_else(Vec::new, |l| l.running())
    }
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("connections", &self.connections())
            .finish()
    }
}

/// A running server.
pub struct Server {
    reactors: Option<Reactors<Message>>,
    cluster: Option<Arc<Engine>>,
    tls: Option<Arc<CertStore>>,
    admin: bool,
    local_addrs: Vec<SocketAddr>,
    metrics: Registry,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addrs", &self.local_addrs)
            .finish()
    }
}

/// The handshake acceptor for a configuration; `tunnel` adds the raw `tcp` protocol, which only
/// paths where the app tunnels accept.
pub(crate) fn acceptor(config: &Config, tunnel: bool) -> io::Result<Acceptor<DeflateNegotiator>> {
    let origin = if config.allowed_origins.is_empty() {
        OriginPolicy::any()
    } else {
        OriginPolicy::allow_list(config.allowed_origins.iter().cloned())
    };
    let websocket = WebSocketConfig::default()
        .subprotocols(config.subprotocols.iter().cloned())
        .origin(origin);
    // Permessage-deflate: the negotiator is always there and answers only when enabled; what
    // it agrees is installed per connection as the frame crate's extension (`ws.rs`).
    let no_context_takeover = config.deflate != DeflateMode::Takeover;
    let deflate = DeflateNegotiator::new(DeflatePolicy {
        enabled: config.deflate != DeflateMode::Off,
        server_no_context_takeover: no_context_takeover,
        client_no_context_takeover: no_context_takeover,
        ..DeflatePolicy::default()
    })
    .map_err(|e| io::Error::other(format!("deflate policy: {e:?}")))?;
    let mut acceptor = Acceptor::new()
        .limits(Limits::default().max_head_bytes(config.max_head_size))
        .websocket(websocket)
        .extensions(deflate);
    if tunnel {
        acceptor
            .register(TcpTunnel)
            .map_err(|e| io::Error::other(format!("registering the tcp protocol: {e:?}")))?;
    }
    Ok(acceptor)
}

/// The plain endpoints of the main listeners and of the admin listener: `/healthz` and
/// `/metrics` move to the admin listener when there is one (the page stays).
pub(crate) fn endpoints(config: &Config) -> (Endpoints, Endpoints) {
    let admin = config.admin_listen.is_some();
    let main = Endpoints {
        page: config.page_path.clone(),
        healthz: config.healthz_path.clone().filter(|_| !admin),
        metrics: config.metrics_path.clone().filter(|_| !admin),
    };
    let admin = Endpoints {
        page: None,
        healthz: config.healthz_path.clone().filter(|_| admin),
        metrics: config.metrics_path.clone().filter(|_| admin),
    };
    (main, admin)
}

impl Server {
    /// Binds every listen address and starts the reactors with the built-in apps on the
    /// configured routes (echo, broadcast, bridge). Errors (an address in use) come back here,
    /// before anything runs.
    pub fn start(config: Config) -> io::Result<Server> {
        let app = Builtin::new(&config);
        Self::start_app(config, app)
    }

    /// Binds every listen address and starts the reactors with your own app (see
    /// [`crate::app`]); the configuration's routes are not used (the app routes).
    pub fn start_app<A: App>(config: Config, app: A) -> io::Result<Server> {
        let (websocket_acceptor, tunnel_acceptor) =
            (acceptor(&config, false)?, acceptor(&config, true)?);
        let app = Arc::new(app);
        let app_metrics = Arc::clone(&app);
        let mut metrics = Registry::new(config.workers)
            .with_extra(Arc::new(move |out: &mut String| app_metrics.metrics(out)));
        let cluster = config
            .cluster
            .clone()
            .map(|url| Engine::new(url, config.max_message_size));
        if let Some(engine) = &cluster {
            metrics = metrics.with_cluster(Arc::clone(engine));
        }
        let mut codec = switchyard_frame::Config::default();
        codec.max_message_size = config.max_message_size;
        // A compressed frame may be longer than the message it inflates to: deflate makes
        // incompressible data grow, by 5 bytes per stored block with zlib (RFC 1951 3.2.4) and
        // by several percent with some compressors' Huffman blocks (5.5% for zlib-rs at level
        // 1 on random bytes), so a message of the largest size, sent by a client that
        // compresses everything, needs room for that in one frame. The slack costs no memory:
        // an uncompressed frame is still held to the message limit, and a compressed one is
        // streamed through the inflater, never held.
        codec.max_frame_size = config
            .max_message_size
            .saturating_add(config.max_message_size / 8 + 64);
        // permessage-deflate's local policy, set once for every connection. No configuration
        // key sets it: the frame crate's defaults (level 1, messages from 64 bytes) are
        // documented there with the measurements behind them.
        let compression = CompressionPolicy::default();
        // The admin listener, if any, is the last listen address: its connections are told
        // apart by listener index.
        let mut listen = config.listen.clone();
        // Then the TLS listeners: their connections are told apart by index too.
        let tls = config.tls.as_ref().map(|store| {
            let first = listen.len();
            listen.extend_from_slice(&config.listen_tls);
            (first..listen.len(), store.server_config())
        });
        let admin_listener = config.admin_listen.map(|admin| {
            listen.push(admin);
            listen.len() - 1
        });
        let (endpoints, admin_endpoints) = endpoints(&config);
        let net = switchyard_netio::Config {
            listen,
            reuse_port: config.reuse_port,
            reactors: config.workers,
            cpus: (!config.cpus.is_empty()).then(|| config.cpus.clone()),
            pin: config.pin,
            private_descriptor_tables: config.private_fd_tables,
            max_connections: config.max_connections,
            write_high_water: config.outbound_cap,
            write_low_water: config.outbound_cap / 4,
            // The drain window spreads the closes; the deadline moves by as much.
            shutdown_timeout: config.shutdown_timeout + config.drain_window,
            // HTTP clients speak first: the kernel completes accept only once the request
            // arrives, saving a wakeup per connection in an upgrade storm.
            defer_accept: Some(Duration::from_secs(1)),
            ..switchyard_netio::Config::default()
        };
        let shared = Arc::new(Shared {
            config,
            acceptor: websocket_acceptor,
            tunnel_acceptor,
            admin_listener,
            endpoints,
            admin_endpoints,
            codec,
            compression,
            metrics: metrics.clone(),
            cluster: cluster.clone(),
            tls,
        });
        let store = shared.config.tls.clone();
        if let (Some(store), Some(every)) = (&store, shared.config.tls_reload_interval) {
            spawn_reload_poll(Arc::downgrade(store), every)?;
        }
        let factory_shared = Arc::clone(&shared);
        let reactors = switchyard_netio::start(net, move |info| {
            Reactor::new(Arc::clone(&app), Arc::clone(&factory_shared), info)
        })?;
        let local_addrs = reactors.local_addrs().to_vec();
        if let Some(engine) = &cluster {
            if let Err(e) = engine.start(reactors.mailboxes().to_vec()) {
                reactors.shutdown();
                let _ = reactors.join();
                return Err(e);
            }
        }
        Ok(Server {
            reactors: Some(reactors),
            cluster,
            tls: store,
            admin: admin_listener.is_some(),
            local_addrs,
            metrics,
        })
    }

    /// The bound addresses, in the order of `Config::listen` (port 0 resolved), then the
    /// admin listener's, if any.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// The admin listener's bound address (`Config::admin_listen`), if any.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.then(|| *self.local_addrs.last().expect("bound"))
    }

    /// A handle for other threads: shutdown, metrics, connection count (the signal thread
    /// uses it).
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            shutdown: self.reactors.as_ref().map(|r| r.shutdown_handle()),
            liveness: self.reactors.as_ref().map(|r| r.liveness()),
            metrics: self.metrics.clone(),
            tls: self.tls.clone(),
            mailboxes: self
                .reactors
                .as_ref()
                .map_or_else(Vec::new, |r| r.mailboxes().to_vec()),
            cluster: self.cluster.clone(),
        }
    }

    /// Starts graceful shutdown without waiting: stop accepting, close 1001 to every
    /// WebSocket, drain writes up to the shutdown deadline.
    pub fn shutdown(&self) {
        if let Some(r) = &self.reactors {
            r.shutdown();
        }
    }

    /// Waits until the reactors have stopped (after a shutdown from anywhere).
    pub fn join(mut self) -> io::Result<()> {
        self.join_inner()
    }

    fn join_inner(&mut self) -> io::Result<()> {
        let result = match self.reactors.take() {
            Some(r) => r.join(),
            None => Ok(()),
        };
        // The bus threads go after the reactors, which may publish until they stop.
        if let Some(engine) = self.cluster.take() {
            engine.stop();
        }
        result
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
        let _ = self.join_inner();
    }
}
