//! Process set-up for load tests: file-descriptor limit and CPU pinning.
//!
//! The only unsafe code of the crate: two `libc` calls on a local struct (`std` and `socket2`
//! expose no rlimit API).
#![allow(unsafe_code)]

use std::io;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the new soft limit. Raising the
/// hard limit itself needs CAP_SYS_RESOURCE, which a sandbox may not grant: the hard limit is
/// then the ceiling on connections per process.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable `rlimit` that outlives the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: `limit` is a valid `rlimit`, only read by the call.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(limit.rlim_cur)
}

/// Pins the calling thread to CPU `cpu`. Returns false if that core does not exist or the call
/// failed.
pub fn pin_to_cpu(cpu: usize) -> bool {
    core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .find(|core| core.id == cpu)
        .is_some_and(core_affinity::set_for_current)
}

/// Sets `IP_BIND_ADDRESS_NO_PORT` on a socket that will be bound to a source address before
/// `connect`: the kernel then picks the source port at connect time, unique per 4-tuple, instead
/// of reserving a port for the address alone at bind time. Without it, binding to 127.0.0.x
/// would cap each source address at the ephemeral range for all destinations together.
pub fn set_bind_address_no_port(socket: &impl std::os::fd::AsRawFd) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: the fd is open for the lifetime of `socket`; `one` is a valid c_int whose size is
    // passed alongside its address, and the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_the_limit_never_lowers_it() {
        let before = std::fs::read_to_string("/proc/self/limits").unwrap();
        let soft_before: u64 = before
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_ascii_whitespace().nth(3))
            .and_then(|w| w.parse().ok())
            .unwrap();
        let after = raise_nofile_limit().unwrap();
        assert!(after >= soft_before);
    }
}
