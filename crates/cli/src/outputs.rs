//! `tryvoga serve` options of the outputs: the event signing key, CAP, webhooks, MQTT.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, anyhow};
use clap::Args;
use ipnet::IpNet;
use tryvoga_core::Registry;
use tryvoga_outputs::OutputOptions;
use tryvoga_outputs::targets::TargetPolicy;

#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// The Ed25519 key every event is signed with (PKCS#8 PEM); made on first start.
    /// Default: beside the database, `<db>.ed25519`.
    #[arg(long, value_name = "PATH", env = "TRYVOGA_SIGNING_KEY")]
    signing_key: Option<PathBuf>,
    /// The `<sender>` of CAP messages.
    #[arg(long, value_name = "ID", default_value = "tryvoga@localhost")]
    cap_sender: String,
    /// The first wait before a failed webhook delivery is retried; it doubles each time.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    webhook_retry_base_ms: u64,
    /// The longest wait between two attempts of a webhook delivery.
    #[arg(long, value_name = "MS", default_value_t = 600_000)]
    webhook_retry_max_ms: u64,
    /// Attempts before a webhook delivery goes to the dead-letter list.
    #[arg(long, value_name = "N", default_value_t = 15)]
    webhook_max_attempts: u32,
    /// Publish to this MQTT broker: mqtt://[user[:password]@]host[:port].
    #[arg(long, value_name = "URL", env = "TRYVOGA_MQTT")]
    mqtt: Option<String>,
    /// The topic prefix of MQTT messages.
    #[arg(long, value_name = "PREFIX", default_value = "tryvoga")]
    mqtt_prefix: String,
    /// The regions given retained MQTT statuses and Home Assistant sensors, comma-separated
    /// (ids or names); default: every oblast-level unit.
    #[arg(long, value_name = "REGIONS")]
    mqtt_regions: Option<String>,
    /// How long a node's hold on an output (a webhook's deliveries, the MQTT publisher)
    /// lasts without renewal: on a shared PostgreSQL record, how soon another node takes
    /// over the outputs of one that died. Renewed every third of it.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    output_lease_ms: u64,
    /// Let webhooks reach this range (CIDR, or one address), repeatable: a receiver on this
    /// machine or the private network. Without it loopback, private, link-local, multicast
    /// and reserved addresses are refused, at registration and at every delivery.
    #[arg(long, value_name = "CIDR", value_parser = parse_range)]
    webhook_allow: Vec<IpNet>,
}

/// `10.0.0.0/8`, `fd00::/8`, or one address such as `127.0.0.1`.
fn parse_range(text: &str) -> Result<IpNet, String> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is not an address range such as 10.0.0.0/8 or an address"))
}

impl OutputArgs {
    pub fn options(&self, registry: &Registry) -> Result<OutputOptions> {
        // Below this a renewal every third of the lease is a database write every few
        // tens of milliseconds per output, and a slow statement loses the lease.
        if self.output_lease_ms < 300 {
            return Err(anyhow!("--output-lease-ms must be at least 300"));
        }
        if self.webhook_max_attempts == 0 {
            return Err(anyhow!("--webhook-max-attempts must be at least 1"));
        }
        if self.cap_sender.is_empty()
            || self
                .cap_sender
                .contains(|c: char| c.is_whitespace() || ",&<".contains(c))
        {
            return Err(anyhow!(
                "--cap-sender must be one word without spaces, commas, & or < (CAP's rule)"
            ));
        }
        let mqtt = match &self.mqtt {
            None => None,
            Some(url) => {
                let mut o =
                    tryvoga_outputs::mqtt::MqttOptions::from_url(url).map_err(|e| anyhow!(e))?;
                let prefix = self.mqtt_prefix.trim_matches('/');
                if prefix.is_empty() || prefix.contains(['+', '#']) {
                    return Err(anyhow!("--mqtt-prefix must be a topic without wildcards"));
                }
                o.prefix = prefix.to_string();
                if let Some(list) = &self.mqtt_regions {
                    for r in list.split(',').filter(|s| !s.trim().is_empty()) {
                        let region = registry
                            .resolve(r.trim())
                            .map_err(|e| anyhow!("--mqtt-regions: {e}"))?;
                        o.regions.push(region.id);
                    }
                }
                Some(o)
            }
        };
        Ok(OutputOptions {
            signing_key: self.signing_key.clone(),
            cap_sender: self.cap_sender.clone(),
            webhooks: tryvoga_outputs::webhooks::Retry {
                base: Duration::from_millis(self.webhook_retry_base_ms.max(1)),
                max: Duration::from_millis(self.webhook_retry_max_ms.max(1)),
                max_attempts: self.webhook_max_attempts,
            },
            mqtt,
            lease: tryvoga_outputs::lease::LeaseOptions {
                ttl: Duration::from_millis(self.output_lease_ms),
                ..Default::default()
            },
            webhook_targets: TargetPolicy::allowing(self.webhook_allow.clone()),
        })
    }
}
