//! The stack's high-water mark. With cortex-m-rt's `paint-stack` feature the
//! reset handler fills the whole stack region with a known word before
//! `main`; the deepest the stack ever went is where that paint stops.

use cortex_m_rt::STACK_PAINT_VALUE;

/// How deep the stack has been so far, and how big its region is, in bytes.
pub fn stack_usage() -> (usize, usize) {
    unsafe extern "C" {
        // Defined by cortex-m-rt's `link.x`: the stack grows down from
        // `_stack_start` (the end of RAM) to at most `_stack_end` (the end of
        // the statics and the heap arena). Both are multiples of 4 (link.x
        // asserts it).
        static _stack_start: u32;
        static _stack_end: u32;
    }
    let top = (&raw const _stack_start) as usize;
    let bottom = (&raw const _stack_end) as usize;
    let mut deepest = bottom;
    while deepest < top {
        // SAFETY: `deepest` is a 4-aligned address in the stack region, which
        // is RAM this program owns. Words from the bottom up to the first
        // unpainted one were never written since reset, so no live value is
        // there; the read is volatile because the compiler cannot know the
        // reset handler wrote them.
        let word = unsafe { core::ptr::read_volatile(deepest as *const u32) };
        if word != STACK_PAINT_VALUE {
            break;
        }
        deepest += 4;
    }
    (top - deepest, top - bottom)
}
