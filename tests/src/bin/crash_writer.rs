//! A writer process for the crash test: opens the redb provider library on
//! a database file and writes forever, printing `ack <n>` after each write
//! the store acknowledged. Each step `n` is one transaction (two keys and
//! `last`) followed by one plain set, so a test can check that nothing
//! acknowledged was lost and no transaction is half applied.
//!
//!
//! With a fourth argument `tasks`, it runs that many concurrent tasks
//! instead, each setting its own keys `c/<task>/<n>` from `first` on and
//! printing `ack c <task> <n>` after each acknowledged set (the host hands
//! such writes to the provider in groups).
//!
//! Usage: `crash_writer <library.so> <database file> <first n> [tasks]`

use std::{io::Write, sync::Arc};

use stateplug::{ProviderLibrary, StateStore, TxnOp};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (library, db, first, tasks) = match args.as_slice() {
        [_, library, db, first] => (library, db, first, "0"),
        [_, library, db, first, tasks] => (library, db, first, tasks.as_str()),
        _ => {
            eprintln!("usage: crash_writer <library.so> <database file> <first n> [tasks]");
            std::process::exit(2);
        }
    };
    let first: u64 = first.parse().expect("a number");
    let tasks: usize = tasks.parse().expect("a number of tasks");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = ProviderLibrary::load(library)
            .and_then(|l| l.open(&serde_json::json!({ "path": db })))
            .unwrap_or_else(|e| {
                eprintln!("open failed: {e}");
                std::process::exit(3);
            });
        if tasks > 0 {
            concurrent_sets(store, first, tasks).await;
            return;
        }
        let mut out = std::io::stdout().lock();
        for n in first.. {
            let value = n.to_string().into_bytes();
            store
                .transaction(
                    "crash",
                    vec![
                        TxnOp::put(format!("t/{n:09}/a"), value.clone()),
                        TxnOp::put(format!("t/{n:09}/b"), value.clone()),
                        TxnOp::put("last", value.clone()),
                    ],
                )
                .await
                .expect("transaction");
            store
                .set("crash", &format!("s/{n:09}"), value)
                .await
                .expect("set");
            writeln!(out, "ack {n}")
                .and_then(|_| out.flush())
                .expect("stdout");
        }
    });
}

/// `tasks` tasks setting their own keys forever, acknowledging each set.
async fn concurrent_sets(store: Arc<dyn StateStore>, first: u64, tasks: usize) {
    let writers: Vec<_> = (0..tasks)
        .map(|t| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for n in first.. {
                    store
                        .set(
                            "crash",
                            &format!("c/{t:03}/{n:09}"),
                            n.to_string().into_bytes(),
                        )
                        .await
                        .expect("set");
                    // One line per write call: whole lines even when tasks interleave.
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack c {t} {n}")
                        .and_then(|_| out.flush())
                        .expect("stdout");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer");
    }
}
