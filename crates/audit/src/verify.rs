//! `databox audit verify`: recompute the chain, check every signature, and compare the log's end
//! with the checkpoint kept outside it.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::Serialize;

use crate::AuditError;
use crate::log::{CHECKPOINT_FILE, Checkpoint, LOG_FILE, PUBLIC_FILE, checkpoint_message};
use crate::record::{Kind, Record};

/// What verification found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VerifyReport {
    /// Records read.
    pub records: u64,
    /// Signed checkpoints that verified.
    pub checkpoints: u64,
    /// The first problem: the line number (from 1) and what is wrong. `None` means intact.
    pub first_bad: Option<(u64, String)>,
}

impl VerifyReport {
    /// True when the whole log verified.
    pub fn is_intact(&self) -> bool {
        self.first_bad.is_none()
    }
}

fn read_key(dir: &Path) -> Result<VerifyingKey, AuditError> {
    let path = dir.join(PUBLIC_FILE);
    let text =
        fs::read_to_string(&path).map_err(|e| AuditError::io(format!("reading {}", path.display()), e))?;
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| AuditError::Tampered(format!("{} is not a public key", path.display())))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| AuditError::Tampered(format!("{}: {e}", path.display())))
}

fn signature_ok(key: &VerifyingKey, seq: u64, hash: &str, signature_hex: &str) -> bool {
    let Some(bytes) = hex::decode(signature_hex)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
    else {
        return false;
    };
    key.verify(&checkpoint_message(seq, hash), &Signature::from_bytes(&bytes))
        .is_ok()
}

/// Verifies the log in `dir` with the box's public key.
pub fn verify(dir: &Path) -> Result<VerifyReport, AuditError> {
    let key = read_key(dir)?;
    let path = dir.join(LOG_FILE);
    let file = fs::File::open(&path).map_err(|e| AuditError::io(format!("reading {}", path.display()), e))?;
    let mut report = VerifyReport {
        records: 0,
        checkpoints: 0,
        first_bad: None,
    };
    let mut prev_hash = "0".repeat(64);
    let mut prev_seq = 0u64;
    // Hashes of recent records, to check what each checkpoint signed.
    let mut hashes: std::collections::HashMap<u64, String> = std::collections::HashMap::new();
    let bad = |line: u64, why: String, report: &mut VerifyReport| {
        if report.first_bad.is_none() {
            report.first_bad = Some((line, why));
        }
    };
    for (i, line) in BufReader::new(file).split(b'\n').enumerate() {
        let n = i as u64 + 1;
        let line = line.map_err(|e| AuditError::io("reading the audit log", e))?;
        report.records = n;
        let r: Record = match serde_json::from_slice(&line) {
            Ok(r) => r,
            Err(e) => {
                bad(n, format!("record {n} is not a valid record ({e})"), &mut report);
                break;
            }
        };
        if r.seq != prev_seq + 1 {
            let why = if r.seq <= prev_seq {
                format!(
                    "record {n} has sequence number {} after {prev_seq}: records were reordered or repeated",
                    r.seq
                )
            } else {
                format!(
                    "record {n} has sequence number {} after {prev_seq}: records were removed",
                    r.seq
                )
            };
            bad(n, why, &mut report);
            break;
        }
        if r.prev != prev_hash {
            bad(
                n,
                format!(
                    "record {n} (seq {}) does not follow the record before it: the chain is broken",
                    r.seq
                ),
                &mut report,
            );
            break;
        }
        if r.compute_hash() != r.hash {
            bad(
                n,
                format!(
                    "record {n} (seq {}) was changed after it was written: its hash does not match",
                    r.seq
                ),
                &mut report,
            );
            break;
        }
        if r.kind == Kind::Checkpoint {
            let covered = r.count.unwrap_or(0);
            let signed_ok = hashes
                .get(&covered)
                .is_some_and(|h| signature_ok(&key, covered, h, r.detail.as_deref().unwrap_or("")));
            if !signed_ok {
                bad(
                    n,
                    format!("record {n} is a checkpoint whose signature does not verify"),
                    &mut report,
                );
                break;
            }
            report.checkpoints += 1;
            hashes.clear();
        }
        hashes.insert(r.seq, r.hash.clone());
        prev_hash = r.hash;
        prev_seq = r.seq;
    }
    if report.first_bad.is_none() {
        let cp_path = dir.join(CHECKPOINT_FILE);
        if let Ok(text) = fs::read(&cp_path) {
            let cp: Checkpoint = serde_json::from_slice(&text)
                .map_err(|e| AuditError::Tampered(format!("{} is damaged: {e}", cp_path.display())))?;
            if !signature_ok(&key, cp.seq, &cp.hash, &cp.signature) {
                report.first_bad = Some((
                    0,
                    format!("{} does not carry a valid signature", cp_path.display()),
                ));
            } else if cp.seq > prev_seq {
                report.first_bad = Some((
                    prev_seq + 1,
                    format!(
                        "the log ends at record {prev_seq} but the last signed checkpoint covers record {}: \
                         the tail was cut",
                        cp.seq
                    ),
                ));
            }
        }
    }
    Ok(report)
}
