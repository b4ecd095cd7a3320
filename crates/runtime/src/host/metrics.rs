//! The `host-metrics` import: the box machine's load, memory and disk, read by the host (the
//! component has no files), for the first-party host-metrics driver.

use databox_audit::{Event, Outcome};

use super::HostState;
use super::bindings::databox::component::host_metrics::{Host, Measurement};

/// The 1-minute load average from `/proc/loadavg`.
fn load_one_minute() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// `(used, total)` memory in bytes from `/proc/meminfo` (used = total - available).
fn memory() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(name)?
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map(|kb| kb * 1024)
    };
    let total = field("MemTotal:").unwrap_or(0);
    let available = field("MemAvailable:").unwrap_or(total);
    (total.saturating_sub(available), total)
}

/// `(used, total)` bytes of the file system holding `path` (zeros if it cannot be read).
pub fn disk(path: &std::path::Path) -> (u64, u64) {
    match rustix::fs::statvfs(path) {
        Ok(s) => {
            let total = s.f_blocks * s.f_frsize;
            let free = s.f_bfree * s.f_frsize;
            (total.saturating_sub(free), total)
        }
        Err(_) => (0, 0),
    }
}

/// What a measurement reads, as the audit log and the owner's statement name it.
pub const MEASURED: &str = "the load, memory and disk of the box's machine";

impl Host for HostState {
    /// Measures the machine. Only a driver whose manifest asks for `host.metrics` (approved at
    /// install) is linked to this import; like every other import, each call is audited.
    fn measure(&mut self) -> Measurement {
        let (memory_used_bytes, memory_total_bytes) = memory();
        let (disk_used_bytes, disk_total_bytes) = disk(&self.ctx.env.data_dir);
        self.ctx.env.audit.record(Event {
            detail: Some(MEASURED.into()),
            count: Some(5),
            outcome: Some(Outcome::Ok),
            ..Event::access(&self.ctx.name, "read")
        });
        Measurement {
            load_one_minute: load_one_minute(),
            memory_used_bytes,
            memory_total_bytes,
            disk_used_bytes,
            disk_total_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_measurements_are_plausible() {
        let (used, total) = super::memory();
        assert!(total > 0 && used > 0 && used < total, "{used} {total}");
        let (used, total) = super::disk(std::path::Path::new("/"));
        assert!(total > 0 && used <= total, "{used} {total}");
        assert!(super::load_one_minute() >= 0.0);
    }
}
