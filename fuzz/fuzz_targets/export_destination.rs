//! Untrusted export destinations: normalising and checking never panic, and an approval never
//! lets through a destination outside it: the approved URL itself (in any spelling), or one under
//! an approved prefix ending in `/` on the same scheme, host and port, whose path no server
//! percent-decoding it could read as climbing out of the prefix.
//!
//! The input is two strings split at the first 0xFF byte (never part of UTF-8): an approval and
//! a destination. The destination is tried alone and appended to the approval, so the fuzzer
//! reaches destinations under the approval without having to guess its prefix.
#![no_main]

use databox_export::{check_destination, is_approved, normalize};
use libfuzzer_sys::fuzz_target;

/// The segments of a path as the most lenient server could act on them: percent-decoded until
/// nothing is left to decode, `\` read as `/`, `;parameters` dropped, empty and `.` segments
/// dropped, `..` climbing.
fn served(path: &str) -> Vec<Vec<u8>> {
    let mut bytes = path.as_bytes().to_vec();
    loop {
        let decoded: Vec<u8> = percent_encoding::percent_decode(&bytes).collect();
        if decoded == bytes {
            break;
        }
        bytes = decoded;
    }
    let mut out: Vec<Vec<u8>> = Vec::new();
    for seg in bytes.split(|b| *b == b'/' || *b == b'\\') {
        match seg.split(|b| *b == b';').next().unwrap_or_default() {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            s => out.push(s.to_vec()),
        }
    }
    out
}

fn check(approved: &str, destination: &str) {
    let _ = check_destination(destination);
    if let Some(n) = normalize(destination) {
        assert_eq!(
            normalize(&n).as_deref(),
            Some(n.as_str()),
            "normalising {destination:?} is not stable"
        );
    }
    if !is_approved(approved, destination) {
        return;
    }
    let a = normalize(approved).expect("an approval that does not normalise approved something");
    let d = normalize(destination).expect("a destination that does not normalise was approved");
    if d == a {
        return;
    }
    assert!(a.ends_with('/') && d.starts_with(&a), "{a} approved {d}");
    let (au, du) = (url::Url::parse(&a).unwrap(), url::Url::parse(&d).unwrap());
    assert_eq!(au.scheme(), du.scheme(), "{a} approved {d}");
    assert_eq!(au.host(), du.host(), "{a} approved {d}");
    assert_eq!(
        au.port_or_known_default(),
        du.port_or_known_default(),
        "{a} approved {d}"
    );
    assert!(
        served(du.path()).starts_with(&served(au.path())),
        "{a} approved {d}, which a server may read as outside it"
    );
}

fuzz_target!(|data: &[u8]| {
    let (a, d) = match data.iter().position(|b| *b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let (a, d) = (String::from_utf8_lossy(a), String::from_utf8_lossy(d));
    let _ = check_destination(&a);
    check(&a, &a);
    check(&a, &d);
    check(&a, &format!("{a}{d}"));
});
