//! Ethernet ports (ethdev) and rx/tx queue handles.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::ffi::{CStr, CString};
use std::marker::PhantomData;
use std::sync::Mutex;

use crate::eal::{self, LiveGuard, Running};
use crate::error::{Error, Result};
use crate::ffi;
use crate::mempool::Mempool;
use crate::ring::{RingConsumer, RingProducer};

/// Claimed queues: (port, queue, is_rx).
static CLAIMS: Mutex<BTreeSet<(u16, u16, bool)>> = Mutex::new(BTreeSet::new());

/// Ports started at least once through this crate. Before its first start a
/// port's fast-path table entry is all NULL (rx/tx would crash); afterwards it
/// holds either the PMD's functions or DPDK's safe dummies (after stop/close).
static EVER_STARTED: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
/// Ports currently started through this crate (to avoid stopping stopped
/// ports, which DPDK logs about).
static STARTED: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

fn mark_started(port: u16) {
    EVER_STARTED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(port);
    STARTED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(port);
}

fn mark_stopped(port: u16) -> bool {
    STARTED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&port)
}

/// Stop the ports started through this crate and close every port.
///
/// # Safety
/// Only for `Eal::drop`: the caller holds the state write lock and has
/// verified that no queue handle exists (so no burst is running).
pub(crate) unsafe fn stop_and_close_all() {
    let started = std::mem::take(&mut *STARTED.lock().unwrap_or_else(|e| e.into_inner()));
    for p in started {
        // SAFETY: see the function contract.
        unsafe { ffi::rte_eth_dev_stop(p) };
    }
    let mut p: u16 = 0;
    loop {
        // SAFETY: rte_eth_find_next accepts any port id.
        let id = unsafe { ffi::rte_eth_find_next(p) };
        if u32::from(id) >= ffi::RTE_MAX_ETHPORTS {
            break;
        }
        // SAFETY: valid port; no burst is running (contract).
        unsafe { ffi::rte_eth_dev_close(id) };
        p = id + 1;
    }
}

fn claims() -> std::sync::MutexGuard<'static, BTreeSet<(u16, u16, bool)>> {
    CLAIMS.lock().unwrap_or_else(|e| e.into_inner())
}

/// An ethdev port id. `Copy`; every operation re-validates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortId(u16);

/// Alias so that `Port::by_name(..)` reads naturally.
pub type Port = PortId;

/// Port configuration for [`PortId::configure`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConf {
    /// Number of rx queues.
    pub rx_queues: u16,
    /// Number of tx queues.
    pub tx_queues: u16,
    /// Rx descriptors per queue (clamped to the device limits).
    pub rx_desc: u16,
    /// Tx descriptors per queue (clamped to the device limits).
    pub tx_desc: u16,
    /// MTU to set, if any (ENOTSUP becomes a warning).
    pub mtu: Option<u16>,
    /// Enable promiscuous mode (ENOTSUP becomes a warning).
    pub promiscuous: bool,
    /// Request RSS over IP/UDP/TCP; only applied if `rx_queues > 1` and the
    /// device supports some of those hash types.
    pub rss: bool,
}

impl Default for PortConf {
    fn default() -> Self {
        PortConf {
            rx_queues: 1,
            tx_queues: 1,
            rx_desc: 1024,
            tx_desc: 1024,
            mtu: None,
            promiscuous: true,
            rss: true,
        }
    }
}

/// What [`PortId::configure`] actually did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortSetup {
    /// Rx descriptors per queue after clamping.
    pub rx_desc: u16,
    /// Tx descriptors per queue after clamping.
    pub tx_desc: u16,
    /// RSS hash functions enabled (0 = RSS off).
    pub rss_hf: u64,
    /// Non-fatal problems (unsupported MTU/promiscuous, RSS unavailable).
    pub warnings: Vec<String>,
}

/// Basic port statistics (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub ipackets: u64,
    /// Packets sent.
    pub opackets: u64,
    /// Bytes received.
    pub ibytes: u64,
    /// Bytes sent.
    pub obytes: u64,
    /// Rx packets dropped by the hardware (rx queues full).
    pub imissed: u64,
    /// Erroneous received packets.
    pub ierrors: u64,
    /// Failed transmissions.
    pub oerrors: u64,
    /// Rx mbuf allocation failures.
    pub rx_nombuf: u64,
}

/// Device information (subset of `rte_eth_dev_info`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortInfo {
    /// PMD name, e.g. `net_ring`.
    pub driver_name: String,
    /// Maximum rx queues.
    pub max_rx_queues: u16,
    /// Maximum tx queues.
    pub max_tx_queues: u16,
    /// Currently configured rx queues.
    pub nb_rx_queues: u16,
    /// Currently configured tx queues.
    pub nb_tx_queues: u16,
    /// Supported RSS hash functions.
    pub flow_type_rss_offloads: u64,
    /// Minimum MTU.
    pub min_mtu: u16,
    /// Maximum MTU.
    pub max_mtu: u16,
}

impl PortId {
    /// Look a port up by device name (`net_null0`, `net_af_packet0`,
    /// `0000:03:00.0`, ...).
    pub fn by_name(name: &str) -> Result<PortId> {
        let cname = CString::new(name)
            .map_err(|_| Error::InvalidArgument(format!("port name {name:?} contains NUL")))?;
        let _g = eal::running()?;
        let mut id: u16 = 0;
        // SAFETY: EAL running; valid C string and out-pointer.
        let rc = unsafe { ffi::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id) };
        if rc != 0 {
            return Err(Error::dpdk(
                "rte_eth_dev_get_port_by_name",
                format!("port {name:?}"),
                rc,
            ));
        }
        Ok(PortId(id))
    }

    /// A port by number; fails if no such port exists.
    pub fn from_raw(id: u16) -> Result<PortId> {
        let _g = eal::running()?;
        // SAFETY: EAL running; any id is accepted.
        if unsafe { ffi::rte_eth_dev_is_valid_port(id) } == 0 {
            return Err(Error::dpdk(
                "rte_eth_dev_is_valid_port",
                format!("port {id}"),
                libc::ENODEV,
            ));
        }
        Ok(PortId(id))
    }

    /// All available ports.
    pub fn all() -> Result<Vec<PortId>> {
        let _g = eal::running()?;
        let mut v = Vec::new();
        let mut p = 0u16;
        loop {
            // SAFETY: EAL running; any start id is accepted.
            let id = unsafe { ffi::rte_eth_find_next(p) };
            if u32::from(id) >= ffi::RTE_MAX_ETHPORTS {
                return Ok(v);
            }
            v.push(PortId(id));
            p = id + 1;
        }
    }

    /// The numeric port id.
    #[inline]
    pub fn id(self) -> u16 {
        self.0
    }

    fn name_locked(self, _g: &Running) -> Option<String> {
        let mut buf = [0 as std::ffi::c_char; ffi::RTE_ETH_NAME_MAX_LEN as usize];
        // SAFETY: EAL running; buf is RTE_ETH_NAME_MAX_LEN bytes as required.
        let rc = unsafe { ffi::rte_eth_dev_get_name_by_port(self.0, buf.as_mut_ptr()) };
        if rc != 0 {
            return None;
        }
        // SAFETY: on success DPDK wrote a NUL-terminated string into buf.
        Some(
            unsafe { CStr::from_ptr(buf.as_ptr()) }
                .to_string_lossy()
                .into_owned(),
        )
    }

    /// "port N (name)" for error messages.
    fn label(self, g: &Running) -> String {
        match self.name_locked(g) {
            Some(n) => format!("port {} ({n})", self.0),
            None => format!("port {}", self.0),
        }
    }

    fn err(self, g: &Running, op: &'static str, rc: i32) -> Error {
        Error::dpdk(op, self.label(g), rc)
    }

    /// Device name.
    pub fn name(self) -> Result<String> {
        let g = eal::running()?;
        self.name_locked(&g).ok_or_else(|| {
            Error::dpdk(
                "rte_eth_dev_get_name_by_port",
                format!("port {}", self.0),
                libc::ENODEV,
            )
        })
    }

    fn raw_info(self, g: &Running) -> Result<ffi::rte_eth_dev_info> {
        let mut info = ffi::rte_eth_dev_info::default();
        // SAFETY: EAL running; `info` is a valid out-parameter.
        let rc = unsafe { ffi::rte_eth_dev_info_get(self.0, &mut info) };
        if rc != 0 {
            return Err(self.err(g, "rte_eth_dev_info_get", rc));
        }
        Ok(info)
    }

    /// Device information.
    pub fn info(self) -> Result<PortInfo> {
        let g = eal::running()?;
        let i = self.raw_info(&g)?;
        let driver_name = if i.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: non-null driver_name points to the PMD's static name.
            unsafe { CStr::from_ptr(i.driver_name) }
                .to_string_lossy()
                .into_owned()
        };
        Ok(PortInfo {
            driver_name,
            max_rx_queues: i.max_rx_queues,
            max_tx_queues: i.max_tx_queues,
            nb_rx_queues: i.nb_rx_queues,
            nb_tx_queues: i.nb_tx_queues,
            flow_type_rss_offloads: i.flow_type_rss_offloads,
            min_mtu: i.min_mtu,
            max_mtu: i.max_mtu,
        })
    }

    /// PMD name, e.g. `net_af_packet`.
    pub fn driver_name(self) -> Result<String> {
        Ok(self.info()?.driver_name)
    }

    /// Maximum number of rx queues.
    pub fn max_rx_queues(self) -> Result<u16> {
        Ok(self.info()?.max_rx_queues)
    }

    /// Maximum number of tx queues.
    pub fn max_tx_queues(self) -> Result<u16> {
        Ok(self.info()?.max_tx_queues)
    }

    /// Lock the claim table and check that no queue of this port is claimed;
    /// holding the returned guard keeps it that way.
    fn lock_unclaimed(
        self,
        g: &Running,
        what: &str,
    ) -> Result<std::sync::MutexGuard<'static, BTreeSet<(u16, u16, bool)>>> {
        let c = claims();
        if c.iter().any(|&(p, _, _)| p == self.0) {
            return Err(Error::Busy(format!(
                "{}: cannot {what} while RxQueue/TxQueue handles exist",
                self.label(g)
            )));
        }
        Ok(c)
    }

    /// Configure the port, set up its queues with `pool` and start it.
    ///
    /// RSS (IP/UDP/TCP, masked by the device's capabilities) is enabled only
    /// when requested, `rx_queues > 1` and supported. Descriptor counts are
    /// clamped to the device limits. A started port is stopped first. Fails
    /// with [`Error::Busy`] while queue handles of this port exist.
    pub fn configure(self, conf: &PortConf, pool: &Mempool) -> Result<PortSetup> {
        let g = eal::running()?;
        let _no_queues = self.lock_unclaimed(&g, "configure")?;
        let info = self.raw_info(&g)?;
        if conf.rx_queues == 0 || conf.rx_queues > info.max_rx_queues {
            return Err(Error::InvalidArgument(format!(
                "{}: rx_queues {} not in 1..={}",
                self.label(&g),
                conf.rx_queues,
                info.max_rx_queues
            )));
        }
        if conf.tx_queues == 0 || conf.tx_queues > info.max_tx_queues {
            return Err(Error::InvalidArgument(format!(
                "{}: tx_queues {} not in 1..={}",
                self.label(&g),
                conf.tx_queues,
                info.max_tx_queues
            )));
        }
        let mut setup = PortSetup::default();

        // SAFETY (all ethdev calls below): EAL running (guard held), the port
        // id is validated by dev_info_get above, no rx/tx queue handle of this
        // port exists (checked above) so no thread is in rx/tx on it, and all
        // pointers passed are to live locals.
        unsafe {
            if mark_stopped(self.0) {
                let rc = ffi::rte_eth_dev_stop(self.0);
                if rc != 0 {
                    return Err(self.err(&g, "rte_eth_dev_stop", rc));
                }
            }

            let mut ec = ffi::rte_eth_conf::default();
            if conf.rss && conf.rx_queues > 1 {
                let hf = ffi::msm_rss_hf_ip_udp_tcp() & info.flow_type_rss_offloads;
                if hf != 0 {
                    ec.rxmode.mq_mode = ffi::rte_eth_rx_mq_mode_RTE_ETH_MQ_RX_RSS;
                    ec.rx_adv_conf.rss_conf.rss_key = std::ptr::null_mut();
                    ec.rx_adv_conf.rss_conf.rss_hf = hf;
                    setup.rss_hf = hf;
                } else {
                    setup.warnings.push(format!(
                        "{}: RSS requested but the device supports no IP/UDP/TCP hash (offloads {:#x}); \
                         all traffic goes to rx queue 0",
                        self.label(&g),
                        info.flow_type_rss_offloads
                    ));
                }
            }
            let rc = ffi::rte_eth_dev_configure(self.0, conf.rx_queues, conf.tx_queues, &ec);
            if rc != 0 {
                return Err(self.err(&g, "rte_eth_dev_configure", rc));
            }

            let (mut rxd, mut txd) = (conf.rx_desc, conf.tx_desc);
            let rc = ffi::rte_eth_dev_adjust_nb_rx_tx_desc(self.0, &mut rxd, &mut txd);
            if rc != 0 {
                return Err(self.err(&g, "rte_eth_dev_adjust_nb_rx_tx_desc", rc));
            }
            setup.rx_desc = rxd;
            setup.tx_desc = txd;

            if let Some(mtu) = conf.mtu {
                let rc = ffi::rte_eth_dev_set_mtu(self.0, mtu);
                if rc == -libc::ENOTSUP {
                    setup.warnings.push(format!(
                        "{}: setting MTU {mtu} not supported",
                        self.label(&g)
                    ));
                } else if rc != 0 {
                    return Err(self.err(&g, "rte_eth_dev_set_mtu", rc));
                }
            }

            let socket = ffi::rte_eth_dev_socket_id(self.0);
            let socket = if socket < 0 {
                ffi::SOCKET_ID_ANY
            } else {
                socket
            };
            for q in 0..conf.rx_queues {
                let rc = ffi::rte_eth_rx_queue_setup(
                    self.0,
                    q,
                    rxd,
                    socket as u32,
                    std::ptr::null(),
                    pool.as_ptr(),
                );
                if rc != 0 {
                    return Err(self.err(&g, "rte_eth_rx_queue_setup", rc));
                }
            }
            for q in 0..conf.tx_queues {
                let rc =
                    ffi::rte_eth_tx_queue_setup(self.0, q, txd, socket as u32, std::ptr::null());
                if rc != 0 {
                    return Err(self.err(&g, "rte_eth_tx_queue_setup", rc));
                }
            }

            let rc = ffi::rte_eth_dev_start(self.0);
            if rc != 0 {
                return Err(self.err(&g, "rte_eth_dev_start", rc));
            }
            mark_started(self.0);

            if conf.promiscuous {
                let rc = ffi::rte_eth_promiscuous_enable(self.0);
                if rc == -libc::ENOTSUP {
                    setup.warnings.push(format!(
                        "{}: promiscuous mode not supported",
                        self.label(&g)
                    ));
                } else if rc != 0 {
                    return Err(self.err(&g, "rte_eth_promiscuous_enable", rc));
                }
            }
        }
        Ok(setup)
    }

    /// Start the port (after [`PortId::stop`]). Fails with [`Error::Busy`]
    /// while queue handles exist (start rewrites the fast-path table).
    pub fn start(self) -> Result<()> {
        let g = eal::running()?;
        let _no_queues = self.lock_unclaimed(&g, "start")?;
        // SAFETY: EAL running; no queue handle, so no concurrent burst reads
        // the fast-path table that start rewrites.
        let rc = unsafe { ffi::rte_eth_dev_start(self.0) };
        if rc != 0 {
            return Err(self.err(&g, "rte_eth_dev_start", rc));
        }
        mark_started(self.0);
        Ok(())
    }

    /// Stop the port. Fails with [`Error::Busy`] while queue handles exist
    /// (stopping under a running rx/tx burst is a data race in DPDK).
    pub fn stop(self) -> Result<()> {
        let g = eal::running()?;
        let _no_queues = self.lock_unclaimed(&g, "stop")?;
        // SAFETY: EAL running; no queue handle, so no concurrent burst.
        let rc = unsafe { ffi::rte_eth_dev_stop(self.0) };
        if rc != 0 {
            return Err(self.err(&g, "rte_eth_dev_stop", rc));
        }
        mark_stopped(self.0);
        Ok(())
    }

    /// MAC address.
    pub fn mac_addr(self) -> Result<[u8; 6]> {
        let g = eal::running()?;
        let mut a = ffi::rte_ether_addr::default();
        // SAFETY: EAL running; valid out-parameter.
        let rc = unsafe { ffi::rte_eth_macaddr_get(self.0, &mut a) };
        if rc != 0 {
            return Err(self.err(&g, "rte_eth_macaddr_get", rc));
        }
        Ok(a.addr_bytes)
    }

    /// Port statistics.
    pub fn stats(self) -> Result<PortStats> {
        let g = eal::running()?;
        let mut s = ffi::rte_eth_stats::default();
        // SAFETY: EAL running; valid out-parameter; stats reads are safe
        // concurrently with rx/tx.
        let rc = unsafe { ffi::rte_eth_stats_get(self.0, &mut s) };
        if rc != 0 {
            return Err(self.err(&g, "rte_eth_stats_get", rc));
        }
        Ok(PortStats {
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// Reset the port statistics.
    pub fn reset_stats(self) -> Result<()> {
        let g = eal::running()?;
        // SAFETY: EAL running.
        let rc = unsafe { ffi::rte_eth_stats_reset(self.0) };
        if rc != 0 {
            return Err(self.err(&g, "rte_eth_stats_reset", rc));
        }
        Ok(())
    }

    /// Whether the link is up (non-blocking query).
    pub fn link_up(self) -> Result<bool> {
        let g = eal::running()?;
        let mut l = ffi::rte_eth_link::default();
        // SAFETY: EAL running; valid out-parameter.
        let rc = unsafe { ffi::rte_eth_link_get_nowait(self.0, &mut l) };
        if rc != 0 {
            return Err(self.err(&g, "rte_eth_link_get_nowait", rc));
        }
        Ok(l.link_status() != 0)
    }

    fn claim(self, queue: u16, rx: bool) -> Result<(LiveGuard, QueueClaim)> {
        let g = eal::running()?;
        let info = self.raw_info(&g)?;
        let (n, kind) = if rx {
            (info.nb_rx_queues, "rx")
        } else {
            (info.nb_tx_queues, "tx")
        };
        if queue >= n {
            return Err(Error::InvalidArgument(format!(
                "{}: {kind} queue {queue} not configured ({n} configured)",
                self.label(&g)
            )));
        }
        if !EVER_STARTED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&self.0)
        {
            return Err(Error::InvalidArgument(format!(
                "{}: port was never started (configure it first)",
                self.label(&g)
            )));
        }
        if !claims().insert((self.0, queue, rx)) {
            return Err(Error::Busy(format!(
                "{}: {kind} queue {queue} already has a handle",
                self.label(&g)
            )));
        }
        Ok((
            LiveGuard::new(&g),
            QueueClaim {
                port: self.0,
                queue,
                rx,
            },
        ))
    }

    /// Claim exclusive use of rx queue `queue` (the port must have been
    /// configured and started; while it is stopped, bursts return 0).
    pub fn rx_queue(self, queue: u16) -> Result<RxQueue> {
        let (live, claim) = self.claim(queue, true)?;
        Ok(RxQueue {
            claim,
            _live: live,
            _not_sync: PhantomData,
        })
    }

    /// Claim exclusive use of tx queue `queue` (as for [`PortId::rx_queue`];
    /// while the port is stopped, tx sends nothing).
    pub fn tx_queue(self, queue: u16) -> Result<TxQueue> {
        let (live, claim) = self.claim(queue, false)?;
        Ok(TxQueue {
            claim,
            _live: live,
            _not_sync: PhantomData,
        })
    }
}

impl std::fmt::Display for PortId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "port {}", self.0)
    }
}

#[derive(Debug)]
struct QueueClaim {
    port: u16,
    queue: u16,
    rx: bool,
}

impl Drop for QueueClaim {
    fn drop(&mut self) {
        claims().remove(&(self.port, self.queue, self.rx));
    }
}

/// Exclusive handle to one rx queue of a port (`Send`, `!Sync`, not `Clone`).
/// Use with [`crate::MbufBurst::rx`].
#[derive(Debug)]
pub struct RxQueue {
    claim: QueueClaim,
    _live: LiveGuard,
    _not_sync: PhantomData<Cell<()>>,
}

/// Exclusive handle to one tx queue of a port (`Send`, `!Sync`, not `Clone`).
/// Use with [`crate::MbufBurst::tx`].
#[derive(Debug)]
pub struct TxQueue {
    claim: QueueClaim,
    _live: LiveGuard,
    _not_sync: PhantomData<Cell<()>>,
}

impl RxQueue {
    /// The port.
    #[inline]
    pub fn port(&self) -> PortId {
        PortId(self.claim.port)
    }
    #[inline]
    pub(crate) fn port_id(&self) -> u16 {
        self.claim.port
    }
    /// The queue index.
    #[inline]
    pub fn queue_id(&self) -> u16 {
        self.claim.queue
    }
}

impl TxQueue {
    /// The port.
    #[inline]
    pub fn port(&self) -> PortId {
        PortId(self.claim.port)
    }
    #[inline]
    pub(crate) fn port_id(&self) -> u16 {
        self.claim.port
    }
    /// The queue index.
    #[inline]
    pub fn queue_id(&self) -> u16 {
        self.claim.queue
    }
}

/// An ethdev port whose queues are `rte_ring`s (`rte_eth_from_rings`, the
/// `net_ring` PMD), created by [`PortId::from_rings`]: rx queue `i` dequeues
/// from `rx[i]`, tx queue `i` enqueues into `tx[i]`. Another thread plays the
/// wire through the other ends of the rings (useful for benchmarks and tests
/// that need real packet contents on a real ethdev data path).
///
/// The port owns the consumer ends of its rx rings and the producer ends of
/// its tx rings, so the SP/SC contract holds: only the port's (unique) queue
/// handles touch those ends. Configure and start it like any port
/// ([`PortId::configure`]; descriptor counts, MTU and RSS are ignored by the
/// PMD). Dropping it removes the device (`rte_vdev_uninit`) and releases the
/// rings — unless a queue handle of the port still exists, in which case the
/// port stays and its rings are leaked (never freed while it may use them).
#[derive(Debug)]
pub struct RingPort {
    id: PortId,
    dev_name: CString,
    rx: Vec<RingConsumer>,
    tx: Vec<RingProducer>,
}

impl PortId {
    /// Create a ring-backed port named `net_ring_<name>` (see [`RingPort`])
    /// on the caller's NUMA socket.
    pub fn from_rings(
        name: &str,
        rx: Vec<RingConsumer>,
        tx: Vec<RingProducer>,
    ) -> Result<RingPort> {
        let dev = format!("net_ring_{name}");
        let dev_name = CString::new(dev.clone())
            .map_err(|_| Error::InvalidArgument(format!("port name {name:?} contains NUL")))?;
        let cname = CString::new(name)
            .map_err(|_| Error::InvalidArgument(format!("port name {name:?} contains NUL")))?;
        if rx.is_empty() || tx.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "{dev}: needs at least one rx and one tx ring"
            )));
        }
        let g = eal::running()?;
        let rxp: Vec<*mut ffi::rte_ring> = rx.iter().map(RingConsumer::raw).collect();
        let txp: Vec<*mut ffi::rte_ring> = tx.iter().map(RingProducer::raw).collect();
        // SAFETY: EAL running (guard held); the arrays hold valid rings that
        // stay alive as long as the returned RingPort (which owns their port
        // ends); the name is a valid C string. Socket ids are non-negative or
        // SOCKET_ID_ANY, which DPDK takes back as an int.
        let rc = unsafe {
            ffi::rte_eth_from_rings(
                cname.as_ptr(),
                rxp.as_ptr(),
                rxp.len() as u32,
                txp.as_ptr(),
                txp.len() as u32,
                crate::socket_id() as u32,
            )
        };
        let id = u16::try_from(rc)
            .map_err(|_| Error::from_rte_errno("rte_eth_from_rings", dev.clone()))?;
        drop(g);
        Ok(RingPort {
            id: PortId(id),
            dev_name,
            rx,
            tx,
        })
    }
}

impl RingPort {
    /// The port.
    #[inline]
    pub fn id(&self) -> PortId {
        self.id
    }
}

impl Drop for RingPort {
    fn drop(&mut self) {
        let removed = eal::running().ok().is_some_and(|g| {
            // Holding the claim lock: no queue handle exists or can appear,
            // so no burst runs on this port while it is removed.
            let Ok(_no_queues) = self.id.lock_unclaimed(&g, "remove") else {
                return false;
            };
            mark_stopped(self.id.0);
            EVER_STARTED
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&self.id.0);
            // SAFETY: EAL running, no queue handle (see above); the ring PMD's
            // remove stops and closes the port and does not free rings it
            // was given.
            let rc = unsafe { ffi::rte_vdev_uninit(self.dev_name.as_ptr()) };
            if rc != 0 {
                eprintln!(
                    "msm-dpdk: rte_vdev_uninit({:?}) failed: {}",
                    self.dev_name,
                    crate::error::strerror(-rc)
                );
            }
            rc == 0
        });
        if !removed {
            // The port may still use the rings: never free them.
            std::mem::forget(std::mem::take(&mut self.rx));
            std::mem::forget(std::mem::take(&mut self.tx));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_conf_default() {
        let c = PortConf::default();
        assert_eq!((c.rx_queues, c.tx_queues), (1, 1));
        assert!(c.promiscuous && c.rss && c.mtu.is_none());
    }

    #[test]
    fn port_ops_fail_cleanly_without_eal() {
        assert!(matches!(
            PortId::by_name("net_null0"),
            Err(Error::NotInitialized)
        ));
        assert!(matches!(PortId::from_raw(0), Err(Error::NotInitialized)));
        assert!(matches!(PortId(0).stats(), Err(Error::NotInitialized)));
        assert!(matches!(PortId(0).rx_queue(0), Err(Error::NotInitialized)));
    }
}
