//! The issuer binary: read config, start tracing, bind, serve.

use std::process::ExitCode;
use std::sync::{Arc, RwLock};

use clap::Parser;
use tollgate_issuer::config::{Command, Config, KeysCommand};
use tollgate_issuer::keys::KeyRing;
use tollgate_issuer::{AppState, Clock, SystemClock, serve, shutdown_signal};

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

async fn run(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let store = config.open_store().await?;
    let clock = Arc::new(SystemClock);
    let retention = config.key_retention();
    if let Some(Command::Keys {
        action: KeysCommand::Rotate,
    }) = config.command
    {
        let ring = KeyRing::rotate(store.as_ref(), clock.now(), retention).await?;
        println!("new signing key {}", ring.current_kid());
        return Ok(());
    }
    let ring = KeyRing::load_or_create(store.as_ref(), clock.now(), retention).await?;
    let state = AppState {
        store,
        clock,
        keys: Arc::new(RwLock::new(Arc::new(ring))),
    };
    let listener = tokio::net::TcpListener::bind(config.bind).await?;
    // Printed, not only logged, so scripts and tests can find a port-0 address.
    println!("listening on http://{}", listener.local_addr()?);
    serve(listener, state, shutdown_signal()).await?;
    Ok(())
}
