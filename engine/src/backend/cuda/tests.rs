//! What of the CUDA backend can be checked without a GPU:
//! - every typed launch against its kernel's declaration in `kernels.cu` (names, parameter count,
//!   types and constness), and, where libnvrtc can be loaded, against the PTX that NVRTC makes of
//!   it for every named architecture (it compiles, every kernel is there, parameter widths agree);
//! - every cuBLAS call the backend makes, run through a column-major reference `sgemm` written
//!   from the BLAS definition (including its leading-dimension rules), against the CPU ops:
//!   the linear-layer products and both passes of causal attention.
//!
//! The kernels' arithmetic is compared with the CPU reference by `tests/cuda.rs`, on the GPU
//! where there is one and on the CUDA emulator everywhere; so is the A/B swap of
//! `KernelBackend::gemm`, which `run_gemm` below restates.
//! Set `TOKENMILL_REQUIRE_NVRTC=1` (CI does) to fail rather than skip when libnvrtc is absent.

use std::collections::BTreeMap;

use super::blas::reference_sgemm;
use super::blas::{BlasCall, Gemm, attention_backward_gemms, attention_forward_gemms};
use super::kernels::{
    KERNELS, SUPPORTED_ARCHS, compile_kernels, declared_kernels, launch_signatures, nvrtc_arch,
};
use crate::ops::{attention, matmul};
use crate::rng::Rng;

#[test]
fn every_launch_matches_its_kernel_declaration() {
    let declared = declared_kernels(KERNELS);
    let launched = launch_signatures();
    assert!(declared.len() >= 20, "the parser found only {} kernels in kernels.cu", declared.len());
    let by_name: BTreeMap<&str, &Vec<String>> =
        declared.iter().map(|(n, p)| (n.as_str(), p)).collect();
    assert_eq!(by_name.len(), declared.len(), "a kernel is declared twice in kernels.cu");
    let launched_names: Vec<&str> = launched.iter().map(|&(n, _)| n).collect();
    for (name, _) in &declared {
        assert!(
            launched_names.contains(&name.as_str()),
            "kernels.cu declares `{name}` but the backend never loads it"
        );
    }
    for (name, params) in &launched {
        let Some(declared) = by_name.get(name) else {
            panic!("the backend launches `{name}`, which kernels.cu does not declare")
        };
        assert_eq!(
            params, *declared,
            "`{name}`: the launch passes {params:?}, the kernel takes {declared:?}"
        );
    }
}

#[test]
fn declarations_are_parsed_as_written() {
    let src = "extern \"C\" __global__ void f(float* a, const float *b,\n    long long n, const unsigned* ids) {}\n\
               __device__ float g(float x) { return x; }\n\
               extern \"C\" __global__ void h(int m) {}";
    let got = declared_kernels(src);
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0],
        (
            "f".to_string(),
            vec![
                "float*".into(),
                "const float*".into(),
                "long long".into(),
                "const unsigned*".into()
            ]
        )
    );
    assert_eq!(got[1], ("h".to_string(), vec!["int".into()]));
}

/// The PTX parameter type a CUDA C parameter type compiles to.
fn ptx_param(c_type: &str) -> &'static [&'static str] {
    match c_type {
        t if t.ends_with('*') => &[".u64"],
        "long long" => &[".u64", ".s64"],
        "int" => &[".u32", ".s32"],
        "float" => &[".f32"],
        other => panic!("no PTX width known for `{other}`"),
    }
}

/// The `.param` types of entry `name` in `ptx`, or `None` when there is no such entry.
fn ptx_entry_params(ptx: &str, name: &str) -> Option<Vec<String>> {
    let head = format!(".entry {name}(");
    let at = ptx.find(&head)? + head.len();
    let close = ptx[at..].find(')')?;
    Some(
        ptx[at..at + close]
            .lines()
            .filter_map(|l| l.split_whitespace().skip_while(|w| *w != ".param").nth(1))
            .map(String::from)
            .collect(),
    )
}

#[test]
fn nvrtc_compiles_every_kernel_for_every_named_architecture() {
    assert_eq!(nvrtc_arch((9, 0)), Some("compute_90"));
    assert_eq!(nvrtc_arch((6, 1)), None);
    // SAFETY: only tries to dlopen libnvrtc by its usual names.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        assert!(
            std::env::var_os("TOKENMILL_REQUIRE_NVRTC").is_none(),
            "TOKENMILL_REQUIRE_NVRTC is set but libnvrtc cannot be loaded (LD_LIBRARY_PATH={:?})",
            std::env::var("LD_LIBRARY_PATH").unwrap_or_default()
        );
        eprintln!(
            "SKIPPED nvrtc_compiles_every_kernel_for_every_named_architecture: libnvrtc cannot be loaded"
        );
        return;
    }
    let archs = SUPPORTED_ARCHS.iter().map(|&(_, arch)| Some(arch)).chain([None]);
    for arch in archs {
        let ptx =
            compile_kernels(arch).unwrap_or_else(|e| panic!("NVRTC for {arch:?}: {e}")).to_src();
        let target = ptx
            .lines()
            .find(|l| l.starts_with(".target"))
            .unwrap_or_else(|| panic!("{arch:?}: PTX without .target"));
        if let Some(arch) = arch {
            assert_eq!(
                target,
                format!(".target {}", arch.replace("compute_", "sm_")),
                "PTX for {arch}"
            );
        }
        for (name, params) in launch_signatures() {
            let got = ptx_entry_params(&ptx, name)
                .unwrap_or_else(|| panic!("{arch:?}: no PTX entry for `{name}`"));
            assert_eq!(
                got.len(),
                params.len(),
                "{arch:?}: `{name}` has {} PTX parameters, the launch passes {}",
                got.len(),
                params.len()
            );
            for (i, (ptx_ty, c_ty)) in got.iter().zip(&params).enumerate() {
                assert!(
                    ptx_param(c_ty).contains(&ptx_ty.as_str()),
                    "{arch:?}: `{name}` parameter {i}: PTX {ptx_ty} for C {c_ty}"
                );
            }
        }
        eprintln!(
            "ok NVRTC {arch:?}: {} kernels, {} bytes of PTX for {target}",
            launch_signatures().len(),
            ptx.len()
        );
    }
}

/// Runs `g` the way [`CudaBackend::gemm`] does (cuBLAS's A is our `b`), on the reference BLAS.
fn run_gemm(g: Gemm, out: &mut [f32], a: &[f32], b: &[f32]) {
    if g.batch == 0 || g.m == 0 || g.n == 0 {
        return;
    }
    match g.blas_call().unwrap() {
        BlasCall::Single(cfg) => reference_sgemm(&cfg, b, a, out).unwrap(),
        BlasCall::Batched(s) => {
            for i in 0..s.batch_size as usize {
                let part = |x: &[f32], stride: i64| -> std::ops::Range<usize> {
                    (i * stride as usize)..x.len()
                };
                let (ra, rb, rc) =
                    (part(b, s.stride_a), part(a, s.stride_b), part(out, s.stride_c));
                reference_sgemm(&s.gemm, &b[ra], &a[rb], &mut out[rc]).unwrap();
            }
        }
    }
}

fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| rng.normal()).collect()
}

#[track_caller]
fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-4 + 1e-4 * w.abs(), "{what}: [{i}] {g} vs {w}");
    }
}

/// Row-major `op(a) @ op(b)` by the definition.
fn naive(ta: bool, tb: bool, a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = (0..k)
                .map(|l| {
                    (if ta { a[l * m + i] } else { a[i * k + l] })
                        * (if tb { b[j * k + l] } else { b[l * n + j] })
                })
                .sum();
        }
    }
    out
}

#[test]
fn every_transpose_and_scale_is_the_row_major_product() {
    let mut rng = Rng::new(7);
    for (m, k, n) in [(1, 1, 1), (3, 5, 2), (4, 1, 7), (2, 6, 6), (5, 0, 3), (1, 9, 1)] {
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            for (alpha, beta) in [(1.0, 0.0), (0.5, 1.0), (-2.0, 0.25)] {
                let (a, b, start) =
                    (random(m * k, &mut rng), random(k * n, &mut rng), random(m * n, &mut rng));
                let mut want: Vec<f32> =
                    naive(ta, tb, &a, &b, m, k, n).iter().map(|p| alpha * p).collect();
                for (w, s) in want.iter_mut().zip(&start) {
                    *w += beta * s;
                }
                let mut got = start.clone();
                run_gemm(Gemm { alpha, ..Gemm::plain(ta, tb, m, k, n, beta) }, &mut got, &a, &b);
                assert_close(
                    &format!("{m}x{k}x{n} ta={ta} tb={tb} alpha={alpha} beta={beta}"),
                    &got,
                    &want,
                );
            }
        }
    }
    // beta = 0 ignores what `out` held, NaN included.
    let mut got = vec![f32::NAN; 4];
    run_gemm(Gemm::plain(false, false, 2, 1, 2, 0.0), &mut got, &[1.0, 2.0], &[3.0, 4.0]);
    assert_eq!(got, vec![3.0, 4.0, 6.0, 8.0]);
}

#[test]
fn batched_products_use_each_operands_stride() {
    let mut rng = Rng::new(8);
    let (batch, m, k, n) = (3, 4, 5, 2);
    // Strides larger than the matrices: gaps between batches must be skipped, not read.
    let strides = (m * k + 3, k * n + 1, m * n + 2);
    let (a, b) = (
        random((batch - 1) * strides.0 + m * k, &mut rng),
        random((batch - 1) * strides.1 + k * n, &mut rng),
    );
    let mut out = vec![0.0; (batch - 1) * strides.2 + m * n];
    run_gemm(Gemm { batch, strides, ..Gemm::plain(false, false, m, k, n, 0.0) }, &mut out, &a, &b);
    for i in 0..batch {
        let want = naive(
            false,
            false,
            &a[i * strides.0..][..m * k],
            &b[i * strides.1..][..k * n],
            m,
            k,
            n,
        );
        assert_close(&format!("batch {i}"), &out[i * strides.2..][..m * n], &want);
        if i + 1 < batch {
            assert!(
                out[i * strides.2 + m * n..(i + 1) * strides.2].iter().all(|&x| x == 0.0),
                "batch {i} wrote into a gap"
            );
        }
    }
}

#[test]
fn linear_layer_products_match_the_cpu_ops() {
    let mut rng = Rng::new(9);
    let (m, k, n) = (6, 4, 3);
    let (x, w, start) = (random(m * k, &mut rng), random(n * k, &mut rng), random(m * n, &mut rng));
    let (mut got, mut want) = (start.clone(), start.clone());
    run_gemm(Gemm::matmul_bt(m, k, n), &mut got, &x, &w);
    matmul::matmul_bt(&mut want, &x, &w, m, k, n);
    assert_close("matmul_bt", &got, &want);

    let b = random(k * n, &mut rng);
    let (mut got, mut want) = (start.clone(), start.clone());
    run_gemm(Gemm::matmul_acc(m, k, n), &mut got, &x, &b);
    matmul::matmul_acc(&mut want, &x, &b, m, k, n);
    assert_close("matmul_acc", &got, &want);

    let dout = random(m * n, &mut rng);
    let start = random(k * n, &mut rng);
    let (mut got, mut want) = (start.clone(), start);
    run_gemm(Gemm::matmul_at_acc(m, k, n), &mut got, &x, &dout);
    matmul::matmul_at_acc(&mut want, &x, &dout, m, k, n);
    assert_close("matmul_at_acc", &got, &want);
}

/// `causal_softmax` of kernels.cu, as written there, on the host.
fn causal_softmax(att: &mut [f32], t: usize) {
    for (r, row) in att.chunks_exact_mut(t).enumerate() {
        let ti = r % t;
        let mx = row[..=ti].iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        let mut s = 0.0;
        for x in &mut row[..=ti] {
            *x = (*x - mx).exp();
            s += *x;
        }
        let inv = 1.0 / s;
        for (j, x) in row.iter_mut().enumerate() {
            *x = if j <= ti { *x * inv } else { 0.0 };
        }
    }
}

/// `causal_softmax_backward` of kernels.cu, as written there, on the host.
fn causal_softmax_backward(datt: &mut [f32], att: &[f32], t: usize, scale: f32) {
    for (r, (d, a)) in datt.chunks_exact_mut(t).zip(att.chunks_exact(t)).enumerate() {
        let ti = r % t;
        let w: f32 = (0..=ti).map(|j| a[j] * d[j]).sum();
        for j in 0..t {
            d[j] = if j <= ti { a[j] * (d[j] - w) * scale } else { 0.0 };
        }
    }
}

#[test]
fn attention_products_with_the_softmax_kernels_match_the_cpu_ops() {
    let mut rng = Rng::new(10);
    let (bh, t, hs) = (3, 5, 4);
    let (n, tt) = (bh * t * hs, bh * t * t);
    let (q, k, v) = (random(n, &mut rng), random(n, &mut rng), random(n, &mut rng));

    // Forward, as CudaBackend::attention_forward runs it.
    let [scores, mix] = attention_forward_gemms(bh, t, hs);
    let (mut att, mut y) = (vec![f32::NAN; tt], vec![f32::NAN; n]);
    run_gemm(scores, &mut att, &q, &k);
    causal_softmax(&mut att, t);
    run_gemm(mix, &mut y, &att, &v);
    let (mut want_att, mut want_y) = (vec![0.0; tt], vec![0.0; n]);
    attention::attention_forward(&mut want_y, &mut want_att, &q, &k, &v, bh, t, hs);
    assert_close("attention weights", &att, &want_att);
    assert_close("attention output", &y, &want_y);

    // Backward, accumulating into gradients that already hold something.
    let dy = random(n, &mut rng);
    let start = [random(n, &mut rng), random(n, &mut rng), random(n, &mut rng)];
    let [d_att, d_v, d_q, d_k] = attention_backward_gemms(bh, t, hs);
    let [mut dq, mut dk, mut dv] = start.clone();
    let mut datt = vec![f32::NAN; tt];
    run_gemm(d_att, &mut datt, &dy, &v);
    run_gemm(d_v, &mut dv, &att, &dy);
    causal_softmax_backward(&mut datt, &att, t, 1.0 / (hs as f32).sqrt());
    run_gemm(d_q, &mut dq, &datt, &k);
    run_gemm(d_k, &mut dk, &datt, &q);
    let [mut want_dq, mut want_dk, mut want_dv] = start;
    attention::attention_backward(
        &mut want_dq,
        &mut want_dk,
        &mut want_dv,
        &dy,
        &want_att,
        &q,
        &k,
        &v,
        bh,
        t,
        hs,
    );
    assert_close("dq", &dq, &want_dq);
    assert_close("dk", &dk, &want_dk);
    assert_close("dv", &dv, &want_dv);
}

#[test]
fn empty_matrices_keep_blas_leading_dimensions_valid() {
    // k = 0: out = beta * out, with every leading dimension at least 1.
    for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
        let mut out = vec![2.0; 6];
        run_gemm(Gemm::plain(ta, tb, 2, 0, 3, 0.5), &mut out, &[], &[]);
        assert_eq!(out, vec![1.0; 6], "ta={ta} tb={tb}");
    }
}

#[cfg(all(feature = "emulator", target_os = "linux"))]
#[test]
fn concurrent_emulator_builds_share_one_complete_library() {
    use super::emulator::{Emulator, build};
    let dir =
        std::env::temp_dir().join(format!("tokenmill-emulator-build-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let built: Vec<(std::path::PathBuf, bool)> = std::thread::scope(|s| {
        let builders: Vec<_> =
            (0..4).map(|_| s.spawn(|| build(Some(dir.clone())).unwrap())).collect();
        builders.into_iter().map(|b| b.join().unwrap()).collect()
    });
    assert!(built.iter().all(|b| *b == built[0] && !b.1), "{built:?}");
    // Every builder's library loads, and no temporary file is left behind.
    Emulator::load(built[0].0.clone()).unwrap();
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    // A second build finds it.
    assert_eq!(build(Some(dir.clone())).unwrap(), built[0]);
    std::fs::remove_dir_all(&dir).unwrap();
}
