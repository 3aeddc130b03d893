//! [`Scan`]: which keys a scan page walks, owned by the caller.

/// Which keys a scan page walks (see `scan` and
/// [`StateStore::scan_rows`](crate::StateStore::scan_rows)); see
/// [`stateplug_provider_api::ScanRef`] for the exact meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Only keys starting with this (empty: all).
    pub prefix: String,
    /// Inclusive lower bound.
    pub start: Option<String>,
    /// Exclusive upper bound.
    pub end: Option<String>,
    /// Resume strictly past this key: the previous page's `next`.
    pub after: Option<String>,
    /// Walk from the largest key down.
    pub descending: bool,
    /// Most entries in the page.
    pub limit: u32,
}

impl Scan {
    /// A walk over every key starting with `prefix`, ascending, 100 per page.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Scan {
            prefix: prefix.into(),
            ..Scan::default()
        }
    }

    /// A walk over `[start, end)`, ascending, 100 per page.
    pub fn range(start: impl Into<String>, end: impl Into<String>) -> Self {
        Scan {
            start: Some(start.into()),
            end: Some(end.into()),
            ..Scan::default()
        }
    }

    /// The same walk, `limit` per page.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    /// The same walk, from the largest key down.
    pub fn descending(mut self) -> Self {
        self.descending = true;
        self
    }

    /// The same walk, resuming strictly past `key`.
    pub fn after(mut self, key: impl Into<String>) -> Self {
        self.after = Some(key.into());
        self
    }
}

impl Default for Scan {
    fn default() -> Self {
        Scan {
            prefix: String::new(),
            start: None,
            end: None,
            after: None,
            descending: false,
            limit: 100,
        }
    }
}
