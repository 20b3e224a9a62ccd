//! Single-thread throughput of the JSON engine on the shared corpus, beside serde_json, simd-json
//! and sonic-rs (the crates we could have built on). Run from `native/`:
//! `cargo bench -p offloop-core --bench json_throughput`. Prints MB/s (10^6 bytes per second), the
//! median of repeated runs, so the numbers can go into docs/json-engine.md.

use offloop_core::json::{self, ColumnType, ParseOptions, Pointer};
use offloop_core::runtime::JobCtx;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn corpus() -> Option<PathBuf> {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        if dir.join("shared/corpus").is_dir() {
            return Some(dir.join("shared/corpus"));
        }
        if !dir.pop() {
            return None;
        }
    }
}

/// Median MB/s of `f` over `bytes`, running it for about `budget`.
fn mbps(bytes: usize, budget: Duration, mut f: impl FnMut()) -> f64 {
    f();
    let mut times = Vec::new();
    let start = Instant::now();
    while start.elapsed() < budget || times.len() < 5 {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    bytes as f64 / times[times.len() / 2] / 1e6
}

fn main() {
    let Some(dir) = corpus() else {
        eprintln!("shared/corpus not found; nothing to measure");
        return;
    };
    let quick = std::env::args().any(|a| a == "--quick");
    let budget = Duration::from_millis(if quick { 150 } else { 800 });
    let ctx = JobCtx::inline();
    let opts = ParseOptions::default();
    let selectors: &[(&str, &[&str])] = &[
        ("twitter", &["/statuses/*/user/screen_name", "/search_metadata/count"]),
        ("citm_catalog", &["/events/138586341/name", "/venueNames"]),
        ("canada", &["/features/0/properties/name"]),
        ("gsoc-2018", &["/1/author/name"]),
        ("mesh", &["/batches/0/indexRange"]),
        ("numbers", &["/0"]),
    ];
    println!("simd level: {:?}", offloop_core::simd::level());
    println!(
        "| file | MB | validate | parse_to_tape | select | serde_json Value | simd-json tape | sonic-rs Value |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, pointers) in selectors {
        let bytes = std::fs::read(dir.join(format!("json/{name}.json"))).expect("corpus file");
        let pointers: Vec<Pointer> = pointers.iter().map(|p| Pointer::parse(p).expect("pointer")).collect();
        let n = bytes.len();
        let validate = mbps(n, budget, || json::validate(&ctx, &bytes, opts).expect("valid"));
        let parse = mbps(n, budget, || drop(json::parse_to_tape(&ctx, &bytes, opts).expect("parses")));
        let select = mbps(n, budget, || drop(json::select(&ctx, &bytes, &pointers, opts).expect("selects")));
        let serde = mbps(n, budget, || drop(serde_json::from_slice::<serde_json::Value>(&bytes).expect("serde")));
        let mut copy = bytes.clone();
        let simd = mbps(n, budget, || {
            copy.copy_from_slice(&bytes);
            drop(simd_json::to_tape(&mut copy).expect("simd-json"));
        });
        let sonic = mbps(n, budget, || drop(sonic_rs::from_slice::<sonic_rs::Value>(&bytes).expect("sonic")));
        println!(
            "| {name} | {:.2} | {validate:.0} | {parse:.0} | {select:.0} | {serde:.0} | {simd:.0} | {sonic:.0} |",
            n as f64 / 1e6
        );
    }
    let nd = std::fs::read(dir.join("ndjson/amazon_cellphones.ndjson")).expect("ndjson corpus");
    let fields: Vec<(Pointer, ColumnType)> = [("/5", ColumnType::F64), ("/1", ColumnType::Str), ("/7", ColumnType::I32)]
        .iter()
        .map(|(p, t)| (Pointer::parse(p).expect("pointer"), *t))
        .collect();
    let lines = mbps(nd.len(), budget, || drop(json::parse_lines(&ctx, &nd, opts).expect("ndjson")));
    let cols = mbps(nd.len(), budget, || drop(json::columns(&ctx, &nd, &fields, opts).expect("columns")));
    println!("\n| ndjson amazon_cellphones ({:.2} MB) | parse_lines | columns (3 fields) |", nd.len() as f64 / 1e6);
    println!("|---|---|---|");
    println!("| single thread | {lines:.0} | {cols:.0} |");
    let pool = rayon::ThreadPoolBuilder::new().build().expect("pool");
    let state = offloop_core::runtime::JobState::new();
    let (lines_par, cols_par) = pool.install(|| {
        let ctx = JobCtx::for_pool(&state);
        (
            mbps(nd.len(), budget, || drop(json::parse_lines(&ctx, &nd, opts).expect("ndjson"))),
            mbps(nd.len(), budget, || drop(json::columns(&ctx, &nd, &fields, opts).expect("columns"))),
        )
    });
    println!("| pool of {} threads | {lines_par:.0} | {cols_par:.0} |", pool.current_num_threads());
}
