//! The `host-metrics` import: the box machine's load, memory and disk, read by the host (the
//! component has no files), for the first-party host-metrics driver. Linked only for a driver
//! whose manifest asks for it; each call then passes the arbiter's one check against the grant
//! to read `box/host-metrics` that the owner approved at install.

use databox_arbiter::{DataRequest, Operation};
use databox_audit::{Event, Outcome};
use databox_store::{BOX_STORE, DatasourceId, HOST_METRICS, StoreId};

use super::HostState;
use super::bindings::databox::component::host_metrics::{Host, Measurement};
use super::bindings::databox::component::types::Error;

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
    /// Measures the machine, if the owner's grant allows it; like every other import, each call
    /// is checked and audited.
    fn measure(&mut self) -> Result<Measurement, Error> {
        let store = StoreId::new(BOX_STORE).expect("a valid store id");
        let datasources = [DatasourceId::new(HOST_METRICS).expect("a valid datasource id")];
        let request = DataRequest {
            operation: Operation::Read,
            store: &store,
            datasources: &datasources,
            read: None,
        };
        let audit = |outcome, detail: String, count| {
            self.ctx.env.audit.record(Event {
                detail: Some(detail),
                count,
                outcome: Some(outcome),
                ..Event::access(&self.ctx.name, "read")
            })
        };
        if let Err(denial) = self.ctx.env.arbiter.authorize(&self.ctx.caller, &request) {
            audit(Outcome::Refused, denial.reason.clone(), None);
            return Err(Error::Denied(denial.reason));
        }
        let (memory_used_bytes, memory_total_bytes) = memory();
        let (disk_used_bytes, disk_total_bytes) = disk(&self.ctx.env.data_dir);
        audit(Outcome::Ok, MEASURED.into(), Some(5));
        Ok(Measurement {
            load_one_minute: load_one_minute(),
            memory_used_bytes,
            memory_total_bytes,
            disk_used_bytes,
            disk_total_bytes,
        })
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
