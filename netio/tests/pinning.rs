//! More reactors than CPUs: reactor `i` is pinned to `cpus[i % cpus.len()]` (round-robin), and
//! the thread really runs there (its affinity, read from `/proc/thread-self/status`).

use std::sync::{Arc, Mutex};

use switchyard_netio::{start, Accepted, Config, ConnId, Ctx, Handler};

struct Idle;

impl Handler for Idle {
    type Conn = ();
    type Message = ();
    fn accept(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &Accepted) -> Option<()> {
        None
    }
    fn on_data(&mut self, _: &mut Ctx<'_, Self>, _: ConnId, _: &mut (), _: &mut [u8]) {}
}

/// The calling thread's allowed CPUs, as the kernel lists them (e.g. "0" or "0-1").
fn allowed_cpus() -> String {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("Cpus_allowed_list:"))
        .unwrap();
    line.split_whitespace().nth(1).unwrap().to_owned()
}

#[test]
fn reactors_outnumbering_cpus_are_pinned_round_robin() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpus: Vec<usize> = (0..cores.min(2)).collect();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let config = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        reactors: 5,
        cpus: Some(cpus.clone()),
        // Pinning is per thread, so it works with private tables too (the benchmark's set-up).
        private_descriptor_tables: true,
        ..Config::default()
    };
    let reactors = start(config, move |info| {
        s.lock()
            .unwrap()
            .push((info.index, info.cpu, allowed_cpus()));
        Idle
    })
    .unwrap();
    reactors.shutdown();
    reactors.join().unwrap();
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen.len(), 5);
    for (index, cpu, allowed) in seen {
        let expected = cpus[index % cpus.len()];
        assert_eq!(cpu, Some(expected), "reactor {index}");
        assert_eq!(
            allowed,
            expected.to_string(),
            "reactor {index} runs on its CPU only"
        );
    }
}
