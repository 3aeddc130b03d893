//! The one error type that crosses the ABI boundary.

use std::fmt;

use abi_stable::{std_types::RString, StableAbi};

/// What kind of failure a [`ProviderError`] reports.
///
/// An integer newtype rather than an enum, so that new kinds can be added
/// without breaking providers built against an older interface: a host that
/// meets a kind it does not know treats it as [`ErrorKind::INTERNAL`]-like
/// and still shows its number.
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorKind(pub u32);

impl ErrorKind {
    /// The caller passed input the provider refuses: an empty store_id, a
    /// key or value over a limit, a malformed configuration.
    pub const INVALID_ARGUMENT: ErrorKind = ErrorKind(1);
    /// A compare-and-set or transaction check found another version.
    pub const VERSION_CONFLICT: ErrorKind = ErrorKind(2);
    /// Create-if-absent found the key already present.
    pub const ALREADY_EXISTS: ErrorKind = ErrorKind(3);
    /// The provider does not declare the capability this operation needs.
    pub const UNSUPPORTED: ErrorKind = ErrorKind(4);
    /// The storage engine failed (I/O, corruption, disk full).
    pub const STORAGE: ErrorKind = ErrorKind(5);
    /// The store cannot be reached now (file in use, connection lost).
    pub const UNAVAILABLE: ErrorKind = ErrorKind(6);
    /// The provider panicked; the panic was caught at the boundary.
    pub const PANIC: ErrorKind = ErrorKind(7);
    /// A bug or broken invariant inside the provider.
    pub const INTERNAL: ErrorKind = ErrorKind(8);
    /// A commit was sent but its answer was lost (the connection died after
    /// COMMIT): it may or may not have been applied. The caller resolves it
    /// by reading back, never by assuming either outcome.
    pub const OUTCOME_UNKNOWN: ErrorKind = ErrorKind(9);

    /// A short lower-case label for logs and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::INVALID_ARGUMENT => "invalid argument",
            Self::VERSION_CONFLICT => "version conflict",
            Self::ALREADY_EXISTS => "already exists",
            Self::UNSUPPORTED => "unsupported",
            Self::STORAGE => "storage",
            Self::UNAVAILABLE => "unavailable",
            Self::PANIC => "panic",
            Self::INTERNAL => "internal",
            Self::OUTCOME_UNKNOWN => "outcome unknown",
            _ => "unknown",
        }
    }

    /// Whether this is one of the kinds this interface version defines.
    pub fn is_known(self) -> bool {
        self.as_str() != "unknown"
    }
}

impl fmt::Debug for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_known() {
            f.write_str(&self.as_str().to_uppercase().replace(' ', "_"))
        } else {
            write!(f, "ErrorKind({})", self.0)
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_known() {
            f.write_str(self.as_str())
        } else {
            write!(f, "unknown error kind {}", self.0)
        }
    }
}

/// An error returned by a provider.
///
/// A missing key is never an error: it is `None`. `temporary` says whether
/// the same call may succeed if retried unchanged (a lost connection), as
/// opposed to a permanent failure (bad input, a version conflict).
#[repr(C)]
#[derive(StableAbi, Clone, PartialEq, Eq)]
pub struct ProviderError {
    kind: ErrorKind,
    message: RString,
    temporary: bool,
}

impl ProviderError {
    /// An error of `kind` with a message that says what happened and what to do.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: RString::from(message.into()),
            temporary: false,
        }
    }

    /// Marks the error as temporary: retrying the same call may succeed.
    pub fn temporary(mut self) -> Self {
        self.temporary = true;
        self
    }

    /// [`ErrorKind::INVALID_ARGUMENT`].
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::INVALID_ARGUMENT, message)
    }

    /// [`ErrorKind::VERSION_CONFLICT`].
    pub fn version_conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::VERSION_CONFLICT, message)
    }

    /// [`ErrorKind::ALREADY_EXISTS`].
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ALREADY_EXISTS, message)
    }

    /// [`ErrorKind::UNSUPPORTED`].
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::UNSUPPORTED, message)
    }

    /// [`ErrorKind::STORAGE`].
    pub fn storage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::STORAGE, message)
    }

    /// [`ErrorKind::UNAVAILABLE`], marked temporary.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::UNAVAILABLE, message).temporary()
    }

    /// [`ErrorKind::OUTCOME_UNKNOWN`], marked temporary: the commit may
    /// have landed, and only reading back tells.
    pub fn outcome_unknown(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::OUTCOME_UNKNOWN, message).temporary()
    }

    /// [`ErrorKind::INTERNAL`].
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::INTERNAL, message)
    }

    /// [`ErrorKind::PANIC`], from the payload of a caught panic.
    pub fn from_panic(payload: &(dyn std::any::Any + Send)) -> Self {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic with a non-text payload".to_string());
        Self::new(ErrorKind::PANIC, format!("provider panicked: {what}"))
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, naming what failed and how to fix it.
    pub fn message(&self) -> &str {
        self.message.as_str()
    }

    /// Whether retrying the same call may succeed.
    pub fn is_temporary(&self) -> bool {
        self.temporary
    }
}

impl fmt::Debug for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderError")
            .field("kind", &self.kind)
            .field("message", &self.message())
            .field("temporary", &self.temporary)
            .finish()
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)?;
        if self.temporary {
            f.write_str(" (temporary)")?;
        }
        Ok(())
    }
}

impl std::error::Error for ProviderError {}

/// The result type of every provider operation.
pub type ProviderResult<T> = Result<T, ProviderError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_kinds_are_shown_by_number() {
        assert_eq!(ErrorKind(999).to_string(), "unknown error kind 999");
        assert!(!ErrorKind(999).is_known());
        assert_eq!(
            format!("{:?}", ErrorKind::VERSION_CONFLICT),
            "VERSION_CONFLICT"
        );
    }

    #[test]
    fn panic_payloads_become_messages() {
        let err = ProviderError::from_panic(&"boom");
        assert_eq!(err.kind(), ErrorKind::PANIC);
        assert_eq!(err.message(), "provider panicked: boom");
        let err = ProviderError::from_panic(&String::from("owned"));
        assert_eq!(err.message(), "provider panicked: owned");
    }
}
