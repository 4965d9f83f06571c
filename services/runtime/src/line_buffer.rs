//! A console line being assembled: bytes collect until a newline or until the
//! buffer is full, then go out together, so lines from different vCPUs do not
//! interleave inside the core's line assembly.

/// Bytes a line may hold before it is sent without waiting for its newline.
pub const LINE_CAPACITY: usize = 160;

/// One vCPU's pending console output.
#[derive(Debug)]
pub struct LineBuffer {
    bytes: [u8; LINE_CAPACITY],
    len: usize,
}

impl Default for LineBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl LineBuffer {
    /// An empty buffer.
    pub const fn new() -> Self {
        Self {
            bytes: [0; LINE_CAPACITY],
            len: 0,
        }
    }

    /// The pending bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets the pending bytes.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends one byte; returns true when the buffer must be sent now (the
    /// byte ended a line, or the buffer is full).
    pub fn push(&mut self, byte: u8) -> bool {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
        byte == b'\n' || self.len == LINE_CAPACITY
    }

    /// Appends `text`, handing every completed line (or full buffer) to
    /// `send` and clearing it afterwards.
    pub fn write(&mut self, text: &[u8], mut send: impl FnMut(&[u8])) {
        for &byte in text {
            if self.push(byte) {
                send(self.as_bytes());
                self.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(buffer: &mut LineBuffer, text: &str, out: &mut Vec<Vec<u8>>) {
        buffer.write(text.as_bytes(), |line| out.push(line.to_vec()));
    }

    #[test]
    fn sends_complete_lines_only() {
        let mut buffer = LineBuffer::new();
        let mut out = Vec::new();
        collect(&mut buffer, "hello, ", &mut out);
        assert!(out.is_empty());
        collect(&mut buffer, "world\nnext", &mut out);
        assert_eq!(out, vec![b"hello, world\n".to_vec()]);
        assert_eq!(buffer.as_bytes(), b"next");
    }

    #[test]
    fn sends_a_full_buffer_without_newline() {
        let mut buffer = LineBuffer::new();
        let mut out = Vec::new();
        let long = "x".repeat(LINE_CAPACITY + 3);
        collect(&mut buffer, &long, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].len(), LINE_CAPACITY);
        assert_eq!(buffer.as_bytes(), b"xxx");
    }

    #[test]
    fn empty_lines_are_sent() {
        let mut buffer = LineBuffer::new();
        let mut out = Vec::new();
        collect(&mut buffer, "\n\n", &mut out);
        assert_eq!(out, vec![b"\n".to_vec(), b"\n".to_vec()]);
        assert!(buffer.is_empty());
    }
}
