//! Unified diffs (with `similar`), optionally colored for a terminal.

use std::time::Duration;

use similar::{ChangeTag, TextDiff};

/// How long a diff may search for a minimal edit script before settling for
/// a larger one; huge logs must not stall a run.
const DIFF_TIMEOUT: Duration = Duration::from_secs(5);

fn text_diff<'a>(old: &'a str, new: &'a str) -> TextDiff<'a, 'a, str> {
    TextDiff::configure().timeout(DIFF_TIMEOUT).diff_lines(old, new)
}

/// A unified diff of two texts with `context` lines around each change and
/// `---`/`+++` headers; empty when the texts are equal.
///
/// Texts are compared line by line; a missing final newline is not reported
/// separately (snapshot bodies are normalised to end with one).
pub fn unified(old: &str, new: &str, old_label: &str, new_label: &str, context: usize) -> String {
    let old = with_final_newline(old);
    let new = with_final_newline(new);
    text_diff(&old, &new)
        .unified_diff()
        .context_radius(context)
        .missing_newline_hint(false)
        .header(old_label, new_label)
        .to_string()
}

fn with_final_newline(s: &str) -> String {
    let mut s = s.to_string();
    if !s.is_empty() && !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// Lines added and removed going from `old` to `new`.
pub fn count_changes(old: &str, new: &str) -> (usize, usize) {
    let (old, new) = (with_final_newline(old), with_final_newline(new));
    let diff = text_diff(&old, &new);
    diff.iter_all_changes().fold((0, 0), |(a, r), c| match c.tag() {
        ChangeTag::Insert => (a + 1, r),
        ChangeTag::Delete => (a, r + 1),
        ChangeTag::Equal => (a, r),
    })
}

/// Color a unified diff with ANSI escapes: headers bold, hunks cyan, removed
/// lines red, added lines green.
pub fn colorize(diff: &str) -> String {
    let mut out = String::with_capacity(diff.len() + diff.len() / 4);
    for line in diff.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let color = if body.starts_with("---") || body.starts_with("+++") {
            "\x1b[1m"
        } else if body.starts_with("@@") {
            "\x1b[36m"
        } else if body.starts_with('-') {
            "\x1b[31m"
        } else if body.starts_with('+') {
            "\x1b[32m"
        } else {
            ""
        };
        if color.is_empty() {
            out.push_str(line);
        } else {
            out.push_str(&format!("{color}{body}\x1b[0m{nl}"));
        }
    }
    out
}

/// Indent every line of `text` by `prefix`.
pub fn indent(text: &str, prefix: &str) -> String {
    text.lines().map(|l| format!("{prefix}{l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_diff_has_headers_and_hunks() {
        let d = unified("a\nb\nc\n", "a\nB\nc", "old", "new", 3);
        assert_eq!(d, "--- old\n+++ new\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
        assert_eq!(unified("x\n", "x", "o", "n", 3), "");
    }

    #[test]
    fn counts_and_colors() {
        assert_eq!(count_changes("a\nb\n", "a\nc\nd\n"), (2, 1));
        assert_eq!(count_changes("", "a\n"), (1, 0));
        assert_eq!(colorize("-x\n+y\n z\n"), "\x1b[31m-x\x1b[0m\n\x1b[32m+y\x1b[0m\n z\n");
    }
}
