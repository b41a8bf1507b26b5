//! The controlling terminal for `opslab shell`: its size and raw mode (crossterm).

use std::io::IsTerminal;

/// Rows and columns of the terminal (24x80 when unknown).
pub fn size() -> (u16, u16) {
    crossterm::terminal::size()
        .map(|(cols, rows)| (rows, cols))
        .unwrap_or((24, 80))
}

pub fn is_tty() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// Puts the terminal in raw mode until dropped (nothing happens if it cannot).
pub struct RawMode {
    entered: bool,
}

impl RawMode {
    pub fn enter() -> RawMode {
        RawMode {
            entered: crossterm::terminal::enable_raw_mode().is_ok(),
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if self.entered {
            let _ = crossterm::terminal::disable_raw_mode();
        }
    }
}
