//! Capability tokens (biscuit): minted by the box for one principal, verified with the box's
//! public key, attenuated offline by their holder with checks only.
//!
//! Why biscuit: public-key verification (the private key never leaves the arbiter), offline
//! attenuation by appending signed blocks of checks, revocation ids per block, and a maintained,
//! audited implementation. The token names its principal and, optionally, an expiry; what the
//! principal may do lives in the owner's grants, so revoking a grant takes effect at once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use biscuit_auth::builder::{AuthorizerBuilder, BlockBuilder};
use biscuit_auth::error::{Logic, Token as TokenError};
use biscuit_auth::{AuthorizerLimits, Biscuit, KeyPair, PublicKey};

use crate::ArbiterError;
use crate::model::Operation;

static NEXT_SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Longest token accepted, in characters.
pub const MAX_TOKEN_LEN: usize = 4096;
/// Most blocks (the authority block and attenuations) a token may carry.
pub const MAX_BLOCKS: usize = 8;

/// Formats epoch milliseconds as an RFC 3339 UTC time (seconds precision).
pub fn rfc3339(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// What a verified token says about itself.
#[derive(Debug)]
pub struct VerifiedToken {
    /// The principal it was minted for.
    pub principal: String,
    /// The id it was minted with.
    pub token_id: String,
    /// Revocation ids of every block, hex.
    pub revocation_ids: Vec<String>,
    /// A number unique to this verification in this process, keying cached decisions.
    pub serial: u64,
    pub(crate) biscuit: Biscuit,
}

/// Limits on running a token's Datalog, so that a hostile token cannot slow the box down and a
/// valid one on a loaded box is not refused for want of time.
fn limits() -> AuthorizerLimits {
    AuthorizerLimits {
        max_facts: 1_000,
        max_iterations: 100,
        max_time: Duration::from_millis(20),
    }
}

/// Mints a token for `principal` with `token_id`, expiring at `expires` (epoch ms) if given.
pub fn mint(
    root: &KeyPair,
    principal: &str,
    token_id: &str,
    expires: Option<i64>,
) -> Result<String, ArbiterError> {
    let mut code = format!("principal({principal:?});\ntoken_id({token_id:?});\n");
    if let Some(e) = expires {
        code.push_str(&format!("check if time($t), $t <= {};\n", rfc3339(e)));
    }
    let token = Biscuit::builder()
        .code(&code)
        .and_then(|b| b.build(root))
        .and_then(|b| b.to_base64())
        .map_err(|e| ArbiterError::Token(format!("minting a token: {e}")))?;
    Ok(token)
}

/// How a holder narrows a token.
#[derive(Clone, Debug, Default)]
pub struct Attenuation {
    /// Only these operations.
    pub operations: Vec<Operation>,
    /// Only these datasources, as `store/datasource` (or `store/*` for a whole store).
    pub resources: Vec<String>,
    /// Only until this time (epoch ms).
    pub expires: Option<i64>,
}

/// Appends a block of checks to a token. Needs only the box's public key, not the arbiter: a
/// holder can do it offline.
pub fn attenuate(token: &str, root_public: PublicKey, a: &Attenuation) -> Result<String, ArbiterError> {
    let biscuit = Biscuit::from_base64(token.trim(), root_public)
        .map_err(|e| ArbiterError::Token(format!("this is not a valid token of this box: {e}")))?;
    let mut code = String::new();
    if !a.operations.is_empty() {
        let ops: Vec<String> = a.operations.iter().map(|o| format!("{:?}", o.as_str())).collect();
        code.push_str(&format!(
            "check if operation($op), [{}].contains($op);\n",
            ops.join(", ")
        ));
    }
    if !a.resources.is_empty() {
        let mut exact = Vec::new();
        let mut prefixes = Vec::new();
        for r in &a.resources {
            let (store, ds) = r
                .split_once('/')
                .ok_or_else(|| ArbiterError::Invalid(format!("{r:?} is not store/datasource or store/*")))?;
            databox_store::StoreId::new(store).map_err(|e| ArbiterError::Invalid(e.to_string()))?;
            if ds == "*" {
                prefixes.push(format!("$r.starts_with({:?})", format!("{store}/")));
            } else {
                databox_store::DatasourceId::new(ds).map_err(|e| ArbiterError::Invalid(e.to_string()))?;
                exact.push(format!("{r:?}"));
            }
        }
        let mut alternatives = prefixes;
        if !exact.is_empty() {
            alternatives.push(format!("[{}].contains($r)", exact.join(", ")));
        }
        code.push_str(&format!(
            "check all resource($r), {};\n",
            alternatives.join(" || ")
        ));
    }
    if let Some(e) = a.expires {
        code.push_str(&format!("check if time($t), $t <= {};\n", rfc3339(e)));
    }
    if code.is_empty() {
        return Err(ArbiterError::Invalid(
            "say how to narrow the token: operations, datasources or an expiry".into(),
        ));
    }
    let block = BlockBuilder::new()
        .code(&code)
        .map_err(|e| ArbiterError::Token(format!("attenuating: {e}")))?;
    biscuit
        .append(block)
        .and_then(|b| b.to_base64())
        .map_err(|e| ArbiterError::Token(format!("attenuating: {e}")))
}

/// Verifies a token's signatures and shape and reads who it is for. Refuses tokens that are too
/// long, carry too many blocks, or whose appended blocks hold anything but checks.
pub fn verify(token: &str, root_public: PublicKey) -> Result<VerifiedToken, ArbiterError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(ArbiterError::Token(format!(
            "the token is longer than {MAX_TOKEN_LEN} characters"
        )));
    }
    let biscuit = Biscuit::from_base64(token, root_public)
        .map_err(|_| ArbiterError::Token("the token is not a valid token of this box".into()))?;
    if biscuit.block_count() > MAX_BLOCKS {
        return Err(ArbiterError::Token(format!(
            "the token has more than {MAX_BLOCKS} blocks"
        )));
    }
    for i in 1..biscuit.block_count() {
        let source = biscuit
            .print_block_source(i)
            .map_err(|e| ArbiterError::Token(e.to_string()))?;
        let only_checks = source
            .split(";\n")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .all(|s| s.starts_with("check if ") || s.starts_with("check all "));
        if !only_checks {
            return Err(ArbiterError::Token(format!(
                "block {i} of the token holds facts or rules; attenuation blocks may only hold checks"
            )));
        }
    }
    let mut authorizer = AuthorizerBuilder::new()
        .set_limits(limits())
        .build(&biscuit)
        .map_err(|e| ArbiterError::Token(e.to_string()))?;
    let facts: Vec<(String, String)> = authorizer
        .query("data($p, $t) <- principal($p), token_id($t)")
        .map_err(|e| ArbiterError::Token(format!("reading the token: {e}")))?;
    let [(principal, token_id)] = facts.as_slice() else {
        return Err(ArbiterError::Token(
            "the token does not name exactly one principal".into(),
        ));
    };
    Ok(VerifiedToken {
        principal: principal.clone(),
        token_id: token_id.clone(),
        revocation_ids: biscuit.revocation_identifiers().iter().map(hex::encode).collect(),
        serial: NEXT_SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        biscuit,
    })
}

/// Why a token's own checks refused a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckFailure {
    /// The token (its first block) expired.
    Expired,
    /// An attenuation block does not allow this request.
    BeyondAttenuation(String),
}

/// Runs the token's checks against one request at time `now_ms`.
pub fn check(
    token: &VerifiedToken,
    op: &str,
    store: Option<&str>,
    resources: &[String],
    now_ms: i64,
) -> Result<(), CheckFailure> {
    let mut b = AuthorizerBuilder::new().set_limits(limits());
    let mut code = format!("operation({op:?});\n");
    if let Some(s) = store {
        code.push_str(&format!("store({s:?});\n"));
    }
    for r in resources {
        code.push_str(&format!("resource({r:?});\n"));
    }
    code.push_str(&format!("time({});\nallow if true;\n", rfc3339(now_ms)));
    b = b
        .code(&code)
        .map_err(|e| CheckFailure::BeyondAttenuation(e.to_string()))?;
    let result = b.build(&token.biscuit).and_then(|mut a| a.authorize());
    match result {
        Ok(_) => Ok(()),
        Err(TokenError::FailedLogic(Logic::Unauthorized { checks, .. })) => {
            let expired = checks
                .iter()
                .any(|c| matches!(c, biscuit_auth::error::FailedCheck::Block(b) if b.block_id == 0));
            if expired {
                Err(CheckFailure::Expired)
            } else {
                Err(CheckFailure::BeyondAttenuation(
                    "this token was narrowed by its holder and does not reach this request".into(),
                ))
            }
        }
        Err(e) => Err(CheckFailure::BeyondAttenuation(format!(
            "the token's checks could not run: {e}"
        ))),
    }
}

/// The current time in epoch milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_names_its_principal_and_expires() {
        let root = KeyPair::new();
        let t = mint(&root, "app-a", "t-1", Some(now_ms() + 60_000)).unwrap();
        let v = verify(&t, root.public()).unwrap();
        assert_eq!((v.principal.as_str(), v.token_id.as_str()), ("app-a", "t-1"));
        assert_eq!(check(&v, "read", Some("s"), &["s/d".into()], now_ms()), Ok(()));
        assert_eq!(
            check(&v, "read", Some("s"), &["s/d".into()], now_ms() + 120_000),
            Err(CheckFailure::Expired)
        );
    }

    #[test]
    fn attenuation_narrows_operations_datasources_and_time() {
        let root = KeyPair::new();
        let t = mint(&root, "app-a", "t-1", None).unwrap();
        let narrow = attenuate(
            &t,
            root.public(),
            &Attenuation {
                operations: vec![Operation::Read],
                resources: vec!["home/temp".into(), "demo/*".into()],
                expires: None,
            },
        )
        .unwrap();
        let v = verify(&narrow, root.public()).unwrap();
        let now = now_ms();
        assert_eq!(
            check(&v, "read", Some("home"), &["home/temp".into()], now),
            Ok(())
        );
        assert_eq!(
            check(&v, "read", Some("demo"), &["demo/x".into(), "demo/y".into()], now),
            Ok(())
        );
        assert!(check(&v, "write", Some("home"), &["home/temp".into()], now).is_err());
        assert!(check(&v, "read", Some("home"), &["home/other".into()], now).is_err());
        assert!(
            check(
                &v,
                "read",
                Some("home"),
                &["home/temp".into(), "home/other".into()],
                now
            )
            .is_err()
        );
        // The original token is untouched, and both share the first block's revocation id.
        let original = verify(&t, root.public()).unwrap();
        assert_eq!(
            check(&original, "write", Some("home"), &["home/other".into()], now),
            Ok(())
        );
        assert_eq!(original.revocation_ids[0], v.revocation_ids[0]);
    }

    #[test]
    fn foreign_tampered_and_oversized_tokens_are_refused() {
        let root = KeyPair::new();
        let other = KeyPair::new();
        let t = mint(&other, "app-a", "t-1", None).unwrap();
        assert!(verify(&t, root.public()).is_err());
        let mine = mint(&root, "app-a", "t-1", None).unwrap();
        let mut tampered = mine.clone().into_bytes();
        tampered[40] = if tampered[40] == b'A' { b'B' } else { b'A' };
        assert!(verify(std::str::from_utf8(&tampered).unwrap(), root.public()).is_err());
        assert!(verify(&"A".repeat(MAX_TOKEN_LEN + 1), root.public()).is_err());
    }

    #[test]
    fn appended_blocks_with_facts_or_rules_are_refused() {
        let root = KeyPair::new();
        let t = Biscuit::from_base64(mint(&root, "app-a", "t-1", None).unwrap(), root.public()).unwrap();
        for code in ["principal(\"owner\");", "right($x) <- operation($x);"] {
            let b = t
                .append(BlockBuilder::new().code(code).unwrap())
                .unwrap()
                .to_base64()
                .unwrap();
            let err = verify(&b, root.public()).unwrap_err().to_string();
            assert!(err.contains("only hold checks"), "{err}");
        }
    }
}
