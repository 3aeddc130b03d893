//! Writing results to standard output and notes to standard error without
//! panicking: `println!` panics when the reader has gone. A reader that
//! closes standard output early (`stateplug state keys S | head -1`) ends
//! the command quietly with exit 0, as coreutils do.

use std::io::Write;

use crate::Failure;

/// Writes one line to standard output: `outln!(...)?`.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}
pub(crate) use outln;

/// Writes a note to standard error; a standard error nobody reads any more
/// is no reason to fail.
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::output::note_line(format_args!($($arg)*))
    };
}
pub(crate) use note;

/// Writes `text` and a newline to standard output.
pub(crate) fn line(text: std::fmt::Arguments<'_>) -> Result<(), Failure> {
    writeln!(std::io::stdout().lock(), "{text}").map_err(write_failed)
}

/// Writes `bytes` to standard output as they are.
pub(crate) fn bytes(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(write_failed)
}

/// Writes `text` and a newline to standard error, ignoring failures.
pub(crate) fn note_line(text: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// How a failed write to standard output ends the command: quietly when
/// its reader closed it, else as a failure naming the cause.
pub(crate) fn write_failed(error: std::io::Error) -> Failure {
    if is_closed(&error) {
        Failure::stdout_closed()
    } else {
        Failure::failed(format!("cannot write to standard output: {error}"))
    }
}

/// Whether `error` says the reader of the stream has gone.
pub(crate) fn is_closed(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::BrokenPipe
}
