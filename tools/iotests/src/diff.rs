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
/// lines red, added lines green. Where a run of removed lines is followed by
/// as many added lines, each pair is compared word by word and the changed
/// words are underlined — the part that changed inside a long one-line QMP
/// JSON stands out, as in `cargo insta review`.
pub fn colorize(diff: &str) -> String {
    let lines: Vec<&str> = diff.split_inclusive('\n').collect();
    let mut out = String::with_capacity(diff.len() + diff.len() / 4);
    let mut i = 0;
    while i < lines.len() {
        let body = lines[i].trim_end_matches('\n');
        let is_removed = body.starts_with('-') && !body.starts_with("---");
        if is_removed {
            let dels = lines[i..].iter().take_while(|l| l.starts_with('-') && !l.starts_with("---")).count();
            let adds = lines[i + dels..].iter().take_while(|l| l.starts_with('+') && !l.starts_with("+++")).count();
            for k in 0..dels + adds {
                let line = lines[i + k];
                out.push_str(&if dels != adds {
                    let color = if k < dels { "\x1b[31m" } else { "\x1b[32m" };
                    format!("{color}{}\x1b[0m\n", line.trim_end_matches('\n'))
                } else if k < dels {
                    inline_line('-', strip(line), strip(lines[i + dels + k]))
                } else {
                    inline_line('+', strip(lines[i + k - dels]), strip(line))
                });
            }
            i += dels + adds;
            continue;
        }
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
            out.push_str(lines[i]);
        } else {
            let nl = if lines[i].ends_with('\n') { "\n" } else { "" };
            out.push_str(&format!("{color}{body}\x1b[0m{nl}"));
        }
        i += 1;
    }
    out
}

/// A diff line without its marker and newline.
fn strip(line: &str) -> &str {
    line.trim_end_matches('\n').get(1..).unwrap_or("")
}

/// One side (`-` or `+`) of a changed line pair, the words that differ from
/// the other side underlined.
fn inline_line(side: char, old: &str, new: &str) -> String {
    const UNDERLINE: &str = "\x1b[4m";
    const NO_UNDERLINE: &str = "\x1b[24m";
    let color = if side == '-' { "\x1b[31m" } else { "\x1b[32m" };
    let mut s = format!("{color}{side}");
    let words = TextDiff::configure().timeout(DIFF_TIMEOUT).diff_words(old, new);
    for change in words.iter_all_changes() {
        let (keep, emphasize) = match (side, change.tag()) {
            (_, ChangeTag::Equal) => (true, false),
            ('-', ChangeTag::Delete) | ('+', ChangeTag::Insert) => (true, true),
            _ => (false, false),
        };
        if !keep {
            continue;
        }
        if emphasize && !change.value().trim().is_empty() {
            s.push_str(&format!("{UNDERLINE}{}{NO_UNDERLINE}", change.value()));
        } else {
            s.push_str(change.value());
        }
    }
    s.push_str("\x1b[0m\n");
    s
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
        assert_eq!(colorize("-x\n-w\n+y\n z\n"), "\x1b[31m-x\x1b[0m\n\x1b[31m-w\x1b[0m\n\x1b[32m+y\x1b[0m\n z\n");
        assert_eq!(colorize("--- a\n@@ -1 +1 @@\n"), "\x1b[1m--- a\x1b[0m\n\x1b[36m@@ -1 +1 @@\x1b[0m\n");
    }

    #[test]
    fn changed_words_are_underlined() {
        let c = colorize("-{\"return\": {\"status\": \"ready\"}}\n+{\"return\": {\"status\": \"running\"}}\n");
        assert!(c.starts_with("\x1b[31m-{\"return\": {\"status\": \x1b[4m"), "{c:?}");
        assert!(c.contains("\x1b[4m\"ready\"}}\x1b[24m") && c.contains("\x1b[4m\"running\"}}\x1b[24m"), "{c:?}");
        assert!(!c.contains("\x1b[4mreturn"), "{c:?}");
    }
}
