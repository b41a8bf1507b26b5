//! How library code reports progress: through this trait, so that only the application draws
//! bars (and draws none when output is not a terminal or JSON is asked for).

use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

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
    /// The current step of `part`, one of several parts of the task going on side by side
    /// (images building at once): each part keeps a line of its own.
    fn part(&self, part: &str, message: &str) {
        self.step(&format!("{part}: {message}"));
    }
    /// `part` ended with `message`.
    fn part_done(&self, part: &str, message: &str) {
        self.note(&format!("  {part}: {message}"));
    }
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

/// Progress drawn with indicatif on a terminal; plain lines on stderr otherwise.
pub struct Bars {
    bar: std::sync::Mutex<Option<ProgressBar>>,
    /// The bars drawn together: the task's, then one per part.
    multi: MultiProgress,
    parts: std::sync::Mutex<Vec<(String, ProgressBar)>>,
    draw: bool,
    quiet: bool,
}

impl Bars {
    pub fn new(quiet: bool) -> Bars {
        Bars {
            bar: std::sync::Mutex::new(None),
            multi: MultiProgress::new(),
            parts: std::sync::Mutex::new(Vec::new()),
            draw: !quiet
                && std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
            quiet,
        }
    }
}

impl Progress for Bars {
    fn begin(&self, task: &str, total: Option<u64>) {
        if self.quiet {
            return;
        }
        if !self.draw {
            eprintln!("{task}...");
            return;
        }
        let bar = match total {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner:.cyan} {prefix} [{bar:24.cyan/blue}] {pos}/{len} {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(task.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        let bar = self.multi.add(bar);
        if let Ok(mut b) = self.bar.lock() {
            *b = Some(bar);
        }
    }
    fn step(&self, message: &str) {
        if self.quiet {
            return;
        }
        match self.bar.lock().ok().and_then(|b| b.clone()) {
            Some(b) => b.set_message(message.to_string()),
            None if !self.draw => eprintln!("  {message}"),
            None => {}
        }
    }
    fn advance(&self) {
        if let Some(b) = self.bar.lock().ok().and_then(|b| b.clone()) {
            b.inc(1);
        }
    }
    fn finish(&self, message: &str) {
        if self.quiet {
            return;
        }
        match self.bar.lock().ok().and_then(|mut b| b.take()) {
            Some(b) => b.finish_and_clear(),
            None => eprintln!("  {message}"),
        }
    }
    fn note(&self, message: &str) {
        if self.quiet {
            return;
        }
        match self.bar.lock().ok().and_then(|b| b.clone()) {
            Some(b) => b.println(message),
            None => eprintln!("{message}"),
        }
    }
    fn part(&self, part: &str, message: &str) {
        if self.quiet {
            return;
        }
        if !self.draw {
            eprintln!("  {part}: {message}");
            return;
        }
        let Ok(mut parts) = self.parts.lock() else {
            return;
        };
        let bar = match parts.iter().find(|(p, _)| p == part) {
            Some((_, b)) => b.clone(),
            None => {
                let b = self.multi.add(ProgressBar::new_spinner());
                b.set_style(
                    ProgressStyle::with_template("  {spinner:.cyan} {prefix:.bold} {wide_msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                b.set_prefix(part.to_string());
                b.enable_steady_tick(Duration::from_millis(120));
                parts.push((part.to_string(), b.clone()));
                b
            }
        };
        bar.set_message(message.to_string());
    }
    fn part_done(&self, part: &str, message: &str) {
        if self.quiet {
            return;
        }
        let bar = self.parts.lock().ok().and_then(|mut parts| {
            let i = parts.iter().position(|(p, _)| p == part)?;
            Some(parts.remove(i).1)
        });
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        self.note(&format!("  {part}: {message}"));
    }
}
