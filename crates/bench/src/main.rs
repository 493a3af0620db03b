//! `tryvoga-bench`: load generators and side-by-side benchmarks of Tryvoga against nats-server,
//! mosquitto and a raw TCP write loop, on loopback, bounded in size and time.

mod chaos;
mod commands;
mod commands_pg;
mod edges;
mod fanout;
mod http;
mod procinfo;
mod raw;
mod stats;
mod subscribe;
mod sustained;
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
    /// Reliability under abuse: kill -9 loops, resumed streams, stuck subscribers, a full
    /// disk, SIGSTOP, and the fsync-before-acknowledgement order from an strace.
    Chaos(chaos::ChaosArgs),
    /// Durable alert commands per second through group commit, beside the disk's fsync rate.
    Commands(commands::CommandsArgs),
    /// Fan-out over several `tryvoga edge` processes following the log through NATS
    /// JetStream: time from the 201 to the last subscriber, memory and CPU per delivery.
    Edges(edges::EdgesArgs),
    /// `wrk` on the read endpoints of tryvoga and of nginx serving the same bytes from files.
    Http(http::HttpArgs),
    /// Many subscribers held while events are published at a steady rate: memory and latency
    /// over time.
    Sustained(sustained::SustainedArgs),
    /// (internal) One subscriber process of a fan-out run.
    #[command(hide = true)]
    Subscribe(subscribe::SubscribeArgs),
    /// (internal) The raw TCP write loop the others are compared with.
    #[command(hide = true)]
    RawServer(raw::RawArgs),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Top::Chaos(a) => chaos::run(a),
        Top::Fanout(a) => fanout::run(a),
        Top::Commands(a) => commands::run(a),
        Top::Edges(a) => edges::run(a),
        Top::Http(a) => http::run(a),
        Top::Sustained(a) => sustained::run(a),
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
