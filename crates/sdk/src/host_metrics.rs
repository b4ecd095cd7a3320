//! The box host's own measurements, for a driver whose manifest asks for them with
//! `[host] metrics = true` (the first-party host-metrics driver). Each call is checked against
//! the owner's grant to read `box/host-metrics`, made at install, which the owner can revoke.

use crate::Result;
use crate::bindings::databox::component::host_metrics as wit;

/// One measurement of the host.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measurement {
    /// The 1-minute load average.
    pub load_one_minute: f64,
    /// Memory in use, bytes.
    pub memory_used_bytes: u64,
    /// Memory in total, bytes.
    pub memory_total_bytes: u64,
    /// Disk space in use where the box keeps its data, bytes.
    pub disk_used_bytes: u64,
    /// Disk space in total there, bytes.
    pub disk_total_bytes: u64,
}

/// Measures the host now; [`crate::Error::Denied`] once the owner has revoked the grant.
pub fn measure() -> Result<Measurement> {
    let m = wit::measure()?;
    Ok(Measurement {
        load_one_minute: m.load_one_minute,
        memory_used_bytes: m.memory_used_bytes,
        memory_total_bytes: m.memory_total_bytes,
        disk_used_bytes: m.disk_used_bytes,
        disk_total_bytes: m.disk_total_bytes,
    })
}
