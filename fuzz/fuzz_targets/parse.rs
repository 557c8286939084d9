//! Any bytes through the whole front end: parse, dump, typed model,
//! expansion, heredoc lexing and .dockerignore. Nothing may panic, hang or
//! allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dockerfile::fuzz_one(data);
});
