//! `word-count`: counts the words of every event it receives.
//!
//! Each commit's counts and the reaction's checkpoint are written in one
//! atomic transaction, so after any crash no event is counted twice or
//! missed: a re-delivered event is at or below the checkpoint and skipped.
//!
//! Commits are pipelined: while one is in flight (a durable provider waits
//! for its disk), the reaction goes on taking events and counting them,
//! and they all go into the commit that starts when it ends. So a slow sync
//! makes commits larger, not the reaction slower.
//!
//! Invariants: at most one commit is in flight, and the next starts only
//! after it succeeded, so commits land in the order of their events and
//! each one's counts are read after the one before it landed; a commit
//! holds at most [`COALESCE`] batches' worth of events; a commit in flight
//! when the reaction's task is dropped is aborted with it.

use std::{collections::BTreeMap, sync::Arc};

use async_trait::async_trait;
use serde::Deserialize;
use stateplug::{
    plugin::{Event, PluginSpec},
    PluginError, PluginResult, Reaction, ReactionContext, TxnOp,
};
use tokio::task::JoinHandle;

/// Counts live under `count/<word>` as decimal text.
pub const COUNT_PREFIX: &str = "count/";

/// A commit holds at most this many batches of events: the events taken
/// while the commit before it was in flight.
const COALESCE: usize = 16;

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
    /// A reaction `id` counting the words of `sources`' events, taken 512
    /// events at a time.
    pub fn new(id: impl Into<String>, sources: &[&str]) -> Self {
        WordCount {
            id: id.into(),
            subscribe: sources.iter().map(|s| s.to_string()).collect(),
            batch: default_batch(),
            durable: true,
        }
    }

    /// Takes at most `events` events at once; a commit holds one such
    /// batch, or up to 16 when they came while the commit before was in
    /// flight.
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
        let ctx = Arc::new(ctx);
        let mut staged = Staged::default();
        let mut in_flight: Option<InFlight> = None;
        let mut open = true;
        loop {
            if in_flight.is_none() && !staged.events.is_empty() {
                let ops = self.count_ops(&ctx, &staged.counts).await?;
                let events = std::mem::take(&mut staged).events;
                let commit = Arc::clone(&ctx);
                in_flight = Some(InFlight(tokio::spawn(async move {
                    commit.commit(&events, ops).await
                })));
                // Let the commit start now, on this worker, while this task
                // moves on: a spawned task otherwise waits until this one
                // yields, which it may not do while events keep coming.
                tokio::task::yield_now().await;
            }
            if in_flight.is_none() && !open {
                return Ok(());
            }
            let room = staged.events.len() < COALESCE * self.batch;
            let step = tokio::select! {
                biased;
                done = wait(&mut in_flight), if in_flight.is_some() => Step::Committed(done),
                batch = ctx.next_batch(self.batch), if open && room => Step::Took(batch),
            };
            match step {
                Step::Committed(done) => {
                    in_flight = None;
                    done?;
                }
                Step::Took(Some(batch)) => staged.add(batch),
                Step::Took(None) => open = false,
            }
        }
    }
}

/// What the reaction's loop waited for.
enum Step {
    /// The commit in flight ended.
    Committed(PluginResult<u64>),
    /// Events came, or (`None`) every source ended and all was delivered.
    Took(Option<Vec<Event>>),
}

/// The outcome of the commit in flight (pending forever if there is none).
async fn wait(in_flight: &mut Option<InFlight>) -> PluginResult<u64> {
    match in_flight {
        Some(commit) => match (&mut commit.0).await {
            Ok(outcome) => outcome,
            Err(join) => Err(PluginError::msg(format!("word-count commit task: {join}"))),
        },
        None => std::future::pending().await,
    }
}

impl WordCount {
    /// The puts that add `counts` to the stored counts (read now: no
    /// commit is in flight, so they are current).
    async fn count_ops(
        &self,
        ctx: &ReactionContext,
        counts: &BTreeMap<String, u64>,
    ) -> PluginResult<Vec<TxnOp>> {
        let keys: Vec<String> = counts
            .keys()
            .map(|w| format!("{COUNT_PREFIX}{w}"))
            .collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let current = ctx.store().get_many(&refs).await?;
        let mut ops = Vec::with_capacity(keys.len());
        for (key, add) in keys.iter().zip(counts.values()) {
            let before = match current.get(key) {
                Some(bytes) => std::str::from_utf8(bytes)
                    .ok()
                    .and_then(|t| t.parse::<u64>().ok())
                    .ok_or_else(|| {
                        PluginError::msg(format!("word-count {}: {key} is not a number", self.id))
                    })?,
                None => 0,
            };
            ops.push(TxnOp::put(
                key.clone(),
                (before + add).to_string().into_bytes(),
            ));
        }
        Ok(ops)
    }
}

/// The events taken since the last commit started, and their word counts.
#[derive(Default)]
struct Staged {
    events: Vec<Event>,
    counts: BTreeMap<String, u64>,
}

impl Staged {
    fn add(&mut self, batch: Vec<Event>) {
        for event in &batch {
            count_words(event.text().unwrap_or_default(), &mut self.counts);
        }
        self.events.extend(batch);
    }
}

/// The commit in flight; aborted if dropped before it ends.
struct InFlight(JoinHandle<PluginResult<u64>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.abort();
    }
}
