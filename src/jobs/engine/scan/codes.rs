//! Dense integer codes for advertiser ids, looked up while a log is parsed.
//!
//! The active list gets its codes in SQL (`queries/active_advertisers.sql`); the log scans are
//! seeded with them, so a row's advertiser becomes a 4-byte code in the scan and the queries
//! group, join and rank on integers instead of 20-byte strings (too long for a string view to
//! hold inline, so every comparison was a `memcmp`). An id the seed does not hold gets no code
//! (NULL): it is no active advertiser's, and the filter's join with `active` says so. Nothing is
//! ever added, so garbage ids cannot grow the table.
//!
//! The table is open addressing over a power-of-two array at most half full, hashed a word at a
//! time, with every id's bytes in one contiguous buffer: for the ~1,000 ids of a day it all fits
//! in L1/L2, and a lookup costs a hash of 20 bytes and usually one compare.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<String>", into = "Vec<String>")]
pub struct Codes {
    /// The ids, by code.
    ids: Vec<String>,
    /// Every id's bytes, one after the other, and where each starts (one more entry: the end).
    bytes: Vec<u8>,
    starts: Vec<u32>,
    /// Code + 1 of the id in each slot; 0 is an empty slot.
    slots: Vec<u32>,
}

impl Codes {
    /// Codes for `ids`: the code of `ids[i]` is `i`. Ids must be distinct.
    pub fn new(ids: Vec<String>) -> Self {
        let cap = (ids.len() * 2).max(16).next_power_of_two();
        let mut slots = vec![0u32; cap];
        for (code, id) in ids.iter().enumerate() {
            let mut i = hash(id.as_bytes()) as usize & (cap - 1);
            while slots[i] != 0 {
                i = (i + 1) & (cap - 1);
            }
            slots[i] = code as u32 + 1;
        }
        let mut starts = Vec::with_capacity(ids.len() + 1);
        let mut bytes = Vec::new();
        for id in &ids {
            starts.push(bytes.len() as u32);
            bytes.extend_from_slice(id.as_bytes());
        }
        starts.push(bytes.len() as u32);
        Self {
            ids,
            bytes,
            starts,
            slots,
        }
    }

    /// The code of `id`, if it has one.
    #[inline]
    pub fn get(&self, id: &[u8]) -> Option<i32> {
        let mask = self.slots.len() - 1;
        let mut i = hash(id) as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                return None;
            }
            let code = slot as usize - 1;
            let (a, b) = (self.starts[code] as usize, self.starts[code + 1] as usize);
            if same(&self.bytes[a..b], id) {
                return Some(code as i32);
            }
            i = (i + 1) & mask;
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn ids(&self) -> &[String] {
        &self.ids
    }
}

impl From<Vec<String>> for Codes {
    fn from(ids: Vec<String>) -> Self {
        Codes::new(ids)
    }
}

impl From<Codes> for Vec<String> {
    fn from(c: Codes) -> Self {
        c.ids
    }
}

/// Byte equality a word at a time, inlined: ids are ~20 bytes, where a `memcmp` call costs more
/// than the compare (it was 4 % of filter_data's profile).
#[inline]
pub(super) fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut x, mut y) = (a.chunks_exact(8), b.chunks_exact(8));
    for (p, q) in (&mut x).zip(&mut y) {
        if p != q {
            return false;
        }
    }
    match a.len().checked_sub(8) {
        // The last 8 bytes as one word, as `hash` reads them.
        Some(at) if !x.remainder().is_empty() => last_word(a, at) == last_word(b, at),
        _ => x.remainder().iter().zip(y.remainder()).all(|(p, q)| p == q),
    }
}

/// A word-at-a-time multiplicative hash (FxHash's), mixed so the low bits index well.
#[inline]
pub(super) fn hash(b: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = b.len() as u64;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        // An id of 8 bytes or more ends with its last 8 bytes (overlapping the last whole word)
        // read as one word: copying the rest into a zeroed buffer was a `memcpy` call, 7 % of
        // the parser's profile.
        let w = match b.len().checked_sub(8) {
            Some(at) => last_word(b, at),
            None => rest.iter().rev().fold(0, |w, &x| (w << 8) | u64::from(x)),
        };
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    h ^ (h >> 29)
}

/// The 8 bytes of `b` from `at` (its length - 8) as a word.
#[inline]
fn last_word(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_finds_its_code_and_others_none() {
        let ids: Vec<String> = (0..1000).map(|i| format!("ADV{i:017}")).collect();
        let codes = Codes::new(ids.clone());
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(codes.get(id.as_bytes()), Some(i as i32), "{id}");
        }
        for other in [
            "",
            "ADV",
            "ADV00000000000000001000",
            "adv00000000000000000001",
        ] {
            assert_eq!(codes.get(other.as_bytes()), None, "{other}");
        }
        // Lengths on both sides of a word, ids differing only in their last byte.
        let short: Vec<String> = (1..=17)
            .flat_map(|n| ["a", "b"].map(|last| format!("{}{last}", "x".repeat(n - 1))))
            .collect();
        let codes_short = Codes::new(short.clone());
        for (i, id) in short.iter().enumerate() {
            assert_eq!(codes_short.get(id.as_bytes()), Some(i as i32), "{id}");
        }
        assert_eq!(codes_short.get(b"xxxxxxxxc"), None);
        let back: Codes = serde_json::from_str(&serde_json::to_string(&codes).unwrap()).unwrap();
        assert_eq!(back, codes);
        assert!(Codes::new(Vec::new()).get(b"x").is_none());
    }
}
