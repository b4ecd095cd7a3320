//! The host-metrics driver: every 10 seconds it measures the box host (through the
//! `host-metrics` import, granted to this driver alone by its manifest's `[host] metrics = true`)
//! and writes the measurement to the five numeric datasources it provides in its own store.

use databox_sdk::host_metrics::{self, Measurement};
use databox_sdk::{Component, Datasource, Result, time};

/// The value of a measurement that one datasource holds.
pub type Reading = fn(&Measurement) -> f64;

/// The datasources it provides (see `manifest.toml`) and the value of a measurement each holds.
pub const SERIES: [(&str, Reading); 5] = [
    ("cpu-load", |m| m.load_one_minute),
    ("memory-used", |m| m.memory_used_bytes as f64),
    ("memory-total", |m| m.memory_total_bytes as f64),
    ("disk-used", |m| m.disk_used_bytes as f64),
    ("disk-total", |m| m.disk_total_bytes as f64),
];

/// The points one measurement becomes: `(datasource, value)`, in the order of [`SERIES`].
pub fn points(m: &Measurement) -> Vec<(&'static str, f64)> {
    SERIES.iter().map(|(id, value)| (*id, value(m))).collect()
}

struct HostMetrics;

impl Component for HostMetrics {
    fn start() -> Result<()> {
        databox_sdk::info!("measuring the box host every 10 seconds");
        Ok(())
    }

    fn on_timer() -> Result<()> {
        let m = host_metrics::measure()?;
        // One timestamp for the five points, so they line up when charted together.
        let now = time::now_ms();
        for (id, value) in points(&m) {
            Datasource::named(id).write_value_at(now, value)?;
        }
        Ok(())
    }
}

databox_sdk::export_component!(HostMetrics);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_measurement_is_one_point_per_provided_series() {
        let m = Measurement {
            load_one_minute: 0.25,
            memory_used_bytes: 1 << 30,
            memory_total_bytes: 4 << 30,
            disk_used_bytes: 10,
            disk_total_bytes: 100,
        };
        assert_eq!(
            points(&m),
            vec![
                ("cpu-load", 0.25),
                ("memory-used", (1u64 << 30) as f64),
                ("memory-total", (4u64 << 30) as f64),
                ("disk-used", 10.0),
                ("disk-total", 100.0),
            ]
        );
    }

    #[test]
    fn the_manifest_provides_exactly_the_series_written() {
        let manifest = include_str!("../manifest.toml");
        for (id, _) in SERIES {
            assert!(
                manifest.contains(&format!("id = \"{id}\"")),
                "{id} is not provided"
            );
        }
        assert_eq!(manifest.matches("[[provides]]").count(), SERIES.len());
    }
}
