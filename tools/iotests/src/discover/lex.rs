//! A small regex-driven Rust tokenizer: just enough to find macro
//! invocations and their top-level `key: value` entries without being fooled
//! by comments, string contents or nested braces.
//!
//! It knows comments (nested block comments too), string, byte-string and raw
//! string literals, char literals versus lifetimes, identifiers (raw ones
//! too), numbers and single-character punctuation. Delimiters are tokens of
//! their own; the scanner does the nesting.

use std::sync::LazyLock;

use regex::Regex;

/// One token of Rust source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// An identifier or keyword, without any `r#` prefix.
    Ident(String),
    /// A string literal's value (escapes resolved, raw strings verbatim).
    Str(String),
    /// `(`, `[` or `{`.
    Open(char),
    /// `)`, `]` or `}`.
    Close(char),
    /// Any other single punctuation character (`:`, `,`, `!`, …).
    Punct(char),
    /// A number, char literal or lifetime: nothing the scanner looks at.
    Other,
}

/// A token with the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Its line, for error messages.
    pub line: usize,
}

/// Why the source could not be tokenized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    /// 1-based line of the problem.
    pub line: usize,
    /// What is wrong.
    pub msg: &'static str,
}

// Each pattern is anchored with \A and tried on the rest of the source.
static WS: LazyLock<Regex> = LazyLock::new(|| re(r"\A\s+"));
static LINE_COMMENT: LazyLock<Regex> = LazyLock::new(|| re(r"\A//[^\n]*"));
static RAW_STR_OPEN: LazyLock<Regex> = LazyLock::new(|| re(r#"\A(?:b|c)?r(#*)""#));
static STR: LazyLock<Regex> = LazyLock::new(|| re(r#"\A(?:b|c)?"((?s:[^"\\]|\\.)*)""#));
static CHAR: LazyLock<Regex> =
    LazyLock::new(|| re(r"\Ab?'(?:[^'\\\n]|\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F_]{1,8}\}|.))'"));
static LIFETIME: LazyLock<Regex> = LazyLock::new(|| re(r"\A'[\p{L}_][\p{L}\p{N}_]*"));
static IDENT: LazyLock<Regex> = LazyLock::new(|| re(r"\A(?:r#)?([\p{L}_][\p{L}\p{N}_]*)"));
static NUMBER: LazyLock<Regex> = LazyLock::new(|| re(r"\A[0-9][0-9A-Za-z_]*(?:\.[0-9][0-9A-Za-z_]*)?"));

fn re(pattern: &str) -> Regex {
    // The patterns are constants checked by the unit tests below.
    Regex::new(pattern).unwrap_or_else(|e| unreachable!("bad built-in regex {pattern}: {e}"))
}

/// Tokenize Rust source text.
pub fn tokenize(src: &str) -> Result<Vec<Token>, LexError> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut line = 1;
    while pos < src.len() {
        let rest = &src[pos..];
        let start_line = line;
        let (len, tok) = if let Some(m) = WS.find(rest).or_else(|| LINE_COMMENT.find(rest)) {
            (m.len(), None)
        } else if rest.starts_with("/*") {
            (block_comment_len(rest).ok_or(LexError { line, msg: "unterminated block comment" })?, None)
        } else if let Some(c) = RAW_STR_OPEN.captures(rest) {
            let open = c.get(0).map_or(0, |m| m.len());
            let close = format!("\"{}", c.get(1).map_or("", |m| m.as_str()));
            let end = rest[open..].find(&close).ok_or(LexError { line, msg: "unterminated raw string" })?;
            (open + end + close.len(), Some(Tok::Str(rest[open..open + end].to_string())))
        } else if let Some(c) = STR.captures(rest) {
            let body = c.get(1).map_or("", |m| m.as_str());
            (c.get(0).map_or(0, |m| m.len()), Some(Tok::Str(unescape(body))))
        } else if rest.starts_with('"') || rest.starts_with("b\"") || rest.starts_with("c\"") {
            return Err(LexError { line, msg: "unterminated string literal" });
        } else if let Some(m) = CHAR.find(rest).or_else(|| LIFETIME.find(rest)) {
            (m.len(), Some(Tok::Other))
        } else if let Some(c) = IDENT.captures(rest) {
            let name = c.get(1).map_or("", |m| m.as_str()).to_string();
            (c.get(0).map_or(0, |m| m.len()), Some(Tok::Ident(name)))
        } else if let Some(m) = NUMBER.find(rest) {
            (m.len(), Some(Tok::Other))
        } else {
            let ch = rest.chars().next().unwrap_or(' ');
            let tok = match ch {
                '(' | '[' | '{' => Tok::Open(ch),
                ')' | ']' | '}' => Tok::Close(ch),
                c => Tok::Punct(c),
            };
            (ch.len_utf8(), Some(tok))
        };
        line += rest[..len].matches('\n').count();
        pos += len;
        if let Some(tok) = tok {
            out.push(Token { tok, line: start_line });
        }
    }
    Ok(out)
}

/// Length of a (possibly nested) block comment at the start of `s`.
fn block_comment_len(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0;
    let b = s.as_bytes();
    while i + 1 < b.len() {
        match (b[i], b[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// Resolve the escapes of a (non-raw) string literal body.
fn unescape(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                out.extend(u8::from_str_radix(&hex, 16).ok().map(char::from));
            }
            Some('u') => {
                let hex: String = chars.by_ref().skip(1).take_while(|&c| c != '}').filter(|&c| c != '_').collect();
                out.extend(u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32));
            }
            // A line continuation skips the newline and the next line's indent.
            Some('\n') => {
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        tokenize(src).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn skips_comments_and_keeps_strings() {
        let t = toks("a /* x /* y */ z */ // c\n\"s\\\"q\" r#\"raw\"# 'c' 'life b'");
        assert_eq!(
            t,
            vec![
                Tok::Ident("a".into()),
                Tok::Str("s\"q".into()),
                Tok::Str("raw".into()),
                Tok::Other,
                Tok::Other,
                Tok::Ident("b".into()),
                Tok::Punct('\''),
            ]
        );
    }

    #[test]
    fn lines_are_counted() {
        let t = tokenize("a\n/*\n*/\n\"x\ny\"\nb").unwrap();
        assert_eq!(t.iter().map(|t| t.line).collect::<Vec<_>>(), vec![1, 4, 6]);
    }

    #[test]
    fn unterminated_literals_are_errors() {
        assert_eq!(tokenize("x\n\"abc").unwrap_err().line, 2);
        assert!(tokenize("/* open").is_err());
        assert!(tokenize("r#\"open\"").is_err());
    }

    #[test]
    fn escapes() {
        assert_eq!(unescape(r"a\nb\x41\u{263a}\\"), "a\nbA\u{263a}\\");
    }
}
