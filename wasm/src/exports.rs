//! The `extern "C"` boundary. Memory contract (mirrored in src/numeric/memory.ts):
//! the host allocates every buffer with `cd_alloc(bytes)` (8-byte aligned) and frees it
//! with `cd_free(ptr, bytes)`; kernels never keep pointers between calls.

use std::alloc::{alloc, dealloc, Layout};

/// Version of the numeric-core ABI; bumped when an export's signature or meaning changes.
#[no_mangle]
pub extern "C" fn cd_abi_version() -> u32 {
    1
}

/// Allocate `bytes` (8-byte aligned). Returns 0 on failure or for 0 bytes.
#[no_mangle]
pub extern "C" fn cd_alloc(bytes: usize) -> *mut u8 {
    if bytes == 0 {
        return core::ptr::null_mut();
    }
    match Layout::from_size_align(bytes, 8) {
        Ok(layout) => unsafe { alloc(layout) },
        Err(_) => core::ptr::null_mut(),
    }
}

/// Free a buffer from `cd_alloc` with the same `bytes`.
#[no_mangle]
pub extern "C" fn cd_free(ptr: *mut u8, bytes: usize) {
    if ptr.is_null() || bytes == 0 {
        return;
    }
    if let Ok(layout) = Layout::from_size_align(bytes, 8) {
        unsafe { dealloc(ptr, layout) }
    }
}

// ---------------------------------------------------------------------------------------
// Helpers: raw (pointer, length) -> slices. Pointers come from `cd_alloc` on the host.

#[inline]
fn rd<'a>(p: *const f64, len: usize) -> &'a [f64] {
    if len == 0 {
        return &[];
    }
    unsafe { core::slice::from_raw_parts(p, len) }
}

#[inline]
fn wr<'a>(p: *mut f64, len: usize) -> &'a mut [f64] {
    if len == 0 {
        return &mut [];
    }
    unsafe { core::slice::from_raw_parts_mut(p, len) }
}

/// Scratch vector owned by Rust for the duration of one call.
fn scratch(len: usize) -> Vec<f64> {
    vec![0.0; len.max(1)]
}

// ---------------------------------------------------------------------------------------
// Seeded generator (rng.rs): streams identical to src/numeric/rng.ts for seed words (lo, hi).

/// Fill `out[0..n]` with `nextU32()` outputs.
#[no_mangle]
pub extern "C" fn cd_rng_fill_u32(lo: u32, hi: u32, out: *mut u32, n: usize) {
    let mut r = crate::rng::Rng::new(lo, hi);
    if n == 0 {
        return;
    }
    let o = unsafe { core::slice::from_raw_parts_mut(out, n) };
    for v in o.iter_mut() {
        *v = r.next_u32();
    }
}

/// Fill `out[0..n]` with `uniform()` draws.
#[no_mangle]
pub extern "C" fn cd_rng_fill_uniform(lo: u32, hi: u32, out: *mut f64, n: usize) {
    let mut r = crate::rng::Rng::new(lo, hi);
    for v in wr(out, n).iter_mut() {
        *v = r.uniform();
    }
}

/// Fill `out[0..n]` with `normal()` draws.
#[no_mangle]
pub extern "C" fn cd_rng_fill_normal(lo: u32, hi: u32, out: *mut f64, n: usize) {
    let mut r = crate::rng::Rng::new(lo, hi);
    for v in wr(out, n).iter_mut() {
        *v = r.normal();
    }
}

// ---------------------------------------------------------------------------------------
// Linear algebra (linalg.rs). Return codes: 0 = ok, p > 0 = pivot p-1 not positive.

/// Lower Cholesky factor of SPD `a` (n x n) into `l`; ln|a| into `*logdet`.
#[no_mangle]
pub extern "C" fn cd_cholesky(a: *const f64, n: usize, l: *mut f64, logdet: *mut f64) -> i32 {
    match crate::linalg::cholesky(rd(a, n * n), n, wr(l, n * n)) {
        Ok(ld) => {
            unsafe { *logdet = ld };
            0
        }
        Err(e) => e.pivot as i32 + 1,
    }
}

/// Solve op(T) X = B in place in `x` (n x m); `lower`/`transpose` are 0 or 1.
#[no_mangle]
pub extern "C" fn cd_solve_triangular(t: *const f64, n: usize, x: *mut f64, m: usize, lower: i32, transpose: i32) {
    crate::linalg::solve_triangular(rd(t, n * n), n, wr(x, n * m), m, lower != 0, transpose != 0);
}

/// Solve A X = B in place in `x` (n x m) for SPD A; ln|A| into `*logdet`.
#[no_mangle]
pub extern "C" fn cd_solve_spd(a: *const f64, n: usize, x: *mut f64, m: usize, logdet: *mut f64) -> i32 {
    let mut l = scratch(n * n);
    match crate::linalg::solve_spd(rd(a, n * n), n, wr(x, n * m), m, &mut l) {
        Ok(ld) => {
            unsafe { *logdet = ld };
            0
        }
        Err(e) => e.pivot as i32 + 1,
    }
}

/// Inverse of SPD `a` into `inv`; ln|a| into `*logdet`.
#[no_mangle]
pub extern "C" fn cd_spd_inverse(a: *const f64, n: usize, inv: *mut f64, logdet: *mut f64) -> i32 {
    let mut l = scratch(n * n);
    match crate::linalg::spd_inverse(rd(a, n * n), n, wr(inv, n * n), &mut l) {
        Ok(ld) => {
            unsafe { *logdet = ld };
            0
        }
        Err(e) => e.pivot as i32 + 1,
    }
}

/// Symmetric eigendecomposition of `a` (n x n): ascending values into `values`; when
/// `vectors` is non-null, the eigenvectors as its COLUMNS (row-major n x n).
/// Returns 0, or 1 + index of an eigenvalue whose QL iteration did not converge.
#[no_mangle]
pub extern "C" fn cd_eigh(a: *const f64, n: usize, values: *mut f64, vectors: *mut f64) -> i32 {
    let mut w = rd(a, n * n).to_vec();
    let mut e = scratch(n);
    let want = !vectors.is_null();
    match crate::linalg::eigh(&mut w, n, wr(values, n), &mut e, want) {
        Ok(()) => {
            if want {
                let v = wr(vectors, n * n);
                for i in 0..n {
                    for j in 0..n {
                        v[i * n + j] = w[j * n + i];
                    }
                }
            }
            0
        }
        Err(err) => err.index as i32 + 1,
    }
}

/// V clip(D) V^T of symmetric `a` with eigenvalues clipped to [lo, hi] into `out`.
#[no_mangle]
pub extern "C" fn cd_clip_eigenvalues(a: *const f64, n: usize, lo: f64, hi: f64, out: *mut f64) -> i32 {
    let mut w = rd(a, n * n).to_vec();
    let mut d = scratch(n);
    let mut e = scratch(n);
    if let Err(err) = crate::linalg::eigh(&mut w, n, &mut d, &mut e, true) {
        return err.index as i32 + 1;
    }
    for v in d.iter_mut().take(n) {
        *v = v.max(lo).min(hi);
    }
    crate::linalg::reconstruct(&w, n, &d, wr(out, n * n));
    0
}

// ---------------------------------------------------------------------------------------
// Gaussian mixture (mixture.rs). Return 0, or 1 + comp * m + pivot when precision `comp`
// failed its Cholesky at `pivot`.

fn mixture_prepare(precs: *const f64, m: usize, k: usize) -> Result<(Vec<f64>, Vec<f64>), i32> {
    let mut u = scratch(k * m * m);
    let mut consts = scratch(k);
    match crate::mixture::prepare(rd(precs, k * m * m), m, k, &mut u, &mut consts) {
        Ok(()) => Ok((u, consts)),
        Err((c, p)) => Err((1 + c * m + p) as i32),
    }
}

/// ln N(x_n | mu_k, Lambda_k^{-1}) for x (n x m), means (k x m), precisions (k of m x m) into out (n x k).
#[no_mangle]
pub extern "C" fn cd_gauss_logdens(x: *const f64, n: usize, m: usize, means: *const f64, k: usize, precs: *const f64, out: *mut f64) -> i32 {
    let (u, consts) = match mixture_prepare(precs, m, k) {
        Ok(v) => v,
        Err(rc) => return rc,
    };
    crate::mixture::log_densities(rd(x, n * m), n, m, rd(means, k * m), k, &u, &consts, wr(out, n * k));
    0
}

/// Factor K precisions once for a resident model: `u` (k x m x m) receives U_k = L_k^T and
/// `consts` (k) the log-normalisers (mixture::prepare). Returns 0, or 1 + comp * m + pivot.
#[no_mangle]
pub extern "C" fn cd_mixture_prepare(precs: *const f64, m: usize, k: usize, u: *mut f64, consts: *mut f64) -> i32 {
    match crate::mixture::prepare(rd(precs, k * m * m), m, k, wr(u, k * m * m), wr(consts, k)) {
        Ok(()) => 0,
        Err((c, p)) => (1 + c * m + p) as i32,
    }
}

/// cd_gauss_logdens with factors from cd_mixture_prepare (kept in wasm memory by the host).
#[no_mangle]
pub extern "C" fn cd_gauss_logdens_prepared(x: *const f64, n: usize, m: usize, means: *const f64, k: usize, u: *const f64, consts: *const f64, out: *mut f64) {
    crate::mixture::log_densities(rd(x, n * m), n, m, rd(means, k * m), k, rd(u, k * m * m), rd(consts, k), wr(out, n * k));
}

/// E-step with sufficient statistics in one pass (see mixture::e_step).
#[no_mangle]
pub extern "C" fn cd_estep(
    x: *const f64,
    n: usize,
    m: usize,
    logw: *const f64,
    means: *const f64,
    k: usize,
    precs: *const f64,
    resp: *mut f64,
    logdens: *mut f64,
    loglik: *mut f64,
    nk: *mut f64,
    sums: *mut f64,
    scatter: *mut f64,
) -> i32 {
    let (u, consts) = match mixture_prepare(precs, m, k) {
        Ok(v) => v,
        Err(rc) => return rc,
    };
    let o = crate::mixture::EStepOut {
        resp: wr(resp, n * k),
        logdens: wr(logdens, n * k),
        loglik: wr(loglik, n),
        nk: wr(nk, k),
        sums: wr(sums, k * m),
        scatter: wr(scatter, k * m * m),
    };
    crate::mixture::e_step(rd(x, n * m), n, m, rd(logw, k), rd(means, k * m), k, &u, &consts, o);
    0
}

/// Sufficient statistics N_k, sum r x, sum r x x^T for given responsibilities (n x k).
#[no_mangle]
pub extern "C" fn cd_mixture_stats(x: *const f64, n: usize, m: usize, resp: *const f64, k: usize, nk: *mut f64, sums: *mut f64, scatter: *mut f64) {
    crate::mixture::stats(rd(x, n * m), n, m, rd(resp, n * k), k, wr(nk, k), wr(sums, k * m), wr(scatter, k * m * m));
}

// ---------------------------------------------------------------------------------------
// Graphical lasso (glasso.rs).

/// Graphical lasso of covariance `s` (d x d), split into the blocks of the screening rule
/// unless `screen` is 0. `w` (d x d) is the working covariance: the
/// warm start when `warm_theta` is non-null (then `warm_theta` is the matching precision),
/// the final W on return. `theta` receives the precision. `report` (6 f64) receives
/// iterations, KKT gap, duality gap, objective, converged (0/1), failure detail.
/// Returns 0 ok; 1 W lost definiteness at column report[5]; 2 precision not PD at pivot
/// report[5]; 3 non-finite iterate; 4 warm-start precision has Theta_jj <= 0 at report[5].
#[no_mangle]
pub extern "C" fn cd_glasso(
    s: *const f64,
    d: usize,
    alpha: f64,
    tol: f64,
    max_iter: u32,
    penalize_diagonal: i32,
    screen: i32,
    w: *mut f64,
    warm_theta: *const f64,
    theta: *mut f64,
    report: *mut f64,
) -> i32 {
    use crate::glasso::{coefficients_from_precision, glasso, Failure, Params};
    let dd = d * d;
    let rep = wr(report, 6);
    for v in rep.iter_mut() {
        *v = 0.0;
    }
    let mut b = scratch(dd);
    let warm = !warm_theta.is_null();
    if warm {
        if let Err(j) = coefficients_from_precision(rd(warm_theta, dd), d, &mut b) {
            rep[5] = j as f64;
            return 4;
        }
    }
    let mut sigma = scratch(dd);
    let mut tmp = scratch(dd);
    let p = Params { alpha, tol, max_iter: max_iter as usize, penalize_diagonal: penalize_diagonal != 0 };
    match glasso(rd(s, dd), d, &p, warm, screen != 0, wr(w, dd), &mut b, wr(theta, dd), &mut sigma, &mut tmp) {
        Ok(r) => {
            rep[0] = r.iterations as f64;
            rep[1] = r.gap;
            rep[2] = r.dual_gap;
            rep[3] = r.objective;
            rep[4] = if r.converged { 1.0 } else { 0.0 };
            0
        }
        Err(Failure::LostDefiniteness { col }) => {
            rep[5] = col as f64;
            1
        }
        Err(Failure::PrecisionNotPd { pivot }) => {
            rep[5] = pivot as f64;
            2
        }
        Err(Failure::NonFinite) => 3,
    }
}

/// Validate a symmetric matrix (see linalg::check_symmetric): 0 ok, 1 non-finite, 2 asymmetric.
#[no_mangle]
pub extern "C" fn cd_check_symmetric(a: *const f64, n: usize, rel: f64) -> i32 {
    crate::linalg::check_symmetric(rd(a, n * n), n, rel)
}
