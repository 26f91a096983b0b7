//! Sets `cfg(gilfree_avx512)` when the compiler is Rust 1.89 or newer: the first release with
//! stable AVX-512 intrinsics and `#[target_feature(enable = "avx512f")]`. The workspace's minimum
//! Rust version is lower (1.83); an older compiler builds everything except the explicit AVX-512
//! paths, which then fall back to the AVX2 ones (same results, bit for bit).
//!
//! Raising `rust-version` to 1.89 would make this script unnecessary: delete it and the cfg.

use std::env;
use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(gilfree_avx512)");
    println!("cargo::rerun-if-changed=build.rs");
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    // "rustc 1.95.0 (59807616e 2026-04-14)" -> (1, 95)
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| {
            let number = text.split_whitespace().nth(1)?.to_owned();
            let mut parts = number.split('.');
            let major = parts.next()?.parse::<u32>().ok()?;
            let minor = parts.next()?.parse::<u32>().ok()?;
            Some((major, minor))
        });
    if version.is_some_and(|v| v >= (1, 89)) {
        println!("cargo::rustc-cfg=gilfree_avx512");
    }
}
