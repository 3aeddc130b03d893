//! `generator`: deterministic numbered lines of words at a configurable rate.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use serde::Deserialize;
use stateplug::{plugin::PluginSpec, PluginResult, Source, SourceContext};

const WORDS: [&str; 16] = [
    "state",
    "store",
    "plugin",
    "host",
    "checkpoint",
    "source",
    "reaction",
    "event",
    "durable",
    "version",
    "commit",
    "scan",
    "watch",
    "batch",
    "provider",
    "restart",
];

/// The line of event number `n` (from 1): the same for every run, so counts
/// can be computed from the numbers alone.
pub fn line_for(n: u64) -> String {
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let words = 3 + (n % 5) as usize;
    let mut line = String::new();
    for i in 0..words {
        x ^= x >> 29;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9).wrapping_add(i as u64);
        if i > 0 {
            line.push(' ');
        }
        line.push_str(WORDS[(x >> 60) as usize]);
    }
    line
}

/// Settings of a `generator` source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default)]
    rate_per_sec: u64,
    #[serde(default)]
    count: Option<u64>,
    #[serde(default = "default_durable")]
    durable: bool,
}

fn default_durable() -> bool {
    true
}

/// Emits `line_for(n)` at position `n` for n = 1, 2, ...
#[derive(Debug, Clone)]
pub struct Generator {
    id: String,
    rate_per_sec: u64,
    count: Option<u64>,
    durable: bool,
}

impl Generator {
    /// A generator emitting as fast as reactions take events, without end.
    pub fn new(id: impl Into<String>) -> Self {
        Generator {
            id: id.into(),
            rate_per_sec: 0,
            count: None,
            durable: true,
        }
    }

    /// Emits at most `per_sec` events a second (0: unlimited).
    pub fn rate(mut self, per_sec: u64) -> Self {
        self.rate_per_sec = per_sec;
        self
    }

    /// Finishes after event number `count` (a finite source: once every
    /// source has finished and the reactions have drained, the host stops).
    pub fn count(mut self, count: u64) -> Self {
        self.count = Some(count);
        self
    }

    /// Whether the host must refuse a non-durable provider (default true).
    pub fn durable(mut self, durable: bool) -> Self {
        self.durable = durable;
        self
    }
}

pub(crate) fn from_spec(spec: &PluginSpec) -> Result<Arc<dyn Source>, String> {
    let s: Settings = crate::settings::parse(spec)?;
    Ok(Arc::new(Generator {
        id: spec.id.clone(),
        rate_per_sec: s.rate_per_sec,
        count: s.count,
        durable: s.durable,
    }))
}

#[async_trait]
impl Source for Generator {
    fn id(&self) -> &str {
        &self.id
    }

    fn requires_durable_state(&self) -> bool {
        self.durable
    }

    async fn run(&self, ctx: SourceContext) -> PluginResult<()> {
        let mut n = ctx.resume_position() + 1;
        let mut pace = (self.rate_per_sec > 0).then(|| {
            let mut i =
                tokio::time::interval(Duration::from_secs_f64(1.0 / self.rate_per_sec as f64));
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        while !ctx.is_stopping() && self.count.is_none_or(|c| n <= c) {
            if let Some(pace) = pace.as_mut() {
                tokio::select! {
                    _ = pace.tick() => {}
                    _ = ctx.stopped() => return Ok(()),
                }
            }
            ctx.emit(n, line_for(n).into_bytes()).await?;
            n += 1;
        }
        if self.count.is_none() {
            ctx.stopped().await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_deterministic_words() {
        assert_eq!(line_for(7), line_for(7));
        assert_ne!(line_for(7), line_for(8));
        for n in 1..100 {
            let line = line_for(n);
            let words: Vec<&str> = line.split(' ').collect();
            assert!((3..8).contains(&words.len()), "{line}");
            assert!(words.iter().all(|w| WORDS.contains(w)));
        }
    }
}
