//! Encryption keys: the box master key and the per-store keys it wraps.
//!
//! Each store's database file is encrypted by SQLCipher with its own random 256-bit key. That key
//! is kept only in `keys/<store>.key`, sealed (XChaCha20-Poly1305, the store id as associated
//! data) under the box master key. Erasing a store overwrites and deletes its key file, so a copy
//! of the database taken before can no longer be read (crypto-shredding).
//!
//! The master key comes from `master.key` (32 random bytes, mode 0600, created on first start) or,
//! when the owner prefers not to keep it on disk, from a passphrase through Argon2id with the salt
//! in `master.salt`; `master.check` holds a sealed constant so a wrong passphrase is refused with a
//! clear message instead of opening stores with garbage keys.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use zeroize::Zeroizing;

use crate::{StoreError, StoreId};

const SEALED_VERSION: u8 = 1;
const CHECK_PLAINTEXT: &[u8] = b"databox master key check v1";

/// A 256-bit secret key that is wiped from memory when dropped.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<[u8; 32]>);

impl SecretKey {
    /// A fresh random key from the OS generator.
    pub fn random() -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(k.as_mut());
        SecretKey(k)
    }

    fn from_slice(bytes: &[u8]) -> Option<Self> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(SecretKey(Zeroizing::new(arr)))
    }

    /// The key as lowercase hex, for SQLCipher's raw-key pragma.
    pub(crate) fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.as_ref()))
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// Where the master key comes from.
#[derive(Clone, Debug)]
pub enum MasterKeySource {
    /// `master.key` in the data directory, created on first start.
    KeyFile,
    /// Derived from this passphrase with Argon2id.
    Passphrase(Zeroizing<String>),
}

/// The box master key, which seals every store key.
pub struct MasterKey {
    key: SecretKey,
}

impl MasterKey {
    /// Loads (or on first start creates) the master key of the box in `data_dir`.
    pub fn load_or_create(data_dir: &Path, source: &MasterKeySource) -> Result<Self, StoreError> {
        let key_file = data_dir.join("master.key");
        let salt_file = data_dir.join("master.salt");
        let check_file = data_dir.join("master.check");
        let key = match source {
            MasterKeySource::KeyFile => {
                if salt_file.exists() {
                    return Err(StoreError::Crypto(
                        "this box was set up with a passphrase: set DATABOX_PASSPHRASE".into(),
                    ));
                }
                if key_file.exists() {
                    let bytes = Zeroizing::new(
                        fs::read(&key_file)
                            .map_err(|e| StoreError::io(format!("reading {}", key_file.display()), e))?,
                    );
                    SecretKey::from_slice(&bytes).ok_or_else(|| {
                        StoreError::Crypto(format!("{} is not a 32-byte key", key_file.display()))
                    })?
                } else {
                    let key = SecretKey::random();
                    write_private(&key_file, key.0.as_ref())?;
                    key
                }
            }
            MasterKeySource::Passphrase(pass) => {
                if key_file.exists() {
                    return Err(StoreError::Crypto(format!(
                        "this box keeps its master key in {}; unset DATABOX_PASSPHRASE",
                        key_file.display()
                    )));
                }
                if pass.len() < 12 {
                    return Err(StoreError::Crypto(
                        "the passphrase must be at least 12 characters".into(),
                    ));
                }
                let salt = if salt_file.exists() {
                    fs::read(&salt_file).map_err(|e| StoreError::io("reading master.salt", e))?
                } else {
                    let mut salt = vec![0u8; 16];
                    rand::rngs::OsRng.fill_bytes(&mut salt);
                    write_private(&salt_file, &salt)?;
                    salt
                };
                let mut out = Zeroizing::new([0u8; 32]);
                argon2::Argon2::default()
                    .hash_password_into(pass.as_bytes(), &salt, out.as_mut())
                    .map_err(|e| StoreError::Crypto(format!("deriving the master key: {e}")))?;
                SecretKey(out)
            }
        };
        let master = MasterKey { key };
        if check_file.exists() {
            let sealed = fs::read(&check_file).map_err(|e| StoreError::io("reading master.check", e))?;
            match master.open(&sealed, b"master-check") {
                Ok(plain) if plain.as_slice() == CHECK_PLAINTEXT => {}
                _ => {
                    return Err(StoreError::Crypto(
                        "the master key does not match this box (wrong passphrase or replaced master.key)"
                            .into(),
                    ));
                }
            }
        } else {
            write_private(&check_file, &master.seal(CHECK_PLAINTEXT, b"master-check")?)?;
        }
        Ok(master)
    }

    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, StoreError> {
        let cipher = XChaCha20Poly1305::new_from_slice(self.key.0.as_ref()).expect("32-byte key");
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .map_err(|_| StoreError::Crypto("sealing failed".into()))?;
        let mut out = Vec::with_capacity(1 + 24 + ct.len());
        out.push(SEALED_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        if sealed.len() < 1 + 24 + 16 || sealed[0] != SEALED_VERSION {
            return Err(StoreError::Crypto("sealed key has an unknown format".into()));
        }
        let cipher = XChaCha20Poly1305::new_from_slice(self.key.0.as_ref()).expect("32-byte key");
        cipher
            .decrypt(
                XNonce::from_slice(&sealed[1..25]),
                Payload {
                    msg: &sealed[25..],
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| StoreError::Crypto("a sealed key does not open with this master key".into()))
    }

    /// Creates a new key for `store` and seals it into `path`.
    pub(crate) fn create_store_key(&self, store: &StoreId, path: &Path) -> Result<SecretKey, StoreError> {
        let key = SecretKey::random();
        write_private(path, &self.seal(key.0.as_ref(), store.as_str().as_bytes())?)?;
        Ok(key)
    }

    /// Opens the sealed key of `store` from `path`.
    pub(crate) fn load_store_key(&self, store: &StoreId, path: &Path) -> Result<SecretKey, StoreError> {
        let sealed =
            fs::read(path).map_err(|e| StoreError::io(format!("reading the key of store {store}"), e))?;
        let plain = self.open(&sealed, store.as_str().as_bytes())?;
        SecretKey::from_slice(&plain)
            .ok_or_else(|| StoreError::Crypto(format!("the key of store {store} is malformed")))
    }
}

/// Overwrites a key file with zeros, syncs, and removes it, so the key is gone from the file
/// system's live data (the best a user-space program can do on copy-on-write or SSD media).
pub(crate) fn shred(path: &Path) -> Result<(), StoreError> {
    if let Ok(meta) = fs::metadata(path) {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| StoreError::io(format!("opening {} to shred it", path.display()), e))?;
        f.write_all(&vec![0u8; meta.len() as usize])
            .and_then(|_| f.sync_all())
            .map_err(|e| StoreError::io(format!("shredding {}", path.display()), e))?;
        fs::remove_file(path).map_err(|e| StoreError::io(format!("removing {}", path.display()), e))?;
    }
    Ok(())
}

/// Writes a new secret file readable by the owner only, durably (file and folder synced).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    write_private_file(path, bytes).map_err(|e| StoreError::io(format!("writing {}", path.display()), e))
}

/// Replaces `path` with `bytes` atomically and durably (written beside it, synced, renamed, the
/// folder synced), readable by the owner only. The box's one way to write a state or key file.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp: PathBuf = path.with_extension("tmp");
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreId::new("s").unwrap();
        let m1 = MasterKey::load_or_create(dir.path(), &MasterKeySource::KeyFile).unwrap();
        let k = m1.create_store_key(&store, &dir.path().join("s.key")).unwrap();
        let m2 = MasterKey::load_or_create(dir.path(), &MasterKeySource::KeyFile).unwrap();
        let k2 = m2.load_store_key(&store, &dir.path().join("s.key")).unwrap();
        assert_eq!(k.to_hex(), k2.to_hex());
    }

    #[test]
    fn sealed_key_is_bound_to_its_store() {
        let dir = tempfile::tempdir().unwrap();
        let m = MasterKey::load_or_create(dir.path(), &MasterKeySource::KeyFile).unwrap();
        m.create_store_key(&StoreId::new("a").unwrap(), &dir.path().join("a.key"))
            .unwrap();
        let err = m
            .load_store_key(&StoreId::new("b").unwrap(), &dir.path().join("a.key"))
            .unwrap_err();
        assert!(err.to_string().contains("does not open"), "{err}");
    }

    #[test]
    fn wrong_passphrase_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let good = MasterKeySource::Passphrase(Zeroizing::new("correct horse battery".into()));
        let bad = MasterKeySource::Passphrase(Zeroizing::new("wrong horse battery".into()));
        MasterKey::load_or_create(dir.path(), &good).unwrap();
        MasterKey::load_or_create(dir.path(), &good).unwrap();
        let err = MasterKey::load_or_create(dir.path(), &bad)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("wrong passphrase"), "{err}");
        let err = MasterKey::load_or_create(dir.path(), &MasterKeySource::KeyFile)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("DATABOX_PASSPHRASE"), "{err}");
    }
}
