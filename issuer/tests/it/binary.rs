//! The `tollgate-issuer` binary, run as a user would: serve on port 0, stop
//! with SIGTERM, rotate keys from the command line.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use base64ct::Encoding as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tollgate_verifier::Jwks;

const BIN: &str = env!("CARGO_BIN_EXE_tollgate-issuer");

fn issuer(data_dir: &std::path::Path, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env("TOLLGATE_DATA_DIR", data_dir)
        .env("TOLLGATE_BIND", "127.0.0.1:0")
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn");
    command
}

/// Starts `serve` and returns the child and its address.
fn start(data_dir: &std::path::Path) -> (Child, String) {
    let mut child = issuer(data_dir, &["serve"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("{line}"))
        .to_owned();
    (child, addr)
}

async fn get(addr: &str, path: &str) -> String {
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: issuer\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response.split_once("\r\n\r\n").unwrap().1.to_owned()
}

/// One request; returns the status and the body.
async fn send(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let (status, _, body) = crate::support::raw_http(addr, method, path, token, body).await;
    (status, body)
}

fn terminate(mut child: Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(
        exit.success(),
        "SIGTERM should stop the issuer cleanly: {exit}"
    );
}

/// The binary serves, keeps its key across restarts, rotates from the CLI, and stops on SIGTERM.
#[tokio::test]
async fn serve_rotate_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (child, addr) = start(dir.path());
    assert_eq!(get(&addr, "/healthz").await, "ok");
    let first = Jwks::from_json(&get(&addr, "/.well-known/jwks.json").await).unwrap();
    assert_eq!(first.keys.len(), 1);
    terminate(child);

    let rotated = issuer(dir.path(), &["keys", "rotate"]).output().unwrap();
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    assert!(String::from_utf8_lossy(&rotated.stdout).starts_with("new signing key "));

    let (child, addr) = start(dir.path());
    let second = Jwks::from_json(&get(&addr, "/.well-known/jwks.json").await).unwrap();
    assert_eq!(
        second.keys.len(),
        2,
        "the old key stays published after rotation"
    );
    assert!(second.keys.contains(&first.keys[0]));
    terminate(child);
}

/// `--help` explains every setting.
#[test]
fn help_names_every_setting() {
    let help = Command::new(BIN).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for setting in [
        "--bind",
        "--data-dir",
        "--database-url",
        "--access-ttl-secs",
        "--leeway-secs",
        "--issuer",
        "--audience",
        "--refresh-ttl-secs",
        "--signing-alg",
        "--argon2-memory-kib",
        "--login-limit-per-account",
        "--client-ip-header",
        "DATABASE_URL",
    ] {
        assert!(text.contains(setting), "{setting} missing from --help");
    }
}

/// A DATABASE_URL that is not Postgres is refused with a clear message, not silently replaced by SQLite.
#[test]
fn a_non_postgres_database_url_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = issuer(dir.path(), &["keys", "rotate"])
        .env("DATABASE_URL", "mysql://root@127.0.0.1/test")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("DATABASE_URL must be a postgres://"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("mysql://root"),
        "the URL itself is never printed: {stderr}"
    );
    assert!(!dir.path().join("issuer.db").exists());
}

/// `user add --admin` reads the password from stdin, and that admin can log in to the served issuer; no password reaches the output.
#[tokio::test]
async fn user_add_makes_an_admin_who_can_log_in() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let password = "a secret never printed";
    let mut add = issuer(
        dir.path(),
        &["user", "add", "--email", "Boss@Example.com", "--admin"],
    )
    .env("RUST_LOG", "debug")
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    writeln!(add.stdin.take().unwrap(), "{password}").unwrap();
    let out = add.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("created user ") && stdout.contains("<boss@example.com>"));
    assert!(!stdout.contains(password) && !stderr.contains(password));

    let again = issuer(dir.path(), &["user", "add", "--email", "boss@example.com"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!again.status.success(), "an empty password is refused");

    let (child, addr) = start(dir.path());
    let body = format!(
        r#"{{"email":"boss@example.com","password":"{password}","device":{{"id":"cli","type":"cli"}}}}"#
    );
    let (status, response) = send(&addr, "POST", "/v1/auth/login", None, &body).await;
    assert_eq!(status, 200, "{response}");
    let token = response.split("\"access_token\":\"").nth(1).unwrap();
    let claims = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&base64ct::Base64UrlUnpadded::decode_vec(claims).unwrap()).unwrap();
    assert_eq!(claims["roles"], serde_json::json!(["USER", "ADMIN"]));
    terminate(child);
}

/// A logout survives `kill -9`: after a restart the token is still refused and the feed still carries its session.
#[tokio::test]
async fn a_logout_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = start(dir.path());
    let signup = r#"{"email":"k@example.com","password":"kill nine survives","name":"K"}"#;
    assert_eq!(
        send(&addr, "POST", "/v1/auth/signup", None, signup).await.0,
        201
    );
    let login = r#"{"email":"k@example.com","password":"kill nine survives","device":{"id":"d","type":"cli"}}"#;
    let (_, body) = send(&addr, "POST", "/v1/auth/login", None, login).await;
    let tokens: serde_json::Value = serde_json::from_str(&body).unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let (status, _) = send(&addr, "POST", "/v1/auth/logout", Some(access), "").await;
    assert_eq!(status, 204);
    child.kill().unwrap(); // SIGKILL: no shutdown path runs.
    child.wait().unwrap();

    let (child, addr) = start(dir.path());
    let (status, body) = send(&addr, "GET", "/v1/users/me", Some(access), "").await;
    assert_eq!(status, 401);
    assert!(body.contains("\"revoked\""), "{body}");
    let feed = get(&addr, "/v1/revocations").await;
    assert!(
        feed.contains(tokens["session_id"].as_str().unwrap()),
        "{feed}"
    );
    terminate(child);
}

/// A leeway that would fail open (a negative one used to wrap to 136 years) stops the binary at start with a message naming the setting.
#[test]
fn a_fail_open_setting_stops_the_binary_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let output = issuer(dir.path(), &["serve"])
        .env("TOLLGATE_LEEWAY_SECS", "-1")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--leeway-secs must be between 0 and 600"),
        "{stderr}"
    );
}

/// `keys withdraw` removes a key from the JWKS of a running issuer at once (no reload interval), making a new one first when it was the current key.
#[tokio::test]
async fn keys_withdraw_takes_effect_on_a_running_issuer_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (child, addr) = start(dir.path());
    let child = KillOnDrop(Some(child));
    let jwks = Jwks::from_json(&get(&addr, "/.well-known/jwks.json").await).unwrap();
    let kid = jwks.keys[0].kid.clone().unwrap();
    let output = issuer(dir.path(), &["keys", "withdraw", &kid])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("new signing key")
            && stdout.contains(&format!("withdrew signing key {kid}")),
        "{stdout}"
    );
    let jwks = Jwks::from_json(&get(&addr, "/.well-known/jwks.json").await).unwrap();
    assert!(
        jwks.keys
            .iter()
            .all(|k| k.kid.as_deref() != Some(kid.as_str()))
    );
    assert_eq!(jwks.keys.len(), 1);
    let unknown = issuer(dir.path(), &["keys", "withdraw", "no-such-kid"])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    child.terminate();
}

/// Starts `serve` with extra environment; returns the child and its address.
fn start_with(data_dir: &std::path::Path, env: &[(&str, &str)]) -> (Child, String) {
    let mut command = issuer(data_dir, &["serve"]);
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("{line}"))
        .to_owned();
    (child, addr)
}

/// Two issuer processes on one Postgres database share the login limits:
/// an account is limited after the configured number of failures in total,
/// wherever they landed.
#[tokio::test]
async fn two_issuers_on_postgres_share_the_login_limit() {
    let Some(server) = crate::support::postgres_url() else {
        return;
    };
    let url = crate::support::fresh_postgres_database(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("TOLLGATE_LOGIN_LIMIT_PER_ACCOUNT", "4"),
        ("TOLLGATE_ARGON2_MEMORY_KIB", "256"),
        ("TOLLGATE_ARGON2_ITERATIONS", "1"),
    ];
    let (a, addr_a) = start_with(dir.path(), &env);
    let a = KillOnDrop(Some(a));
    let (b, addr_b) = start_with(dir.path(), &env);
    let b = KillOnDrop(Some(b));
    let body = r#"{"email":"shared@example.com","password":"wrong wrong wrong","device":{"id":"d","type":"x"}}"#;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let addr = if i % 2 == 0 { &addr_a } else { &addr_b };
        statuses.push(send(addr, "POST", "/v1/auth/login", None, body).await.0);
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 401, 429, 429],
        "four failures in total, across both"
    );
    a.terminate();
    b.terminate();
}

/// A child process killed if the test fails before it stops it.
struct KillOnDrop(Option<Child>);

impl KillOnDrop {
    fn terminate(mut self) {
        terminate(self.0.take().unwrap());
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
