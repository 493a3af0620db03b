//! Issuer tokens: generation, hashing (only the hash is stored) and their records.

use serde::Serialize;
use sha2::{Digest, Sha256};
use tryvoga_core::{RegionId, Role};

/// Every token starts with this, so a leaked one is recognisable in logs and scanners.
pub const PREFIX: &str = "tv_";

/// A new random token: 32 bytes from the OS, hex-encoded.
pub fn generate() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{PREFIX}{}", hex::encode(bytes)))
}

/// The stored form of a token. Tokens carry 256 bits of entropy, so a plain SHA-256 suffices:
/// there is nothing for a slow hash to protect against.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub regions: Vec<RegionId>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}
