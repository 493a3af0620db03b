//! The historical alert record: the readers of published alert datasets (Vadimkin's
//! official and volunteer siren records), their import into the log, and their replay as live
//! events. Statistics over the record live in `tryvoga_core::stats`; charts in
//! `tryvoga-charts`.

pub mod figures;
pub mod import;
pub mod replay;
pub mod sirens;

pub use import::{ImportSummary, import};
pub use sirens::{Dataset, Note, SirensError, Skip, read_sirens};
