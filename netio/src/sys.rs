//! The only unsafe code of the crate: socket options that neither mio nor socket2 expose.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
