//! `stateplug`: run a pipeline from a configuration file; inspect and check
//! provider libraries; inspect, back up, restore and migrate state.
//!
//! Exit codes: 0 success; 1 the pipeline, a check or an operation failed;
//! 2 bad usage, configuration or library.

mod provider_cmd;
mod run_cmd;
mod state;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

/// The stateplug state-store plugin host.
#[derive(Debug, Parser)]
#[command(name = "stateplug", version, about)]
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
    },
    /// Inspect or check a provider library.
    #[command(subcommand)]
    Provider(ProviderCommand),
    /// Inspect, change, back up, restore and migrate the state a provider holds.
    State(Box<state::StateArgs>),
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
    },
}

/// An error the command reports, with its exit code.
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl Failure {
    /// Bad usage, configuration or library: exit code 2.
    pub(crate) fn usage(message: impl std::fmt::Display) -> Self {
        Failure {
            code: 2,
            message: message.to_string(),
        }
    }

    /// The pipeline, a check or an operation failed: exit code 1.
    pub(crate) fn failed(message: impl std::fmt::Display) -> Self {
        Failure {
            code: 1,
            message: message.to_string(),
        }
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
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Run { config } => run_cmd::run(&config).await,
            Command::Provider(ProviderCommand::Info {
                library,
                json,
                allow_writable_library,
            }) => provider_cmd::info(&library, json, &load_options(allow_writable_library)),
            Command::Provider(ProviderCommand::Check {
                library,
                config,
                allow_writable_library,
            }) => {
                provider_cmd::check(&library, &config, &load_options(allow_writable_library)).await
            }
            Command::Provider(ProviderCommand::List { config, open, json }) => {
                provider_cmd::list(&config, open, json)
            }
            Command::State(args) => state::run(*args).await,
        }
    });
    // A provider call abandoned after its timeout may still hold a blocking
    // thread: do not wait for it forever on the way out.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}
