//! A small blocking client of the native API for the command line, turning the server's JSON
//! errors into messages that name what was wrong.

use anyhow::{Context, Result, anyhow};
use serde_json::Value;

pub struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> Client {
        Client {
            base: base.trim_end_matches('/').to_string(),
            token,
            agent: ureq::AgentBuilder::new()
                .timeout(std::time::Duration::from_secs(30))
                .build(),
        }
    }

    fn request(&self, method: &str, path: &str) -> ureq::Request {
        let mut r = self
            .agent
            .request(method, &format!("{}{}", self.base, path));
        if let Some(t) = &self.token {
            r = r.set("Authorization", &format!("Bearer {t}"));
        }
        r
    }

    pub fn get(&self, path: &str) -> Result<Value> {
        self.finish(self.request("GET", path).call())
    }

    /// A body that is not JSON (a chart), or the server's JSON error.
    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>> {
        match self.request("GET", path).call() {
            Ok(resp) => {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut resp.into_reader(), &mut bytes)
                    .with_context(|| format!("{}: reading the answer", self.base))?;
                Ok(bytes)
            }
            Err(e) => self.finish(Err(e)).map(|_| Vec::new()),
        }
    }

    pub fn post(&self, path: &str, body: &Value, idempotency_key: Option<&str>) -> Result<Value> {
        let mut r = self.request("POST", path);
        if let Some(k) = idempotency_key {
            r = r.set("Idempotency-Key", k);
        }
        self.finish(r.send_json(body))
    }

    pub fn put(&self, path: &str, body: &Value) -> Result<Value> {
        self.finish(self.request("PUT", path).send_json(body))
    }

    pub fn delete(&self, path: &str) -> Result<Value> {
        self.finish(self.request("DELETE", path).call())
    }

    fn finish(&self, result: Result<ureq::Response, ureq::Error>) -> Result<Value> {
        match result {
            Ok(resp) => resp
                .into_json()
                .with_context(|| format!("{}: the answer was not JSON", self.base)),
            Err(ureq::Error::Status(status, resp)) => {
                let body: Value = resp.into_json().unwrap_or(Value::Null);
                Err(anyhow!(describe_error(status, &body)))
            }
            Err(ureq::Error::Transport(t)) => {
                Err(anyhow!("could not reach the server at {}: {t}", self.base))
            }
        }
    }
}

/// "403 forbidden: token ... may not ..." plus the candidates a region name could have meant.
pub fn describe_error(status: u16, body: &Value) -> String {
    let error = &body["error"];
    let mut text = format!(
        "{status} {}: {}",
        error["code"].as_str().unwrap_or("error"),
        error["message"]
            .as_str()
            .unwrap_or("the server gave no reason")
    );
    if let Some(candidates) = error["candidates"].as_array().filter(|c| !c.is_empty()) {
        text.push_str("\ncandidates:");
        for c in candidates {
            text.push_str(&format!(
                "\n  {:>6}  {} / {} ({}, {})",
                c["id"],
                c["name_uk"].as_str().unwrap_or(""),
                c["name_en"].as_str().unwrap_or(""),
                c["level"].as_str().unwrap_or(""),
                c["oblast"].as_str().unwrap_or("")
            ));
        }
    }
    if let Some(id) = error["alert"]["id"].as_u64() {
        text.push_str(&format!("\nthe active alert is {id}"));
    }
    text
}
