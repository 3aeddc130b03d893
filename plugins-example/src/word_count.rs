//! `word-count`: counts the words of every event it receives.
//!
//! Each batch's counts and the reaction's checkpoint are committed in one
//! atomic transaction, so after any crash no event is counted twice or
//! missed: a re-delivered event is at or below the checkpoint and skipped.

use std::{collections::BTreeMap, sync::Arc};

use async_trait::async_trait;
use serde::Deserialize;
use stateplug::{plugin::PluginSpec, PluginError, PluginResult, Reaction, ReactionContext, TxnOp};

/// Counts live under `count/<word>` as decimal text.
pub const COUNT_PREFIX: &str = "count/";

/// Settings of a `word-count` reaction.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default = "default_batch")]
    batch: usize,
    #[serde(default = "default_durable")]
    durable: bool,
}

fn default_batch() -> usize {
    512
}

fn default_durable() -> bool {
    true
}

/// Counts words (split on whitespace, lower-cased, trimmed of punctuation).
#[derive(Debug, Clone)]
pub struct WordCount {
    id: String,
    subscribe: Vec<String>,
    batch: usize,
    durable: bool,
}

impl WordCount {
    /// A reaction `id` counting the words of `sources`' events, 512 events per commit.
    pub fn new(id: impl Into<String>, sources: &[&str]) -> Self {
        WordCount {
            id: id.into(),
            subscribe: sources.iter().map(|s| s.to_string()).collect(),
            batch: default_batch(),
            durable: true,
        }
    }

    /// Commits at most `events` events at once.
    pub fn batch(mut self, events: usize) -> Self {
        self.batch = events.max(1);
        self
    }

    /// Whether the host must refuse a non-durable provider (default true).
    pub fn durable(mut self, durable: bool) -> Self {
        self.durable = durable;
        self
    }
}

pub(crate) fn from_spec(spec: &PluginSpec) -> Result<Arc<dyn Reaction>, String> {
    let s: Settings = crate::settings::parse(spec)?;
    if spec.subscribe.is_empty() {
        return Err("a word-count reaction needs `subscribe = [\"<source id>\", ...]`".into());
    }
    Ok(Arc::new(WordCount {
        id: spec.id.clone(),
        subscribe: spec.subscribe.clone(),
        batch: s.batch.max(1),
        durable: s.durable,
    }))
}

/// The words of `text` as `word-count` counts them.
pub fn count_words(text: &str, into: &mut BTreeMap<String, u64>) {
    for raw in text.split_whitespace() {
        let word = raw
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        if !word.is_empty() {
            *into.entry(word).or_insert(0) += 1;
        }
    }
}

#[async_trait]
impl Reaction for WordCount {
    fn id(&self) -> &str {
        &self.id
    }

    fn subscriptions(&self) -> Vec<String> {
        self.subscribe.clone()
    }

    fn requires_durable_state(&self) -> bool {
        self.durable
    }

    async fn run(&self, ctx: ReactionContext) -> PluginResult<()> {
        while let Some(batch) = ctx.next_batch(self.batch).await {
            let mut delta = BTreeMap::new();
            for event in &batch {
                count_words(event.text().unwrap_or_default(), &mut delta);
            }
            let keys: Vec<String> = delta.keys().map(|w| format!("{COUNT_PREFIX}{w}")).collect();
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            let current = ctx.store().get_many(&refs).await?;
            let mut ops = Vec::with_capacity(keys.len());
            for (key, add) in keys.iter().zip(delta.values()) {
                let before = match current.get(key) {
                    Some(bytes) => std::str::from_utf8(bytes)
                        .ok()
                        .and_then(|t| t.parse::<u64>().ok())
                        .ok_or_else(|| {
                            PluginError::msg(format!(
                                "word-count {}: {key} is not a number",
                                self.id
                            ))
                        })?,
                    None => 0,
                };
                ops.push(TxnOp::put(
                    key.clone(),
                    (before + add).to_string().into_bytes(),
                ));
            }
            ctx.commit(&batch, ops).await?;
        }
        Ok(())
    }
}
