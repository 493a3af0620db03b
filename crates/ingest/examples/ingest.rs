//! `cargo run -p tryvoga-ingest --example ingest -- [--kind auto|news|summary|channel] FILE...`
//! prints the extraction as JSON: what `tryvoga ingest text --json` does, without the CLI.

use std::process::ExitCode;

use tryvoga_ingest::{Gazetteer, Kind, Options, read_documents};

fn main() -> ExitCode {
    let mut kind = Kind::Auto;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--kind" {
            match args.next().map(|k| k.parse::<Kind>()) {
                Some(Ok(k)) => kind = k,
                _ => {
                    eprintln!("--kind needs auto, news, summary or channel");
                    return ExitCode::from(2);
                }
            }
        } else {
            files.push(a);
        }
    }
    let mut texts = Vec::new();
    for f in &files {
        match std::fs::read_to_string(f) {
            Ok(t) => texts.push(t),
            Err(e) => {
                eprintln!("{f}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let docs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let options = Options {
        reference: Some(chrono::Utc::now()),
    };
    let ex = read_documents(&docs, kind, Gazetteer::embedded(), &options);
    match serde_json::to_string_pretty(&ex) {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
