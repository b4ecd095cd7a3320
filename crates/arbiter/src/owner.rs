//! The owner's bearer token.

use std::fs;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::ArbiterError;

/// Every owner token starts with this, so a leaked one is easy to recognise in a scan.
pub const TOKEN_PREFIX: &str = "dbx_owner_";
const HASH_FILE: &str = "owner-token.sha256";

/// The hash of the owner's token, as the box keeps it.
pub struct OwnerToken {
    hash: [u8; 32],
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl OwnerToken {
    /// Loads the owner token's hash; on first start creates a token and returns it too, so the
    /// caller can show it to the owner once.
    pub fn load_or_create(data_dir: &Path) -> Result<(OwnerToken, Option<Zeroizing<String>>), ArbiterError> {
        let path = data_dir.join(HASH_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => {
                let bytes = decode_hex(text.trim()).ok_or_else(|| ArbiterError::Corrupt(path.clone()))?;
                Ok((OwnerToken { hash: bytes }, None))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (t, token) = Self::reset(data_dir)?;
                Ok((t, Some(token)))
            }
            Err(e) => Err(ArbiterError::Io {
                context: format!("reading {}", path.display()),
                source: e,
            }),
        }
    }

    /// Replaces the owner token with a new one (the old one stops working) and returns it.
    pub fn reset(data_dir: &Path) -> Result<(OwnerToken, Zeroizing<String>), ArbiterError> {
        let mut raw = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(raw.as_mut());
        let token = Zeroizing::new(format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw.as_ref())
        ));
        let h = hash(&token);
        let path = data_dir.join(HASH_FILE);
        let tmp = data_dir.join(format!("{HASH_FILE}.tmp"));
        let io = |e| ArbiterError::Io {
            context: format!("writing {}", path.display()),
            source: e,
        };
        fs::create_dir_all(data_dir).map_err(io)?;
        let mut f = fs::File::create(&tmp).map_err(io)?;
        let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
        f.write_all(hex.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(io)?;
        fs::rename(&tmp, &path).map_err(io)?;
        Ok((OwnerToken { hash: h }, token))
    }

    /// Whether `presented` is the owner's token, in time independent of where it differs.
    pub fn verify(&self, presented: &str) -> bool {
        hash(presented).ct_eq(&self.hash).into()
    }
}

fn decode_hex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_shown_once_and_verifies_after_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (t1, shown) = OwnerToken::load_or_create(dir.path()).unwrap();
        let token = shown.expect("first start shows the token");
        assert!(token.starts_with(TOKEN_PREFIX));
        assert!(t1.verify(&token));
        let (t2, shown_again) = OwnerToken::load_or_create(dir.path()).unwrap();
        assert!(shown_again.is_none());
        assert!(t2.verify(&token));
        assert!(!t2.verify("dbx_owner_wrong"));
        assert!(!t2.verify(""));
        let stored = fs::read_to_string(dir.path().join(HASH_FILE)).unwrap();
        assert!(!stored.contains(&token[TOKEN_PREFIX.len()..]));
    }

    #[test]
    fn reset_revokes_the_old_token() {
        let dir = tempfile::tempdir().unwrap();
        let (_, old) = OwnerToken::load_or_create(dir.path()).unwrap();
        let (t, new) = OwnerToken::reset(dir.path()).unwrap();
        assert!(t.verify(&new));
        assert!(!t.verify(&old.unwrap()));
    }

    #[test]
    fn damaged_hash_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(HASH_FILE), "nonsense").unwrap();
        let err = OwnerToken::load_or_create(dir.path()).err().unwrap().to_string();
        assert!(err.contains("damaged"), "{err}");
    }
}
