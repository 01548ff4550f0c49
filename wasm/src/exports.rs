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
