//! The payload of one journal record: what one group commit changed, as
//! physical effects (a put of a value at a version, a delete, a clear), so
//! that replaying it reproduces exactly the versions that were acknowledged,
//! whatever the revision counter says at replay time.
//!
//! Layout: a sequence of tagged items, integers little-endian.
//! - `UNIT revision:u64 store_len:u32 store` starts the effects of one write
//!   call; every put of the call has version `revision`;
//! - `PUT key_len:u32 key value_len:u32 value`;
//! - `DELETE key_len:u32 key` (only of a key that existed);
//! - `CLEAR` (every key of the store, and its history);
//! - `PUT_EXPIRING key_len:u32 key value_len:u32 value expires_at_ms:u64`
//!   (a put that expires).

/// Tags of the items.
const UNIT: u8 = 1;
const PUT: u8 = 2;
const DELETE: u8 = 3;
const CLEAR: u8 = 4;
const PUT_EXPIRING: u8 = 5;

/// Builds the payload of one record while a group's transaction runs.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    buf: Vec<u8>,
    /// Where the current unit's header starts, until it is kept or dropped.
    unit_start: usize,
    /// The header of the current unit, written only with its first effect,
    /// so a call that changes nothing leaves nothing in the record.
    pending: Option<(u64, String)>,
}

impl Effects {
    /// Empties the builder for the next group; keeps its allocation.
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.pending = None;
    }

    /// The payload built so far.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Starts the effects of one write call on `store_id` at `revision`.
    pub(crate) fn begin_unit(&mut self, revision: u64, store_id: &str) {
        self.unit_start = self.buf.len();
        self.pending = Some((revision, store_id.to_owned()));
    }

    /// Drops every effect of the current unit (its call was refused).
    pub(crate) fn drop_unit(&mut self) {
        self.buf.truncate(self.unit_start);
        self.pending = None;
    }

    fn header(&mut self) {
        if let Some((revision, store_id)) = self.pending.take() {
            self.buf.push(UNIT);
            self.buf.extend_from_slice(&revision.to_le_bytes());
            push_bytes(&mut self.buf, store_id.as_bytes());
        }
    }

    /// Records a put of `value` under `key`; returns where the value
    /// starts in the payload.
    pub(crate) fn put(&mut self, key: &str, value: &[u8]) -> usize {
        self.header();
        self.buf.push(PUT);
        push_bytes(&mut self.buf, key.as_bytes());
        push_bytes(&mut self.buf, value)
    }

    /// Records a put of `value` under `key` that expires at
    /// `expires_at_ms`; returns where the value starts in the payload.
    pub(crate) fn put_expiring(&mut self, key: &str, value: &[u8], expires_at_ms: u64) -> usize {
        self.header();
        self.buf.push(PUT_EXPIRING);
        push_bytes(&mut self.buf, key.as_bytes());
        let start = push_bytes(&mut self.buf, value);
        self.buf.extend_from_slice(&expires_at_ms.to_le_bytes());
        start
    }

    /// Records the delete of an existing `key`.
    pub(crate) fn delete(&mut self, key: &str) {
        self.header();
        self.buf.push(DELETE);
        push_bytes(&mut self.buf, key.as_bytes());
    }

    /// Records a clear of the store.
    pub(crate) fn clear_store(&mut self) {
        self.header();
        self.buf.push(CLEAR);
    }
}

/// Appends `bytes` after their length; returns where they start. Keys and
/// values are bounded far below 4 GiB by the provider's limits.
fn push_bytes(buf: &mut Vec<u8>, bytes: &[u8]) -> usize {
    buf.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    let start = buf.len();
    buf.extend_from_slice(bytes);
    start
}

/// One effect of a unit, borrowed from the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect<'a> {
    Put(&'a str, &'a [u8]),
    PutExpiring(&'a str, &'a [u8], u64),
    Delete(&'a str),
    Clear,
}

/// The effects of one write call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unit<'a> {
    pub(crate) revision: u64,
    pub(crate) store_id: &'a str,
    pub(crate) effects: Vec<Effect<'a>>,
}

/// Reads a payload back; `Err` names what is malformed. A payload whose
/// checksum matched is malformed only if the provider that wrote it had
/// a bug, so the caller treats it as corruption.
pub(crate) fn parse(mut rest: &[u8]) -> Result<Vec<Unit<'_>>, &'static str> {
    let mut units: Vec<Unit<'_>> = Vec::new();
    while let Some((&tag, tail)) = rest.split_first() {
        rest = tail;
        if tag == UNIT {
            let revision = take_u64(&mut rest).ok_or("truncated revision")?;
            let store_id = take_str(&mut rest)?;
            units.push(Unit {
                revision,
                store_id,
                effects: Vec::new(),
            });
            continue;
        }
        let effect = match tag {
            PUT => {
                let key = take_str(&mut rest)?;
                Effect::Put(key, take_bytes(&mut rest).ok_or("truncated value")?)
            }
            PUT_EXPIRING => {
                let key = take_str(&mut rest)?;
                let value = take_bytes(&mut rest).ok_or("truncated value")?;
                Effect::PutExpiring(key, value, take_u64(&mut rest).ok_or("truncated expiry")?)
            }
            DELETE => Effect::Delete(take_str(&mut rest)?),
            CLEAR => Effect::Clear,
            _ => return Err("unknown item tag"),
        };
        units
            .last_mut()
            .ok_or("an effect before any unit")?
            .effects
            .push(effect);
    }
    Ok(units)
}

fn take_u64(rest: &mut &[u8]) -> Option<u64> {
    let (head, tail) = rest.split_first_chunk::<8>()?;
    *rest = tail;
    Some(u64::from_le_bytes(*head))
}

fn take_bytes<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (head, tail) = rest.split_first_chunk::<4>()?;
    let len = u32::from_le_bytes(*head) as usize;
    if tail.len() < len {
        return None;
    }
    let (bytes, tail) = tail.split_at(len);
    *rest = tail;
    Some(bytes)
}

fn take_str<'a>(rest: &mut &'a [u8]) -> Result<&'a str, &'static str> {
    let bytes = take_bytes(rest).ok_or("truncated key")?;
    std::str::from_utf8(bytes).map_err(|_| "a key that is not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effects_read_back_as_written_and_refused_calls_leave_nothing() {
        let mut e = Effects::default();
        e.begin_unit(7, "s");
        e.put("a", b"1");
        e.delete("b");
        e.put_expiring("c", b"2", 9_000);
        e.begin_unit(8, "t");
        e.put("x", b"refused");
        e.drop_unit();
        e.begin_unit(8, "nothing");
        e.begin_unit(8, "u");
        e.clear_store();
        e.put("k", b"");
        let units = parse(e.bytes()).unwrap();
        assert_eq!(
            units,
            [
                Unit {
                    revision: 7,
                    store_id: "s",
                    effects: vec![
                        Effect::Put("a", b"1"),
                        Effect::Delete("b"),
                        Effect::PutExpiring("c", b"2", 9_000)
                    ],
                },
                Unit {
                    revision: 8,
                    store_id: "u",
                    effects: vec![Effect::Clear, Effect::Put("k", b"")],
                },
            ]
        );
    }

    #[test]
    fn malformed_payloads_are_refused_not_misread() {
        let mut e = Effects::default();
        e.begin_unit(1, "s");
        e.put("key", b"value");
        let bytes = e.bytes();
        // A cut right after the unit header leaves a valid unit with no effects.
        let header_end = 1 + 8 + 4 + 1;
        for cut in (1..bytes.len()).filter(|&c| c != header_end) {
            assert!(parse(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(parse(&[PUT]), Err("truncated key"));
        let mut e = Effects::default();
        e.begin_unit(1, "s");
        e.put_expiring("k", b"v", 5);
        let bytes = e.bytes();
        assert_eq!(parse(&bytes[..bytes.len() - 1]), Err("truncated expiry"));
        assert_eq!(parse(&[9]), Err("unknown item tag"));
    }
}
