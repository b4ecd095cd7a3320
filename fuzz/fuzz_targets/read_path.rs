//! Untrusted read and delete paths: parsing never panics, whatever the segments.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let segments: Vec<String> = text.split('/').map(str::to_owned).collect();
        let _ = databox_store::query::parse_read(&segments);
        let _ = databox_store::query::parse_delete(&segments);
        for s in &segments {
            let _ = databox_store::DatasourceId::new(s.as_str());
            let _ = databox_store::KvKey::new(s.as_str());
        }
    }
});
