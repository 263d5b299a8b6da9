//! Where the background threads run: the housekeeping CPUs (`control.housekeeping_cpus`).
//!
//! The compaction merge, the audit writer and the metrics server are not lcores: they
//! should not share a CPU with a spinning worker or the control lcore. On an appliance
//! the operator names the CPUs kept for the OS and such threads; without that setting
//! the merge runs on every CPU at a lower priority (nice + 10) so that it takes idle
//! time wherever there is some, and the other threads keep the CPU set they inherit.

use std::sync::OnceLock;

static CPUS: OnceLock<Vec<usize>> = OnceLock::new();

/// Records the housekeeping CPUs, once, at start-up (later calls are ignored).
pub fn configure(cpus: &[usize]) {
    if !cpus.is_empty() {
        let _ = CPUS.set(cpus.to_vec());
    }
}

/// The configured housekeeping CPUs, if any.
pub fn cpus() -> Option<&'static [usize]> {
    CPUS.get().map(Vec::as_slice)
}

/// How many CPUs the machine has (configured, not only online).
pub fn machine_cpus() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) };
    n.clamp(1, libc::CPU_SETSIZE as libc::c_long) as usize
}

/// The CPUs a background thread should run on: the configured set, or, when
/// `widen` is true and none is configured, every CPU of the machine.
fn placement(configured: Option<&[usize]>, widen: bool, machine: usize) -> Option<Vec<usize>> {
    match configured {
        Some(c) => Some(c.iter().copied().filter(|&c| c < machine).collect()),
        None if widen => Some((0..machine).collect()),
        None => None,
    }
}

/// Moves the calling thread to the housekeeping CPUs (or, for a `widen` thread such
/// as the merge, to every CPU when none are configured) and lowers its priority by
/// `nice` (0 leaves it). Best effort: a failure leaves the thread where it was.
pub fn enter(widen: bool, nice: i32) {
    if let Some(set) = placement(cpus(), widen, machine_cpus()) {
        pin(&set);
    }
    if nice > 0 {
        // SAFETY: plain syscalls on this thread.
        unsafe {
            let tid = libc::gettid() as libc::id_t;
            let now = libc::getpriority(libc::PRIO_PROCESS, tid);
            libc::setpriority(libc::PRIO_PROCESS, tid, (now + nice).min(19));
        }
    }
}

fn pin(cpus: &[usize]) {
    if cpus.is_empty() {
        return;
    }
    // SAFETY: a zeroed cpu_set_t filled with CPU numbers below CPU_SETSIZE (checked by
    // `placement`'s filter against machine_cpus, itself clamped to CPU_SETSIZE).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// The calling thread's CPU set (for tests and logs).
pub fn current_cpus() -> Vec<usize> {
    // SAFETY: sched_getaffinity fills a zeroed cpu_set_t of the size passed.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_cpus_win_and_out_of_range_ones_are_dropped() {
        assert_eq!(placement(Some(&[0, 3, 9]), true, 4), Some(vec![0, 3]));
        assert_eq!(placement(Some(&[1]), false, 4), Some(vec![1]));
    }

    #[test]
    fn without_configuration_only_widening_threads_move() {
        assert_eq!(placement(None, true, 3), Some(vec![0, 1, 2]));
        assert_eq!(placement(None, false, 3), None);
    }

    #[test]
    fn enter_pins_the_thread() {
        // A thread of its own, so the test runner's threads keep their CPUs.
        let cpus = std::thread::spawn(|| {
            pin(&[0]);
            current_cpus()
        })
        .join()
        .unwrap();
        assert_eq!(cpus, vec![0]);
    }
}
