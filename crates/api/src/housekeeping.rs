//! The server's housekeeping: what ends by itself is recorded as it ends. Four times a second
//! it asks the state which threats and pre-alerts have lapsed and which pre-alerts an actual
//! alert now covers (`State::due`, pure), and sends those commands as the `system:expiry`
//! admin; the core decides them like any other (refusing an expiry before its time), so the
//! stream, webhooks and the log hear `threat.cleared` / `prealert.ended` within a quarter of a
//! second. On several nodes each sends them; the second to arrive is refused as already
//! ended, and that refusal is audited.

use std::time::Duration;

use chrono::Utc;
use tryvoga_core::{Actor, Role};

use crate::app::SharedApp;

/// How often the state is looked at.
pub const TICK: Duration = Duration::from_millis(250);

/// Runs until the runtime stops. Call once, on the runtime that serves.
pub fn start(app: &SharedApp) {
    let app = SharedApp::clone(app);
    tokio::spawn(async move {
        let actor = Actor {
            name: "system:expiry".into(),
            role: Role::Admin,
            scope: Vec::new(),
        };
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let due = app.store.state().due(app.registry, Utc::now());
            for command in due {
                if let Err(e) = app.store.command(actor.clone(), command, None).await {
                    tracing::debug!(error = %e, "housekeeping: a lapse was not recorded");
                }
            }
        }
    });
}
