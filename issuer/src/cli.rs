//! The subcommands: serve (the default), `keys rotate`, `keys withdraw
//! KID`, `user add`. `main.rs` parses the flags and calls [`run`].

use std::sync::Arc;

use crate::config::{Command, Config, KeysCommand, UserCommand};
use crate::keys::{KeyRing, Withdrawn};
use crate::{AppState, Clock, SystemClock, serve, shutdown_signal};

/// Runs what `config` says.
pub async fn run(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    config.settings.check()?;
    let store = config.open_store().await?;
    let clock = Arc::new(SystemClock);
    let policy = config.key_policy();
    match config.command {
        Some(Command::Keys {
            action: KeysCommand::Rotate,
        }) => {
            let ring = KeyRing::rotate(store.as_ref(), clock.now(), &config.key_policy()).await?;
            println!("new signing key {}", ring.current_kid());
        }
        Some(Command::Keys {
            action: KeysCommand::Withdraw { kid },
        }) => match KeyRing::withdraw(store.as_ref(), &kid, clock.now(), &policy).await? {
            Withdrawn::Done { replaced, ring } => {
                if replaced {
                    println!("new signing key {}", ring.current_kid());
                }
                println!("withdrew signing key {kid}");
            }
            Withdrawn::Unknown => return Err(format!("no signing key {kid}").into()),
            Withdrawn::AlreadyWithdrawn => println!("signing key {kid} was already withdrawn"),
        },
        Some(Command::User {
            action: UserCommand::Add { email, name, admin },
        }) => {
            let state = AppState::new(store, clock, config.settings).await?;
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']).to_owned();
            let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or_default().into());
            let user = crate::http::accounts::create_user(&state, &email, password, &name, admin)
                .await
                .map_err(|err| format!("{}: {err:?}", err.code()))?;
            println!("created user {} <{}>", user.id, user.email);
        }
        None | Some(Command::Serve) => {
            if config.settings.public_url.is_empty() {
                tracing::warn!(
                    "no --public-url: DPoP proofs are checked against the request's Host header, \
                     which the client writes; set TOLLGATE_PUBLIC_URL in production"
                );
            }
            let state = AppState::new(store, clock, config.settings).await?;
            let listener = tokio::net::TcpListener::bind(config.bind).await?;
            // Printed, not only logged, so scripts and tests can find a port-0 address.
            println!("listening on http://{}", listener.local_addr()?);
            serve(listener, state, shutdown_signal()).await?;
        }
    }
    Ok(())
}
