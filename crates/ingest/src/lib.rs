//! Readers of official texts: the alert channel's messages, the Air Force's attack summaries and
//! English news / live blogs. Text in, alerts, threats, attack reports and power restrictions out;
//! no network and no I/O.

pub mod channel;
pub mod model;
pub mod numbers;
pub mod places;
pub mod summary;
pub mod tally;
pub mod text;
pub mod weapons;
