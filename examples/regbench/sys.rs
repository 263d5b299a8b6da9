//! What the machine is doing: CPU, interrupts, run delay, disk writes, pinning, huge pages.

use std::collections::HashMap;
use std::time::Duration;

pub fn pin_to(cpu: usize) -> bool {
    // SAFETY: plain libc calls on a zeroed cpu_set_t for the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// Run delay (ns spent runnable but not running) of the calling thread.
pub fn run_delay_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Interrupts per CPU since boot (sum of every /proc/interrupts row).
pub fn cpu_interrupts() -> Vec<u64> {
    let Ok(text) = std::fs::read_to_string("/proc/interrupts") else {
        return Vec::new();
    };
    let mut lines = text.lines();
    let ncpu = lines
        .next()
        .map(|l| l.split_whitespace().count())
        .unwrap_or(0);
    let mut sum = vec![0u64; ncpu];
    for l in lines {
        for (i, f) in l.split_whitespace().skip(1).take(ncpu).enumerate() {
            match f.parse::<u64>() {
                Ok(v) => sum[i] += v,
                Err(_) => break,
            }
        }
    }
    sum
}

/// Per-CPU busy share over `d`, from /proc/stat (user+nice+system+irq+softirq+steal).
pub fn cpu_busy(d: Duration) -> Vec<f64> {
    fn sample() -> Vec<(u64, u64)> {
        let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        text.lines()
            .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
            .map(|l| {
                let v: Vec<u64> = l
                    .split_whitespace()
                    .skip(1)
                    .filter_map(|x| x.parse().ok())
                    .collect();
                let total: u64 = v.iter().take(8).sum();
                let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
                (total, total - idle)
            })
            .collect()
    }
    let a = sample();
    std::thread::sleep(d);
    let b = sample();
    a.iter()
        .zip(&b)
        .map(|(x, y)| {
            let t = y.0.saturating_sub(x.0).max(1);
            100.0 * y.1.saturating_sub(x.1) as f64 / t as f64
        })
        .collect()
}

/// CPU time (USER_HZ ticks) spent by everything (all CPUs, busy) and by this process.
pub fn cpu_ticks() -> (u64, u64) {
    let all = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|t| {
            t.lines().next().map(|l| {
                let v: Vec<u64> = l
                    .split_whitespace()
                    .skip(1)
                    .filter_map(|x| x.parse().ok())
                    .collect();
                v.iter().take(8).sum::<u64>()
                    - v.get(3).copied().unwrap_or(0)
                    - v.get(4).copied().unwrap_or(0)
            })
        })
        .unwrap_or(0);
    // /proc/self/stat: fields after the ")" of comm; utime and stime are 14 and 15.
    let own = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|t| {
            let rest = t.rsplit_once(')')?.1.to_string();
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    (all, own)
}

/// CPU ticks of every process (whole process, all threads) by pid.
pub fn proc_ticks() -> HashMap<u32, (String, u64)> {
    let mut m = HashMap::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return m;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(t) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (t.find('('), t.rfind(')')) else {
            continue;
        };
        let name = t[open + 1..close].to_string();
        let f: Vec<&str> = t[close + 1..].split_whitespace().collect();
        let ticks = f.get(11).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
        m.insert(pid, (name, ticks));
    }
    m
}

/// Sectors written to every block device (not loop/ram) since boot.
pub fn disk_sectors_written() -> u64 {
    let Ok(rd) = std::fs::read_dir("/sys/block") else {
        return 0;
    };
    rd.flatten()
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            !n.starts_with("loop") && !n.starts_with("ram")
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|t| {
            t.split_whitespace()
                .nth(6)
                .and_then(|x| x.parse::<u64>().ok())
        })
        .sum()
}

/// A zeroed anonymous mapping advised for transparent huge pages (DPDK mbufs live in
/// huge pages too). Leaked: it lives as long as the benchmark.
pub fn huge_zeroed(len: usize) -> &'static mut [u8] {
    let len = len.max(1).next_multiple_of(2 << 20);
    // SAFETY: a fresh private anonymous mapping, used only through the returned slice.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert!(p != libc::MAP_FAILED, "mmap {len} bytes");
        libc::madvise(p, len, libc::MADV_HUGEPAGE);
        std::slice::from_raw_parts_mut(p.cast::<u8>(), len)
    }
}

/// A phase boundary: CPU ticks (all CPUs busy, this process), per-process ticks, disk
/// sectors written.
pub struct Mark {
    pub label: String,
    pub ticks: (u64, u64),
    pub procs: HashMap<u32, (String, u64)>,
    pub sectors: u64,
}

impl Mark {
    pub fn now(label: String) -> Mark {
        Mark {
            label,
            ticks: cpu_ticks(),
            procs: proc_ticks(),
            sectors: disk_sectors_written(),
        }
    }
}

/// A phase in which other processes used more CPU than this is repeated.
pub const FOREIGN_LIMIT_MS: u64 = 150;

pub fn tick_hz() -> u64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).max(1) as u64
}

/// CPU time (ms) used between two marks by everything but this process.
pub fn foreign_ms(a: &Mark, b: &Mark) -> u64 {
    let all = b.ticks.0.saturating_sub(a.ticks.0);
    let own = b.ticks.1.saturating_sub(a.ticks.1);
    all.saturating_sub(own) * 1000 / tick_hz()
}

pub fn busiest_others(a: &Mark, b: &Mark) -> String {
    let me = std::process::id();
    let mut v: Vec<(u64, &str, u32)> = b
        .procs
        .iter()
        .filter(|(pid, _)| **pid != me)
        .filter_map(|(pid, (name, t))| {
            let t0 = a.procs.get(pid).map(|x| x.1).unwrap_or(0);
            let d = t.saturating_sub(t0);
            (d * 1000 / tick_hz() >= 20).then_some((d, name.as_str(), *pid))
        })
        .collect();
    v.sort_unstable_by_key(|x| std::cmp::Reverse(x.0));
    v.iter()
        .take(3)
        .map(|(d, n, p)| format!("{n}({p}) {} ms", d * 1000 / tick_hz()))
        .collect::<Vec<_>>()
        .join(", ")
}
