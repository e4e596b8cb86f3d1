//! What one receiver saw: which `seq`s arrived (a bitmap, so losses and duplicates are exact per
//! receiver and `seq`), and latencies buffered before they go to the shared histogram.

use crate::meter::Meter;

/// Latencies buffered per receiver before one lock of the shared histogram.
const LATENCY_BUFFER: usize = 64;

/// One receiver's record of a channel, from `base` (exclusive: what it held when it connected).
#[derive(Debug)]
pub struct Tally {
    base: u64,
    bits: Vec<u64>,
    /// Distinct `seq`s above `base` received.
    pub distinct: u64,
    /// `seq`s received more than once (or at or below `base`).
    pub duplicates: u64,
    /// Highest `seq` received (or `base`): the resume cursor.
    pub high: u64,
    latencies: Vec<u64>,
    /// The member's other channels and their `seq` at `ready` (no traffic reaches them in these
    /// scenarios): sent with every resume, as a real client sends a cursor for every channel.
    pub others: Vec<(String, u64)>,
}

impl Tally {
    pub fn new(base: u64) -> Tally {
        Tally {
            base,
            bits: Vec::new(),
            distinct: 0,
            duplicates: 0,
            high: base,
            latencies: Vec::with_capacity(LATENCY_BUFFER),
            others: Vec::new(),
        }
    }

    /// The `seq` this receiver held when it started.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Records `seq`, sent at `sent_ns` (if known) and received now (`now_ns`).
    pub fn record(&mut self, seq: u64, sent_ns: Option<u64>, now_ns: u64, meter: &Meter) {
        if seq <= self.base {
            self.duplicates += 1;
            meter.add_duplicate();
            return;
        }
        let index = (seq - self.base - 1) as usize;
        let (word, bit) = (index / 64, index % 64);
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        if self.bits[word] & (1 << bit) != 0 {
            self.duplicates += 1;
            meter.add_duplicate();
            return;
        }
        self.bits[word] |= 1 << bit;
        self.distinct += 1;
        self.high = self.high.max(seq);
        meter.add_delivery();
        if let Some(sent) = sent_ns {
            if meter.in_window(sent) {
                self.latencies.push(now_ns.saturating_sub(sent) / 1000);
                if self.latencies.len() >= LATENCY_BUFFER {
                    self.flush(meter);
                }
            }
        }
    }

    /// Hands buffered latencies to the shared histogram.
    pub fn flush(&mut self, meter: &Meter) {
        meter.record_latencies(&self.latencies);
        self.latencies.clear();
    }

    /// `seq`s in `base+1 ..= last` that never arrived.
    pub fn missing(&self, last: u64) -> u64 {
        let expected = last.saturating_sub(self.base);
        let mut got = 0u64;
        for seq in self.base + 1..=last {
            let index = (seq - self.base - 1) as usize;
            if self
                .bits
                .get(index / 64)
                .is_some_and(|w| w & (1 << (index % 64)) != 0)
            {
                got += 1;
            }
        }
        expected - got
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_losses_and_duplicates_per_seq() {
        let meter = Meter::new();
        let mut t = Tally::new(10);
        for seq in [11, 12, 12, 14, 9] {
            t.record(seq, None, 0, &meter);
        }
        assert_eq!(t.distinct, 3);
        assert_eq!(t.duplicates, 2);
        assert_eq!(t.missing(15), 2);
        assert_eq!(t.high, 14);
    }
}
