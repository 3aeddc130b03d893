//! TLS to PostgreSQL through the loaded `.so`, against throwaway servers
//! the tests start themselves (`postgres_support::server`: initdb into a
//! temporary folder, a free port, a CA and a server certificate made here),
//! never the machine's shared server. Without PostgreSQL's server binaries
//! each test prints why it is skipped.
//!
//! - `verify-full` connects, and the conformance case `round_trip` runs over it;
//! - a certificate that does not name the host, or that another CA signed,
//!   is refused saying so; `verify-ca` skips only the name check;
//! - `require` refuses a server without TLS, `prefer` falls back to plain;
//! - the password (in the URL or from `password_env`) is in no error and no log.

mod postgres_support;

use std::{
    fmt::Write as _,
    path::Path,
    sync::{Arc, Mutex, OnceLock},
};

use postgres_support::{
    library, random, refused,
    server::{TestCa, Throwaway, PASSWORD},
};
use stateplug::ErrorKind;
use tracing::{field::Visit, Subscriber};
use tracing_subscriber::{layer::Context, prelude::*, Layer};

/// A server with TLS on, its certificate for `localhost` signed by `ca`.
fn tls_server(ca: &TestCa) -> Option<Throwaway> {
    Throwaway::start(Some(&ca.server_cert(&["localhost"])))
}

/// The provider's configuration for `url`, in a fresh schema.
fn config(url: &str) -> serde_json::Value {
    serde_json::json!({
        "url": url,
        "schema": format!("sp_test_{:016x}", random()),
        "pool_size": 2,
    })
}

/// The TLS version of each of the server's client connections from the
/// provider instance with `config` (`None` where the connection is plain).
fn provider_connections(server: &Throwaway, config: &serde_json::Value) -> Vec<Option<String>> {
    let application = format!(
        "stateplug:{}.stateplug",
        config["schema"].as_str().unwrap_or("")
    );
    let mut admin = server.admin();
    admin
        .query(
            "SELECT s.version FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.application_name = $1",
            &[&application],
        )
        .expect("read pg_stat_ssl")
        .iter()
        .map(|row| row.get::<_, Option<String>>(0))
        .collect()
}

fn query(root: &Path, mode: &str) -> String {
    format!("sslmode={mode}&sslrootcert={}", root.display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_connects_and_the_conformance_round_trip_runs_over_it() {
    let ca = TestCa::new("stateplug test CA");
    let Some(server) = tls_server(&ca) else {
        return;
    };
    let root = server.write_file("ca.pem", &ca.cert_pem);
    let config = config(&server.url("localhost", Some(PASSWORD), &query(&root, "verify-full")));
    let store = library()
        .open(&config)
        .unwrap_or_else(|e| panic!("verify-full against a certificate for localhost: {e}"));
    stateplug::conformance::run_case("round_trip", Arc::clone(&store)).await;
    let connections = std::thread::scope(|s| {
        s.spawn(|| provider_connections(&server, &config))
            .join()
            .expect("admin thread")
    });
    assert!(
        !connections.is_empty(),
        "the provider's connections are found"
    );
    for version in &connections {
        assert!(
            version.as_deref().is_some_and(|v| v.starts_with("TLSv1.")),
            "every connection uses TLS: {connections:?}"
        );
    }
    drop(store);
}

#[test]
fn certificates_that_do_not_authenticate_the_server_are_refused_saying_why() {
    let ca = TestCa::new("stateplug test CA");
    let Some(server) = tls_server(&ca) else {
        return;
    };
    let root = server.write_file("ca.pem", &ca.cert_pem);

    // The certificate names localhost; 127.0.0.1 is not a name it holds.
    let (kind, temporary, text) = refused(&config(&server.url(
        "127.0.0.1",
        Some(PASSWORD),
        &query(&root, "verify-full"),
    )));
    assert_eq!(kind, ErrorKind::INVALID_ARGUMENT, "{text}");
    assert!(!temporary, "{text}");
    assert!(
        text.contains(&format!(
            "the certificate of 127.0.0.1:{} does not match the host connected to",
            server.port
        )),
        "{text}"
    );
    assert!(
        text.contains("localhost"),
        "names what the certificate holds: {text}"
    );

    // verify-ca checks who signed it, not the name.
    library()
        .open(&config(&server.url(
            "127.0.0.1",
            Some(PASSWORD),
            &query(&root, "verify-ca"),
        )))
        .unwrap_or_else(|e| panic!("verify-ca with the right CA: {e}"));

    // Another CA's certificate as the root: refused, naming the file.
    let other = server.write_file("other-ca.pem", &TestCa::new("another CA").cert_pem);
    for mode in ["verify-ca", "verify-full", "require"] {
        let (kind, temporary, text) = refused(&config(&server.url(
            "localhost",
            Some(PASSWORD),
            &query(&other, mode),
        )));
        assert_eq!(kind, ErrorKind::INVALID_ARGUMENT, "{mode}: {text}");
        assert!(!temporary, "{mode}: {text}");
        assert!(
            text.contains(&format!(
                "is not signed by a root certificate in `sslrootcert` {}",
                other.display()
            )),
            "{mode}: {text}"
        );
    }
}

#[test]
fn require_refuses_a_server_without_tls_and_prefer_falls_back_to_plain() {
    let Some(server) = Throwaway::start(None) else {
        return;
    };
    let (kind, temporary, text) = refused(&config(&server.url(
        "127.0.0.1",
        Some(PASSWORD),
        "sslmode=require",
    )));
    assert_eq!(kind, ErrorKind::INVALID_ARGUMENT, "{text}");
    assert!(!temporary, "{text}");
    assert!(
        text.contains(&format!(
            "127.0.0.1:{} does not support TLS, but `sslmode` require needs it",
            server.port
        )),
        "{text}"
    );
    let config = config(&server.url("127.0.0.1", Some(PASSWORD), "sslmode=prefer"));
    let _store = library()
        .open(&config)
        .unwrap_or_else(|e| panic!("prefer against a server without TLS: {e}"));
    assert_eq!(
        provider_connections(&server, &config),
        [None],
        "a plain connection"
    );
}

/// Every `tracing` event of this test binary, as text: the host's and,
/// through the log bridge, the provider's.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<String>>);

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl<S: Subscriber> Layer<S> for Captured {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let _ = write!(
            all,
            "{} {} ",
            event.metadata().level(),
            event.metadata().target()
        );
        event.record(&mut Fields(&mut all));
        all.push('\n');
    }
}

fn captured() -> &'static Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED.get_or_init(|| {
        let captured = Captured::default();
        tracing_subscriber::registry()
            .with(
                captured
                    .clone()
                    .with_filter(tracing_subscriber::filter::LevelFilter::TRACE),
            )
            .init();
        captured
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_is_in_no_error_and_no_log() {
    let logs = captured();
    let ca = TestCa::new("stateplug test CA");
    let Some(server) = tls_server(&ca) else {
        return;
    };
    let root = server.write_file("ca.pem", &ca.cert_pem);
    let wrong = format!("wrong-{:016x}", random());
    let mut texts = Vec::new();

    // The right password in the URL: opens, works, and logs.
    let store = library()
        .open(&config(&server.url(
            "localhost",
            Some(PASSWORD),
            &query(&root, "verify-full"),
        )))
        .unwrap_or_else(|e| panic!("the right password: {e}"));
    store.set("s", "k", b"v".to_vec()).await.expect("set");
    drop(store);

    // A wrong password in the URL: refused as a wrong password.
    let (kind, temporary, text) = refused(&config(&server.url(
        "localhost",
        Some(&wrong),
        &query(&root, "verify-full"),
    )));
    assert_eq!(kind, ErrorKind::INVALID_ARGUMENT, "{text}");
    assert!(!temporary, "{text}");
    assert!(
        text.contains("password authentication failed for user \"postgres\""),
        "{text}"
    );
    texts.push(text);

    // A TLS refusal with the password in the URL.
    let (_, _, text) = refused(&config(&server.url(
        "127.0.0.1",
        Some(PASSWORD),
        &query(&root, "verify-full"),
    )));
    assert!(text.contains("does not match the host"), "{text}");
    texts.push(text);

    // A wrong password from `password_env`.
    let var = format!("STATEPLUG_TEST_TLS_PASSWORD_{}", std::process::id());
    std::env::set_var(&var, &wrong);
    let mut from_env = config(&server.url("localhost", None, &query(&root, "verify-full")));
    from_env["password_env"] = var.clone().into();
    let (_, _, text) = refused(&from_env);
    std::env::remove_var(&var);
    assert!(text.contains("password authentication failed"), "{text}");
    texts.push(text);

    let logs = logs.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert!(
        logs.contains("stateplug_provider_postgres"),
        "the provider's events were captured: {logs}"
    );
    for secret in [PASSWORD, wrong.as_str()] {
        for text in &texts {
            assert!(
                !text.contains(secret),
                "the password shows in an error: {text}"
            );
        }
        assert!(
            !logs.contains(secret),
            "the password shows in the logs:\n{logs}"
        );
    }
}
