//! The bodies of the fuzz targets, shared by the cargo-fuzz targets in
//! `fuzz/` and the bounded property tests in `tests/tests/fuzz_like.rs`, so
//! that the normal test suite exercises exactly what the fuzzer does.
//!
//! - [`decode_ops`] turns arbitrary bytes into a sequence of
//!   [`ModelOp`]s, which `stateplug::conformance::check_against_model`
//!   applies to a store and to a `BTreeMap` model, comparing after every
//!   step.
//! - [`parse_config`] feeds arbitrary bytes to the pipeline configuration
//!   parser and to everything that reads a parsed configuration; none of it
//!   may panic.

use std::{path::Path, sync::Arc};

use stateplug::config::PipelineConfig;
use stateplug::conformance::{check_against_model, ModelOp};
use stateplug::StateStore;

/// The most operations one input decodes to, so one run stays short.
pub const MAX_OPS: usize = 64;

/// Reads bytes one at a time; an exhausted input reads as zeros.
struct Bytes<'a> {
    data: &'a [u8],
}

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((first, rest)) => {
                self.data = rest;
                *first
            }
            None => 0,
        }
    }

    fn flag(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    /// A value of 0 to 7 bytes.
    fn value(&mut self) -> Vec<u8> {
        let len = self.byte() % 8;
        (0..len).map(|_| self.byte()).collect()
    }

    /// Up to 3 items made by `item`.
    fn few<T>(&mut self, mut item: impl FnMut(&mut Self) -> T) -> Vec<T> {
        let n = self.byte() % 4;
        (0..n).map(|_| item(self)).collect()
    }
}

/// Decodes `data` into at most [`MAX_OPS`] operations: one tag byte picks
/// the operation, the bytes after it its store, key, values and flags.
/// Every input decodes to some sequence (possibly empty); an input cut
/// short reads as zeros, and the sequence ends where the input does.
pub fn decode_ops(data: &[u8]) -> Vec<ModelOp> {
    let mut bytes = Bytes { data };
    let mut ops = Vec::new();
    while !bytes.data.is_empty() && ops.len() < MAX_OPS {
        let tag = bytes.byte();
        let store = bytes.byte();
        let op = match tag % 9 {
            0 => ModelOp::Set {
                store,
                key: bytes.byte(),
                value: bytes.value(),
            },
            1 => ModelOp::Delete {
                store,
                key: bytes.byte(),
            },
            2 => ModelOp::SetMany {
                store,
                pairs: bytes.few(|b| (b.byte(), b.value())),
            },
            3 => ModelOp::DeleteMany {
                store,
                keys: bytes.few(|b| b.byte()),
            },
            4 => ModelOp::Clear { store },
            5 => ModelOp::Cas {
                store,
                key: bytes.byte(),
                value: bytes.value(),
                stale: bytes.flag(),
            },
            6 => ModelOp::Cad {
                store,
                key: bytes.byte(),
                stale: bytes.flag(),
            },
            7 => ModelOp::Txn {
                store,
                writes: bytes.few(|b| (b.byte(), b.flag().then(|| b.value()))),
                guard: bytes.byte(),
                stale: bytes.flag(),
            },
            _ => {
                let prefix = bytes.byte();
                ModelOp::Scan {
                    store,
                    prefix_digit: (prefix & 0x80 == 0).then_some(prefix),
                    limit: u32::from(bytes.byte() % 6) + 1,
                    descending: bytes.flag(),
                }
            }
        };
        ops.push(op);
    }
    ops
}

/// A store and a runtime to drive it: what one model-checking fuzz target
/// keeps for the life of its process.
pub struct ModelTarget {
    runtime: tokio::runtime::Runtime,
    store: Arc<dyn StateStore>,
}

impl ModelTarget {
    /// A target driving `store` on a single-threaded runtime.
    pub fn new(store: Arc<dyn StateStore>) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            // A runtime without I/O drivers beyond the defaults only fails
            // to build when the process is out of resources; a fuzz target
            // cannot do anything useful then.
            .unwrap_or_else(|e| panic!("cannot build a tokio runtime: {e}"));
        ModelTarget { runtime, store }
    }

    /// Decodes `data` with [`decode_ops`] and checks the operations
    /// against the model; panics on the first divergence.
    pub fn run(&self, data: &[u8]) {
        let ops = decode_ops(data);
        self.runtime
            .block_on(check_against_model(&self.store, &ops));
    }
}

/// Parses `data` (when it is UTF-8) as a pipeline configuration and reads
/// everything a parsed configuration offers without touching the file
/// system. Panics only if the parser or a reader does, which is the bug the
/// fuzzer looks for. Returns whether the text parsed.
pub fn parse_config(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    match PipelineConfig::parse(text, Path::new("fuzz.toml")) {
        Ok(config) => {
            match config.providers() {
                Ok(providers) => {
                    for provider in providers {
                        let _ = provider.config_json();
                    }
                }
                Err(e) => {
                    let _ = e.to_string();
                }
            }
            let _ = config.provider_config();
            let _ = config.progress_interval();
            true
        }
        Err(e) => {
            let _ = e.to_string();
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_input_decodes_and_is_bounded() {
        assert!(decode_ops(&[]).is_empty());
        assert_eq!(
            decode_ops(&[0]).len(),
            1,
            "a cut-short input reads as zeros"
        );
        assert_eq!(decode_ops(&[7; 10_000]).len(), MAX_OPS);
        assert_eq!(
            decode_ops(&[0, 1, 2, 2, 9, 8]),
            vec![ModelOp::Set {
                store: 1,
                key: 2,
                value: vec![9, 8]
            }]
        );
    }

    #[test]
    fn the_example_configuration_parses() {
        let text = include_str!("../../examples/pipeline.toml");
        assert!(parse_config(text.as_bytes()));
        assert!(!parse_config(b"[provider"));
        assert!(!parse_config(&[0xff, 0xfe]));
    }
}
