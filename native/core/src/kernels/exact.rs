//! Correctly rounded sum: a superaccumulator.
//!
//! Every finite double is `m * 2^(s - 1074)` with an integer `m < 2^53` and `0 <= s <= 2046`. The
//! accumulator holds the exact sum as a big integer in units of 2^-1074: signed 64-bit limbs of 32
//! bits each, so a value adds to three limbs with no carry propagation, and 2^31 values fit before
//! any limb could overflow (chunks are far smaller). Chunks are summed in parallel and their
//! accumulators added limb by limb, which is exact, so the result cannot depend on the chunking.
//! The final big integer is rounded once, to nearest even. Infinities and NaN follow IEEE:
//! NaN anywhere, or both infinities, give NaN; one infinity gives it.

use super::Element;
use crate::error::CoreResult;
use crate::runtime::JobCtx;

/// 2098 bits of range plus headroom for the carries of 2^31 additions.
const LIMBS: usize = 68;
const CHUNK: usize = 1 << 20;

#[derive(Clone)]
struct Acc {
    limbs: [i64; LIMBS],
    pos_inf: bool,
    neg_inf: bool,
    nan: bool,
}

impl Acc {
    fn new() -> Self {
        Acc { limbs: [0; LIMBS], pos_inf: false, neg_inf: false, nan: false }
    }

    #[inline(always)]
    fn add(&mut self, v: f64) {
        let bits = v.to_bits();
        let exp = ((bits >> 52) & 0x7ff) as usize;
        let frac = bits & ((1 << 52) - 1);
        if exp == 0x7ff {
            if frac != 0 {
                self.nan = true;
            } else if bits >> 63 == 1 {
                self.neg_inf = true;
            } else {
                self.pos_inf = true;
            }
            return;
        }
        let (m, s) = if exp == 0 { (frac, 0) } else { (frac | (1 << 52), exp - 1) };
        if m == 0 {
            return;
        }
        let (limb, off) = (s / 32, s % 32);
        let wide = (m as u128) << off;
        let parts = [(wide & 0xffff_ffff) as i64, ((wide >> 32) & 0xffff_ffff) as i64, (wide >> 64) as i64];
        if bits >> 63 == 1 {
            for (k, p) in parts.iter().enumerate() {
                self.limbs[limb + k] -= p;
            }
        } else {
            for (k, p) in parts.iter().enumerate() {
                self.limbs[limb + k] += p;
            }
        }
    }

    fn merge(&mut self, o: &Acc) {
        for (a, b) in self.limbs.iter_mut().zip(&o.limbs) {
            *a += b;
        }
        self.pos_inf |= o.pos_inf;
        self.neg_inf |= o.neg_inf;
        self.nan |= o.nan;
    }

    /// Brings every limb into [0, 2^32) except the top one, which carries the sign.
    fn normalize(&mut self) {
        let mut carry = 0i64;
        for l in self.limbs.iter_mut() {
            let v = *l + carry;
            carry = v >> 32;
            *l = v & 0xffff_ffff;
        }
        let top = LIMBS - 1;
        self.limbs[top] += carry << 32;
    }

    fn round(mut self) -> f64 {
        if self.nan || (self.pos_inf && self.neg_inf) {
            return f64::NAN;
        }
        if self.pos_inf {
            return f64::INFINITY;
        }
        if self.neg_inf {
            return f64::NEG_INFINITY;
        }
        self.normalize();
        let negative = self.limbs[LIMBS - 1] < 0;
        let mut mag = [0u32; LIMBS];
        if negative {
            // Two's complement negation of the whole integer.
            let mut carry = 1u64;
            for (m, l) in mag.iter_mut().zip(&self.limbs) {
                let v = (!(*l as u64) & 0xffff_ffff) + carry;
                *m = v as u32;
                carry = v >> 32;
            }
        } else {
            for (m, l) in mag.iter_mut().zip(&self.limbs) {
                *m = *l as u32;
            }
        }
        let Some(top) = mag.iter().rposition(|&l| l != 0) else { return 0.0 };
        let high = 32 * top + (31 - mag[top].leading_zeros() as usize);
        let bit = |i: usize| (mag[i / 32] >> (i % 32)) & 1 == 1;
        // Keep 53 bits from `high` down; below bit 0 (2^-1074) there is nothing to round.
        let shift = high.saturating_sub(52);
        let mut m: u64 = 0;
        for i in (shift..=high).rev() {
            m = (m << 1) | bit(i) as u64;
        }
        if shift > 0 {
            let half = bit(shift - 1);
            let sticky = (0..shift - 1).any(|i| i / 32 < LIMBS && bit(i));
            if half && (sticky || m & 1 == 1) {
                m += 1;
            }
        }
        let v = scale2(m as f64, shift as i32 - 1074);
        if negative {
            -v
        } else {
            v
        }
    }
}

/// `x * 2^e` for `x` a 54-bit integer, exact unless the result overflows (then infinity).
fn scale2(x: f64, e: i32) -> f64 {
    let pow = |e: i32| f64::from_bits(((e + 1023) as u64) << 52);
    if e > 1023 {
        x * pow(1023) * pow(e - 1023)
    } else if e < -1022 {
        x * pow(-1022) * pow(e + 1022)
    } else {
        x * pow(e)
    }
}

/// The sum of `x` correctly rounded to the nearest double (ties to even).
pub fn exact_sum<T: Element>(ctx: &JobCtx, x: &[T]) -> CoreResult<f64> {
    let parts = ctx.map_chunks(x.len(), CHUNK, |r| {
        let mut acc = Acc::new();
        for v in &x[r] {
            acc.add(v.to_f64());
        }
        acc
    })?;
    let mut total = Acc::new();
    for p in &parts {
        total.merge(p);
    }
    Ok(super::signed_zero_sum(total.round(), x))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ctx() -> JobCtx<'static> {
        JobCtx::inline()
    }

    #[test]
    fn exact_on_hard_cases() {
        assert_eq!(exact_sum(&ctx(), &[1e308, 1e308, -1e308]).unwrap(), 1e308);
        assert_eq!(exact_sum(&ctx(), &[1e100, 1.0, -1e100, 1e-100]).unwrap(), 1.0);
        assert_eq!(exact_sum(&ctx(), &[0.1, 0.2, -0.3]).unwrap(), 2.7755575615628914e-17);
        // Half-way ties round to even: 2^53 + 1 is exactly between 2^53 and 2^53 + 2.
        assert_eq!(exact_sum(&ctx(), &[9007199254740992.0, 1.0]).unwrap(), 9007199254740992.0);
        assert_eq!(exact_sum(&ctx(), &[9007199254740992.0, 1.0, 1e-300]).unwrap(), 9007199254740994.0);
        assert_eq!(exact_sum(&ctx(), &[f64::MAX, f64::MAX]).unwrap(), f64::INFINITY);
        assert_eq!(exact_sum(&ctx(), &[5e-324, 5e-324]).unwrap(), 1e-323);
        assert_eq!(exact_sum(&ctx(), &[-5e-324]).unwrap(), -5e-324);
        assert_eq!(exact_sum::<f64>(&ctx(), &[]).unwrap(), 0.0);
        assert!(exact_sum(&ctx(), &[f64::INFINITY, f64::NEG_INFINITY]).unwrap().is_nan());
        assert!(exact_sum(&ctx(), &[1.0, f64::NAN]).unwrap().is_nan());
    }


    proptest! {
        #[test]
        fn matches_fsum(x in prop::collection::vec(prop_oneof![-1e300f64..1e300, -1.0f64..1.0, -1e-300f64..1e-300], 0..200)) {
            prop_assert_eq!(exact_sum(&ctx(), &x).unwrap().to_bits(), crate::kernels::fsum::fsum(&x).to_bits());
        }
    }
}
