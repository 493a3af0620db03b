//! What the server's socket tests share: a real server on a fresh database.

use std::net::SocketAddr;

use tryvoga::server::SharedServer;
use tryvoga_core::Registry;

/// A server on a fresh database and a free loopback port, serving until the test ends.
pub async fn serve(
    options: tryvoga::server::Options,
) -> (tempfile::TempDir, SharedServer, SocketAddr) {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = tryvoga::server::open(&dir.path().join("t.db"), Registry::embedded(), options)
        .expect("open");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(tryvoga::server::serve(
        listener,
        app.clone(),
        std::future::pending(),
    ));
    (dir, app, addr)
}
