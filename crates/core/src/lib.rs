//! The pure core of Tryvoga: the regions registry, the alert model, threats, pre-alerts, power
//! restrictions, attack reports and threat notices read from texts, commands, events and the
//! state machine that decides commands and folds events. No I/O, no async, no clock: the
//! caller passes time in.

pub mod alert;
pub mod command;
pub mod event;
pub mod geo;
pub mod interest;
pub mod names;
pub mod power;
pub mod prealert;
pub mod region;
pub mod report;
pub mod situation;
pub mod state;
pub mod stats;
pub mod threat;

pub use alert::{Alert, AlertId, AlertLevel, AlertStatus, AlertType, Origin, UnknownWord};
pub use command::{Actor, Command, FromPlace, Refusal, Role};
pub use event::{Event, EventBody};
pub use interest::Interest;
pub use power::{PowerId, PowerKind, PowerRestriction};
pub use prealert::{Prealert, PrealertId};
pub use region::{Level, Region, RegionId, RegionRef, Registry, ResolveError};
pub use state::{State, Status};
pub use threat::{Threat, ThreatId, ThreatKind};
