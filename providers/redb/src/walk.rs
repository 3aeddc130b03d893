//! A walk over `ENTRIES` in key order, either way, with the published
//! writes not yet applied (see [`crate::unapplied`]) merged over a
//! snapshot's rows, taking one page of live rows.
//!
//! Invariants:
//! - a published write replaces the snapshot's row of its key, and a
//!   published delete hides it;
//! - keys expired by the walk's `now` are skipped, from either side;
//! - a page ends after `limit` live rows and names the last one only if
//!   another live row follows (where the next page starts).

use std::path::Path;

use redb::AccessGuard;
use stateplug_provider_api::{KeyBytesVisitor, ProviderResult};

use crate::encoding::{corrupt_key, decode_live, key_bytes, live};
use crate::errors::AtPath;
use crate::unapplied::{EntryKey, Written};

/// One page of a walk: how many live rows it takes, and what it visited.
pub(crate) struct PageWalk<'v> {
    /// How many live rows the page takes.
    pub(crate) limit: usize,
    /// How many it has visited.
    pub(crate) visited: usize,
    /// The last key visited once the page is full.
    pub(crate) last: Vec<u8>,
    /// Receives each row: its key as stored, version and value.
    pub(crate) visit: KeyBytesVisitor<'v>,
}

impl PageWalk<'_> {
    /// Visits one live row; once the page is full, returns where the next
    /// page starts instead.
    fn row(&mut self, key: &[u8], version: u64, value: &[u8]) -> Option<ProviderResult<String>> {
        if self.visited == self.limit {
            let last = std::mem::take(&mut self.last);
            return Some(String::from_utf8(last).map_err(|_| corrupt_key()));
        }
        (self.visit)(key, version, value);
        self.visited += 1;
        if self.visited == self.limit {
            self.last.extend_from_slice(key);
        }
        None
    }
}

/// The rows of a snapshot's walk over `ENTRIES` merged with the published
/// writes of the same span, both in the walk's order; a published write
/// replaces the row of its key (a delete hides it). The table's rows are
/// walked by a plain loop, the published writes (usually none) peeked.
pub(crate) struct Merged<T, W: Iterator> {
    /// The snapshot's rows of the span.
    pub(crate) table: T,
    /// The published writes of the span (see [`crate::unapplied::Unapplied::range`]).
    pub(crate) written: std::iter::Peekable<W>,
    /// How a key that comes first in the walk compares to a later one.
    pub(crate) first: std::cmp::Ordering,
}

type Row<'t> = redb::Result<(
    AccessGuard<'t, &'static [u8]>,
    AccessGuard<'t, &'static [u8]>,
)>;

impl<'t, 'w, T, W> Merged<T, W>
where
    T: Iterator<Item = Row<'t>>,
    W: Iterator<Item = &'w (EntryKey, Written)>,
{
    /// Hands `page` the live rows, skipping keys expired by `now`; returns
    /// where the next page starts, if another live row follows.
    pub(crate) fn visit(
        mut self,
        now: u64,
        path: &Path,
        page: &mut PageWalk<'_>,
    ) -> ProviderResult<Option<String>> {
        let first = self.first;
        for row in self.table {
            let (key, value) = row.at(path)?;
            let key = key.value();
            while let Some((k, w)) = self
                .written
                .next_if(|(k, _)| k.as_slice().cmp(key) == first)
            {
                if let Some(next) = published(k, w, now, page) {
                    return next.map(Some);
                }
            }
            let next = match self.written.next_if(|(k, _)| k.as_slice() == key) {
                Some((k, w)) => published(k, w, now, page),
                None => match decode_live(value.value(), || now)? {
                    Some((version, bytes)) => page.row(key_bytes(key)?, version, bytes),
                    None => None,
                },
            };
            if let Some(next) = next {
                return next.map(Some);
            }
        }
        for (k, w) in self.written {
            if let Some(next) = published(k, w, now, page) {
                return next.map(Some);
            }
        }
        Ok(None)
    }
}

/// Hands `page` the published write `w` of the encoded entry key `k` if
/// it holds a value live at `now` (see [`PageWalk::row`]).
fn published(
    k: &[u8],
    w: &Written,
    now: u64,
    page: &mut PageWalk<'_>,
) -> Option<ProviderResult<String>> {
    let value = w.value()?;
    if !live(w.expires_at_ms, now) {
        return None;
    }
    match key_bytes(k) {
        Ok(key) => page.row(key, w.version, value),
        Err(err) => Some(Err(err)),
    }
}
