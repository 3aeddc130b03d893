//! What the disk charges for a sync: one page written and synced against a
//! group's worth of pages scattered over the file and synced once. A group
//! commit saves the fixed cost of each write's sync, not the cost of the
//! pages it dirties; the 64-writer scenario's writers each write their own
//! key range, so a group of them dirties many scattered B-tree leaves.

use std::{
    fs::OpenOptions,
    io::Write,
    os::unix::fs::FileExt,
    time::{Duration, Instant},
};

use crate::{measure::median, report::Row, Sizes};

const PAGE: usize = 4096;
const FILE_PAGES: u64 = 16_384;
/// Pages per group: about what the 64-writer scenario puts in one commit.
const GROUP_PAGES: usize = 32;
const SYNCS: usize = 100;

/// p50 time of writing `pages` scattered pages and syncing once.
fn sync_cost(file: &std::fs::File, pages: usize, seed: &mut u64) -> Duration {
    let page = [0x5au8; PAGE];
    let mut samples: Vec<Duration> = (0..SYNCS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..pages {
                // A small LCG: scattered, repeatable offsets.
                *seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let offset = (*seed >> 33) % FILE_PAGES * PAGE as u64;
                file.write_all_at(&page, offset).expect("write");
            }
            file.sync_data().expect("fdatasync");
            start.elapsed()
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

/// The disk row.
pub fn run(sizes: &Sizes) -> Vec<Row> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(dir.path().join("probe.bin"))
        .expect("probe file");
    file.write_all(&vec![0u8; FILE_PAGES as usize * PAGE])
        .expect("fill");
    file.sync_all().expect("sync");
    let mut seed = 42;
    let (mut one, mut group, mut per_page) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..sizes.runs {
        let single = sync_cost(&file, 1, &mut seed).as_secs_f64() * 1e6;
        let many = sync_cost(&file, GROUP_PAGES, &mut seed).as_secs_f64() * 1e6;
        one.push(single);
        group.push(many);
        per_page.push((many - single) / (GROUP_PAGES - 1) as f64);
    }
    vec![Row {
        scenario: "disk: fdatasync".into(),
        metric: "p50 µs".into(),
        baseline: ("1 page".into(), median(&one)),
        candidate: (format!("{GROUP_PAGES} scattered pages"), median(&group)),
        ratio: median(&group) / median(&one),
        target: None,
        note: format!(
            "{:.1} µs per extra scattered page: a group commit saves each write's sync, not its pages",
            median(&per_page)
        ),
    }]
}
