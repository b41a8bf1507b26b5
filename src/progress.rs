//! How library code reports progress: through this trait, so that only the application draws
//! bars (and draws none when output is not a terminal or JSON is asked for).

pub trait Progress: Send + Sync {
    /// A new task begins; `total` is the number of steps when known.
    fn begin(&self, task: &str, total: Option<u64>);
    /// The current step of the task.
    fn step(&self, message: &str);
    /// One unit of the task is done.
    fn advance(&self);
    /// The task ended.
    fn finish(&self, message: &str);
    /// A line worth keeping on screen (which path was taken, a warning).
    fn note(&self, message: &str);
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn begin(&self, _: &str, _: Option<u64>) {}
    fn step(&self, _: &str) {}
    fn advance(&self) {}
    fn finish(&self, _: &str) {}
    fn note(&self, _: &str) {}
}
