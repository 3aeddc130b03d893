//! The one seam where PostgreSQL client errors become [`ProviderError`]s.
//!
//! [`classify`] reduces a `postgres::Error` to a [`Failure`] (the client's
//! error type cannot be built outside its crate, so the mapping is tested on
//! `Failure`s); [`map_failure`] turns that into a provider error whose
//! message names the server and database (never the password), says what to
//! do, and keeps the server's own text. [`map_error`] does both.
//!
//! A permanent answer (an unknown database or role, a refused password, a
//! missing privilege, a refused certificate) says its cause first and is
//! never temporary; not reaching the server is temporary (it may come up),
//! and so is a pool whose connections all stay busy.

use std::fmt;

use rustls::CertificateError;
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
    /// The server could not be reached: refused, timed out, no such host.
    Connect(String),
    /// TLS could not be set up as `sslmode` asks.
    Tls {
        /// What was refused.
        problem: TlsProblem,
        /// The client's text.
        text: String,
    },
    /// Every pooled connection stayed busy for the whole wait.
    PoolBusy {
        /// `pool_size`.
        size: u32,
        /// How long the call waited, in milliseconds.
        waited_ms: u64,
    },
    /// Anything else: a parameter or column the provider got wrong.
    Other(String),
}

/// Why TLS could not be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsProblem {
    /// The server does not offer TLS, and `sslmode` requires it.
    NotOffered,
    /// The server's certificate does not name the host connected to.
    NameMismatch,
    /// The server's certificate is not signed by a root certificate.
    UnknownIssuer,
    /// The server's certificate has expired or is not valid yet.
    Expired,
    /// Anything else the TLS handshake refused.
    Other,
}

impl TlsProblem {
    /// The problem a rustls error names.
    pub fn of(err: &rustls::Error) -> Self {
        match err {
            rustls::Error::InvalidCertificate(cert) => match cert {
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => TlsProblem::NameMismatch,
                CertificateError::UnknownIssuer => TlsProblem::UnknownIssuer,
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. } => TlsProblem::Expired,
                _ => TlsProblem::Other,
            },
            _ => TlsProblem::Other,
        }
    }
}

impl Failure {
    /// Whether the connection this happened on is gone, so it must be
    /// discarded, and a call that had not reached its commit may be retried
    /// on another connection.
    pub fn is_connection_lost(&self) -> bool {
        match self {
            Failure::Closed(_) | Failure::Io(_) => true,
            Failure::Db { code, .. } => connection_lost_code(code),
            Failure::Connect(_)
            | Failure::Tls { .. }
            | Failure::PoolBusy { .. }
            | Failure::Other(_) => false,
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

/// The rustls error somewhere in `err`'s sources (the TLS stream hands it
/// over inside an `io::Error`, which does not list it as a source).
fn rustls_error<'e>(err: &'e (dyn std::error::Error + 'static)) -> Option<&'e rustls::Error> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref());
        if let Some(tls) = inner.and_then(|i| i.downcast_ref::<rustls::Error>()) {
            return Some(tls);
        }
        next = e.source();
    }
    None
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
    // The client's error kinds are private; its messages are stable.
    let tls = if text.contains("server does not support TLS") {
        Some(TlsProblem::NotOffered)
    } else if text.contains("no hostname provided for TLS handshake") {
        Some(TlsProblem::Other)
    } else {
        rustls_error(err).map(TlsProblem::of)
    };
    if let Some(problem) = tls {
        return Failure::Tls { problem, text };
    }
    if err.is_closed() {
        return Failure::Closed(text);
    }
    if text.starts_with("error connecting to server")
        || text.starts_with("timeout waiting for server")
        || text.starts_with("error performing TLS handshake")
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

/// The client's text without its kind prefix, which the message already says.
fn cause(text: &str) -> &str {
    [
        "error connecting to server: ",
        "error performing TLS handshake: ",
    ]
    .iter()
    .find_map(|prefix| text.strip_prefix(prefix))
    .unwrap_or(text)
}

/// Maps a [`Failure`] on `target` to a provider error.
///
/// - connection lost (closed, I/O, SQLSTATE 08xxx, 57P01-57P03), cannot
///   connect, every pooled connection busy, too many connections (53300):
///   `UNAVAILABLE`, temporary
/// - statement timeout or cancel (57014), lock timeout (55P03), serialization
///   failure (40001), deadlock (40P01): `UNAVAILABLE`, temporary
/// - unknown database (3D000), wrong password (28P01), unknown role or no
///   pg_hba.conf entry (28000, other 28xxx): `INVALID_ARGUMENT`, the
///   server's words first
/// - TLS refused (not offered, certificate not matching the host, not
///   signed by a root certificate, expired): `INVALID_ARGUMENT`
/// - missing privilege (42501): `STORAGE`, the server's words first, then
///   what to grant
/// - disk full (53100) and other resource errors (53xxx): `STORAGE`
/// - a table or column that is missing or of another type (42P01, 42703,
///   42804, 42883): `STORAGE`, saying the tables are not this provider's
/// - data or index corruption (XX001, XX002): `STORAGE`, restore from backup
/// - a value too large for the server (54000): `INVALID_ARGUMENT`
/// - any other server error: `STORAGE`; a client-side misuse: `INTERNAL`
pub fn map_failure(target: &Target, failure: Failure) -> ProviderError {
    let server = &target.server;
    match failure {
        Failure::Closed(text) | Failure::Io(text) => ProviderError::unavailable(format!(
            "lost the connection to {target}; the provider reconnects on the next call, retry ({text})"
        )),
        Failure::Connect(text) => ProviderError::unavailable(format!(
            "cannot connect to {server}: {}; check that the server runs and that the host and \
             port are right ({target})",
            cause(&text)
        )),
        Failure::Tls { problem, text } => map_tls(target, problem, cause(&text)),
        Failure::PoolBusy { size, waited_ms } => ProviderError::unavailable(format!(
            "all {size} pooled connections to {target} stayed busy for {waited_ms} ms \
             (`connect_timeout_ms`): retry, raise `pool_size`, or shorten the calls that hold them"
        )),
        Failure::Db { code, message } => map_db(target, &code, &message),
        Failure::Other(text) => ProviderError::internal(format!(
            "{target}: unexpected client error, a bug in the stateplug postgres provider; please \
             report it ({text})"
        )),
    }
}

fn map_tls(target: &Target, problem: TlsProblem, cause: &str) -> ProviderError {
    let (server, mode) = (&target.server, target.sslmode);
    ProviderError::invalid_argument(match problem {
        TlsProblem::NotOffered => format!(
            "{server} does not support TLS, but `sslmode` {mode} needs it: turn on `ssl` in the \
             server's configuration, or set `sslmode` to prefer to connect without it ({target})"
        ),
        TlsProblem::NameMismatch => format!(
            "the certificate of {server} does not match the host connected to ({cause}); connect \
             by a name the certificate holds, or set `sslmode` to verify-ca to check only who \
             signed it ({target})"
        ),
        TlsProblem::UnknownIssuer => format!(
            "the certificate of {server} is not signed by a root certificate in {} ({cause}); \
             set `sslrootcert` to the PEM file of the CA that signed the server's certificate \
             ({target})",
            match &target.sslrootcert {
                Some(path) => format!("`sslrootcert` {path}"),
                None => "~/.postgresql/root.crt".to_string(),
            }
        ),
        TlsProblem::Expired => format!(
            "the certificate of {server} has expired or is not valid yet ({cause}); renew the \
             server's certificate, or check this machine's clock ({target})"
        ),
        TlsProblem::Other => format!(
            "TLS with {server} failed ({cause}); check `sslmode`, `sslrootcert` and the \
             server's ssl settings ({target})"
        ),
    })
}

/// The server's words first, where it is, what to do, then the target.
fn said_first(target: &Target, code: &str, message: &str, fix: &str) -> String {
    format!(
        "{message} on {}; {fix} ({target}) [SQLSTATE {code}]",
        target.server
    )
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
        "3D000" => ProviderError::invalid_argument(said_first(
            target,
            code,
            message,
            "create it or fix `database` (or the database in `url`)",
        )),
        "28P01" => ProviderError::invalid_argument(said_first(
            target,
            code,
            message,
            "check the password (`password`, `password_env` or the password in `url`)",
        )),
        c if c.starts_with("28") => ProviderError::invalid_argument(said_first(
            target,
            code,
            message,
            "check `user` (or the user in `url`), that the role exists and may log in, and the \
             server's pg_hba.conf",
        )),
        "42501" => ProviderError::storage(said_first(
            target,
            code,
            message,
            "grant the role USAGE and CREATE on the schema (or create the tables beforehand), \
             SELECT, INSERT, UPDATE, DELETE on the provider's tables and USAGE on its sequences",
        )),
        "53100" => ProviderError::storage(format!(
            "{target}: the server's disk is full; free space on the database server, then retry ({server})"
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
    use crate::tls::SslMode;
    use stateplug_provider_api::ErrorKind;

    fn target() -> Target {
        Target {
            server: "db.example:5432".into(),
            database: "pipes".into(),
            user: "app".into(),
            sslmode: SslMode::VerifyFull,
            sslrootcert: Some("/etc/stateplug/ca.pem".into()),
        }
    }

    fn db(code: &str) -> Failure {
        Failure::Db {
            code: code.into(),
            message: format!("message for {code}"),
        }
    }

    fn tls(problem: TlsProblem) -> Failure {
        Failure::Tls {
            problem,
            text: format!("error performing TLS handshake: text for {problem:?}"),
        }
    }

    /// Maps `failure` and checks what every message holds: the server,
    /// the database, and the client's or server's own text.
    fn assert_maps(
        failure: Failure,
        kind: ErrorKind,
        temporary: bool,
        needles: &[&str],
    ) -> ProviderError {
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
            // The client's whole text is "server does not support TLS".
            Failure::Tls {
                problem: TlsProblem::NotOffered,
                ..
            } => "does not support TLS".to_string(),
            Failure::Tls { text, .. } | Failure::Connect(text) => cause(text).to_string(),
            Failure::Closed(t) | Failure::Io(t) | Failure::Other(t) => t.clone(),
            Failure::PoolBusy { size, .. } => size.to_string(),
        };
        assert!(
            e.message().contains(&original),
            "keeps the original text: {e}"
        );
        for needle in needles {
            assert!(e.message().contains(needle), "{needle:?} in {e}");
        }
        e
    }

    /// A permanent server answer says the server's words first.
    fn assert_cause_first(e: &ProviderError, code: &str) {
        assert!(
            e.message()
                .starts_with(&format!("message for {code} on db.example:5432; ")),
            "{e}"
        );
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
    fn cannot_connect_is_temporary_and_says_so_first() {
        let f = Failure::Connect(
            "error connecting to server: Connection refused (os error 111)".into(),
        );
        assert!(!f.is_connection_lost());
        let e = assert_maps(f, ErrorKind::UNAVAILABLE, true, &[]);
        assert!(
            e.message().starts_with(
                "cannot connect to db.example:5432: Connection refused (os error 111); "
            ),
            "{e}"
        );
        assert_maps(
            db("53300"),
            ErrorKind::UNAVAILABLE,
            true,
            &["max_connections"],
        );
    }

    #[test]
    fn a_busy_pool_is_told_apart_from_an_unreachable_server() {
        let f = Failure::PoolBusy {
            size: 4,
            waited_ms: 5000,
        };
        assert!(!f.is_connection_lost());
        let e = assert_maps(f, ErrorKind::UNAVAILABLE, true, &["`pool_size`", "5000 ms"]);
        assert!(e.message().starts_with("all 4 pooled connections"), "{e}");
        assert!(!e.message().contains("cannot connect"), "{e}");
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
    fn unknown_database_wrong_password_and_unknown_role_are_permanent_and_say_so_first() {
        let e = assert_maps(
            db("3D000"),
            ErrorKind::INVALID_ARGUMENT,
            false,
            &["create it or fix `database`", "SQLSTATE 3D000"],
        );
        assert_cause_first(&e, "3D000");
        let e = assert_maps(
            db("28P01"),
            ErrorKind::INVALID_ARGUMENT,
            false,
            &["check the password", "password_env"],
        );
        assert_cause_first(&e, "28P01");
        for code in ["28000", "28001"] {
            let e = assert_maps(
                db(code),
                ErrorKind::INVALID_ARGUMENT,
                false,
                &["`user`", "the role exists", "pg_hba.conf"],
            );
            assert_cause_first(&e, code);
        }
        assert_maps(
            db("54000"),
            ErrorKind::INVALID_ARGUMENT,
            false,
            &["too large"],
        );
    }

    #[test]
    fn a_missing_privilege_is_permanent_and_says_what_to_grant() {
        let e = assert_maps(
            db("42501"),
            ErrorKind::STORAGE,
            false,
            &["grant", "USAGE and CREATE"],
        );
        assert_cause_first(&e, "42501");
    }

    #[test]
    fn refused_tls_is_permanent_and_names_the_problem() {
        for (problem, needles) in [
            (
                TlsProblem::NotOffered,
                &["does not support TLS", "`sslmode` verify-full"][..],
            ),
            (
                TlsProblem::NameMismatch,
                &["does not match the host", "verify-ca"][..],
            ),
            (
                TlsProblem::UnknownIssuer,
                &["not signed by a root certificate in `sslrootcert` /etc/stateplug/ca.pem"][..],
            ),
            (TlsProblem::Expired, &["has expired"][..]),
            (TlsProblem::Other, &["TLS with db.example:5432 failed"][..]),
        ] {
            let f = tls(problem);
            assert!(!f.is_connection_lost());
            let e = assert_maps(f, ErrorKind::INVALID_ARGUMENT, false, needles);
            assert!(
                !e.message().contains("error performing TLS handshake"),
                "{e}"
            );
        }
    }

    #[test]
    fn rustls_errors_name_their_problem() {
        use rustls::{pki_types::ServerName, CertificateError as C, Error};
        let expected = ServerName::try_from("127.0.0.1").unwrap();
        for (err, problem) in [
            (C::NotValidForName, TlsProblem::NameMismatch),
            (
                C::NotValidForNameContext {
                    expected,
                    presented: vec!["DnsName(\"localhost\")".into()],
                },
                TlsProblem::NameMismatch,
            ),
            (C::UnknownIssuer, TlsProblem::UnknownIssuer),
            (C::Expired, TlsProblem::Expired),
            (C::NotValidYet, TlsProblem::Expired),
            (C::BadSignature, TlsProblem::Other),
        ] {
            assert_eq!(TlsProblem::of(&Error::InvalidCertificate(err)), problem);
        }
        assert_eq!(
            TlsProblem::of(&Error::HandshakeNotComplete),
            TlsProblem::Other
        );
        let wrapped = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            Error::InvalidCertificate(C::UnknownIssuer),
        );
        assert_eq!(
            rustls_error(&wrapped).map(TlsProblem::of),
            Some(TlsProblem::UnknownIssuer),
            "found inside the io::Error the TLS stream returns"
        );
    }

    #[test]
    fn storage_problems_say_what_to_do() {
        assert_maps(db("53100"), ErrorKind::STORAGE, false, &["disk is full"]);
        assert_maps(db("53200"), ErrorKind::STORAGE, false, &["resource"]);
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
