//! Test-only exact reference sum: Shewchuk's partials with a correctly rounded final step (as
//! Python's `math.fsum`), used to check the kernels' accuracy.

pub(crate) fn fsum(x: &[f64]) -> f64 {
    // Shewchuk's partials, then a careful final sum (as Python's math.fsum).
    let mut partials: Vec<f64> = Vec::new();
    for &v in x {
        let mut v = v;
        let mut i = 0;
        for j in 0..partials.len() {
            let mut p = partials[j];
            if v.abs() < p.abs() {
                std::mem::swap(&mut v, &mut p);
            }
            let hi = v + p;
            let lo = p - (hi - v);
            if lo != 0.0 {
                partials[i] = lo;
                i += 1;
            }
            v = hi;
        }
        partials.truncate(i);
        partials.push(v);
    }
    let mut hi = 0.0;
    while let Some(p) = partials.pop() {
        let x = hi;
        let y = p;
        hi = x + y;
        let lo = y - (hi - x);
        if lo != 0.0 {
            if let Some(&next) = partials.last() {
                if (lo < 0.0) == (next < 0.0) {
                    let y2 = lo * 2.0;
                    let x2 = hi + y2;
                    if y2 == x2 - hi {
                        hi = x2;
                    }
                }
            }
            partials.clear();
            break;
        }
    }
    hi
}
