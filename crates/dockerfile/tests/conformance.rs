//! BuildKit's parser corpus, read in place from ../shared/conformance.
//! Every case in `testfiles/` must dump byte-identically to `result`; every
//! case in `testfiles-negative/` must fail; `testfile-line` checks lines.

use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::var_os("WHARF_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../../shared/conformance/buildkit-parser"));
    assert!(dir.is_dir(), "conformance corpus not found at {} (set WHARF_CONFORMANCE_DIR)", dir.display());
    dir
}

fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

#[test]
fn positive_cases_dump_identically() {
    let all = cases(&corpus().join("testfiles"));
    assert!(all.len() >= 30, "expected the whole corpus, found {} cases", all.len());
    let mut mismatches = Vec::new();
    for case in &all {
        let src = std::fs::read(case.join("Dockerfile")).expect("Dockerfile");
        let want = std::fs::read_to_string(case.join("result")).expect("result");
        match dockerfile::parse(&src) {
            Ok(df) if df.dump() == want => {}
            Ok(df) => mismatches.push(format!("{}:\n--- want\n{want}--- got\n{}", case.display(), df.dump())),
            Err(e) => mismatches.push(format!("{}: unexpected error at line {}: {e}", case.display(), e.line)),
        }
    }
    assert!(mismatches.is_empty(), "{} of {} cases differ:\n{}", mismatches.len(), all.len(), mismatches.join("\n"));
}

#[test]
fn negative_cases_fail_with_a_line() {
    let all = cases(&corpus().join("testfiles-negative"));
    assert!(!all.is_empty());
    let mut accepted = Vec::new();
    for case in &all {
        let src = std::fs::read(case.join("Dockerfile")).expect("Dockerfile");
        match dockerfile::parse(&src) {
            Ok(_) => accepted.push(case.display().to_string()),
            Err(e) => assert!(!e.message.is_empty()),
        }
    }
    assert!(accepted.is_empty(), "these negative cases parsed without error: {accepted:?}");
}

#[test]
fn line_numbers_match_buildkit() {
    let src = std::fs::read(corpus().join("testfile-line/Dockerfile")).expect("Dockerfile");
    let df = dockerfile::parse(&src).expect("parses");
    assert_eq!(df.lines(), (5, 31));
    let spans: Vec<(usize, usize)> = df.instructions.iter().map(|i| (i.start_line, i.end_line)).collect();
    assert_eq!(spans, vec![(5, 5), (11, 12), (17, 31)]);
}
