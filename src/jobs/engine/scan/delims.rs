//! The tokenizer's inner loop: where the commas and line ends of a buffer are, in order.
//!
//! Fields of these logs are short (6 to 20 bytes), so a search per delimiter (`memchr2_iter`)
//! pays its setup once every few bytes. Instead each 64-byte block is classified at once into a
//! bit mask (SSE2 on x86-64, where it is always available; a loop the compiler vectorizes
//! elsewhere), and the positions are read off the mask's set bits, as simdjson and simdcsv do.
//! The same pass notes whether a block holds a NUL or a non-ASCII byte, the only ones that can
//! make a line badly encoded: only then does the tokenizer validate UTF-8 (a separate pass over
//! every buffer for that check was 16 % of the tokenizer's time).
//!
//! Each new block also asks for the bytes `PREFETCH_AHEAD` further on. Without it a quarter of
//! the tokenizer's samples waited on the loads of its own input, a buffer read from the page
//! cache shortly before, which the hardware prefetcher did not bring in ahead of use; with it,
//! filter_data took 15 % less time on both bench days (user time 1.32 -> 1.01 s on one).

/// How far ahead of the block being classified its bytes are prefetched: 1 to 8 KiB measured
/// alike.
const PREFETCH_AHEAD: usize = 2 << 10;

/// Positions of `,` and `\n` in `bytes`, ascending.
pub struct Delims<'a> {
    bytes: &'a [u8],
    /// Start of the block `mask` describes.
    block: usize,
    /// The delimiters of the current block not yet returned, one bit per byte.
    mask: u64,
    /// A block classified so far held a NUL or a non-ASCII byte.
    suspect: bool,
}

impl<'a> Delims<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        let (mask, suspect) = if bytes.is_empty() {
            (0, false)
        } else {
            block_mask(bytes, 0)
        };
        Self {
            bytes,
            block: 0,
            mask,
            suspect,
        }
    }

    /// Whether the bytes up to the end of the block of the last position returned may hold a
    /// NUL or non-ASCII byte.
    #[inline]
    pub fn suspect(&self) -> bool {
        self.suspect
    }
}

impl Iterator for Delims<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            self.block += 64;
            if self.block >= self.bytes.len() {
                return None;
            }
            prefetch(self.bytes, self.block + PREFETCH_AHEAD);
            let (mask, suspect) = block_mask(self.bytes, self.block);
            self.mask = mask;
            self.suspect |= suspect;
        }
        let bit = self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(self.block + bit)
    }
}

/// A hint to bring `v[i]`'s cache line in, if `i` is in bounds (the tokenizer's input ahead of
/// it, the combiner's slots and entries).
#[inline(always)]
pub(super) fn prefetch<T>(v: &[T], i: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(x) = v.get(i) {
        // SAFETY: a prefetch reads nothing and cannot fault; the pointer is in bounds anyway.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                std::ptr::from_ref(x).cast::<i8>(),
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (v, i);
}

/// The delimiter mask of the (up to) 64 bytes at `at`, and whether one is NUL or non-ASCII.
#[inline]
fn block_mask(bytes: &[u8], at: usize) -> (u64, bool) {
    match bytes.get(at..at + 64) {
        Some(block) => full_block_mask(block),
        None => scalar_mask(&bytes[at..]),
    }
}

/// The masks of a block of at most 64 bytes, one byte at a time.
#[inline(always)]
fn scalar_mask(block: &[u8]) -> (u64, bool) {
    let mask = block.iter().enumerate().fold(0, |m, (i, &b)| {
        m | (u64::from(b == b',' || b == b'\n') << i)
    });
    // b | (b - 1) has its high bit set exactly for 0 and for bytes >= 0x80.
    let suspect = block
        .iter()
        .fold(0u8, |acc, &b| acc | b | b.wrapping_sub(1))
        & 0x80
        != 0;
    (mask, suspect)
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn full_block_mask(block: &[u8]) -> (u64, bool) {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        _mm_setzero_si128,
    };
    debug_assert_eq!(block.len(), 64);
    // SAFETY: SSE2 is part of the x86-64 baseline, so these intrinsics are always available;
    // each unaligned 16-byte load reads inside `block`, which is 64 bytes long.
    unsafe {
        let (comma, newline) = (_mm_set1_epi8(b',' as i8), _mm_set1_epi8(b'\n' as i8));
        let (mut mask, mut suspect) = (0u64, 0i32);
        for i in 0..4 {
            let v = _mm_loadu_si128(block.as_ptr().add(16 * i).cast::<__m128i>());
            let hits = _mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, newline));
            mask |= u64::from(_mm_movemask_epi8(hits) as u16) << (16 * i);
            // The high bit of each byte (>= 0x80), and the NULs.
            suspect |=
                _mm_movemask_epi8(v) | _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_setzero_si128()));
        }
        (mask, suspect != 0)
    }
}

/// Elsewhere the fixed length lets the compiler vectorize the scalar loop.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn full_block_mask(block: &[u8]) -> (u64, bool) {
    scalar_mask(block)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_delimiter_in_order_across_blocks_and_tails() {
        // Lengths around block boundaries, delimiters at the edges of blocks.
        for len in [0, 1, 2, 63, 64, 65, 127, 128, 129, 200, 1000] {
            let bytes: Vec<u8> = (0..len)
                .map(|i| match (i * 7 + len) % 11 {
                    0 => b',',
                    1 => b'\n',
                    2 => b'\r',
                    _ => b'a' + (i % 26) as u8,
                })
                .chain(std::iter::once(b',').filter(|_| len % 2 == 1))
                .collect();
            let expected: Vec<usize> = memchr::memchr2_iter(b',', b'\n', &bytes).collect();
            assert_eq!(
                Delims::new(&bytes).collect::<Vec<_>>(),
                expected,
                "len {len}"
            );
        }
        let all = vec![b','; 130];
        assert_eq!(Delims::new(&all).count(), 130);
    }

    #[test]
    fn bad_bytes_are_flagged_and_plain_ascii_is_not() {
        let suspect = |b: &[u8]| {
            let mut d = Delims::new(b);
            while d.next().is_some() {}
            d.suspect()
        };
        assert!(!suspect(b"a,b,2024-01-01\r\n\t ~\x7f"));
        assert!(!suspect(b""));
        assert!(suspect(b"a,\0,b"));
        assert!(suspect("caf\u{e9}".as_bytes()));
        let mut long = vec![b'x'; 10_000];
        long[9_999] = 0xff;
        assert!(suspect(&long), "in a tail block");
        long[9_999] = b'x';
        long[5_000] = 0;
        assert!(suspect(&long), "in a full block");
        // Known by the time the delimiter after it is returned.
        let mut d = Delims::new(b"aaaa,\xffb\n");
        assert_eq!(d.next(), Some(4));
        assert!(d.suspect());
    }
}
