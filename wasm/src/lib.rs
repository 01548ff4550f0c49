//! CollabDict numeric core. The maths lives in pure modules; `exports` is the thin
//! `extern "C"` layer over f64 buffers that `src/numeric/` (TypeScript) drives.

pub mod exports;
