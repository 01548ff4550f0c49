//! Graphical lasso by block coordinate descent (Friedman, Hastie & Tibshirani 2008,
//! "Sparse inverse covariance estimation with the graphical lasso"), the inner lasso
//! solved by coordinate descent with an active set. Solves (DESIGN.md eq. 16)
//!   min_Theta  -ln|Theta| + tr(S Theta) + alpha * sum_{i != j} |Theta_ij|
//! (plus alpha * sum_i Theta_ii when `penalize_diagonal`, R glasso's default).
//!
//! Convergence is declared on the KKT residual of the primal iterate Theta (assembled from
//! the lasso coefficients B and the working covariance W, then symmetrised), with
//! Sigma = Theta^{-1} computed exactly by Cholesky:
//!   off-diagonal, Theta_ij != 0:  |S_ij - Sigma_ij + alpha sign(Theta_ij)|
//!   off-diagonal, Theta_ij == 0:  max(0, |S_ij - Sigma_ij| - alpha)
//!   diagonal:                     |S_ii - Sigma_ii + (alpha if penalised)|
//! `gap` is the largest of these (0 exactly at the optimum).
//!
//! The check costs O(d^3), so it runs whenever the sweeps since the last check have done
//! about as much work as one check (counted in flops), i.e. every sweep or every few sweeps,
//! never gated on the change of W (which can stall above tol while the residual is tiny).
//! The inner lassos are solved to a share of the outer progress, floored at tol / 10; when a
//! check finds the residual no longer falling, the floor drops a hundredfold (on ill-conditioned
//! S the residual amplifies lasso errors by Theta's scale, and a fixed tol / 10 left it stuck
//! at a few tol for every sweep). A residual that cannot fall further even with the lassos
//! solved to rounding ends the iteration unconverged instead of running to max_iter.
//!
//! Screening (Witten, Friedman & Simon 2011; Mazumder & Hastie 2012): the connected
//! components of the graph |S_ij| > alpha (i != j) are exactly the blocks of the solution's
//! block-diagonal structure, so each block is solved on its own; singletons are closed-form
//! (Theta_ii = 1 / (S_ii + diagonal penalty)).

use crate::linalg::{axpy, cholesky, spd_inverse};

pub struct Params {
    pub alpha: f64,
    pub tol: f64,
    pub max_iter: usize,
    pub penalize_diagonal: bool,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Report {
    /// Outer sweeps over all columns.
    pub iterations: usize,
    /// KKT residual (max norm) of the returned precision.
    pub gap: f64,
    /// Duality gap tr(S Theta) + alpha ||Theta||_1 - d (scikit-learn's `_dual_gap`).
    pub dual_gap: f64,
    /// Objective -ln|Theta| + tr(S Theta) + alpha ||Theta||_1 at the returned precision.
    pub objective: f64,
    pub converged: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Failure {
    /// The working covariance lost positive definiteness at column `col` (ill-conditioned input).
    LostDefiniteness { col: usize },
    /// The assembled precision is not positive definite (pivot `pivot`).
    PrecisionNotPd { pivot: usize },
    /// A non-finite value appeared (diverging iteration).
    NonFinite,
}

const INNER_FACTOR: f64 = 0.05;
/// Run the KKT check once the sweeps since the last one did this share of its cost.
const CHECK_SHARE: f64 = 1.0;
/// A check whose KKT residual is above this share of the previous one made no progress.
const STALL_RATIO: f64 = 0.5;
/// Lowest inner lasso accuracy floor (standardised units: far below any useful tol).
const MIN_INNER_FLOOR: f64 = 1e-15;
/// Checks without a new lowest residual, at the lowest floor, before the residual counts as at rounding level.
const STALL_CHECKS: usize = 8;

#[inline]
fn soft(x: f64, t: f64) -> f64 {
    if x > t {
        x - t
    } else if x < -t {
        x + t
    } else {
        0.0
    }
}

/// Coordinate descent for column j's lasso: min_b 1/2 b^T W11 b - b^T s12 + alpha |b|_1.
/// `b` (length d, entry j unused) is the warm start and the result; `wb` = W11 b on return.
/// Returns the work done, in flops (d per axpy, 1 per coordinate visited).
fn lasso(w: &[f64], d: usize, j: usize, s_row: &[f64], alpha: f64, b: &mut [f64], wb: &mut [f64], eps: f64) -> f64 {
    for v in wb.iter_mut() {
        *v = 0.0;
    }
    let mut axpys = 0usize;
    let mut visits = 0usize;
    for l in 0..d {
        if l != j && b[l] != 0.0 {
            axpy(b[l], &w[l * d..l * d + d], wb);
            axpys += 1;
        }
    }
    let mut full = true;
    for _sweep in 0..100_000 {
        let mut maxd: f64 = 0.0;
        for k in 0..d {
            if k == j || (!full && b[k] == 0.0) {
                continue;
            }
            visits += 1;
            let wkk = w[k * d + k];
            let old = b[k];
            let r = s_row[k] - (wb[k] - wkk * old);
            let new = soft(r, alpha) / wkk;
            if new != old {
                let delta = new - old;
                b[k] = new;
                axpy(delta, &w[k * d..k * d + d], wb);
                axpys += 1;
                maxd = maxd.max(delta.abs() * wkk);
            }
        }
        if maxd < eps {
            if full {
                break;
            }
            full = true;
        } else {
            full = false;
        }
    }
    (axpys * d + visits) as f64
}

/// Connected components of the graph with an edge i -- j when |S_ij| > alpha (i != j).
/// Each component lists its indices in increasing order; components are ordered by their
/// smallest index.
pub fn components(s: &[f64], d: usize, alpha: f64) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..d).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for i in 0..d {
        for j in (i + 1)..d {
            if s[i * d + j].abs() > alpha {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                if a != b {
                    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
                    parent[hi] = lo;
                }
            }
        }
    }
    let mut slot = vec![usize::MAX; d];
    let mut out: Vec<Vec<usize>> = Vec::new();
    for i in 0..d {
        let r = find(&mut parent, i);
        if slot[r] == usize::MAX {
            slot[r] = out.len();
            out.push(Vec::new());
        }
        out[slot[r]].push(i);
    }
    out
}

/// Run the graphical lasso, split by the screening rule into independent blocks.
/// `w` (d x d): working covariance — on entry the warm start when `warm`, else overwritten
/// with S (+ alpha I when penalising the diagonal); on exit the final W.
/// `b` (d x d): row j holds column j's lasso coefficients (warm start when `warm`).
/// `theta` (d x d): the precision on exit; `sigma`, `scratch` are d x d work buffers.
/// `screen` = false solves the whole matrix as one block (for testing the rule).
pub fn glasso(
    s: &[f64],
    d: usize,
    p: &Params,
    warm: bool,
    screen: bool,
    w: &mut [f64],
    b: &mut [f64],
    theta: &mut [f64],
    sigma: &mut [f64],
    scratch: &mut [f64],
) -> Result<Report, Failure> {
    let comps = if screen { components(s, d, p.alpha) } else { vec![(0..d).collect()] };
    if comps.len() == 1 {
        return solve_block(s, d, p, warm, w, b, theta, sigma, scratch);
    }
    let diag_pen = if p.penalize_diagonal { p.alpha } else { 0.0 };
    let mut rep = Report { converged: true, ..Report::default() };
    let mut block_of = vec![0usize; d];
    for (c, comp) in comps.iter().enumerate() {
        for &i in comp {
            block_of[i] = c;
        }
    }
    for comp in &comps {
        let n = comp.len();
        if n == 1 {
            let i = comp[0];
            let wii = s[i * d + i] + diag_pen;
            w[i * d + i] = wii;
            theta[i * d + i] = 1.0 / wii;
            b[i * d + i] = 0.0;
            // -ln(1/wii) + (s_ii + pen) / wii; the duality gap contribution is exactly 0.
            rep.objective += wii.ln() + 1.0;
            continue;
        }
        let nn = n * n;
        let mut ss = vec![0.0; nn];
        let mut ws = vec![0.0; nn];
        let mut bs = vec![0.0; nn];
        for (a, &i) in comp.iter().enumerate() {
            for (c, &j) in comp.iter().enumerate() {
                ss[a * n + c] = s[i * d + j];
                if warm {
                    ws[a * n + c] = w[i * d + j];
                    bs[a * n + c] = b[i * d + j];
                }
            }
        }
        let mut ts = vec![0.0; nn];
        let mut sg = vec![0.0; nn];
        let mut sc = vec![0.0; nn];
        let r = solve_block(&ss, n, p, warm, &mut ws, &mut bs, &mut ts, &mut sg, &mut sc)
            .map_err(|f| match f {
                Failure::LostDefiniteness { col } => Failure::LostDefiniteness { col: comp[col] },
                Failure::PrecisionNotPd { pivot } => Failure::PrecisionNotPd { pivot: comp[pivot] },
                Failure::NonFinite => Failure::NonFinite,
            })?;
        for (a, &i) in comp.iter().enumerate() {
            for (c, &j) in comp.iter().enumerate() {
                theta[i * d + j] = ts[a * n + c];
                w[i * d + j] = ws[a * n + c];
                b[i * d + j] = bs[a * n + c];
            }
        }
        rep.iterations = rep.iterations.max(r.iterations);
        rep.gap = rep.gap.max(r.gap);
        rep.dual_gap += r.dual_gap;
        rep.objective += r.objective;
        rep.converged = rep.converged && r.converged;
    }
    for i in 0..d {
        for j in 0..d {
            if block_of[i] != block_of[j] {
                w[i * d + j] = 0.0;
                b[i * d + j] = 0.0;
                theta[i * d + j] = 0.0;
            }
        }
    }
    Ok(rep)
}

/// Block coordinate descent on one block (the whole matrix when screening finds one block).
#[allow(clippy::too_many_arguments)]
fn solve_block(
    s: &[f64],
    d: usize,
    p: &Params,
    warm: bool,
    w: &mut [f64],
    b: &mut [f64],
    theta: &mut [f64],
    sigma: &mut [f64],
    scratch: &mut [f64],
) -> Result<Report, Failure> {
    let dd = d * d;
    let diag_pen = if p.penalize_diagonal { p.alpha } else { 0.0 };
    let warm = warm && adapt_warm_start(s, d, p.alpha, diag_pen, w, b, scratch);
    if !warm {
        w[..dd].copy_from_slice(&s[..dd]);
        for v in b[..dd].iter_mut() {
            *v = 0.0;
        }
    }
    for j in 0..d {
        w[j * d + j] = s[j * d + j] + diag_pen;
        b[j * d + j] = 0.0;
    }
    let mut wb = vec![0.0; d.max(1)];
    let mut rep = Report::default();
    let mut last_gap = f64::INFINITY;
    let mut last_change = f64::INFINITY;
    // Floor of the inner lasso accuracy. It starts at tol / 10, but the KKT residual of the
    // assembled Theta amplifies lasso errors by Theta's scale (large on ill-conditioned S), so
    // a residual that stops falling between two checks lowers the floor a hundredfold: the
    // outer loop is then never stuck above tol by inner solves that are too coarse.
    let mut floor = 0.1 * p.tol;
    // Checks in a row without progress at the lowest floor: the residual has hit rounding.
    let mut stalled = 0usize;
    let mut best_gap = f64::INFINITY;
    // One KKT check (assemble + Cholesky inverse + residual) costs about d^3 flops.
    let check_cost = CHECK_SHARE * (d as f64).powi(3);
    // A warm start is often already close: check after the first sweep.
    let mut work_since_check = if warm { check_cost } else { 0.0 };
    for iter in 1..=p.max_iter.max(1) {
        rep.iterations = iter;
        // Inner accuracy follows the outer progress down to tol / 10.
        let eps = (INNER_FACTOR * last_gap.min(last_change)).min(1e-2).max(floor);
        let mut change: f64 = 0.0;
        for j in 0..d {
            work_since_check += lasso(w, d, j, &s[j * d..j * d + d], p.alpha, &mut b[j * d..j * d + d], &mut wb, eps);
            for k in 0..d {
                if k != j {
                    let v = wb[k];
                    if !v.is_finite() {
                        return Err(Failure::NonFinite);
                    }
                    change = change.max((w[j * d + k] - v).abs());
                    w[j * d + k] = v;
                    w[k * d + j] = v;
                }
            }
        }
        last_change = change;
        let last = iter == p.max_iter.max(1);
        if work_since_check < check_cost && change > p.tol && !last {
            continue;
        }
        work_since_check = 0.0;
        // Early sweeps with loosely solved lassos can assemble an indefinite Theta: that is
        // not a failure unless it persists to the last sweep.
        if let Err(f) = assemble_precision(w, b, d, theta) {
            if last {
                return Err(f);
            }
            continue;
        }
        let logdet = match spd_inverse(theta, d, sigma, scratch) {
            Ok(v) => v,
            Err(e) => {
                if last {
                    return Err(Failure::PrecisionNotPd { pivot: e.pivot });
                }
                continue;
            }
        };
        let gap = kkt_residual(s, sigma, theta, d, p.alpha, p.penalize_diagonal);
        if !gap.is_finite() {
            return Err(Failure::NonFinite);
        }
        rep.gap = gap;
        let (tr, l1) = trace_and_l1(s, theta, d, p.penalize_diagonal);
        rep.dual_gap = tr + p.alpha * l1 - d as f64;
        rep.objective = -logdet + tr + p.alpha * l1;
        if gap <= p.tol {
            rep.converged = true;
            break;
        }
        if gap > STALL_RATIO * last_gap && floor > MIN_INNER_FLOOR {
            floor = (floor * 0.01).max(MIN_INNER_FLOOR);
        }
        if gap < best_gap {
            best_gap = gap;
            stalled = 0;
        } else if floor <= MIN_INNER_FLOOR {
            stalled += 1;
            // no lower residual in STALL_CHECKS checks with the lassos solved to rounding:
            // the residual is at rounding level, further sweeps cannot lower it (unconverged)
            if stalled >= STALL_CHECKS {
                break;
            }
        }
        last_gap = gap;
    }
    Ok(rep)
}

/// Turn the previous solution (W, b) into a start for this S, or return false for a cold start.
///
/// Glasso is block ascent on the dual, max ln|W| s.t. |W - S|_ij <= alpha off the diagonal
/// and W_jj = S_jj (+ alpha), and its column updates keep W positive definite only from a
/// feasible, positive definite start. A previous W is feasible for the previous S, not for
/// this one: used as it was, it diverged in ~40 % of the EM M-steps measured on ad_shuttle
/// (each failure cost a solve before the cold one). So: (1) rescale W to the new diagonal,
/// R = F W F with F = diag(sqrt(w_new_jj / w_old_jj)) (positive definiteness kept; the
/// coefficients b_jk = -Theta_kj / Theta_jj of Theta <- F^-1 Theta F^-1 scale by f_j / f_k);
/// (2) step from the cold start S towards R only as far as the box allows,
/// W = S + t (R - S) with t = min(1, alpha / max_ij |R - S|_ij): feasible, and positive
/// definite as a convex combination of S (the cold start) and R; (3) keep the start only
/// when W has a Cholesky factor (`scratch`), which guards against a warm W that was not
/// positive definite to begin with.
fn adapt_warm_start(s: &[f64], d: usize, alpha: f64, diag_pen: f64, w: &mut [f64], b: &mut [f64], scratch: &mut [f64]) -> bool {
    let mut f = vec![0.0; d];
    for j in 0..d {
        let old = w[j * d + j];
        let new = s[j * d + j] + diag_pen;
        if !(old > 0.0 && old.is_finite() && new > 0.0) {
            return false;
        }
        f[j] = (new / old).sqrt();
    }
    let mut far: f64 = 0.0;
    for i in 0..d {
        for j in 0..d {
            if i == j {
                w[i * d + i] = s[i * d + i] + diag_pen;
                b[i * d + i] = 0.0;
                continue;
            }
            w[i * d + j] *= f[i] * f[j];
            b[i * d + j] *= f[i] / f[j];
            if !(w[i * d + j].is_finite() && b[i * d + j].is_finite()) {
                return false;
            }
            far = far.max((w[i * d + j] - s[i * d + j]).abs());
        }
    }
    if far > alpha {
        let t = alpha / far;
        for i in 0..d {
            for j in 0..d {
                if i != j {
                    let sij = s[i * d + j];
                    w[i * d + j] = sij + t * (w[i * d + j] - sij);
                }
            }
        }
    }
    cholesky(w, d, scratch).is_ok()
}

/// Theta_jj = 1 / (W_jj - w12^T b_j), Theta_kj = -b_jk Theta_jj, then symmetrised.
fn assemble_precision(w: &[f64], b: &[f64], d: usize, theta: &mut [f64]) -> Result<(), Failure> {
    for j in 0..d {
        let bj = &b[j * d..j * d + d];
        let wj = &w[j * d..j * d + d];
        let mut q = 0.0;
        for k in 0..d {
            if k != j {
                q += wj[k] * bj[k];
            }
        }
        let schur = wj[j] - q;
        if !(schur > 0.0) || !schur.is_finite() {
            return Err(Failure::LostDefiniteness { col: j });
        }
        let tjj = 1.0 / schur;
        // column j of Theta, stored in row j for now (transposed below by symmetrisation)
        for k in 0..d {
            theta[j * d + k] = if k == j { tjj } else { -bj[k] * tjj };
        }
    }
    for i in 0..d {
        for j in 0..i {
            let v = 0.5 * (theta[i * d + j] + theta[j * d + i]);
            theta[i * d + j] = v;
            theta[j * d + i] = v;
        }
    }
    Ok(())
}

pub fn kkt_residual(s: &[f64], sigma: &[f64], theta: &[f64], d: usize, alpha: f64, penalize_diagonal: bool) -> f64 {
    let mut r: f64 = 0.0;
    for i in 0..d {
        for j in 0..d {
            let g = s[i * d + j] - sigma[i * d + j];
            let t = theta[i * d + j];
            let v = if i == j {
                (g + if penalize_diagonal { alpha } else { 0.0 }).abs()
            } else if t > 0.0 {
                (g + alpha).abs()
            } else if t < 0.0 {
                (g - alpha).abs()
            } else {
                (g.abs() - alpha).max(0.0)
            };
            r = r.max(v);
        }
    }
    r
}

/// (tr(S Theta), penalised l1 norm of Theta).
pub fn trace_and_l1(s: &[f64], theta: &[f64], d: usize, penalize_diagonal: bool) -> (f64, f64) {
    let mut tr = 0.0;
    let mut l1 = 0.0;
    for i in 0..d {
        for j in 0..d {
            let t = theta[i * d + j];
            tr += s[i * d + j] * t;
            if i != j || penalize_diagonal {
                l1 += t.abs();
            }
        }
    }
    (tr, l1)
}

/// Lasso coefficients of a precision matrix: b_jk = -Theta_kj / Theta_jj (row j of `b`),
/// the warm start matching `theta`. Err(j) when Theta_jj <= 0.
pub fn coefficients_from_precision(theta: &[f64], d: usize, b: &mut [f64]) -> Result<(), usize> {
    for j in 0..d {
        let tjj = theta[j * d + j];
        if !(tjj > 0.0) {
            return Err(j);
        }
        for k in 0..d {
            b[j * d + k] = if k == j { 0.0 } else { -theta[k * d + j] / tjj };
        }
    }
    Ok(())
}
