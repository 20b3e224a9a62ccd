/// Which type an `Element` is, for loads that convert in registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    F64,
    F32,
    I32,
}

/// The element types kernels accept.
pub trait Element: Copy + Send + Sync + PartialOrd + 'static {
    const KIND: Kind;
    fn to_f64(self) -> f64;
    /// Rounds an f64 to this type (for f32: round to nearest, as `Math.fround`).
    fn from_f64(v: f64) -> Self;
}

impl Element for f64 {
    const KIND: Kind = Kind::F64;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v
    }
}

impl Element for f32 {
    const KIND: Kind = Kind::F32;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

impl Element for i32 {
    const KIND: Kind = Kind::I32;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    /// Only used for values that came from an i32; saturates otherwise.
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as i32
    }
}
