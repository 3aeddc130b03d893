//! The exit codes, the same for every command ([`TABLE`], which `--help`
//! shows, as the README does), and the code each error deserves, decided
//! by its cause.

use stateplug::{ops::OpsError, runtime::StopSignal, BuildError, HostError, LoadError, StoreError};

/// The exit codes, as `--help` shows them.
pub(crate) const TABLE: &str = "\
Exit codes (every command):
  0    success (also when the reader of the output closed it early)
  1    a plugin, a check, an operation or the storage failed
  2    bad usage or configuration: arguments, the file, a library not found,
       untrusted or incompatible, a provider configuration refused
  3    fenced: another host instance took a plugin over while this one ran
       it; this instance stopped, the new owner goes on from the checkpoint
  75   a failure the provider marked temporary (a file in use, a lost
       connection): running again may succeed
  130  stopped by SIGINT (Ctrl-C), after a graceful stop
  143  stopped by SIGTERM, after a graceful stop";

/// Success.
pub(crate) const SUCCESS: u8 = 0;
/// A plugin, a check, an operation or the storage failed.
pub(crate) const FAILED: u8 = 1;
/// Bad usage or configuration.
pub(crate) const USAGE: u8 = 2;
/// Another host instance took a plugin over; this one stopped it.
pub(crate) const FENCED: u8 = 3;
/// A failure the provider marked temporary (sysexits' EX_TEMPFAIL).
pub(crate) const TEMPORARY: u8 = 75;
/// Stopped by SIGINT (128 + 2).
pub(crate) const INTERRUPTED: u8 = 130;
/// Stopped by SIGTERM (128 + 15).
pub(crate) const TERMINATED: u8 = 143;

/// 1, or 75 when the failure is temporary.
fn failed(temporary: bool) -> u8 {
    if temporary {
        TEMPORARY
    } else {
        FAILED
    }
}

/// A library that cannot be loaded, or a provider configuration it
/// refuses, is a configuration error; a provider that cannot open its
/// storage, or panics opening it, failed.
pub(crate) fn of_load(error: &LoadError) -> u8 {
    match error {
        LoadError::OpenFailed { error, .. } => failed(error.is_temporary()),
        LoadError::InitPanicked { .. } => FAILED,
        _ => USAGE,
    }
}

/// Everything `build` checks is configuration, except opening the storage.
pub(crate) fn of_build(error: &BuildError) -> u8 {
    match error {
        BuildError::Load(load) => of_load(load),
        _ => USAGE,
    }
}

/// A running host fails on its storage or its plugins; fenced when another
/// instance took any plugin over (the failures that follow from a takeover
/// are its consequence); temporary when every cause is.
pub(crate) fn of_host(error: &HostError) -> u8 {
    match error {
        HostError::Store(store) => of_store(store),
        HostError::Bootstrap {
            error: stateplug::PluginError::Store(store),
            ..
        } => of_store(store),
        HostError::PluginsFailed(failures) if failures.iter().any(|f| f.fenced) => FENCED,
        HostError::PluginsFailed(failures) => {
            failed(!failures.is_empty() && failures.iter().all(|f| f.temporary))
        }
        _ => FAILED,
    }
}

/// A store call failed: temporary when its provider says so.
pub(crate) fn of_store(error: &StoreError) -> u8 {
    failed(error.temporary)
}

/// An operation on state: a request that cannot be carried out as asked is
/// usage; a store failure is classified as such; the rest failed.
pub(crate) fn of_ops(error: &OpsError) -> u8 {
    match error {
        OpsError::Invalid(_) => USAGE,
        OpsError::Store(store) => of_store(store),
        _ => FAILED,
    }
}

/// The code of a run a signal stopped: 128 + the signal's number, as a
/// shell reports a process the signal ended.
pub(crate) fn of_signal(signal: StopSignal) -> u8 {
    match signal {
        StopSignal::Interrupt => INTERRUPTED,
        StopSignal::Terminate => TERMINATED,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use stateplug::{store::Operation, ErrorKind, PluginFailure, PluginKind};
    use stateplug_provider_api::ProviderError;

    use super::*;

    fn open_failed(error: ProviderError) -> LoadError {
        LoadError::OpenFailed {
            path: PathBuf::from("/x/libredb.so"),
            provider: "redb".into(),
            error,
        }
    }

    fn store_error(temporary: bool) -> StoreError {
        let error = if temporary {
            ProviderError::unavailable("connection lost")
        } else {
            ProviderError::storage("corrupt")
        };
        StoreError::from_provider(Operation::Get, "redb", "s", error)
    }

    fn plugin_failure(temporary: bool) -> PluginFailure {
        PluginFailure {
            id: "counts".into(),
            kind: PluginKind::Reaction,
            message: "failed".into(),
            temporary,
            fenced: false,
        }
    }

    #[test]
    fn storage_that_fails_to_open_is_a_failure_temporary_when_marked() {
        let corrupt = open_failed(ProviderError::storage("corrupt"));
        assert_eq!(of_load(&corrupt), FAILED);
        let in_use = open_failed(ProviderError::unavailable("in use"));
        assert_eq!(of_load(&in_use), TEMPORARY);
        assert_eq!(of_build(&BuildError::Load(in_use)), TEMPORARY);
        assert_eq!(of_build(&BuildError::Load(corrupt)), FAILED);
        let panicked = LoadError::InitPanicked {
            path: PathBuf::from("/x/lib.so"),
            provider: "p".into(),
            message: "boom".into(),
        };
        assert_eq!(of_load(&panicked), FAILED);
    }

    #[test]
    fn libraries_and_their_configuration_are_usage() {
        let path = PathBuf::from("/x/lib.so");
        let errors = [
            LoadError::FileMissing { path: path.clone() },
            LoadError::NotAFile { path: path.clone() },
            LoadError::Untrusted {
                path: path.clone(),
                reason: "loose".into(),
            },
            LoadError::NotAProvider { path: path.clone() },
            LoadError::ConfigRejected {
                path: path.clone(),
                provider: "redb".into(),
                message: "unknown field".into(),
            },
        ];
        for error in &errors {
            assert_eq!(of_load(error), USAGE, "{error}");
        }
        let build = [
            BuildError::NoProvider,
            BuildError::DuplicateId { id: "g".into() },
            BuildError::UnknownSource {
                reaction: "r".into(),
                source_id: "ghost".into(),
                known: "g".into(),
            },
            BuildError::NotDurable {
                plugin: "g".into(),
                provider: "memory".into(),
            },
            BuildError::Load(LoadError::FileMissing { path }),
        ];
        for error in &build {
            assert_eq!(of_build(error), USAGE, "{error}");
        }
    }

    #[test]
    fn a_running_host_fails_with_1_or_75_by_cause() {
        assert_eq!(of_host(&HostError::Store(store_error(true))), TEMPORARY);
        assert_eq!(of_host(&HostError::Store(store_error(false))), FAILED);
        let bootstrap = HostError::Bootstrap {
            source_id: "g".into(),
            error: stateplug::PluginError::Store(store_error(true)),
        };
        assert_eq!(of_host(&bootstrap), TEMPORARY);
        let all_temporary = vec![plugin_failure(true), plugin_failure(true)];
        assert_eq!(of_host(&HostError::PluginsFailed(all_temporary)), TEMPORARY);
        let mixed = vec![plugin_failure(true), plugin_failure(false)];
        assert_eq!(of_host(&HostError::PluginsFailed(mixed)), FAILED);
        assert_eq!(of_host(&HostError::PluginsFailed(Vec::new())), FAILED);
    }

    #[test]
    fn a_fenced_plugin_exits_3_whatever_else_failed() {
        let fenced = PluginFailure {
            fenced: true,
            ..plugin_failure(false)
        };
        let failures = vec![plugin_failure(true), fenced];
        assert_eq!(of_host(&HostError::PluginsFailed(failures)), FENCED);
        assert_eq!(FENCED, 3);
    }

    #[test]
    fn operations_on_state_are_classified_by_cause() {
        assert_eq!(of_ops(&OpsError::Invalid("no".into())), USAGE);
        assert_eq!(of_ops(&OpsError::Store(store_error(true))), TEMPORARY);
        assert_eq!(of_ops(&OpsError::Store(store_error(false))), FAILED);
        let refused = StoreError::host(
            Operation::Set,
            "redb",
            "s",
            ErrorKind::INVALID_ARGUMENT,
            "too long",
        );
        assert_eq!(of_store(&refused), FAILED);
    }

    #[test]
    fn a_signal_gives_128_plus_its_number() {
        assert_eq!(of_signal(StopSignal::Interrupt), 128 + 2);
        assert_eq!(of_signal(StopSignal::Terminate), 128 + 15);
    }
}
