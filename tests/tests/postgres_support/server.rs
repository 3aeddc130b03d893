//! A throwaway PostgreSQL server of a test's own: `initdb` into a
//! temporary folder, started with `pg_ctl` on a free port of 127.0.0.1,
//! with TLS on or off, and password (SCRAM) authentication over TCP.
//! Dropping it stops the server (also when the test fails) and removes the
//! folder. The machine's shared server is never touched.
//!
//! initdb refuses to run as root: as root, the server's folder belongs to
//! the `postgres` user and every server command runs as that user.

use std::{
    io::Write as _,
    net::TcpListener,
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::{Path, PathBuf},
    process::Command,
};

use tempfile::TempDir;

/// The superuser's password on every throwaway server.
pub const PASSWORD: &str = "throwaway-Secret-7f3a";

/// The server's certificate and key, PEM.
pub struct ServerCert {
    /// The certificate (chain), PEM.
    pub cert_pem: String,
    /// The private key, PEM.
    pub key_pem: String,
}

/// A running throwaway server; stopped and removed on drop.
pub struct Throwaway {
    bin: PathBuf,
    run_as: Option<String>,
    dir: TempDir,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
}

/// The folder holding `initdb` and `pg_ctl`: the newest
/// `/usr/lib/postgresql/<version>/bin`, else the one on `PATH`.
fn server_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    })
}

/// A free port on 127.0.0.1 (free when asked; the server takes it next).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

/// `postgres`'s uid and gid, from `id`.
fn postgres_ids() -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, "postgres"]).output().ok()?;
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

impl Throwaway {
    /// Starts a server, with TLS when `tls` is given; `None` after printing
    /// why, when no PostgreSQL server binaries are installed.
    pub fn start(tls: Option<&ServerCert>) -> Option<Self> {
        let Some(bin) = server_bin() else {
            let _ = writeln!(
                std::io::stderr(),
                "skipped: initdb not found (in /usr/lib/postgresql/*/bin or on PATH); install \
                 the PostgreSQL server (apt-get install postgresql) to run the TLS tests"
            );
            return None;
        };
        let root = std::fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false);
        let ids = match (root, postgres_ids()) {
            (false, _) => None,
            (true, Some(ids)) => Some(ids),
            (true, None) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "skipped: running as root, initdb must run as the `postgres` user, which \
                     does not exist (the PostgreSQL server package creates it)"
                );
                return None;
            }
        };
        let dir = tempfile::tempdir().expect("temporary folder");
        let server = Throwaway {
            bin,
            run_as: root.then(|| "postgres".to_string()),
            dir,
            port: free_port(),
        };
        let own = |path: &Path| {
            if let Some((uid, gid)) = ids {
                std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown to postgres");
            }
        };
        own(server.dir.path());
        let pwfile = server.dir.path().join("pwfile");
        std::fs::write(&pwfile, PASSWORD).expect("write the password file");
        own(&pwfile);
        server.run(
            "initdb",
            &[
                "-D".as_ref(),
                server.data().as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--pwfile".as_ref(),
                pwfile.as_os_str(),
                "--auth-local=trust".as_ref(),
                "--auth-host=scram-sha-256".as_ref(),
                "--no-sync".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C".as_ref(),
            ],
        );
        let mut conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
             fsync = off\nmax_connections = 40\n",
            server.port,
            server.dir.path().display()
        );
        match tls {
            Some(tls) => {
                for (name, pem) in [("server.crt", &tls.cert_pem), ("server.key", &tls.key_pem)] {
                    let path = server.data().join(name);
                    std::fs::write(&path, pem).expect("write the server's certificate");
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                        .expect("chmod");
                    own(&path);
                }
                conf.push_str(
                    "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n",
                );
            }
            None => conf.push_str("ssl = off\n"),
        }
        std::fs::OpenOptions::new()
            .append(true)
            .open(server.data().join("postgresql.conf"))
            .and_then(|mut f| f.write_all(conf.as_bytes()))
            .expect("configure the server");
        let log = server.dir.path().join("server.log");
        let started = server.try_run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                server.data().as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                "30".as_ref(),
                "start".as_ref(),
            ],
        );
        if let Err(why) = started {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("the throwaway server did not start: {why}\nits log:\n{log}");
        }
        Some(server)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs a server binary (as `postgres` when root); the error holds its output.
    fn try_run(&self, program: &str, args: &[&std::ffi::OsStr]) -> Result<(), String> {
        let program = self.bin.join(program);
        let mut command = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        let out = command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "{} failed ({}): {}{}",
            program.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }

    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) {
        if let Err(why) = self.try_run(program, args) {
            panic!("{why}");
        }
    }

    /// A URL for `host` (`localhost` or `127.0.0.1`), with `password` if
    /// given, database `postgres`, and `query` (e.g. `sslmode=verify-full`).
    pub fn url(&self, host: &str, password: Option<&str>, query: &str) -> String {
        let password = password.map(|p| format!(":{p}")).unwrap_or_default();
        format!(
            "postgres://postgres{password}@{host}:{}/postgres?{query}",
            self.port
        )
    }

    /// An administrative connection over the server's Unix socket (trusted).
    pub fn admin(&self) -> postgres::Client {
        let mut config = postgres::Config::new();
        config
            .host_path(self.dir.path())
            .port(self.port)
            .user("postgres")
            .dbname("postgres");
        config
            .connect(postgres::NoTls)
            .expect("admin connection to the throwaway server")
    }

    /// Writes `pem` to a file in the server's folder and returns its path.
    pub fn write_file(&self, name: &str, pem: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, pem).expect("write a file for the test");
        path
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self.try_run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        );
    }
}

/// A certificate authority made for one test, and certificates it signs.
pub struct TestCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    /// The CA's own certificate, PEM: what `sslrootcert` names.
    pub cert_pem: String,
}

impl TestCa {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::new()).expect("CA parameters");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA certificate");
        TestCa {
            cert_pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A server certificate for the DNS names `names`, signed by this CA.
    pub fn server_cert(&self, names: &[&str]) -> ServerCert {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names).expect("server parameters");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "stateplug test server");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = rcgen::KeyPair::generate().expect("server key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("server certificate");
        ServerCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}
