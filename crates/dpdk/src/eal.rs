//! EAL initialisation, process-wide state and cleanup.

use std::ffi::{c_char, c_int, CString};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard};

use crate::error::{rte_errno, strerror, Error, Result};
use crate::ffi;

/// Set by the first `Eal::init` call (successful or not): DPDK allows one
/// `rte_eal_init` per process.
static INIT_CALLED: AtomicBool = AtomicBool::new(false);

/// Lifecycle of the EAL. Slow-path operations hold the read lock while they
/// run; `Eal::drop` takes the write lock to clean up.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum State {
    Uninit,
    Running,
    Cleaned,
}

static STATE: RwLock<State> = RwLock::new(State::Uninit);

/// Number of live handles (mempools, rings, rx/tx queues) that may touch EAL
/// memory without taking the state lock.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Every mempool created through this crate (never freed before cleanup), so
/// `Eal::drop` can check that no mbuf is outstanding.
static POOLS: Mutex<Vec<PoolPtr>> = Mutex::new(Vec::new());

#[derive(Clone, Copy)]
struct PoolPtr(*mut ffi::rte_mempool);
// SAFETY: the pointer is only dereferenced by DPDK's thread-safe mempool
// count functions while the EAL is running.
unsafe impl Send for PoolPtr {}

/// Read guard proving the EAL is running for as long as it is held.
pub(crate) struct Running(#[allow(dead_code)] RwLockReadGuard<'static, State>);

/// Lock the state for a slow-path operation; fails unless the EAL is running.
pub(crate) fn running() -> Result<Running> {
    let g = STATE.read().unwrap_or_else(|e| e.into_inner());
    if *g == State::Running {
        Ok(Running(g))
    } else {
        Err(Error::NotInitialized)
    }
}

/// Token counted in `LIVE`: while one exists, `Eal::drop` skips cleanup.
/// Must only be created while holding a [`Running`] guard.
#[derive(Debug)]
pub(crate) struct LiveGuard(());

impl LiveGuard {
    pub(crate) fn new(_proof: &Running) -> LiveGuard {
        LIVE.fetch_add(1, Ordering::SeqCst);
        LiveGuard(())
    }
}

impl Clone for LiveGuard {
    fn clone(&self) -> Self {
        // An existing guard keeps the EAL alive, so no state check is needed.
        LIVE.fetch_add(1, Ordering::SeqCst);
        LiveGuard(())
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(crate) fn register_pool(_proof: &Running, p: *mut ffi::rte_mempool) {
    POOLS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(PoolPtr(p));
}

/// The initialised DPDK Environment Abstraction Layer.
///
/// `!Send`/`!Sync`: it lives on the thread that called [`Eal::init`], which
/// is EAL's main lcore. See the crate docs for what `Drop` does.
#[derive(Debug)]
pub struct Eal {
    _not_send: PhantomData<*const ()>,
}

impl Eal {
    /// Initialise the EAL with `args` (EAL options *without* the program name,
    /// e.g. `["--no-huge", "-m", "512", "--no-pci", "--vdev=net_null0"]`;
    /// `-d <dir>` loads extra driver plugins).
    ///
    /// Works once per process: any later call returns
    /// [`Error::AlreadyInitialized`], even if the first one failed or the
    /// `Eal` was dropped. Argument validation errors (interior NUL) are
    /// reported without consuming that single attempt.
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<Eal> {
        let mut cargs = Vec::with_capacity(args.len() + 1);
        cargs.push(CString::from(c"msm-dpdk"));
        for a in args {
            let a = a.as_ref();
            cargs.push(
                CString::new(a).map_err(|_| {
                    Error::InvalidArgument(format!("EAL argument {a:?} contains NUL"))
                })?,
            );
        }
        let joined = args
            .iter()
            .map(|a| a.as_ref())
            .collect::<Vec<_>>()
            .join(" ");
        let argc = c_int::try_from(cargs.len())
            .map_err(|_| Error::InvalidArgument("too many EAL arguments".into()))?;

        if INIT_CALLED.swap(true, Ordering::SeqCst) {
            return Err(Error::AlreadyInitialized);
        }
        let mut state = STATE.write().unwrap_or_else(|e| e.into_inner());

        // rte_eal_init may permute argv and keep pointers into it, so both the
        // strings and the pointer array are leaked (once per process).
        let argv: &'static mut [*mut c_char] = Vec::leak(
            cargs
                .into_iter()
                .map(CString::into_raw)
                .chain(std::iter::once(std::ptr::null_mut()))
                .collect(),
        );
        // SAFETY: argv holds argc valid NUL-terminated strings followed by a
        // NULL, all with 'static lifetime; INIT_CALLED guarantees this is the
        // only rte_eal_init call in the process.
        let rc = unsafe { ffi::rte_eal_init(argc, argv.as_mut_ptr()) };
        if rc < 0 {
            let errno = rte_errno();
            return Err(Error::EalInit {
                errno,
                msg: strerror(errno),
                args: joined,
            });
        }
        *state = State::Running;
        Ok(Eal {
            _not_send: PhantomData,
        })
    }

    /// Whether the EAL is currently running in this process.
    pub fn is_running() -> bool {
        *STATE.read().unwrap_or_else(|e| e.into_inner()) == State::Running
    }

    /// Whether EAL's memory is in huge pages (`rte_eal_has_hugepages`): `false` under
    /// `--no-huge`, whose anonymous memory a secondary process (`dpdk-dumpcap`,
    /// `dpdk-proc-info`) cannot map.
    pub fn has_hugepages(&self) -> bool {
        // SAFETY: the EAL is initialised (an `Eal` exists); a read of its config.
        unsafe { ffi::rte_eal_has_hugepages() != 0 }
    }

    /// EAL's runtime directory (`/var/run/dpdk/<file-prefix>` for root): the
    /// multi-process socket and, unless `--no-telemetry`, `dpdk_telemetry.v2`.
    pub fn runtime_dir(&self) -> String {
        // SAFETY: the EAL is initialised; the string is EAL's own, NUL-terminated and
        // alive for the process.
        let p = unsafe { ffi::rte_eal_get_runtime_dir() };
        if p.is_null() {
            return String::new();
        }
        // SAFETY: as above.
        unsafe { std::ffi::CStr::from_ptr(p) }
            .to_string_lossy()
            .into_owned()
    }

    /// Lets secondary processes capture this process's traffic (`rte_pdump_init`):
    /// `dpdk-dumpcap` (or `dpdk-pdump`) asks over the multi-process channel, and this
    /// process then copies the packets of each rx/tx burst of the ports it captures
    /// into the capture's ring (ethdev rx/tx callbacks: nothing runs while no capture
    /// is on). The capture's mempool and ring live in the secondary's share of EAL
    /// memory, so this is only useful with huge pages ([`Eal::has_hugepages`]).
    pub fn pdump_init(&self) -> Result<()> {
        let _g = running()?;
        // SAFETY: the EAL is running; called once by the primary at start.
        let rc = unsafe { ffi::rte_pdump_init() };
        if rc < 0 {
            return Err(Error::dpdk(
                "rte_pdump_init",
                "the primary process",
                rte_errno(),
            ));
        }
        Ok(())
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: we are on the main lcore (Eal is !Send and was created by
        // the thread that ran rte_eal_init); waiting for workers is allowed.
        unsafe { ffi::rte_eal_mp_wait_lcore() };

        let mut state = STATE.write().unwrap_or_else(|e| e.into_inner());
        if *state != State::Running {
            return;
        }
        let live = LIVE.load(Ordering::SeqCst);
        if live != 0 {
            eprintln!(
                "msm-dpdk: {live} DPDK handle(s) still alive when Eal was dropped; \
                 skipping rte_eal_cleanup"
            );
            return;
        }
        // No queue handles exist and new ones cannot be created (we hold the
        // write lock), so nobody is in an rx/tx burst: stop and close ports.
        // SAFETY: write lock held and LIVE == 0 (no queue handles).
        unsafe { crate::port::stop_and_close_all() };
        let pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
        for pp in pools.iter() {
            // SAFETY: pools registered here are never freed before cleanup.
            let in_use = unsafe { ffi::rte_mempool_in_use_count(pp.0) };
            if in_use != 0 {
                eprintln!(
                    "msm-dpdk: {in_use} mbuf(s) still in use when Eal was dropped; \
                     skipping rte_eal_cleanup"
                );
                return;
            }
        }
        // SAFETY: no handle and no mbuf refers to EAL memory any more, workers
        // are idle, and the write lock keeps new slow-path calls out; after
        // this the state is Cleaned and every entry point refuses to run.
        let rc = unsafe { ffi::rte_eal_cleanup() };
        if rc != 0 {
            eprintln!("msm-dpdk: rte_eal_cleanup failed: {}", strerror(-rc));
        }
        *state = State::Cleaned;
    }
}
