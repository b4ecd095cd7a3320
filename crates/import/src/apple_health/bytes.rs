//! The byte streams under the XML parser: one that counts how far into the file we are (for the
//! progress bar), and one that drops the control characters XML 1.0 forbids and can skip the prolog.

use std::cell::Cell;
use std::io::{self, BufRead, Read, Seek, SeekFrom};
use std::rc::Rc;

/// Reads through to `inner` and records the position in it, so progress can be shown in bytes of the
/// file on disk even when the parser reads a decompressed stream of another length.
pub(crate) struct CountingReader<R> {
    inner: R,
    position: Rc<Cell<u64>>,
}

impl<R> CountingReader<R> {
    pub(crate) fn new(inner: R) -> (Self, Rc<Cell<u64>>) {
        let position = Rc::new(Cell::new(0));
        (
            Self {
                inner,
                position: position.clone(),
            },
            position,
        )
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.position.set(self.position.get() + read as u64);
        Ok(read)
    }
}

impl<R: Seek> Seek for CountingReader<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let position = self.inner.seek(pos)?;
        self.position.set(position);
        Ok(position)
    }
}

/// A byte that XML 1.0 does not allow anywhere (C0 controls other than tab, newline and carriage
/// return). Real exports carry some (`\x0b` in source names); quick-xml would refuse the file.
#[inline(always)]
fn is_forbidden(byte: u8) -> bool {
    byte < 0x20 && byte != b'\t' && byte != b'\n' && byte != b'\r'
}

/// Where the first forbidden byte is. Checks 32 bytes at a time without branching inside a block,
/// which the compiler turns into vector instructions: this runs over every byte of the file.
fn find_forbidden(bytes: &[u8]) -> Option<usize> {
    let mut blocks = bytes.chunks_exact(32);
    let mut offset = 0;
    for block in blocks.by_ref() {
        let any = block
            .iter()
            .fold(0u8, |any, &byte| any | u8::from(is_forbidden(byte)));
        if any != 0 {
            return block
                .iter()
                .position(|&byte| is_forbidden(byte))
                .map(|at| offset + at);
        }
        offset += 32;
    }
    blocks
        .remainder()
        .iter()
        .position(|&byte| is_forbidden(byte))
        .map(|at| offset + at)
}

/// Removes the forbidden bytes in place and returns how many bytes are left.
fn remove_forbidden(bytes: &mut [u8]) -> usize {
    let Some(first) = find_forbidden(bytes) else {
        return bytes.len();
    };
    let mut kept = first;
    for read in first..bytes.len() {
        let byte = bytes[read];
        if !is_forbidden(byte) {
            bytes[kept] = byte;
            kept += 1;
        }
    }
    kept
}

/// The buffered reader the XML parser reads from: it drops forbidden control characters as the bytes
/// arrive (so the file still streams, and a UTF-8 sequence is never split: these bytes are never
/// part of one) and counts them.
pub(crate) struct CleanReader<R> {
    inner: R,
    buffer: Box<[u8]>,
    start: usize,
    end: usize,
    removed: u64,
}

/// Big enough that a read of the file or of the decompressor is rarely a cost of its own.
const BUFFER_SIZE: usize = 128 * 1024;

impl<R: Read> CleanReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            buffer: vec![0; BUFFER_SIZE].into_boxed_slice(),
            start: 0,
            end: 0,
            removed: 0,
        }
    }

    /// The control characters removed so far.
    pub(crate) fn removed(&self) -> u64 {
        self.removed
    }

    /// Reads more after `self.end`, cleaning it; returns how many bytes were added (0 at the end).
    fn read_more(&mut self) -> io::Result<usize> {
        loop {
            let read = loop {
                match self.inner.read(&mut self.buffer[self.end..]) {
                    Ok(read) => break read,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(error) => return Err(error),
                }
            };
            if read == 0 {
                return Ok(0);
            }
            let kept = remove_forbidden(&mut self.buffer[self.end..self.end + read]);
            self.removed += (read - kept) as u64;
            self.end += kept;
            // A block made only of forbidden bytes is not the end of the file.
            if kept > 0 {
                return Ok(kept);
            }
        }
    }

    /// Drops everything before the first `marker` (the prolog: declaration, comments and the DTD,
    /// which iOS 16 writes broken), looking at most `limit` bytes far. Returns whether it was found.
    pub(crate) fn skip_to(&mut self, marker: &[u8], limit: u64) -> io::Result<bool> {
        let mut scanned = 0u64;
        loop {
            let window = &self.buffer[self.start..self.end];
            if let Some(at) = window
                .windows(marker.len())
                .position(|candidate| candidate == marker)
            {
                self.start += at;
                return Ok(true);
            }
            // Keep the tail that may be the beginning of the marker, and read after it.
            let keep = window.len().min(marker.len() - 1);
            scanned += (window.len() - keep) as u64;
            if scanned > limit {
                return Ok(false);
            }
            self.buffer.copy_within(self.end - keep..self.end, 0);
            self.start = 0;
            self.end = keep;
            if self.read_more()? == 0 {
                return Ok(false);
            }
        }
    }
}

impl<R: Read> BufRead for CleanReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            self.read_more()?;
        }
        Ok(&self.buffer[self.start..self.end])
    }

    fn consume(&mut self, amount: usize) {
        self.start = (self.start + amount).min(self.end);
    }
}

impl<R: Read> Read for CleanReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let count = available.len().min(buf.len());
        buf[..count].copy_from_slice(&available[..count]);
        self.consume(count);
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_bytes_are_removed_and_counted_across_reads() {
        let mut input = b"<a b=\"x\x0by\">\t\r\n".repeat(10_000);
        input.extend_from_slice(b"\x1f\x00end");
        let mut reader = CleanReader::new(&input[..]);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(reader.removed(), 10_002);
        assert!(out.ends_with(b"\">\t\r\nend"));
        assert!(!out.iter().any(|&byte| is_forbidden(byte)));
    }

    #[test]
    fn skip_to_finds_a_marker_split_between_reads() {
        // A reader that hands out 3 bytes at a time, so the marker straddles reads.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let count = self.0.len().min(buf.len()).min(3);
                buf[..count].copy_from_slice(&self.0[..count]);
                self.0 = &self.0[count..];
                Ok(count)
            }
        }
        let input = b"<?xml?><!DOCTYPE x [ <!ATTLIST y > > ]><HealthData locale=\"en\">";
        let mut reader = CleanReader::new(Trickle(input));
        assert!(reader.skip_to(b"<HealthData", 1 << 20).unwrap());
        let mut rest = String::new();
        reader.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "<HealthData locale=\"en\">");

        let mut absent = CleanReader::new(&b"<other/>"[..]);
        assert!(!absent.skip_to(b"<HealthData", 1 << 20).unwrap());
    }
}
