//! The outputs' tables in PostgreSQL: native webhooks and their dead letters,
//! ukrainealarm-style webhooks, and the key their deliveries are signed with.

use postgres::{Client, Row};

use super::{PgQueries, seq};
use crate::outputs::{CompatWebhook, DeadLetter, OutputPositions, OutputWrite, Webhook};
use crate::{StoreError, from_ms, ms};

const COLUMNS: &str = "id, owner, url, regions, types, signing, secret, created_ms, delivered_seq, attempts, last_error";

fn webhook_row(r: &Row) -> Webhook {
    let json_list = |i: usize| r.get::<_, Option<&str>>(i);
    Webhook {
        id: r.get(0),
        owner: r.get(1),
        url: r.get(2),
        regions: json_list(3).and_then(|s| serde_json::from_str(s).ok()),
        types: json_list(4).and_then(|s| serde_json::from_str(s).ok()),
        signing: r.get(5),
        secret: r.get(6),
        created_ms: r.get(7),
        delivered_seq: seq(r.get(8)),
        attempts: r.get::<_, i64>(9).clamp(0, u32::MAX as i64) as u32,
        last_error: r.get(10),
    }
}

fn dead_count(c: &mut Client, id: &str) -> Result<u64, StoreError> {
    Ok(seq(c
        .query_one(
            "SELECT COUNT(*) FROM webhook_dead_letters WHERE webhook = $1",
            &[&id],
        )?
        .get(0)))
}

impl OutputPositions for PgQueries {
    fn webhooks(&self) -> Result<Vec<(Webhook, u64)>, StoreError> {
        self.with(|c| {
            let rows = c.query(
                &format!(
                    "SELECT {COLUMNS}, (SELECT COUNT(*) FROM webhook_dead_letters d
                         WHERE d.webhook = w.id)
                     FROM webhooks w ORDER BY created_ms"
                ),
                &[],
            )?;
            Ok(rows
                .iter()
                .map(|r| (webhook_row(r), seq(r.get(11))))
                .collect())
        })
    }

    fn webhook(&self, id: &str) -> Result<Option<Webhook>, StoreError> {
        self.with(|c| {
            Ok(c.query_opt(
                &format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1"),
                &[&id],
            )?
            .as_ref()
            .map(webhook_row))
        })
    }

    fn webhook_ids(&self) -> Result<Vec<String>, StoreError> {
        self.with(|c| {
            Ok(c.query("SELECT id FROM webhooks", &[])?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })
    }

    fn dead_letter_count(&self, webhook: &str) -> Result<u64, StoreError> {
        self.with(|c| dead_count(c, webhook))
    }

    fn dead_letters(&self, webhook: &str) -> Result<Vec<DeadLetter>, StoreError> {
        self.with(|c| {
            let rows = c.query(
                "SELECT delivery, seq, attempts, last_error, failed_ms
                 FROM webhook_dead_letters WHERE webhook = $1 ORDER BY seq",
                &[&webhook],
            )?;
            Ok(rows
                .iter()
                .map(|r| DeadLetter {
                    delivery: r.get(0),
                    seq: seq(r.get(1)),
                    attempts: r.get::<_, i64>(2).clamp(0, u32::MAX as i64) as u32,
                    last_error: r.get(3),
                    failed_at: from_ms(r.get(4)),
                })
                .collect())
        })
    }

    fn compat_webhook_tokens(&self) -> Result<Vec<String>, StoreError> {
        self.with(|c| {
            Ok(c.query("SELECT token FROM compat_webhooks", &[])?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })
    }

    fn compat_webhook(&self, token: &str) -> Result<Option<CompatWebhook>, StoreError> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT url, delivered_seq FROM compat_webhooks WHERE token = $1",
                &[&token],
            )?
            .map(|r| CompatWebhook {
                url: r.get(0),
                delivered_seq: seq(r.get(1)),
            }))
        })
    }

    fn compat_signing_key(&self) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT private_pem FROM compat_signing_keys ORDER BY created_ms DESC LIMIT 1",
                &[],
            )?
            .map(|r| r.get(0)))
        })
    }

    fn position(&self, name: &str) -> Result<Option<u64>, StoreError> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT delivered_seq FROM output_positions WHERE name = $1",
                &[&name],
            )?
            .map(|r| seq(r.get(0))))
        })
    }
}

/// Runs one output change inside the batch's transaction; the rows it changed.
pub(crate) fn write(c: &mut Client, write: &OutputWrite) -> Result<u64, StoreError> {
    let changed = match write {
        OutputWrite::CreateWebhook(w) => c.execute(
            "INSERT INTO webhooks (id, owner, url, regions, types, signing, secret,
                 created_ms, delivered_seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &w.id,
                &w.owner,
                &w.url,
                &w.regions.as_ref().map(serde_json::to_string).transpose()?,
                &w.types.as_ref().map(serde_json::to_string).transpose()?,
                &w.signing,
                &w.secret,
                &w.created_ms,
                &(w.delivered_seq as i64),
            ],
        )?,
        OutputWrite::DeleteWebhook { id } => {
            let n = c.execute("DELETE FROM webhooks WHERE id = $1", &[id])?;
            c.execute("DELETE FROM webhook_dead_letters WHERE webhook = $1", &[id])?;
            n
        }
        OutputWrite::WebhookProgress {
            id,
            delivered_seq,
            attempts,
            last_error,
        } => c.execute(
            "UPDATE webhooks SET delivered_seq = GREATEST(delivered_seq, $1), attempts = $2,
                 last_error = $3 WHERE id = $4",
            &[
                &(*delivered_seq as i64),
                &i64::from(*attempts),
                last_error,
                id,
            ],
        )?,
        OutputWrite::DeadLetter { webhook, letter } => c.execute(
            "INSERT INTO webhook_dead_letters
                 (webhook, delivery, seq, attempts, last_error, failed_ms)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (webhook, seq) DO NOTHING",
            &[
                webhook,
                &letter.delivery,
                &(letter.seq as i64),
                &i64::from(letter.attempts),
                &letter.last_error,
                &ms(letter.failed_at),
            ],
        )?,
        OutputWrite::RegisterCompatWebhook {
            token,
            url,
            at,
            from_seq,
        } => c.execute(
            "INSERT INTO compat_webhooks (token, url, created_ms, updated_ms, delivered_seq)
             VALUES ($1, $2, $3, $3, $4)
             ON CONFLICT (token) DO UPDATE SET url = excluded.url,
                 updated_ms = excluded.updated_ms, failures = 0, last_error = NULL",
            &[token, url, &ms(*at), &(*from_seq as i64)],
        )?,
        OutputWrite::MoveCompatWebhook { token, url, at } => c.execute(
            "UPDATE compat_webhooks SET url = $1, updated_ms = $2, failures = 0,
             last_error = NULL WHERE token = $3",
            &[url, &ms(*at), token],
        )?,
        OutputWrite::RemoveCompatWebhook { token } => {
            c.execute("DELETE FROM compat_webhooks WHERE token = $1", &[token])?
        }
        OutputWrite::CompatWebhookProgress {
            token,
            delivered_seq,
            error,
        } => c.execute(
            "UPDATE compat_webhooks SET delivered_seq = GREATEST(delivered_seq, $1),
                 failures = CASE WHEN $2::text IS NULL THEN 0 ELSE failures + 1 END,
                 last_error = $2
             WHERE token = $3",
            &[&(*delivered_seq as i64), error, token],
        )?,
        OutputWrite::Position {
            name,
            delivered_seq,
        } => c.execute(
            "INSERT INTO output_positions (name, delivered_seq) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE
             SET delivered_seq = GREATEST(output_positions.delivered_seq, excluded.delivered_seq)",
            &[name, &(*delivered_seq as i64)],
        )?,
        OutputWrite::AddCompatSigningKey {
            key_id,
            private_pem,
            at,
        } => c.execute(
            "INSERT INTO compat_signing_keys (key_id, private_pem, created_ms)
             VALUES ($1, $2, $3) ON CONFLICT (key_id) DO NOTHING",
            &[key_id, private_pem, &ms(*at)],
        )?,
    };
    Ok(changed)
}
