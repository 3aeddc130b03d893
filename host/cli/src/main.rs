//! `stateplug`: run a pipeline from a configuration file; inspect and check
//! provider libraries; inspect, back up, restore and migrate state.
//!
//! Exit codes, the same for every command (see [`exit`]): 0 success; 1 a
//! plugin, a check, an operation or the storage failed; 2 bad usage or
//! configuration; 75 a failure the provider marked temporary; 130 / 143
//! stopped by SIGINT / SIGTERM after a graceful stop.

mod exit;
mod generate;
mod metrics_server;
mod output;
mod provider_cmd;
mod run_cmd;
mod state;

use std::{path::PathBuf, process::ExitCode};

use clap::{CommandFactory, Parser, Subcommand};

/// `stateplug --version`: the command's version and the provider
/// interface version it speaks.
static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{} (provider interface {})",
        env!("CARGO_PKG_VERSION"),
        stateplug::provider::INTERFACE_VERSION
    )
});

/// The stateplug state-store plugin host.
#[derive(Debug, Parser)]
#[command(name = "stateplug", version = VERSION.as_str(), about, after_help = exit::TABLE)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the pipeline a configuration file describes, until Ctrl-C or SIGTERM.
    Run {
        /// The pipeline configuration (TOML).
        config: PathBuf,
        /// Load the provider libraries even if other users could have replaced them.
        #[arg(long)]
        allow_writable_library: bool,
        /// Serve Prometheus metrics at http://ADDR/metrics while running
        /// (port 0 picks a free port; overrides `[host] metrics_addr`).
        #[arg(long, value_name = "ADDR")]
        metrics_addr: Option<std::net::SocketAddr>,
        /// Print the run report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Inspect or check a provider library.
    #[command(subcommand)]
    Provider(ProviderCommand),
    /// Inspect, change, back up, restore and migrate the state a provider holds.
    State(Box<state::StateArgs>),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    ///
    /// bash: `source <(stateplug completions bash)`;
    /// zsh: `stateplug completions zsh > "${fpath[1]}/_stateplug"`;
    /// fish: `stateplug completions fish > ~/.config/fish/completions/stateplug.fish`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one page per command into a folder.
    ///
    /// `stateplug man | man -l -`, or `stateplug man --dir /usr/local/share/man/man1`.
    Man {
        /// Write `stateplug.1`, `stateplug-run.1`, ... into this folder instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ProviderCommand {
    /// Show a provider library's name, versions and capabilities.
    Info {
        /// The provider library (.so).
        library: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Load the library even if other users could have replaced it.
        #[arg(long)]
        allow_writable_library: bool,
    },
    /// Run the conformance suite against a provider library and print a pass/fail table.
    Check {
        /// The provider library (.so).
        library: PathBuf,
        /// The provider configuration as JSON; `{tmp}` is replaced by a fresh temporary folder.
        #[arg(long, default_value = "{}")]
        config: String,
        /// Load the library even if other users could have replaced it.
        #[arg(long)]
        allow_writable_library: bool,
        /// Print JSON: every case with its outcome (pass, fail, skip) and reason.
        #[arg(long)]
        json: bool,
    },
    /// List the providers a pipeline configuration names, with their capabilities.
    List {
        /// The pipeline configuration (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Open each provider and show the capabilities of the opened
        /// instance (which may add some, e.g. redb's history).
        #[arg(long)]
        open: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Load the libraries even if other users could have replaced them.
        #[arg(long)]
        allow_writable_library: bool,
    },
}

/// How a command ends early: its exit code (see [`exit`]) and the message
/// it reports (none when there is nothing left to say: the reader of
/// standard output has gone, or a signal stopped the run).
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl Failure {
    /// Ends with `code`, reporting `message`.
    pub(crate) fn new(code: u8, message: impl std::fmt::Display) -> Self {
        Failure {
            code,
            message: message.to_string(),
        }
    }

    /// Bad usage, configuration or library: exit code 2.
    pub(crate) fn usage(message: impl std::fmt::Display) -> Self {
        Self::new(exit::USAGE, message)
    }

    /// A plugin, a check or an operation failed: exit code 1.
    pub(crate) fn failed(message: impl std::fmt::Display) -> Self {
        Self::new(exit::FAILED, message)
    }

    /// Ends with `code` and no message: what there was to say is said.
    pub(crate) fn quiet(code: u8) -> Self {
        Self::new(code, "")
    }

    /// The reader of standard output closed it: nothing more to say, exit 0.
    pub(crate) fn stdout_closed() -> Self {
        Self::quiet(exit::SUCCESS)
    }
}

fn load_options(allow_writable_library: bool) -> stateplug::LoadOptions {
    stateplug::LoadOptions {
        allow_writable_library,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            output::note!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Run {
                config,
                allow_writable_library,
                metrics_addr,
                json,
            } => {
                let options = run_cmd::RunOptions {
                    allow_writable_library,
                    metrics_addr,
                    json,
                };
                run_cmd::run(&config, options).await
            }
            Command::Provider(ProviderCommand::Info {
                library,
                json,
                allow_writable_library,
            }) => provider_cmd::info(&library, json, &load_options(allow_writable_library)),
            Command::Provider(ProviderCommand::Check {
                library,
                config,
                allow_writable_library,
                json,
            }) => {
                let options = load_options(allow_writable_library);
                provider_cmd::check(&library, &config, json, &options).await
            }
            Command::Provider(ProviderCommand::List {
                config,
                open,
                json,
                allow_writable_library,
            }) => provider_cmd::list(&config, open, json, allow_writable_library),
            Command::State(args) => state::run(*args).await,
            Command::Completions { shell } => generate::completions(Cli::command(), shell),
            Command::Man { dir } => generate::man(Cli::command(), dir.as_deref()),
        }
    });
    // A provider call abandoned after its timeout may still hold a blocking
    // thread: do not wait for it forever on the way out.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !failure.message.is_empty() {
                output::note!("error: {}", failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}
