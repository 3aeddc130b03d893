//! Shared by the postgres test files: the server URL (or the skip line),
//! a fresh schema per test, opening the provider through its `.so`, what a
//! refused open says, and throwaway servers (`server`).

#![allow(dead_code)]

pub mod server;

use std::{io::Write as _, sync::Arc};

use postgres::NoTls;
use stateplug::{ErrorKind, LoadError, ProviderLibrary, StateStore};

/// The variable holding the test server's URL.
pub const URL_VAR: &str = "STATEPLUG_TEST_POSTGRES_URL";

/// The test server's URL, or `None` after printing the one skip line
/// (written past the test harness's capture, so it always shows).
pub fn url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let _ = writeln!(std::io::stderr(), "skipped: {URL_VAR} is not set");
            None
        }
    }
}

/// A random number (no `rand` dependency here): std's per-process hash
/// keys, mixed with the time and the process id.
pub fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// The postgres provider library, loaded through the real loader.
pub fn library() -> ProviderLibrary {
    stateplug_tests::load("stateplug-provider-postgres")
}

/// Opens the provider from its `.so` with `config`, which must be refused:
/// the error's kind, whether it is temporary, and its whole text.
pub fn refused(config: &serde_json::Value) -> (ErrorKind, bool, String) {
    let err = match library().open(config) {
        Ok(_) => panic!("the provider opened with {config}"),
        Err(err) => err,
    };
    let text = err.to_string();
    match err {
        LoadError::ConfigRejected { .. } => (ErrorKind::INVALID_ARGUMENT, false, text),
        LoadError::OpenFailed { error, .. } => (error.kind(), error.is_temporary(), text),
        other => panic!("not a refusal of the provider: {other}"),
    }
}

/// A schema of the test server used by one test; dropped with everything
/// in it when an owning guard drops.
pub struct TestSchema {
    pub url: String,
    pub name: String,
    owned: bool,
}

impl TestSchema {
    /// A fresh schema, dropped at the end.
    pub fn fresh(url: &str) -> Self {
        TestSchema {
            url: url.to_string(),
            name: format!("sp_test_{:016x}", random()),
            owned: true,
        }
    }

    /// An existing schema someone else drops (a child process's view).
    pub fn borrowed(url: &str, name: &str) -> Self {
        TestSchema {
            url: url.to_string(),
            name: name.to_string(),
            owned: false,
        }
    }

    /// The provider configuration for this schema.
    pub fn config(&self) -> serde_json::Value {
        serde_json::json!({ "url": self.url, "schema": self.name, "pool_size": 4 })
    }

    /// A provider instance (its own connection pool) from the `.so`.
    pub fn open(&self) -> Arc<dyn StateStore> {
        library()
            .open(&self.config())
            .unwrap_or_else(|e| panic!("open postgres provider: {e}"))
    }

    /// Runs `f` with an administrative connection to the test server, on
    /// a thread of its own: the synchronous client must not run on a tokio
    /// worker (it starts its own runtime).
    pub fn admin<T: Send>(&self, f: impl FnOnce(&mut postgres::Client) -> T + Send) -> T {
        let url = self.url.as_str();
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    let mut client = postgres::Client::connect(url, NoTls)
                        .expect("admin connection to the test server");
                    f(&mut client)
                })
                .join()
                .expect("admin thread")
        })
    }

    /// Terminates the backends of every provider connection of this
    /// schema (as an administrator or a server restart would); returns how many.
    pub fn terminate_backends(&self) -> i64 {
        let application = format!("stateplug:{}.stateplug", self.name);
        self.admin(|client| {
            client
                .query_one(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE application_name = $1",
                    &[&application],
                )
                .expect("terminate backends")
                .get(0)
        })
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        let (url, name) = (self.url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || drop_schema(&url, &name)).join();
    }
}

/// Drops schema `name`: first ends the sessions of providers still using
/// it (a feed read still running could deadlock with the drop), then drops,
/// retrying a few times.
pub fn drop_schema(url: &str, name: &str) {
    let Ok(mut admin) = postgres::Client::connect(url, NoTls) else {
        return;
    };
    for _ in 0..5 {
        let _ = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&format!("stateplug:{name}.stateplug")],
        );
        if admin
            .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
            .is_ok()
        {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
