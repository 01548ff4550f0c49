//! CollabDict numeric core. The maths lives in pure modules; `exports` is the thin
//! `extern "C"` layer over f64 buffers that `src/numeric/` (TypeScript) drives.
//! No dependencies (nothing can be fetched from crates.io here).

pub mod exports;
pub mod glasso;
pub mod linalg;
pub mod mixture;
pub mod mlp;
pub mod rng;
pub mod vae;
