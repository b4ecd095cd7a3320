//! The arbiter: the registry of principals, grants and tokens, and the one check every data
//! operation passes, `may P do O on D with these limits`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use biscuit_auth::{KeyPair, PrivateKey, PublicKey};
use databox_store::{DatasourceId, ReadQuery, StoreId};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::login::OwnerLogin;
use crate::model::{Grant, Granularity, Operation, Principal, PrincipalId, PrincipalKind, TokenInfo};
use crate::tokens::{self, Attenuation, CheckFailure, VerifiedToken, now_ms};
use crate::{ArbiterError, OwnerToken, TOKEN_PREFIX};

const STATE_FILE: &str = "arbiter.json";
const ROOT_KEY_FILE: &str = "arbiter-root.key";
const CACHE_LIMIT: usize = 10_000;

/// Everything the arbiter remembers, saved as one file after every change.
#[derive(Default, Serialize, Deserialize)]
struct State {
    principals: BTreeMap<String, Principal>,
    grants: Vec<Grant>,
    tokens: BTreeMap<String, TokenInfo>,
    /// Revoked block revocation ids (hex).
    revoked: BTreeSet<String>,
}

/// Who is calling.
#[derive(Clone, Debug)]
pub enum Caller {
    /// The owner, with the owner token.
    Owner,
    /// A principal, with a verified token.
    Principal(Arc<VerifiedToken>),
}

impl Caller {
    /// The caller's id, as the audit log names it.
    pub fn id(&self) -> &str {
        match self {
            Caller::Owner => "owner",
            Caller::Principal(t) => &t.principal,
        }
    }

    /// True for the owner.
    pub fn is_owner(&self) -> bool {
        matches!(self, Caller::Owner)
    }
}

/// Why a request was refused: 401 (who are you?) or 403 (not this).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    /// 401 or 403.
    pub status: u16,
    /// What was wrong and, where it helps, what is allowed.
    pub reason: String,
    /// The caller, when known.
    pub principal: Option<String>,
}

impl Denial {
    fn unauthenticated(reason: impl Into<String>) -> Self {
        Denial {
            status: 401,
            reason: reason.into(),
            principal: None,
        }
    }
    fn forbidden(principal: &str, reason: impl Into<String>) -> Self {
        Denial {
            status: 403,
            reason: reason.into(),
            principal: Some(principal.to_owned()),
        }
    }
}

/// One data operation to decide on.
#[derive(Clone, Debug)]
pub struct DataRequest<'a> {
    /// The operation.
    pub operation: Operation,
    /// The store.
    pub store: &'a StoreId,
    /// The datasources (several for a join).
    pub datasources: &'a [DatasourceId],
    /// The read, for reads of series (granularity and time window apply to it).
    pub read: Option<&'a ReadQuery>,
}

/// What the caller may do with an allowed request.
#[derive(Clone, Debug, PartialEq)]
pub struct Access {
    /// The time window of data it may see, to narrow reads with.
    pub window: Option<(i64, i64)>,
}

/// (token serial, operation, store, resources, second).
type DecisionKey = (u64, Operation, String, String, i64);

/// The arbiter of one box.
pub struct Arbiter {
    dir: PathBuf,
    owner: OwnerToken,
    login: OwnerLogin,
    root: KeyPair,
    state: RwLock<State>,
    verified: Mutex<HashMap<Arc<str>, Arc<VerifiedToken>>>,
    decisions: Mutex<HashMap<DecisionKey, Result<(), CheckFailure>>>,
}

fn random_id(prefix: &str) -> String {
    let mut b = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("{prefix}{}", hex::encode(b))
}

pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ArbiterError> {
    databox_store::write_private_file(path, bytes).map_err(|e| ArbiterError::Io {
        context: format!("writing {}", path.display()),
        source: e,
    })
}

impl Arbiter {
    /// Opens the arbiter of the box in `data_dir`; on first start creates the owner token (returned
    /// once, to show) and the key that signs tokens.
    pub fn open(data_dir: &Path) -> Result<(Arbiter, Option<zeroize::Zeroizing<String>>), ArbiterError> {
        let (owner, new_owner_token) = OwnerToken::load_or_create(data_dir)?;
        let key_path = data_dir.join(ROOT_KEY_FILE);
        let root = if key_path.exists() {
            let hex_key =
                zeroize::Zeroizing::new(fs::read_to_string(&key_path).map_err(|e| ArbiterError::Io {
                    context: format!("reading {}", key_path.display()),
                    source: e,
                })?);
            let private =
                PrivateKey::from_bytes_hex(hex_key.trim(), biscuit_auth::builder::Algorithm::Ed25519)
                    .map_err(|e| ArbiterError::Invalid(format!("{} is damaged: {e}", key_path.display())))?;
            KeyPair::from(&private)
        } else {
            let root = KeyPair::new();
            write_atomic(&key_path, root.private().to_bytes_hex().as_bytes())?;
            root
        };
        let state_path = data_dir.join(STATE_FILE);
        let state = match fs::read(&state_path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| ArbiterError::Invalid(format!("{} is damaged: {e}", state_path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => {
                return Err(ArbiterError::Io {
                    context: format!("reading {}", state_path.display()),
                    source: e,
                });
            }
        };
        Ok((
            Arbiter {
                dir: data_dir.to_owned(),
                owner,
                login: OwnerLogin::open(data_dir)?,
                root,
                state: RwLock::new(state),
                verified: Mutex::new(HashMap::new()),
                decisions: Mutex::new(HashMap::new()),
            },
            new_owner_token,
        ))
    }

    /// The owner's dashboard password, one-time links and sessions.
    pub fn login(&self) -> &OwnerLogin {
        &self.login
    }

    /// The public key tokens of this box are verified with (for offline attenuation).
    pub fn public_key(&self) -> PublicKey {
        self.root.public()
    }

    fn save(&self, state: &State) -> Result<(), ArbiterError> {
        write_atomic(
            &self.dir.join(STATE_FILE),
            &serde_json::to_vec_pretty(state).expect("state serializes"),
        )
    }

    fn change<T>(&self, f: impl FnOnce(&mut State) -> Result<T, ArbiterError>) -> Result<T, ArbiterError> {
        let mut state = self.state.write().expect("arbiter lock");
        let out = f(&mut state)?;
        self.save(&state)?;
        // Decisions depend on the registry: forget them all.
        self.decisions.lock().expect("arbiter lock").clear();
        Ok(out)
    }

    // ---------------------------------------------------------------- authentication

    /// Who presents `token`: the owner, a principal with a valid, unrevoked, unexpired token, or
    /// nobody (401).
    pub fn authenticate(&self, token: Option<&str>) -> Result<Caller, Denial> {
        let Some(token) = token.map(str::trim).filter(|t| !t.is_empty()) else {
            return Err(Denial::unauthenticated("this box needs a bearer token"));
        };
        if token.starts_with(TOKEN_PREFIX) {
            return if self.owner.verify(token) {
                Ok(Caller::Owner)
            } else {
                Err(Denial::unauthenticated("this is not the owner token of this box"))
            };
        }
        let verified = self.verified_token(token)?;
        let state = self.state.read().expect("arbiter lock");
        if verified
            .revocation_ids
            .iter()
            .any(|id| state.revoked.contains(id))
        {
            return Err(Denial {
                status: 401,
                reason: "this token was revoked".into(),
                principal: Some(verified.principal.clone()),
            });
        }
        if !state.principals.contains_key(&verified.principal) {
            return Err(Denial {
                status: 401,
                reason: format!("principal {:?} no longer exists", verified.principal),
                principal: Some(verified.principal.clone()),
            });
        }
        Ok(Caller::Principal(verified))
    }

    fn verified_token(&self, token: &str) -> Result<Arc<VerifiedToken>, Denial> {
        if let Some(v) = self.verified.lock().expect("arbiter lock").get(token) {
            return Ok(v.clone());
        }
        let v = Arc::new(
            tokens::verify(token, self.root.public()).map_err(|e| Denial::unauthenticated(e.to_string()))?,
        );
        let mut cache = self.verified.lock().expect("arbiter lock");
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(Arc::from(token), v.clone());
        Ok(v)
    }

    /// Runs a token's own checks (expiry, attenuation) for one request; decisions are cached per
    /// token, request and second, which is the resolution of the token's clock.
    fn token_checks(
        &self,
        caller: &VerifiedToken,
        op: &str,
        store: Option<&StoreId>,
        resources: &[String],
    ) -> Result<(), Denial> {
        let now = now_ms();
        let operation = Operation::parse(op).unwrap_or(Operation::Read);
        let key: DecisionKey = (
            caller.serial,
            operation,
            store.map(|s| s.to_string()).unwrap_or_default(),
            resources.join(","),
            now / 1000,
        );
        let cached = self.decisions.lock().expect("arbiter lock").get(&key).cloned();
        let result = match cached {
            Some(r) => r,
            None => {
                let r = tokens::check(caller, op, store.map(StoreId::as_str), resources, now);
                let mut d = self.decisions.lock().expect("arbiter lock");
                if d.len() >= CACHE_LIMIT {
                    d.clear();
                }
                d.insert(key, r.clone());
                r
            }
        };
        result.map_err(|f| match f {
            CheckFailure::Expired => Denial {
                status: 401,
                reason: "this token has expired".into(),
                principal: Some(caller.principal.clone()),
            },
            CheckFailure::BeyondAttenuation(why) => Denial::forbidden(&caller.principal, why),
        })
    }

    // ---------------------------------------------------------------- the one check

    /// May `caller` do this data operation? The one place that decides, for the HTTP API and the
    /// app runtime alike.
    pub fn authorize(&self, caller: &Caller, req: &DataRequest<'_>) -> Result<Access, Denial> {
        let Caller::Principal(t) = caller else {
            return Ok(Access { window: None });
        };
        let resources: Vec<String> = req
            .datasources
            .iter()
            .map(|d| format!("{}/{d}", req.store))
            .collect();
        self.token_checks(t, req.operation.as_str(), Some(req.store), &resources)?;
        let state = self.state.read().expect("arbiter lock");
        let now = now_ms();
        let who = t.principal.as_str();
        let mut window: Option<(i64, i64)> = None;
        for ds in req.datasources {
            let candidates: Vec<&Grant> = state
                .grants
                .iter()
                .filter(|g| g.principal.as_str() == who && g.covers(req.operation, req.store, Some(ds), now))
                .collect();
            if candidates.is_empty() {
                return Err(Denial::forbidden(
                    who,
                    format!(
                        "{who} has no grant to {} {}/{ds}",
                        req.operation.as_str(),
                        req.store
                    ),
                ));
            }
            let mut reasons = Vec::new();
            let mut allowed = None;
            for g in candidates {
                let check = match req.read {
                    Some(q) => g.granularity.allows(q).and_then(|_| g.window_allows(q)),
                    None if req.operation == Operation::Read && g.granularity != Granularity::Raw => Err(
                        "this grant allows only aggregated time series reads; key-value values are raw data"
                            .into(),
                    ),
                    None => Ok(()),
                };
                match check {
                    Ok(()) => {
                        allowed = Some(g.window());
                        break;
                    }
                    Err(why) => reasons.push(why),
                }
            }
            match allowed {
                Some(w) => {
                    if let Some((lo, hi)) = w {
                        window = Some(match window {
                            Some((a, b)) => (a.max(lo), b.min(hi)),
                            None => (lo, hi),
                        });
                    }
                }
                None => {
                    return Err(Denial::forbidden(
                        who,
                        format!("{}/{ds}: {}", req.store, reasons.join("; ")),
                    ));
                }
            }
        }
        Ok(Access { window })
    }

    /// May `caller` do `op` on the whole of `store`? Only a store-wide grant (no datasource) counts.
    /// A device pushing to a driver's endpoint writes into the driver's store through it, so it
    /// needs a store-wide `write` grant on that store.
    pub fn authorize_store(&self, caller: &Caller, op: Operation, store: &StoreId) -> Result<(), Denial> {
        let Caller::Principal(t) = caller else {
            return Ok(());
        };
        self.token_checks(t, op.as_str(), Some(store), &[])?;
        let now = now_ms();
        let who = t.principal.as_str();
        let state = self.state.read().expect("arbiter lock");
        if state
            .grants
            .iter()
            .any(|g| g.principal.as_str() == who && g.datasource.is_none() && g.covers(op, store, None, now))
        {
            Ok(())
        } else {
            Err(Denial::forbidden(
                who,
                format!("{who} has no grant to {} {store}", op.as_str()),
            ))
        }
    }

    /// May `caller` do something that is not about data in a store (catalogue, metadata)? Runs
    /// the token's own checks; store-wide and owner routes are refused to narrowed tokens.
    pub fn authorize_general(&self, caller: &Caller, op: &str) -> Result<(), Denial> {
        match caller {
            Caller::Owner => Ok(()),
            Caller::Principal(t) => self.token_checks(t, op, None, &[]),
        }
    }

    /// Whether `principal` holds any live grant on `store`/`ds` (for the catalogue).
    pub fn can_see(&self, caller: &Caller, store: &StoreId, ds: Option<&DatasourceId>) -> bool {
        let Caller::Principal(t) = caller else { return true };
        let now = now_ms();
        self.state.read().expect("arbiter lock").grants.iter().any(|g| {
            g.principal.as_str() == t.principal
                && g.store == store.as_str()
                && match (&g.datasource, ds) {
                    (None, _) | (_, None) => true,
                    (Some(a), Some(b)) => a == b.as_str(),
                }
                && g.expires.is_none_or(|e| now < e)
        })
    }

    // ---------------------------------------------------------------- the registry

    /// Every principal.
    pub fn principals(&self) -> Vec<Principal> {
        self.state
            .read()
            .expect("arbiter lock")
            .principals
            .values()
            .cloned()
            .collect()
    }

    /// One principal's description, if it exists.
    pub fn describe(&self, id: &str) -> Option<String> {
        self.state
            .read()
            .expect("arbiter lock")
            .principals
            .get(id)
            .map(|p| p.description.clone())
    }

    /// Registers a principal.
    pub fn add_principal(
        &self,
        id: PrincipalId,
        kind: PrincipalKind,
        description: &str,
    ) -> Result<Principal, ArbiterError> {
        if description.len() > 1024 || description.chars().any(char::is_control) {
            return Err(ArbiterError::Invalid(
                "a description is at most 1024 characters, no control characters".into(),
            ));
        }
        self.change(|s| {
            if s.principals.contains_key(id.as_str()) {
                return Err(ArbiterError::Conflict(format!("principal {id} exists already")));
            }
            let p = Principal {
                id: id.clone(),
                kind,
                description: description.to_owned(),
                created: now_ms(),
            };
            s.principals.insert(id.to_string(), p.clone());
            Ok(p)
        })
    }

    /// Removes a principal with its grants and tokens.
    pub fn remove_principal(&self, id: &PrincipalId) -> Result<(), ArbiterError> {
        self.change(|s| {
            s.principals
                .remove(id.as_str())
                .ok_or_else(|| ArbiterError::NotFound(format!("no principal {id}")))?;
            s.grants.retain(|g| &g.principal != id);
            let mut revoke = Vec::new();
            for t in s.tokens.values_mut().filter(|t| &t.principal == id) {
                t.revoked = true;
                revoke.push(t.revocation_id.clone());
            }
            s.revoked.extend(revoke);
            Ok(())
        })
    }

    /// Every grant, or a principal's.
    pub fn grants(&self, principal: Option<&str>) -> Vec<Grant> {
        let s = self.state.read().expect("arbiter lock");
        s.grants
            .iter()
            .filter(|g| principal.is_none_or(|p| g.principal.as_str() == p))
            .cloned()
            .collect()
    }

    /// Gives a grant.
    #[allow(clippy::too_many_arguments)]
    pub fn grant(
        &self,
        principal: &PrincipalId,
        operation: Operation,
        store: &StoreId,
        datasource: Option<&DatasourceId>,
        window: (Option<i64>, Option<i64>),
        expires: Option<i64>,
        granularity: Granularity,
        purpose: &str,
    ) -> Result<Grant, ArbiterError> {
        if let (Some(a), Some(b)) = window
            && a > b
        {
            return Err(ArbiterError::Invalid(
                "the grant's window starts after it ends".into(),
            ));
        }
        if granularity != Granularity::Raw && operation != Operation::Read {
            return Err(ArbiterError::Invalid(
                "granularity limits apply to read grants only".into(),
            ));
        }
        self.change(|s| {
            if !s.principals.contains_key(principal.as_str()) {
                return Err(ArbiterError::NotFound(format!(
                    "no principal {principal}; add it first"
                )));
            }
            let g = Grant {
                id: random_id("g-"),
                principal: principal.clone(),
                operation,
                store: store.to_string(),
                datasource: datasource.map(|d| d.to_string()),
                since: window.0,
                until: window.1,
                expires,
                granularity,
                purpose: purpose.to_owned(),
                created: now_ms(),
            };
            s.grants.push(g.clone());
            Ok(g)
        })
    }

    /// Takes a grant back; it stops working on the next request.
    pub fn revoke_grant(&self, id: &str) -> Result<Grant, ArbiterError> {
        self.change(|s| {
            let i = s
                .grants
                .iter()
                .position(|g| g.id == id)
                .ok_or_else(|| ArbiterError::NotFound(format!("no grant {id}")))?;
            Ok(s.grants.remove(i))
        })
    }

    /// Every token minted, newest last.
    pub fn tokens(&self) -> Vec<TokenInfo> {
        self.state
            .read()
            .expect("arbiter lock")
            .tokens
            .values()
            .cloned()
            .collect()
    }

    /// Mints a token for a principal; the token is returned once and never stored.
    pub fn mint(
        &self,
        principal: &PrincipalId,
        description: &str,
        expires: Option<i64>,
    ) -> Result<(TokenInfo, String), ArbiterError> {
        if !self
            .state
            .read()
            .expect("arbiter lock")
            .principals
            .contains_key(principal.as_str())
        {
            return Err(ArbiterError::NotFound(format!(
                "no principal {principal}; add it first"
            )));
        }
        let id = random_id("t-");
        let token = tokens::mint(&self.root, principal.as_str(), &id, expires)?;
        let verified = tokens::verify(&token, self.root.public())?;
        let info = TokenInfo {
            id: id.clone(),
            principal: principal.clone(),
            description: description.to_owned(),
            created: now_ms(),
            expires,
            revocation_id: verified.revocation_ids[0].clone(),
            revoked: false,
        };
        self.change(|s| {
            s.tokens.insert(id, info.clone());
            Ok(())
        })?;
        Ok((info, token))
    }

    /// Narrows a token (what a holder can also do offline with the box's public key).
    pub fn attenuate(&self, token: &str, a: &Attenuation) -> Result<String, ArbiterError> {
        tokens::attenuate(token, self.root.public(), a)
    }

    /// Revokes a minted token by id, or any token (also an attenuated one) given in full. It and
    /// every token derived from it stop working on the next request.
    pub fn revoke_token(&self, id_or_token: &str) -> Result<String, ArbiterError> {
        let by_id = self
            .state
            .read()
            .expect("arbiter lock")
            .tokens
            .get(id_or_token)
            .cloned();
        match by_id {
            Some(info) => self.change(|s| {
                s.revoked.insert(info.revocation_id.clone());
                if let Some(t) = s.tokens.get_mut(&info.id) {
                    t.revoked = true;
                }
                Ok(info.id.clone())
            }),
            None => {
                let v = tokens::verify(id_or_token, self.root.public()).map_err(|_| {
                    ArbiterError::NotFound("no such token id, and not a token of this box".into())
                })?;
                let last = v.revocation_ids.last().cloned().expect("a token has a block");
                self.change(|s| {
                    s.revoked.insert(last);
                    if v.revocation_ids.len() == 1
                        && let Some(t) = s.tokens.get_mut(&v.token_id)
                    {
                        t.revoked = true;
                    }
                    Ok(v.token_id.clone())
                })
            }
        }
    }
}
