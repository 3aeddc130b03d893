//! [`Event`]: what a source emits; [`Snapshot`]: what a bootstrap provider hands over.

use std::sync::Arc;

/// An event a source emits.
///
/// `position` orders a source's events: it strictly increases, and a
/// source restarted from [`SourceContext::resume_position`] re-emits
/// nothing at or below it that a reaction has not already seen, so
/// reactions skip duplicates by position. For a file, the byte offset after
/// the line; for a counter, its sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The id of the source that emitted it.
    pub source: Arc<str>,
    /// The event's position in its source's order.
    pub position: u64,
    /// The event's data.
    pub payload: Arc<[u8]>,
    /// Whether the event is part of a bootstrap snapshot rather than live.
    pub bootstrap: bool,
}

impl Event {
    /// The payload as UTF-8 text, if it is.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.payload).ok()
    }

    /// The payload parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.payload)
    }
}

/// A snapshot of a source's data as of one of its positions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The source position the snapshot reflects: live events at or below
    /// it are already in the snapshot.
    pub position: u64,
    /// The snapshot's items, delivered as events of that position.
    pub items: Vec<Vec<u8>>,
}
