//! A big-endian bit reader with Exp-Golomb codes, for SPS and AudioSpecificConfig.

/// Ran out of bits, or a code too long to be valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OutOfBits;

pub(super) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub(super) fn bit(&mut self) -> Result<u32, OutOfBits> {
        let byte = self.data.get(self.pos / 8).ok_or(OutOfBits)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Ok(u32::from(bit))
    }

    /// `n` bits (n <= 32) as an unsigned number.
    pub(super) fn bits(&mut self, n: u32) -> Result<u32, OutOfBits> {
        let mut v: u64 = 0;
        for _ in 0..n {
            v = (v << 1) | u64::from(self.bit()?);
        }
        u32::try_from(v).map_err(|_| OutOfBits)
    }

    /// Unsigned Exp-Golomb `ue(v)`.
    pub(super) fn ue(&mut self) -> Result<u32, OutOfBits> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return Err(OutOfBits);
            }
        }
        let rest = self.bits(zeros)?;
        let v = (1u64 << zeros) - 1 + u64::from(rest);
        u32::try_from(v).map_err(|_| OutOfBits)
    }

    /// Signed Exp-Golomb `se(v)`.
    pub(super) fn se(&mut self) -> Result<i32, OutOfBits> {
        let k = i64::from(self.ue()?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        i32::try_from(v).map_err(|_| OutOfBits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bits_and_golomb_codes() {
        // 1 | 010 | 011 | 00100 | 00101 -> ue: 0, 1, 2, 3, and se(00101 = 4) = -2
        let data = [0b1010_0110, 0b0100_0010, 0b1000_0000];
        let mut r = BitReader::new(&data);
        assert_eq!(r.ue(), Ok(0));
        assert_eq!(r.ue(), Ok(1));
        assert_eq!(r.ue(), Ok(2));
        assert_eq!(r.ue(), Ok(3));
        assert_eq!(r.se(), Ok(-2));
        assert_eq!(r.bits(8), Err(OutOfBits));
    }
}
