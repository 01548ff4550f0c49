//! (module being written; see wasm/src/lib.rs)
