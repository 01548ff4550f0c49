//! Dense linear algebra on row-major f64 slices: SIMD dot/axpy, Cholesky with
//! log-determinant, triangular solves, SPD inverse, and the symmetric eigensolver
//! (Householder tridiagonalisation + implicit QL, EISPACK tred2/tql2 as in JAMA),
//! laid out so every inner loop runs over a contiguous row.
//! Kernels assume validated input (finite, right sizes); the TypeScript edge checks that.

#[cfg(target_arch = "wasm32")]
use core::arch::wasm32::*;

/// sum_i x[i] y[i] over min(len) elements (two f64x2 accumulators on wasm).
#[inline]
#[allow(unused_unsafe)]
pub fn dot(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    #[cfg(target_arch = "wasm32")]
    {
        let mut i = 0;
        let mut acc0 = f64x2_splat(0.0);
        let mut acc1 = f64x2_splat(0.0);
        unsafe {
            let px = x.as_ptr();
            let py = y.as_ptr();
            while i + 4 <= n {
                let a0 = v128_load(px.add(i) as *const v128);
                let b0 = v128_load(py.add(i) as *const v128);
                let a1 = v128_load(px.add(i + 2) as *const v128);
                let b1 = v128_load(py.add(i + 2) as *const v128);
                acc0 = f64x2_add(acc0, f64x2_mul(a0, b0));
                acc1 = f64x2_add(acc1, f64x2_mul(a1, b1));
                i += 4;
            }
            if i + 2 <= n {
                let a0 = v128_load(px.add(i) as *const v128);
                let b0 = v128_load(py.add(i) as *const v128);
                acc0 = f64x2_add(acc0, f64x2_mul(a0, b0));
                i += 2;
            }
        }
        let acc = f64x2_add(acc0, acc1);
        let mut s = f64x2_extract_lane::<0>(acc) + f64x2_extract_lane::<1>(acc);
        while i < n {
            s += x[i] * y[i];
            i += 1;
        }
        s
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let mut s = 0.0;
        for i in 0..n {
            s += x[i] * y[i];
        }
        s
    }
}

/// y[i] += a x[i] over min(len) elements.
#[inline]
#[allow(unused_unsafe)]
pub fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    let n = x.len().min(y.len());
    #[cfg(target_arch = "wasm32")]
    {
        let mut i = 0;
        let va = f64x2_splat(a);
        unsafe {
            let px = x.as_ptr();
            let py = y.as_mut_ptr();
            while i + 4 <= n {
                let x0 = v128_load(px.add(i) as *const v128);
                let x1 = v128_load(px.add(i + 2) as *const v128);
                let y0 = v128_load(py.add(i) as *const v128);
                let y1 = v128_load(py.add(i + 2) as *const v128);
                v128_store(py.add(i) as *mut v128, f64x2_add(y0, f64x2_mul(va, x0)));
                v128_store(py.add(i + 2) as *mut v128, f64x2_add(y1, f64x2_mul(va, x1)));
                i += 4;
            }
        }
        while i < n {
            y[i] += a * x[i];
            i += 1;
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        for i in 0..n {
            y[i] += a * x[i];
        }
    }
}

/// Failure of a factorisation: the 0-based pivot whose value was not positive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NotPd {
    pub pivot: usize,
}

/// Lower Cholesky factor L (row-major n x n, upper part zeroed) of SPD `a`; returns
/// ln|a| = 2 sum ln L_ii. Row-oriented (each entry one contiguous dot product), two rows
/// per pass so each row L_j loaded serves both (`dot2`).
pub fn cholesky(a: &[f64], n: usize, l: &mut [f64]) -> Result<f64, NotPd> {
    // ln|a| from a running product of pivots, folded into a log only when it leaves
    // [1e-150, 1e150] (one or two ln calls instead of n).
    let mut logdet = 0.0;
    let mut prod = 1.0;
    let mut inv_diag = vec![0.0; n.max(1)];
    let mut pivot = |i: usize, s: f64, l: &mut [f64], inv_diag: &mut [f64]| -> Result<(), NotPd> {
        if !(s > 0.0) || !s.is_finite() {
            return Err(NotPd { pivot: i });
        }
        let r = s.sqrt();
        l[i * n + i] = r;
        inv_diag[i] = 1.0 / r;
        prod *= r;
        if !(prod > 1e-150 && prod < 1e150) {
            logdet += prod.ln();
            prod = 1.0;
        }
        Ok(())
    };
    let mut i = 0;
    while i < n {
        if i + 1 < n {
            // rows i and i+1 together for columns j < i
            for j in 0..i {
                let (lj, rest) = l.split_at_mut(i * n);
                let lj = &lj[j * n..j * n + j];
                let (ri, ri1) = rest.split_at_mut(n);
                let (d0, d1) = dot2(&ri[..j], &ri1[..j], lj);
                let inv = inv_diag[j];
                ri[j] = (a[i * n + j] - d0) * inv;
                ri1[j] = (a[(i + 1) * n + j] - d1) * inv;
            }
            let s = a[i * n + i] - dot(&l[i * n..i * n + i], &l[i * n..i * n + i]);
            pivot(i, s, l, &mut inv_diag)?;
            let off = (a[(i + 1) * n + i] - dot(&l[(i + 1) * n..(i + 1) * n + i], &l[i * n..i * n + i])) * inv_diag[i];
            l[(i + 1) * n + i] = off;
            let s1 = a[(i + 1) * n + i + 1] - dot(&l[(i + 1) * n..(i + 1) * n + i + 1], &l[(i + 1) * n..(i + 1) * n + i + 1]);
            pivot(i + 1, s1, l, &mut inv_diag)?;
            for r in i..i + 2 {
                for j in r + 1..n {
                    l[r * n + j] = 0.0;
                }
            }
            i += 2;
        } else {
            for j in 0..i {
                let v = (a[i * n + j] - dot(&l[i * n..i * n + j], &l[j * n..j * n + j])) * inv_diag[j];
                l[i * n + j] = v;
            }
            let s = a[i * n + i] - dot(&l[i * n..i * n + i], &l[i * n..i * n + i]);
            pivot(i, s, l, &mut inv_diag)?;
            i += 1;
        }
    }
    Ok(2.0 * (logdet + prod.ln()))
}

/// (x . z, y . z) in one pass over z.
#[inline]
#[allow(unused_unsafe, unused_assignments, unused_mut)]
pub fn dot2(x: &[f64], y: &[f64], z: &[f64]) -> (f64, f64) {
    let n = x.len().min(y.len()).min(z.len());
    let mut i = 0;
    let mut sx = 0.0;
    let mut sy = 0.0;
    #[cfg(target_arch = "wasm32")]
    {
        let mut ax = f64x2_splat(0.0);
        let mut ay = f64x2_splat(0.0);
        unsafe {
            let (px, py, pz) = (x.as_ptr(), y.as_ptr(), z.as_ptr());
            while i + 2 <= n {
                let vz = v128_load(pz.add(i) as *const v128);
                ax = f64x2_add(ax, f64x2_mul(v128_load(px.add(i) as *const v128), vz));
                ay = f64x2_add(ay, f64x2_mul(v128_load(py.add(i) as *const v128), vz));
                i += 2;
            }
        }
        sx = f64x2_extract_lane::<0>(ax) + f64x2_extract_lane::<1>(ax);
        sy = f64x2_extract_lane::<0>(ay) + f64x2_extract_lane::<1>(ay);
    }
    while i < n {
        sx += x[i] * z[i];
        sy += y[i] * z[i];
        i += 1;
    }
    (sx, sy)
}

/// Solve op(T) X = B in place (X overwrites `x`, n x m row-major), T triangular n x n:
/// op(T) = T or T^T; `lower` says which triangle of T holds the factor.
pub fn solve_triangular(t: &[f64], n: usize, x: &mut [f64], m: usize, lower: bool, transpose: bool) {
    // Effective matrix op(T) is lower triangular iff lower != transpose.
    let forward = lower != transpose;
    // coefficient op(T)[i][k]
    let coef = |i: usize, k: usize| if transpose { t[k * n + i] } else { t[i * n + k] };
    if forward {
        for i in 0..n {
            let (head, tail) = x.split_at_mut(i * m);
            let xi = &mut tail[..m];
            for k in 0..i {
                let c = coef(i, k);
                if c != 0.0 {
                    axpy(-c, &head[k * m..k * m + m], xi);
                }
            }
            let inv = 1.0 / t[i * n + i];
            for v in xi.iter_mut() {
                *v *= inv;
            }
        }
    } else {
        for i in (0..n).rev() {
            let (head, tail) = x.split_at_mut((i + 1) * m);
            let xi = &mut head[i * m..i * m + m];
            for k in i + 1..n {
                let c = coef(i, k);
                if c != 0.0 {
                    let o = (k - i - 1) * m;
                    axpy(-c, &tail[o..o + m], xi);
                }
            }
            let inv = 1.0 / t[i * n + i];
            for v in xi.iter_mut() {
                *v *= inv;
            }
        }
    }
}

/// Solve A X = B for SPD A (n x n) and B (n x m), X overwriting `x`; `l` is scratch n*n.
pub fn solve_spd(a: &[f64], n: usize, x: &mut [f64], m: usize, l: &mut [f64]) -> Result<f64, NotPd> {
    let logdet = cholesky(a, n, l)?;
    solve_triangular(l, n, x, m, true, false);
    solve_triangular(l, n, x, m, true, true);
    Ok(logdet)
}

/// Inverse of SPD `a` into `inv` (full symmetric), via L^{-1} and inv = L^{-T} L^{-1};
/// `l` is scratch n*n (holds L^{-1} on return). Returns ln|a|.
pub fn spd_inverse(a: &[f64], n: usize, inv: &mut [f64], l: &mut [f64]) -> Result<f64, NotPd> {
    let logdet = cholesky(a, n, l)?;
    lower_inverse_in_place(l, n, inv);
    // inv = Linv^T Linv: row k of Linv (entries 0..=k) contributes Linv[k][i] * row k.
    for v in inv.iter_mut() {
        *v = 0.0;
    }
    for k in 0..n {
        let row = &l[k * n..k * n + k + 1];
        for i in 0..=k {
            let c = row[i];
            if c != 0.0 {
                axpy(c, row, &mut inv[i * n..i * n + k + 1]);
            }
        }
    }
    Ok(logdet)
}

/// Replace lower-triangular `l` by its inverse (row-major; `tmp` is scratch n*n).
pub fn lower_inverse_in_place(l: &mut [f64], n: usize, tmp: &mut [f64]) {
    // Forward substitution of L X = I, row i of X has entries 0..=i.
    for v in tmp.iter_mut() {
        *v = 0.0;
    }
    for i in 0..n {
        let (head, tail) = tmp.split_at_mut(i * n);
        let xi = &mut tail[..n];
        xi[i] = 1.0;
        for k in 0..i {
            let c = l[i * n + k];
            if c != 0.0 {
                axpy(-c, &head[k * n..k * n + k + 1], &mut xi[..k + 1]);
            }
        }
        let inv = 1.0 / l[i * n + i];
        for v in xi[..i + 1].iter_mut() {
            *v *= inv;
        }
    }
    l[..n * n].copy_from_slice(&tmp[..n * n]);
}

/// Error of the eigensolver: QL did not converge for eigenvalue `index`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoConvergence {
    pub index: usize,
}

/// Symmetric eigendecomposition. `w` holds a copy of the symmetric matrix (n x n) on
/// entry; on return, when `vectors` is true, row j of `w` is the unit eigenvector of
/// `d[j]` (i.e. `w` = V^T). Eigenvalues ascending in `d`; `e` is scratch of length n.
/// Householder reduction to tridiagonal form then implicit QL with shifts (EISPACK
/// tred2 + tql2 via JAMA), on the transposed layout so all inner loops are row-contiguous.
pub fn eigh(w: &mut [f64], n: usize, d: &mut [f64], e: &mut [f64], vectors: bool) -> Result<(), NoConvergence> {
    if n == 0 {
        return Ok(());
    }
    if n == 1 {
        d[0] = w[0];
        w[0] = 1.0;
        return Ok(());
    }
    tred2(w, n, d, e, vectors);
    tql2(w, n, d, e, vectors)?;
    sort_ascending(w, n, d, vectors);
    Ok(())
}

// Notation: V[r][c] of JAMA is w[c * n + r] here.
fn tred2(w: &mut [f64], n: usize, d: &mut [f64], e: &mut [f64], vectors: bool) {
    for j in 0..n {
        d[j] = w[j * n + n - 1];
    }
    for i in (1..n).rev() {
        let mut scale = 0.0;
        let mut h = 0.0;
        for k in 0..i {
            scale += d[k].abs();
        }
        if scale == 0.0 {
            e[i] = d[i - 1];
            for j in 0..i {
                d[j] = w[j * n + i - 1];
                w[j * n + i] = 0.0;
                w[i * n + j] = 0.0;
            }
        } else {
            for k in 0..i {
                d[k] /= scale;
                h += d[k] * d[k];
            }
            let mut f = d[i - 1];
            let mut g = h.sqrt();
            if f > 0.0 {
                g = -g;
            }
            e[i] = scale * g;
            h -= f * g;
            d[i - 1] = f - g;
            for j in 0..i {
                e[j] = 0.0;
            }
            for j in 0..i {
                f = d[j];
                w[i * n + j] = f;
                let row = &w[j * n + j + 1..j * n + i];
                g = e[j] + w[j * n + j] * f + dot(row, &d[j + 1..i]);
                axpy(f, row, &mut e[j + 1..i]);
                e[j] = g;
            }
            f = 0.0;
            for j in 0..i {
                e[j] /= h;
                f += e[j] * d[j];
            }
            let hh = f / (h + h);
            for j in 0..i {
                e[j] -= hh * d[j];
            }
            for j in 0..i {
                let f = d[j];
                let g = e[j];
                let row = &mut w[j * n + j..j * n + i];
                axpy(-f, &e[j..i], row);
                axpy(-g, &d[j..i], row);
                d[j] = w[j * n + i - 1];
                w[j * n + i] = 0.0;
            }
        }
        d[i] = h;
    }
    if vectors {
        for i in 0..n - 1 {
            w[i * n + n - 1] = w[i * n + i];
            w[i * n + i] = 1.0;
            let h = d[i + 1];
            if h != 0.0 {
                for k in 0..=i {
                    d[k] = w[(i + 1) * n + k] / h;
                }
                for j in 0..=i {
                    let (head, tail) = w.split_at_mut((i + 1) * n);
                    let g = dot(&tail[..i + 1], &head[j * n..j * n + i + 1]);
                    axpy(-g, &d[..i + 1], &mut head[j * n..j * n + i + 1]);
                }
            }
            for k in 0..=i {
                w[(i + 1) * n + k] = 0.0;
            }
        }
        for j in 0..n {
            d[j] = w[j * n + n - 1];
            w[j * n + n - 1] = 0.0;
        }
        w[(n - 1) * n + n - 1] = 1.0;
    } else {
        for j in 0..n {
            d[j] = w[j * n + j];
        }
    }
    e[0] = 0.0;
}

fn tql2(w: &mut [f64], n: usize, d: &mut [f64], e: &mut [f64], vectors: bool) -> Result<(), NoConvergence> {
    for i in 1..n {
        e[i - 1] = e[i];
    }
    e[n - 1] = 0.0;
    let mut f = 0.0;
    let mut tst1: f64 = 0.0;
    let eps = f64::EPSILON;
    for l in 0..n {
        tst1 = tst1.max(d[l].abs() + e[l].abs());
        let mut m = l;
        while m < n {
            if e[m].abs() <= eps * tst1 {
                break;
            }
            m += 1;
        }
        if m > l {
            let mut iter = 0;
            loop {
                iter += 1;
                if iter > 60 {
                    return Err(NoConvergence { index: l });
                }
                let mut g = d[l];
                let mut p = (d[l + 1] - g) / (2.0 * e[l]);
                let mut r = p.hypot(1.0);
                if p < 0.0 {
                    r = -r;
                }
                d[l] = e[l] / (p + r);
                d[l + 1] = e[l] * (p + r);
                let dl1 = d[l + 1];
                let mut h = g - d[l];
                for i in l + 2..n {
                    d[i] -= h;
                }
                f += h;
                p = d[m];
                let mut c = 1.0;
                let mut c2 = c;
                let mut c3 = c;
                let el1 = e[l + 1];
                let mut s = 0.0;
                let mut s2 = 0.0;
                let mut i = m;
                while i > l {
                    i -= 1;
                    c3 = c2;
                    c2 = c;
                    s2 = s;
                    g = c * e[i];
                    h = c * p;
                    r = p.hypot(e[i]);
                    e[i + 1] = s * r;
                    s = e[i] / r;
                    c = p / r;
                    p = c * d[i] - s * g;
                    d[i + 1] = h + s * (c * g + s * d[i]);
                    if vectors {
                        let (head, tail) = w.split_at_mut((i + 1) * n);
                        rotate(&mut head[i * n..i * n + n], &mut tail[..n], c, s);
                    }
                }
                p = -s * s2 * c3 * el1 * e[l] / dl1;
                e[l] = s * p;
                d[l] = c * p;
                if !(e[l].abs() > eps * tst1) {
                    break;
                }
            }
        }
        d[l] += f;
        e[l] = 0.0;
    }
    Ok(())
}

/// (x, y) <- (c x - s y, s x + c y), elementwise over two rows.
#[inline]
#[allow(unused_unsafe)]
fn rotate(x: &mut [f64], y: &mut [f64], c: f64, s: f64) {
    let n = x.len().min(y.len());
    let mut k = 0;
    #[cfg(target_arch = "wasm32")]
    {
        let vc = f64x2_splat(c);
        let vs = f64x2_splat(s);
        unsafe {
            let px = x.as_mut_ptr();
            let py = y.as_mut_ptr();
            while k + 2 <= n {
                let a = v128_load(px.add(k) as *const v128);
                let b = v128_load(py.add(k) as *const v128);
                v128_store(py.add(k) as *mut v128, f64x2_add(f64x2_mul(vs, a), f64x2_mul(vc, b)));
                v128_store(px.add(k) as *mut v128, f64x2_sub(f64x2_mul(vc, a), f64x2_mul(vs, b)));
                k += 2;
            }
        }
    }
    while k < n {
        let a = x[k];
        let b = y[k];
        y[k] = s * a + c * b;
        x[k] = c * a - s * b;
        k += 1;
    }
}

fn sort_ascending(w: &mut [f64], n: usize, d: &mut [f64], vectors: bool) {
    for i in 0..n.saturating_sub(1) {
        let mut k = i;
        let mut p = d[i];
        for j in i + 1..n {
            if d[j] < p {
                k = j;
                p = d[j];
            }
        }
        if k != i {
            d[k] = d[i];
            d[i] = p;
            if vectors {
                let (head, tail) = w.split_at_mut(k * n);
                head[i * n..i * n + n].swap_with_slice(&mut tail[..n]);
            }
        }
    }
}

/// out = V diag(clip(d)) V^T given `w` = V^T (rows are eigenvectors) from `eigh`.
pub fn reconstruct(w: &[f64], n: usize, d: &[f64], out: &mut [f64]) {
    for v in out[..n * n].iter_mut() {
        *v = 0.0;
    }
    for k in 0..n {
        let row = &w[k * n..k * n + n];
        let lam = d[k];
        if lam == 0.0 {
            continue;
        }
        for i in 0..n {
            let c = lam * row[i];
            if c != 0.0 {
                axpy(c, row, &mut out[i * n..i * n + n]);
            }
        }
    }
    // exact symmetry
    for i in 0..n {
        for j in 0..i {
            let v = 0.5 * (out[i * n + j] + out[j * n + i]);
            out[i * n + j] = v;
            out[j * n + i] = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chol_and_eigh_small() {
        let a = [4.0, 2.0, 0.6, 2.0, 5.0, 1.0, 0.6, 1.0, 3.0];
        let mut l = [0.0; 9];
        let ld = cholesky(&a, 3, &mut l).unwrap();
        let mut inv = [0.0; 9];
        let mut s = [0.0; 9];
        spd_inverse(&a, 3, &mut inv, &mut s).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let mut v = 0.0;
                for k in 0..3 {
                    v += a[i * 3 + k] * inv[k * 3 + j];
                }
                assert!((v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
        let mut w = a;
        let mut d = [0.0; 3];
        let mut e = [0.0; 3];
        eigh(&mut w, 3, &mut d, &mut e, true).unwrap();
        let sum_ln: f64 = d.iter().map(|x| x.ln()).sum();
        assert!((sum_ln - ld).abs() < 1e-12);
        for j in 0..3 {
            for i in 0..3 {
                let mut av = 0.0;
                for k in 0..3 {
                    av += a[i * 3 + k] * w[j * 3 + k];
                }
                assert!((av - d[j] * w[j * 3 + i]).abs() < 1e-12);
            }
        }
    }
}

/// Validation of a symmetric matrix with the rule of src/numeric/validate.ts
/// (checkSymmetric): every entry finite and |a_ij - a_ji| <= rel * (D + |a_ij| + |a_ji|),
/// D = max(1, max_k |a_kk|). Returns 0 when valid, 1 when some entry is not finite, 2 when
/// some pair is asymmetric (the TypeScript checker then locates it and words the error).
/// Branch-free inner loop: x - x is 0 for finite x and NaN otherwise.
pub fn check_symmetric(a: &[f64], n: usize, rel: f64) -> i32 {
    let mut diag: f64 = 1.0;
    let mut fin = 0.0;
    for i in 0..n {
        let v = a[i * n + i];
        fin += v - v;
        let av = v.abs();
        if av > diag {
            diag = av;
        }
    }
    let mut bad_sym = false;
    for i in 1..n {
        let row = &a[i * n..i * n + i];
        for j in 0..i {
            let x = row[j];
            let y = a[j * n + i];
            fin += (x - x) + (y - y);
            bad_sym |= (x - y).abs() > rel * (diag + x.abs() + y.abs());
        }
    }
    if fin != 0.0 {
        1
    } else if bad_sym {
        2
    } else {
        0
    }
}
