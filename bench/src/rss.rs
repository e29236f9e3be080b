//! Resident memory of a process, from `/proc/<pid>/status`.
//!
//! A scenario's peak is taken two ways and the larger kept: the kernel's high-water mark (`VmHWM`),
//! reset before the scenario through `/proc/<pid>/clear_refs`, and `VmRSS` polled every 20 ms, which
//! still works where resetting is not allowed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// One `kB` field of `/proc/<pid>/status`, in KiB.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Current resident set, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS")
}

/// Sets the high-water mark back to the current RSS (Linux ≥ 4.0, same user).
fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// Watches one process for the length of a scenario.
pub struct PeakWatch {
    pid: u32,
    reset: bool,
    stop: Arc<AtomicBool>,
    polled: Arc<AtomicU64>,
    poller: Option<JoinHandle<()>>,
}

impl PeakWatch {
    pub fn start(pid: u32) -> PeakWatch {
        let reset = reset_peak(pid);
        let stop = Arc::new(AtomicBool::new(false));
        let polled = Arc::new(AtomicU64::new(rss_kib(pid).unwrap_or(0)));
        let poller = {
            let (stop, polled) = (stop.clone(), polled.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(kib) = rss_kib(pid) {
                        polled.fetch_max(kib, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        PeakWatch {
            pid,
            reset,
            stop,
            polled,
            poller: Some(poller),
        }
    }

    /// The peak since `start`, in KiB.
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(p) = self.poller.take() {
            let _ = p.join();
        }
        let polled = self.polled.load(Ordering::Relaxed);
        let hwm = if self.reset {
            status_kib(self.pid, "VmHWM").unwrap_or(0)
        } else {
            0
        };
        polled.max(hwm)
    }
}

impl Drop for PeakWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
