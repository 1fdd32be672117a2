//! The benchmark's measurement code runs on a tiny dataset and produces a
//! complete report: every operation measured on the engine, the floor and
//! the naive design, with its ratios. Timings are not asserted.

use std::collections::BTreeSet;

use store_core::generate::DatasetSize;
use store_tests::bench::{self, Generator, NamedSize, Options};
use store_tests::queries::request_variants;

const TINY: DatasetSize = DatasetSize {
    products: 60,
    customers: 40,
    sales: 240,
    max_sale_lines: 5,
    delivery_lines: 100,
    service_orders: 30,
    days: 20,
};

#[test]
fn report_has_every_design_and_ratio_for_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        size: NamedSize {
            name: "tiny",
            size: TINY,
        },
        seed: 7,
        iterations: 0.02,
        cache_dir: None,
        work_dir: dir.path().to_path_buf(),
        generator: Generator::InProcess,
        regenerate: false,
        command: "cargo test -p store-tests --test bench_report".into(),
    };
    let report = bench::run(&opts).unwrap();
    assert_eq!(report.generation.report.refused, 0);
    assert!(report.reads.len() >= 12, "{} reads", report.reads.len());
    assert!(report.writes.len() >= 4, "{} writes", report.writes.len());
    // Every query of the catalogue and every command has its row.
    let read: BTreeSet<String> = report.reads.iter().map(|r| r.covers.to_string()).collect();
    let missing: Vec<_> = request_variants().difference(&read).cloned().collect();
    assert!(
        missing.is_empty(),
        "queries without a read row: {missing:?}"
    );
    let written: BTreeSet<String> = report.writes.iter().map(|r| r.covers.to_string()).collect();
    let missing: Vec<_> = bench::command_types()
        .difference(&written)
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "commands without a write row: {missing:?}"
    );
    for row in report.reads.iter().chain(&report.writes) {
        for (design, stats) in [
            ("engine", &row.engine),
            ("floor", &row.floor),
            ("naive", &row.naive),
        ] {
            assert!(
                !stats.samples.is_empty(),
                "{}: no {design} sample",
                row.name
            );
            assert!(
                stats.p50() > 0.0 && stats.p50() <= stats.p95() && stats.p95() <= stats.p99(),
                "{}: {design} quantiles {:?}",
                row.name,
                stats.samples
            );
        }
        assert!(row.engine_ratio().is_finite() && row.engine_ratio() > 0.0);
        assert!(row.naive_ratio().is_finite() && row.naive_ratio() > 0.0);
    }
    assert!(
        report
            .docs
            .iter()
            .any(|d| d.kind == "journal" && d.changes > 0)
    );
    assert!(report.loads.iter().all(|l| !l.stats.samples.is_empty()));
    assert!(report.peak_rss_kib > 0 && report.machine.cores > 0);

    // The markdown has one table line per row, each with its three designs
    // and both ratios.
    let md = report.markdown();
    let lines: Vec<&str> = md
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| operation") && l.contains(" ms"))
        .collect();
    let rows: Vec<&str> = report
        .reads
        .iter()
        .chain(&report.writes)
        .map(|r| r.name.as_str())
        .collect();
    for name in &rows {
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("no line for {name} in\n{md}"));
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        assert_eq!(cells.len(), 7, "{line}");
        for design in &cells[1..4] {
            assert_eq!(design.matches(" ms").count(), 3, "{line}");
            assert!(design.ends_with("/s)"), "{line}");
        }
        for ratio in &cells[4..6] {
            assert!(ratio.ends_with('×'), "{line}");
            ratio.trim_end_matches('×').parse::<f64>().unwrap();
        }
    }
    assert!(md.contains("Reproduce with `cargo test -p store-tests --test bench_report`"));
    assert!(md.contains("cores") && md.contains("GiB of memory"));

    // The README section is replaced between its markers, and only there.
    let readme =
        "# R\n\n## Performance\n\n<!-- bench:start -->\nold\n<!-- bench:end -->\n\n## Next\n";
    let new = bench::replace_section(readme, &md).unwrap();
    assert!(new.starts_with("# R\n\n## Performance\n\n<!-- bench:start -->\n"));
    assert!(new.ends_with("<!-- bench:end -->\n\n## Next\n"));
    assert!(!new.contains("old") && new.contains(&md.trim_end()[..200]));
    assert!(bench::replace_section("no markers", &md).is_none());
}

#[test]
fn command_types_lists_every_command() {
    let types = bench::command_types();
    assert!(types.contains("sell") && types.contains("invoice_service_order"));
    assert_eq!(types.len(), 24, "{types:?}");
}
