//! Small text helpers shared by the commands and the library.

/// The last `n` lines of `text`, in order.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn last_lines_keeps_the_end_in_order() {
        assert_eq!(super::last_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(super::last_lines("a", 5), "a");
        assert_eq!(super::last_lines("", 5), "");
    }
}
