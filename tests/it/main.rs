//! opslab's integration tests: one binary, a module per subject. Tests whose names end in
//! `_docker` drive the real Docker engine and fail with a clear message when none answers.

mod support;

mod bounds;
mod class;
mod fuzz;
mod grading;
mod invalid_labs;
mod privilege;
mod report_schemas;
mod runner;
mod snapshots;
mod tracker;
