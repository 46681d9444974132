//! Reading a process's CPU time and resident memory from `/proc` (Linux).

use std::io;
use std::time::Duration;

/// Clock ticks per second of `/proc/<pid>/stat`'s utime and stime (USER_HZ). Linux fixes it at
/// 100 for user space on every architecture we run on, whatever the kernel's HZ.
const USER_HZ: u64 = 100;

/// Total CPU time (user + system, all threads, including exited ones) of process `pid`.
/// Resolution is one clock tick (10 ms): measure over seconds, not milliseconds.
pub fn cpu_time(pid: u32) -> io::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_cpu_time(&stat)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unparsable /proc stat"))
}

/// CPU time of this process.
pub fn self_cpu_time() -> io::Result<Duration> {
    cpu_time(std::process::id())
}

/// CPU time of the calling thread (`/proc/thread-self/stat`: utime+stime of this thread only).
pub fn thread_cpu_time() -> io::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat")?;
    parse_cpu_time(&stat)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unparsable /proc stat"))
}

/// Parses utime and stime (fields 14 and 15) out of a `/proc/<pid>/stat` line. The command name
/// (field 2) is in parentheses and may contain spaces, so fields are counted after the last ')'.
fn parse_cpu_time(stat: &str) -> Option<Duration> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_ascii_whitespace();
    // After the name: field 3 (state) is index 0, so utime (14) is index 11, stime index 12.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime + stime;
    Some(Duration::from_millis(ticks * 1000 / USER_HZ))
}

/// Resident set size (`VmRSS`) of process `pid`, in bytes.
pub fn rss_bytes(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_vm_rss(&status)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no VmRSS in /proc status"))
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_ascii_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stat_line_whose_name_has_spaces_and_parens() {
        let line = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 \
                    1 0 100 1000000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0";
        assert_eq!(parse_cpu_time(line), Some(Duration::from_millis(3250)));
    }

    #[test]
    fn parses_vm_rss() {
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t    1536 kB\nThreads:\t1\n";
        assert_eq!(parse_vm_rss(status), Some(1536 * 1024));
    }

    #[test]
    fn reads_this_process() {
        let rss = rss_bytes(std::process::id()).expect("own VmRSS");
        assert!(rss > 0);
        // Burn CPU until the counter moves (bounded: a loaded machine gives us only a share).
        let before = self_cpu_time().expect("own stat");
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while self_cpu_time().expect("own stat") < before + Duration::from_millis(20)
            && start.elapsed() < Duration::from_secs(20)
        {
            for _ in 0..100_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
        }
        std::hint::black_box(x);
        assert!(self_cpu_time().expect("own stat") >= before + Duration::from_millis(20));
    }
}
