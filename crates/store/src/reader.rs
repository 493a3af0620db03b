//! The record opened only to be read, by a process that follows the log from elsewhere and
//! never writes it: a stateless edge checks tokens and answers history reads from it while
//! its state comes from the stream. It holds no writer and no lock, so any number of readers
//! may open a record that serve nodes are writing. Tokens are checked as a serve node checks
//! them (each proven token trusted for [`crate::TOKEN_TRUST`]), so a revocation made on any
//! node reaches a reader within that time.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::token_cache::TokenCache;
use crate::tokens::{self, TokenInfo};
use crate::{SharedQueries, StoreError, postgres, sqlite};

/// A record's reads, with a token cache.
pub struct Reader {
    queries: SharedQueries,
    tokens: TokenCache,
}

impl Reader {
    /// Opens the record at `db` (a SQLite file that must exist, or a PostgreSQL URL) to read.
    pub fn open(db: &Path) -> Result<Reader, StoreError> {
        let queries: SharedQueries = match db.to_str().filter(|d| postgres::is_url(d)) {
            Some(url) => Arc::new(postgres::open(url)?.1),
            None => {
                // Opening a missing file would make an empty record and answer from it.
                if !db.exists() {
                    return Err(StoreError::Io {
                        path: db.to_path_buf(),
                        source: std::io::Error::new(
                            std::io::ErrorKind::NotFound,
                            "no record here to read",
                        ),
                    });
                }
                Arc::new(sqlite::open(db)?.1)
            }
        };
        Ok(Reader {
            queries,
            tokens: TokenCache::default(),
        })
    }

    /// Every read of the record. Blocking: async callers use `spawn_blocking`.
    pub fn queries(&self) -> &SharedQueries {
        &self.queries
    }

    /// The live token with this secret. Blocks on a database read unless the token was proven
    /// within the last [`crate::TOKEN_TRUST`].
    pub fn authenticate(&self, secret: &str) -> Result<Option<TokenInfo>, StoreError> {
        authenticate(&self.queries, &self.tokens, secret)
    }
}

/// A token looked up through `cache`, then the database.
pub(crate) fn authenticate(
    queries: &SharedQueries,
    cache: &TokenCache,
    secret: &str,
) -> Result<Option<TokenInfo>, StoreError> {
    let hash = tokens::hash(secret);
    if let Some(info) = cache.get(&hash) {
        return Ok(Some(info));
    }
    let generation = cache.generation();
    let read_at = Instant::now();
    let info = queries.token_by_hash(&hash)?;
    if let Some(info) = &info {
        cache.insert(hash, info.clone(), generation, read_at);
    }
    Ok(info)
}
