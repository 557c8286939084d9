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
