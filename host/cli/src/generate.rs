//! `stateplug completions` and `stateplug man`: generated from the same
//! clap definitions that parse the command line, so they never drift.

use std::{io::Write, path::Path};

use clap_complete::Shell;

use crate::{output::outln, Failure};

/// Prints the completion script of `shell` for `command`.
pub(crate) fn completions(mut command: clap::Command, shell: Shell) -> Result<(), Failure> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "stateplug", &mut script);
    write_stdout(&script)
}

/// Prints the man page of `command`, or with `dir` writes one page per
/// command and subcommand there (`stateplug.1`, `stateplug-run.1`, ...).
pub(crate) fn man(command: clap::Command, dir: Option<&Path>) -> Result<(), Failure> {
    match dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .map_err(|e| Failure::failed(format!("cannot render the man page: {e}")))?;
            write_stdout(&page)
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::usage(format!("cannot create {}: {e}", dir.display())))?;
            clap_mangen::generate_to(command, dir).map_err(|e| {
                Failure::failed(format!(
                    "cannot write man pages into {}: {e}",
                    dir.display()
                ))
            })?;
            outln!("wrote man pages into {}", dir.display())
        }
    }
}

fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(crate::output::write_failed)
}
