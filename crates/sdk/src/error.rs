//! The SDK's one error type: the box's refusals (the WIT `error` variant, case for case) and the
//! SDK's own checks (a query it would not send, an answer it could not parse).

use crate::bindings::databox::component::types::Error as WitError;

/// What can go wrong in a call to the box.
///
/// The first five variants are the box's answers (the WIT `error` variant); the others are the
/// SDK's own. Every variant carries a message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The owner did not grant this (or granted it coarser, or for another time window).
    #[error("denied: {0}")]
    Denied(String),
    /// No such datasource or key among the component's own or mapped ones.
    #[error("not found: {0}")]
    NotFound(String),
    /// The box refused the request as malformed (a bad query, a non-numeric value, ...).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Over a limit from the manifest (output size, rate) or of the SDK (an HTTP body cap).
    #[error("too large: {0}")]
    TooLarge(String),
    /// The box could not do it now; trying again later may work.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The SDK refused to build a request: a query, point or URL that the box would refuse.
    #[error("invalid: {0}")]
    Invalid(String),
    /// An answer or a body that is not the JSON expected.
    #[error("unexpected data: {0}")]
    Data(String),
    /// An outbound HTTP request failed (feature `http`).
    #[error("http: {0}")]
    Http(String),
    /// Anything else, from the component's own code.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// An [`Error::Other`] from anything printable, for `map_err(Error::other)`.
    pub fn other(e: impl std::fmt::Display) -> Self {
        Error::Other(e.to_string())
    }

    /// Whether trying again later may succeed ([`Error::Unavailable`]).
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Unavailable(_))
    }
}

/// The result of SDK calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<WitError> for Error {
    fn from(e: WitError) -> Self {
        match e {
            WitError::Denied(m) => Error::Denied(m),
            WitError::NotFound(m) => Error::NotFound(m),
            WitError::BadRequest(m) => Error::BadRequest(m),
            WitError::TooLarge(m) => Error::TooLarge(m),
            WitError::Unavailable(m) => Error::Unavailable(m),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Data(e.to_string())
    }
}

impl From<String> for Error {
    fn from(s: String) -> Self {
        Error::Other(s)
    }
}

impl From<&str> for Error {
    fn from(s: &str) -> Self {
        Error::Other(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_every_case_of_the_wit_error() {
        let cases = [
            (WitError::Denied("a".into()), Error::Denied("a".into())),
            (WitError::NotFound("b".into()), Error::NotFound("b".into())),
            (WitError::BadRequest("c".into()), Error::BadRequest("c".into())),
            (WitError::TooLarge("d".into()), Error::TooLarge("d".into())),
            (WitError::Unavailable("e".into()), Error::Unavailable("e".into())),
        ];
        for (wit, sdk) in cases {
            assert_eq!(Error::from(wit), sdk);
        }
    }

    #[test]
    fn messages_name_the_kind_of_failure() {
        assert_eq!(
            Error::Denied("no grant for read".into()).to_string(),
            "denied: no grant for read"
        );
        assert_eq!(Error::other("plain").to_string(), "plain");
        assert!(Error::Unavailable("busy".into()).is_transient());
        assert!(!Error::NotFound("x".into()).is_transient());
    }
}
