//! Reading one range of a log: the lines it owns, aligned to line ends, and their slices.
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::common::{DataFusionError, Result};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt};

use super::spec::FileRange;

/// Read past a range's end by this much, so its last line is almost always in the same GET.
pub const OVERHANG: u64 = 64 << 10;
/// Lines are parsed in slices of about this size, so one batch pins little of a GET's buffer.
const SLICE_BYTES: usize = 1 << 20;

/// Where a log's bytes come from.
#[derive(Clone)]
pub(super) enum Source {
    /// An object store: ranged GETs.
    Store(Arc<dyn ObjectStore>),
    /// `file://`: the file itself. object_store's local reads zero each 8 MiB buffer before
    /// reading into it (9 % of a scan's time); a read into fresh capacity does not.
    Local,
}

impl Source {
    async fn get(&self, key: &str, range: Range<u64>) -> Result<Bytes> {
        match self {
            Source::Store(store) => Ok(store.get_range(&ObjPath::from(key), range).await?),
            Source::Local => {
                let path = format!("/{key}");
                let read = move || -> std::io::Result<Bytes> {
                    use std::io::{Read, Seek, SeekFrom};
                    let mut file = std::fs::File::open(&path)?;
                    file.seek(SeekFrom::Start(range.start))?;
                    let len = (range.end - range.start) as usize;
                    let mut buf = Vec::with_capacity(len);
                    file.take(len as u64).read_to_end(&mut buf)?;
                    if buf.len() != len {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            format!("{path} is shorter than listed"),
                        ));
                    }
                    Ok(buf.into())
                };
                tokio::task::spawn_blocking(read)
                    .await
                    .map_err(|e| DataFusionError::External(Box::new(e)))?
                    .map_err(DataFusionError::from)
            }
        }
    }
}

/// The owned lines of `r`: from the first line starting at or after `start` (past the header
/// for the file's first range) through the end of the line that holds byte `end - 1`.
pub(super) async fn read_lines(source: Source, r: FileRange) -> Result<Bytes> {
    let lo = r.start.saturating_sub(1);
    let mut hi = (r.end + OVERHANG).min(r.size);
    let mut buf = source.get(&r.path, lo..hi).await?;
    // The line under way at `start` belongs to the previous range; the first line is the header.
    let Some(first) = memchr::memchr(b'\n', &buf).map(|i| i + 1) else {
        return Ok(Bytes::new()); // one line longer than the range, owned by an earlier one
    };
    if lo + first as u64 >= r.end {
        return Ok(Bytes::new());
    }
    // The owned region ends with the line holding byte end - 1.
    let tail_from = (r.end - 1 - lo) as usize;
    loop {
        if let Some(i) = memchr::memchr(b'\n', &buf[tail_from.min(buf.len())..]) {
            return Ok(buf.slice(first..tail_from + i + 1));
        }
        if hi >= r.size {
            return Ok(buf.slice(first..));
        }
        // A line running past the overhang: read on (rare; copies).
        let next = (hi + OVERHANG).min(r.size);
        let more = source.get(&r.path, hi..next).await?;
        let mut joined = Vec::with_capacity(buf.len() + more.len());
        joined.extend_from_slice(&buf);
        joined.extend_from_slice(&more);
        buf = joined.into();
        hi = next;
    }
}

/// `bytes` cut into slices of about `SLICE_BYTES`, each ending at a line end.
pub(super) fn slices(bytes: &Bytes) -> impl Iterator<Item = Bytes> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= bytes.len() {
            return None;
        }
        let want = (pos + SLICE_BYTES).min(bytes.len());
        let end = match memchr::memchr(b'\n', &bytes[want - 1..]) {
            Some(i) => want + i,
            None => bytes.len(),
        };
        let s = bytes.slice(pos..end);
        pos = end;
        Some(s)
    })
}
