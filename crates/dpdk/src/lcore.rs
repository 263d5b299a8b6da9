//! Lcore queries, TSC, and launching closures on worker lcores.

use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::eal::Eal;
use crate::error::{Error, Result};
use crate::ffi;

/// The EAL lcore id of the calling thread, or [`crate::LCORE_ID_ANY`] on a
/// non-EAL thread.
#[inline]
pub fn lcore_id() -> u32 {
    // SAFETY: reads a thread-local variable; valid on any thread.
    unsafe { ffi::msm_lcore_id() }
}

/// The main lcore id (meaningful once the EAL is initialised).
pub fn main_lcore() -> u32 {
    // SAFETY: reads the static EAL configuration; valid at any time.
    unsafe { ffi::rte_get_main_lcore() }
}

/// Number of enabled lcores, including the main one.
pub fn lcore_count() -> u32 {
    // SAFETY: reads the static EAL configuration; valid at any time.
    unsafe { ffi::rte_lcore_count() }
}

/// NUMA socket of the calling thread (`SOCKET_ID_ANY` = -1 if unknown), in
/// the form [`crate::Mempool::new`] expects.
pub fn socket_id() -> i32 {
    // SAFETY: reads a thread-local variable; valid on any thread.
    let s = unsafe { ffi::rte_socket_id() };
    i32::try_from(s).unwrap_or(crate::SOCKET_ID_ANY)
}

/// TSC frequency in Hz as measured by EAL (0 before init).
pub fn tsc_hz() -> u64 {
    // SAFETY: reads a static variable; valid at any time.
    unsafe { ffi::rte_get_tsc_hz() }
}

/// Read the time-stamp counter (`rte_rdtsc`).
#[inline(always)]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC is available on every x86_64 CPU and has no memory effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Iterator over enabled worker lcore ids (all enabled lcores except main).
#[derive(Debug, Clone)]
pub struct WorkerLcores {
    next: u32,
}

/// Iterate over the enabled worker lcores (`rte_get_next_lcore(.., 1, 0)`).
pub fn worker_lcores() -> WorkerLcores {
    WorkerLcores { next: u32::MAX }
}

impl Iterator for WorkerLcores {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        // SAFETY: rte_get_next_lcore reads the static lcore table and accepts
        // any start value (u32::MAX = "from the beginning").
        let n = unsafe { ffi::rte_get_next_lcore(self.next, 1, 0) };
        if n >= ffi::RTE_MAX_LCORE {
            self.next = ffi::RTE_MAX_LCORE;
            None
        } else {
            self.next = n;
            Some(n)
        }
    }
}

type Job = Box<dyn FnOnce() -> i32 + Send>;

extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` was produced by Box::into_raw(Box<Job>) in launch_on and
    // rte_eal_remote_launch hands it to exactly one invocation of this fn.
    let job: Box<Job> = unsafe { Box::from_raw(arg.cast::<Job>()) };
    // Unwinding across the C frame would be UB: catch panics and report -1.
    catch_unwind(AssertUnwindSafe(move || (*job)())).unwrap_or_else(|_| {
        eprintln!("msm-dpdk: closure on lcore {} panicked", lcore_id());
        -1
    })
}

impl Eal {
    /// Run `f` on worker lcore `lcore` (`rte_eal_remote_launch`). Its return
    /// value is reported by [`Eal::wait`]. Fails if `lcore` is not an
    /// enabled worker or is busy.
    pub fn launch_on(&self, lcore: u32, f: Box<dyn FnOnce() -> i32 + Send>) -> Result<()> {
        // SAFETY: rte_lcore_is_enabled reads the static lcore table.
        let enabled =
            lcore < ffi::RTE_MAX_LCORE && unsafe { ffi::rte_lcore_is_enabled(lcore) } != 0;
        if !enabled || lcore == main_lcore() {
            return Err(Error::InvalidArgument(format!(
                "lcore {lcore} is not an enabled worker lcore"
            )));
        }
        let arg = Box::into_raw(Box::new(f));
        // SAFETY: we are on the main lcore (Eal is !Send); `trampoline` has
        // the lcore_function_t signature and takes ownership of `arg` if and
        // only if the launch succeeds.
        let rc = unsafe { ffi::rte_eal_remote_launch(Some(trampoline), arg.cast(), lcore) };
        if rc != 0 {
            // SAFETY: the launch failed, so the closure was not handed over.
            drop(unsafe { Box::from_raw(arg) });
            return Err(Error::dpdk(
                "rte_eal_remote_launch",
                format!("lcore {lcore}"),
                rc,
            ));
        }
        Ok(())
    }

    /// Wait for the job on `lcore` to finish and return its return value
    /// (0 if nothing was launched).
    pub fn wait(&self, lcore: u32) -> i32 {
        if lcore >= ffi::RTE_MAX_LCORE || lcore == main_lcore() {
            return 0;
        }
        // SAFETY: called on the main lcore with a worker lcore id in range.
        unsafe { ffi::rte_eal_wait_lcore(lcore) }
    }

    /// Wait until every worker lcore is idle (`rte_eal_mp_wait_lcore`).
    pub fn wait_all(&self) {
        // SAFETY: called on the main lcore.
        unsafe { ffi::rte_eal_mp_wait_lcore() }
    }
}
