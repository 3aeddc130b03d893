//! `Monitor`: the operator's side of a long operation.

use super::StoreMigration;

/// Hears how a long operation ([`migrate`](super::migrate),
/// [`dump`](super::dump), [`restore_file`](super::restore_file),
/// [`clear_stores`](super::clear_stores)) advances, for a progress bar, and
/// can ask it to stop. Every method has a default: `()` hears nothing and
/// never asks to stop.
pub trait Monitor: Send + Sync {
    /// The operation starts on `stores` stores holding `total_keys` keys.
    fn begin(&self, stores: usize, total_keys: u64) {
        let _ = (stores, total_keys);
    }
    /// Work on `store_id` starts.
    fn store(&self, store_id: &str) {
        let _ = store_id;
    }
    /// `keys` more keys were handled (copied or found equal, dumped,
    /// restored, cleared).
    fn advance(&self, keys: u64) {
        let _ = keys;
    }
    /// Verifying `store_id` starts (migrate).
    fn verifying(&self, store_id: &str) {
        let _ = store_id;
    }
    /// `store_id` is copied and verified (migrate).
    fn store_done(&self, result: &StoreMigration) {
        let _ = result;
    }
    /// Whether the operation should stop. It is asked after every batch
    /// (and between stores); once it answers `true`, the operation writes
    /// nothing more, releases its locks and answers
    /// [`OpsError::Stopped`](super::OpsError::Stopped), saying what was done
    /// and how to finish.
    fn stop_requested(&self) -> bool {
        false
    }
}

/// A monitor that hears nothing and never asks to stop.
impl Monitor for () {}
