//! Random and mutated inputs through the whole front end (the same entry
//! point as the cargo-fuzz target in fuzz/): nothing may panic. Runs a
//! fixed, seeded number of cases so it is repeatable; `WHARF_FUZZ_CASES`
//! raises the count.

use std::path::Path;

/// xorshift64*: a tiny deterministic generator, so the test needs no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&str] = &[
    "FROM ",
    "RUN ",
    "COPY ",
    "ADD ",
    "ENV ",
    "ARG ",
    "LABEL ",
    "ONBUILD ",
    "HEALTHCHECK ",
    "CMD ",
    "SHELL ",
    "EXPOSE ",
    "VOLUME ",
    "WORKDIR ",
    "USER ",
    "--from=",
    "--mount=type=cache,target=/x ",
    "--chmod=",
    "<<EOF",
    "<<-'EOT'",
    "EOF",
    "\n",
    "\\\n",
    "`\n",
    "# escape=`\n",
    "# syntax=x\n",
    "[\"a\", \"b\"]",
    "[",
    "]",
    "\"",
    "'",
    "${A:-x}",
    "${A/a/b}",
    "${A%%*}",
    "$A",
    "=",
    " ",
    "\t",
    "\r\n",
    "#",
    "é",
    "\u{a0}",
    "\u{0}",
    "\\",
];

fn corpus() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/buildkit-parser/testfiles");
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if let Ok(b) = std::fs::read(e.path().join("Dockerfile")) {
                v.push(b);
            }
        }
    }
    v.push(b"FROM a\nRUN b\n".to_vec());
    v
}

fn generated(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.below(60) {
        if rng.below(8) == 0 {
            out.push(rng.next() as u8);
        } else {
            out.extend_from_slice(TOKENS[rng.below(TOKENS.len())].as_bytes());
        }
    }
    out
}

fn mutated(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut b = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(b.len() + 1);
        match rng.below(4) {
            0 if !b.is_empty() => {
                let end = (at + rng.below(16)).min(b.len());
                b.drain(at.min(end)..end);
            }
            1 => b.splice(at..at, TOKENS[rng.below(TOKENS.len())].bytes()).for_each(drop),
            2 if at < b.len() => b[at] = rng.next() as u8,
            _ => b.insert(at, rng.next() as u8),
        }
    }
    b
}

#[test]
fn random_and_mutated_inputs_never_panic() {
    let cases: usize = std::env::var("WHARF_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let seeds = corpus();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut parsed = 0;
    for i in 0..cases {
        let input = if i % 2 == 0 { generated(&mut rng) } else { mutated(&mut rng, &seeds) };
        if dockerfile::fuzz_one(&input) > 0 {
            parsed += 1;
        }
    }
    // The generator must reach the parser's success paths, not only errors.
    assert!(parsed > cases / 10, "only {parsed} of {cases} inputs parsed");
}

#[test]
fn pathological_inputs_are_refused_or_handled() {
    let deep_onbuild = "ONBUILD ".repeat(10_000) + "RUN x";
    assert!(dockerfile::parse(deep_onbuild.as_bytes()).is_err());
    // One line may hold 65535 bytes (as BuildKit's scanner); continuations
    // make an instruction of any length: 200,000 nested brackets.
    let deep_json = format!("CMD {}", format!("{}\\\n", "[".repeat(1000)).repeat(200));
    assert_eq!(dockerfile::parse(deep_json.as_bytes()).unwrap().instructions.len(), 1);
    let too_long = format!("RUN {}", "a".repeat(70_000));
    assert!(dockerfile::parse(too_long.as_bytes()).is_err());
    let long_continued = format!("RUN {}", "a \\\n".repeat(100_000));
    assert_eq!(dockerfile::parse(long_continued.as_bytes()).unwrap().instructions.len(), 1);
    let nested = format!("FROM a\nWORKDIR {}", "${A:-".repeat(10_000));
    assert_eq!(dockerfile::fuzz_one(nested.as_bytes()), 2);
}
