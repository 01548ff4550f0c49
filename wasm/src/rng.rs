//! Seeded generator shared bit-for-bit with src/numeric/rng.ts.
//!
//! xoshiro128** (Blackman & Vigna) over four u32 words, seeded from a 64-bit seed
//! (two u32 words `lo`, `hi`) through the murmur3 `fmix32` finaliser of a splitmix32
//! counter. Uniforms take 53 bits from two outputs; normals use the Marsaglia polar
//! method with `ln` below, so every step is an IEEE-exact operation (+ - * / sqrt) and
//! the TypeScript twin produces identical doubles.

const GOLDEN: u32 = 0x9e37_79b9;

/// murmur3's 32-bit finaliser (a bijection on u32).
#[inline]
pub fn fmix32(mut z: u32) -> u32 {
    z ^= z >> 16;
    z = z.wrapping_mul(0x85eb_ca6b);
    z ^= z >> 13;
    z = z.wrapping_mul(0xc2b2_ae35);
    z ^= z >> 16;
    z
}

pub struct Rng {
    s: [u32; 4],
    spare: f64,
    has_spare: bool,
}

impl Rng {
    /// State from the 64-bit seed (lo, hi): s0, s1 from a splitmix32 counter started at
    /// `lo`, s2, s3 from one started at `hi ^ GOLDEN`. Distinct seeds give distinct
    /// states (fmix32 is a bijection) and the state is never all zero.
    pub fn new(lo: u32, hi: u32) -> Rng {
        let h = hi ^ GOLDEN;
        Rng {
            s: [
                fmix32(lo.wrapping_add(GOLDEN)),
                fmix32(lo.wrapping_add(GOLDEN.wrapping_mul(2))),
                fmix32(h.wrapping_add(GOLDEN)),
                fmix32(h.wrapping_add(GOLDEN.wrapping_mul(2))),
            ],
            spare: 0.0,
            has_spare: false,
        }
    }

    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 9;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(11);
        result
    }

    /// Uniform in [0, 1) with 53-bit resolution: (a >> 5) * 2^26 + (b >> 6), over 2^53.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64;
        let b = (self.next_u32() >> 6) as f64;
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// Standard normal, Marsaglia polar method; the second value of each pair is kept.
    pub fn normal(&mut self) -> f64 {
        if self.has_spare {
            self.has_spare = false;
            return self.spare;
        }
        loop {
            let u = 2.0 * self.uniform() - 1.0;
            let v = 2.0 * self.uniform() - 1.0;
            let s = u * u + v * v;
            if s >= 1.0 || s == 0.0 {
                continue;
            }
            let f = (-2.0 * ln_exact(s) / s).sqrt();
            self.spare = v * f;
            self.has_spare = true;
            return u * f;
        }
    }
}

const SQRT2: f64 = 1.414_213_562_373_095_1;
const SQRT_HALF: f64 = 0.707_106_781_186_547_5;
const LN2: f64 = 0.693_147_180_559_945_3;

/// Natural log of a positive finite x built only from IEEE-exact operations, so Rust and
/// TypeScript agree bit for bit: x = m 2^e with m in [sqrt(1/2), sqrt(2)) by exact
/// scaling by 2, then ln x = e ln 2 + 2 atanh(z), z = (m-1)/(m+1), |z| <= 0.1716, with
/// the atanh series summed to z^25 by Horner (truncation < 1e-20 relative).
pub fn ln_exact(x: f64) -> f64 {
    let mut m = x;
    let mut e = 0.0f64;
    while m >= SQRT2 {
        m *= 0.5;
        e += 1.0;
    }
    while m < SQRT_HALF {
        m *= 2.0;
        e -= 1.0;
    }
    let z = (m - 1.0) / (m + 1.0);
    let z2 = z * z;
    let mut p = 1.0 / 25.0;
    p = 1.0 / 23.0 + z2 * p;
    p = 1.0 / 21.0 + z2 * p;
    p = 1.0 / 19.0 + z2 * p;
    p = 1.0 / 17.0 + z2 * p;
    p = 1.0 / 15.0 + z2 * p;
    p = 1.0 / 13.0 + z2 * p;
    p = 1.0 / 11.0 + z2 * p;
    p = 1.0 / 9.0 + z2 * p;
    p = 1.0 / 7.0 + z2 * p;
    p = 1.0 / 5.0 + z2 * p;
    p = 1.0 / 3.0 + z2 * p;
    p = 1.0 + z2 * p;
    e * LN2 + 2.0 * z * p
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn ln_matches_std() {
        for &x in &[1e-300, 1e-10, 0.1, 0.5, 0.7, 0.99, 1.0, 1.5, 3.0, 1e10] {
            let a = ln_exact(x);
            let b = x.ln();
            assert!((a - b).abs() <= 4e-16 * b.abs().max(1.0), "{} {} {}", x, a, b);
        }
    }
}
