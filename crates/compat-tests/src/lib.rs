//! Nothing to build: this crate holds the tests in `tests/` that run third-party clients of
//! the alerts.in.ua API (the `ralertsinua-http` crate) against a live Tryvoga server.
