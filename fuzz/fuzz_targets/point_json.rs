//! Untrusted point bodies: parsing never panics and accepted points are finite with string tags.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(p) = databox_store::NumericPoint::from_row_json(&v) {
            assert!(p.value.is_finite());
        }
        let _ = databox_store::BlobPoint::from_row_json(&v);
    }
});
