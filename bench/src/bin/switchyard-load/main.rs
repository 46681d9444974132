//! `switchyard-load`: the WebSocket load generator of the Switchyard benchmarks.
//!
//! One mio thread (pin it with `--cpu N` or `taskset`), real WebSocket on the wire (accept values
//! and every payload checked), loopback only, every run bounded in time. See `--help`.

mod cli;
mod counters;
mod engine;
mod net;
mod output;
mod payload;
mod report;
mod run;
mod tls;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    if let Some(cpu) = cli.common.cpu {
        if !switchyard_bench::sys::pin_to_cpu(cpu) {
            eprintln!("warning: could not pin to CPU {cpu}");
        }
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
