use std::path::Path;

use clap::Parser as _;

use super::*;
use crate::auth::JwtAlgorithm;
use crate::routes::{App, RouteError};

fn flags(args: &[&str]) -> Settings {
    let mut v = vec!["switchyard"];
    v.extend_from_slice(args);
    Settings::try_parse_from(v).expect("flags parse")
}

fn parse(args: &[&str]) -> Result<Config, ConfigError> {
    Config::from_cli(flags(args))
}

/// The app `path` is routed to; panics where there is none.
fn app<'c>(c: &'c Config, path: &str) -> &'c App {
    c.routes.lookup(path).expect("a route").1
}

fn file(text: &str) -> Settings {
    toml::from_str(text).expect("file parses")
}

/// Resolves flags over a file's text over the defaults.
fn merged(args: &[&str], text: &str) -> Result<Config, ConfigError> {
    flags(args).or(file(text)).resolve()
}

/// The message of a refused configuration, checked to name `needle`.
fn refused(args: &[&str], needle: &str) -> ConfigError {
    let e = parse(args).expect_err("refused");
    assert!(e.to_string().contains(needle), "{e} lacks {needle:?}");
    e
}

/// Two CPUs this process may run on (the same one twice on a one-CPU machine).
fn two_cpus() -> [usize; 2] {
    let cpus = available_cpus().expect("core_affinity knows the CPUs on Linux");
    [cpus[0], *cpus.get(1).unwrap_or(&cpus[0])]
}

#[test]
fn defaults_listen_on_loopback_8080_with_autobahn_sized_messages() {
    let c = parse(&[]).unwrap();
    assert_eq!(c.listen, vec!["127.0.0.1:8080".parse().unwrap()]);
    assert!(c.max_message_size >= 16 << 20);
    assert_eq!(c.head_timeout, Duration::from_secs(10));
    assert_eq!(c.deflate, DeflateMode::On);
    assert!(matches!(app(&c, "/broadcast"), App::Broadcast { .. }));
    assert!(matches!(app(&c, "/anything"), App::Echo));
}

#[test]
fn flags_override_the_file_which_overrides_the_defaults_field_by_field() {
    let c = merged(
        &[
            "--listen",
            "127.0.0.1:2",
            "--listen",
            "[::1]:3",
            "--workers",
            "2",
        ],
        r#"
        listen = ["127.0.0.1:1"]
        workers = 3
        max_message_size = 1000
        subprotocols = ["a", "b"]
        deflate = "off"
        "#,
    )
    .unwrap();
    assert_eq!(c.listen.len(), 2, "flag list replaces the file's");
    assert_eq!(c.workers, 2, "flag over file");
    assert_eq!(c.max_message_size, 1000, "file over default");
    assert_eq!(c.subprotocols, ["a", "b"]);
    assert_eq!(c.deflate, DeflateMode::Off);
    assert_eq!(c.max_head_size, Config::default().max_head_size, "default");
    let c = merged(&["--deflate", "takeover"], "deflate = false").unwrap();
    assert_eq!(c.deflate, DeflateMode::Takeover);
    let c = merged(
        &["--tunnel-idle-timeout", "0.5"],
        "backend_connect_timeout = 2\ntunnel_idle_timeout = 60",
    )
    .unwrap();
    assert_eq!(c.backend_connect_timeout, Duration::from_secs(2));
    assert_eq!(c.tunnel_idle_timeout, Duration::from_millis(500));
}

#[test]
fn flag_routes_add_to_file_routes_path_by_path() {
    let c = merged(
        &["--route", "/chat=echo", "--route", "/news=broadcast"],
        "[routes]\n\"/chat\" = \"broadcast\"\n\"/room\" = \"broadcast\"\n",
    )
    .unwrap();
    assert!(matches!(app(&c, "/chat"), App::Echo));
    assert!(matches!(app(&c, "/room"), App::Broadcast { .. }));
    assert!(matches!(app(&c, "/news"), App::Broadcast { .. }));
    assert!(matches!(app(&c, "/broadcast"), App::Broadcast { .. }));
}

#[test]
fn deflate_takes_its_value_after_a_space_or_an_equals_sign() {
    for args in [&["--deflate", "off"][..], &["--deflate=off"]] {
        assert_eq!(parse(args).unwrap().deflate, DeflateMode::Off, "{args:?}");
    }
    for args in [&["--deflate", "takeover"][..], &["--deflate=takeover"]] {
        assert_eq!(
            parse(args).unwrap().deflate,
            DeflateMode::Takeover,
            "{args:?}"
        );
    }
    // A bare --deflate means on, before another flag or at the end.
    let c = parse(&["--deflate", "--workers", "1"]).unwrap();
    assert_eq!((c.deflate, c.workers), (DeflateMode::On, 1));
    assert_eq!(parse(&["--deflate"]).unwrap().deflate, DeflateMode::On);
    assert!(Settings::try_parse_from(["switchyard", "--deflate", "maybe"]).is_err());
    assert_eq!(
        merged(&[], "deflate = true").unwrap().deflate,
        DeflateMode::On
    );
}

#[test]
fn listen_resolves_host_names() {
    let c = parse(&["--listen", "localhost:9000"]).unwrap();
    assert!(
        c.listen.contains(&"127.0.0.1:9000".parse().unwrap()),
        "{:?}",
        c.listen
    );
    assert!(c
        .listen
        .iter()
        .all(|a| a.port() == 9000 && a.ip().is_loopback()));
    let c = merged(&[], r#"listen = ["localhost:9001"]"#).unwrap();
    assert!(c.listen.contains(&"127.0.0.1:9001".parse().unwrap()));
}

#[test]
fn unresolvable_or_portless_listen_addresses_are_refused_by_name() {
    let e = refused(
        &["--listen", "nosuchhost.invalid:80"],
        "nosuchhost.invalid:80",
    );
    assert!(matches!(e, ConfigError::Unresolvable { .. }));
    let e = refused(&["--listen", "127.0.0.1"], "\"127.0.0.1\"");
    assert!(matches!(e, ConfigError::Unresolvable { .. }));
}

#[test]
fn duplicate_listen_addresses_are_refused_but_port_zero_may_repeat() {
    let e = refused(
        &["--listen", "127.0.0.1:9002", "--listen", "localhost:9002"],
        "127.0.0.1:9002",
    );
    assert!(matches!(e, ConfigError::DuplicateListen(_)));
    let c = parse(&["--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0"]).unwrap();
    assert_eq!(c.listen.len(), 2);
}

#[test]
fn an_empty_listen_list_is_refused() {
    let e = merged(&[], "listen = []").unwrap_err();
    assert!(matches!(e, ConfigError::NoListen), "{e}");
    assert!(e.to_string().contains("--listen"));
}

#[test]
fn a_cpu_past_the_machines_is_refused() {
    let available = available_cpus().unwrap();
    let past = available.iter().max().unwrap() + 1;
    let e = refused(
        &["--cpus", &format!("{},{past}", available[0])],
        &past.to_string(),
    );
    assert!(matches!(e, ConfigError::NoSuchCpu { cpu, .. } if cpu == past));
    assert!(e.to_string().contains("--cpus"));
    // Likewise from the file, and even unpinned.
    assert!(merged(&["--no-pin"], &format!("cpus = [{past}]")).is_err());
}

#[test]
fn numbers_out_of_range_are_refused_naming_flag_and_value() {
    for (args, message) in [
        (
            &["--workers", "0"][..],
            "workers must be at least 1, got 0 (--workers)",
        ),
        (
            &["--workers", "5000"],
            "workers must be at most 1024, got 5000",
        ),
        (
            &["--max-connections", "0"],
            "max_connections must be at least 1",
        ),
        (
            &["--max-head-size", "10"],
            "max_head_size must be at least 64, got 10",
        ),
        (&["--max-message-size", "0"], "(--max-message-size)"),
        (&["--max-message-size", "2147483648"], "at most 1073741824"),
        (&["--outbound-cap", "0"], "outbound_cap must be at least 1"),
    ] {
        let e = refused(args, message);
        assert!(matches!(e, ConfigError::OutOfRange { .. }), "{e}");
    }
}

#[test]
fn durations_out_of_range_are_refused_naming_flag_and_value() {
    for (args, message) in [
        (
            &["--head-timeout=-1"][..],
            "head_timeout must be between 0.001 and 86400 seconds, got -1",
        ),
        (&["--head-timeout", "0"], "got 0 (--head-timeout)"),
        (&["--ping-interval", "NaN"], "got NaN (--ping-interval)"),
        (&["--idle-timeout", "1e9"], "(--idle-timeout)"),
        (&["--shutdown-timeout", "0.0001"], "(--shutdown-timeout)"),
        (
            &["--backend-connect-timeout", "0"],
            "(--backend-connect-timeout)",
        ),
        (&["--tunnel-idle-timeout=-5"], "(--tunnel-idle-timeout)"),
    ] {
        let e = refused(args, message);
        assert!(matches!(e, ConfigError::BadSeconds { .. }), "{e}");
    }
    let e = refused(
        &["--ping-interval", "80"],
        "idle_timeout (75) must be longer",
    );
    assert!(matches!(e, ConfigError::IdleNotAfterPing { .. }));
    assert!(parse(&["--ping-interval", "0.3", "--idle-timeout", "0.9"]).is_ok());
}

#[test]
fn bad_names_are_refused() {
    let e = refused(&["--log-level", "loud"], "\"loud\"");
    assert!(matches!(e, ConfigError::LogLevel(_)));
    let e = refused(&["--subprotocol", "has space"], "\"has space\"");
    assert!(matches!(e, ConfigError::Subprotocol(_)));
    let e = refused(&["--route", "chat=echo"], "\"chat\"");
    assert!(matches!(e, ConfigError::Route(RouteError::BadPath(_))));
    let e = refused(&["--route", "/chat=shout"], "\"shout\"");
    assert!(matches!(e, ConfigError::Route(RouteError::UnknownApp(_))));
    // A route without '=' is refused while parsing the flags, naming the value.
    let e = Settings::try_parse_from(["switchyard", "--route", "nopath"]).unwrap_err();
    assert!(e.to_string().contains("nopath"), "{e}");
}

#[test]
fn unknown_file_keys_are_refused() {
    assert!(toml::from_str::<Settings>("lisen = []").is_err());
    // `config` is a flag only: a file does not name another file.
    assert!(toml::from_str::<Settings>("config = \"other.toml\"").is_err());
    let dir = std::env::temp_dir().join(format!("switchyard-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, "workers = 2\nmax_mesage_size = 10\n").unwrap();
    let e = Config::from_cli(flags(&["--config", path.to_str().unwrap()])).unwrap_err();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(matches!(e, ConfigError::Parse { .. }), "{e}");
    assert!(e.to_string().contains("max_mesage_size"), "{e}");
}

#[test]
fn a_missing_file_is_refused_by_name() {
    let e = refused(
        &["--config", "/nonexistent/switchyard.toml"],
        "/nonexistent/switchyard.toml",
    );
    assert!(matches!(e, ConfigError::Read { .. }));
}

#[test]
fn cpus_set_the_default_worker_count_and_no_pin_unpins() {
    let [a, b] = two_cpus();
    let c = parse(&["--cpus", &format!("{a},{b}")]).unwrap();
    assert_eq!(
        (c.workers, c.cpus.as_slice(), c.pin),
        (2, &[a, b][..], true)
    );
    assert!(!parse(&["--no-pin"]).unwrap().pin);
    assert!(!merged(&[], "pin = false").unwrap().pin);
    assert!(!merged(&["--no-pin"], "pin = true").unwrap().pin);
}

#[test]
fn workers_may_outnumber_cpus_and_share_them_round_robin() {
    let [a, b] = two_cpus();
    let list = format!("{a},{b}");
    let c = parse(&["--workers", "6", "--cpus", &list]).unwrap();
    assert_eq!((c.workers, c.cpus.as_slice()), (6, &[a, b][..]));
    let s = c.summary();
    assert!(s.contains(&format!("round-robin over cpus {a},{b}")), "{s}");
    let s = parse(&["--workers", "1", "--cpus", &list])
        .unwrap()
        .summary();
    assert!(s.contains(&format!("pinned to cpus {a}")), "{s}");
}

#[test]
fn private_fd_tables_are_off_by_default_and_set_by_flag_or_file() {
    assert!(!parse(&[]).unwrap().private_fd_tables);
    let c = parse(&["--private-fd-tables", "--workers", "6"]).unwrap();
    assert!(c.private_fd_tables);
    assert!(
        c.summary().contains("a descriptor table each"),
        "{}",
        c.summary()
    );
    assert!(
        merged(&[], "private_fd_tables = true")
            .unwrap()
            .private_fd_tables
    );
    assert!(
        !merged(&[], "private_fd_tables = false")
            .unwrap()
            .private_fd_tables
    );
    assert!(
        merged(&["--private-fd-tables"], "private_fd_tables = false")
            .unwrap()
            .private_fd_tables
    );
}

#[test]
fn reuse_port_is_off_by_default_and_set_by_flag_or_file() {
    assert!(!parse(&[]).unwrap().reuse_port);
    assert!(parse(&["--reuse-port"]).unwrap().reuse_port);
    assert!(merged(&[], "reuse_port = true").unwrap().reuse_port);
    assert!(
        merged(&["--reuse-port"], "reuse_port = false")
            .unwrap()
            .reuse_port
    );
    assert!(!merged(&[], "reuse_port = false").unwrap().reuse_port);
}

#[test]
fn close_timeout_defaults_to_10_s_and_is_checked_like_every_duration() {
    assert_eq!(parse(&[]).unwrap().close_timeout, Duration::from_secs(10));
    assert_eq!(
        parse(&["--close-timeout", "0.25"]).unwrap().close_timeout,
        Duration::from_millis(250)
    );
    assert_eq!(
        merged(&["--close-timeout", "3"], "close_timeout = 7")
            .unwrap()
            .close_timeout,
        Duration::from_secs(3)
    );
    assert_eq!(
        merged(&[], "close_timeout = 7").unwrap().close_timeout,
        Duration::from_secs(7)
    );
    for bad in [
        "--close-timeout=0",
        "--close-timeout=-1",
        "--close-timeout=1e9",
    ] {
        let e = refused(&[bad], "(--close-timeout)");
        assert!(matches!(e, ConfigError::BadSeconds { .. }), "{e}");
    }
}

#[test]
fn the_example_file_loads_and_states_the_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("switchyard.example.toml");
    let c = Settings::read_file(&path).unwrap().resolve().unwrap();
    let d = Config::default();
    assert_eq!(c.subprotocols, ["chat.v1"]);
    assert!(matches!(app(&c, "/chat"), App::Broadcast { .. }));
    // The values it writes out are the defaults, so it cannot mislead.
    assert_eq!(
        (
            c.listen,
            c.max_connections,
            c.max_head_size,
            c.max_message_size,
            c.outbound_cap
        ),
        (
            d.listen,
            d.max_connections,
            d.max_head_size,
            d.max_message_size,
            d.outbound_cap
        )
    );
    assert_eq!(
        (
            c.head_timeout,
            c.ping_interval,
            c.idle_timeout,
            c.shutdown_timeout
        ),
        (
            d.head_timeout,
            d.ping_interval,
            d.idle_timeout,
            d.shutdown_timeout
        )
    );
    assert_eq!(
        (
            c.slow_subscriber,
            c.deflate,
            c.pin,
            c.reuse_port,
            c.close_timeout
        ),
        (
            d.slow_subscriber,
            d.deflate,
            d.pin,
            d.reuse_port,
            d.close_timeout
        )
    );
    assert_eq!(
        (c.log_level, c.private_fd_tables),
        (d.log_level, d.private_fd_tables)
    );
    assert_eq!(
        (c.backend_connect_timeout, c.tunnel_idle_timeout),
        (d.backend_connect_timeout, d.tunnel_idle_timeout)
    );
}

#[test]
fn help_shows_the_defaults_from_config_default() {
    let mut cmd = Settings::command_with_defaults();
    cmd.clone().debug_assert();
    let help = cmd.clone().render_long_help().to_string();
    for default in [
        "[default: 127.0.0.1:8080]",
        "[default: 8192]",
        "[default: 16777216]",
        "[default: 75]",
        "[default: on]",
        "[default: close]",
        "[default: *=echo /broadcast=broadcast]",
    ] {
        assert!(help.contains(default), "--help lacks {default}");
    }
    let short = cmd.render_help().to_string();
    assert!(short.contains("[default: 8192]"), "{short}");
}

#[test]
fn the_memory_budget_defaults_to_a_quarter_of_the_machine_and_is_checked() {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let total_kib: usize = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    assert_eq!(parse(&[]).unwrap().memory_budget, total_kib * 1024 / 4);
    assert_eq!(
        parse(&["--memory-budget", "8388608"])
            .unwrap()
            .memory_budget,
        8 << 20
    );
    assert!(matches!(
        parse(&["--memory-budget", "1000"]),
        Err(ConfigError::OutOfRange {
            key: "memory_budget",
            ..
        })
    ));
    assert_eq!(
        merged(&[], "memory_budget = 1048576")
            .unwrap()
            .memory_budget,
        1 << 20
    );
}

#[test]
fn the_message_timeout_defaults_to_60_s_and_is_checked_like_every_duration() {
    assert_eq!(parse(&[]).unwrap().message_timeout, Duration::from_secs(60));
    assert_eq!(
        parse(&["--message-timeout", "0.5"])
            .unwrap()
            .message_timeout,
        Duration::from_millis(500)
    );
    assert!(parse(&["--message-timeout", "0"]).is_err());
    assert_eq!(
        merged(&["--message-timeout", "2"], "message_timeout = 7")
            .unwrap()
            .message_timeout,
        Duration::from_secs(2)
    );
}

/// A scratch directory of this test's own, removed when dropped.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("switchyard-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// Writes `bytes` to `name` in the directory and returns its path as a string.
    fn file(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A test key from `server/tests/data/jwt`.
fn test_key(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/jwt")
        .join(name)
        .to_str()
        .unwrap()
        .to_owned()
}

/// Resolves flags over a file's text with `env` as the JWT secret variable.
fn with_env(args: &[&str], text: &str, env: Option<&str>) -> Result<Config, ConfigError> {
    flags(args)
        .or(file(text))
        .resolve_with_env_secret(env.map(std::ffi::OsStr::new))
}

const SECRET: &str = "0123456789abcdef0123456789abcdef";

/// An HS256 token for `SECRET`, valid for a minute, with `extra` claims.
fn hs256_token(secret: &[u8], extra: serde_json::Value) -> String {
    let mut claims = serde_json::json!({"exp": jsonwebtoken::get_current_timestamp() + 60});
    claims
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let key = jsonwebtoken::EncodingKey::from_secret(secret).unwrap();
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
}

#[test]
fn the_new_defaults_serve_every_endpoint_on_every_listener_without_auth_or_access_log() {
    let c = parse(&[]).unwrap();
    assert_eq!(c.admin_listen, None);
    assert_eq!(c.page_path.as_deref(), Some("/"));
    assert_eq!(c.healthz_path.as_deref(), Some("/healthz"));
    assert_eq!(c.metrics_path.as_deref(), Some("/metrics"));
    assert!(c.jwt.is_none());
    assert_eq!(c.log_format, LogFormat::Text);
    assert!(!c.access_log);
    let s = c.summary();
    assert!(
        s.contains("page=/ healthz=/healthz metrics=/metrics jwt=off access_log=off"),
        "{s}"
    );
}

#[test]
fn endpoints_move_or_turn_off_by_flag_or_file() {
    let c = parse(&[
        "--page",
        "off",
        "--healthz",
        "/health",
        "--metrics-path",
        "/m",
    ])
    .unwrap();
    assert_eq!(
        (c.page_path, c.healthz_path, c.metrics_path),
        (None, Some("/health".to_owned()), Some("/m".to_owned()))
    );
    let c = merged(
        &["--page", "/demo"],
        "page = \"/x\"\nhealthz = \"off\"\nmetrics_path = \"off\"\n",
    )
    .unwrap();
    assert_eq!(
        (
            c.page_path.as_deref(),
            c.healthz_path.as_deref(),
            c.metrics_path.as_deref()
        ),
        (Some("/demo"), None, None)
    );
    assert!(c.summary().contains("page=/demo healthz=off metrics=off"));
}

#[test]
fn endpoint_paths_that_are_not_paths_or_collide_are_refused() {
    for (args, needle) in [
        (
            &["--healthz", "health"][..],
            "healthz \"health\" must be a path",
        ),
        (&["--page", "/a?b"], "(--page)"),
        (&["--metrics-path", "/a b"], "(--metrics-path)"),
        (&["--metrics-path", ""], "(--metrics-path)"),
    ] {
        let e = refused(args, needle);
        assert!(matches!(e, ConfigError::EndpointPath { .. }), "{e}");
    }
    let e = refused(
        &["--healthz", "/metrics"],
        "healthz and metrics_path are both \"/metrics\"",
    );
    assert!(matches!(e, ConfigError::SameEndpointPath { .. }), "{e}");
    // Turned off, a path no longer collides.
    assert!(parse(&["--healthz", "/metrics", "--metrics-path", "off"]).is_ok());
}

#[test]
fn the_admin_listener_is_set_by_flag_or_file_and_must_be_its_own_address() {
    let c = parse(&["--admin-listen", "127.0.0.1:9090"]).unwrap();
    assert_eq!(c.admin_listen, Some("127.0.0.1:9090".parse().unwrap()));
    assert!(c.summary().contains("admin_listen=127.0.0.1:9090"));
    let c = merged(&[], "admin_listen = \"localhost:9091\"").unwrap();
    assert!(c.admin_listen.unwrap().ip().is_loopback());
    let e = refused(
        &[
            "--listen",
            "127.0.0.1:9092",
            "--admin-listen",
            "127.0.0.1:9092",
        ],
        "admin_listen 127.0.0.1:9092 is also a listen address",
    );
    assert!(matches!(e, ConfigError::AdminListenIsListen(_)));
    assert!(parse(&["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"]).is_ok());
    let e = refused(
        &["--admin-listen", "nosuchhost.invalid:1"],
        "admin listen address \"nosuchhost.invalid:1\" (--admin-listen) does not resolve",
    );
    assert!(matches!(e, ConfigError::Unresolvable { .. }));
}

#[test]
fn log_format_and_access_log_are_set_by_flag_or_file() {
    let c = parse(&["--log-format", "json", "--access-log"]).unwrap();
    assert_eq!((c.log_format, c.access_log), (LogFormat::Json, true));
    let c = merged(&[], "log_format = \"json\"\naccess_log = true").unwrap();
    assert_eq!((c.log_format, c.access_log), (LogFormat::Json, true));
    let c = merged(&["--log-format=text"], "log_format = \"json\"").unwrap();
    assert_eq!(c.log_format, LogFormat::Text);
    assert!(c.summary().contains("access_log=off"));
    assert!(Settings::try_parse_from(["switchyard", "--log-format", "xml"]).is_err());
    assert!(toml::from_str::<Settings>("log_format = \"xml\"").is_err());
}

#[test]
fn a_jwt_secret_comes_from_a_file_without_its_trailing_newline() {
    let dir = Scratch::new("jwt-secret");
    let path = dir.file("secret", format!("{SECRET}\r\n").as_bytes());
    let c = parse(&["--jwt-secret-file", &path]).unwrap();
    let jwt = c.jwt.as_ref().expect("a verifier");
    assert_eq!(jwt.algorithm(), JwtAlgorithm::Hs256);
    assert_eq!(jwt.leeway(), crate::auth::DEFAULT_LEEWAY);
    let claims = jwt
        .verify(&hs256_token(
            SECRET.as_bytes(),
            serde_json::json!({"sub": "u1"}),
        ))
        .unwrap();
    assert_eq!(claims.subject.as_deref(), Some("u1"));
    assert!(c.summary().contains("jwt=HS256"), "{}", c.summary());
    // From the file too, with an audience and a leeway.
    let c = merged(
        &[],
        &format!("jwt_secret_file = {path:?}\njwt_audience = \"chat\"\njwt_leeway = 5\n"),
    )
    .unwrap();
    let jwt = c.jwt.as_ref().unwrap();
    assert_eq!(
        (jwt.audience(), jwt.leeway()),
        (Some("chat"), Duration::from_secs(5))
    );
    assert!(c.summary().contains("jwt=HS256 (audience chat)"));
}

#[test]
fn a_jwt_secret_comes_from_the_environment() {
    let c = with_env(&[], "", Some(SECRET)).unwrap();
    let jwt = c.jwt.expect("a verifier");
    assert!(jwt
        .verify(&hs256_token(SECRET.as_bytes(), serde_json::json!({})))
        .is_ok());
    let e = with_env(&[], "", Some("")).unwrap_err();
    assert!(
        matches!(
            e,
            ConfigError::JwtKey {
                key: JWT_SECRET_ENV,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.to_string(), "SWITCHYARD_JWT_SECRET cannot be used: empty");
    let e = with_env(&[], "", Some("short")).unwrap_err();
    assert!(e.to_string().contains("5 bytes"), "{e}");
    assert!(!e.to_string().contains("short"), "never the secret: {e}");
}

#[test]
fn a_jwt_public_key_chooses_es256_or_rs256() {
    let c = parse(&["--jwt-public-key", &test_key("es256-public.pem")]).unwrap();
    assert_eq!(c.jwt.unwrap().algorithm(), JwtAlgorithm::Es256);
    let c = merged(
        &[],
        &format!("jwt_public_key = {:?}", test_key("rs256-public.pem")),
    )
    .unwrap();
    assert_eq!(c.jwt.unwrap().algorithm(), JwtAlgorithm::Rs256);
}

#[test]
fn jwt_keys_that_cannot_serve_are_refused_naming_the_file_and_the_problem() {
    let missing = "/nonexistent/jwt.pem";
    let e = refused(
        &["--jwt-public-key", missing],
        "cannot read jwt_public_key /nonexistent/jwt.pem (--jwt-public-key)",
    );
    assert!(matches!(e, ConfigError::JwtRead { .. }));
    let e = refused(&["--jwt-secret-file", missing], "(--jwt-secret-file)");
    assert!(matches!(e, ConfigError::JwtRead { .. }));
    let dir = Scratch::new("jwt-keys");
    let not_pem = dir.file("key.txt", b"hello");
    let e = refused(&["--jwt-public-key", &not_pem], "not PEM");
    assert!(e.to_string().contains(&not_pem), "{e}");
    assert!(matches!(e, ConfigError::JwtKey { .. }));
    for (key, needle) in [
        ("es256-private.pem", "a private key"),
        ("p384-public.pem", "P-384"),
        ("ed25519-public.pem", "Ed25519"),
        ("rsa1024-public.pem", "1024 bits"),
    ] {
        let path = test_key(key);
        let e = refused(&["--jwt-public-key", &path], needle);
        assert!(e.to_string().contains(&path), "{e}");
    }
    let short = dir.file("short", b"too short\n");
    let e = refused(&["--jwt-secret-file", &short], "9 bytes");
    assert!(e.to_string().contains(&short), "{e}");
}

#[test]
fn two_jwt_keys_or_jwt_settings_without_a_key_are_refused() {
    let dir = Scratch::new("jwt-two");
    let secret = dir.file("secret", SECRET.as_bytes());
    let public = test_key("es256-public.pem");
    let e = refused(
        &["--jwt-secret-file", &secret, "--jwt-public-key", &public],
        "jwt_secret_file (--jwt-secret-file) and jwt_public_key (--jwt-public-key) are both given",
    );
    assert!(matches!(e, ConfigError::JwtTwoKeys(_)));
    let e = with_env(&["--jwt-public-key", &public], "", Some(SECRET)).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("SWITCHYARD_JWT_SECRET and jwt_public_key (--jwt-public-key)"),
        "{e}"
    );
    let e = with_env(&["--jwt-secret-file", &secret], "", Some(SECRET)).unwrap_err();
    assert!(matches!(e, ConfigError::JwtTwoKeys(_)), "{e}");
    let e = refused(
        &["--jwt-audience", "chat"],
        "jwt_audience (--jwt-audience) needs a key",
    );
    assert!(matches!(e, ConfigError::JwtWithoutKey(_)));
    let e = merged(&[], "jwt_leeway = 10").unwrap_err();
    assert!(matches!(e, ConfigError::JwtWithoutKey("jwt_leeway")), "{e}");
    let e = refused(
        &["--jwt-secret-file", &secret, "--jwt-leeway", "301"],
        "jwt_leeway must be at most 300, got 301 (--jwt-leeway)",
    );
    assert!(matches!(e, ConfigError::OutOfRange { .. }));
    assert!(Settings::try_parse_from(["switchyard", "--jwt-leeway", "0.5"]).is_err());
}

#[test]
fn routes_given_twice_are_refused_but_a_flag_replaces_the_files() {
    let e = refused(
        &["--route", "/a=echo", "--route", "/a=broadcast"],
        "path \"/a\" is routed twice",
    );
    assert!(matches!(e, ConfigError::Route(RouteError::Duplicate(_))));
    let e = refused(&["--route", "*=echo", "--route", "*=none"], "\"*\"");
    assert!(matches!(e, ConfigError::Route(RouteError::Duplicate(_))));
    let c = merged(&["--route", "*=none"], "[routes]\n\"*\" = \"broadcast\"\n").unwrap();
    assert!(c.routes.lookup("/unknown").is_none(), "no fallback: 404");
    let c = merged(
        &[],
        "[routes]\n\"/rooms/*\" = \"broadcast:exclude-sender\"\n\"/broadcast\" = \"none\"\n",
    )
    .unwrap();
    assert_eq!(
        app(&c, "/rooms/a"),
        &App::Broadcast {
            exclude_sender: true
        }
    );
    assert!(c.routes.lookup("/broadcast").is_none());
    assert_eq!(app(&c, "/rooms/"), &App::Echo);
}

#[test]
fn a_bearer_subprotocol_is_reserved_for_tokens() {
    let e = refused(&["--subprotocol", "bearer.x"], "\"bearer.x\"");
    assert!(matches!(e, ConfigError::ReservedSubprotocol(_)));
    assert!(parse(&["--subprotocol", "bearer"]).is_ok());
}

#[test]
fn help_shows_the_new_defaults() {
    let help = Settings::command_with_defaults()
        .render_long_help()
        .to_string();
    for default in [
        "[default: none: every listener]",
        "[default: /healthz]",
        "[default: /metrics]",
        "[default: 30]",
        "[default: text]",
        "[default: false]",
        "SWITCHYARD_JWT_SECRET",
    ] {
        assert!(help.contains(default), "--help lacks {default}");
    }
}

#[test]
fn cluster_url_publish_token_and_drain_window_from_flags_or_file() {
    let c = parse(&[]).unwrap();
    assert!(c.cluster.is_none() && c.publish_token.is_none());
    assert_eq!(c.drain_window, Duration::ZERO);
    let c = parse(&[
        "--cluster",
        "redis://:pw@127.0.0.1:7000/3",
        "--drain-window",
        "2.5",
    ])
    .unwrap();
    assert_eq!(
        c.cluster.as_ref().unwrap().to_string(),
        "redis://:***@127.0.0.1:7000/3"
    );
    assert!(!c.summary().contains("pw@"), "{}", c.summary());
    assert_eq!(c.drain_window, Duration::from_millis(2500));
    let c = merged(&[], "cluster = \"redis://h\"\ndrain_window = 0").unwrap();
    assert_eq!(c.cluster.unwrap().to_string(), "redis://h:6379/0");
    assert_eq!(c.drain_window, Duration::ZERO);
    let e = refused(&["--cluster", "rediss://h"], "--cluster");
    assert!(!e.to_string().contains("pw"));
    refused(&["--drain-window=-1"], "drain_window");
    let dir = std::env::temp_dir().join(format!("switchyard-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("t");
    std::fs::write(&token, "abc\n").unwrap();
    let c = parse(&["--publish-token-file", token.to_str().unwrap()]).unwrap();
    assert!(c.publish_token.unwrap().matches(b"abc"));
    std::fs::write(&token, "\n").unwrap();
    refused(&["--publish-token-file", token.to_str().unwrap()], "empty");
    refused(
        &["--publish-token-file", "/nonexistent/token"],
        "publish token",
    );
    let _ = std::fs::remove_dir_all(dir);
}
