//! The store crate's one error type.

/// Everything that can go wrong in the store. [`StoreError::is_client_error`] tells the API
/// whether the caller (4xx) or the box (5xx) is at fault; every message names the problem.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An id failed validation.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidId {
        /// Which kind of id.
        what: &'static str,
        /// The offending value (truncated).
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// No store with this id.
    #[error("store {0:?} does not exist")]
    UnknownStore(String),
    /// The store exists already.
    #[error("store {0:?} already exists")]
    StoreExists(String),
    /// No datasource with this id in the store.
    #[error("datasource {datasource:?} does not exist in store {store:?}")]
    UnknownDatasource {
        /// The store.
        store: String,
        /// The missing datasource.
        datasource: String,
    },
    /// The datasource exists with another kind.
    #[error("datasource {datasource:?} is a {actual} datasource; this operation needs a {expected} one")]
    WrongKind {
        /// The datasource.
        datasource: String,
        /// Its kind.
        actual: &'static str,
        /// The kind the operation needs.
        expected: &'static str,
    },
    /// The datasource exists already with a different description.
    #[error("datasource {datasource:?} already exists as a {existing} datasource")]
    DatasourceExists {
        /// The datasource.
        datasource: String,
        /// Its kind.
        existing: &'static str,
    },
    /// A malformed read or delete path.
    #[error("bad query: {0}")]
    BadQuery(String),
    /// A malformed value or point.
    #[error("bad data: {0}")]
    BadData(String),
    /// The result would be too large to return.
    #[error("too many results: {0}")]
    TooManyResults(String),
    /// A key-value key that does not exist.
    #[error("key {key:?} does not exist in datasource {datasource:?}")]
    KeyNotFound {
        /// The datasource.
        datasource: String,
        /// The key.
        key: String,
    },
    /// The master key or a store key could not be used.
    #[error("encryption: {0}")]
    Crypto(String),
    /// The embedded engine failed.
    #[error("storage engine: {0}")]
    Engine(#[from] rusqlite::Error),
    /// A write transaction could not be started or committed; nothing of it was stored.
    #[error("the store could not commit the write (nothing was stored): {0}")]
    Commit(String),
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What the box was doing.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The store exists but could not be opened at start-up.
    #[error(
        "store {store:?} is unavailable: {reason} (its file is kept as it is; erase the store to start over)"
    )]
    Unavailable {
        /// The store.
        store: String,
        /// Why it could not be opened.
        reason: String,
    },
    /// The store was erased or the box is shutting down.
    #[error("store {0:?} is closed")]
    Closed(String),
}

impl StoreError {
    /// True when the request was at fault (answer 4xx), false when the box was (5xx).
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self,
            StoreError::Crypto(_)
                | StoreError::Engine(_)
                | StoreError::Commit(_)
                | StoreError::Io { .. }
                | StoreError::Closed(_)
        )
    }

    /// True for the "does not exist" family (answer 404).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            StoreError::UnknownStore(_)
                | StoreError::UnknownDatasource { .. }
                | StoreError::KeyNotFound { .. }
        )
    }

    /// True when the request conflicts with existing state (answer 409).
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            StoreError::StoreExists(_) | StoreError::DatasourceExists { .. }
        )
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StoreError::Io {
            context: context.into(),
            source,
        }
    }
}
