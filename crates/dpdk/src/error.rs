//! Error type.

use std::ffi::CStr;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors from the DPDK wrappers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `Eal::init` was already called in this process (DPDK allows exactly one
    /// `rte_eal_init` per process, even after `rte_eal_cleanup`).
    #[error(
        "EAL already initialised in this process: rte_eal_init may only be called once per process"
    )]
    AlreadyInitialized,
    /// The EAL is not running (never initialised, or already cleaned up).
    #[error("EAL is not initialised (call Eal::init first) or has been cleaned up")]
    NotInitialized,
    /// `rte_eal_init` failed.
    #[error("rte_eal_init failed: {msg} (rte_errno {errno}); args: {args}")]
    EalInit {
        /// `rte_errno` after the failure.
        errno: i32,
        /// `rte_strerror(errno)`.
        msg: String,
        /// The arguments that were passed (space-separated).
        args: String,
    },
    /// A DPDK call failed.
    #[error("{op} failed for {object}: {msg} (errno {errno})")]
    Dpdk {
        /// The DPDK function (or operation) that failed.
        op: &'static str,
        /// What it was applied to, e.g. `port 0 (net_ring0)` or `mempool "rx"`.
        object: String,
        /// Positive errno value.
        errno: i32,
        /// `rte_strerror(errno)`.
        msg: String,
    },
    /// An argument was rejected before calling DPDK.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The resource is in use (e.g. a queue handle is already claimed).
    #[error("busy: {0}")]
    Busy(String),
}

impl Error {
    /// Build an [`Error::Dpdk`] from an errno value (sign ignored).
    pub(crate) fn dpdk(op: &'static str, object: impl Into<String>, errno: i32) -> Error {
        let errno = errno.abs();
        Error::Dpdk {
            op,
            object: object.into(),
            errno,
            msg: strerror(errno),
        }
    }

    /// Build an [`Error::Dpdk`] from the current `rte_errno`.
    pub(crate) fn from_rte_errno(op: &'static str, object: impl Into<String>) -> Error {
        Error::dpdk(op, object, rte_errno())
    }

    /// The errno value carried by this error, if any.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::EalInit { errno, .. } | Error::Dpdk { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// Current value of the per-thread `rte_errno`.
pub fn rte_errno() -> i32 {
    // SAFETY: reads a thread-local int; valid on any thread at any time.
    unsafe { crate::ffi::msm_rte_errno() }
}

/// `rte_strerror(errno)` as an owned string.
pub fn strerror(errno: i32) -> String {
    // SAFETY: rte_strerror accepts any int and returns a pointer to a static
    // or thread-local NUL-terminated string, which we copy immediately.
    unsafe {
        let p = crate::ffi::rte_strerror(errno);
        if p.is_null() {
            format!("errno {errno}")
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_object_and_message() {
        let e = Error::dpdk("rte_eth_dev_start", "port 3 (net_null0)", -libc::ENOTSUP);
        let s = e.to_string();
        assert!(s.contains("rte_eth_dev_start"), "{s}");
        assert!(s.contains("port 3 (net_null0)"), "{s}");
        assert!(s.contains(&format!("errno {}", libc::ENOTSUP)), "{s}");
        assert_eq!(e.errno(), Some(libc::ENOTSUP));
        assert!(Error::AlreadyInitialized.to_string().contains("once"));
    }

    #[test]
    fn strerror_works_without_eal() {
        assert!(!strerror(libc::EINVAL).is_empty());
        // DPDK-specific error numbers.
        assert!(!strerror(1001).is_empty());
    }
}
