//! What an operator reads when the postgres provider cannot work with the
//! server it is pointed at, through the loaded `.so`: an unknown database
//! or role is named first, is permanent, and is answered at once (never
//! after waiting out the connect timeout); a closed port is a temporary
//! "cannot connect". The tests on the server need
//! `STATEPLUG_TEST_POSTGRES_URL`; without it they print one skip line.

mod postgres_support;

use std::{
    net::TcpListener,
    time::{Duration, Instant},
};

use postgres::config::Host;
use postgres_support::{random, refused, url};
use stateplug::ErrorKind;

/// The connect timeout the tests configure. Waiting for a connection used
/// to last this long before a wrong database was reported; the answers
/// come long before it, so it also bounds a hang.
const CONNECT_TIMEOUT_MS: u64 = 30_000;

/// The test server as separate fields (`host:port` and the JSON), with
/// the user or database replaced.
fn fields(url: &str, user: Option<&str>, database: Option<&str>) -> (String, serde_json::Value) {
    let pg: postgres::Config = url.parse().expect("a readable test URL");
    let host = match pg.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_string(),
    };
    let port = pg.get_ports().first().copied().unwrap_or(5432);
    let mut json = serde_json::json!({
        "host": host,
        "port": port,
        "user": user.or(pg.get_user()).unwrap_or("postgres"),
        "database": database.or(pg.get_dbname()).unwrap_or("postgres"),
        "connect_timeout_ms": CONNECT_TIMEOUT_MS,
        "schema": format!("sp_test_{:016x}", random()),
    });
    if let Some(password) = pg.get_password() {
        json["password"] = String::from_utf8_lossy(password).into();
    }
    (format!("{host}:{port}"), json)
}

/// Opens with `config`, which must be refused before the connect timeout.
fn refused_at_once(config: &serde_json::Value) -> (ErrorKind, bool, String) {
    let started = Instant::now();
    let refusal = refused(config);
    assert!(
        started.elapsed() < Duration::from_millis(CONNECT_TIMEOUT_MS),
        "answered without waiting out the connect timeout: {}",
        refusal.2
    );
    refusal
}

#[test]
fn a_database_that_does_not_exist_is_named_first_and_refused_at_once() {
    let Some(url) = url() else { return };
    let name = format!("sp_nope_{:08x}", random() as u32);
    let (server, config) = fields(&url, None, Some(&name));
    let (kind, temporary, text) = refused_at_once(&config);
    assert_eq!(kind, ErrorKind::INVALID_ARGUMENT, "{text}");
    assert!(!temporary, "{text}");
    assert!(
        text.contains(&format!(
            "configuration: database \"{name}\" does not exist on {server}; create it"
        )),
        "{text}"
    );
    assert!(!text.contains("pool_size"), "not a busy pool: {text}");
}

#[test]
fn a_role_that_does_not_exist_is_named_first_and_refused_at_once() {
    let Some(url) = url() else { return };
    let role = format!("sp_nope_{:08x}", random() as u32);
    let (server, config) = fields(&url, Some(&role), None);
    let (kind, temporary, text) = refused_at_once(&config);
    assert_eq!(kind, ErrorKind::INVALID_ARGUMENT, "{text}");
    assert!(!temporary, "{text}");
    assert!(
        text.contains(&format!(
            "role \"{role}\" does not exist on {server}; check `user`"
        )),
        "{text}"
    );
    assert!(!text.contains("pool_size"), "not a busy pool: {text}");
}

#[test]
fn a_closed_port_is_a_temporary_cannot_connect() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let config = serde_json::json!({
        "host": "127.0.0.1",
        "port": port,
        "user": "postgres",
        "database": "test",
        "connect_timeout_ms": CONNECT_TIMEOUT_MS,
    });
    let (kind, temporary, text) = refused_at_once(&config);
    assert_eq!(kind, ErrorKind::UNAVAILABLE, "{text}");
    assert!(temporary, "the server may come up: {text}");
    assert!(
        text.contains(&format!(
            "cannot connect to 127.0.0.1:{port}: Connection refused"
        )),
        "names the server and why: {text}"
    );
    assert!(!text.contains("pool_size"), "not a busy pool: {text}");
}

/// A database dropped while a provider uses it: the next call fails at
/// once with the permanent cause, not with a busy pool after the timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_dropped_under_a_running_provider_fails_calls_at_once() {
    let Some(url) = url() else { return };
    let name = format!("sp_gone_{:08x}", random() as u32);
    let admin = |sql: String| {
        let url = url.clone();
        std::thread::spawn(move || {
            postgres::Client::connect(&url, postgres::NoTls)
                .and_then(|mut client| client.batch_execute(&sql))
                .expect("administer the test server")
        })
        .join()
        .expect("admin thread")
    };
    admin(format!("CREATE DATABASE \"{name}\""));
    let (server, config) = fields(&url, None, Some(&name));
    let store = postgres_support::library()
        .open(&config)
        .unwrap_or_else(|e| panic!("open on a fresh database: {e}"));
    store.set("s", "k", b"v".to_vec()).await.expect("set");
    admin(format!("DROP DATABASE \"{name}\" WITH (FORCE)"));
    let started = Instant::now();
    let err = store.get("s", "k").await.expect_err("the database is gone");
    assert!(
        started.elapsed() < Duration::from_millis(CONNECT_TIMEOUT_MS),
        "answered without waiting out the connect timeout: {err}"
    );
    assert_eq!(err.kind(), ErrorKind::INVALID_ARGUMENT, "{err}");
    assert!(!err.temporary, "{err}");
    assert!(
        err.message
            .starts_with(&format!("database \"{name}\" does not exist on {server}")),
        "{err}"
    );
}

/// A read-only open (what `stateplug state keys` and the other reading
/// commands use) creates no schema or table, and says so when there is none.
#[test]
fn a_read_only_open_creates_nothing() {
    let Some(url) = url() else { return };
    let schema = postgres_support::TestSchema::fresh(&url);
    let read_only = stateplug::OpenOptions {
        read_only: true,
        ..Default::default()
    };
    let err = postgres_support::library()
        .open_with(&schema.config(), &read_only)
        .err()
        .expect("no tables to read");
    let text = err.to_string();
    assert!(text.contains("there are no stateplug tables"), "{text}");
    let exists: bool = schema.admin(|c| {
        c.query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&schema.name],
        )
        .expect("query")
        .get(0)
    });
    assert!(!exists, "the read-only open created schema {}", schema.name);
    // Opened for writing once, it reads.
    drop(schema.open());
    postgres_support::library()
        .open_with(&schema.config(), &read_only)
        .expect("the tables exist now");
}
