//! `stateplug run --metrics-addr`: Prometheus metrics fetched over HTTP
//! during a real run agree with the run report; the shipped Grafana
//! dashboard names only metrics the host records.
// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    process::{Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

/// One sample of the Prometheus text format: name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the Prometheus text exposition format (comments skipped; label
/// values with `\"`, `\\` and `\n` escapes).
fn parse(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap();
        let name = line[..name_end].to_string();
        let mut labels = BTreeMap::new();
        let mut rest = &line[name_end..];
        if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.char_indices();
            let mut key = String::new();
            let mut end = 0;
            while let Some((i, c)) = chars.next() {
                match c {
                    '}' => {
                        end = i + 1;
                        break;
                    }
                    ',' => {}
                    '=' => {
                        assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
                        let mut value = String::new();
                        while let Some((_, c)) = chars.next() {
                            match c {
                                '"' => break,
                                '\\' => match chars.next().map(|(_, c)| c) {
                                    Some('n') => value.push('\n'),
                                    Some(other) => value.push(other),
                                    None => panic!("dangling escape: {line}"),
                                },
                                c => value.push(c),
                            }
                        }
                        labels.insert(std::mem::take(&mut key), value);
                    }
                    c => key.push(c),
                }
            }
            assert!(end > 0, "unclosed labels: {line}");
            rest = &body[end..];
        }
        let value = rest.split_whitespace().next().unwrap();
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|e| panic!("{line}: {e}")),
        };
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    samples
}

/// The value of `name` with every label in `want`, if exported.
fn value(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && want
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

/// `GET /metrics` over a real TCP connection; returns status line and body.
fn fetch(addr: &str, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

#[test]
fn metrics_served_during_a_run_match_the_run_report() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.redb");
    let config = dir.path().join("pipeline.toml");
    std::fs::write(
        &config,
        format!(
            "[provider]\nlibrary = \"redb\"\nconfig = {{ path = {:?} }}\n\n[[source]]\nid = \"numbers\"\nkind = \"generator\"\nsettings = {{ rate_per_sec = 500 }}\n\n[[reaction]]\nid = \"counts\"\nkind = \"word-count\"\nsubscribe = [\"numbers\"]\n",
            db.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stateplug"))
        .args(["run", "--json", "--metrics-addr", "127.0.0.1:0"])
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let drain = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            if let Some(rest) = line.strip_prefix("serving metrics on http://") {
                let _ = tx.send(rest.trim_end_matches("/metrics").to_string());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("no metrics address announced"));

    // Scrape while the pipeline runs: the figures move between scrapes.
    let source = [("plugin", "numbers"), ("kind", "source")];
    let reaction = [("plugin", "counts"), ("kind", "reaction")];
    let events = |samples: &[Sample], labels: &[(&str, &str)]| {
        value(samples, "stateplug_plugin_events_total", labels).unwrap_or(0.0)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut scrapes: Vec<Vec<Sample>> = Vec::new();
    while scrapes.len() < 3 || events(scrapes.last().unwrap(), &reaction) < 200.0 {
        let (status, body) = fetch(&addr, "/metrics");
        assert_eq!(status, "HTTP/1.1 200 OK");
        scrapes.push(parse(&body));
        assert!(
            Instant::now() < deadline,
            "the run made no progress: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for pair in scrapes.windows(2) {
        for labels in [&source[..], &reaction[..]] {
            assert!(events(&pair[0], labels) <= events(&pair[1], labels));
        }
    }
    let (first, last) = (&scrapes[0], scrapes.last().unwrap());
    assert!(
        events(first, &source) < events(last, &source),
        "counted live"
    );
    let (status, _) = fetch(&addr, "/other");
    assert_eq!(status, "HTTP/1.1 404 Not Found");

    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let output = child.wait_with_output().unwrap();
    let stderr = drain.join().unwrap();
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["stopped_by"], "SIGINT");
    let plugin = |id: &str| {
        report["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .unwrap_or_else(|| panic!("{id} not in {report}"))
            .clone()
    };
    let (numbers, counts) = (plugin("numbers"), plugin("counts"));
    let figure = |p: &serde_json::Value, field: &str| p[field].as_f64().unwrap();

    // The last scrape is a moment of the run the report ends: no figure
    // is above the report's, and the run went on by less than its rate
    // over the time since (at most 2 s at 500 events/s, with slack).
    let checks = [
        (
            "stateplug_plugin_events_total",
            &source,
            figure(&numbers, "events"),
        ),
        (
            "stateplug_plugin_events_total",
            &reaction,
            figure(&counts, "events"),
        ),
        (
            "stateplug_plugin_commits_total",
            &reaction,
            figure(&counts, "checkpoints"),
        ),
        (
            "stateplug_plugin_checkpoint_position",
            &reaction,
            figure(&counts, "last_checkpoint"),
        ),
    ];
    for (name, labels, reported) in checks {
        let scraped = value(last, name, labels).unwrap();
        assert!(
            scraped <= reported && reported - scraped <= 2000.0,
            "{name} {labels:?}: scraped {scraped}, reported {reported}"
        );
    }
    // Within one scrape: a reaction commits only what its source emitted,
    // each of its commits is one transaction, and each acknowledged write
    // of the durable provider is counted as a durable commit.
    assert!(events(last, &reaction) <= events(last, &source));
    let call_count = |operation: &str| {
        value(
            last,
            "stateplug_store_calls_total",
            &[("provider", "default"), ("operation", operation)],
        )
        .unwrap_or(0.0)
    };
    let commits = value(last, "stateplug_plugin_commits_total", &reaction).unwrap();
    assert!(call_count("transaction") >= commits);
    // Every write counts: the reaction's commits, the source's
    // checkpoints and each plugin's takeover of its store.
    let writes: f64 = [
        "write",
        "set",
        "delete",
        "set_many",
        "delete_many",
        "compare_and_set",
        "compare_and_delete",
        "transaction",
        "clear_store",
    ]
    .into_iter()
    .map(call_count)
    .sum();
    assert!(
        call_count("compare_and_set") >= 2.0,
        "each plugin took its store"
    );
    let durable = value(
        last,
        "stateplug_store_durable_commits_total",
        &[("provider", "default")],
    )
    .unwrap();
    assert!(
        durable >= commits && durable <= writes,
        "{durable} vs {writes}"
    );
    // Each durable commit is timed once, its sync included (read in the same
    // scrape, so a commit or two may fall between the two figures).
    let provider = [("provider", "default")];
    let timed = value(
        last,
        "stateplug_store_commit_duration_seconds_count",
        &provider,
    )
    .unwrap();
    assert!(
        (timed - durable).abs() <= durable * 0.02 + 5.0,
        "{timed} commit durations for {durable} durable commits"
    );
    let took = value(
        last,
        "stateplug_store_commit_duration_seconds_sum",
        &provider,
    )
    .unwrap();
    assert!(
        took > 0.0 && took / timed < 10.0,
        "{took} s over {timed} commits"
    );
    let written = value(
        last,
        "stateplug_store_bytes_written_total",
        &[("provider", "default"), ("operation", "transaction")],
    )
    .unwrap();
    assert!(written > 0.0);
    // The reaction reads its counts back before it adds to them.
    let read = value(
        last,
        "stateplug_store_bytes_read_total",
        &[("provider", "default"), ("operation", "get_many")],
    )
    .unwrap();
    assert!(read > 0.0);
}

#[test]
fn the_grafana_dashboard_names_only_metrics_the_host_records() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../ops/grafana/stateplug.json"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let known = stateplug::runtime::metrics::all_names();
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            exprs.push(target["expr"].as_str().unwrap().to_string());
        }
    }
    assert!(!exprs.is_empty());
    let mut named = 0;
    for expr in &exprs {
        for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if !word.starts_with("stateplug_") {
                continue;
            }
            let base = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| word.strip_suffix(s))
                .filter(|b| known.contains(b))
                .unwrap_or(word);
            assert!(
                known.contains(&base),
                "the dashboard queries {word}, which the host does not record ({expr})"
            );
            named += 1;
        }
    }
    assert!(named >= exprs.len(), "every query names a stateplug metric");
}
