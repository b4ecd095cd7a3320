//! Untrusted component manifests (TOML from a third-party author): parsing never panics, and
//! neither does the owner's review of what parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(m) = databox_runtime::Manifest::parse(text)
    {
        assert!(m.review().len() >= 3);
    }
});
