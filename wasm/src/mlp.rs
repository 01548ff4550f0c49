//! Dense MLP layers (affine, ReLU, softplus), batched and row-major, forward and backward.
//!
//! Conventions: a batch is `n` rows of `din` values (`x[r * din + i]`); an affine layer
//! has weights `w` of shape `dout x din` (row `o` holds the weights into output `o`) and a
//! bias `b` of length `dout`, so `y = x w^T + b` (PyTorch's `Linear`).
//!
//! Every product is one kernel, `gemm_nt` (`c = a b^T`, both operands read along
//! contiguous rows), blocked 2 x 2 with `f64x2` SIMD lanes on wasm32. The backward products
//! are brought to that form by transposing the small operand (`w`, or `dy` and `x` for
//! the weight gradient), which keeps every inner loop a unit-stride dot product.
//!
//! The `cd_*` exports at the bottom are the thin boundary `src/numeric/mlp.ts` drives;
//! the memory contract is the one of `exports.rs` (host allocates and frees).

#[cfg(target_arch = "wasm32")]
use core::arch::wasm32::*;

/// Dot product of two equal-length slices (SIMD on wasm32).
#[inline(always)]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let k = a.len();
    debug_assert_eq!(k, b.len());
    #[cfg(target_arch = "wasm32")]
    unsafe {
        let pa = a.as_ptr();
        let pb = b.as_ptr();
        let mut acc0 = f64x2_splat(0.0);
        let mut acc1 = f64x2_splat(0.0);
        let mut i = 0;
        while i + 4 <= k {
            let a0 = v128_load(pa.add(i) as *const v128);
            let b0 = v128_load(pb.add(i) as *const v128);
            let a1 = v128_load(pa.add(i + 2) as *const v128);
            let b1 = v128_load(pb.add(i + 2) as *const v128);
            acc0 = f64x2_add(acc0, f64x2_mul(a0, b0));
            acc1 = f64x2_add(acc1, f64x2_mul(a1, b1));
            i += 4;
        }
        let acc = f64x2_add(acc0, acc1);
        let mut s = f64x2_extract_lane::<0>(acc) + f64x2_extract_lane::<1>(acc);
        while i < k {
            s += *pa.add(i) * *pb.add(i);
            i += 1;
        }
        s
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let mut s = 0.0;
        for i in 0..k {
            s += a[i] * b[i];
        }
        s
    }
}

/// Four dot products at once: rows a0, a1 against rows b0, b1 (all length k).
/// Returns [a0.b0, a0.b1, a1.b0, a1.b1].
#[inline(always)]
fn dot2x2(a0: &[f64], a1: &[f64], b0: &[f64], b1: &[f64]) -> [f64; 4] {
    let k = a0.len();
    #[cfg(target_arch = "wasm32")]
    unsafe {
        let (pa0, pa1, pb0, pb1) = (a0.as_ptr(), a1.as_ptr(), b0.as_ptr(), b1.as_ptr());
        let mut c00 = f64x2_splat(0.0);
        let mut c01 = f64x2_splat(0.0);
        let mut c10 = f64x2_splat(0.0);
        let mut c11 = f64x2_splat(0.0);
        let mut i = 0;
        while i + 2 <= k {
            let x0 = v128_load(pa0.add(i) as *const v128);
            let x1 = v128_load(pa1.add(i) as *const v128);
            let y0 = v128_load(pb0.add(i) as *const v128);
            let y1 = v128_load(pb1.add(i) as *const v128);
            c00 = f64x2_add(c00, f64x2_mul(x0, y0));
            c01 = f64x2_add(c01, f64x2_mul(x0, y1));
            c10 = f64x2_add(c10, f64x2_mul(x1, y0));
            c11 = f64x2_add(c11, f64x2_mul(x1, y1));
            i += 2;
        }
        let mut r = [
            f64x2_extract_lane::<0>(c00) + f64x2_extract_lane::<1>(c00),
            f64x2_extract_lane::<0>(c01) + f64x2_extract_lane::<1>(c01),
            f64x2_extract_lane::<0>(c10) + f64x2_extract_lane::<1>(c10),
            f64x2_extract_lane::<0>(c11) + f64x2_extract_lane::<1>(c11),
        ];
        if i < k {
            let (u0, u1, v0, v1) = (*pa0.add(i), *pa1.add(i), *pb0.add(i), *pb1.add(i));
            r[0] += u0 * v0;
            r[1] += u0 * v1;
            r[2] += u1 * v0;
            r[3] += u1 * v1;
        }
        r
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let mut r = [0.0; 4];
        for i in 0..k {
            r[0] += a0[i] * b0[i];
            r[1] += a0[i] * b1[i];
            r[2] += a1[i] * b0[i];
            r[3] += a1[i] * b1[i];
        }
        r
    }
}

/// Eight dot products at once: rows a0..a3 against rows b0, b1 (all length k, k even on
/// the SIMD path). Returns [a0.b0, a0.b1, a1.b0, a1.b1, a2.b0, a2.b1, a3.b0, a3.b1].
/// Eight accumulators and six loads per step keep the 16 SIMD registers busy.
#[inline(always)]
fn dot4x2(a: [&[f64]; 4], b0: &[f64], b1: &[f64]) -> [f64; 8] {
    let k = b0.len();
    #[cfg(target_arch = "wasm32")]
    unsafe {
        let pa = [a[0].as_ptr(), a[1].as_ptr(), a[2].as_ptr(), a[3].as_ptr()];
        let (pb0, pb1) = (b0.as_ptr(), b1.as_ptr());
        let mut c = [f64x2_splat(0.0); 8];
        let mut i = 0;
        while i + 2 <= k {
            let y0 = v128_load(pb0.add(i) as *const v128);
            let y1 = v128_load(pb1.add(i) as *const v128);
            let x0 = v128_load(pa[0].add(i) as *const v128);
            let x1 = v128_load(pa[1].add(i) as *const v128);
            let x2 = v128_load(pa[2].add(i) as *const v128);
            let x3 = v128_load(pa[3].add(i) as *const v128);
            c[0] = f64x2_add(c[0], f64x2_mul(x0, y0));
            c[1] = f64x2_add(c[1], f64x2_mul(x0, y1));
            c[2] = f64x2_add(c[2], f64x2_mul(x1, y0));
            c[3] = f64x2_add(c[3], f64x2_mul(x1, y1));
            c[4] = f64x2_add(c[4], f64x2_mul(x2, y0));
            c[5] = f64x2_add(c[5], f64x2_mul(x2, y1));
            c[6] = f64x2_add(c[6], f64x2_mul(x3, y0));
            c[7] = f64x2_add(c[7], f64x2_mul(x3, y1));
            i += 2;
        }
        let mut r = [0.0; 8];
        for q in 0..8 {
            r[q] = f64x2_extract_lane::<0>(c[q]) + f64x2_extract_lane::<1>(c[q]);
        }
        if i < k {
            let (v0, v1) = (*pb0.add(i), *pb1.add(i));
            for q in 0..4 {
                let u = *pa[q].add(i);
                r[2 * q] += u * v0;
                r[2 * q + 1] += u * v1;
            }
        }
        r
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let mut r = [0.0; 8];
        for i in 0..k {
            for q in 0..4 {
                r[2 * q] += a[q][i] * b0[i];
                r[2 * q + 1] += a[q][i] * b1[i];
            }
        }
        r
    }
}

/// `c (ra x rb) = a (ra x k) b^T (rb x k)^T`, plus `bias[j]` on column j when given;
/// with `accumulate` the product is added to `c` instead of overwriting it.
pub fn gemm_nt(a: &[f64], b: &[f64], bias: Option<&[f64]>, c: &mut [f64], ra: usize, rb: usize, k: usize, accumulate: bool) {
    let bias_of = |j: usize| match bias {
        Some(v) => v[j],
        None => 0.0,
    };
    let put = |c: &mut [f64], idx: usize, col: usize, v: f64| {
        let v = v + bias_of(col);
        if accumulate {
            c[idx] += v
        } else {
            c[idx] = v
        }
    };
    // blocks of 4 rows of a x 2 rows of b
    let mut i = 0;
    while i + 4 <= ra {
        let rows = [&a[i * k..(i + 1) * k], &a[(i + 1) * k..(i + 2) * k], &a[(i + 2) * k..(i + 3) * k], &a[(i + 3) * k..(i + 4) * k]];
        let mut j = 0;
        while j < rb {
            let two_cols = j + 1 < rb;
            let b0 = &b[j * k..(j + 1) * k];
            let b1 = if two_cols { &b[(j + 1) * k..(j + 2) * k] } else { b0 };
            let r = dot4x2(rows, b0, b1);
            for q in 0..4 {
                put(c, (i + q) * rb + j, j, r[2 * q]);
                if two_cols {
                    put(c, (i + q) * rb + j + 1, j + 1, r[2 * q + 1]);
                }
            }
            j += 2;
        }
        i += 4;
    }
    // the remaining rows (0 to 3), 2 x 2
    while i < ra {
        let two_rows = i + 1 < ra;
        let a0 = &a[i * k..(i + 1) * k];
        let a1 = if two_rows { &a[(i + 1) * k..(i + 2) * k] } else { a0 };
        let mut j = 0;
        while j < rb {
            let two_cols = j + 1 < rb;
            let b0 = &b[j * k..(j + 1) * k];
            let b1 = if two_cols { &b[(j + 1) * k..(j + 2) * k] } else { b0 };
            let r = dot2x2(a0, a1, b0, b1);
            put(c, i * rb + j, j, r[0]);
            if two_cols {
                put(c, i * rb + j + 1, j + 1, r[1]);
            }
            if two_rows {
                put(c, (i + 1) * rb + j, j, r[2]);
                if two_cols {
                    put(c, (i + 1) * rb + j + 1, j + 1, r[3]);
                }
            }
            j += 2;
        }
        i += 2;
    }
}

/// `t (cols x rows) = a^T` for `a` of shape rows x cols.
pub fn transpose(a: &[f64], t: &mut [f64], rows: usize, cols: usize) {
    for r in 0..rows {
        let row = &a[r * cols..(r + 1) * cols];
        for (cidx, v) in row.iter().enumerate() {
            t[cidx * rows + r] = *v;
        }
    }
}

/// Affine forward: `y (n x dout) = x (n x din) w^T + b`.
pub fn affine_forward(x: &[f64], w: &[f64], b: &[f64], y: &mut [f64], n: usize, din: usize, dout: usize) {
    gemm_nt(x, w, Some(b), y, n, dout, din, false);
}

/// Affine backward to the input: `dx (n x din) = dy (n x dout) w`. `wt` is scratch of
/// length din * dout (receives w^T).
pub fn affine_backward_input(dy: &[f64], w: &[f64], wt: &mut [f64], dx: &mut [f64], n: usize, din: usize, dout: usize) {
    transpose(w, wt, dout, din);
    gemm_nt(dy, wt, None, dx, n, din, dout, false);
}

/// Affine backward to the parameters: `dw (dout x din) (+)= dy^T x`, `db (+)= column sums
/// of dy`. `dyt` (dout * n) and `xt` (din * n) are scratch for the transposes.
pub fn affine_backward_params(
    x: &[f64],
    dy: &[f64],
    dyt: &mut [f64],
    xt: &mut [f64],
    dw: &mut [f64],
    db: &mut [f64],
    n: usize,
    din: usize,
    dout: usize,
    accumulate: bool,
) {
    transpose(dy, dyt, n, dout);
    transpose(x, xt, n, din);
    gemm_nt(dyt, xt, None, dw, dout, din, n, accumulate);
    for o in 0..dout {
        let s: f64 = dyt[o * n..(o + 1) * n].iter().sum();
        if accumulate {
            db[o] += s
        } else {
            db[o] = s
        }
    }
}

/// Numerically stable softplus ln(1 + e^a).
#[inline(always)]
pub fn softplus(a: f64) -> f64 {
    if a > 0.0 {
        a + (-a).exp().ln_1p()
    } else {
        a.exp().ln_1p()
    }
}

/// Logistic sigmoid 1 / (1 + e^-a), the derivative of softplus; stable for both signs.
#[inline(always)]
pub fn sigmoid(a: f64) -> f64 {
    if a >= 0.0 {
        1.0 / (1.0 + (-a).exp())
    } else {
        let e = a.exp();
        e / (1.0 + e)
    }
}

#[inline(always)]
pub fn relu(a: f64) -> f64 {
    if a > 0.0 {
        a
    } else {
        0.0
    }
}

// ---------------------------------------------------------------------------------------
// extern "C" boundary (pointers from cd_alloc; lengths in elements)

unsafe fn sl<'a>(p: *const f64, len: usize) -> &'a [f64] {
    core::slice::from_raw_parts(p, len)
}

unsafe fn sl_mut<'a>(p: *mut f64, len: usize) -> &'a mut [f64] {
    core::slice::from_raw_parts_mut(p, len)
}

/// y (n x dout) = x (n x din) w^T + b.
#[no_mangle]
pub unsafe extern "C" fn cd_affine_forward(x: *const f64, w: *const f64, b: *const f64, y: *mut f64, n: usize, din: usize, dout: usize) {
    affine_forward(sl(x, n * din), sl(w, dout * din), sl(b, dout), sl_mut(y, n * dout), n, din, dout);
}

/// dx = dy w (n x din), dw = dy^T x (dout x din), db = colsum dy (dout). All overwritten.
#[no_mangle]
pub unsafe extern "C" fn cd_affine_backward(
    x: *const f64,
    w: *const f64,
    dy: *const f64,
    dx: *mut f64,
    dw: *mut f64,
    db: *mut f64,
    n: usize,
    din: usize,
    dout: usize,
) {
    let mut wt = vec![0.0; din * dout];
    affine_backward_input(sl(dy, n * dout), sl(w, dout * din), &mut wt, sl_mut(dx, n * din), n, din, dout);
    let mut dyt = vec![0.0; dout * n];
    let mut xt = vec![0.0; din * n];
    affine_backward_params(sl(x, n * din), sl(dy, n * dout), &mut dyt, &mut xt, sl_mut(dw, dout * din), sl_mut(db, dout), n, din, dout, false);
}

/// y = max(a, 0) elementwise.
#[no_mangle]
pub unsafe extern "C" fn cd_relu_forward(a: *const f64, y: *mut f64, len: usize) {
    let (a, y) = (sl(a, len), sl_mut(y, len));
    for i in 0..len {
        y[i] = relu(a[i]);
    }
}

/// da = dy * [a > 0] elementwise.
#[no_mangle]
pub unsafe extern "C" fn cd_relu_backward(a: *const f64, dy: *const f64, da: *mut f64, len: usize) {
    let (a, dy, da) = (sl(a, len), sl(dy, len), sl_mut(da, len));
    for i in 0..len {
        da[i] = if a[i] > 0.0 { dy[i] } else { 0.0 };
    }
}

/// y = ln(1 + e^a) elementwise.
#[no_mangle]
pub unsafe extern "C" fn cd_softplus_forward(a: *const f64, y: *mut f64, len: usize) {
    let (a, y) = (sl(a, len), sl_mut(y, len));
    for i in 0..len {
        y[i] = softplus(a[i]);
    }
}

/// da = dy * sigmoid(a) elementwise.
#[no_mangle]
pub unsafe extern "C" fn cd_softplus_backward(a: *const f64, dy: *const f64, da: *mut f64, len: usize) {
    let (a, dy, da) = (sl(a, len), sl(dy, len), sl_mut(da, len));
    for i in 0..len {
        da[i] = dy[i] * sigmoid(a[i]);
    }
}
