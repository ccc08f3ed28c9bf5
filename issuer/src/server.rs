//! Serving: the app on a listener until a shutdown signal, the periodic
//! upkeep beside it, and a bounded drain of requests in flight.

use std::net::SocketAddr;
use std::time::Duration;

use crate::AppState;
use crate::http::app;

/// Serves `app(state)` on `listener` until `shutdown` completes, then lets
/// in-flight requests finish (at most [`DRAIN_TIMEOUT`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let upkeep = tokio::spawn(upkeep(state.clone()));
    let upstreams = tokio::spawn(crate::upstream::run(state.clone()));
    let service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    let server = axum::serve(listener, service).with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down");
        let _ = stopping_tx.send(());
    });
    let server = tokio::spawn(async move { server.await });
    // Requests may run on after the signal; give them a bounded time.
    let result = tokio::select! {
        result = server => result.unwrap_or_else(|e| Err(std::io::Error::other(e))),
        () = async {
            let _ = stopping_rx.await;
            tokio::time::sleep(DRAIN_TIMEOUT).await;
        } => {
            tracing::warn!("drain timeout passed; closing open connections");
            Ok(())
        }
    };
    upkeep.abort();
    upstreams.abort();
    result
}

/// Runs [`AppState::maintain`] every `key_reload_secs`.
async fn upkeep(state: AppState) {
    let period = Duration::from_secs(state.settings.key_reload_secs.max(1));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        ticks.tick().await;
        state.maintain().await;
    }
}

/// How long in-flight requests may run after a shutdown signal.
pub const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
