//! Sending data out of the box (apps only): the only way data leaves it, through the export
//! service, to destinations the owner approved in the manifest's `[[exports]]`.

use serde::Serialize;

use crate::Result;
use crate::bindings::databox::component::data_export as wit;

/// Asks the export service to send `body` to `destination` (an approved URL or under an approved
/// prefix). Returns the export's id; delivery, retries and receipts are the service's. Refused
/// destinations are never contacted.
pub fn send(destination: &str, content_type: &str, body: &[u8]) -> Result<String> {
    Ok(wit::send(destination, content_type, body)?)
}

/// Sends `value` as JSON (`application/json`).
pub fn send_json<T: Serialize + ?Sized>(destination: &str, value: &T) -> Result<String> {
    send(destination, "application/json", &serde_json::to_vec(value)?)
}
