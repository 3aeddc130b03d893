//! [`RowPage`]: a scan page whose rows are lent out of one buffer.
//!
//! A [`Page`] owns a `String` and a `Vec<u8>` per row: two allocations per
//! row, which is most of what a long walk costs once the rows have crossed
//! the boundary. A `RowPage` keeps every key in one `String` and every value
//! in one byte buffer (the buffer the provider filled), and lends out
//! [`Row`]s borrowing from them.
//!
//! Invariant: `index[i]` holds the bounds of row `i`'s key in `keys` and of
//! its value in `values`. Key bounds lie on `char` boundaries of `keys`
//! (keys are appended whole) and value bounds inside `values`, so slicing
//! never fails.

use std::ops::Range;

use crate::store::{KeyEntry, Page};

/// One row of a [`RowPage`], borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row<'a> {
    /// The key.
    pub key: &'a str,
    /// The value's version.
    pub version: u64,
    /// The value bytes.
    pub value: &'a [u8],
}

impl Row<'_> {
    /// The row as an owned [`KeyEntry`].
    pub fn to_entry(&self) -> KeyEntry {
        KeyEntry {
            key: self.key.to_owned(),
            value: self.value.to_vec(),
            version: self.version,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct RowIndex {
    key: Range<usize>,
    value: Range<usize>,
    version: u64,
}

/// One page of a scan, its rows lent out of one buffer (see
/// [`StateStore::scan_rows`](crate::store::StateStore::scan_rows)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RowPage {
    keys: String,
    values: Vec<u8>,
    index: Vec<RowIndex>,
    next: Option<String>,
}

impl RowPage {
    /// An empty page with room for `rows` rows.
    pub fn with_capacity(rows: usize) -> Self {
        RowPage {
            index: Vec::with_capacity(rows),
            ..RowPage::default()
        }
    }

    /// Appends a row (after every row already in the page).
    pub fn push(&mut self, key: &str, version: u64, value: &[u8]) {
        let start = self.values.len();
        self.values.extend_from_slice(value);
        self.push_key(key, version, start..self.values.len());
    }

    /// Adds a row whose value bytes already sit in `values` at `value`
    /// (used when the page adopts the buffer a provider filled).
    pub(crate) fn push_key(&mut self, key: &str, version: u64, value: Range<usize>) {
        let start = self.keys.len();
        self.keys.push_str(key);
        self.index.push(RowIndex {
            key: start..self.keys.len(),
            value,
            version,
        });
    }

    /// Takes `values` as the page's value buffer: rows added with
    /// [`push_key`](Self::push_key) index into it.
    pub(crate) fn adopt_values(&mut self, values: Vec<u8>) {
        self.values = values;
    }

    /// Sets where the next page starts.
    pub fn set_next(&mut self, next: Option<String>) {
        self.next = next;
    }

    /// Where the next page starts (pass it to [`Scan::after`](crate::store::Scan::after)),
    /// or `None` if the walk is done.
    pub fn next(&self) -> Option<&str> {
        self.next.as_deref()
    }

    /// How many rows the page holds.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the page holds no rows.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The key and value bytes of its rows.
    pub(crate) fn bytes(&self) -> usize {
        self.keys.len() + self.values.len()
    }

    /// The rows, in the walk's order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Row<'_>> + '_ {
        self.index.iter().map(|row| Row {
            key: &self.keys[row.key.clone()],
            version: row.version,
            value: &self.values[row.value.clone()],
        })
    }

    /// The page with owned rows.
    pub fn into_page(self) -> Page {
        Page {
            entries: self.iter().map(|row| row.to_entry()).collect(),
            next: self.next,
        }
    }
}

impl From<Page> for RowPage {
    fn from(page: Page) -> Self {
        let mut rows = RowPage::with_capacity(page.entries.len());
        for entry in &page.entries {
            rows.push(&entry.key, entry.version, &entry.value);
        }
        rows.next = page.next;
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, version: u64, value: &[u8]) -> KeyEntry {
        KeyEntry {
            key: key.into(),
            value: value.to_vec(),
            version,
        }
    }

    #[test]
    fn rows_come_back_in_order_with_their_keys_values_and_versions() {
        let page = Page {
            entries: vec![
                entry("", 1, b""),
                entry("é/ü", 7, b"multi-byte key"),
                entry("z", u64::MAX, &[0, 255, 0]),
            ],
            next: Some("z".into()),
        };
        let rows = RowPage::from(page.clone());
        assert_eq!(rows.len(), 3);
        let seen: Vec<(&str, u64, &[u8])> =
            rows.iter().map(|r| (r.key, r.version, r.value)).collect();
        assert_eq!(
            seen,
            [
                ("", 1, &b""[..]),
                ("é/ü", 7, &b"multi-byte key"[..]),
                ("z", u64::MAX, &[0, 255, 0][..])
            ]
        );
        assert_eq!(rows.next(), Some("z"));
        assert_eq!(rows.into_page(), page, "round trip to an owned page");
    }

    #[test]
    fn an_empty_page_has_no_rows() {
        let rows = RowPage::from(Page::default());
        assert!(rows.is_empty());
        assert_eq!(rows.iter().count(), 0);
        assert_eq!(rows.next(), None);
    }
}
