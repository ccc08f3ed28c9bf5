//! The demo's to-do API. It sits behind the edge, but trusts no header
//! alone: every `/api` request carries the access token, which
//! `tollgate-axum` verifies here too, against its own revocation state.
//! It also serves the demo page's files (`--static-dir`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;
use sqlx::sqlite::SqliteConnectOptions;
use tollgate_axum::{Claims, Tollgate, TollgateConfig};

/// The tollgate demo origin: a to-do list per user.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Config {
    /// Address to listen on (port 0 picks one; printed at start).
    #[arg(long, env = "ORIGIN_BIND", default_value = "127.0.0.1:8081")]
    bind: SocketAddr,
    /// SQLite file for the to-dos.
    #[arg(long, env = "ORIGIN_DB", default_value = "origin.db")]
    db: PathBuf,
    /// The issuer's base URL (JWKS and revocation feed).
    #[arg(long, env = "ISSUER_URL", default_value = "http://127.0.0.1:8080")]
    issuer_url: String,
    /// The `iss` of tokens.
    #[arg(long, env = "ISSUER", default_value = "tollgate")]
    issuer: String,
    /// The `aud` tokens must carry.
    #[arg(long, env = "AUDIENCE", default_value = "tollgate-api")]
    audience: String,
    /// A directory of static files served for every other path (the demo page).
    #[arg(long, env = "STATIC_DIR")]
    static_dir: Option<PathBuf>,
    /// The URL clients address this API at (the edge's), which DPoP proofs
    /// name; default: this request's own host.
    #[arg(long, env = "PUBLIC_URL")]
    public_url: Option<String>,
}

#[derive(Clone)]
struct AppState {
    tollgate: Tollgate,
    db: SqlitePool,
    /// tollgate's own `iss`: its users are keyed by `sub` alone.
    issuer: std::sync::Arc<str>,
}

/// Whose to-dos: a tollgate user by `sub`, an upstream provider's user by
/// issuer and `sub` (two providers may both have a user "alice").
fn owner(state: &AppState, claims: &tollgate_axum::AccessClaims) -> String {
    if *claims.iss == *state.issuer {
        claims.sub.clone()
    } else {
        format!("{} {}", claims.iss, claims.sub)
    }
}

impl FromRef<AppState> for Tollgate {
    fn from_ref(state: &AppState) -> Tollgate {
        state.tollgate.clone()
    }
}

#[derive(Serialize)]
struct Todo {
    id: i64,
    title: String,
    done: bool,
    created_at: i64,
}

// By hand rather than derived: sqlx's derive would pull its query macros
// (and every database driver, a second time, for the build host) into the
// build.
impl<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> for Todo {
    fn from_row(row: &'r sqlx::sqlite::SqliteRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(Todo {
            id: row.try_get("id")?,
            title: row.try_get("title")?,
            done: row.try_get("done")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

#[derive(Deserialize)]
struct NewTodo {
    title: String,
}

type ApiResult<T> = Result<T, (StatusCode, Json<serde_json::Value>)>;

fn problem(status: StatusCode, code: &str) -> (StatusCode, Json<serde_json::Value>) {
    (
        status,
        Json(
            serde_json::json!({"type": "about:blank", "status": status.as_u16(), "code": code, "title": code}),
        ),
    )
}

fn internal(err: sqlx::Error) -> (StatusCode, Json<serde_json::Value>) {
    tracing::error!(error = %err, "database failure");
    problem(StatusCode::INTERNAL_SERVER_ERROR, "internal")
}

async fn list(State(state): State<AppState>, Claims(claims): Claims) -> ApiResult<Json<Vec<Todo>>> {
    let todos =
        sqlx::query_as("SELECT id, title, done, created_at FROM todos WHERE owner = ? ORDER BY id")
            .bind(owner(&state, &claims))
            .fetch_all(&state.db)
            .await
            .map_err(internal)?;
    Ok(Json(todos))
}

async fn add(
    State(state): State<AppState>,
    Claims(claims): Claims,
    Json(new): Json<NewTodo>,
) -> ApiResult<(StatusCode, Json<Todo>)> {
    let title = new.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(problem(StatusCode::BAD_REQUEST, "validation_failed"));
    }
    let todo = sqlx::query_as(
        "INSERT INTO todos (owner, title, done, created_at) VALUES (?, ?, 0, unixepoch()) \
         RETURNING id, title, done, created_at",
    )
    .bind(owner(&state, &claims))
    .bind(title)
    .fetch_one(&state.db)
    .await
    .map_err(internal)?;
    Ok((StatusCode::CREATED, Json(todo)))
}

async fn complete(
    State(state): State<AppState>,
    Claims(claims): Claims,
    Path(id): Path<i64>,
) -> ApiResult<Json<Todo>> {
    sqlx::query_as(
        "UPDATE todos SET done = 1 WHERE id = ? AND owner = ? RETURNING id, title, done, created_at",
    )
    .bind(id)
    .bind(owner(&state, &claims))
    .fetch_optional(&state.db)
    .await
    .map_err(internal)?
    .map(Json)
    .ok_or_else(|| problem(StatusCode::NOT_FOUND, "not_found"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = Config::parse();
    let db = SqlitePool::connect_with(
        SqliteConnectOptions::from_str("sqlite:")?
            .filename(&config.db)
            .create_if_missing(true),
    )
    .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS todos (id INTEGER PRIMARY KEY AUTOINCREMENT, \
         owner TEXT NOT NULL, title TEXT NOT NULL, done INTEGER NOT NULL, created_at INTEGER NOT NULL)",
    )
    .execute(&db)
    .await?;
    let mut tollgate_config = TollgateConfig::new(
        config.issuer_url.clone(),
        config.issuer.clone(),
        config.audience.clone(),
    );
    tollgate_config.public_urls = config.public_url.iter().cloned().collect();
    let tollgate = Tollgate::connect(tollgate_config).await?;
    let mut app = Router::new()
        .route("/api/todos", get(list).post(add))
        .route("/api/todos/{id}/complete", post(complete))
        .route("/healthz", get(|| async { "ok" }));
    if let Some(dir) = &config.static_dir {
        app = app.fallback_service(tower_http::services::ServeDir::new(dir));
    }
    let listener = tokio::net::TcpListener::bind(config.bind).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.with_state(AppState {
            tollgate,
            db,
            issuer: config.issuer.as_str().into(),
        }),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
