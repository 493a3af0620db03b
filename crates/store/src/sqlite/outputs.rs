//! The outputs' tables in SQLite: native webhooks and their dead letters, ukrainealarm-style
//! webhooks, and the key their deliveries are signed with.

use rusqlite::{Connection, OptionalExtension, params};

use crate::outputs::{CompatWebhook, DeadLetter, OutputPositions, OutputWrite, Webhook};
use crate::sqlite::SqliteQueries;
use crate::{StoreError, from_ms, ms};

const COLUMNS: &str = "id, owner, url, regions, types, signing, secret, created_ms, delivered_seq, attempts, last_error";

fn webhook_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Webhook> {
    let json_list = |i: usize| -> rusqlite::Result<Option<String>> { r.get(i) };
    Ok(Webhook {
        id: r.get(0)?,
        owner: r.get(1)?,
        url: r.get(2)?,
        regions: json_list(3)?.and_then(|s| serde_json::from_str(&s).ok()),
        types: json_list(4)?.and_then(|s| serde_json::from_str(&s).ok()),
        signing: r.get(5)?,
        secret: r.get(6)?,
        created_ms: r.get(7)?,
        delivered_seq: r.get::<_, i64>(8)?.max(0) as u64,
        attempts: r.get::<_, i64>(9)?.clamp(0, u32::MAX as i64) as u32,
        last_error: r.get(10)?,
    })
}

fn dead_count(c: &Connection, id: &str) -> Result<u64, StoreError> {
    let n: i64 = c
        .prepare_cached("SELECT COUNT(*) FROM webhook_dead_letters WHERE webhook = ?1")?
        .query_row([id], |r| r.get(0))?;
    Ok(n.max(0) as u64)
}

fn newest_key(c: &Connection) -> Result<Option<String>, StoreError> {
    Ok(c.query_row(
        "SELECT private_pem FROM compat_signing_keys ORDER BY created_ms DESC LIMIT 1",
        [],
        |r| r.get(0),
    )
    .optional()?)
}

impl OutputPositions for SqliteQueries {
    fn webhooks(&self) -> Result<Vec<(Webhook, u64)>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM webhooks ORDER BY created_ms"
            ))?;
            let rows = stmt.query_map([], webhook_row)?;
            let mut out = Vec::new();
            for r in rows {
                let r = r?;
                let dead = dead_count(c, &r.id)?;
                out.push((r, dead));
            }
            Ok(out)
        })
    }

    fn webhook(&self, id: &str) -> Result<Option<Webhook>, StoreError> {
        self.with(|c| {
            Ok(
                c.prepare_cached(&format!("SELECT {COLUMNS} FROM webhooks WHERE id = ?1"))?
                    .query_row([id], webhook_row)
                    .optional()?,
            )
        })
    }

    fn webhook_ids(&self) -> Result<Vec<String>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached("SELECT id FROM webhooks")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn dead_letter_count(&self, webhook: &str) -> Result<u64, StoreError> {
        self.with(|c| dead_count(c, webhook))
    }

    fn dead_letters(&self, webhook: &str) -> Result<Vec<DeadLetter>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT delivery, seq, attempts, last_error, failed_ms
                 FROM webhook_dead_letters WHERE webhook = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map([webhook], |r| {
                Ok(DeadLetter {
                    delivery: r.get(0)?,
                    seq: r.get::<_, i64>(1)?.max(0) as u64,
                    attempts: r.get::<_, i64>(2)?.clamp(0, u32::MAX as i64) as u32,
                    last_error: r.get(3)?,
                    failed_at: from_ms(r.get(4)?),
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn compat_webhook_tokens(&self) -> Result<Vec<String>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached("SELECT token FROM compat_webhooks")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn compat_webhook(&self, token: &str) -> Result<Option<CompatWebhook>, StoreError> {
        self.with(|c| {
            Ok(
                c.prepare_cached(
                    "SELECT url, delivered_seq FROM compat_webhooks WHERE token = ?1",
                )?
                .query_row([token], |r| {
                    Ok(CompatWebhook {
                        url: r.get(0)?,
                        delivered_seq: r.get::<_, i64>(1)?.max(0) as u64,
                    })
                })
                .optional()?,
            )
        })
    }

    fn compat_signing_key(&self) -> Result<Option<String>, StoreError> {
        self.with(newest_key)
    }

    fn position(&self, name: &str) -> Result<Option<u64>, StoreError> {
        self.with(|c| {
            Ok(
                c.prepare_cached("SELECT delivered_seq FROM output_positions WHERE name = ?1")?
                    .query_row([name], |r| r.get::<_, i64>(0))
                    .optional()?
                    .map(|s| s.max(0) as u64),
            )
        })
    }
}

/// Runs one output change inside the batch's transaction; the rows it changed.
pub(crate) fn write(c: &Connection, write: &OutputWrite) -> Result<u64, StoreError> {
    let changed = match write {
        OutputWrite::CreateWebhook(w) => c.execute(
            "INSERT INTO webhooks (id, owner, url, regions, types, signing, secret,
                 created_ms, delivered_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                w.id,
                w.owner,
                w.url,
                w.regions.as_ref().map(serde_json::to_string).transpose()?,
                w.types.as_ref().map(serde_json::to_string).transpose()?,
                w.signing,
                w.secret,
                w.created_ms,
                w.delivered_seq as i64
            ],
        )?,
        OutputWrite::DeleteWebhook { id } => {
            let n = c.execute("DELETE FROM webhooks WHERE id = ?1", [id])?;
            c.execute("DELETE FROM webhook_dead_letters WHERE webhook = ?1", [id])?;
            n
        }
        OutputWrite::WebhookProgress {
            id,
            delivered_seq,
            attempts,
            last_error,
        } => c
            .prepare_cached(
                "UPDATE webhooks SET delivered_seq = MAX(delivered_seq, ?1), attempts = ?2,
                     last_error = ?3 WHERE id = ?4",
            )?
            .execute(params![
                *delivered_seq as i64,
                i64::from(*attempts),
                last_error,
                id
            ])?,
        OutputWrite::DeadLetter { webhook, letter } => c.execute(
            "INSERT OR IGNORE INTO webhook_dead_letters
                 (webhook, delivery, seq, attempts, last_error, failed_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                webhook,
                letter.delivery,
                letter.seq as i64,
                i64::from(letter.attempts),
                letter.last_error,
                ms(letter.failed_at)
            ],
        )?,
        OutputWrite::RegisterCompatWebhook {
            token,
            url,
            at,
            from_seq,
        } => c.execute(
            "INSERT INTO compat_webhooks (token, url, created_ms, updated_ms, delivered_seq)
             VALUES (?1, ?2, ?3, ?3, ?4)
             ON CONFLICT (token) DO UPDATE SET url = excluded.url,
                 updated_ms = excluded.updated_ms, failures = 0, last_error = NULL",
            params![token, url, ms(*at), *from_seq as i64],
        )?,
        OutputWrite::MoveCompatWebhook { token, url, at } => c.execute(
            "UPDATE compat_webhooks SET url = ?1, updated_ms = ?2, failures = 0,
             last_error = NULL WHERE token = ?3",
            params![url, ms(*at), token],
        )?,
        OutputWrite::RemoveCompatWebhook { token } => {
            c.execute("DELETE FROM compat_webhooks WHERE token = ?1", [token])?
        }
        OutputWrite::CompatWebhookProgress {
            token,
            delivered_seq,
            error,
        } => c
            .prepare_cached(
                "UPDATE compat_webhooks SET delivered_seq = MAX(delivered_seq, ?1),
                     failures = CASE WHEN ?2 IS NULL THEN 0 ELSE failures + 1 END,
                     last_error = ?2
                 WHERE token = ?3",
            )?
            .execute(params![*delivered_seq as i64, error, token])?,
        OutputWrite::Position {
            name,
            delivered_seq,
        } => c
            .prepare_cached(
                "INSERT INTO output_positions (name, delivered_seq) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE
                 SET delivered_seq = MAX(delivered_seq, excluded.delivered_seq)",
            )?
            .execute(params![name, *delivered_seq as i64])?,
        OutputWrite::AddCompatSigningKey {
            key_id,
            private_pem,
            at,
        } => c.execute(
            "INSERT OR IGNORE INTO compat_signing_keys (key_id, private_pem, created_ms)
             VALUES (?1, ?2, ?3)",
            params![key_id, private_pem, ms(*at)],
        )?,
    };
    Ok(changed as u64)
}
