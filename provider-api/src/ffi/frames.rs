//! Rows and changes framed into a buffer the host allocated, so that a
//! page or a write's answer crosses the boundary as one copy.

use std::ops::Range;

use abi_stable::std_types::RVec;

use crate::KeyChange;

/// Appends one scan row to a `scan_into` buffer:
/// `[key length u32 LE][key][version u64 LE][value length u32 LE][value]`.
/// `key` is the key's UTF-8 bytes; [`visit_framed_rows`] checks them.
pub fn frame_row(out: &mut RVec<u8>, key: &[u8], version: u64, value: &[u8]) {
    // Keys and values fit a u32 length: the exported adapter clamps the
    // declared limits to it (`Limits::framable`).
    out.extend_from_copy_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_copy_slice(key);
    out.extend_from_copy_slice(&version.to_le_bytes());
    out.extend_from_copy_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_copy_slice(value);
}

/// Walks the rows [`frame_row`] wrote, in order, giving each value as its
/// byte range in `buf` (so a caller can keep the buffer and lend values out
/// of it). Returns `false`, having visited the rows before the damage, if
/// the buffer is malformed (a frame cut short, or a key that is not UTF-8).
pub fn visit_framed_rows(buf: &[u8], mut visit: impl FnMut(&str, u64, Range<usize>)) -> bool {
    let mut frames = Frames { buf, at: 0 };
    while !frames.done() {
        let mut row = || -> Option<(&str, u64, Range<usize>)> {
            let key_len = frames.u32()? as usize;
            let key = std::str::from_utf8(frames.bytes(key_len)?).ok()?;
            let version = frames.u64()?;
            let value_len = frames.u32()? as usize;
            let start = frames.at;
            frames.bytes(value_len)?;
            Some((key, version, start..frames.at))
        };
        let Some((key, version, value)) = row() else {
            return false;
        };
        visit(key, version, value);
    }
    true
}

/// Appends one changed key of unit `unit` to a `write` answer:
/// `[unit u32 LE][key length u32 LE][key][prior u64 LE][version u64 LE]`,
/// where a prior of 0 means the key did not exist and a version of 0 that
/// the write removed it (versions start at 1).
pub fn frame_change(out: &mut RVec<u8>, unit: u32, change: KeyChange<'_>) {
    // Keys are at most max_key_bytes (a u32) long.
    out.extend_from_copy_slice(&unit.to_le_bytes());
    out.extend_from_copy_slice(&(change.key.len() as u32).to_le_bytes());
    out.extend_from_copy_slice(change.key.as_bytes());
    out.extend_from_copy_slice(&change.prior.unwrap_or(0).to_le_bytes());
    out.extend_from_copy_slice(&change.version.unwrap_or(0).to_le_bytes());
}

/// The changes [`frame_change`] wrote, in order, each with its unit. It
/// ends at the first malformed frame (cut short, or a key that is not
/// UTF-8), after which [`FramedChanges::malformed`] is true.
#[derive(Debug, Clone)]
pub struct FramedChanges<'b> {
    frames: Frames<'b>,
    malformed: bool,
}

impl<'b> FramedChanges<'b> {
    /// The changes framed in `buf`.
    pub fn new(buf: &'b [u8]) -> Self {
        FramedChanges {
            frames: Frames { buf, at: 0 },
            malformed: false,
        }
    }

    /// Whether the walk stopped at a malformed frame.
    pub fn malformed(&self) -> bool {
        self.malformed
    }

    fn frame(&mut self) -> Option<(u32, KeyChange<'b>)> {
        let frames = &mut self.frames;
        let unit = frames.u32()?;
        let key_len = frames.u32()? as usize;
        let key = std::str::from_utf8(frames.bytes(key_len)?).ok()?;
        let (prior, version) = (frames.u64()?, frames.u64()?);
        let change = KeyChange {
            key,
            prior: (prior != 0).then_some(prior),
            version: (version != 0).then_some(version),
        };
        Some((unit, change))
    }
}

impl<'b> Iterator for FramedChanges<'b> {
    type Item = (u32, KeyChange<'b>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.malformed || self.frames.done() {
            return None;
        }
        let next = self.frame();
        self.malformed = next.is_none();
        next
    }
}

/// Reads a framed buffer front to back.
#[derive(Debug, Clone)]
struct Frames<'b> {
    buf: &'b [u8],
    at: usize,
}

impl<'b> Frames<'b> {
    fn done(&self) -> bool {
        self.at >= self.buf.len()
    }

    fn bytes(&mut self, n: usize) -> Option<&'b [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())?;
        let bytes = &self.buf[self.at..end];
        self.at = end;
        Some(bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.bytes(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.bytes(8)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framed_rows_read_back_and_damage_is_detected() {
        let mut out = RVec::new();
        frame_row(&mut out, b"k/1", 7, b"value");
        frame_row(&mut out, b"", 8, b"");
        frame_row(&mut out, "ключ".as_bytes(), u64::MAX, &[0, 255]);
        let read = |buf: &[u8]| {
            let mut rows = Vec::new();
            let whole = visit_framed_rows(buf, |key, version, value| {
                rows.push((key.to_owned(), version, buf[value].to_vec()))
            });
            (whole, rows)
        };
        let (whole, rows) = read(&out);
        assert!(whole);
        assert_eq!(
            rows,
            vec![
                ("k/1".to_owned(), 7, b"value".to_vec()),
                (String::new(), 8, vec![]),
                ("ключ".to_owned(), u64::MAX, vec![0u8, 255])
            ]
        );
        let (whole, rows) = read(&out[..out.len() - 1]);
        assert!(!whole, "a truncated buffer is refused");
        assert_eq!(rows.len(), 2, "rows before the damage were visited");
        assert_eq!(read(&[]), (true, vec![]));
        assert!(
            !read(&[1, 0, 0, 0, 0xff]).0,
            "a key that is not UTF-8 is refused"
        );
    }

    #[test]
    fn framed_changes_read_back_and_damage_is_detected() {
        let mut out = RVec::new();
        let changes = [
            (
                0,
                KeyChange {
                    key: "a",
                    prior: None,
                    version: Some(3),
                },
            ),
            (
                1,
                KeyChange {
                    key: "ключ",
                    prior: Some(2),
                    version: None,
                },
            ),
            (
                1,
                KeyChange {
                    key: "",
                    prior: Some(u64::MAX),
                    version: Some(4),
                },
            ),
        ];
        for (unit, change) in changes {
            frame_change(&mut out, unit, change);
        }
        let mut walk = FramedChanges::new(&out);
        assert_eq!(walk.by_ref().collect::<Vec<_>>(), changes);
        assert!(!walk.malformed());
        let mut cut = FramedChanges::new(&out[..out.len() - 1]);
        assert_eq!(
            cut.by_ref().count(),
            2,
            "changes before the damage are read"
        );
        assert!(cut.malformed(), "a truncated buffer is refused");
        let mut bad = FramedChanges::new(&[0, 0, 0, 0, 1, 0, 0, 0, 0xff]);
        assert_eq!(bad.next(), None);
        assert!(bad.malformed(), "a key that is not UTF-8 is refused");
        assert_eq!(FramedChanges::new(&[]).count(), 0);
    }
}
