//! `adrec`: see `adrec --help`, and `cli.rs` for the commands.
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    adrec::telemetry::init();
    match adrec::cli::run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
