//! Sixteen f64 lanes as one value, for the reductions (`reduce.rs`).
//!
//! The same lane-wise IEEE additions, subtractions and multiplications run on every level: two
//! AVX-512 registers, four AVX2 registers, or a plain array in the portable build, so the result
//! bits never depend on the level. Written with explicit intrinsics because LLVM's SLP vectorizer
//! picked different register widths for the same source depending on what surrounded the loop
//! (measured: a 16-lane TwoSum loop built from 128-bit registers ran 3x slower than from 512-bit
//! ones, and a dot product kept scalar multiplies).
//!
//! Each backend's methods are `#[inline(always)]` and meant to be inlined into a kernel body
//! compiled under the matching `#[target_feature]` (see `lane_dispatch!`); only there are the
//! intrinsics they call available.

use super::Element;

/// Fixed: the lane count shapes the result bits. Sixteen lanes are two AVX-512 or four AVX2
/// registers, enough independent chains to hide the add latency.
pub(crate) const LANES: usize = 16;

pub(crate) trait Lanes: Copy {
    fn zero() -> Self;
    fn splat(v: f64) -> Self;
    /// The first `LANES` elements of `s` (which has at least that many) as f64 lanes.
    fn load<T: Element>(s: &[T]) -> Self;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn to_array(self) -> [f64; LANES];
}

/// The portable build: the same operations on an array.
#[derive(Clone, Copy)]
pub(crate) struct Portable([f64; LANES]);

impl Lanes for Portable {
    #[inline(always)]
    fn zero() -> Self {
        Portable([0.0; LANES])
    }
    #[inline(always)]
    fn splat(v: f64) -> Self {
        Portable([v; LANES])
    }
    #[inline(always)]
    fn load<T: Element>(s: &[T]) -> Self {
        Portable(std::array::from_fn(|j| s[j].to_f64()))
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        Portable(std::array::from_fn(|j| self.0[j] + o.0[j]))
    }
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        Portable(std::array::from_fn(|j| self.0[j] - o.0[j]))
    }
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        Portable(std::array::from_fn(|j| self.0[j] * o.0[j]))
    }
    #[inline(always)]
    fn to_array(self) -> [f64; LANES] {
        self.0
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{Avx2, Avx512};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Element, Lanes, LANES};
    use crate::kernels::element::Kind;
    use std::arch::x86_64::*;

    /// Four AVX2 registers.
    #[derive(Clone, Copy)]
    pub(crate) struct Avx2([__m256d; 4]);

    /// Two AVX-512 registers.
    #[derive(Clone, Copy)]
    pub(crate) struct Avx512([__m512d; 2]);

    // SAFETY (every `unsafe` block in this module): these methods are only reached from kernel
    // bodies compiled under `#[target_feature]` for their level, which `lane_dispatch!` calls only
    // when `simd::level()` reports that the CPU has it; loads read `LANES` elements that the
    // caller's slice holds (checked by the slice index in `load`).
    impl Lanes for Avx2 {
        #[inline(always)]
        fn zero() -> Self {
            Avx2([unsafe { _mm256_setzero_pd() }; 4])
        }
        #[inline(always)]
        fn splat(v: f64) -> Self {
            Avx2([unsafe { _mm256_set1_pd(v) }; 4])
        }
        #[inline(always)]
        fn load<T: Element>(s: &[T]) -> Self {
            let s = &s[..LANES];
            Avx2(std::array::from_fn(|r| unsafe {
                match T::KIND {
                    Kind::F64 => _mm256_loadu_pd(s.as_ptr().cast::<f64>().add(4 * r)),
                    Kind::F32 => _mm256_cvtps_pd(_mm_loadu_ps(s.as_ptr().cast::<f32>().add(4 * r))),
                    Kind::I32 => _mm256_cvtepi32_pd(_mm_loadu_si128(s.as_ptr().cast::<i32>().add(4 * r).cast())),
                }
            }))
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            Avx2(std::array::from_fn(|r| unsafe { _mm256_add_pd(self.0[r], o.0[r]) }))
        }
        #[inline(always)]
        fn sub(self, o: Self) -> Self {
            Avx2(std::array::from_fn(|r| unsafe { _mm256_sub_pd(self.0[r], o.0[r]) }))
        }
        #[inline(always)]
        fn mul(self, o: Self) -> Self {
            Avx2(std::array::from_fn(|r| unsafe { _mm256_mul_pd(self.0[r], o.0[r]) }))
        }
        #[inline(always)]
        fn to_array(self) -> [f64; LANES] {
            let mut out = [0.0; LANES];
            for r in 0..4 {
                unsafe { _mm256_storeu_pd(out.as_mut_ptr().add(4 * r), self.0[r]) };
            }
            out
        }
    }

    impl Lanes for Avx512 {
        #[inline(always)]
        fn zero() -> Self {
            Avx512([unsafe { _mm512_setzero_pd() }; 2])
        }
        #[inline(always)]
        fn splat(v: f64) -> Self {
            Avx512([unsafe { _mm512_set1_pd(v) }; 2])
        }
        #[inline(always)]
        fn load<T: Element>(s: &[T]) -> Self {
            let s = &s[..LANES];
            Avx512(std::array::from_fn(|r| unsafe {
                match T::KIND {
                    Kind::F64 => _mm512_loadu_pd(s.as_ptr().cast::<f64>().add(8 * r)),
                    Kind::F32 => _mm512_cvtps_pd(_mm256_loadu_ps(s.as_ptr().cast::<f32>().add(8 * r))),
                    Kind::I32 => _mm512_cvtepi32_pd(_mm256_loadu_si256(s.as_ptr().cast::<i32>().add(8 * r).cast())),
                }
            }))
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            Avx512(std::array::from_fn(|r| unsafe { _mm512_add_pd(self.0[r], o.0[r]) }))
        }
        #[inline(always)]
        fn sub(self, o: Self) -> Self {
            Avx512(std::array::from_fn(|r| unsafe { _mm512_sub_pd(self.0[r], o.0[r]) }))
        }
        #[inline(always)]
        fn mul(self, o: Self) -> Self {
            Avx512(std::array::from_fn(|r| unsafe { _mm512_mul_pd(self.0[r], o.0[r]) }))
        }
        #[inline(always)]
        fn to_array(self) -> [f64; LANES] {
            let mut out = [0.0; LANES];
            for r in 0..2 {
                unsafe { _mm512_storeu_pd(out.as_mut_ptr().add(8 * r), self.0[r]) };
            }
            out
        }
    }
}

/// Asks for the cache line `ahead` elements past the start of `s` (a hint: nothing is read, and
/// an address past the end is harmless). The compensated loops of sessions 1-4 did about a dozen
/// operations per 128 bytes, so the out-of-order window alone kept too few loads in flight to
/// stream from memory at full speed; prefetching a few KiB ahead closed most of that gap. The line goes to L2 (T1),
/// not L1: measured on 32 Mi doubles over 2 threads, three interleaved rounds, T1 against T0:
/// sum 17.2-20.4 vs 16.2-18.3 GB/s, norm2 16.7-21.8 vs 16.5-17.5, argmin 19.3-23.8 vs 17.6-18.8
/// (likely because an L1 prefetch holds one of the core's few fill buffers until the line arrives).
#[inline(always)]
pub(crate) fn prefetch<T>(s: &[T], ahead: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching is a hint that never faults; the address is formed with wrapping
    // arithmetic and never dereferenced.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T1};
        _mm_prefetch::<_MM_HINT_T1>(s.as_ptr().wrapping_add(ahead).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (s, ahead);
}

/// Defines `$name` that runs the body `$body::<L, ...>` with the widest lane backend the CPU has.
/// The body must be `#[inline(always)]`, so each backend's copy is compiled under its features.
#[macro_export]
macro_rules! lane_dispatch {
    ($vis:vis fn $name:ident <$t:ident : $tb:path> ($($arg:ident : $ty:ty),*) -> $ret:ty => $body:ident) => {
        $vis fn $name<$t: $tb>($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                use $crate::kernels::lanes::{Avx2, Avx512};
                #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2")]
                unsafe fn wide<$t: $tb>($($arg: $ty),*) -> $ret { $body::<Avx512, $t>($($arg),*) }
                #[target_feature(enable = "avx2")]
                unsafe fn narrow<$t: $tb>($($arg: $ty),*) -> $ret { $body::<Avx2, $t>($($arg),*) }
                match $crate::simd::level() {
                    // SAFETY: `level()` only reports a level whose features the CPU has.
                    $crate::simd::SimdLevel::Avx512 => return unsafe { wide($($arg),*) },
                    $crate::simd::SimdLevel::Avx2 => return unsafe { narrow($($arg),*) },
                    $crate::simd::SimdLevel::Portable => {}
                }
            }
            $body::<$crate::kernels::lanes::Portable, $t>($($arg),*)
        }
    };
}
