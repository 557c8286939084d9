//! wharf's Dockerfile front end: a parser that matches BuildKit's byte for
//! byte, a typed model of every instruction, BuildKit's shell-word
//! expansion, and `.dockerignore` matching.
//!
//! Pure: no I/O beyond the bytes handed in.

pub mod ast;
mod gostr;
mod json_array;
pub mod shell;

pub use ast::{parse, Arg, Directive, Dockerfile, Heredoc, Instruction, SyntaxError, Warning};
pub mod dockerignore;
pub mod expand;
mod flags;
pub mod instructions;
pub mod mounts;

pub use instructions::{stages, Command, InstructionError, Location, Stage, Stages};

/// Drives every entry point of the crate with one input; used by the fuzz
/// target and the randomized robustness test. Returns how many
/// instructions parsed.
#[doc(hidden)]
pub fn fuzz_one(data: &[u8]) -> usize {
    use shell::Lexer;
    let text = String::from_utf8_lossy(data);
    let env: Vec<(String, String)> = vec![("A".into(), "value".into()), ("E".into(), String::new())];
    let _ = Lexer::new('\\').process(&text, &env);
    let _ = dockerignore::Dockerignore::parse(&text).map(|d| d.excludes("a/b/c.txt"));
    let Ok(df) = parse(data) else { return 0 };
    let _ = df.dump();
    if let Ok(st) = stages(&df) {
        let lex = Lexer::new(st.escape);
        for stage in &st.stages {
            for c in &stage.commands {
                let _ = expand::expand_command(&lex, &env, &c.command);
            }
        }
    }
    df.instructions.len()
}
