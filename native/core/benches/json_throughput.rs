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


/// The generator of `bench/data.ts` (mulberry32, the same record shape and word list, about 8%
/// of the text non-ASCII), so the Rust numbers describe the data the JS benchmark uses.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x6d2b_79f5);
        let mut t = self.0;
        t = (t ^ (t >> 15)).wrapping_mul(t | 1);
        t ^= t.wrapping_add((t ^ (t >> 7)).wrapping_mul(t | 61));
        f64::from(t ^ (t >> 14)) / 4_294_967_296.0
    }

    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[(self.next() * list.len() as f64) as usize]
    }
}

const WORDS: &[&str] = &[
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu", "naïve",
    "café", "Zürich", "東京", "emoji 🎉",
];
const TAGS: &[&str] = &["new", "sale", "featured", "clearance", "limited", "bundle"];

fn record(r: &mut Rng, i: usize, out: &mut String) {
    use std::fmt::Write;
    let words = |r: &mut Rng, n: usize| (0..n).map(|_| r.pick(WORDS)).collect::<Vec<_>>().join(" ");
    let sku = (r.next() * 1e8) as u64;
    let name = words(r, 3);
    let price = (r.next() * 1e6).round() / 100.0;
    let rating = if r.next() < 0.1 { "null".to_string() } else { format!("{}", (r.next() * 50.0).round() / 10.0) };
    let in_stock = r.next() < 0.7;
    let tags: Vec<String> = (0..(r.next() * 4.0) as usize).map(|_| format!("\"{}\"", r.pick(TAGS))).collect();
    let (w, h, d) = (r.next() * 100.0, r.next() * 100.0, r.next() * 100.0);
    let seller = (r.next() * 1e5) as u64;
    let seller_name = r.pick(WORDS);
    let verified = r.next() < 0.5;
    let description = words(r, 8);
    let _ = write!(
        out,
        "{{\"id\":{i},\"sku\":\"SKU-{sku:x}\",\"name\":\"{name}\",\"price\":{price},\"rating\":{rating},\"inStock\":{in_stock},\"tags\":[{}],\"dims\":{{\"w\":{w},\"h\":{h},\"d\":{d}}},\"seller\":{{\"id\":{seller},\"name\":\"{seller_name} store\",\"verified\":{verified}}},\"description\":\"{description}\"}}",
        tags.join(",")
    );
}

/// NDJSON of about `bytes` bytes, one generated record per line.
fn generate_ndjson(bytes: usize, seed: u32) -> Vec<u8> {
    let mut r = Rng(seed);
    let mut out = String::with_capacity(bytes + 1024);
    let mut i = 0;
    while out.len() < bytes {
        record(&mut r, i, &mut out);
        out.push('\n');
        i += 1;
    }
    out.into_bytes()
}

/// A document `{"items":[...]}` of about `bytes` bytes.
fn generate_document(bytes: usize, seed: u32) -> Vec<u8> {
    let mut r = Rng(seed);
    let mut out = String::with_capacity(bytes + 1024);
    out.push_str("{\"items\":[");
    let mut i = 0;
    while out.len() < bytes {
        if i > 0 {
            out.push(',');
        }
        record(&mut r, i, &mut out);
        i += 1;
    }
    out.push_str("]}");
    out.into_bytes()
}

/// The generated data of the JS benchmark: a 64 MB document and 64 MB of NDJSON, the four columns
/// `bench/json.ts` asks for, on one thread and on a pool.
fn generated(budget: Duration) {
    let ctx = JobCtx::inline();
    let opts = ParseOptions::default();
    let doc = generate_document(64 << 20, 42);
    let nd = generate_ndjson(64 << 20, 7);
    let ascii = nd.iter().filter(|b| b.is_ascii()).count();
    println!(
        "\ngenerated data: document {:.1} MB, NDJSON {:.1} MB, {:.1}% non-ASCII bytes",
        doc.len() as f64 / 1e6,
        nd.len() as f64 / 1e6,
        100.0 * (nd.len() - ascii) as f64 / nd.len() as f64
    );
    let fields: Vec<(Pointer, ColumnType)> =
        [("/id", ColumnType::F64), ("/price", ColumnType::F64), ("/inStock", ColumnType::Bool), ("/seller/id", ColumnType::I32)]
            .iter()
            .map(|(p, t)| (Pointer::parse(p).expect("pointer"), *t))
            .collect();
    let item = [Pointer::parse("/items/1000/name").expect("pointer")];
    let n = doc.len();
    let validate = mbps(n, budget, || json::validate(&ctx, &doc, opts).expect("valid"));
    let parse = mbps(n, budget, || drop(json::parse_to_tape(&ctx, &doc, opts).expect("parses")));
    let select = mbps(n, budget, || drop(json::select(&ctx, &doc, &item, opts).expect("selects")));
    let cols = mbps(nd.len(), budget, || drop(json::columns(&ctx, &nd, &fields, opts).expect("columns")));
    let pool = rayon::ThreadPoolBuilder::new().build().expect("pool");
    let state = offloop_core::runtime::JobState::new();
    let cols_par = pool.install(|| {
        let ctx = JobCtx::for_pool(&state);
        mbps(nd.len(), budget, || drop(json::columns(&ctx, &nd, &fields, opts).expect("columns")))
    });
    println!("| generated | validate | parse_to_tape | select | columns (4 fields) 1 thread | columns pool of {} |", pool.current_num_threads());
    println!("|---|---|---|---|---|---|");
    println!("| 64 MB | {validate:.0} | {parse:.0} | {select:.0} | {cols:.0} | {cols_par:.0} |");
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let budget = Duration::from_millis(if quick { 150 } else { 800 });
    println!("simd level: {:?}", offloop_core::simd::level());
    if std::env::args().any(|a| a == "generated") {
        generated(budget);
        return;
    }
    if std::env::args().any(|a| a == "goals") {
        goals(budget);
        return;
    }
    let Some(dir) = corpus() else {
        eprintln!("shared/corpus not found; measuring the generated data only");
        generated(budget);
        return;
    };
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
    generated(budget);
}

/// This thread's CPU time in seconds (less disturbed than wall time by other processes on a
/// shared machine).
#[cfg(target_os = "linux")]
fn thread_cpu() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec for the call to write.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

#[cfg(not(target_os = "linux"))]
fn thread_cpu() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Like [`mbps`], timed by this thread's CPU time (for single-thread calls only).
fn cpu_mbps(bytes: usize, budget: Duration, mut f: impl FnMut()) -> f64 {
    f();
    let mut times = Vec::new();
    let start = Instant::now();
    while start.elapsed() < budget || times.len() < 5 {
        let t = thread_cpu();
        f();
        times.push(thread_cpu() - t);
    }
    times.sort_by(f64::total_cmp);
    bytes as f64 / times[times.len() / 2] / 1e6
}

/// The two throughput goals, with the selectors `bench/json.ts` uses: `select` on one thread per
/// file (>= 1 000 MB/s) and the four columns of the generated NDJSON on a pool (>= 1 000 MB/s).
/// `-- goals` runs only this, three rounds, so a change can be judged on one noisy machine.
fn goals(budget: Duration) {
    let ctx = JobCtx::inline();
    let opts = ParseOptions::default();
    let mut docs: Vec<(String, Vec<u8>, Vec<Pointer>)> = Vec::new();
    if let Some(dir) = corpus() {
        for name in ["twitter", "citm_catalog", "canada", "gsoc-2018", "mesh", "numbers"] {
            let bytes = std::fs::read(dir.join(format!("json/{name}.json"))).expect("corpus file");
            let pointers: &[&str] = match name {
                "twitter" => &["/statuses/*/id", "/search_metadata/count"],
                "citm_catalog" => &["/areaNames", "/events/138586341/name"],
                "canada" => &["/type", "/features/0/properties"],
                _ => &["/items/0", "/items/1000/id"],
            };
            docs.push((name.to_string(), bytes, pointers.iter().map(|p| Pointer::parse(p).expect("pointer")).collect()));
        }
    }
    // `only=NAME` measures one file (or `only=columns`), for a profiler.
    let only = std::env::args().find_map(|a| a.strip_prefix("only=").map(str::to_string));
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o == name);
    if wanted("generated 64 MB") {
        let generated = ["/items/0", "/items/1000/id"].iter().map(|p| Pointer::parse(p).expect("pointer")).collect();
        docs.push(("generated 64 MB".to_string(), generate_document(64 << 20, 42), generated));
    }
    let nd = if wanted("columns") { generate_ndjson(64 << 20, 7) } else { Vec::new() };
    let fields: Vec<(Pointer, ColumnType)> =
        [("/id", ColumnType::F64), ("/price", ColumnType::F64), ("/inStock", ColumnType::Bool), ("/seller/id", ColumnType::I32)]
            .iter()
            .map(|(p, t)| (Pointer::parse(p).expect("pointer"), *t))
            .collect();
    let pool = rayon::ThreadPoolBuilder::new().build().expect("pool");
    let state = offloop_core::runtime::JobState::new();
    // `reps=N` with `only=NAME`: exactly N selects (N columns calls), for `perf stat`.
    if let Some(reps) = std::env::args().find_map(|a| a.strip_prefix("reps=").and_then(|n| n.parse::<usize>().ok())) {
        for _ in 0..reps {
            for (_, bytes, pointers) in docs.iter().filter(|(name, ..)| wanted(name)) {
                drop(json::select(&ctx, bytes, pointers, opts).expect("selects"));
            }
            if wanted("columns") {
                drop(json::columns(&ctx, &nd, &fields, opts).expect("columns"));
            }
        }
        return;
    }
    println!("| round | file | validate (CPU time) | select (CPU time) |");
    println!("|---|---|---|---|");
    for round in 1..=3 {
        for (name, bytes, pointers) in docs.iter().filter(|(name, ..)| wanted(name)) {
            let validate = cpu_mbps(bytes.len(), budget, || json::validate(&ctx, bytes, opts).expect("valid"));
            let select = cpu_mbps(bytes.len(), budget, || drop(json::select(&ctx, bytes, pointers, opts).expect("selects")));
            println!("| {round} | {name} | {validate:.0} | {select:.0} |");
        }
        if !wanted("columns") {
            continue;
        }
        let cols = cpu_mbps(nd.len(), budget, || drop(json::columns(&ctx, &nd, &fields, opts).expect("columns")));
        let cols_par = pool.install(|| {
            let ctx = JobCtx::for_pool(&state);
            mbps(nd.len(), budget, || drop(json::columns(&ctx, &nd, &fields, opts).expect("columns")))
        });
        println!("| {round} | columns 1 thread / pool of {} | {cols:.0} | {cols_par:.0} |", pool.current_num_threads());
    }
}
