//! The controlling terminal: its size and raw mode for `opslab shell`, through `stty` so that
//! no unsafe code is needed.

use std::io::IsTerminal;
use std::process::{Command, Stdio};

/// Rows and columns of the terminal (24x80 when unknown).
pub fn size() -> (u16, u16) {
    console::Term::stdout().size_checked().unwrap_or((24, 80))
}

pub fn is_tty() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// Puts the terminal in raw mode until dropped.
pub struct RawMode {
    saved: Option<String>,
}

impl RawMode {
    pub fn enter() -> RawMode {
        let saved = Command::new("stty")
            .arg("-g")
            .stdin(Stdio::inherit())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        if saved.is_some() {
            let _ = Command::new("stty")
                .args(["raw", "-echo"])
                .stdin(Stdio::inherit())
                .status();
        }
        RawMode { saved }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(s) = &self.saved {
            let _ = Command::new("stty").arg(s).stdin(Stdio::inherit()).status();
        }
    }
}
