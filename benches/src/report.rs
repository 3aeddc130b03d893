//! One table of results: each row puts a candidate beside its baseline.

/// One measured comparison.
pub struct Row {
    /// The scenario.
    pub scenario: String,
    /// What was measured and its unit, e.g. "ns/get".
    pub metric: String,
    /// The baseline's name and value.
    pub baseline: (String, f64),
    /// The candidate's name and value.
    pub candidate: (String, f64),
    /// candidate / baseline (median over runs).
    pub ratio: f64,
    /// The target, e.g. "<= 1.5", and whether it was met.
    pub target: Option<(String, bool)>,
    /// Anything else worth saying.
    pub note: String,
}

fn fmt(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Prints the rows as a Markdown table.
pub fn print(rows: &[Row]) {
    println!("| scenario | metric | baseline | candidate | ratio | target | met | note |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in rows {
        let (target, met) = match &r.target {
            Some((t, ok)) => (t.as_str(), if *ok { "yes" } else { "**no**" }),
            None => ("", ""),
        };
        println!(
            "| {} | {} | {} {} | {} {} | {:.2} | {} | {} | {} |",
            r.scenario,
            r.metric,
            r.baseline.0,
            fmt(r.baseline.1),
            r.candidate.0,
            fmt(r.candidate.1),
            r.ratio,
            target,
            met,
            r.note
        );
    }
}
