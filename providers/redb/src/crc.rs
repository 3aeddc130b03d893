//! CRC-32C (Castagnoli), the checksum of every journal record: it detects
//! every burst error up to 32 bits and any odd number of flipped bits, so a
//! torn or bit-flipped record is never taken for a valid one by chance
//! short of a 1-in-2^32 collision on random damage.

/// The reflected CRC-32C polynomial.
const POLYNOMIAL: u32 = 0x82f6_3b78;

/// The byte-at-a-time lookup table, computed at compile time.
const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ POLYNOMIAL
            } else {
                c >> 1
            };
            bit += 1;
        }
        table[n] = c;
        n += 1;
    }
    table
};

/// The CRC-32C of the concatenation of `parts`.
pub(crate) fn crc32c(parts: &[&[u8]]) -> u32 {
    let mut crc = !0u32;
    for part in parts {
        for &byte in *part {
            crc = TABLE[((crc ^ u32::from(byte)) & 0xff) as usize] ^ (crc >> 8);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_check_value() {
        // The standard check input "123456789" gives 0xE3069283 for CRC-32C.
        assert_eq!(crc32c(&[b"123456789"]), 0xe306_9283);
        assert_eq!(crc32c(&[b"1234", b"56789"]), 0xe306_9283);
    }

    #[test]
    fn a_single_flipped_bit_changes_it() {
        let data = vec![7u8; 300];
        let good = crc32c(&[&data]);
        for at in [0, 150, 299] {
            for bit in 0..8 {
                let mut bad = data.clone();
                bad[at] ^= 1 << bit;
                assert_ne!(crc32c(&[&bad]), good, "byte {at} bit {bit}");
            }
        }
    }
}
