//! `tryvoga-bench`: load generators and side-by-side benchmarks of Tryvoga against nats-server,
//! mosquitto and a raw TCP write loop, on loopback, bounded in size and time.

mod fanout;
mod procinfo;
mod raw;
mod stats;
mod subscribe;
mod targets;
mod wire;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "tryvoga-bench", version, about = "Tryvoga benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand)]
enum Top {
    /// Fan-out: N subscribers per target, time-stamped events, latency and memory per connection.
    Fanout(fanout::FanoutArgs),
    /// (internal) One subscriber process of a fan-out run.
    #[command(hide = true)]
    Subscribe(subscribe::SubscribeArgs),
    /// (internal) The raw TCP write loop the others are compared with.
    #[command(hide = true)]
    RawServer(raw::RawArgs),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Top::Fanout(a) => fanout::run(a),
        Top::Subscribe(a) => subscribe::run(a),
        Top::RawServer(a) => raw::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
