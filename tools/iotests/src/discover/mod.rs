//! Test discovery: what `check` learns from `# group:` lines upstream, read
//! here from the `iotests::iotest! { … }` / `iotests::unittest! { … }`
//! invocations in `tests/iotests/*.rs`.
//!
//! The contract with the test suite:
//!
//! * every `*.rs` file directly in the directory (and every `<dir>/mod.rs`)
//!   except `main.rs` / `lib.rs` is a module named after the file (or the
//!   directory, for `mod.rs`);
//! * an invocation is the token sequence `iotest ! {` or `unittest ! {` (any
//!   delimiter, optionally behind a path like `iotests::`), outside comments
//!   and string literals;
//! * inside it, at the top level of the macro body, the entry `name: "<upstream
//!   name>"` (a string literal, required) and the entry `groups: [a, b, "c"]`
//!   (identifiers or string literals, optional, trailing comma allowed) are
//!   read; an entry starts at the beginning of the body or after a top-level
//!   `,`, `;` or closing delimiter, so `name:` inside nested braces or
//!   expressions is never mistaken for it; everything else is ignored;
//! * the libtest tests generated for a module have paths starting with
//!   `<module>::`.
//!
//! Selection then mirrors `findtests.py` exactly (see [`select`]).

pub mod lex;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use lex::{Tok, Token};

/// The kind of test an invocation declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `iotest!`: a log compared with its snapshot.
    Iotest,
    /// `unittest!`: a unittest-style test (its snapshot is the runner's output).
    Unittest,
}

/// One test as declared in the sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestDef {
    /// The upstream test name (`"209"`, `"iothreads-stream"`): the snapshot name.
    pub name: String,
    /// Its groups, in source order.
    pub groups: Vec<String>,
    /// The Rust module holding it; libtest paths start with `<module>::`.
    pub module: String,
    /// Which macro declared it.
    pub kind: Kind,
    /// The source file.
    pub file: PathBuf,
    /// The line of the invocation.
    pub line: usize,
}

/// Read every test declared in the sources directly under `dir`, sorted by
/// name. Duplicate names are an error.
pub fn discover(dir: &Path) -> Result<Vec<TestDef>> {
    let mut files = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Selection(format!(
                "no iotests sources: {} does not exist (use --tests-dir or --manifest-path)",
                dir.display()
            )));
        }
        r => r.at(dir)?,
    };
    for entry in entries {
        let path = entry.at(dir)?.path();
        if path.is_dir() {
            let m = path.join("mod.rs");
            if m.is_file() {
                files.push(m);
            }
        } else if path.extension().is_some_and(|e| e == "rs")
            && !matches!(path.file_name().and_then(|n| n.to_str()), Some("main.rs" | "lib.rs"))
        {
            files.push(path);
        }
    }
    files.sort();
    let mut by_name: BTreeMap<String, TestDef> = BTreeMap::new();
    for file in files {
        let bytes = std::fs::read(&file).at(&file)?;
        let src = String::from_utf8(bytes).map_err(|_| Error::NotUtf8(file.clone()))?;
        for def in scan_source(&file, &src)? {
            if let Some(prev) = by_name.get(&def.name) {
                return Err(Error::Discover {
                    file: def.file,
                    line: def.line,
                    msg: format!("test {:?} is already declared in {}:{}", def.name, prev.file.display(), prev.line),
                });
            }
            by_name.insert(def.name.clone(), def);
        }
    }
    Ok(by_name.into_values().collect())
}

/// The module a source file defines: its stem, or its directory for `mod.rs`.
fn module_of(file: &Path) -> String {
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    if stem == "mod" {
        file.parent().and_then(|p| p.file_name()).and_then(|s| s.to_str()).unwrap_or_default().to_string()
    } else {
        stem.to_string()
    }
}

/// Find the test declarations in one source file.
pub fn scan_source(file: &Path, src: &str) -> Result<Vec<TestDef>> {
    let err = |line: usize, msg: String| Error::Discover { file: file.to_path_buf(), line, msg };
    let toks = lex::tokenize(src).map_err(|e| err(e.line, e.msg.to_string()))?;
    let mut defs = Vec::new();
    let mut i = 0;
    while i + 2 < toks.len() {
        let kind = match &toks[i].tok {
            Tok::Ident(s) if s == "iotest" => Kind::Iotest,
            Tok::Ident(s) if s == "unittest" => Kind::Unittest,
            _ => {
                i += 1;
                continue;
            }
        };
        if toks[i + 1].tok != Tok::Punct('!') || !matches!(toks[i + 2].tok, Tok::Open(_)) {
            i += 1;
            continue;
        }
        let line = toks[i].line;
        let end =
            matching_close(&toks, i + 2).ok_or_else(|| err(line, "unbalanced delimiters in invocation".into()))?;
        let body = &toks[i + 3..end];
        let (name, groups) = read_entries(body).map_err(|(l, m)| err(l.unwrap_or(line), m))?;
        let name = name.ok_or_else(|| err(line, "invocation without a `name: \"…\"` entry".into()))?;
        if name.is_empty() || name.contains('/') || name.chars().any(char::is_whitespace) {
            return Err(err(line, format!("unusable test name {name:?}")));
        }
        defs.push(TestDef { name, groups, module: module_of(file), kind, file: file.to_path_buf(), line });
        i = end + 1;
    }
    Ok(defs)
}

/// Index of the delimiter closing the one opened at `open`.
fn matching_close(toks: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (j, t) in toks.iter().enumerate().skip(open) {
        match t.tok {
            Tok::Open(_) => depth += 1,
            Tok::Close(_) => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

type EntryError = (Option<usize>, String);

/// Read the `name` and `groups` entries at the top level of a macro body.
fn read_entries(body: &[Token]) -> Result<(Option<String>, Vec<String>), EntryError> {
    let mut name: Option<String> = None;
    let mut groups: Option<Vec<String>> = None;
    let mut depth = 0usize;
    let mut entry_start = true;
    let mut i = 0;
    while i < body.len() {
        let t = &body[i].tok;
        let at_entry = depth == 0 && entry_start;
        entry_start = false;
        match t {
            Tok::Open(_) => depth += 1,
            Tok::Close(_) => {
                depth = depth.saturating_sub(1);
                entry_start = depth == 0;
            }
            Tok::Punct(',' | ';') if depth == 0 => entry_start = true,
            Tok::Ident(key) if at_entry && is_key_colon(body, i) => {
                let line = Some(body[i].line);
                let value = body.get(i + 2).map(|t| &t.tok);
                match (key.as_str(), value) {
                    ("name", Some(Tok::Str(s))) => {
                        if name.replace(s.clone()).is_some() {
                            return Err((line, "duplicate `name:` entry".into()));
                        }
                        i += 3;
                        continue;
                    }
                    ("name", _) => return Err((line, "`name:` must be a string literal".into())),
                    ("groups", Some(Tok::Open('['))) => {
                        let (list, next) = read_list(body, i + 2)?;
                        if groups.replace(list).is_some() {
                            return Err((line, "duplicate `groups:` entry".into()));
                        }
                        i = next;
                        continue;
                    }
                    ("groups", _) => return Err((line, "`groups:` must be a list `[a, b, …]`".into())),
                    _ => {}
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok((name, groups.unwrap_or_default()))
}

/// Whether `body[i]` is followed by a single `:` (not a path's `::`).
fn is_key_colon(body: &[Token], i: usize) -> bool {
    body.get(i + 1).is_some_and(|t| t.tok == Tok::Punct(':'))
        && !body.get(i + 2).is_some_and(|t| t.tok == Tok::Punct(':'))
}

/// Read `[a, "b", c,]` starting at the `[`; returns the items and the index
/// after the `]`.
fn read_list(body: &[Token], open: usize) -> Result<(Vec<String>, usize), EntryError> {
    let mut items = Vec::new();
    let mut expect_item = true;
    for (j, t) in body.iter().enumerate().skip(open + 1) {
        match &t.tok {
            Tok::Close(']') => return Ok((items, j + 1)),
            Tok::Ident(s) | Tok::Str(s) if expect_item => {
                items.push(s.clone());
                expect_item = false;
            }
            Tok::Punct(',') if !expect_item => expect_item = true,
            _ => {
                return Err((Some(t.line), "groups must be identifiers or string literals separated by commas".into()));
            }
        }
    }
    Err((body.get(open).map(|t| t.line), "unterminated `groups:` list".into()))
}

/// What to run: `check`'s `-g`, `-x`, `--start-from` and test names.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `-g`: include the tests of these groups.
    pub groups: Vec<String>,
    /// `-x`: exclude the tests of these groups.
    pub exclude: Vec<String>,
    /// Test names (or module names, or glob patterns over names).
    pub tests: Vec<String>,
    /// `--start-from`: drop the sorted tests before this one.
    pub start_from: Option<String>,
}

/// Split `-g a,b` style values, dropping empty items.
pub fn split_groups(values: &[String]) -> Vec<String> {
    values.iter().flat_map(|v| v.split(',')).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

/// Resolve one test argument like `findtests.parse_test_name`: `1` → `001`;
/// a name, a module name or a glob pattern over names.
fn resolve<'a>(all: &'a [TestDef], arg: &str) -> Result<Vec<&'a TestDef>> {
    if arg.contains('/') {
        return Err(Error::Selection(format!(
            "Paths are unsupported for test selection, requiring \"{arg}\" is wrong"
        )));
    }
    let name = match arg.parse::<u32>() {
        Ok(n) if arg.bytes().all(|b| b.is_ascii_digit()) => format!("{n:03}"),
        _ => arg.to_string(),
    };
    if let Some(t) = all.iter().find(|t| t.name == name).or_else(|| all.iter().find(|t| t.module == name)) {
        return Ok(vec![t]);
    }
    if name.contains(['*', '?', '[']) {
        let pat = glob::Pattern::new(&name).map_err(|e| Error::Selection(format!("bad pattern \"{name}\": {e}")))?;
        let found: Vec<_> = all.iter().filter(|t| pat.matches(&t.name)).collect();
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Err(Error::Selection(format!("Test \"{name}\" is not found")))
}

/// `findtests.find_tests`: groups (minus excluded ones and `disabled`), or
/// named tests, or everything minus excluded groups; named tests are always
/// added; sorted; then `--start-from`. Selecting nothing is an error.
pub fn select<'a>(all: &'a [TestDef], sel: &Selection) -> Result<Vec<&'a TestDef>> {
    let in_any = |t: &TestDef, groups: &[String]| t.groups.iter().any(|g| groups.contains(g));
    let mut exclude = sel.exclude.clone();
    if !sel.groups.iter().chain(&sel.exclude).any(|g| g == "disabled") {
        exclude.push("disabled".into());
    }
    let mut res: BTreeMap<&str, &TestDef> = BTreeMap::new();
    if !sel.groups.is_empty() {
        res.extend(all.iter().filter(|t| in_any(t, &sel.groups)).map(|t| (t.name.as_str(), t)));
    } else if !sel.tests.is_empty() {
        if !sel.exclude.is_empty() {
            return Err(Error::Selection("Can't exclude from individually specified tests.".into()));
        }
    } else {
        res.extend(all.iter().map(|t| (t.name.as_str(), t)));
    }
    res.retain(|_, t| !in_any(t, &exclude));
    for arg in &sel.tests {
        res.extend(resolve(all, arg)?.into_iter().map(|t| (t.name.as_str(), t)));
    }
    let mut seq: Vec<&TestDef> = res.into_values().collect();
    if let Some(from) = &sel.start_from {
        let first = resolve(all, from)?;
        let start = first.first().and_then(|f| seq.iter().position(|t| t.name == f.name));
        let start = start.ok_or_else(|| Error::Selection(format!("Test \"{from}\" is not selected")))?;
        seq.drain(..start);
    }
    if seq.is_empty() {
        return Err(Error::Selection("No tests selected".into()));
    }
    Ok(seq)
}

/// A `--shard K/N`: the K-th (1-based) of N round-robin slices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which slice, 1-based.
    pub k: usize,
    /// How many slices.
    pub n: usize,
}

impl std::str::FromStr for Shard {
    type Err = Error;

    fn from_str(s: &str) -> Result<Shard> {
        let bad = || Error::Shard(s.to_string());
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n) = (k.trim().parse::<usize>().map_err(|_| bad())?, n.trim().parse::<usize>().map_err(|_| bad())?);
        if k == 0 || k > n { Err(bad()) } else { Ok(Shard { k, n }) }
    }
}

impl Shard {
    /// Keep this shard's tests: sorted by name, the i-th goes to shard
    /// `i % N + 1`, so shards are disjoint, complete and stable.
    pub fn apply<'a>(&self, mut tests: Vec<&'a TestDef>) -> Vec<&'a TestDef> {
        tests.sort_by(|a, b| a.name.cmp(&b.name));
        tests.into_iter().enumerate().filter(|(i, _)| i % self.n == self.k - 1).map(|(_, t)| t).collect()
    }
}

#[cfg(test)]
mod tests;
