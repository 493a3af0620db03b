//! The pure core of Tryvoga: the regions registry, the alert model, attack reports and threat
//! notices, commands, events and the state machine that decides commands and folds events. No
//! I/O, no async, no clock: the caller passes time in.

pub mod alert;
pub mod command;
pub mod event;
pub mod interest;
pub mod names;
pub mod region;
pub mod report;
pub mod state;
pub mod stats;

pub use alert::{Alert, AlertId, AlertLevel, AlertStatus, AlertType, Origin, UnknownWord};
pub use command::{Actor, Command, Refusal, Role};
pub use event::{Event, EventBody};
pub use interest::Interest;
pub use region::{Level, Region, RegionId, RegionRef, Registry, ResolveError};
pub use state::{State, Status};
