//! Signed events and signed CAP messages: the server's Ed25519 key, the canonical bytes an
//! event signature covers, and the checks `tryvoga verify` and devices run offline. A little
//! over 600 lines, most of it the documentation below and the tests of every check: the
//! signing and the checking of one format stay in one file so they cannot drift apart.
//!
//! # The key
//! One Ed25519 key per record, made by whatever first writes the record (`serve`, or a command
//! given `--db`) and kept beside the database in `<db>.ed25519` unless `--signing-key` says
//! elsewhere (PKCS#8 PEM, mode 0600; back it up with the database). Its public half is
//! served at `/.well-known/tryvoga-key`. The key id is the first 8 bytes of SHA-256 of the
//! 32-byte public key, in lower-case hex.
//!
//! # Event signatures
//! Every event in the log carries `"sig": "ed25519:<key id>:<signature>"`, the signature in
//! base64url without padding. It signs the event's **canonical bytes**:
//!
//! 1. take the event as a JSON object and remove its top-level `sig` member;
//! 2. write it with no whitespace between tokens, the members of every object (at any depth)
//!    in ascending order of their keys compared as UTF-8 byte strings;
//! 3. write strings as serde_json does: UTF-8, with only `"`, `\` and the control characters
//!    escaped (`\b \f \n \r \t`, others as `\u00XX` in lower-case hex), `/` and non-ASCII
//!    characters as they are;
//! 4. write numbers as serde_json does: integers in decimal, other numbers in the shortest
//!    form that reads back to the same double (the log holds integers only, today).
//!
//! For the JSON the log holds this is RFC 8785 (JCS) byte for byte: keys are ASCII, so byte
//! order is UTF-16 order. A verifier parses the received JSON, drops `sig` and rebuilds these
//! bytes, so the order members arrive in and whitespace in transit do not matter.
//!
//! # CAP signatures
//! A CAP message ends with an element in the XML-DSig namespace, the only place the CAP 1.2
//! schema allows one:
//!
//! ```xml
//! <Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo>
//!   <CanonicalizationMethod Algorithm="urn:tryvoga:cap-signature:1"/>
//!   <SignatureMethod Algorithm="http://www.w3.org/2021/04/xmldsig-more#eddsa-ed25519"/>
//!   <Reference URI=""><DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
//!   <DigestValue>base64 SHA-256 of M</DigestValue></Reference></SignedInfo>
//!   <SignatureValue>base64 Ed25519 signature of M</SignatureValue>
//!   <KeyInfo><KeyName>key id</KeyName></KeyInfo></Signature>
//! ```
//!
//! (written on one line). `M` is the exact bytes of the `<alert ...>...</alert>` element
//! with this `<Signature ...>...</Signature>` element cut out: no XML declaration, no
//! re-serialisation. The algorithm URI is ours, not XML-DSig's C14N, so a generic XML-DSig
//! library refuses it rather than misjudging it; the same bytes verify whether the alert is
//! fetched alone or read out of the Atom feed, which embeds it verbatim. Anything that
//! re-indents the XML breaks the signature, as it should: the check is on the bytes sent.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tryvoga_core::Event;
use tryvoga_store::Sealer;

/// Why a key could not be read or made, or a signature does not verify; the message names
/// the file or the part at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningError(pub String);

impl std::fmt::Display for SigningError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SigningError {}

impl From<String> for SigningError {
    fn from(message: String) -> SigningError {
        SigningError(message)
    }
}

impl From<&str> for SigningError {
    fn from(message: &str) -> SigningError {
        SigningError(message.to_string())
    }
}

impl std::ops::Deref for SigningError {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// The server's signing key.
pub struct EventKey {
    key: SigningKey,
    pub key_id: String,
}

impl std::fmt::Debug for EventKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// Who opens the record, and so what to do with a key that is not the record's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyUse {
    /// A server must start even when the record's key is lost: it warns.
    Serve,
    /// A command writing the database file must not sign with a key that the record's readers
    /// do not trust: it refuses.
    Offline,
}

/// The record's key at `path`, made there if the record has signed nothing yet. `newest_sig`
/// is the `sig` of the record's newest signed event: a key that did not make it, or no key
/// at all for a record that has signed events, is refused (offline) or warned about (serve).
pub fn record_key(
    path: &Path,
    newest_sig: Option<&str>,
    key_use: KeyUse,
) -> Result<EventKey, SigningError> {
    let signed_with = newest_sig.and_then(sig_key_id);
    if key_use == KeyUse::Offline
        && let Some(id) = signed_with
        && !path
            .try_exists()
            .map_err(|e| format!("{}: {e}", path.display()))?
    {
        return Err(format!(
            "{}: no key there, but the record's events are signed with key {id}; give the \
             record's key with --signing-key PATH",
            path.display()
        )
        .into());
    }
    let key = EventKey::load_or_create(path)?;
    if let Some(id) = signed_with
        && id != key.key_id
    {
        match key_use {
            KeyUse::Offline => {
                return Err(format!(
                    "{}: key {} is not the record's: its newest signed event is signed with key \
                     {id}; give the record's key with --signing-key PATH",
                    path.display(),
                    key.key_id
                )
                .into());
            }
            KeyUse::Serve => tracing::warn!(
                path = %path.display(),
                key_id = %key.key_id,
                record_key_id = id,
                "signing with a key that is not the one the record's newest events are signed \
                 with: readers that trust only this key will not verify those events"
            ),
        }
    }
    Ok(key)
}

/// The key id in an event's `sig` (`ed25519:<key id>:<signature>`).
fn sig_key_id(sig: &str) -> Option<&str> {
    let mut parts = sig.splitn(3, ':');
    match (parts.next(), parts.next()) {
        (Some("ed25519"), Some(id)) => Some(id),
        _ => None,
    }
}

/// Where the key of the record at `db` lives: beside a database file; for a PostgreSQL URL, in
/// the working directory, named after the server and database (every node of one record must
/// sign with the same key: copy it to the others, or give each `--signing-key`).
pub fn key_path(db: &Path) -> PathBuf {
    if let Some(url) = db.to_str().filter(|d| tryvoga_store::is_server_url(d)) {
        let place = url.split_once("://").map_or(url, |(_, rest)| rest);
        let place = place.rsplit_once('@').map_or(place, |(_, host)| host);
        let place = place.split('?').next().unwrap_or_default();
        let name: String = place
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        return PathBuf::from(format!("tryvoga-{name}.ed25519"));
    }
    let mut p = db.as_os_str().to_owned();
    p.push(".ed25519");
    PathBuf::from(p)
}

pub fn key_id(public: &VerifyingKey) -> String {
    Sha256::digest(public.as_bytes())[..8]
        .iter()
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

impl EventKey {
    pub fn generate() -> EventKey {
        EventKey::from_signing(SigningKey::generate(&mut rand_core::OsRng))
    }

    fn from_signing(key: SigningKey) -> EventKey {
        let key_id = key_id(&key.verifying_key());
        EventKey { key, key_id }
    }

    /// Reads the key at `path`, or makes one there if there is no file yet.
    pub fn load_or_create(path: &Path) -> Result<EventKey, SigningError> {
        match std::fs::read_to_string(path) {
            Ok(pem) => SigningKey::from_pkcs8_pem(&pem)
                .map(EventKey::from_signing)
                .map_err(|e| format!("{}: not an Ed25519 PKCS#8 key: {e}", path.display()).into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = EventKey::generate();
                let pem = key
                    .key
                    .to_pkcs8_pem(Default::default())
                    .map_err(|e| format!("encoding the signing key: {e}"))?;
                write_private(path, pem.as_bytes())
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                tracing::info!(key_id = %key.key_id, path = %path.display(), "made the event signing key");
                Ok(key)
            }
            Err(e) => Err(format!("{}: {e}", path.display()).into()),
        }
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// A bare Ed25519 signature, for webhook deliveries signed with the server key.
    pub fn sign_bytes(&self, message: &[u8]) -> Signature {
        self.key.sign(message)
    }

    /// The `sig` value for an event.
    pub fn sign_event(&self, event: &Event) -> String {
        let value = serde_json::to_value(event).unwrap_or(Value::Null);
        self.sign_value(&value)
    }

    pub fn sign_value(&self, value: &Value) -> String {
        let sig = self.key.sign(&canonical_bytes(value));
        format!(
            "ed25519:{}:{}",
            self.key_id,
            URL_SAFE_NO_PAD.encode(sig.to_bytes())
        )
    }

    /// The writer's hook: every appended event is signed with this key.
    pub fn sealer(self: &Arc<Self>) -> Sealer {
        let key = Arc::clone(self);
        Box::new(move |event| key.sign_event(event))
    }

    /// `/.well-known/tryvoga-key`: everything a device needs to check what it receives.
    pub fn public_document(&self) -> Value {
        let public = self.verifying_key();
        let pem = public
            .to_public_key_pem(Default::default())
            .unwrap_or_default();
        serde_json::json!({
            "keys": [{
                "alg": "ed25519",
                "key_id": self.key_id,
                "public_key": URL_SAFE_NO_PAD.encode(public.as_bytes()),
                "public_key_pem": pem,
            }],
            "event_signature": "sig = \"ed25519:<key_id>:<base64url signature>\" over the event JSON without sig, keys sorted, no whitespace (RFC 8785)",
            "cap_signature": "urn:tryvoga:cap-signature:1: Ed25519 over the <alert> element's bytes with its xmldsig Signature element removed",
        })
    }

    /// Signs a CAP `<alert>...</alert>` element, inserting the signature before `</alert>`.
    pub fn sign_cap(&self, alert: &str) -> String {
        let Some(end) = alert.rfind("</alert>") else {
            return alert.to_string();
        };
        let message = alert.as_bytes();
        let digest = STANDARD.encode(Sha256::digest(message));
        let sig = STANDARD.encode(self.key.sign(message).to_bytes());
        let mut out = String::with_capacity(alert.len() + 700);
        out.push_str(&alert[..end]);
        let _ = write!(
            out,
            "<Signature xmlns=\"{DSIG}\"><SignedInfo><CanonicalizationMethod Algorithm=\"{CAP_C14N}\"/>\
             <SignatureMethod Algorithm=\"{ED25519}\"/><Reference URI=\"\"><DigestMethod Algorithm=\"{SHA256}\"/>\
             <DigestValue>{digest}</DigestValue></Reference></SignedInfo><SignatureValue>{sig}</SignatureValue>\
             <KeyInfo><KeyName>{}</KeyName></KeyInfo></Signature>",
            self.key_id
        );
        out.push_str(&alert[end..]);
        out
    }
}

const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
const CAP_C14N: &str = "urn:tryvoga:cap-signature:1";
const ED25519: &str = "http://www.w3.org/2021/04/xmldsig-more#eddsa-ed25519";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The canonical bytes of an event: see the module documentation.
pub fn canonical_bytes(event: &Value) -> Vec<u8> {
    let mut out = String::with_capacity(512);
    match event {
        Value::Object(map) => write_object(&mut out, map, true),
        other => write_value(&mut out, other),
    }
    out.into_bytes()
}

fn write_object(out: &mut String, map: &serde_json::Map<String, Value>, top: bool) {
    let mut keys: Vec<&String> = map
        .keys()
        .filter(|k| !(top && k.as_str() == "sig"))
        .collect();
    keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    out.push('{');
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, key);
        out.push(':');
        write_value(out, &map[key]);
    }
    out.push('}');
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) => write_object(out, map, false),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::String(s) => write_string(out, s),
        // Null, booleans and numbers have one serde_json spelling.
        other => out.push_str(&other.to_string()),
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

/// Public keys a verifier trusts, by key id.
#[derive(Debug, Clone, Default)]
pub struct Trusted {
    keys: Vec<(String, VerifyingKey)>,
}

impl Trusted {
    pub fn new(keys: impl IntoIterator<Item = VerifyingKey>) -> Trusted {
        Trusted {
            keys: keys.into_iter().map(|k| (key_id(&k), k)).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Reads keys from the `/.well-known/tryvoga-key` document, a PEM public key, or a bare
    /// base64/base64url 32-byte key.
    pub fn parse(text: &str) -> Result<Trusted, SigningError> {
        let text = text.trim();
        if text.starts_with('{') {
            let doc: Value =
                serde_json::from_str(text).map_err(|e| format!("key document: {e}"))?;
            let keys = doc
                .get("keys")
                .and_then(Value::as_array)
                .ok_or("key document: no \"keys\" array")?;
            let mut out = Vec::new();
            for k in keys {
                let raw = k
                    .get("public_key")
                    .and_then(Value::as_str)
                    .ok_or("key document: a key has no \"public_key\"")?;
                out.push(raw_key(raw)?);
            }
            return Ok(Trusted::new(out));
        }
        if text.starts_with("-----BEGIN") {
            return VerifyingKey::from_public_key_pem(text)
                .map(|k| Trusted::new([k]))
                .map_err(|e| format!("not an Ed25519 public key PEM: {e}").into());
        }
        raw_key(text).map(|k| Trusted::new([k]))
    }

    fn get(&self, id: &str) -> Option<&VerifyingKey> {
        self.keys.iter().find(|(k, _)| k == id).map(|(_, k)| k)
    }
}

fn raw_key(text: &str) -> Result<VerifyingKey, SigningError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim().trim_end_matches('='))
        .or_else(|_| STANDARD.decode(text.trim()))
        .map_err(|_| "a public key must be base64 of 32 bytes".to_string())?;
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| "a public key must be 32 bytes".to_string())?;
    VerifyingKey::from_bytes(&arr).map_err(|e| format!("not an Ed25519 public key: {e}").into())
}

/// Checks an event's `sig` against the trusted keys.
pub fn verify_event(event: &Value, trusted: &Trusted) -> Result<(), SigningError> {
    let sig = event
        .get("sig")
        .and_then(Value::as_str)
        .ok_or("the event is not signed")?;
    let mut parts = sig.splitn(3, ':');
    let (Some("ed25519"), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("unknown signature form {sig:?}").into());
    };
    let key = trusted
        .get(id)
        .ok_or_else(|| format!("signed by key {id}, which is not trusted"))?;
    let raw = URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| "the signature is not base64url".to_string())?;
    let signature = Signature::from_slice(&raw).map_err(|_| "the signature is not 64 bytes")?;
    key.verify(&canonical_bytes(event), &signature)
        .map_err(|_| "the signature does not match the event: it was changed or forged".into())
}

/// Checks a signed CAP message (a whole document or just its `<alert>` element).
pub fn verify_cap(xml: &str, trusted: &Trusted) -> Result<String, SigningError> {
    let start = xml.find("<alert").ok_or("no <alert> element")?;
    let end = xml
        .rfind("</alert>")
        .map(|i| i + "</alert>".len())
        .ok_or("no </alert>")?;
    if end <= start {
        return Err("malformed <alert> element".into());
    }
    let alert = &xml[start..end];
    let open = format!("<Signature xmlns=\"{DSIG}\">");
    let sig_start = alert.rfind(&open).ok_or("the CAP message is not signed")?;
    let sig_len = alert[sig_start..]
        .find("</Signature>")
        .map(|i| i + "</Signature>".len())
        .ok_or("the Signature element is not closed")?;
    let element = &alert[sig_start..sig_start + sig_len];
    let mut message = String::with_capacity(alert.len());
    message.push_str(&alert[..sig_start]);
    message.push_str(&alert[sig_start + sig_len..]);
    if !element.contains(CAP_C14N) {
        return Err(format!("the signature does not use {CAP_C14N}").into());
    }
    let between = |a: &str, b: &str| -> Result<&str, SigningError> {
        let i = element.find(a).ok_or(format!("no {a} in the signature"))? + a.len();
        let j = element[i..]
            .find(b)
            .ok_or(format!("no {b} in the signature"))?;
        Ok(&element[i..i + j])
    };
    let id = between("<KeyName>", "</KeyName>")?;
    let key = trusted
        .get(id)
        .ok_or_else(|| format!("signed by key {id}, which is not trusted"))?;
    let digest = between("<DigestValue>", "</DigestValue>")?;
    if STANDARD.encode(Sha256::digest(message.as_bytes())) != digest {
        return Err("the CAP message was changed after it was signed (digest differs)".into());
    }
    let raw = STANDARD
        .decode(between("<SignatureValue>", "</SignatureValue>")?)
        .map_err(|_| "the SignatureValue is not base64".to_string())?;
    let signature = Signature::from_slice(&raw).map_err(|_| "the signature is not 64 bytes")?;
    key.verify(message.as_bytes(), &signature)
        .map_err(|_| "the CAP signature does not match: changed or forged".to_string())?;
    Ok(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_postgres_record_keeps_its_key_by_name_never_with_the_password() {
        assert_eq!(
            key_path(Path::new(
                "postgres://tv:secret@10.0.0.5:5432/alerts?sslmode=disable"
            )),
            PathBuf::from("tryvoga-10.0.0.5_5432_alerts.ed25519")
        );
    }

    #[test]
    fn a_record_is_signed_only_with_its_own_key_offline_and_a_server_still_starts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db.ed25519");
        // Nothing signed yet: the key is made.
        let key = record_key(&path, None, KeyUse::Offline).unwrap();
        let own_sig = format!("ed25519:{}:AAAA", key.key_id);
        assert_eq!(
            record_key(&path, Some(&own_sig), KeyUse::Offline)
                .unwrap()
                .key_id,
            key.key_id
        );

        let foreign = "ed25519:0011223344556677:AAAA";
        let err = record_key(&path, Some(foreign), KeyUse::Offline).unwrap_err();
        assert!(
            err.contains("is not the record's") && err.contains("0011223344556677"),
            "{err}"
        );
        let missing = dir.path().join("none.ed25519");
        let err = record_key(&missing, Some(foreign), KeyUse::Offline).unwrap_err();
        assert!(err.contains("no key there"), "{err}");
        assert!(
            !missing.exists(),
            "no key is made for a record that has one elsewhere"
        );

        // A server whose key is lost starts with a new one (and warns).
        let new = record_key(&missing, Some(foreign), KeyUse::Serve).unwrap();
        assert!(missing.exists());
        assert_ne!(new.key_id, "0011223344556677");
        assert!(record_key(&path, Some(foreign), KeyUse::Serve).is_ok());
    }

    #[test]
    fn canonical_bytes_sort_keys_at_every_depth_and_drop_only_the_top_sig() {
        let v = json!({"seq": 3, "sig": "x", "alert": {"z": [1, {"b": null, "a": "é\n\"/"}], "sig": 1}, "at": "t"});
        assert_eq!(
            String::from_utf8(canonical_bytes(&v)).unwrap(),
            r#"{"alert":{"sig":1,"z":[1,{"a":"é\n\"/","b":null}]},"at":"t","seq":3}"#
        );
    }

    #[test]
    fn an_event_signature_survives_reordering_and_fails_on_any_change() {
        let key = EventKey::generate();
        let trusted = Trusted::new([key.verifying_key()]);
        let mut v =
            json!({"seq": 1, "kind": "alert.started", "alert": {"id": 7, "note": "Тривога"}});
        let sig = key.sign_value(&v);
        v["sig"] = json!(sig);
        let text = v.to_string();
        let reparsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(verify_event(&reparsed, &trusted), Ok(()));
        let mut changed = reparsed.clone();
        changed["alert"]["id"] = json!(8);
        assert!(verify_event(&changed, &trusted).is_err());
        let other = Trusted::new([EventKey::generate().verifying_key()]);
        assert!(verify_event(&reparsed, &other).is_err());
        let doc = key.public_document().to_string();
        assert_eq!(
            verify_event(&reparsed, &Trusted::parse(&doc).unwrap()),
            Ok(())
        );
    }

    #[test]
    fn a_cap_signature_covers_the_alert_bytes() {
        let key = EventKey::generate();
        let trusted = Trusted::new([key.verifying_key()]);
        let alert = r#"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>a</identifier></alert>"#;
        let signed = key.sign_cap(alert);
        let doc = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{signed}");
        assert_eq!(verify_cap(&doc, &trusted), Ok(key.key_id.clone()));
        assert!(verify_cap(&doc.replace(">a<", ">b<"), &trusted).is_err());
        assert!(verify_cap(alert, &trusted).is_err());
    }

    #[test]
    fn the_key_is_made_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = key_path(&dir.path().join("t.db"));
        let a = EventKey::load_or_create(&path).unwrap();
        let b = EventKey::load_or_create(&path).unwrap();
        assert_eq!(a.key_id, b.key_id);
    }
}
