//! Inline flags: Python's `_parse_flags`.

use super::PyReError;
use super::ast::flag;
use super::lex::{Source, Tok};
use super::parse::{State, invalid};

/// A flag's letter.
fn flag_of(c: char) -> Option<u32> {
    Some(match c {
        'i' => flag::IGNORECASE,
        'L' => flag::LOCALE,
        'm' => flag::MULTILINE,
        's' => flag::DOTALL,
        'x' => flag::VERBOSE,
        'a' => flag::ASCII,
        't' => 1, // SRE_FLAG_TEMPLATE
        'u' => flag::UNICODE,
        _ => return None,
    })
}

/// Python's `_parse_flags`: `None` for global flags (`(?x)`), else the
/// flags a scoped group `(?x-y:...)` adds and removes.
pub(super) fn parse_flags(src: &mut Source, state: &mut State, mut c: char) -> Result<Option<(u32, u32)>, PyReError> {
    const GLOBAL: u32 = 1; // TEMPLATE (DEBUG cannot be written inline)
    let (mut add, mut del) = (0u32, 0u32);
    let name_err = |t: Tok, missing: &str| {
        if !t.escaped && t.c.is_alphabetic() { invalid("unknown flag") } else { invalid(missing.to_string()) }
    };
    if c != '-' {
        loop {
            let f = flag_of(c).unwrap_or(0);
            if c == 'L' {
                return Err(invalid("bad inline flags: cannot use 'L' flag with a str pattern"));
            }
            add |= f;
            if f & flag::TYPE != 0 && add & flag::TYPE != f {
                return Err(invalid("bad inline flags: flags 'a', 'u' and 'L' are incompatible"));
            }
            let t = src.get()?.ok_or_else(|| invalid("missing -, : or )"))?;
            if t.is_in(")-:") {
                c = t.c;
                break;
            }
            match t.plain().and_then(flag_of) {
                Some(_) => c = t.c,
                None => return Err(name_err(t, "missing -, : or )")),
            }
        }
    }
    if c == ')' {
        state.flags |= add;
        return Ok(None);
    }
    if add & GLOBAL != 0 {
        return Err(invalid("bad inline flags: cannot turn on global flag"));
    }
    if c == '-' {
        let t = src.get()?.ok_or_else(|| invalid("missing flag"))?;
        if t.plain().and_then(flag_of).is_none() {
            return Err(name_err(t, "missing flag"));
        }
        let mut c = t.c;
        loop {
            let f = flag_of(c).unwrap_or(0);
            if f & flag::TYPE != 0 {
                return Err(invalid("bad inline flags: cannot turn off flags 'a', 'u' and 'L'"));
            }
            del |= f;
            let t = src.get()?.ok_or_else(|| invalid("missing :"))?;
            if t.is(':') {
                break;
            }
            match t.plain().and_then(flag_of) {
                Some(_) => c = t.c,
                None => return Err(name_err(t, "missing :")),
            }
        }
    }
    if del & GLOBAL != 0 {
        return Err(invalid("bad inline flags: cannot turn off global flag"));
    }
    if add & del != 0 {
        return Err(invalid("bad inline flags: flag turned on and off"));
    }
    Ok(Some((add, del)))
}
