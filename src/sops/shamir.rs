//! Shamir secret sharing over GF(2^8) with the AES polynomial (spec §7.6), as sops does it.
//!
//! Share `i` (0-based) holds the evaluations at `x = i + 1` followed by `x` as its last byte.

use rand::RngCore;
use zeroize::Zeroizing;

/// GF(2^8) multiplication modulo x^8+x^4+x^3+x+1, constant time.
fn mul(a: u8, b: u8) -> u8 {
    let mut acc: u8 = 0;
    for i in (0..8).rev() {
        let bit = (b >> i) & 1;
        let a_or_zero = 0u8.wrapping_sub(bit) & a;
        let reduce = 0u8.wrapping_sub(acc >> 7) & 0x1B;
        acc = a_or_zero ^ (reduce ^ acc.wrapping_add(acc));
    }
    acc
}

/// a^254 = a^-1 (0 for 0).
fn inv(a: u8) -> u8 {
    let mut b = mul(a, a);
    let mut c = mul(a, b);
    b = mul(c, c);
    b = mul(b, b);
    c = mul(b, c);
    b = mul(b, b);
    b = mul(b, b);
    b = mul(b, c);
    b = mul(b, b);
    b = mul(a, b);
    mul(b, b)
}

/// Splits `secret` into `parts` shares, any `threshold` of which recover it.
pub fn split(
    secret: &[u8],
    parts: usize,
    threshold: usize,
) -> Result<Vec<Zeroizing<Vec<u8>>>, String> {
    if parts < threshold {
        return Err("parts cannot be less than threshold".into());
    }
    if parts > 255 {
        return Err("parts cannot exceed 255".into());
    }
    if threshold < 2 {
        return Err("threshold must be at least 2".into());
    }
    if secret.is_empty() {
        return Err("cannot split an empty secret".into());
    }
    let mut out: Vec<Zeroizing<Vec<u8>>> = (0..parts)
        .map(|i| {
            let mut v = vec![0u8; secret.len() + 1];
            v[secret.len()] = i as u8 + 1;
            Zeroizing::new(v)
        })
        .collect();
    let mut coeffs = Zeroizing::new(vec![0u8; threshold]);
    for (idx, &s) in secret.iter().enumerate() {
        coeffs[0] = s;
        rand::rngs::OsRng.fill_bytes(&mut coeffs[1..]);
        for (i, share) in out.iter_mut().enumerate() {
            let x = i as u8 + 1;
            let mut y = coeffs[threshold - 1];
            for j in (0..threshold - 1).rev() {
                y = mul(y, x) ^ coeffs[j];
            }
            share[idx] = y;
        }
    }
    Ok(out)
}

/// Recombines shares (at least two, equal length, distinct x coordinates).
pub fn combine(parts: &[&[u8]]) -> Result<Zeroizing<Vec<u8>>, String> {
    if parts.len() < 2 {
        return Err("less than two parts cannot be used to reconstruct the secret".into());
    }
    let len = parts[0].len();
    if len < 2 {
        return Err("parts must be at least two bytes".into());
    }
    if parts.iter().any(|p| p.len() != len) {
        return Err("all parts must be the same length".into());
    }
    let xs: Vec<u8> = parts.iter().map(|p| p[len - 1]).collect();
    for (i, x) in xs.iter().enumerate() {
        if xs[..i].contains(x) {
            return Err("duplicate part detected".into());
        }
    }
    let mut secret = Zeroizing::new(vec![0u8; len - 1]);
    for (idx, out) in secret.iter_mut().enumerate() {
        let mut result = 0u8;
        for (i, part) in parts.iter().enumerate() {
            let mut basis = 1u8;
            for (j, &xj) in xs.iter().enumerate() {
                if i != j {
                    // (0 + xj) / (xi + xj)
                    basis = mul(basis, mul(xj, inv(xs[i] ^ xj)));
                }
            }
            result ^= mul(part[idx], basis);
        }
        *out = result;
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn field_inverse() {
        for a in 1..=255u8 {
            assert_eq!(mul(a, inv(a)), 1, "{a}");
        }
        assert_eq!(mul(0x57, 0x83), 0xC1); // FIPS-197 example
    }

    proptest! {
        #[test]
        fn any_threshold_subset_recovers(secret in proptest::collection::vec(any::<u8>(), 1..40),
                                         n in 2usize..6, seed in any::<u64>()) {
            let k = 2 + (seed as usize % (n - 1));
            let shares = split(&secret, n, k).unwrap();
            // take k shares starting at a seed-dependent offset
            let start = (seed as usize / 7) % n;
            let subset: Vec<&[u8]> = (0..k).map(|i| shares[(start + i) % n].as_slice()).collect();
            let got = combine(&subset).unwrap();
            prop_assert_eq!(got.as_slice(), secret.as_slice());
        }
    }
}
