//! Follows the entries of zip archives inside a byte stream as it goes past, so the built-in scanner can look into
//! them without buffering the archive or seeking to its central directory.
//!
//! It looks for local file headers (`PK\x03\x04`) anywhere in the stream, which also finds archives appended to
//! other files. A deflated entry is inflated (raw deflate ends itself, so sizes in a trailing data descriptor are not
//! needed); a stored entry of known size is passed through. Either way the entry's bytes go to a nested
//! [`Inspector`], which checks them like a file of their own and follows archives inside. A header that turns out
//! not to start a valid entry (random bytes that happen to read `PK\x03\x04`) is dropped and the search goes on.
use memchr::memmem;
use miniz_oxide::inflate::stream::{inflate, InflateState};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

use super::builtin::{InflateBudget, Inspector, LIMITS_EXCEEDED};

const LOCAL_HEADER: &[u8; 4] = b"PK\x03\x04";
/// Fixed part of a local file header after its signature (APPNOTE.TXT 4.3.7).
const FIXED_HEADER_LEN: usize = 26;
const FLAG_ENCRYPTED: u16 = 1;
const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;
const METHOD_STORED: u16 = 0;
const METHOD_DEFLATED: u16 = 8;
/// Inflated bytes produced per step; the inflater keeps its own 32 KiB window.
const INFLATE_OUT: usize = 32 * 1024;

enum State {
    /// Looking for the next local file header; `tail` holds the last bytes in case a signature spans two chunks.
    Searching {
        tail: Vec<u8>,
    },
    /// Collecting the header after the signature: the fixed part, then the name and extra field.
    Header {
        bytes: Vec<u8>,
    },
    Inflating {
        inflater: Box<InflateState>,
        entry: Box<Inspector>,
    },
    Stored {
        remaining: u64,
        entry: Box<Inspector>,
    },
}

/// Streaming walker over the zip entries in one stream.
pub(super) struct ZipWalker {
    /// Depth of the entries' inspectors (the stream this walker reads is one level up).
    depth: u8,
    state: State,
    out: Vec<u8>,
}

impl ZipWalker {
    pub(super) fn new(depth: u8) -> Self {
        ZipWalker { depth, state: State::Searching { tail: Vec::new() }, out: Vec::new() }
    }

    /// Follows the next bytes of the stream; returns a finding inside an entry.
    pub(super) fn feed(&mut self, mut data: &[u8], budget: &mut InflateBudget) -> Option<&'static str> {
        while !data.is_empty() {
            match &mut self.state {
                State::Searching { tail } => match find_header(tail, data) {
                    Some(after_signature) => {
                        data = &data[after_signature..];
                        self.state = State::Header { bytes: Vec::with_capacity(FIXED_HEADER_LEN) };
                    }
                    None => {
                        let keep = LOCAL_HEADER.len() - 1;
                        tail.extend_from_slice(&data[data.len().saturating_sub(keep)..]);
                        let excess = tail.len().saturating_sub(keep);
                        tail.drain(..excess);
                        return None;
                    }
                },
                State::Header { bytes } => {
                    let wanted = header_len(bytes);
                    let take = (wanted - bytes.len()).min(data.len());
                    bytes.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if bytes.len() == header_len(bytes) {
                        let header = std::mem::take(bytes);
                        self.state = self.entry_state(&header);
                    }
                }
                State::Stored { remaining, entry } => {
                    let take = (*remaining).min(data.len() as u64) as usize;
                    if let Some(found) = entry.feed(&data[..take], budget) {
                        return Some(found);
                    }
                    *remaining -= take as u64;
                    data = &data[take..];
                    if *remaining == 0 {
                        let found = entry.finish(budget);
                        self.state = State::Searching { tail: Vec::new() };
                        if found.is_some() {
                            return found;
                        }
                    }
                }
                State::Inflating { inflater, entry } => {
                    if self.out.len() != INFLATE_OUT {
                        self.out = vec![0u8; INFLATE_OUT];
                    }
                    let result = inflate(inflater, data, &mut self.out, MZFlush::None);
                    data = &data[result.bytes_consumed..];
                    if result.bytes_written > 0 {
                        let written = result.bytes_written as u64;
                        if written > budget.remaining {
                            return Some(LIMITS_EXCEEDED);
                        }
                        budget.remaining -= written;
                        if let Some(found) = entry.feed(&self.out[..result.bytes_written], budget) {
                            return Some(found);
                        }
                    }
                    let progressed = result.bytes_consumed > 0 || result.bytes_written > 0;
                    match result.status {
                        Ok(MZStatus::StreamEnd) => {
                            let found = entry.finish(budget);
                            self.state = State::Searching { tail: Vec::new() };
                            if found.is_some() {
                                return found;
                            }
                        }
                        // Needs more input, or has more output for the next round.
                        Ok(_) | Err(MZError::Buf) if progressed => {}
                        // Not a deflate stream after all, or stuck: give up on this entry, keep searching.
                        _ => self.state = State::Searching { tail: Vec::new() },
                    }
                }
            }
        }
        // Output the inflater holds back because the last round filled `out` is drained here, so the end of an
        // entry is examined even when no more input arrives for it.
        self.drain_inflater(budget)
    }

    /// The stream ended: an entry cut short is examined as far as it got.
    pub(super) fn finish(&mut self, budget: &mut InflateBudget) -> Option<&'static str> {
        if let Some(found) = self.drain_inflater(budget) {
            return Some(found);
        }
        let state = std::mem::replace(&mut self.state, State::Searching { tail: Vec::new() });
        match state {
            State::Inflating { mut entry, .. } | State::Stored { mut entry, .. } => entry.finish(budget),
            State::Searching { .. } | State::Header { .. } => None,
        }
    }

    fn drain_inflater(&mut self, budget: &mut InflateBudget) -> Option<&'static str> {
        while let State::Inflating { inflater, entry } = &mut self.state {
            let result = inflate(inflater, &[], &mut self.out, MZFlush::None);
            if result.bytes_written == 0 {
                return None;
            }
            let written = result.bytes_written as u64;
            if written > budget.remaining {
                return Some(LIMITS_EXCEEDED);
            }
            budget.remaining -= written;
            if let Some(found) = entry.feed(&self.out[..result.bytes_written], budget) {
                return Some(found);
            }
            if let Ok(MZStatus::StreamEnd) = result.status {
                let found = entry.finish(budget);
                self.state = State::Searching { tail: Vec::new() };
                return found;
            }
        }
        None
    }

    /// The state after a complete local header.
    fn entry_state(&self, header: &[u8]) -> State {
        let u16_at = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]);
        let flags = u16_at(2);
        let method = u16_at(4);
        let compressed_size = u32::from_le_bytes(header[14..18].try_into().expect("4 bytes"));
        let entry = || Box::new(Inspector::new(self.depth));
        if flags & FLAG_ENCRYPTED != 0 {
            return State::Searching { tail: Vec::new() };
        }
        match method {
            METHOD_DEFLATED => State::Inflating { inflater: InflateState::new_boxed(DataFormat::Raw), entry: entry() },
            // With a data descriptor (or zip64's 0xffffffff) the size is unknown here; the bytes are still seen
            // verbatim by the enclosing stream's checks, only the per-entry magic check is skipped.
            METHOD_STORED
                if flags & FLAG_DATA_DESCRIPTOR == 0 && compressed_size != u32::MAX && compressed_size > 0 =>
            {
                State::Stored { remaining: compressed_size.into(), entry: entry() }
            }
            _ => State::Searching { tail: Vec::new() },
        }
    }
}

/// Length of the header after the signature: the fixed part until it is known, then including name and extra field.
fn header_len(bytes: &[u8]) -> usize {
    if bytes.len() < FIXED_HEADER_LEN {
        return FIXED_HEADER_LEN;
    }
    let name_len = u16::from_le_bytes([bytes[22], bytes[23]]) as usize;
    let extra_len = u16::from_le_bytes([bytes[24], bytes[25]]) as usize;
    FIXED_HEADER_LEN + name_len + extra_len
}

/// Offset in `data` just after a local header signature, including one that began in `tail`.
fn find_header(tail: &[u8], data: &[u8]) -> Option<usize> {
    for split in 1..LOCAL_HEADER.len() {
        let (head, rest) = LOCAL_HEADER.split_at(split);
        if tail.ends_with(head) && data.starts_with(rest) {
            return Some(rest.len());
        }
    }
    memmem::find(data, LOCAL_HEADER).map(|at| at + LOCAL_HEADER.len())
}
