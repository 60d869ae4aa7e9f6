//! A small `no_std` contract-like Rust program for the compiler-output
//! corpus: slices, iterators, a `match` that becomes a jump table, `u128`
//! and `f64` arithmetic, bit intrinsics, and overflow checks at
//! `-C opt-level=0`. Built by `tests/compiler_output.rs` at several
//! optimisation levels and verified.

#![no_std]
#![no_main]

use core::panic::PanicInfo;

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {}
}

/// Referenced by `core`'s unwinding tables (pulled in at low optimisation
/// levels with `--no-gc-sections`); never called with `panic=abort`.
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}

// memcpy, memmove, memset, memcmp, bcmp: LLVM calls them; written in
// assembly so that LLVM cannot turn the loops back into calls.
core::arch::global_asm!(
    ".pushsection .text.corpus_mem,\"ax\",@progbits",
    ".globl memcpy, memmove, memset, memcmp, bcmp",
    ".hidden memcpy, memmove, memset, memcmp, bcmp",
    ".type memcpy,@function",
    ".type memmove,@function",
    ".type memset,@function",
    ".type memcmp,@function",
    ".type bcmp,@function",
    "memcpy:",
    "    mov rax, rdi",
    "    test rdx, rdx",
    "    jz 2f",
    "    xor ecx, ecx",
    "1:  mov r8b, byte ptr [rsi + rcx]",
    "    mov byte ptr [rdi + rcx], r8b",
    "    inc rcx",
    "    cmp rcx, rdx",
    "    jne 1b",
    "2:  ret",
    "memmove:",
    "    mov rcx, rdi",
    "    sub rcx, rsi",
    "    cmp rcx, rdx",
    "    jae memcpy",
    "    mov rax, rdi",
    "3:  test rdx, rdx",
    "    jz 4f",
    "    dec rdx",
    "    mov r8b, byte ptr [rsi + rdx]",
    "    mov byte ptr [rdi + rdx], r8b",
    "    jmp 3b",
    "4:  ret",
    "memset:",
    "    mov rax, rdi",
    "    test rdx, rdx",
    "    jz 6f",
    "    xor ecx, ecx",
    "5:  mov byte ptr [rdi + rcx], sil",
    "    inc rcx",
    "    cmp rcx, rdx",
    "    jne 5b",
    "6:  ret",
    "memcmp:",
    "bcmp:",
    "    xor ecx, ecx",
    "7:  cmp rcx, rdx",
    "    je 8f",
    "    movzx eax, byte ptr [rdi + rcx]",
    "    movzx r8d, byte ptr [rsi + rcx]",
    "    inc rcx",
    "    sub eax, r8d",
    "    jz 7b",
    "    ret",
    "8:  xor eax, eax",
    "    ret",
    ".popsection",
);

#[derive(Clone, Copy)]
struct Account {
    balance: u64,
    nonce: u32,
    flags: u8,
}

static mut LEDGER: [Account; 16] = [Account { balance: 0, nonce: 0, flags: 0 }; 16];

/// A transfer between two ledger slots, with checked arithmetic.
#[no_mangle]
pub extern "C" fn transfer(from: usize, to: usize, amount: u64) -> i32 {
    // SAFETY: single-threaded; the ledger is only touched here.
    let ledger = unsafe { &mut *core::ptr::addr_of_mut!(LEDGER) };
    let (Some(a), Some(b)) = (ledger.get(from % 16).copied(), ledger.get(to % 16).copied()) else {
        return -1;
    };
    let Some(new_from) = a.balance.checked_sub(amount) else {
        return -2;
    };
    let Some(new_to) = b.balance.checked_add(amount) else {
        return -3;
    };
    ledger[from % 16] = Account { balance: new_from, nonce: a.nonce.wrapping_add(1), ..a };
    ledger[to % 16] = Account { balance: new_to, flags: b.flags | 1, ..b };
    0
}

/// A tiny stack machine: the dense `match` becomes a jump table.
#[no_mangle]
pub extern "C" fn run(code: *const u8, len: usize, x: i64) -> i64 {
    // SAFETY: the caller passes a valid buffer.
    let code = unsafe { core::slice::from_raw_parts(code, len) };
    let mut stack = [0i64; 16];
    let mut sp = 1usize;
    stack[0] = x;
    for &op in code {
        let top = stack[sp - 1];
        match op {
            0 => stack[sp - 1] = top.wrapping_add(1),
            1 => stack[sp - 1] = top.wrapping_sub(1),
            2 => stack[sp - 1] = top.wrapping_mul(3),
            3 => stack[sp - 1] = top.checked_div(7).unwrap_or(0),
            4 => stack[sp - 1] = top.rotate_left(5),
            5 => stack[sp - 1] = top.leading_zeros() as i64,
            6 => stack[sp - 1] = top.trailing_zeros() as i64,
            7 => stack[sp - 1] = top.count_ones() as i64,
            8 if sp < 16 => {
                stack[sp] = top;
                sp += 1;
            }
            9 if sp > 1 => {
                sp -= 1;
                stack[sp - 1] = stack[sp - 1].wrapping_add(top);
            }
            10 => stack[sp - 1] = top.swap_bytes(),
            11 => stack[sp - 1] = top.abs(),
            _ => return i64::MIN,
        }
    }
    stack[sp - 1]
}

/// 128-bit and floating-point arithmetic.
#[no_mangle]
pub extern "C" fn mix(a: u64, b: u64, f: f64) -> u64 {
    let wide = (a as u128) * (b as u128) + 0x9e37_79b9_7f4a_7c15;
    let hi = (wide >> 64) as u64;
    let g = f * 1.5 + (hi as f64) / 3.0;
    let g = if g.is_finite() { g } else { 0.0 };
    let h = (g as u64) ^ (wide as u64);
    h.wrapping_mul(0xff51_afd7_ed55_8ccd) ^ (h >> 33)
}

/// Sorting and searching over a caller's slice.
#[no_mangle]
pub extern "C" fn sort_sum(ptr: *mut u32, len: usize) -> u64 {
    // SAFETY: the caller passes a valid buffer.
    let v = unsafe { core::slice::from_raw_parts_mut(ptr, len) };
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && v[j - 1] > v[j] {
            v.swap(j - 1, j);
            j -= 1;
        }
    }
    let found = v.binary_search(&7).map_or(0, |i| i as u64);
    v.iter().map(|&x| x as u64).fold(found, |acc, x| acc.wrapping_mul(31).wrapping_add(x))
}
