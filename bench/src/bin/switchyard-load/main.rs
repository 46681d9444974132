//! `switchyard-load`: the WebSocket load generator of the Switchyard benchmarks.
//!
//! mio threads (`--threads N`, pinned with `--cpus LIST`) sharing one run and one report, real
//! WebSocket on the wire (accept values and every payload checked), loopback only, every run
//! bounded in time. See `--help`.

mod cli;
mod counters;
mod engine;
mod net;
mod output;
mod payload;
mod report;
mod run;
mod shared;
mod target;
mod timeline;
mod tls;
mod workers;

use clap::Parser;

fn main() {
    let mut cli = cli::Cli::parse();
    if let Err(e) = cli.resolve() {
        eprintln!("switchyard-load: {e}");
        std::process::exit(2);
    }
    if let Err(e) = switchyard_bench::sys::raise_nofile_limit() {
        eprintln!("warning: could not raise RLIMIT_NOFILE: {e}");
    }
    match run::run(&cli.scenario, &cli.common) {
        Ok(report) if cli.common.json => println!("{}", report.json()),
        Ok(report) => print!("{}", report.table()),
        Err(e) => {
            eprintln!("switchyard-load: {e}");
            std::process::exit(1);
        }
    }
}
