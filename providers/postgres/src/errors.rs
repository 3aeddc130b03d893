//! The one seam where PostgreSQL client errors become [`ProviderError`]s.
//!
//! [`classify`] reduces a `postgres::Error` to a [`Failure`] (the client's
//! error type cannot be built outside its crate, so the mapping is tested on
//! `Failure`s); [`map_failure`] turns that into a provider error whose
//! message names the server and database (never the password), says what to
//! do, and keeps the server's own text. [`map_error`] does both.

use std::fmt;

use stateplug_provider_api::ProviderError;

use crate::config::Target;

/// What went wrong with a PostgreSQL call, as far as the mapping cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server answered with an error.
    Db {
        /// The five-character SQLSTATE code.
        code: String,
        /// The server's message (with its detail, if any).
        message: String,
    },
    /// The connection is closed (the server went away, or it was terminated).
    Closed(String),
    /// Reading from or writing to the socket failed.
    Io(String),
    /// A new connection could not be made, or timed out.
    Connect(String),
    /// No connection came free from the pool in time.
    PoolTimeout(String),
    /// Anything else: a parameter or column the provider got wrong.
    Other(String),
}

impl Failure {
    /// Whether the connection this happened on is gone, so it must be
    /// discarded, and a call that had not reached its commit may be retried
    /// on another connection.
    pub fn is_connection_lost(&self) -> bool {
        match self {
            Failure::Closed(_) | Failure::Io(_) => true,
            Failure::Db { code, .. } => connection_lost_code(code),
            Failure::Connect(_) | Failure::PoolTimeout(_) | Failure::Other(_) => false,
        }
    }
}

/// SQLSTATEs saying the session is over: class 08 (connection exception)
/// and the shutdown codes 57P01 (terminated by an administrator, e.g.
/// `pg_terminate_backend`), 57P02 (crash shutdown), 57P03 (cannot connect now).
fn connection_lost_code(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
}

/// The error's text followed by the text of each of its sources (the
/// client's own text stops at its kind, e.g. "error connecting to server").
pub fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// Reduces a client error to a [`Failure`].
pub fn classify(err: &postgres::Error) -> Failure {
    if let Some(db) = err.as_db_error() {
        let mut message = db.message().to_string();
        if let Some(detail) = db.detail() {
            message.push_str(&format!(" ({detail})"));
        }
        return Failure::Db {
            code: db.code().code().to_string(),
            message,
        };
    }
    let text = describe(err);
    if err.is_closed() {
        return Failure::Closed(text);
    }
    // The client's error kinds are private; its messages are stable.
    if text.starts_with("error connecting to server")
        || text.starts_with("timeout waiting for server")
    {
        return Failure::Connect(text);
    }
    let io = std::error::Error::source(err).is_some_and(|s| s.is::<std::io::Error>());
    if io || text.starts_with("error communicating with the server") {
        return Failure::Io(text);
    }
    Failure::Other(text)
}

/// Maps a client error on `target` to a provider error; see [`map_failure`].
pub fn map_error(target: &Target, err: &postgres::Error) -> ProviderError {
    map_failure(target, classify(err))
}

/// Maps a [`Failure`] on `target` to a provider error.
///
/// - connection lost (closed, I/O, SQLSTATE 08xxx, 57P01-57P03), cannot
///   connect, no free connection, too many connections (53300): `UNAVAILABLE`,
///   temporary
/// - statement timeout or cancel (57014), lock timeout (55P03), serialization
///   failure (40001), deadlock (40P01): `UNAVAILABLE`, temporary
/// - wrong password or role (28xxx), unknown database (3D000): `INVALID_ARGUMENT`
/// - disk full (53100) and other resource errors (53xxx): `STORAGE`
/// - missing privilege (42501): `STORAGE`, naming what to grant
/// - a table or column that is missing or of another type (42P01, 42703,
///   42804, 42883): `STORAGE`, saying the tables are not this provider's
/// - data or index corruption (XX001, XX002): `STORAGE`, restore from backup
/// - a value too large for the server (54000): `INVALID_ARGUMENT`
/// - any other server error: `STORAGE`; a client-side misuse: `INTERNAL`
pub fn map_failure(target: &Target, failure: Failure) -> ProviderError {
    match failure {
        Failure::Closed(text) | Failure::Io(text) => ProviderError::unavailable(format!(
            "lost the connection to {target}; the provider reconnects on the next call, retry ({text})"
        )),
        Failure::Connect(text) => ProviderError::unavailable(format!(
            "cannot connect to {target}: check that the server runs and is reachable, and the \
             host and port ({text})"
        )),
        Failure::PoolTimeout(text) => ProviderError::unavailable(format!(
            "no connection to {target} came free in time: the server is unreachable or every \
             pooled connection is busy; retry, or raise `pool_size` ({text})"
        )),
        Failure::Db { code, message } => map_db(target, &code, &message),
        Failure::Other(text) => ProviderError::internal(format!(
            "{target}: unexpected client error, a bug in the stateplug postgres provider; please \
             report it ({text})"
        )),
    }
}

fn map_db(target: &Target, code: &str, message: &str) -> ProviderError {
    let server = Said { code, message };
    if connection_lost_code(code) {
        return ProviderError::unavailable(format!(
            "lost the connection to {target}; the provider reconnects on the next call, retry ({server})"
        ));
    }
    match code {
        "53300" => ProviderError::unavailable(format!(
            "{target} has no connection slot free; retry, lower `pool_size` or raise the server's \
             max_connections ({server})"
        )),
        "57014" => ProviderError::unavailable(format!(
            "a statement on {target} was cancelled: it ran longer than `statement_timeout_ms` \
             (waiting for a lock counts) or was cancelled by an administrator; retry ({server})"
        )),
        "55P03" | "40001" | "40P01" => ProviderError::unavailable(format!(
            "{target}: the call collided with a concurrent transaction; retry ({server})"
        )),
        "3D000" => ProviderError::invalid_argument(format!(
            "{target}: the database does not exist; create it or fix `database` / `url` ({server})"
        )),
        "53100" => ProviderError::storage(format!(
            "{target}: the server's disk is full; free space on the database server, then retry ({server})"
        )),
        "42501" => ProviderError::storage(format!(
            "{target}: permission denied; grant the role USAGE and CREATE on the schema (or create \
             the tables beforehand) and SELECT, INSERT, UPDATE, DELETE on the provider's tables and \
             USAGE on its sequences ({server})"
        )),
        "42P01" | "42703" | "42804" | "42883" => ProviderError::storage(format!(
            "{target}: the provider's tables are missing or have another layout (dropped, or created \
             by something else); point `schema` / `table` at stateplug tables or at new names ({server})"
        )),
        "XX001" | "XX002" => ProviderError::storage(format!(
            "{target}: the server reports corrupt data, restore from backup ({server})"
        )),
        "54000" => ProviderError::invalid_argument(format!(
            "{target}: the input is too large for the server; use a smaller key or value ({server})"
        )),
        c if c.starts_with("28") => ProviderError::invalid_argument(format!(
            "{target}: authentication failed; check `user` and the password (`password`, \
             `password_env` or `url`) and the server's pg_hba.conf ({server})"
        )),
        c if c.starts_with("53") => ProviderError::storage(format!(
            "{target}: the server ran out of a resource; retry later or give the server more ({server})"
        )),
        _ => ProviderError::storage(format!("{target}: the server refused the call ({server})")),
    }
}

/// The server's own words: message and SQLSTATE.
struct Said<'a> {
    code: &'a str,
    message: &'a str,
}

impl fmt::Display for Said<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server said: {} [SQLSTATE {}]", self.message, self.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stateplug_provider_api::ErrorKind;

    fn target() -> Target {
        Target {
            server: "db.example:5432".into(),
            database: "pipes".into(),
            user: "app".into(),
        }
    }

    fn db(code: &str) -> Failure {
        Failure::Db {
            code: code.into(),
            message: format!("message for {code}"),
        }
    }

    fn assert_maps(failure: Failure, kind: ErrorKind, temporary: bool, needles: &[&str]) {
        let e = map_failure(&target(), failure.clone());
        assert_eq!(e.kind(), kind, "{failure:?}: {e}");
        assert_eq!(e.is_temporary(), temporary, "{failure:?}: {e}");
        assert!(
            e.message().contains("db.example:5432"),
            "names the server: {e}"
        );
        assert!(e.message().contains("\"pipes\""), "names the database: {e}");
        let original = match &failure {
            Failure::Db { message, .. } => message.clone(),
            Failure::Closed(t)
            | Failure::Io(t)
            | Failure::Connect(t)
            | Failure::PoolTimeout(t)
            | Failure::Other(t) => t.clone(),
        };
        assert!(
            e.message().contains(&original),
            "keeps the original text: {e}"
        );
        for needle in needles {
            assert!(e.message().contains(needle), "{needle:?} in {e}");
        }
    }

    #[test]
    fn connection_loss_is_temporary_unavailable_and_retryable() {
        for f in [
            Failure::Closed("connection closed".into()),
            Failure::Io("error communicating with the server: broken pipe".into()),
            db("57P01"),
            db("57P02"),
            db("57P03"),
            db("08006"),
        ] {
            assert!(f.is_connection_lost(), "{f:?}");
            assert_maps(
                f,
                ErrorKind::UNAVAILABLE,
                true,
                &["lost the connection", "reconnects"],
            );
        }
    }

    #[test]
    fn cannot_connect_is_temporary_unavailable_but_not_retried_in_place() {
        let f = Failure::Connect("error connecting to server: Connection refused".into());
        assert!(!f.is_connection_lost());
        assert_maps(f, ErrorKind::UNAVAILABLE, true, &["cannot connect"]);
        let f = Failure::PoolTimeout("timed out waiting for connection".into());
        assert_maps(f, ErrorKind::UNAVAILABLE, true, &["pool_size"]);
        assert_maps(
            db("53300"),
            ErrorKind::UNAVAILABLE,
            true,
            &["max_connections"],
        );
    }

    #[test]
    fn timeouts_and_collisions_are_temporary() {
        assert_maps(
            db("57014"),
            ErrorKind::UNAVAILABLE,
            true,
            &["statement_timeout_ms"],
        );
        for code in ["55P03", "40001", "40P01"] {
            assert_maps(db(code), ErrorKind::UNAVAILABLE, true, &["retry"]);
        }
        assert!(!db("57014").is_connection_lost());
    }

    #[test]
    fn configuration_problems_are_invalid_arguments() {
        assert_maps(
            db("28P01"),
            ErrorKind::INVALID_ARGUMENT,
            false,
            &["authentication failed", "password_env"],
        );
        assert_maps(
            db("28000"),
            ErrorKind::INVALID_ARGUMENT,
            false,
            &["pg_hba.conf"],
        );
        assert_maps(
            db("3D000"),
            ErrorKind::INVALID_ARGUMENT,
            false,
            &["does not exist"],
        );
        assert_maps(
            db("54000"),
            ErrorKind::INVALID_ARGUMENT,
            false,
            &["too large"],
        );
    }

    #[test]
    fn storage_problems_say_what_to_do() {
        assert_maps(db("53100"), ErrorKind::STORAGE, false, &["disk is full"]);
        assert_maps(db("53200"), ErrorKind::STORAGE, false, &["resource"]);
        assert_maps(db("42501"), ErrorKind::STORAGE, false, &["grant"]);
        for code in ["42P01", "42703", "42804", "42883"] {
            assert_maps(db(code), ErrorKind::STORAGE, false, &["another layout"]);
        }
        assert_maps(
            db("XX001"),
            ErrorKind::STORAGE,
            false,
            &["restore from backup"],
        );
        assert_maps(db("22000"), ErrorKind::STORAGE, false, &["SQLSTATE 22000"]);
    }

    #[test]
    fn client_misuse_is_internal() {
        assert_maps(
            Failure::Other("error serializing parameter 2".into()),
            ErrorKind::INTERNAL,
            false,
            &["bug"],
        );
    }
}
