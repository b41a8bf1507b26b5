//! opslab: hands-on DevOps labs in containers, graded by making the system act.
//!
//! The library holds everything; `main.rs` only parses arguments and maps errors to exit codes.

pub mod app;
pub mod backend;
pub mod class;
pub mod cli;
pub mod grade;
pub mod history;
pub mod images;
pub mod lab;
pub mod progress;
pub mod project;
pub mod report;
pub mod session;
pub mod signing;
pub mod terminal;
