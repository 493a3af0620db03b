//! The floor: a server that keeps every subscriber socket in a list and, for each message on
//! its control connection, writes it to each socket in turn. Nothing can fan out faster on
//! one thread than this loop.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct RawArgs {
    #[arg(long)]
    port: u16,
    #[arg(long)]
    control: u16,
}

/// A listener with a backlog deep enough for thousands of connects in a burst (std's is 128).
fn listen(port: u16) -> Result<TcpListener> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}

pub fn run(args: RawArgs) -> Result<()> {
    let subscribers: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    let listener = listen(args.port)?;
    let control = TcpListener::bind(("127.0.0.1", args.control))?;
    let list = Arc::clone(&subscribers);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let _ = stream.set_nodelay(true);
            if stream.write_all(b"h").is_ok()
                && let Ok(mut l) = list.lock()
            {
                l.push(stream);
            }
        }
    });
    for conn in control.incoming().flatten() {
        let reader = BufReader::new(conn);
        for line in reader.split(b'\n') {
            let Ok(mut message) = line else { break };
            message.push(b'\n');
            if let Ok(mut list) = subscribers.lock() {
                list.retain_mut(|s| s.write_all(&message).is_ok());
            }
        }
    }
    Ok(())
}
