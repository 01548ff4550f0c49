//! Batched Gaussian-mixture kernels (DESIGN.md eq. 12-13), precision-parameterised:
//! ln N(x | mu_k, Lambda_k^{-1}) = -M/2 ln 2pi + 1/2 ln|Lambda_k| - 1/2 ||L_k^T (x - mu_k)||^2
//! with Lambda_k = L_k L_k^T (Cholesky of the precision), responsibilities by log-sum-exp,
//! and the weighted sufficient statistics N_k, m_k = sum_n r_nk x_n, C_k = sum_n r_nk x_n x_n^T.

use crate::linalg::{axpy, cholesky, dot};

const LN_2PI: f64 = 1.837_877_066_409_345_3;

/// Per-component factors: `u` (K x M x M) holds U_k = L_k^T (row-major, upper), `consts[k]`
/// = -M/2 ln 2pi + 1/2 ln|Lambda_k|. Err((k, pivot)) when Lambda_k is not positive definite.
pub fn prepare(precisions: &[f64], m: usize, k: usize, u: &mut [f64], consts: &mut [f64]) -> Result<(), (usize, usize)> {
    let mm = m * m;
    let mut l = vec![0.0; mm.max(1)];
    for c in 0..k {
        let logdet = cholesky(&precisions[c * mm..c * mm + mm], m, &mut l).map_err(|e| (c, e.pivot))?;
        let uc = &mut u[c * mm..c * mm + mm];
        for i in 0..m {
            for j in 0..m {
                uc[i * m + j] = l[j * m + i];
            }
        }
        consts[c] = -0.5 * m as f64 * LN_2PI + 0.5 * logdet;
    }
    Ok(())
}

/// ln N(x_n | mu_k, Lambda_k^{-1}) for one sample into `out[0..k]`; `y` is scratch of length m.
#[inline]
fn sample_log_densities(x: &[f64], m: usize, means: &[f64], k: usize, u: &[f64], consts: &[f64], y: &mut [f64], out: &mut [f64]) {
    let mm = m * m;
    for c in 0..k {
        let mu = &means[c * m..c * m + m];
        for j in 0..m {
            y[j] = x[j] - mu[j];
        }
        let uc = &u[c * mm..c * mm + mm];
        let mut q = 0.0;
        for i in 0..m {
            let z = dot(&uc[i * m + i..i * m + m], &y[i..m]);
            q += z * z;
        }
        out[c] = consts[c] - 0.5 * q;
    }
}

/// Log-densities of all samples (x: N x M) under K components into `out` (N x K). eq. 12
pub fn log_densities(x: &[f64], n: usize, m: usize, means: &[f64], k: usize, u: &[f64], consts: &[f64], out: &mut [f64]) {
    let mut y = vec![0.0; m.max(1)];
    for s in 0..n {
        sample_log_densities(&x[s * m..s * m + m], m, means, k, u, consts, &mut y, &mut out[s * k..s * k + k]);
    }
}

/// Accumulate r * x x^T into the upper triangle of `c` (M x M) and r * x into `sum`.
#[inline]
fn accumulate(x: &[f64], m: usize, r: f64, sum: &mut [f64], c: &mut [f64]) {
    axpy(r, x, sum);
    for i in 0..m {
        let a = r * x[i];
        if a != 0.0 {
            axpy(a, &x[i..m], &mut c[i * m + i..i * m + m]);
        }
    }
}

fn mirror(scatter: &mut [f64], m: usize, k: usize) {
    let mm = m * m;
    for c in 0..k {
        let s = &mut scatter[c * mm..c * mm + mm];
        for i in 0..m {
            for j in 0..i {
                s[i * m + j] = s[j * m + i];
            }
        }
    }
}

/// Outputs of the E-step (all caller-allocated): resp and logdens N x K, loglik N,
/// nk K, sums K x M, scatter K x M x M.
pub struct EStepOut<'a> {
    pub resp: &'a mut [f64],
    pub logdens: &'a mut [f64],
    pub loglik: &'a mut [f64],
    pub nk: &'a mut [f64],
    pub sums: &'a mut [f64],
    pub scatter: &'a mut [f64],
}

/// One pass over the samples: log-densities, responsibilities r_nk = pi_k N_k / sum_l pi_l N_l
/// by log-sum-exp (eq. 12), ln p(x_n), and the sufficient statistics of eq. 13.
/// `logw[k]` may be -inf (an empty component) but at least one must be finite.
pub fn e_step(x: &[f64], n: usize, m: usize, logw: &[f64], means: &[f64], k: usize, u: &[f64], consts: &[f64], o: EStepOut) {
    let mm = m * m;
    for v in o.nk.iter_mut() {
        *v = 0.0;
    }
    for v in o.sums.iter_mut() {
        *v = 0.0;
    }
    for v in o.scatter.iter_mut() {
        *v = 0.0;
    }
    let mut y = vec![0.0; m.max(1)];
    for s in 0..n {
        let xs = &x[s * m..s * m + m];
        let ld = &mut o.logdens[s * k..s * k + k];
        sample_log_densities(xs, m, means, k, u, consts, &mut y, ld);
        let mut mx = f64::NEG_INFINITY;
        for c in 0..k {
            let v = logw[c] + ld[c];
            if v > mx {
                mx = v;
            }
        }
        let r = &mut o.resp[s * k..s * k + k];
        let mut tot = 0.0;
        for c in 0..k {
            let e = (logw[c] + ld[c] - mx).exp();
            r[c] = e;
            tot += e;
        }
        let ll = mx + tot.ln();
        o.loglik[s] = ll;
        let inv = 1.0 / tot;
        for c in 0..k {
            let rc = r[c] * inv;
            r[c] = rc;
            if rc != 0.0 {
                o.nk[c] += rc;
                accumulate(xs, m, rc, &mut o.sums[c * m..c * m + m], &mut o.scatter[c * mm..c * mm + mm]);
            }
        }
    }
    mirror(o.scatter, m, k);
}

/// Sufficient statistics of eq. 13 for given responsibilities `resp` (N x K).
pub fn stats(x: &[f64], n: usize, m: usize, resp: &[f64], k: usize, nk: &mut [f64], sums: &mut [f64], scatter: &mut [f64]) {
    let mm = m * m;
    for v in nk.iter_mut() {
        *v = 0.0;
    }
    for v in sums.iter_mut() {
        *v = 0.0;
    }
    for v in scatter.iter_mut() {
        *v = 0.0;
    }
    for s in 0..n {
        let xs = &x[s * m..s * m + m];
        for c in 0..k {
            let rc = resp[s * k + c];
            if rc != 0.0 {
                nk[c] += rc;
                accumulate(xs, m, rc, &mut sums[c * m..c * m + m], &mut scatter[c * mm..c * mm + mm]);
            }
        }
    }
    mirror(scatter, m, k);
}
