//! The only unsafe code of the crate: socket options that neither mio nor socket2 expose, and
//! the three calls behind [`crate::Config::private_descriptor_tables`] (a private descriptor
//! table per thread, closing descriptor copies nothing owns there, blocking signals).

use std::io;
use std::os::fd::{AsRawFd, RawFd};

/// Turns the -1 convention of libc calls into `io::Error` (as mio's `syscall!` does).
fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Sets an `int`-valued socket option.
fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` lives on the stack for the whole call and `len` is its exact size; the
    // kernel reads at most `len` bytes from the pointer and validates `fd`, `level` and `name`.
    let ret =
        unsafe { libc::setsockopt(fd, level, name, (&value as *const libc::c_int).cast(), len) };
    check(ret).map(drop)
}

/// `TCP_DEFER_ACCEPT` on a listener: `accept` completes only once data arrived, or after about
/// `seconds` (the kernel rounds to its retransmission schedule).
pub(crate) fn set_defer_accept(socket: &impl AsRawFd, seconds: u32) -> io::Result<()> {
    let secs = libc::c_int::try_from(seconds).unwrap_or(libc::c_int::MAX);
    setsockopt_int(
        socket.as_raw_fd(),
        libc::IPPROTO_TCP,
        libc::TCP_DEFER_ACCEPT,
        secs,
    )
}

/// Gives the calling thread a descriptor table of its own: `unshare(CLONE_FILES)`.
///
/// The new table starts as a copy of the one the thread shared, so every descriptor an object
/// of this thread owns stays open under the same number and refers to the same open file.
/// From then on, what the thread opens or closes changes only its own table, which has its own
/// `RLIMIT_NOFILE` worth of descriptor numbers: that is the point (the limit bounds each
/// table, not the process).
pub(crate) fn unshare_descriptor_table() -> io::Result<()> {
    // SAFETY: no pointers are passed. CLONE_FILES only swaps the calling thread's file table
    // for a copy of it, so no descriptor owned by any object becomes invalid or changes
    // meaning on this thread (the other threads keep the original table, untouched).
    check(unsafe { libc::unshare(libc::CLONE_FILES) }).map(drop)
}

/// Closes `fd` in the calling thread's descriptor table.
///
/// After [`unshare_descriptor_table`] one open file is reachable under the same number from
/// two tables, but its owning object lives on one side only: the copy on the other side must
/// be closed by number, or the file (a listener still accepting, say) outlives its owner.
/// `EINTR` counts as closed (Linux always releases the descriptor).
///
/// # Safety
/// No object that may still be used on the calling thread owns `fd` in the calling thread's
/// table (its owner, if any, lives on a thread with another table). Closing a descriptor that
/// an object here still owns would let the number be reused under it.
pub(crate) unsafe fn close_unowned(fd: RawFd) -> io::Result<()> {
    // SAFETY: close takes no pointers; by the caller's contract nothing on this thread's table
    // owns `fd`, so no object is left holding a dangling or reused number.
    match check(unsafe { libc::close(fd) }) {
        Err(e) if e.kind() != io::ErrorKind::Interrupted => Err(e),
        _ => Ok(()),
    }
}

/// Signals a fault raises on the faulting thread itself: never blocked (a blocked fault signal
/// kills the process without its handler, e.g. Rust's stack overflow report).
const SYNCHRONOUS_SIGNALS: [libc::c_int; 7] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGTRAP,
    libc::SIGSYS,
    libc::SIGABRT,
];

/// Blocks every asynchronous signal on the calling thread, so that the kernel delivers
/// process-directed signals to the process's other threads.
///
/// A thread with a private descriptor table must not run signal handlers: a handler uses
/// descriptor numbers of the process's table (signal-hook's self-pipe, for one), which on
/// this thread name nothing or, worse, one of its own sockets.
pub(crate) fn block_async_signals() -> io::Result<()> {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: `set` is writable storage for one sigset_t, which sigfillset initialises.
    check(unsafe { libc::sigfillset(set.as_mut_ptr()) })?;
    // SAFETY: sigfillset returned 0, so `set` is initialised.
    let mut set = unsafe { set.assume_init() };
    for sig in SYNCHRONOUS_SIGNALS {
        // SAFETY: `set` is an initialised sigset_t we own; `sig` is a valid signal number.
        check(unsafe { libc::sigdelset(&mut set, sig) })?;
    }
    // SAFETY: `set` is an initialised sigset_t read by the call; a null old-set pointer is
    // allowed and means "do not report the previous mask".
    let err = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if err == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn defer_accept_is_accepted_by_the_kernel() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        set_defer_accept(&l, 3).unwrap();
    }

    #[test]
    fn bad_fd_is_an_error_not_a_crash() {
        let err = setsockopt_int(-1, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, 1).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }

    /// Whether descriptor `fd` is open in the calling thread's own table.
    fn open_here(fd: RawFd) -> bool {
        std::fs::symlink_metadata(format!("/proc/thread-self/fd/{fd}")).is_ok()
    }

    #[test]
    fn a_private_table_is_a_copy_whose_changes_stay_private() {
        let shared = std::fs::File::open("/dev/null").unwrap();
        let fd = shared.as_raw_fd();
        let private_path =
            std::env::temp_dir().join(format!("netio-private-table-{}", std::process::id()));
        std::fs::write(&private_path, b"x").unwrap();
        let path = private_path.clone();
        let opened_inside = std::thread::spawn(move || {
            unshare_descriptor_table().unwrap();
            // The copy: the same number is open here too.
            assert!(open_here(fd), "descriptors open before unshare are copied");
            // SAFETY: (test) the File owning `fd` belongs to the main thread's table; nothing
            // on this thread uses the copy.
            unsafe { close_unowned(fd) }.unwrap();
            assert!(!open_here(fd), "closed in the private table");
            let own = std::fs::File::open(&path).unwrap();
            let n = own.as_raw_fd();
            std::mem::forget(own); // stays open in this table until the thread exits
            n
        })
        .join()
        .unwrap();
        // The original table still has the file, whatever the thread closed.
        assert!(open_here(fd));
        shared.metadata().expect("still open in the original table");
        // What the thread opened never appeared in this table.
        let here = std::fs::read_link(format!("/proc/thread-self/fd/{opened_inside}")).ok();
        assert_ne!(here.as_deref(), Some(private_path.as_path()));
        std::fs::remove_file(&private_path).unwrap();
    }

    #[test]
    fn closing_a_closed_descriptor_is_an_error_not_a_crash() {
        // SAFETY: (test) -1 is never a descriptor, so nothing owns it.
        let err = unsafe { close_unowned(-1) }.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }

    /// Reads this thread's blocked-signal mask from `/proc/thread-self/status`.
    fn blocked_mask() -> u64 {
        let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("SigBlk:")).unwrap();
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    }

    #[test]
    fn async_signals_are_blocked_and_faults_are_not() {
        let mask = std::thread::spawn(|| {
            block_async_signals().unwrap();
            blocked_mask()
        })
        .join()
        .unwrap();
        let bit = |sig: libc::c_int| 1u64 << (sig - 1);
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGUSR1] {
            assert_ne!(mask & bit(sig), 0, "signal {sig} blocked");
        }
        for sig in SYNCHRONOUS_SIGNALS {
            assert_eq!(mask & bit(sig), 0, "fault signal {sig} left deliverable");
        }
        assert_eq!(
            blocked_mask() & bit(libc::SIGTERM),
            0,
            "other threads unaffected"
        );
    }
}
