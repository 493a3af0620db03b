//! MQTT: publishes to the operator's broker (`--mqtt mqtt://[user:pass@]host:1883`).
//!
//! Topics (prefix `tryvoga`, `--mqtt-prefix` to change it):
//! - `tryvoga/regions/{id}/status`, retained: `A`, `P` or `N` for air-raid alerts on the
//!   region (as the alerts.in.ua IoT strings: active on it or an ancestor, partial below it);
//! - `tryvoga/regions/{id}/state`, retained: the same as JSON, with the live alerts of every
//!   type that touch the region and the log position it reflects;
//! - `tryvoga/events`: every event, the JSON the log holds (signed), QoS 1, not retained;
//! - `tryvoga/status`: `online`, or `offline` as the broker's last will;
//! - Home Assistant discovery, retained: `homeassistant/binary_sensor/tryvoga_{id}/config`
//!   for each configured region (the oblasts unless `--mqtt-regions` says otherwise), so
//!   each appears as a `safety` binary sensor with no configuration.
//!
//! The publisher follows the log by sequence like every other output: it reads what was
//! committed after its position, kept in the record, so a slow broker delays only it, a
//! restart carries on where it stopped, and a reconnect republishes discovery and every
//! retained status before carrying on. On a record shared by several nodes one node
//! publishes, the holder of the `mqtt` lease; the others stay disconnected until it dies.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event as MqttEvent, LastWill, MqttOptions as Rumqtt, Packet, QoS};
use serde_json::json;
use tokio::sync::watch;
use tryvoga_bus::StoredEvent;
use tryvoga_core::{AlertType, RegionId, Registry, Status};

use crate::follower::{Progress, Sink, follow};
use crate::{OutputError, Outputs};
use tryvoga_store::OutputWrite;

/// What the operator chose for MQTT.
#[derive(Debug, Clone)]
pub struct MqttOptions {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub client_id: String,
    pub prefix: String,
    pub discovery_prefix: String,
    /// The regions given retained statuses and discovery; empty: every oblast-level unit.
    pub regions: Vec<RegionId>,
}

impl MqttOptions {
    /// Reads `mqtt://[user[:password]@]host[:port]`.
    pub fn from_url(text: &str) -> Result<MqttOptions, OutputError> {
        let url = url::Url::parse(text)
            .map_err(|e| OutputError::Config(format!("--mqtt {text:?}: {e}")))?;
        if url.scheme() != "mqtt" && url.scheme() != "tcp" {
            return Err(OutputError::Config(format!(
                "--mqtt {text:?}: only mqtt://host:port is supported (no TLS)"
            )));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| OutputError::Config(format!("--mqtt {text:?}: no host")))?
            .trim_matches(['[', ']'])
            .to_string();
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        Ok(MqttOptions {
            host,
            port: url.port().unwrap_or(1883),
            username: Some(decode(url.username())).filter(|u| !u.is_empty()),
            password: url.password().map(decode),
            client_id: format!("tryvoga-{}", std::process::id()),
            prefix: "tryvoga".into(),
            discovery_prefix: "homeassistant".into(),
            regions: Vec::new(),
        })
    }
}

/// Starts the publisher when a broker is configured: connected and publishing only while
/// this node holds the `mqtt` lease, so that one node of a shared record publishes.
pub fn start(outputs: &Arc<Outputs>) {
    let Some(options) = outputs.options.mqtt.clone() else {
        return;
    };
    let outputs = Arc::clone(outputs);
    tokio::spawn(crate::lease::leased(
        Arc::clone(&outputs),
        crate::lease::MQTT.to_string(),
        move || {
            let (outputs, options) = (Arc::clone(&outputs), options.clone());
            async move {
                // The publisher only ends if its connection does: it is started again, since
                // ending would give up the lease for good.
                loop {
                    publish(&outputs, &options).await;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        },
    ));
}

/// Connects to the broker and publishes the log from the position in the record. The
/// connection lives in this future: when the lease is lost and the future dropped, this node
/// disconnects.
async fn publish(outputs: &Arc<Outputs>, options: &MqttOptions) {
    let mut regions = options.regions.clone();
    if regions.is_empty() {
        regions = outputs.registry.oblasts().map(|r| r.id).collect();
    }
    let mut mqtt = Rumqtt::new(
        options.client_id.clone(),
        options.host.clone(),
        options.port,
    );
    mqtt.set_keep_alive(Duration::from_secs(30));
    mqtt.set_last_will(LastWill::new(
        format!("{}/status", options.prefix),
        "offline",
        QoS::AtLeastOnce,
        true,
    ));
    if let Some(user) = &options.username {
        mqtt.set_credentials(user.clone(), options.password.clone().unwrap_or_default());
    }
    let (client, mut eventloop) = AsyncClient::new(mqtt, 256);
    let (connected_tx, connected_rx) = watch::channel(0u64);
    let broker = format!("{}:{}", options.host, options.port);
    let connection = async move {
        let mut connections = 0u64;
        let mut warned = false;
        loop {
            match eventloop.poll().await {
                Ok(MqttEvent::Incoming(Packet::ConnAck(_))) => {
                    connections += 1;
                    warned = false;
                    tracing::info!(%broker, "connected to the MQTT broker");
                    let _ = connected_tx.send(connections);
                }
                Ok(_) => {}
                Err(e) => {
                    if !warned {
                        tracing::warn!(%broker, error = %e, "MQTT broker unreachable; retrying");
                        warned = true;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    };
    let publisher = Publisher {
        outputs: Arc::clone(outputs),
        client,
        prefix: options.prefix.clone(),
        discovery_prefix: options.discovery_prefix.clone(),
        regions,
        published: HashMap::new(),
        connected: connected_rx,
        position: None,
        saved: 0,
        started: false,
        broken: false,
    };
    let (source, store) = (Arc::clone(&outputs.source), outputs.store.clone());
    tokio::select! {
        () = connection => {}
        () = follow(source.as_ref(), &store, crate::lease::MQTT, publisher) => {}
    }
}

struct Publisher {
    outputs: Arc<Outputs>,
    client: AsyncClient,
    prefix: String,
    discovery_prefix: String,
    regions: Vec<RegionId>,
    /// The retained state last published per region, so only changes go out.
    published: HashMap<RegionId, String>,
    /// Counts the broker's connections: each new one is announced to again.
    connected: watch::Receiver<u64>,
    /// How far the log has been published; `None` until read from the record.
    position: Option<u64>,
    /// The position last kept in the record.
    saved: u64,
    started: bool,
    /// The client has gone: the publisher ends.
    broken: bool,
}

impl Sink for Publisher {
    const PAGE: usize = 500;

    async fn resume(&mut self) -> Result<Option<u64>, OutputError> {
        if self.broken {
            return Ok(None);
        }
        if !self.started {
            // Nothing is published until the first connection.
            if self.connected.wait_for(|n| *n > 0).await.is_err() {
                return Ok(None);
            }
            self.connected.mark_changed();
            self.started = true;
        }
        if self.connected.has_changed().unwrap_or(false) {
            self.connected.borrow_and_update();
            if self.announce().await.is_err() {
                return Ok(None);
            }
        }
        if let Some(position) = self.position {
            return Ok(Some(position));
        }
        // Where the last publisher (this node before a restart, or another node) stopped;
        // with none kept, from now: the retained statuses just announced say the rest.
        let kept = self
            .outputs
            .read(|q| q.position(crate::lease::MQTT))
            .await?;
        let position = kept.unwrap_or_else(|| self.outputs.source.head());
        self.saved = kept.unwrap_or(0);
        self.position = Some(position);
        Ok(Some(position))
    }

    async fn deliver(&mut self, page: &[StoredEvent]) -> Progress {
        let before = self.position.unwrap_or(0);
        let mut position = before;
        for e in page {
            if !e.about().history {
                let topic = format!("{}/events", self.prefix);
                if self
                    .client
                    .publish(topic, QoS::AtLeastOnce, false, e.payload.as_bytes())
                    .await
                    .is_err()
                {
                    self.broken = true;
                    break;
                }
            }
            position = e.seq;
        }
        if !self.broken && position > before && self.statuses(false, position).await.is_err() {
            self.broken = true;
        }
        Progress {
            position,
            failure: None,
        }
    }

    fn saved(&mut self, progress: &Progress) -> Option<OutputWrite> {
        self.position = Some(progress.position);
        if progress.position <= self.saved {
            return None;
        }
        self.saved = progress.position;
        Some(OutputWrite::Position {
            name: crate::lease::MQTT.to_string(),
            delivered_seq: progress.position,
        })
    }

    async fn woken(&mut self) {
        if self.connected.changed().await.is_err() {
            // The connection task has gone: nothing will wake this again.
            std::future::pending::<()>().await;
        }
    }
}

impl Publisher {
    /// Availability, discovery and every status, as after each (re)connection.
    async fn announce(&mut self) -> Result<(), rumqttc::ClientError> {
        self.client
            .publish(
                format!("{}/status", self.prefix),
                QoS::AtLeastOnce,
                true,
                "online",
            )
            .await?;
        let registry = self.outputs.registry;
        for &id in &self.regions {
            let Some(region) = registry.get(id) else {
                continue;
            };
            let base = format!("{}/regions/{}", self.prefix, id.0);
            let config = json!({
                "name": format!("Air raid alert: {}", region.name_en),
                "unique_id": format!("tryvoga_{}_{}_air_raid", self.outputs.key.key_id, id.0),
                "object_id": format!("tryvoga_air_raid_{}", id.0),
                "device_class": "safety",
                "state_topic": format!("{base}/status"),
                "value_template": "{{ 'ON' if value == 'A' else 'OFF' }}",
                "json_attributes_topic": format!("{base}/state"),
                "availability_topic": format!("{}/status", self.prefix),
                "icon": "mdi:alarm-light",
                "device": {
                    "identifiers": [format!("tryvoga_{}", self.outputs.key.key_id)],
                    "name": "Tryvoga",
                    "manufacturer": "Tryvoga",
                    "model": "air-raid alert server",
                },
            });
            self.client
                .publish(
                    format!(
                        "{}/binary_sensor/tryvoga_{}/config",
                        self.discovery_prefix, id.0
                    ),
                    QoS::AtLeastOnce,
                    true,
                    config.to_string(),
                )
                .await?;
        }
        self.statuses(true, self.outputs.source.head()).await
    }

    /// Publishes the retained status of every region whose state changed (or all).
    async fn statuses(&mut self, all: bool, seq: u64) -> Result<(), rumqttc::ClientError> {
        let state = self.outputs.store.state();
        let registry = self.outputs.registry;
        for &id in &self.regions.clone() {
            let status = state.status_of(registry, id, |a| a.alert_type == AlertType::AirRaid);
            let json = region_state(registry, &state, id, status);
            if !all && self.published.get(&id) == Some(&json) {
                continue;
            }
            let base = format!("{}/regions/{}", self.prefix, id.0);
            self.client
                .publish(
                    format!("{base}/status"),
                    QoS::AtLeastOnce,
                    true,
                    status.letter().to_string(),
                )
                .await?;
            let with_seq = {
                let mut v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
                v["seq"] = json!(seq);
                v.to_string()
            };
            self.client
                .publish(format!("{base}/state"), QoS::AtLeastOnce, true, with_seq)
                .await?;
            self.published.insert(id, json);
        }
        Ok(())
    }
}

/// A region's retained JSON, without the log position (so unchanged states compare equal).
fn region_state(
    registry: &Registry,
    state: &tryvoga_core::State,
    id: RegionId,
    status: Status,
) -> String {
    let region = registry.get(id);
    let alerts: Vec<serde_json::Value> = state
        .active()
        .filter(|a| a.status.is_actual() && registry.related(id, a.region.id))
        .map(|a| {
            json!({
                "id": a.id.0,
                "type": a.alert_type.as_str(),
                "level": a.level.map(|l| l.as_str()),
                "region_id": a.region.id.0,
                "started_at": a.started_at.to_rfc3339(),
            })
        })
        .collect();
    json!({
        "region": {
            "id": id.0,
            "name_uk": region.map(|r| r.name_uk.as_str()),
            "name_en": region.map(|r| r.name_en.as_str()),
        },
        "status": match status {
            Status::Active => "active",
            Status::Partial => "partial",
            Status::None => "none",
        },
        "letter": status.letter().to_string(),
        "alerts": alerts,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_with_and_without_credentials() {
        let o = MqttOptions::from_url("mqtt://127.0.0.1:18830").unwrap();
        assert_eq!(
            (o.host.as_str(), o.port, o.username),
            ("127.0.0.1", 18830, None)
        );
        let o = MqttOptions::from_url("mqtt://ha:p%40ss@broker.lan").unwrap();
        assert_eq!(o.port, 1883);
        assert_eq!(o.username.as_deref(), Some("ha"));
        assert_eq!(o.password.as_deref(), Some("p@ss"));
        assert!(MqttOptions::from_url("mqtts://x").is_err());
        assert!(MqttOptions::from_url("nonsense").is_err());
    }
}
