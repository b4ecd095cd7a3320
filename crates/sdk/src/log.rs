//! The component's log, shown to the owner. Log what happened, never data values.
//!
//! Outside WebAssembly (native unit tests) lines go to standard error instead of the box.

use crate::bindings::databox::component::log as wit;

/// How important a line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Detail for the component's author.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that the component survived.
    Warn,
    /// Something failed.
    Error,
}

/// Writes a line at `level`.
pub fn write(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        let level = match level {
            Level::Debug => wit::Level::Debug,
            Level::Info => wit::Level::Info,
            Level::Warn => wit::Level::Warn,
            Level::Error => wit::Level::Error,
        };
        wit::write(level, message);
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = wit::write;
        eprintln!("[{level:?}] {message}");
    }
}

/// Writes a debug line.
pub fn debug(message: &str) {
    write(Level::Debug, message);
}

/// Writes an info line.
pub fn info(message: &str) {
    write(Level::Info, message);
}

/// Writes a warning.
pub fn warn(message: &str) {
    write(Level::Warn, message);
}

/// Writes an error line.
pub fn error(message: &str) {
    write(Level::Error, message);
}

/// Logs a formatted debug line: `databox_sdk::debug!("read {} rows", n)`.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::debug(&::std::format!($($arg)*)) };
}

/// Logs a formatted info line: `databox_sdk::info!("started, every {}s", secs)`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::info(&::std::format!($($arg)*)) };
}

/// Logs a formatted warning: `databox_sdk::warn!("retrying: {e}")`.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::warn(&::std::format!($($arg)*)) };
}

/// Logs a formatted error line: `databox_sdk::error!("the read failed: {e}")`.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::error(&::std::format!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    #[test]
    fn logs_natively_without_the_box() {
        crate::info!("{} and {}", 1, "two");
        crate::warn!("w");
        crate::debug!("d");
        crate::error!("e");
        assert!(super::Level::Debug < super::Level::Error);
    }
}
