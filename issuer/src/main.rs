//! The issuer binary: read config, start tracing, run the subcommand
//! (serving by default).

use std::process::ExitCode;

use clap::Parser;
use tollgate_issuer::cli::run;
use tollgate_issuer::config::Config;

#[tokio::main]
async fn main() -> ExitCode {
    // Logs go to stderr: stdout carries only what scripts read ("listening on ...").
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match run(Config::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            ExitCode::FAILURE
        }
    }
}
