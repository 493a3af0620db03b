//! The `tryvoga` binary's library half: [`server`] wires the rooms into a running server
//! (the record, the event source, the edge, the outputs, the native and compatibility APIs),
//! so that the binary, the end-to-end tests and the benchmarks start the same thing.

pub mod server;
