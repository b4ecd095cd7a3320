//! The owner's dashboard login: a password (Argon2id, kept as its PHC string), one-time login
//! links, and sessions.
//!
//! A session id is 32 random bytes given to the browser once, in an HTTP-only cookie; the box
//! keeps only its SHA-256, beside a CSRF token the dashboard sends back on every change. Sessions
//! are saved (hashes only) so a box restart does not log the owner out.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::ArbiterError;

const PASSWORD_FILE: &str = "owner-password.phc";
const SESSIONS_FILE: &str = "owner-sessions.json";
/// Shortest password the box accepts.
pub const MIN_PASSWORD_LEN: usize = 10;
/// A session unused for this long ends.
pub const SESSION_IDLE_MS: i64 = 24 * 3600 * 1000;
/// A session ends this long after it began, used or not.
pub const SESSION_MAX_MS: i64 = 30 * 24 * 3600 * 1000;
/// How long a one-time login link stays valid.
pub const LINK_TTL_MS: i64 = 15 * 60 * 1000;
/// Failed password attempts allowed before the box makes the next one wait.
const FREE_FAILURES: u32 = 5;

/// One logged-in browser, as the box keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SessionRecord {
    csrf: String,
    created_ms: i64,
    last_used_ms: i64,
}

/// What a request presenting a live session learns.
#[derive(Clone, Debug)]
pub struct Session {
    /// The token the dashboard must send back with every change (`X-CSRF-Token`).
    pub csrf: String,
    /// When the session began (epoch ms).
    pub created_ms: i64,
}

/// A session just opened: the cookie value, shown once, and its CSRF token.
pub struct NewSession {
    /// The cookie value (the box keeps only its hash).
    pub id: Zeroizing<String>,
    /// Its CSRF token.
    pub csrf: String,
}

/// Why a login was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// No password has been set yet: use the one-time link the box printed.
    #[error(
        "no password is set yet: open the one-time link the box printed, or run `databox dashboard link`"
    )]
    NoPassword,
    /// The password is wrong.
    #[error("that is not the password of this box")]
    WrongPassword,
    /// Too many wrong passwords in a row.
    #[error("too many wrong passwords: try again in {0} s")]
    Throttled(u64),
    /// The link is unknown, used or expired.
    #[error(
        "this link is not valid (it works once, for 15 minutes): ask the box for a new one with `databox dashboard link`"
    )]
    BadLink,
    /// The new password is unacceptable.
    #[error("{0}")]
    WeakPassword(String),
    /// Saving failed.
    #[error(transparent)]
    Arbiter(#[from] ArbiterError),
}

#[derive(Default)]
struct Throttle {
    failures: u32,
    last_failure_ms: i64,
}

/// The owner's password, one-time links and sessions.
pub struct OwnerLogin {
    dir: PathBuf,
    password: Mutex<Option<String>>,
    sessions: Mutex<HashMap<String, SessionRecord>>,
    links: Mutex<HashMap<String, i64>>,
    throttle: Mutex<Throttle>,
}

fn hash_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn random_secret() -> Zeroizing<String> {
    let mut raw = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(raw.as_mut());
    Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw.as_ref()))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ArbiterError + '_ {
    move |e| ArbiterError::Io {
        context: format!("reading {}", path.display()),
        source: e,
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, ArbiterError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

impl OwnerLogin {
    /// Loads the password hash and saved sessions of the box in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<OwnerLogin, ArbiterError> {
        let password_path = data_dir.join(PASSWORD_FILE);
        let password = read_optional(&password_path)?.map(|s| s.trim().to_owned());
        if let Some(p) = &password {
            PasswordHash::new(p).map_err(|e| {
                ArbiterError::Invalid(format!(
                    "{} is damaged ({e}); delete it and log in with `databox dashboard link` to set a new password",
                    password_path.display()
                ))
            })?;
        }
        let sessions_path = data_dir.join(SESSIONS_FILE);
        // Damaged session records cost the owner a login, never the box its start.
        let sessions = read_optional(&sessions_path)?
            .and_then(|s| match serde_json::from_str(&s) {
                Ok(v) => Some(v),
                Err(e) => {
                    tracing::warn!("{} is damaged ({e}); every session ends", sessions_path.display());
                    None
                }
            })
            .unwrap_or_default();
        Ok(OwnerLogin {
            dir: data_dir.to_owned(),
            password: Mutex::new(password),
            sessions: Mutex::new(sessions),
            links: Mutex::new(HashMap::new()),
            throttle: Mutex::new(Throttle::default()),
        })
    }

    /// Whether the owner has set a password.
    pub fn has_password(&self) -> bool {
        self.password.lock().expect("login lock").is_some()
    }

    /// Sets (or replaces) the owner's password. Every other session ends when it changes.
    pub fn set_password(&self, new: &str, keep_session: Option<&str>) -> Result<(), LoginError> {
        check_password(new)?;
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let phc = Argon2::default()
            .hash_password(new.as_bytes(), &salt)
            .map_err(|e| ArbiterError::Invalid(format!("hashing the password: {e}")))?
            .to_string();
        crate::arbiter::write_atomic(&self.dir.join(PASSWORD_FILE), phc.as_bytes())?;
        *self.password.lock().expect("login lock") = Some(phc);
        let keep = keep_session.map(hash_hex);
        self.change_sessions(|s| s.retain(|k, _| Some(k) == keep.as_ref()))?;
        Ok(())
    }

    /// Opens a session for the right password. After [`FREE_FAILURES`] wrong ones in a row,
    /// each further attempt must wait twice as long as the one before (up to five minutes).
    pub fn login_with_password(&self, password: &str, now_ms: i64) -> Result<NewSession, LoginError> {
        let Some(phc) = self.password.lock().expect("login lock").clone() else {
            return Err(LoginError::NoPassword);
        };
        {
            let t = self.throttle.lock().expect("login lock");
            if t.failures >= FREE_FAILURES {
                let wait_ms = (1000i64 << (t.failures - FREE_FAILURES).min(8)).min(300_000);
                let ready = t.last_failure_ms + wait_ms;
                if now_ms < ready {
                    return Err(LoginError::Throttled(((ready - now_ms) as u64).div_ceil(1000)));
                }
            }
        }
        let parsed = PasswordHash::new(&phc).map_err(|e| ArbiterError::Invalid(e.to_string()))?;
        if Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_err()
        {
            let mut t = self.throttle.lock().expect("login lock");
            t.failures += 1;
            t.last_failure_ms = now_ms;
            return Err(LoginError::WrongPassword);
        }
        *self.throttle.lock().expect("login lock") = Throttle::default();
        Ok(self.open_session(now_ms)?)
    }

    /// A new one-time login link code, valid for [`LINK_TTL_MS`].
    pub fn new_link(&self, now_ms: i64) -> Zeroizing<String> {
        let code = random_secret();
        let mut links = self.links.lock().expect("login lock");
        links.retain(|_, expires| *expires > now_ms);
        links.insert(hash_hex(&code), now_ms + LINK_TTL_MS);
        code
    }

    /// Whether `code` is a live link (without using it up).
    pub fn link_is_valid(&self, code: &str, now_ms: i64) -> bool {
        let h = hash_hex(code);
        let links = self.links.lock().expect("login lock");
        links
            .iter()
            .any(|(k, expires)| bool::from(k.as_bytes().ct_eq(h.as_bytes())) && *expires > now_ms)
    }

    /// Uses up a one-time link and opens a session.
    pub fn login_with_link(&self, code: &str, now_ms: i64) -> Result<NewSession, LoginError> {
        let h = hash_hex(code);
        let found = {
            let mut links = self.links.lock().expect("login lock");
            let key = links
                .keys()
                .find(|k| bool::from(k.as_bytes().ct_eq(h.as_bytes())))
                .cloned();
            key.and_then(|k| links.remove(&k))
                .filter(|expires| *expires > now_ms)
        };
        if found.is_none() {
            return Err(LoginError::BadLink);
        }
        Ok(self.open_session(now_ms)?)
    }

    fn open_session(&self, now_ms: i64) -> Result<NewSession, ArbiterError> {
        let id = random_secret();
        let csrf = random_secret().to_string();
        let record = SessionRecord {
            csrf: csrf.clone(),
            created_ms: now_ms,
            last_used_ms: now_ms,
        };
        let key = hash_hex(&id);
        self.change_sessions(|s| {
            s.retain(|_, r| live(r, now_ms));
            s.insert(key, record);
        })?;
        Ok(NewSession { id, csrf })
    }

    /// The live session with cookie value `id`, if any. Use keeps it alive (saved at most once a
    /// minute, so that browsing does not write on every request).
    pub fn session(&self, id: &str, now_ms: i64) -> Option<Session> {
        let key = hash_hex(id);
        let mut sessions = self.sessions.lock().expect("login lock");
        let record = sessions.get_mut(&key)?;
        if !live(record, now_ms) {
            sessions.remove(&key);
            return None;
        }
        let stale = now_ms - record.last_used_ms > 60_000;
        record.last_used_ms = now_ms;
        let session = Session {
            csrf: record.csrf.clone(),
            created_ms: record.created_ms,
        };
        if stale {
            let snapshot = sessions.clone();
            drop(sessions);
            if let Err(e) = self.save_sessions(&snapshot) {
                tracing::warn!("could not save sessions: {e}");
            }
        }
        Some(session)
    }

    /// Ends the session with cookie value `id`.
    pub fn logout(&self, id: &str) -> Result<(), ArbiterError> {
        let key = hash_hex(id);
        self.change_sessions(|s| {
            s.remove(&key);
        })
    }

    /// How many sessions are live.
    pub fn session_count(&self, now_ms: i64) -> usize {
        let sessions = self.sessions.lock().expect("login lock");
        sessions.values().filter(|r| live(r, now_ms)).count()
    }

    fn change_sessions(
        &self,
        f: impl FnOnce(&mut HashMap<String, SessionRecord>),
    ) -> Result<(), ArbiterError> {
        let mut sessions = self.sessions.lock().expect("login lock");
        f(&mut sessions);
        self.save_sessions(&sessions)
    }

    fn save_sessions(&self, sessions: &HashMap<String, SessionRecord>) -> Result<(), ArbiterError> {
        crate::arbiter::write_atomic(
            &self.dir.join(SESSIONS_FILE),
            &serde_json::to_vec(sessions).expect("sessions serialize"),
        )
    }
}

/// Whether the box accepts `password` as the owner's new password.
pub fn check_password(password: &str) -> Result<(), LoginError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(LoginError::WeakPassword(format!(
            "the password must have at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    if password.len() > 1024 {
        return Err(LoginError::WeakPassword(
            "the password is longer than 1024 bytes".into(),
        ));
    }
    Ok(())
}

fn live(r: &SessionRecord, now_ms: i64) -> bool {
    now_ms - r.last_used_ms < SESSION_IDLE_MS && now_ms - r.created_ms < SESSION_MAX_MS
}

/// Whether two secrets are equal, in time independent of where they differ.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000_000;

    #[test]
    fn first_login_is_by_link_then_by_password_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let login = OwnerLogin::open(dir.path()).unwrap();
        assert!(!login.has_password());
        assert!(matches!(
            login.login_with_password("anything", T0),
            Err(LoginError::NoPassword)
        ));
        let code = login.new_link(T0);
        assert!(login.link_is_valid(&code, T0));
        let s = login.login_with_link(&code, T0).unwrap();
        assert!(
            matches!(login.login_with_link(&code, T0), Err(LoginError::BadLink)),
            "links work once"
        );
        assert!(matches!(
            login.set_password("short", Some(&s.id)),
            Err(LoginError::WeakPassword(_))
        ));
        login.set_password("correct horse battery", Some(&s.id)).unwrap();
        let stored = fs::read_to_string(dir.path().join(PASSWORD_FILE)).unwrap();
        assert!(stored.starts_with("$argon2id$") && !stored.contains("horse"));

        let again = OwnerLogin::open(dir.path()).unwrap();
        assert!(
            again.session(&s.id, T0 + 1000).is_some(),
            "sessions survive a restart"
        );
        assert!(matches!(
            again.login_with_password("wrong password", T0),
            Err(LoginError::WrongPassword)
        ));
        let s2 = again.login_with_password("correct horse battery", T0).unwrap();
        assert_eq!(again.session(&s2.id, T0).unwrap().csrf, s2.csrf);
        let sessions = fs::read_to_string(dir.path().join(SESSIONS_FILE)).unwrap();
        assert!(
            !sessions.contains(s2.id.as_str()),
            "only hashes of session ids are kept"
        );
    }

    #[test]
    fn sessions_end_when_idle_too_old_logged_out_or_the_password_changes() {
        let dir = tempfile::tempdir().unwrap();
        let login = OwnerLogin::open(dir.path()).unwrap();
        let idle = login.login_with_link(&login.new_link(T0), T0).unwrap();
        assert!(login.session(&idle.id, T0 + SESSION_IDLE_MS + 1).is_none());

        let mut t = T0;
        let old = login.login_with_link(&login.new_link(t), t).unwrap();
        while t < T0 + SESSION_MAX_MS {
            t += SESSION_IDLE_MS / 2;
            if t < T0 + SESSION_MAX_MS {
                assert!(login.session(&old.id, t).is_some());
            }
        }
        assert!(
            login.session(&old.id, t).is_none(),
            "no session outlives its maximum age"
        );

        let a = login.login_with_link(&login.new_link(T0), T0).unwrap();
        let b = login.login_with_link(&login.new_link(T0), T0).unwrap();
        login.logout(&a.id).unwrap();
        assert!(login.session(&a.id, T0).is_none());
        let c = login.login_with_link(&login.new_link(T0), T0).unwrap();
        login.set_password("a new long password", Some(&c.id)).unwrap();
        assert!(
            login.session(&b.id, T0).is_none(),
            "a password change ends other sessions"
        );
        assert!(login.session(&c.id, T0).is_some());
        assert!(login.session("made-up", T0).is_none());
    }

    #[test]
    fn links_expire_and_wrong_passwords_are_throttled() {
        let dir = tempfile::tempdir().unwrap();
        let login = OwnerLogin::open(dir.path()).unwrap();
        let code = login.new_link(T0);
        assert!(!login.link_is_valid(&code, T0 + LINK_TTL_MS));
        assert!(matches!(
            login.login_with_link(&code, T0 + LINK_TTL_MS),
            Err(LoginError::BadLink)
        ));

        login.set_password("the right password", None).unwrap();
        for _ in 0..FREE_FAILURES {
            assert!(matches!(
                login.login_with_password("nope nope nope", T0),
                Err(LoginError::WrongPassword)
            ));
        }
        match login.login_with_password("the right password", T0 + 10) {
            Err(LoginError::Throttled(s)) => assert_eq!(s, 1),
            other => panic!("expected throttling, got {:?}", other.err()),
        }
        assert!(matches!(
            login.login_with_password("nope nope nope", T0 + 1_000),
            Err(LoginError::WrongPassword)
        ));
        assert!(
            matches!(
                login.login_with_password("the right password", T0 + 2_500),
                Err(LoginError::Throttled(1))
            ),
            "the wait doubles"
        );
        assert!(
            login
                .login_with_password("the right password", T0 + 3_000)
                .is_ok()
        );
        assert!(matches!(
            login.login_with_password("nope nope nope", T0 + 3_000),
            Err(LoginError::WrongPassword)
        ));
        assert!(
            matches!(
                login.login_with_password("nope nope nope", T0 + 3_000),
                Err(LoginError::WrongPassword)
            ),
            "a success clears the count"
        );
    }

    #[test]
    fn a_damaged_password_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(PASSWORD_FILE), "not a hash").unwrap();
        let err = OwnerLogin::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains(PASSWORD_FILE) && err.contains("damaged"), "{err}");
        fs::remove_file(dir.path().join(PASSWORD_FILE)).unwrap();
        fs::write(dir.path().join(SESSIONS_FILE), "{{{").unwrap();
        assert_eq!(OwnerLogin::open(dir.path()).unwrap().session_count(T0), 0);
    }
}
