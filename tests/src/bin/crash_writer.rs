//! A writer process for the crash test: opens the redb provider library on
//! a database file and writes forever, printing `ack <n>` after each write
//! the store acknowledged. Each step `n` is one transaction (two keys and
//! `last`) followed by one plain set, so a test can check that nothing
//! acknowledged was lost and no transaction is half applied.
//!
//! Usage: `crash_writer <library.so> <database file> <first n>`

use std::io::Write;

use stateplug::{ProviderLibrary, TxnOp};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, library, db, first] = args.as_slice() else {
        eprintln!("usage: crash_writer <library.so> <database file> <first n>");
        std::process::exit(2);
    };
    let first: u64 = first.parse().expect("a number");
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
