//! The `random` functions upstream tests call (`random.randrange` with one
//! or two arguments, `random.shuffle`): uniformly random, seeded from the
//! OS per thread, as Python seeds its generator at start-up — runs differ,
//! as they do in Python. Not for cryptography.
//!
//! ```
//! use iotests::random;
//! let mb_ofs = random::randrange(1024)?;           // random.randrange(1024)
//! assert!(mb_ofs < 1024);
//! let mut offs: Vec<u64> = (0..8).collect();
//! random::shuffle(&mut offs);                      // random.shuffle(offs)
//! offs.sort();
//! assert_eq!(offs, (0..8).collect::<Vec<_>>());
//! # Ok::<(), iotests::Error>(())
//! ```

use std::cell::Cell;

use crate::error::{Error, Result};

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

/// A seed from the OS (`getrandom`), or from the clock and the thread if
/// that fails.
fn seed() -> u64 {
    let mut buf = [0u8; 8];
    // SAFETY: `buf` is valid for writes of its length.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n == buf.len() as isize {
        return u64::from_ne_bytes(buf);
    }
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish()
}

/// The next 64 random bits (splitmix64).
fn next_u64() -> u64 {
    STATE.with(|s| {
        let x = s.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        s.set(x);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

/// A uniform value in `0..n` (`n > 0`), without modulo bias.
fn below(n: u64) -> u64 {
    // The largest multiple of n that fits: draws at or above it are redrawn.
    let zone = u64::MAX - (u64::MAX % n);
    loop {
        let v = next_u64();
        if v < zone {
            return v % n;
        }
    }
}

/// `random.randrange(stop)`: a uniform integer in `0..stop`; Python's
/// `ValueError` for an empty range.
///
/// ```
/// assert_eq!(iotests::random::randrange(1)?, 0);
/// let e = iotests::random::randrange(0).unwrap_err();
/// assert_eq!(e.to_string(), "ValueError: empty range for randrange()");
/// # Ok::<(), iotests::Error>(())
/// ```
pub fn randrange(stop: u64) -> Result<u64> {
    if stop == 0 {
        return Err(Error::python("ValueError", "empty range for randrange()"));
    }
    Ok(below(stop))
}

/// `random.randrange(start, stop)`: a uniform integer in `start..stop`
/// (Python computes it as `start + randrange(stop - start)`); Python's
/// `ValueError` for an empty range.
///
/// ```
/// let port = iotests::random::randrange_from(32768, 33792)?;   // random.randrange(32768, 33792)
/// assert!((32768..33792).contains(&port));
/// let e = iotests::random::randrange_from(5, 5).unwrap_err();
/// assert_eq!(e.to_string(), "ValueError: empty range for randrange() (5, 5, 0)");
/// # Ok::<(), iotests::Error>(())
/// ```
pub fn randrange_from(start: i64, stop: i64) -> Result<i64> {
    let width = stop.saturating_sub(start);
    if width <= 0 {
        return Err(Error::python("ValueError", format!("empty range for randrange() ({start}, {stop}, {width})")));
    }
    Ok(start + below(width as u64) as i64)
}

/// `random.shuffle(x)`: shuffle `x` in place (Fisher–Yates, as Python).
pub fn shuffle<T>(x: &mut [T]) {
    for i in (1..x.len()).rev() {
        let j = below(i as u64 + 1) as usize;
        x.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn randrange_covers_the_range() {
        let mut seen = [false; 4];
        for _ in 0..1000 {
            seen[randrange(4).unwrap() as usize] = true;
        }
        assert_eq!(seen, [true; 4]);
    }

    #[test]
    fn randrange_from_stays_in_range() {
        let mut seen = [false; 3];
        for _ in 0..1000 {
            let v = randrange_from(-1, 2).unwrap();
            seen[(v + 1) as usize] = true;
        }
        assert_eq!(seen, [true; 3]);
        assert!(randrange_from(3, 1).is_err());
    }

    #[test]
    fn shuffle_permutes() {
        let mut v: Vec<u32> = (0..50).collect();
        shuffle(&mut v);
        assert_ne!(v, (0..50).collect::<Vec<_>>(), "50 elements left in order: not shuffled");
        v.sort_unstable();
        assert_eq!(v, (0..50).collect::<Vec<_>>());
        let mut empty: [u8; 0] = [];
        shuffle(&mut empty);
    }
}
