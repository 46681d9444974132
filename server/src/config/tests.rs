use std::path::Path;

use clap::Parser as _;

use super::*;
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
    assert!(
        s.contains(&format!("round-robin over cpus [{a}, {b}]")),
        "{s}"
    );
    let s = parse(&["--workers", "1", "--cpus", &list])
        .unwrap()
        .summary();
    assert!(s.contains(&format!("pinned to cpus [{a}]")), "{s}");
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
