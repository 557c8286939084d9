//! Parse throughput on a large Dockerfile made from BuildKit's corpus
//! (repeated to about 20,000 lines). Reported in bytes per second.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn big_dockerfile() -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/buildkit-parser/testfiles");
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir).expect("corpus").flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let Ok(mut b) = std::fs::read(p.join("Dockerfile")) else {
            continue;
        };
        // Directives are only valid at the very top; drop the escape ones
        // so the concatenation parses as one file.
        if b.starts_with(b"#") && b.windows(7).take(40).any(|w| w.eq_ignore_ascii_case(b"escape=")) {
            continue;
        }
        // A file ending inside a continuation would swallow the next one.
        if b.trim_ascii_end().ends_with(b"\\") {
            continue;
        }
        if !b.ends_with(b"\n") {
            b.push(b'\n');
        }
        parts.push(b);
    }
    let mut out = b"FROM scratch\n".to_vec();
    while out.iter().filter(|b| **b == b'\n').count() < 20_000 {
        for p in &parts {
            out.extend_from_slice(p);
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let src = big_dockerfile();
    let lines = src.iter().filter(|b| **b == b'\n').count();
    let parsed = dockerfile::parse(&src).expect("the big Dockerfile parses");
    eprintln!("input: {} bytes, {lines} lines, {} instructions", src.len(), parsed.instructions.len());
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Bytes(src.len() as u64));
    g.bench_function("ast", |b| b.iter(|| dockerfile::parse(std::hint::black_box(&src)).expect("parses")));
    g.bench_function("ast+stages", |b| {
        b.iter(|| {
            let df = dockerfile::parse(std::hint::black_box(&src)).expect("parses");
            dockerfile::stages(&df).map(|s| s.stages.len()).unwrap_or(0)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
