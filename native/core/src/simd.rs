//! Runtime CPU dispatch. One binary carries a portable build of each kernel plus AVX2 and AVX-512
//! builds of the same source; the widest one the CPU supports is chosen once, at first use.
//! `OFFLOOP_SIMD=scalar` (or `avx2`) caps the choice, so tests can compare the paths bit for bit.
//!
//! Every path runs the same sequence of IEEE operations on the same lanes (no FMA contraction, no
//! reassociation), so they give identical bits; only the width of the machine registers differs.

use std::sync::OnceLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SimdLevel {
    Portable,
    Avx2,
    Avx512,
}

impl SimdLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            SimdLevel::Portable => "scalar",
            SimdLevel::Avx2 => "avx2",
            SimdLevel::Avx512 => "avx512",
        }
    }
}

fn detect() -> SimdLevel {
    #[cfg(target_arch = "x86_64")]
    {
        // Every feature the AVX-512 builds are compiled with (`simd_dispatch!`, `lane_dispatch!`,
        // the scan's FMA adds): a CPU with AVX-512F alone (Xeon Phi) takes the AVX2 builds.
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            return SimdLevel::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return SimdLevel::Avx2;
        }
    }
    SimdLevel::Portable
}

fn cap_from_env() -> SimdLevel {
    match std::env::var("OFFLOOP_SIMD").as_deref().map(str::trim) {
        Ok("scalar") | Ok("portable") | Ok("none") => SimdLevel::Portable,
        Ok("avx2") => SimdLevel::Avx2,
        _ => SimdLevel::Avx512,
    }
}

/// The level every kernel uses in this process.
pub fn level() -> SimdLevel {
    static LEVEL: OnceLock<SimdLevel> = OnceLock::new();
    *LEVEL.get_or_init(|| detect().min(cap_from_env()))
}

/// Defines `$name` that calls the body `$body` compiled for the best available level.
/// The body must be an `#[inline(always)]` function so each wrapper gets its own codegen.
#[macro_export]
macro_rules! simd_dispatch {
    ($vis:vis fn $name:ident $(<$($g:ident : $b:path),*>)? ($($arg:ident : $ty:ty),*) -> $ret:ty => $body:path) => {
        $vis fn $name $(<$($g : $b),*>)? ($($arg : $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2")]
                unsafe fn wide $(<$($g : $b),*>)? ($($arg : $ty),*) -> $ret { $body($($arg),*) }
                #[target_feature(enable = "avx2")]
                unsafe fn narrow $(<$($g : $b),*>)? ($($arg : $ty),*) -> $ret { $body($($arg),*) }
                match $crate::simd::level() {
                    // SAFETY: `level()` only reports a level whose features the CPU has.
                    $crate::simd::SimdLevel::Avx512 => return unsafe { wide($($arg),*) },
                    $crate::simd::SimdLevel::Avx2 => return unsafe { narrow($($arg),*) },
                    $crate::simd::SimdLevel::Portable => {}
                }
            }
            $body($($arg),*)
        }
    };
}
