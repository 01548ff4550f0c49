//! Fused multi-task VAE kernels (DESIGN.md eq. 21-40): the ELBO of one node's batch with
//! its gradients with respect to the encoder phi and the decoder theta, written out by
//! hand (backpropagation through both MLPs and the reparameterisation), and the per-sample
//! anomaly score of eq. 39.
//!
//! Networks (eq. 23), both "one ReLU hidden layer, two linear heads, softplus scale":
//!   encoder  q = ReLU(W1 x + b1), m = W2 q + b2, h     = softplus(W3 q + b3) + h_floor
//!   decoder  q = ReLU(W1 z + b1), mu = W2 q + b2, sigma = softplus(W3 q + b3) + s_floor
//! The floors (> 0) keep ln h and ln sigma finite however far the pre-activations drift;
//! they shift the value only, the derivative is still the sigmoid.
//!
//! Packing of a network with input `din`, hidden `hid`, output `dout` (all row-major,
//! weights `out x in`): [W1 (hid x din), b1 (hid), W2 (dout x hid), b2 (dout),
//! W3 (dout x hid), b3 (dout)]. Encoder: din = M, dout = d. Decoder: din = d, dout = M.
//!
//! Batches: x is B x M, the standard-normal draws v are J x B x d (drawn by the host from
//! the seeded generator, so a run replays exactly), z_j = h (.) v_j + m.

use crate::mlp::{gemm_nt, relu, transpose};

const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;

/// Offsets of W1, b1, W2, b2, W3, b3 in a packed network, and its total length.
#[derive(Clone, Copy)]
pub struct NetLayout {
    pub din: usize,
    pub hid: usize,
    pub dout: usize,
}

impl NetLayout {
    pub fn len(&self) -> usize {
        self.hid * self.din + self.hid + 2 * (self.dout * self.hid + self.dout)
    }
    fn w1(&self) -> core::ops::Range<usize> {
        0..self.hid * self.din
    }
    fn b1(&self) -> core::ops::Range<usize> {
        let s = self.hid * self.din;
        s..s + self.hid
    }
    fn w2(&self) -> core::ops::Range<usize> {
        let s = self.b1().end;
        s..s + self.dout * self.hid
    }
    fn b2(&self) -> core::ops::Range<usize> {
        let s = self.w2().end;
        s..s + self.dout
    }
    fn w3(&self) -> core::ops::Range<usize> {
        let s = self.b2().end;
        s..s + self.dout * self.hid
    }
    fn b3(&self) -> core::ops::Range<usize> {
        let s = self.w3().end;
        s..s + self.dout
    }
}

/// Activations of one network on a batch of n rows.
struct Forward {
    a1: Vec<f64>,  // n x hid pre-activation
    q: Vec<f64>,   // n x hid ReLU(a1)
    loc: Vec<f64>, // n x dout (m or mu)
    scale: Vec<f64>, // n x dout (h or sigma)
    slope: Vec<f64>, // n x dout sigmoid(pre) = d scale / d pre
}

fn forward(p: &[f64], l: NetLayout, input: &[f64], n: usize, floor: f64) -> Forward {
    let mut a1 = vec![0.0; n * l.hid];
    gemm_nt(input, &p[l.w1()], Some(&p[l.b1()]), &mut a1, n, l.hid, l.din, false);
    let q: Vec<f64> = a1.iter().map(|&a| relu(a)).collect();
    let mut loc = vec![0.0; n * l.dout];
    gemm_nt(&q, &p[l.w2()], Some(&p[l.b2()]), &mut loc, n, l.dout, l.hid, false);
    let mut pre = vec![0.0; n * l.dout];
    gemm_nt(&q, &p[l.w3()], Some(&p[l.b3()]), &mut pre, n, l.dout, l.hid, false);
    // softplus and its derivative from one exponential: e = exp(-|a|),
    // softplus(a) = max(a, 0) + ln(1 + e), sigmoid(a) = 1 / (1 + e) or e / (1 + e)
    let mut scale = pre.clone();
    let mut slope = pre;
    for (s, g) in scale.iter_mut().zip(slope.iter_mut()) {
        let a = *s;
        let e = (-a.abs()).exp();
        *s = relu(a) + e.ln_1p() + floor;
        *g = if a >= 0.0 { 1.0 / (1.0 + e) } else { e / (1.0 + e) };
    }
    Forward { a1, q, loc, scale, slope }
}

/// Scratch for one network's backward pass (transposes of its weights and of the batch).
struct Back {
    w1t: Vec<f64>,
    w2t: Vec<f64>,
    w3t: Vec<f64>,
    dq: Vec<f64>,
    tr_a: Vec<f64>,
    tr_b: Vec<f64>,
}

impl Back {
    fn new(p: &[f64], l: NetLayout, n: usize) -> Back {
        let mut w1t = vec![0.0; l.din * l.hid];
        let mut w2t = vec![0.0; l.hid * l.dout];
        let mut w3t = vec![0.0; l.hid * l.dout];
        transpose(&p[l.w1()], &mut w1t, l.hid, l.din);
        transpose(&p[l.w2()], &mut w2t, l.dout, l.hid);
        transpose(&p[l.w3()], &mut w3t, l.dout, l.hid);
        let big = n * l.hid.max(l.dout).max(l.din);
        Back { w1t, w2t, w3t, dq: vec![0.0; n * l.hid], tr_a: vec![0.0; big], tr_b: vec![0.0; big] }
    }

    /// Given dL/dloc and dL/dpre (n x dout), accumulate the parameter gradient into `g`
    /// and, when `d_in` is given, write dL/dinput (n x din) there.
    fn run(&mut self, f: &Forward, l: NetLayout, input: &[f64], dloc: &[f64], dpre: &[f64], n: usize, g: &mut [f64], d_in: Option<&mut [f64]>) {
        // heads: dW2 += dloc^T q, dW3 += dpre^T q; db2, db3 column sums
        transpose(&f.q, &mut self.tr_b[..n * l.hid], n, l.hid);
        for (d, w, b) in [(dloc, l.w2(), l.b2()), (dpre, l.w3(), l.b3())] {
            transpose(d, &mut self.tr_a[..n * l.dout], n, l.dout);
            gemm_nt(&self.tr_a[..n * l.dout], &self.tr_b[..n * l.hid], None, &mut g[w], l.dout, l.hid, n, true);
            let gb = &mut g[b];
            for o in 0..l.dout {
                gb[o] += self.tr_a[o * n..(o + 1) * n].iter().sum::<f64>();
            }
        }
        // dq = dloc W2 + dpre W3, then through the ReLU
        gemm_nt(dloc, &self.w2t, None, &mut self.dq, n, l.hid, l.dout, false);
        gemm_nt(dpre, &self.w3t, None, &mut self.dq, n, l.hid, l.dout, true);
        for (dq, a) in self.dq.iter_mut().zip(f.a1.iter()) {
            if *a <= 0.0 {
                *dq = 0.0;
            }
        }
        // first layer: dW1 += da1^T input, db1; d input = da1 W1
        transpose(&self.dq, &mut self.tr_a[..n * l.hid], n, l.hid);
        transpose(input, &mut self.tr_b[..n * l.din], n, l.din);
        gemm_nt(&self.tr_a[..n * l.hid], &self.tr_b[..n * l.din], None, &mut g[l.w1()], l.hid, l.din, n, true);
        let gb = &mut g[l.b1()];
        for o in 0..l.hid {
            gb[o] += self.tr_a[o * n..(o + 1) * n].iter().sum::<f64>();
        }
        if let Some(d_in) = d_in {
            gemm_nt(&self.dq, &self.w1t, None, d_in, n, l.din, l.hid, false);
        }
    }
}

/// Problem sizes: M features, hidden width, latent d, batch B, draws J.
#[derive(Clone, Copy)]
pub struct VaeDims {
    pub m: usize,
    pub hid: usize,
    pub d: usize,
    pub b: usize,
    pub j: usize,
}

impl VaeDims {
    pub fn encoder(&self) -> NetLayout {
        NetLayout { din: self.m, hid: self.hid, dout: self.d }
    }
    pub fn decoder(&self) -> NetLayout {
        NetLayout { din: self.d, hid: self.hid, dout: self.m }
    }
}

/// Sums of one ELBO evaluation over the batch.
pub struct ElboSums {
    /// L = sum_n [ -KL_n + (1/J) sum_j ln N(x_n | mu(z_nj), diag sigma(z_nj)^2) ]  (eq. 28/30)
    pub elbo: f64,
    /// sum_n KL_n
    pub kl: f64,
    /// sum_n (1/J) sum_j ln N(...)
    pub recon: f64,
}

/// The encoder's input: a missing entry (NaN) enters at 0, the network mean in model
/// coordinates; the reconstruction terms skip it (training) or take its expectation (score).
fn encoder_input(x: &[f64]) -> Vec<f64> {
    x.iter().map(|&v| if v.is_nan() { 0.0 } else { v }).collect()
}

/// ELBO of the batch (eq. 28/30, KL sign corrected) and its gradients (eq. 33-34):
/// gphi (encoder length) and gtheta (decoder length) are overwritten with dL/dphi and
/// dL/dtheta; kl_dim (d) receives sum_n KL_n,i per latent dimension.
pub fn elbo_grad(
    dims: VaeDims,
    phi: &[f64],
    theta: &[f64],
    x: &[f64],
    v: &[f64],
    h_floor: f64,
    s_floor: f64,
    gphi: &mut [f64],
    gtheta: &mut [f64],
    kl_dim: &mut [f64],
) -> ElboSums {
    let VaeDims { m, d, b, j, .. } = dims;
    let (el, dl) = (dims.encoder(), dims.decoder());
    let xin = encoder_input(x);
    let enc = forward(phi, el, &xin, b, h_floor);
    gphi.iter_mut().for_each(|g| *g = 0.0);
    gtheta.iter_mut().for_each(|g| *g = 0.0);
    kl_dim.iter_mut().for_each(|g| *g = 0.0);

    let mut dm = vec![0.0; b * d];
    let mut dh = vec![0.0; b * d];
    let mut z = vec![0.0; b * d];
    let mut dz = vec![0.0; b * d];
    let mut dmu = vec![0.0; b * m];
    let mut dpre = vec![0.0; b * m];
    let mut back_dec = Back::new(theta, dl, b);
    let wj = 1.0 / j as f64;
    let mut recon = 0.0;
    for jj in 0..j {
        let vj = &v[jj * b * d..(jj + 1) * b * d];
        for i in 0..b * d {
            z[i] = enc.scale[i] * vj[i] + enc.loc[i];
        }
        let dec = forward(theta, dl, &z, b, s_floor);
        // ln N(x | mu, diag sigma^2) and its derivatives w.r.t. mu and the softplus input
        for i in 0..b * m {
            if x[i].is_nan() {
                // a missing entry: no reconstruction term, no gradient
                dmu[i] = 0.0;
                dpre[i] = 0.0;
                continue;
            }
            let s = dec.scale[i];
            let inv = 1.0 / s;
            let t = (x[i] - dec.loc[i]) * inv;
            recon += wj * (-HALF_LN_2PI - s.ln() - 0.5 * t * t);
            dmu[i] = wj * t * inv;
            dpre[i] = wj * (t * t - 1.0) * inv * dec.slope[i];
        }
        back_dec.run(&dec, dl, &z, &dmu, &dpre, b, gtheta, Some(&mut dz));
        // reparameterisation z = h (.) v + m
        for i in 0..b * d {
            dm[i] += dz[i];
            dh[i] += dz[i] * vj[i];
        }
    }
    // -KL(q || N(0, I)) = 1/2 sum_i (ln h^2 + 1 - h^2 - m^2)   (eq. 30, sign corrected)
    let mut kl = 0.0;
    for n in 0..b {
        for i in 0..d {
            let k = n * d + i;
            let (mi, hi) = (enc.loc[k], enc.scale[k]);
            let kli = -0.5 * (2.0 * hi.ln() + 1.0 - hi * hi - mi * mi);
            kl_dim[i] += kli;
            kl += kli;
            dm[k] -= mi;
            dh[k] += 1.0 / hi - hi;
            dh[k] *= enc.slope[k];
        }
    }
    let mut back_enc = Back::new(phi, el, b);
    back_enc.run(&enc, el, &xin, &dm, &dh, b, gphi, None);
    ElboSums { elbo: recon - kl, kl, recon }
}

/// Per-sample variant of `elbo_grad` for DP-SGD: row n of `gtheta_rows` (b x P_theta)
/// receives the decoder gradient of sample n's own ELBO term, d L_n / d theta (its J draws
/// averaged), so the host can clip each sample's contribution before summing. Each row is
/// computed by `elbo_grad` on the one-row batch {x_n} with that row's draws v_{j,n}, so
/// sum_n row_n is the batch gradient up to rounding. Likewise row n of `gphi_rows`
/// (b x P_phi) receives sample n's encoder gradient. gphi, kl_dim and the sums are the
/// batch totals, as in `elbo_grad`.
pub fn elbo_grad_per_sample(
    dims: VaeDims,
    phi: &[f64],
    theta: &[f64],
    x: &[f64],
    v: &[f64],
    h_floor: f64,
    s_floor: f64,
    gphi: &mut [f64],
    gphi_rows: &mut [f64],
    gtheta_rows: &mut [f64],
    kl_dim: &mut [f64],
) -> ElboSums {
    let VaeDims { m, d, b, j, .. } = dims;
    let one = VaeDims { b: 1, ..dims };
    let (pl, tl) = (dims.encoder().len(), dims.decoder().len());
    gphi.iter_mut().for_each(|g| *g = 0.0);
    kl_dim.iter_mut().for_each(|g| *g = 0.0);
    let mut kl_n = vec![0.0; d];
    let mut v_n = vec![0.0; j * d];
    let mut total = ElboSums { elbo: 0.0, kl: 0.0, recon: 0.0 };
    for n in 0..b {
        for jj in 0..j {
            v_n[jj * d..(jj + 1) * d].copy_from_slice(&v[(jj * b + n) * d..(jj * b + n + 1) * d]);
        }
        let gphi_n = &mut gphi_rows[n * pl..(n + 1) * pl];
        let r = elbo_grad(one, phi, theta, &x[n * m..(n + 1) * m], &v_n, h_floor, s_floor, gphi_n, &mut gtheta_rows[n * tl..(n + 1) * tl], &mut kl_n);
        for (g, gn) in gphi.iter_mut().zip(gphi_n.iter()) {
            *g += gn;
        }
        for (k, kn) in kl_dim.iter_mut().zip(kl_n.iter()) {
            *k += kn;
        }
        total.elbo += r.elbo;
        total.kl += r.kl;
        total.recon += r.recon;
    }
    total
}

/// Anomaly score of eq. 39 per row: -(1/J) sum_j ln N(x | mu(z_j), diag sigma(z_j)^2),
/// z_j = h(x) (.) v_j + m(x) from this node's encoder, plus `kl_weight` times the row's
/// KL(q(z | x) || N(0, I)) (0: eq. 39 exactly; 1: the negative ELBO of the row).
pub fn score(dims: VaeDims, phi: &[f64], theta: &[f64], x: &[f64], v: &[f64], h_floor: f64, s_floor: f64, kl_weight: f64, out: &mut [f64]) {
    let VaeDims { m, d, b, j, .. } = dims;
    let enc = forward(phi, dims.encoder(), &encoder_input(x), b, h_floor);
    for n in 0..b {
        let mut kl = 0.0;
        for k in n * d..(n + 1) * d {
            let (mi, hi) = (enc.loc[k], enc.scale[k]);
            kl -= 0.5 * (2.0 * hi.ln() + 1.0 - hi * hi - mi * mi);
        }
        out[n] = kl_weight * kl;
    }
    let wj = 1.0 / j as f64;
    let mut z = vec![0.0; b * d];
    for jj in 0..j {
        let vj = &v[jj * b * d..(jj + 1) * b * d];
        for i in 0..b * d {
            z[i] = enc.scale[i] * vj[i] + enc.loc[i];
        }
        let dec = forward(theta, dims.decoder(), &z, b, s_floor);
        for n in 0..b {
            let mut ll = 0.0;
            for k in n * m..(n + 1) * m {
                let s = dec.scale[k];
                // a missing entry: its expected log-density under the decoder, E[t^2] = 1
                let t2 = if x[k].is_nan() {
                    1.0
                } else {
                    let t = (x[k] - dec.loc[k]) / s;
                    t * t
                };
                ll += -HALF_LN_2PI - s.ln() - 0.5 * t2;
            }
            out[n] -= wj * ll;
        }
    }
}

// ---------------------------------------------------------------------------------------
// extern "C" boundary (pointers from cd_alloc; see exports.rs for the memory contract)

/// Length of the packed encoder (which = 0) or decoder (which = 1) for sizes (m, hid, d).
#[no_mangle]
pub extern "C" fn cd_vae_param_len(m: usize, hid: usize, d: usize, which: u32) -> usize {
    let dims = VaeDims { m, hid, d, b: 0, j: 0 };
    if which == 0 {
        dims.encoder().len()
    } else {
        dims.decoder().len()
    }
}

/// ELBO and gradients. `sums` (3) receives [elbo, kl, recon]; gphi, gtheta, kl_dim overwritten.
#[no_mangle]
pub unsafe extern "C" fn cd_vae_elbo_grad(
    m: usize,
    hid: usize,
    d: usize,
    b: usize,
    j: usize,
    phi: *const f64,
    theta: *const f64,
    x: *const f64,
    v: *const f64,
    h_floor: f64,
    s_floor: f64,
    gphi: *mut f64,
    gtheta: *mut f64,
    kl_dim: *mut f64,
    sums: *mut f64,
) {
    let dims = VaeDims { m, hid, d, b, j };
    let (pl, tl) = (dims.encoder().len(), dims.decoder().len());
    let r = elbo_grad(
        dims,
        core::slice::from_raw_parts(phi, pl),
        core::slice::from_raw_parts(theta, tl),
        core::slice::from_raw_parts(x, b * m),
        core::slice::from_raw_parts(v, j * b * d),
        h_floor,
        s_floor,
        core::slice::from_raw_parts_mut(gphi, pl),
        core::slice::from_raw_parts_mut(gtheta, tl),
        core::slice::from_raw_parts_mut(kl_dim, d),
    );
    let s = core::slice::from_raw_parts_mut(sums, 3);
    s[0] = r.elbo;
    s[1] = r.kl;
    s[2] = r.recon;
}

/// Per-row anomaly score (eq. 39, plus kl_weight x KL of the row) into `out` (b).
#[no_mangle]
pub unsafe extern "C" fn cd_vae_score(
    m: usize,
    hid: usize,
    d: usize,
    b: usize,
    j: usize,
    phi: *const f64,
    theta: *const f64,
    x: *const f64,
    v: *const f64,
    h_floor: f64,
    s_floor: f64,
    kl_weight: f64,
    out: *mut f64,
) {
    let dims = VaeDims { m, hid, d, b, j };
    score(
        dims,
        core::slice::from_raw_parts(phi, dims.encoder().len()),
        core::slice::from_raw_parts(theta, dims.decoder().len()),
        core::slice::from_raw_parts(x, b * m),
        core::slice::from_raw_parts(v, j * b * d),
        h_floor,
        s_floor,
        kl_weight,
        core::slice::from_raw_parts_mut(out, b),
    );
}

/// Per-sample gradients (`elbo_grad_per_sample`): gphi_rows is b x P_phi, gtheta_rows b x P_theta;
/// `sums` (3) receives [elbo, kl, recon]; gphi, kl_dim are batch totals.
#[no_mangle]
pub unsafe extern "C" fn cd_vae_elbo_grad_per_sample(
    m: usize,
    hid: usize,
    d: usize,
    b: usize,
    j: usize,
    phi: *const f64,
    theta: *const f64,
    x: *const f64,
    v: *const f64,
    h_floor: f64,
    s_floor: f64,
    gphi: *mut f64,
    gphi_rows: *mut f64,
    gtheta_rows: *mut f64,
    kl_dim: *mut f64,
    sums: *mut f64,
) {
    let dims = VaeDims { m, hid, d, b, j };
    let (pl, tl) = (dims.encoder().len(), dims.decoder().len());
    let r = elbo_grad_per_sample(
        dims,
        core::slice::from_raw_parts(phi, pl),
        core::slice::from_raw_parts(theta, tl),
        core::slice::from_raw_parts(x, b * m),
        core::slice::from_raw_parts(v, j * b * d),
        h_floor,
        s_floor,
        core::slice::from_raw_parts_mut(gphi, pl),
        core::slice::from_raw_parts_mut(gphi_rows, b * pl),
        core::slice::from_raw_parts_mut(gtheta_rows, b * tl),
        core::slice::from_raw_parts_mut(kl_dim, d),
    );
    let s = core::slice::from_raw_parts_mut(sums, 3);
    s[0] = r.elbo;
    s[1] = r.kl;
    s[2] = r.recon;
}
