//! The half-precision path of the CUDA backend: the `to_half` kernel's rounding against the
//! `half` crate, bit for bit, and `matmul_bt_half` (cuBLAS `GemmEx`, fp16 / bf16 inputs, `f32`
//! sums) against the CPU reference of the same rounding and against the fp32 product.
//!
//! As in `tests/cuda.rs`, every check runs on the GPU (skipped, saying why, without one) and on
//! the CUDA emulator (feature `emulator`; skipped, saying why, without a C++ compiler).
#![allow(clippy::unwrap_used)]

mod common;

#[cfg(all(feature = "emulator", target_os = "linux"))]
use common::emulated;
use common::gpu;
use half::{bf16, f16};
use tokenmill_engine::backend::{Backend, CpuBackend};
use tokenmill_engine::precision::HalfFormat;
use tokenmill_engine::rng::Rng;

const FORMATS: [HalfFormat; 2] = [HalfFormat::F16, HalfFormat::Bf16];

/// The value of a 16-bit pattern, as `f64`, through the `half` crate.
fn value(format: HalfFormat, bits: u16) -> f64 {
    match format {
        HalfFormat::F16 => f16::from_bits(bits).to_f64(),
        HalfFormat::Bf16 => bf16::from_bits(bits).to_f64(),
    }
}

/// The `half` crate's rounding of `x`.
fn crate_bits(format: HalfFormat, x: f32) -> u16 {
    match format {
        HalfFormat::F16 => f16::from_f32(x).to_bits(),
        HalfFormat::Bf16 => bf16::from_f32(x).to_bits(),
    }
}

/// Inputs that exercise every rounding case of `format`: each positive finite value of the
/// format, the midpoint to the next one (a tie, to even) and the `f32` values just either side
/// of it, all with both signs (so: subnormals, the smallest subnormal's half that rounds to
/// zero, the largest finite value's midpoint that overflows to infinity); then zeros,
/// infinities, NaNs, `f32` subnormals, huge values and random bit patterns.
fn rounding_inputs(format: HalfFormat) -> Vec<f32> {
    let first_inf: u16 = match format {
        HalfFormat::F16 => 0x7c00,
        HalfFormat::Bf16 => 0x7f80,
    };
    let mut xs = Vec::new();
    for h in 0..first_inf {
        let a = value(format, h);
        // Past the largest finite value, the next step is where infinity starts.
        let next =
            if h + 1 == first_inf { 2.0 * a - value(format, h - 1) } else { value(format, h + 1) };
        let mid = ((a + next) / 2.0) as f32;
        assert_eq!(f64::from(mid), (a + next) / 2.0, "{format} midpoint after {h:#x} is exact");
        for x in
            [a as f32, mid, f32::from_bits(mid.to_bits() + 1), f32::from_bits(mid.to_bits() - 1)]
        {
            xs.extend([x, -x]);
        }
    }
    xs.extend([0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::MAX, f32::MIN_POSITIVE]);
    xs.extend([f32::NAN, -f32::NAN, f32::from_bits(0x7f80_0001), f32::from_bits(0xffc0_1234)]);
    xs.extend([f32::from_bits(1), f32::from_bits(0x007f_ffff), 65504.0, 65519.99, 65520.0, 1e6]);
    let mut rng = Rng::new(7);
    xs.extend((0..4096).map(|_| f32::from_bits((rng.next_u64() >> 32) as u32)));
    xs
}

fn rounding_matches_the_half_crate<B: Backend>(g: &B) {
    for format in FORMATS {
        let xs = rounding_inputs(format);
        let got =
            g.download_half(&g.round_half(&g.upload(&xs).unwrap(), xs.len(), format).unwrap());
        let got = got.unwrap();
        assert_eq!(got.len(), xs.len());
        for (&x, &bits) in xs.iter().zip(&got) {
            let want = crate_bits(format, x);
            if x.is_nan() {
                assert!(
                    value(format, bits).is_nan(),
                    "{format}: NaN {:#x} gave {bits:#x}",
                    x.to_bits()
                );
            } else {
                assert_eq!(bits, want, "{format}: {x:e} ({:#010x})", x.to_bits());
            }
        }
        // The host path (weights) rounds the same way.
        let host = g.download_half(&g.upload_half(&xs, format).unwrap()).unwrap();
        assert!(host.iter().zip(&got).all(|(h, d)| h == d || value(format, *h).is_nan()));
        eprintln!("ok {format} rounding of {} values matches the half crate", xs.len());
    }
}

fn rand_vec(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.normal()).collect()
}

fn half_products_match<B: Backend>(g: &B) {
    let cpu = CpuBackend;
    for &(m, k, n) in &[(1, 1, 1), (3, 5, 7), (37, 19, 23), (130, 64, 70), (64, 384, 96)] {
        let (a, w) = (rand_vec(m * k, 1), rand_vec(n * k, 2));
        let mut exact = vec![0.0; m * n];
        cpu.matmul_bt(&mut exact, &a, &w, m, k, n).unwrap();
        // Sum of the terms' magnitudes of each output, for the rounding bound.
        let mut mags = vec![0.0; m * n];
        let abs = |v: &[f32]| v.iter().map(|x| x.abs()).collect::<Vec<_>>();
        cpu.matmul_bt(&mut mags, &abs(&a), &abs(&w), m, k, n).unwrap();
        for format in FORMATS {
            let mut want = vec![0.0; m * n];
            cpu.matmul_bt_half(&mut want, &a, &cpu.upload_half(&w, format).unwrap(), m, k, n)
                .unwrap();
            let mut out = g.zeros(m * n).unwrap();
            let (da, dw) = (g.upload(&a).unwrap(), g.upload_half(&w, format).unwrap());
            g.matmul_bt_half(&mut out, &da, &dw, m, k, n).unwrap();
            let got = g.download(&out).unwrap();
            // Against the CPU product of the same rounded inputs: only the order of the f32
            // sums differs (tests/cuda.rs's tolerance for products).
            // Against the fp32 product: each term a*w becomes a(1+e1)*w(1+e2) with |e| <= u,
            // so an output moves by at most (2u + u^2) of its terms' magnitudes, plus the f32
            // sums' rounding (k * 2^-24 of the same, twice: ours and the reference's).
            let u = format.unit_roundoff();
            let bound = 2.0 * u + u * u + 2.0 * k as f32 * f32::EPSILON / 2.0;
            for i in 0..m * n {
                let (g_, w_, e_) = (got[i], want[i], exact[i]);
                let label = format!("{format} {m}x{k}x{n} [{i}]");
                assert!(
                    (g_ - w_).abs() <= 1e-4 + 1e-3 * w_.abs(),
                    "{label}: {g_} vs reference {w_}"
                );
                assert!((g_ - e_).abs() <= bound * mags[i], "{label}: {g_} vs fp32 {e_}");
            }
        }
    }
    eprintln!("ok matmul_bt_half within the rounding bound of fp32, fp16 and bf16");
}

/// Short buffers are shape errors on the kernel backends, never launches (the CPU backend
/// panics on them, as documented on `Backend`).
fn short_half_buffers_are_shape_errors<B: Backend>(g: &B) {
    let (a, w) = (g.upload(&[1.0; 6]).unwrap(), g.upload_half(&[1.0; 6], HalfFormat::F16).unwrap());
    let mut out = g.zeros(4).unwrap();
    assert!(g.matmul_bt_half(&mut out, &a, &w, 2, 3, 3).is_err(), "w holds 2 rows of 3, not 3");
    assert!(g.round_half(&a, 7, HalfFormat::Bf16).is_err());
}

on_gpu_and_emulated!(
    rounding_matches_the_half_crate,
    half_products_match,
    short_half_buffers_are_shape_errors
);

/// The CPU backend's half products are the reference the others are checked against: they too
/// stay within the rounding bound of the fp32 product.
#[test]
fn cpu_reference_half_products_are_within_the_rounding_bound() {
    half_products_match(&CpuBackend);
}
