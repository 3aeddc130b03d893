//! The provider's JSON configuration, its validation, and the connection
//! settings derived from it.

use std::{fmt, str::FromStr, time::Duration};

use postgres::config::Host;
use serde::Deserialize;
use stateplug_provider_api::{parse_config, ProviderError, ProviderResult};

use crate::conninfo::split_tls_keys;
use crate::tls::{Connector, SslMode};

/// Default schema of the provider's tables.
pub const DEFAULT_SCHEMA: &str = "public";
/// Default name of the entries table (the other objects take it as a prefix).
pub const DEFAULT_TABLE: &str = "stateplug";
/// Default number of pooled connections.
pub const DEFAULT_POOL_SIZE: u32 = 8;
/// Default statement timeout, in milliseconds.
pub const DEFAULT_STATEMENT_TIMEOUT_MS: u64 = 30_000;
/// Default connect timeout, in milliseconds.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;
/// Default number of change-feed positions kept in the change log.
pub const DEFAULT_CHANGE_LOG_KEEP: u64 = 100_000;
/// Largest `pool_size` accepted.
pub const MAX_POOL_SIZE: u32 = 256;
/// Longest schema or table name accepted: the longest derived object name
/// (`<table>_changes_seq`, 12 more bytes) must fit PostgreSQL's 63.
pub const MAX_IDENTIFIER_BYTES: usize = 48;

/// The configuration of the PostgreSQL provider, read from JSON; unknown
/// fields are refused.
///
/// Give either `url` (a `postgres://` URL or a `key=value` connection
/// string) or the separate fields `host`, `port`, `user`, `database` and
/// `password`. The password may instead come from the environment variable
/// named by `password_env`. TLS is set by `sslmode` and `sslrootcert`, as
/// fields or as keys of the URL. `Debug` never shows the password or the URL.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// A connection URL (`postgres://user@host:5432/database`) or a
    /// `key=value` connection string; excludes the separate fields.
    #[serde(default)]
    pub url: Option<String>,
    /// The server's host name or address, or a Unix socket folder; default `localhost`.
    #[serde(default)]
    pub host: Option<String>,
    /// The server's port; default 5432.
    #[serde(default)]
    pub port: Option<u16>,
    /// The role to connect as (required without `url`).
    #[serde(default)]
    pub user: Option<String>,
    /// The database to connect to (required without `url`).
    #[serde(default)]
    pub database: Option<String>,
    /// The password; prefer `password_env`.
    #[serde(default)]
    pub password: Option<String>,
    /// The name of an environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Whether to use TLS and how far to trust the server (libpq's
    /// `sslmode`); default `prefer`. May instead be a key of `url`.
    #[serde(default)]
    pub sslmode: Option<SslMode>,
    /// The PEM file of the root certificates that authenticate the server
    /// (libpq's `sslrootcert`); default `~/.postgresql/root.crt` if it
    /// exists. May instead be a key of `url`.
    #[serde(default)]
    pub sslrootcert: Option<String>,
    /// The schema of the provider's tables (created if missing); default `public`.
    #[serde(default = "default_schema")]
    pub schema: String,
    /// The entries table; the change log, its sequence, the version
    /// sequence and the meta table are named after it. Default `stateplug`.
    #[serde(default = "default_table")]
    pub table: String,
    /// Pooled connections (1..=256); default 8. The change feed uses one more.
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
    /// Longest a statement (lock waits included) may run, in milliseconds;
    /// 0 disables the limit. Default 30,000. Also bounds how long a
    /// connection may sit idle inside a transaction.
    #[serde(default = "default_statement_timeout_ms")]
    pub statement_timeout_ms: u64,
    /// Longest to wait for a connection, in milliseconds: to reach the
    /// server (per address tried), or for a pooled one to come free.
    /// Default 5,000.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// How many of the latest change-feed positions the change log keeps
    /// (at least 1); default 100,000. Older rows are pruned.
    #[serde(default = "default_change_log_keep")]
    pub change_log_keep: u64,
}

fn default_schema() -> String {
    DEFAULT_SCHEMA.to_string()
}
fn default_table() -> String {
    DEFAULT_TABLE.to_string()
}
fn default_pool_size() -> u32 {
    DEFAULT_POOL_SIZE
}
fn default_statement_timeout_ms() -> u64 {
    DEFAULT_STATEMENT_TIMEOUT_MS
}
fn default_connect_timeout_ms() -> u64 {
    DEFAULT_CONNECT_TIMEOUT_MS
}
fn default_change_log_keep() -> u64 {
    DEFAULT_CHANGE_LOG_KEEP
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &self.url.as_ref().map(|_| "<hidden>"))
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("database", &self.database)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("password_env", &self.password_env)
            .field("sslmode", &self.sslmode)
            .field("sslrootcert", &self.sslrootcert)
            .field("schema", &self.schema)
            .field("table", &self.table)
            .field("pool_size", &self.pool_size)
            .field("statement_timeout_ms", &self.statement_timeout_ms)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("change_log_keep", &self.change_log_keep)
            .finish()
    }
}

/// Where the provider connects, for messages: never holds the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port` (or the socket folder), comma-separated if several.
    pub server: String,
    /// The database name.
    pub database: String,
    /// The role.
    pub user: String,
    /// The TLS mode.
    pub sslmode: SslMode,
    /// The root certificates' file named by the configuration, if any.
    pub sslrootcert: Option<String>,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PostgreSQL server {}, database {:?}, user {:?}",
            self.server, self.database, self.user
        )
    }
}

fn invalid(message: impl fmt::Display) -> ProviderError {
    ProviderError::invalid_argument(format!(
        "invalid postgres provider configuration: {message}"
    ))
}

/// Refuses a schema or table name that is not a plain lower-case identifier.
fn check_identifier(field: &str, name: &str) -> ProviderResult<()> {
    let mut chars = name.chars();
    let starts_well = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !starts_well || !rest_ok || name.len() > MAX_IDENTIFIER_BYTES {
        return Err(invalid(format!(
            "`{field}` is {name:?}: use 1 to {MAX_IDENTIFIER_BYTES} characters of a-z, 0-9 and _, \
             not starting with a digit (e.g. \"{}\")",
            if field == "schema" {
                DEFAULT_SCHEMA
            } else {
                DEFAULT_TABLE
            }
        )));
    }
    Ok(())
}

impl PostgresConfig {
    /// Parses the JSON configuration and validates it (see [`PostgresConfig::validate`]).
    pub fn parse(config_json: &str) -> ProviderResult<Self> {
        let config: PostgresConfig = parse_config("postgres", config_json)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the fields: `url` or the separate fields (not both), a
    /// database and user, at most one password source, plain identifiers,
    /// and sizes in range. Reads the `password_env` variable.
    pub fn validate(&self) -> ProviderResult<()> {
        check_identifier("schema", &self.schema)?;
        check_identifier("table", &self.table)?;
        if self.pool_size == 0 || self.pool_size > MAX_POOL_SIZE {
            return Err(invalid(format!(
                "`pool_size` is {}: use 1 to {MAX_POOL_SIZE}",
                self.pool_size
            )));
        }
        if self.change_log_keep == 0 {
            return Err(invalid(
                "`change_log_keep` is 0: keep at least 1 change-feed position (default 100000)",
            ));
        }
        if self.connect_timeout_ms == 0 {
            return Err(invalid(
                "`connect_timeout_ms` is 0: give the longest wait for a connection in milliseconds (default 5000)",
            ));
        }
        if i64::try_from(self.statement_timeout_ms).is_err() {
            return Err(invalid("`statement_timeout_ms` is too large"));
        }
        self.connector().map(drop)
    }

    /// The connector (connection settings and TLS) and the target it
    /// names. Reads the `password_env` variable and the root certificates;
    /// never puts the password in an error.
    pub(crate) fn connector(&self) -> ProviderResult<(Connector, Target)> {
        let fields = [
            ("host", self.host.is_some()),
            ("port", self.port.is_some()),
            ("user", self.user.is_some()),
            ("database", self.database.is_some()),
            ("password", self.password.is_some()),
        ];
        let given: Vec<&str> = fields.iter().filter(|f| f.1).map(|f| f.0).collect();
        let mut url_tls = Default::default();
        let mut pg = match &self.url {
            Some(url) => {
                if !given.is_empty() {
                    return Err(invalid(format!(
                        "both `url` and {} are given: give either the URL or the separate fields",
                        given
                            .iter()
                            .map(|g| format!("`{g}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                let split = split_tls_keys(url).map_err(invalid)?;
                let pg = postgres::Config::from_str(&split.rest)
                    .map_err(|e| invalid(format!("`url` cannot be read: {e}")))?;
                url_tls = split;
                pg
            }
            None => {
                let mut pg = postgres::Config::new();
                pg.host(self.host.as_deref().unwrap_or("localhost"));
                pg.port(self.port.unwrap_or(5432));
                match &self.user {
                    Some(user) if !user.is_empty() => pg.user(user),
                    _ => {
                        return Err(invalid(
                            "no `url` and no `user`: set `url` (e.g. \"postgres://stateplug@db.example:5432/pipelines\") \
                             or `user` and `database`",
                        ))
                    }
                };
                if let Some(password) = &self.password {
                    pg.password(password.as_str());
                }
                if let Some(database) = &self.database {
                    pg.dbname(database);
                }
                pg
            }
        };
        if pg.get_dbname().is_none_or(str::is_empty) {
            return Err(invalid(
                "no database given: set `database` (or the database part of `url`)",
            ));
        }
        if pg.get_user().is_none_or(str::is_empty) {
            return Err(invalid(
                "no user given: set `user` (or the user part of `url`)",
            ));
        }
        if pg.get_hosts().is_empty() {
            return Err(invalid(
                "`url` names no host: add one, e.g. postgres://user@127.0.0.1:5432/db",
            ));
        }
        if let Some(var) = &self.password_env {
            if pg.get_password().is_some() {
                return Err(invalid(format!(
                    "`password_env` ({var}) is given, but the password is already set in {}: keep one",
                    if self.url.is_some() {
                        "`url`"
                    } else {
                        "`password`"
                    }
                )));
            }
            match std::env::var(var) {
                Ok(password) => {
                    pg.password(password);
                }
                Err(std::env::VarError::NotPresent) => {
                    return Err(invalid(format!(
                        "`password_env` names the environment variable {var}, which is not set: \
                         export it before starting the host"
                    )))
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(invalid(format!(
                        "the environment variable {var} (`password_env`) is not valid UTF-8"
                    )))
                }
            }
        }
        let sslmode = match (self.sslmode, url_tls.sslmode.as_deref()) {
            (Some(_), Some(_)) => return Err(given_twice("sslmode")),
            (Some(mode), None) => mode,
            (None, Some(text)) => text.parse().map_err(invalid)?,
            (None, None) => SslMode::default(),
        };
        let sslrootcert = match (&self.sslrootcert, url_tls.sslrootcert) {
            (Some(_), Some(_)) => return Err(given_twice("sslrootcert")),
            (field, key) => field.clone().or(key),
        };
        let target = target_of(&pg, sslmode, sslrootcert.clone());
        let mut options = String::from("-c synchronous_commit=on");
        if self.statement_timeout_ms > 0 {
            options.push_str(&format!(
                " -c statement_timeout={0} -c idle_in_transaction_session_timeout={0}",
                self.statement_timeout_ms
            ));
        }
        pg.options(&options);
        pg.application_name(&self.application_name());
        pg.connect_timeout(Duration::from_millis(self.connect_timeout_ms));
        let connector = Connector::new(pg, sslmode, sslrootcert.as_deref()).map_err(invalid)?;
        Ok((connector, target))
    }

    /// The `application_name` of every connection, naming the tables, so
    /// operators can find them in `pg_stat_activity`.
    pub fn application_name(&self) -> String {
        let name = format!("stateplug:{}.{}", self.schema, self.table);
        // PostgreSQL truncates to 63 bytes; names are ASCII.
        name.chars().take(63).collect()
    }
}

fn given_twice(key: &str) -> ProviderError {
    invalid(format!(
        "`{key}` is given both as a field and in `url`: keep one"
    ))
}

/// The target a connection configuration names.
fn target_of(pg: &postgres::Config, sslmode: SslMode, sslrootcert: Option<String>) -> Target {
    let ports = pg.get_ports();
    let server = pg
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports
                .get(i)
                .or_else(|| ports.first())
                .copied()
                .unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{} (port {port})", path.display()),
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    Target {
        server,
        database: pg.get_dbname().unwrap_or_default().to_string(),
        user: pg.get_user().unwrap_or_default().to_string(),
        sslmode,
        sslrootcert,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stateplug_provider_api::ErrorKind;

    fn refused(json: &str) -> ProviderError {
        let err = PostgresConfig::parse(json).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::INVALID_ARGUMENT, "{err}");
        err
    }

    #[test]
    fn url_and_defaults_are_read() {
        let c =
            PostgresConfig::parse(r#"{"url": "postgres://app@db.example:6543/pipes"}"#).unwrap();
        assert_eq!(c.schema, "public");
        assert_eq!(c.table, "stateplug");
        assert_eq!(c.pool_size, 8);
        let (connector, target) = c.connector().unwrap();
        let pg = connector.config();
        assert_eq!(target.server, "db.example:6543");
        assert_eq!(target.database, "pipes");
        assert_eq!(target.user, "app");
        assert!(pg
            .get_options()
            .unwrap()
            .contains("statement_timeout=30000"));
        assert!(pg.get_options().unwrap().contains("synchronous_commit=on"));
        assert_eq!(
            pg.get_application_name(),
            Some("stateplug:public.stateplug")
        );
    }

    #[test]
    fn fields_are_read() {
        let c = PostgresConfig::parse(
            r#"{"host": "10.0.0.5", "user": "u", "database": "d", "password": "pw",
                "schema": "state", "table": "checkpoints", "pool_size": 3,
                "statement_timeout_ms": 0, "change_log_keep": 10}"#,
        )
        .unwrap();
        let (connector, target) = c.connector().unwrap();
        let pg = connector.config();
        assert_eq!(
            target.to_string(),
            "PostgreSQL server 10.0.0.5:5432, database \"d\", user \"u\""
        );
        assert_eq!(pg.get_password(), Some(&b"pw"[..]));
        assert!(!pg.get_options().unwrap().contains("statement_timeout"));
    }

    #[test]
    fn sslmode_defaults_to_prefer_and_is_read_from_the_field_or_the_url() {
        use postgres::config::SslMode as Client;
        let target = |json: &str| PostgresConfig::parse(json).unwrap().connector().unwrap();
        let (connector, t) = target(r#"{"url": "postgres://u@h/d"}"#);
        assert_eq!(t.sslmode, SslMode::Prefer);
        assert_eq!(connector.config().get_ssl_mode(), Client::Prefer);
        let (connector, t) = target(r#"{"url": "postgres://u@h/d", "sslmode": "require"}"#);
        assert_eq!(t.sslmode, SslMode::Require);
        assert_eq!(connector.config().get_ssl_mode(), Client::Require);
        let (connector, t) =
            target(r#"{"url": "postgres://u@h/d?sslmode=disable&connect_timeout=2"}"#);
        assert_eq!(t.sslmode, SslMode::Disable);
        assert_eq!(connector.config().get_ssl_mode(), Client::Disable);
        let (_, t) = target(r#"{"url": "host=h user=u dbname=d sslmode=require"}"#);
        assert_eq!(t.sslmode, SslMode::Require);
        let (_, t) = target(r#"{"user": "u", "database": "d", "sslmode": "disable"}"#);
        assert_eq!(t.sslmode, SslMode::Disable);
    }

    #[test]
    fn tls_settings_are_checked_at_open() {
        let err = refused(r#"{"url": "postgres://u@h/d", "sslmode": "allow"}"#);
        assert!(err.message().contains("verify-full"), "{err}");
        let err = refused(r#"{"url": "postgres://u:hunter2@h/d?sslmode=allow"}"#);
        assert!(err.message().contains("`sslmode` is \"allow\""), "{err}");
        assert!(!err.message().contains("hunter2"), "{err}");
        let err = refused(r#"{"url": "postgres://u@h/d?sslmode=require", "sslmode": "require"}"#);
        assert!(err.message().contains("`sslmode` is given both"), "{err}");
        let err =
            refused(r#"{"url": "postgres://u@h/d?sslrootcert=/a.pem", "sslrootcert": "/b.pem"}"#);
        assert!(
            err.message().contains("`sslrootcert` is given both"),
            "{err}"
        );
        let err = refused(
            r#"{"url": "postgres://u@h/d?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem"}"#,
        );
        assert!(
            err.message()
                .contains("cannot read `sslrootcert` /nonexistent/ca.pem"),
            "{err}"
        );
    }

    #[test]
    fn url_and_fields_together_are_refused() {
        let err = refused(r#"{"url": "postgres://u@h/d", "host": "x", "password": "p"}"#);
        assert!(err.message().contains("`host`, `password`"), "{err}");
    }

    #[test]
    fn missing_database_or_user_names_the_field() {
        let err = refused(r#"{"user": "u"}"#);
        assert!(err.message().contains("`database`"), "{err}");
        let err = refused(r#"{"database": "d"}"#);
        assert!(err.message().contains("`user`"), "{err}");
        let err = refused("{}");
        assert!(err.message().contains("`url`"), "{err}");
    }

    #[test]
    fn password_env_is_read_and_a_missing_variable_is_named() {
        let var = format!("STATEPLUG_PG_TEST_PASSWORD_{}", std::process::id());
        let json = format!(r#"{{"url": "postgres://u@h/d", "password_env": "{var}"}}"#);
        let err = refused(&json);
        assert!(err.message().contains(&var), "{err}");
        std::env::set_var(&var, "from-env");
        let c = PostgresConfig::parse(&json).unwrap();
        assert_eq!(
            c.connector().unwrap().0.config().get_password(),
            Some(&b"from-env"[..])
        );
        std::env::remove_var(&var);
        let err = refused(&format!(
            r#"{{"url": "postgres://u:secret@h/d", "password_env": "{var}"}}"#
        ));
        assert!(!err.message().contains("secret"), "{err}");
    }

    #[test]
    fn identifiers_sizes_and_unknown_fields_are_checked() {
        for json in [
            r#"{"url": "postgres://u@h/d", "table": "Bad-Name"}"#,
            r#"{"url": "postgres://u@h/d", "schema": "1x"}"#,
            r#"{"url": "postgres://u@h/d", "table": ""}"#,
        ] {
            let err = refused(json);
            assert!(err.message().contains("a-z, 0-9 and _"), "{err}");
        }
        let long = "t".repeat(MAX_IDENTIFIER_BYTES + 1);
        refused(&format!(
            r#"{{"url": "postgres://u@h/d", "table": "{long}"}}"#
        ));
        let err = refused(r#"{"url": "postgres://u@h/d", "pool_size": 0}"#);
        assert!(err.message().contains("`pool_size`"), "{err}");
        let err = refused(r#"{"url": "postgres://u@h/d", "change_log_keep": 0}"#);
        assert!(err.message().contains("`change_log_keep`"), "{err}");
        let err = refused(r#"{"url": "postgres://u@h/d", "passwd": "x"}"#);
        assert!(err.message().contains("unknown field `passwd`"), "{err}");
    }

    #[test]
    fn debug_hides_the_password_and_url() {
        let c = PostgresConfig::parse(r#"{"url": "postgres://u:hunter2@h/d"}"#).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        let c = PostgresConfig::parse(r#"{"user": "u", "database": "d", "password": "hunter2"}"#)
            .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
