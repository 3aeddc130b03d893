//! Ordered scans: which keys a page walks, and the page it answers.

use std::ops::Bound;

/// A key with its entry, as a scan returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEntry {
    /// The key.
    pub key: String,
    /// The value bytes.
    pub value: Vec<u8>,
    /// The value's version.
    pub version: u64,
}

/// Which keys a scan walks, and how, borrowed from the caller.
///
/// The keys walked are those that start with `prefix`, are `>= start` (if
/// set) and `< end` (if set), in byte order of their UTF-8 form, ascending
/// unless `descending`. `after` is the continuation from the previous page:
/// the walk resumes strictly past it in the walk's direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScanRef<'a> {
    /// Only keys starting with this (empty: every key).
    pub prefix: &'a str,
    /// Inclusive lower bound.
    pub start: Option<&'a str>,
    /// Exclusive upper bound.
    pub end: Option<&'a str>,
    /// Resume strictly past this key (the previous page's `next`).
    pub after: Option<&'a str>,
    /// Walk from the largest key down.
    pub descending: bool,
    /// Most entries in this page (1..=`max_scan_limit`).
    pub limit: u32,
}

impl ScanRef<'_> {
    /// Whether `key` is inside the scan's prefix and bounds, ignoring `after`.
    pub fn contains(&self, key: &str) -> bool {
        key.starts_with(self.prefix)
            && self.start.is_none_or(|s| key >= s)
            && self.end.is_none_or(|e| key < e)
    }

    /// Whether `key` lies past the continuation point in the walk's direction.
    pub fn is_past_cursor(&self, key: &str) -> bool {
        match self.after {
            None => true,
            Some(after) if self.descending => key < after,
            Some(after) => key > after,
        }
    }
}

/// The smallest string greater than every string that starts with `prefix`,
/// or `None` if there is none (an empty prefix, or one of only `char::MAX`).
/// UTF-8 byte order is code point order, so this bounds a prefix walk.
pub fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            char::MAX => continue,
            '\u{D7FF}' => '\u{E000}',
            c => char::from_u32(c as u32 + 1).unwrap_or(char::MAX),
        };
        chars.push(next);
        return Some(chars.into_iter().collect());
    }
    None
}

impl ScanRef<'_> {
    /// The exact key interval this page walks, combining prefix, start, end
    /// and the continuation `after`; `None` when the interval is empty.
    /// Safe to pass to `BTreeMap::range` (never inverted or empty-excluded).
    pub fn key_range(&self) -> Option<(Bound<String>, Bound<String>)> {
        let mut lower: Bound<&str> = Bound::Included(self.prefix);
        if let Some(start) = self.start {
            lower = max_lower(lower, Bound::Included(start));
        }
        let successor = prefix_successor(self.prefix);
        let mut upper: Bound<&str> = match &successor {
            Some(s) => Bound::Excluded(s.as_str()),
            None => Bound::Unbounded,
        };
        if let Some(end) = self.end {
            upper = min_upper(upper, Bound::Excluded(end));
        }
        if let Some(after) = self.after {
            if self.descending {
                upper = min_upper(upper, Bound::Excluded(after));
            } else {
                lower = max_lower(lower, Bound::Excluded(after));
            }
        }
        let empty = match (lower, upper) {
            (Bound::Included(l), Bound::Included(u)) => l > u,
            (Bound::Included(l) | Bound::Excluded(l), Bound::Excluded(u))
            | (Bound::Excluded(l), Bound::Included(u)) => l >= u,
            _ => false,
        };
        if empty {
            return None;
        }
        Some((lower.map(str::to_owned), upper.map(str::to_owned)))
    }
}

fn max_lower<'a>(a: Bound<&'a str>, b: Bound<&'a str>) -> Bound<&'a str> {
    match (a, b) {
        (Bound::Unbounded, x) | (x, Bound::Unbounded) => x,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y))
            if x != y =>
        {
            if x > y {
                a
            } else {
                b
            }
        }
        (Bound::Excluded(_), _) => a,
        _ => b,
    }
}

fn min_upper<'a>(a: Bound<&'a str>, b: Bound<&'a str>) -> Bound<&'a str> {
    match (a, b) {
        (Bound::Unbounded, x) | (x, Bound::Unbounded) => x,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y))
            if x != y =>
        {
            if x < y {
                a
            } else {
                b
            }
        }
        (Bound::Excluded(_), _) => a,
        _ => b,
    }
}

impl Page {
    /// Builds a page from a walk that hands its rows to a visitor (a
    /// [`Provider::scan_visit`](crate::Provider::scan_visit) body), for
    /// providers that implement `scan` on top of `scan_visit`:
    /// `Page::collect(|visit| self.scan_visit(store_id, scan, visit))`.
    pub fn collect<E>(
        walk: impl FnOnce(&mut dyn FnMut(&str, u64, &[u8])) -> Result<Option<String>, E>,
    ) -> Result<Page, E> {
        let mut entries = Vec::new();
        let next = walk(&mut |key, version, value| {
            entries.push(KeyEntry {
                key: key.to_owned(),
                value: value.to_vec(),
                version,
            })
        })?;
        Ok(Page { entries, next })
    }

    /// Builds a page from rows already in walk order and inside the scan's
    /// interval: takes `limit` of them, and sets `next` to the last key
    /// taken if at least one more row was available.
    pub fn from_rows(rows: impl IntoIterator<Item = KeyEntry>, limit: u32) -> Page {
        let mut rows = rows.into_iter();
        let entries: Vec<KeyEntry> = rows.by_ref().take(limit as usize).collect();
        let more = rows.next().is_some();
        let next = if more {
            entries.last().map(|e| e.key.clone())
        } else {
            None
        };
        Page { entries, next }
    }
}

/// One page of a scan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    /// The entries, in the walk's order.
    pub entries: Vec<KeyEntry>,
    /// Where the next page starts (pass it as `after`), or `None` if the walk is done.
    pub next: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_bounds_and_cursor() {
        let s = ScanRef {
            prefix: "a/",
            start: Some("a/b"),
            end: Some("a/d"),
            ..Default::default()
        };
        assert!(!s.contains("a/a"));
        assert!(s.contains("a/b"));
        assert!(s.contains("a/c9"));
        assert!(!s.contains("a/d"));
        assert!(!s.contains("b/c"));
        let s = ScanRef {
            after: Some("m"),
            descending: true,
            ..Default::default()
        };
        assert!(s.is_past_cursor("l"));
        assert!(!s.is_past_cursor("m"));
    }

    #[test]
    fn prefix_successor_bounds_every_extension() {
        assert_eq!(prefix_successor("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_successor(""), None);
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_successor("\u{D7FF}").as_deref(), Some("\u{E000}"));
        let succ = prefix_successor("a/").unwrap();
        for k in ["a/", "a/\u{10FFFF}\u{10FFFF}", "a/zzz"] {
            assert!(k < succ.as_str(), "{k:?}");
        }
    }

    #[test]
    fn key_range_combines_every_bound() {
        use std::collections::BTreeSet;
        let keys: BTreeSet<String> = ["a", "a/1", "a/2", "a/3", "a0", "b", ""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let walk = |scan: ScanRef<'_>| -> Vec<String> {
            let Some(range) = scan.key_range() else {
                return vec![];
            };
            let it = keys.range::<String, _>(range).cloned();
            if scan.descending {
                it.rev().collect()
            } else {
                it.collect()
            }
        };
        let base = ScanRef {
            prefix: "a/",
            limit: 10,
            ..Default::default()
        };
        assert_eq!(walk(base), ["a/1", "a/2", "a/3"]);
        assert_eq!(
            walk(ScanRef {
                after: Some("a/1"),
                ..base
            }),
            ["a/2", "a/3"]
        );
        assert_eq!(
            walk(ScanRef {
                descending: true,
                after: Some("a/3"),
                ..base
            }),
            ["a/2", "a/1"]
        );
        assert_eq!(
            walk(ScanRef {
                start: Some("a/2"),
                end: Some("a/3"),
                ..base
            }),
            ["a/2"]
        );
        assert_eq!(
            walk(ScanRef {
                start: Some("a/3"),
                end: Some("a/3"),
                ..base
            }),
            Vec::<String>::new()
        );
        assert_eq!(
            walk(ScanRef {
                after: Some("a/3"),
                ..base
            }),
            Vec::<String>::new()
        );
        assert_eq!(
            walk(ScanRef {
                prefix: "",
                limit: 10,
                ..Default::default()
            })
            .len(),
            keys.len()
        );
    }

    #[test]
    fn page_sets_next_only_when_more_rows_exist() {
        let row = |k: &str| KeyEntry {
            key: k.into(),
            value: vec![],
            version: 1,
        };
        let page = Page::from_rows(vec![row("a"), row("b"), row("c")], 2);
        assert_eq!(page.next.as_deref(), Some("b"));
        let page = Page::from_rows(vec![row("a"), row("b")], 2);
        assert_eq!(page.next, None);
    }
}
