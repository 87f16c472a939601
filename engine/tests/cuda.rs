//! Every CUDA kernel against the CPU reference on random inputs, within stated tolerances.
//!
//! A value `g` from the GPU matches the CPU's `w` when `|g - w| <= atol + rtol * |w|`:
//! - copies and index shuffles (split/merge heads, embedding lookup): exact;
//! - elementwise ops (bias, axpy, GELU, AdamW): `rtol = 1e-4`, `atol = 1e-6`;
//! - row reductions (layer norm, softmax, cross-entropy, embedding bag) and atomically summed
//!   gradients (bias, layer-norm parameters, embedding rows): `rtol = 1e-4`, `atol = 1e-5`;
//! - cuBLAS products and attention (causal, and the encoders' packed bidirectional one), whose
//!   summation order differs: `rtol = 1e-3`, `atol = 1e-4`;
//! - a few GPT training steps end to end: losses within `2e-3` relative.
//!
//! Every check runs twice. `on_gpu::*` uses the GPU; without a usable one (no driver, no device,
//! no NVRTC or cuBLAS) it prints `SKIPPED` with the reason to stderr and passes (run with
//! `--nocapture` to see it). `emulated::*` runs on every Linux machine with the `emulator`
//! feature (on in the workspace's tests): the same kernels.cu, launched with the same grids and
//! arguments, on the CPU emulator (`EmulatedCuda`; needs a C++20 compiler, and skips saying so
//! without one), which also fails a kernel that writes outside its buffers.
#![allow(clippy::unwrap_used)]

mod common;

#[cfg(all(feature = "emulator", target_os = "linux"))]
use common::emulated;
use common::gpu;
use tokenmill_engine::backend::{
    AdamWStep, Backend, CpuBackend, CudaBackend, PackedShape, Pointwise, probe_cuda,
};
use tokenmill_engine::classifier::{Bag, BagConfig, Scorer};
use tokenmill_engine::gpt::{Gpt, GptConfig, GptTrainConfig, Sampling};
use tokenmill_engine::optim::AdamWConfig;
use tokenmill_engine::rng::Rng;
use tokenmill_engine::{Device, DeviceRequest};

const CPU: CpuBackend = CpuBackend;
const EXACT: (f32, f32) = (0.0, 0.0);
const ELEMENTWISE: (f32, f32) = (1e-4, 1e-6);
const REDUCTION: (f32, f32) = (1e-4, 1e-5);
const PRODUCT: (f32, f32) = (1e-3, 1e-4);

fn rand_vec(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.normal()).collect()
}

fn rand_ids(n: usize, below: usize, seed: u64) -> Vec<u32> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.below(below) as u32).collect()
}

#[track_caller]
fn assert_close(name: &str, got: &[f32], want: &[f32], (rtol, atol): (f32, f32)) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    let mut failures = 0usize;
    let mut first = None;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = (g - w).abs() <= atol + rtol * w.abs(); // false for NaN
        if !ok {
            failures += 1;
            first.get_or_insert(i);
        }
    }
    if let Some(i) = first {
        panic!(
            "{name}: {failures} of {} values out of tolerance (rtol {rtol}, atol {atol}); first [{i}]: gpu {} vs cpu {}",
            got.len(),
            got[i],
            want[i]
        );
    }
    eprintln!("ok {name}: {} values within rtol {rtol}, atol {atol}", got.len());
}

fn matmuls_match<B: Backend>(g: &B) {
    for &(m, k, n) in &[(1, 1, 1), (3, 5, 7), (37, 19, 23), (130, 64, 70), (256, 384, 512)] {
        let (a, b, bt, init) =
            (rand_vec(m * k, 1), rand_vec(k * n, 2), rand_vec(n * k, 3), rand_vec(m * n, 4));
        let (bm, bk) = (rand_vec(m * n, 5), rand_vec(k * n, 6));
        // out = a @ bt^T
        let mut want = vec![0.0; m * n];
        CPU.matmul_bt(&mut want, &a, &bt, m, k, n).unwrap();
        let mut out = g.zeros(m * n).unwrap();
        g.matmul_bt(&mut out, &g.upload(&a).unwrap(), &g.upload(&bt).unwrap(), m, k, n).unwrap();
        assert_close(&format!("matmul_bt {m}x{k}x{n}"), &g.download(&out).unwrap(), &want, PRODUCT);
        // out += a @ b
        let mut want = init.clone();
        CPU.matmul_acc(&mut want, &a, &b, m, k, n).unwrap();
        let mut out = g.upload(&init).unwrap();
        g.matmul_acc(&mut out, &g.upload(&a).unwrap(), &g.upload(&b).unwrap(), m, k, n).unwrap();
        assert_close(
            &format!("matmul_acc {m}x{k}x{n}"),
            &g.download(&out).unwrap(),
            &want,
            PRODUCT,
        );
        // out[k, n] += a^T @ bm
        let mut want = bk.clone();
        CPU.matmul_at_acc(&mut want, &a, &bm, m, k, n).unwrap();
        let mut out = g.upload(&bk).unwrap();
        g.matmul_at_acc(&mut out, &g.upload(&a).unwrap(), &g.upload(&bm).unwrap(), m, k, n)
            .unwrap();
        assert_close(
            &format!("matmul_at_acc {m}x{k}x{n}"),
            &g.download(&out).unwrap(),
            &want,
            PRODUCT,
        );
    }
}

fn bias_axpy_and_gelu_match<B: Backend>(g: &B) {
    let (m, n) = (300, 77);
    let (x, bias, d) = (rand_vec(m * n, 1), rand_vec(n, 2), rand_vec(m * n, 3));
    let up = |v: &[f32]| g.upload(v).unwrap();

    let mut want = x.clone();
    CPU.bias_forward(&mut want, &bias, m, n).unwrap();
    let mut out = up(&x);
    g.bias_forward(&mut out, &up(&bias), m, n).unwrap();
    assert_close("bias_forward", &g.download(&out).unwrap(), &want, ELEMENTWISE);

    let mut want = bias.clone();
    CPU.bias_backward(&mut want, &d, m, n).unwrap();
    let mut out = up(&bias);
    g.bias_backward(&mut out, &up(&d), m, n).unwrap();
    assert_close("bias_backward", &g.download(&out).unwrap(), &want, REDUCTION);

    let mut want = x.clone();
    CPU.axpy(&mut want, -0.5, &d, m * n).unwrap();
    let mut out = up(&x);
    g.axpy(&mut out, -0.5, &up(&d), m * n).unwrap();
    assert_close("axpy", &g.download(&out).unwrap(), &want, ELEMENTWISE);

    let xs: Vec<f32> = x.iter().map(|v| v * 3.0).collect();
    let mut want = vec![0.0; m * n];
    CPU.gelu_forward(&mut want, &xs, m * n).unwrap();
    let mut out = g.zeros(m * n).unwrap();
    g.gelu_forward(&mut out, &up(&xs), m * n).unwrap();
    assert_close("gelu_forward", &g.download(&out).unwrap(), &want, ELEMENTWISE);

    let mut want = d.clone();
    CPU.gelu_backward(&mut want, &xs, &x, m * n).unwrap();
    let mut out = up(&d);
    g.gelu_backward(&mut out, &up(&xs), &up(&x), m * n).unwrap();
    assert_close("gelu_backward", &g.download(&out).unwrap(), &want, ELEMENTWISE);
}

fn layernorm_matches<B: Backend>(g: &B) {
    for &(m, c) in &[(1, 5), (67, 100), (512, 768)] {
        let (x, w, b, dout) =
            (rand_vec(m * c, 1), rand_vec(c, 2), rand_vec(c, 3), rand_vec(m * c, 4));
        let up = |v: &[f32]| g.upload(v).unwrap();
        let (mut out, mut mean, mut rstd) = (vec![0.0; m * c], vec![0.0; m], vec![0.0; m]);
        CPU.layernorm_forward(&mut out, &mut mean, &mut rstd, &x, &w, &b, m, c).unwrap();
        let (mut gout, mut gmean, mut grstd) =
            (g.zeros(m * c).unwrap(), g.zeros(m).unwrap(), g.zeros(m).unwrap());
        g.layernorm_forward(&mut gout, &mut gmean, &mut grstd, &up(&x), &up(&w), &up(&b), m, c)
            .unwrap();
        assert_close(
            &format!("layernorm_forward out {m}x{c}"),
            &g.download(&gout).unwrap(),
            &out,
            REDUCTION,
        );
        assert_close("layernorm_forward mean", &g.download(&gmean).unwrap(), &mean, REDUCTION);
        assert_close("layernorm_forward rstd", &g.download(&grstd).unwrap(), &rstd, REDUCTION);

        let (dx0, dw0, db0) = (rand_vec(m * c, 5), rand_vec(c, 6), rand_vec(c, 7));
        let (mut dx, mut dw, mut db) = (dx0.clone(), dw0.clone(), db0.clone());
        CPU.layernorm_backward(&mut dx, &mut dw, &mut db, &dout, &x, &w, &mean, &rstd, m, c)
            .unwrap();
        let (mut gdx, mut gdw, mut gdb) = (up(&dx0), up(&dw0), up(&db0));
        g.layernorm_backward(
            &mut gdx,
            &mut gdw,
            &mut gdb,
            &up(&dout),
            &up(&x),
            &up(&w),
            &up(&mean),
            &up(&rstd),
            m,
            c,
        )
        .unwrap();
        assert_close("layernorm_backward dx", &g.download(&gdx).unwrap(), &dx, REDUCTION);
        // Parameter gradients sum m rows: scale the absolute tolerance with sqrt(m).
        let sum_tol = (1e-4, 1e-5 * (m as f32).sqrt());
        assert_close("layernorm_backward dweight", &g.download(&gdw).unwrap(), &dw, sum_tol);
        assert_close("layernorm_backward dbias", &g.download(&gdb).unwrap(), &db, sum_tol);
    }
}

fn head_shuffles_match<B: Backend>(g: &B) {
    let (b, t, c, nh) = (3, 11, 24, 4);
    let n = b * t * c;
    let up = |v: &[f32]| g.upload(v).unwrap();
    let qkv = rand_vec(3 * n, 1);
    let (mut q, mut k, mut v) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    CPU.split_qkv(&mut q, &mut k, &mut v, &qkv, b, t, c, nh).unwrap();
    let (mut gq, mut gk, mut gv) = (g.zeros(n).unwrap(), g.zeros(n).unwrap(), g.zeros(n).unwrap());
    g.split_qkv(&mut gq, &mut gk, &mut gv, &up(&qkv), b, t, c, nh).unwrap();
    for (name, gpu, cpu) in
        [("split_qkv q", &gq, &q), ("split_qkv k", &gk, &k), ("split_qkv v", &gv, &v)]
    {
        assert_close(name, &g.download(gpu).unwrap(), cpu, EXACT);
    }
    let init = rand_vec(3 * n, 2);
    let mut want = init.clone();
    CPU.split_qkv_backward(&mut want, &q, &k, &v, b, t, c, nh).unwrap();
    let mut got = up(&init);
    g.split_qkv_backward(&mut got, &gq, &gk, &gv, b, t, c, nh).unwrap();
    assert_close("split_qkv_backward", &g.download(&got).unwrap(), &want, ELEMENTWISE);

    let y = rand_vec(n, 3);
    let mut want = vec![0.0; n];
    CPU.merge_heads(&mut want, &y, b, t, c, nh).unwrap();
    let mut got = g.zeros(n).unwrap();
    g.merge_heads(&mut got, &up(&y), b, t, c, nh).unwrap();
    assert_close("merge_heads", &g.download(&got).unwrap(), &want, EXACT);
    let mut back = vec![0.0; n];
    CPU.merge_heads_backward(&mut back, &want, b, t, c, nh).unwrap();
    let mut gback = g.zeros(n).unwrap();
    g.merge_heads_backward(&mut gback, &got, b, t, c, nh).unwrap();
    assert_close("merge_heads_backward", &g.download(&gback).unwrap(), &back, EXACT);
    assert_eq!(back, y, "merge_heads then merge_heads_backward is the identity");
}

fn attention_matches<B: Backend>(g: &B) {
    for &(bh, t, hs) in &[(1, 1, 4), (6, 37, 16), (8, 128, 64)] {
        let n = bh * t * hs;
        let up = |v: &[f32]| g.upload(v).unwrap();
        let (q, k, v, dy) = (rand_vec(n, 1), rand_vec(n, 2), rand_vec(n, 3), rand_vec(n, 4));
        let (mut y, mut att) = (vec![0.0; n], vec![0.0; bh * t * t]);
        CPU.attention_forward(&mut y, &mut att, &q, &k, &v, bh, t, hs).unwrap();
        let (gq, gk, gv) = (up(&q), up(&k), up(&v));
        let (mut gy, mut gatt) = (g.zeros(n).unwrap(), g.zeros(bh * t * t).unwrap());
        g.attention_forward(&mut gy, &mut gatt, &gq, &gk, &gv, bh, t, hs).unwrap();
        assert_close(
            &format!("attention_forward y {bh}x{t}x{hs}"),
            &g.download(&gy).unwrap(),
            &y,
            PRODUCT,
        );
        assert_close("attention_forward att", &g.download(&gatt).unwrap(), &att, PRODUCT);

        let init = rand_vec(n, 5);
        let (mut dq, mut dk, mut dv) = (init.clone(), init.clone(), init.clone());
        CPU.attention_backward(&mut dq, &mut dk, &mut dv, &dy, &att, &q, &k, &v, bh, t, hs)
            .unwrap();
        let (mut gdq, mut gdk, mut gdv) = (up(&init), up(&init), up(&init));
        g.attention_backward(
            &mut gdq,
            &mut gdk,
            &mut gdv,
            &up(&dy),
            &up(&att),
            &gq,
            &gk,
            &gv,
            bh,
            t,
            hs,
        )
        .unwrap();
        assert_close("attention_backward dq", &g.download(&gdq).unwrap(), &dq, PRODUCT);
        assert_close("attention_backward dk", &g.download(&gdk).unwrap(), &dk, PRODUCT);
        assert_close("attention_backward dv", &g.download(&gdv).unwrap(), &dv, PRODUCT);
    }
}

fn softmax_and_cross_entropy_match<B: Backend>(g: &B) {
    for &(m, v) in &[(1, 2), (33, 1000), (64, 50_257)] {
        let logits: Vec<f32> = rand_vec(m * v, 1).iter().map(|x| x * 4.0).collect();
        let targets = rand_ids(m, v, 2);
        let up = |x: &[f32]| g.upload(x).unwrap();
        let (gl, gt) = (up(&logits), g.upload_ids(&targets).unwrap());
        let mut probs = vec![0.0; m * v];
        CPU.softmax(&mut probs, &logits, m, v).unwrap();
        let mut gp = g.zeros(m * v).unwrap();
        g.softmax(&mut gp, &gl, m, v).unwrap();
        assert_close(&format!("softmax {m}x{v}"), &g.download(&gp).unwrap(), &probs, REDUCTION);

        let (mut probs, mut losses) = (vec![0.0; m * v], vec![0.0; m]);
        CPU.cross_entropy_forward(&mut probs, &mut losses, &logits, &targets, m, v).unwrap();
        let (mut gp, mut gloss) = (g.zeros(m * v).unwrap(), g.zeros(m).unwrap());
        g.cross_entropy_forward(&mut gp, &mut gloss, &gl, &gt, m, v).unwrap();
        assert_close("cross_entropy_forward probs", &g.download(&gp).unwrap(), &probs, REDUCTION);
        assert_close(
            "cross_entropy_forward losses",
            &g.download(&gloss).unwrap(),
            &losses,
            REDUCTION,
        );

        let init = rand_vec(m * v, 3);
        let mut want = init.clone();
        CPU.cross_entropy_backward(&mut want, &probs, &targets, 0.25, m, v).unwrap();
        let mut got = up(&init);
        g.cross_entropy_backward(&mut got, &gp, &gt, 0.25, m, v).unwrap();
        assert_close("cross_entropy_backward", &g.download(&got).unwrap(), &want, REDUCTION);
    }
}

fn embeddings_match<B: Backend>(g: &B) {
    let (rows, c, n) = (50, 40, 300);
    let table = rand_vec(rows * c, 1);
    let ids = rand_ids(n, rows, 2); // 300 ids over 50 rows: many repeats, so atomics collide.
    let up = |x: &[f32]| g.upload(x).unwrap();
    let (gtable, gids) = (up(&table), g.upload_ids(&ids).unwrap());
    let mut want = vec![0.0; n * c];
    CPU.embedding_forward(&mut want, &ids, &table, n, c).unwrap();
    let mut got = g.zeros(n * c).unwrap();
    g.embedding_forward(&mut got, &gids, &gtable, n, c).unwrap();
    assert_close("embedding_forward", &g.download(&got).unwrap(), &want, EXACT);

    let dout = rand_vec(n * c, 3);
    let mut want = table.clone();
    CPU.embedding_backward(&mut want, &dout, &ids, n, c).unwrap();
    let mut got = up(&table);
    g.embedding_backward(&mut got, &up(&dout), &gids, n, c).unwrap();
    assert_close("embedding_backward", &g.download(&got).unwrap(), &want, REDUCTION);

    // Bags of 0 to 20 ids, including empty ones.
    let mut rng = Rng::new(4);
    let mut offsets = vec![0u32];
    while (*offsets.last().unwrap() as usize) < n {
        let next = (*offsets.last().unwrap() as usize + rng.below(21)).min(n);
        offsets.push(next as u32);
    }
    let bags = offsets.len() - 1;
    let goff = g.upload_ids(&offsets).unwrap();
    let mut want = vec![0.0; bags * c];
    CPU.embedding_bag_mean_forward(&mut want, &ids, &offsets, &table, bags, c).unwrap();
    let mut got = g.zeros(bags * c).unwrap();
    g.embedding_bag_mean_forward(&mut got, &gids, &goff, &gtable, bags, c).unwrap();
    assert_close("embedding_bag_mean_forward", &g.download(&got).unwrap(), &want, REDUCTION);

    let dout = rand_vec(bags * c, 5);
    let mut want = table.clone();
    CPU.embedding_bag_mean_backward(&mut want, &dout, &ids, &offsets, bags, c).unwrap();
    let mut got = up(&table);
    g.embedding_bag_mean_backward(&mut got, &up(&dout), &gids, &goff, bags, c).unwrap();
    assert_close("embedding_bag_mean_backward", &g.download(&got).unwrap(), &want, REDUCTION);
}

fn norm_and_adamw_match<B: Backend>(g: &B) {
    let n = 100_003;
    let (p, grads, m, v) = (
        rand_vec(n, 1),
        rand_vec(n, 2),
        rand_vec(n, 3),
        rand_vec(n, 4).iter().map(|x| x * x).collect::<Vec<_>>(),
    );
    let up = |x: &[f32]| g.upload(x).unwrap();
    let mut want = vec![1.5];
    CPU.sum_squares_acc(&mut want, &grads).unwrap();
    let mut got = up(&[1.5]);
    g.sum_squares_acc(&mut got, &up(&grads)).unwrap();
    assert_close("sum_squares_acc", &g.download(&got).unwrap(), &want, REDUCTION);

    let step = AdamWStep {
        config: AdamWConfig { lr: 1e-2, weight_decay: 0.1, ..AdamWConfig::default() },
        t: 7,
        grad_scale: 0.3,
    };
    let (mut cp, mut cm, mut cv) = (p.clone(), m.clone(), v.clone());
    CPU.adamw_step(&mut cp, &grads, &mut cm, &mut cv, &step).unwrap();
    let (mut gp, mut gm, mut gv) = (up(&p), up(&m), up(&v));
    g.adamw_step(&mut gp, &up(&grads), &mut gm, &mut gv, &step).unwrap();
    assert_close("adamw params", &g.download(&gp).unwrap(), &cp, ELEMENTWISE);
    assert_close("adamw m", &g.download(&gm).unwrap(), &cm, ELEMENTWISE);
    assert_close("adamw v", &g.download(&gv).unwrap(), &cv, ELEMENTWISE);
}

fn gpt_training_steps_match<B: Backend>(g: &B) {
    let tokens: Vec<u32> = (0..5000).map(|i| ((i * 7 + i / 5) % 61) as u32).collect();
    for tied in [true, false] {
        let cfg = GptConfig {
            vocab_size: 61,
            context: 32,
            layers: 2,
            width: 64,
            heads: 4,
            tied_embeddings: tied,
            seed: 3,
        };
        let train = GptTrainConfig {
            steps: 5,
            batch_size: 4,
            warmup_steps: 2,
            ..GptTrainConfig::default()
        };
        let (mut on_cpu, mut on_gpu) = (Gpt::new(cfg).unwrap(), Gpt::new(cfg).unwrap());
        let want = on_cpu.train_with(&CPU, &tokens, &train, |_| {}).unwrap();
        let got = on_gpu.train_with(g, &tokens, &train, |_| {}).unwrap();
        assert_close(&format!("gpt losses (tied: {tied})"), &got.losses, &want.losses, (2e-3, 0.0));
        // Generation from the trained weights runs on the CPU; the greedy continuations are
        // printed for a look (weights equal within float rounding can still pick differently).
        let prompt = [1, 2, 3];
        let a = on_cpu.generate(&prompt, 4, Sampling::Greedy, 0).unwrap();
        let b = on_gpu.generate(&prompt, 4, Sampling::Greedy, 0).unwrap();
        eprintln!("greedy continuation after training: cpu {a:?}, gpu {b:?}");
    }
}

fn classifier_scoring_matches<B: Backend>(g: &B) {
    // A trained model, scored on 500 bags of random rows (and an empty one), as the CPU scores.
    let (rows, labels) = (4096, 3);
    let mut rng = Rng::new(5);
    let bags: Vec<Vec<u32>> = (0..500)
        .map(|_| (0..rng.below(60)).map(|_| rng.below(rows) as u32).collect())
        .chain([Vec::new()])
        .collect();
    let data: Vec<(&[u32], u32)> = bags.iter().map(|b| (&b[..], b.len() as u32 % 3)).collect();
    let config = BagConfig { dim: 32, epochs: 3, lr: 0.2, seed: 9 };
    let model = Bag::train(&config, rows, labels, &data).unwrap();
    let ids: Vec<u32> = bags.concat();
    let mut offsets = vec![0u32];
    bags.iter().for_each(|b| offsets.push(offsets[offsets.len() - 1] + b.len() as u32));
    let want: Vec<f32> = bags.iter().flat_map(|b| model.probs(b)).collect();
    let got = Scorer::new(g, &model).unwrap().score_features(&ids, &offsets).unwrap();
    assert_close("classifier probabilities", &got, &want, REDUCTION);
}

fn encoder_ops_match<B: Backend>(g: &B) {
    let up = |v: &[f32]| g.upload(v).unwrap();
    let (m, c) = (67, 100);
    let (x, r, w, b) = (rand_vec(m * c, 1), rand_vec(m * c, 2), rand_vec(c, 3), rand_vec(c, 4));
    let mut want = vec![0.0; m * c];
    CPU.add_layernorm_forward(&mut want, &x, &r, &w, &b, m, c, 1e-12).unwrap();
    let mut out = g.zeros(m * c).unwrap();
    g.add_layernorm_forward(&mut out, &up(&x), &up(&r), &up(&w), &up(&b), m, c, 1e-12).unwrap();
    assert_close("add_layernorm_forward", &g.download(&out).unwrap(), &want, REDUCTION);
    let xs: Vec<f32> = x.iter().map(|v| v * 3.0).collect();
    for f in [Pointwise::GeluErf, Pointwise::GeluTanh, Pointwise::Relu, Pointwise::Tanh] {
        let mut want = vec![0.0; m * c];
        CPU.pointwise_forward(&mut want, &xs, m * c, f).unwrap();
        g.pointwise_forward(&mut out, &up(&xs), m * c, f).unwrap();
        assert_close(&format!("{f:?}"), &g.download(&out).unwrap(), &want, ELEMENTWISE);
    }
    // Sequences of 1, 5 and 40 tokens packed; every row asks, then each first row only.
    let (lens, c, heads) = ([1usize, 5, 40], 32, 4);
    let tokens: usize = lens.iter().sum();
    let qkv = rand_vec(tokens * 3 * c, 5);
    let offsets = [0u32, 1, 6, 46];
    let seq_of: Vec<u32> =
        lens.iter().enumerate().flat_map(|(s, &l)| std::iter::repeat_n(s as u32, l)).collect();
    let all: Vec<u32> = (0..tokens as u32).collect();
    for (rows, seqs) in [(&all[..], &seq_of[..]), (&offsets[..3], &[0, 1, 2][..])] {
        let shape =
            PackedShape { tokens, sequences: 3, queries: rows.len(), c, heads, max_len: 40 };
        let mut want = vec![0.0; rows.len() * c];
        let ids = |v: &[u32]| v.to_vec();
        CPU.packed_attention_forward(
            &mut want,
            &mut vec![],
            &qkv,
            &ids(&offsets),
            &ids(rows),
            &ids(seqs),
            shape,
        )
        .unwrap();
        let (mut out, mut att) =
            (g.zeros(rows.len() * c).unwrap(), g.zeros(rows.len() * heads * 40).unwrap());
        let gids = |v: &[u32]| g.upload_ids(v).unwrap();
        g.packed_attention_forward(
            &mut out,
            &mut att,
            &up(&qkv),
            &gids(&offsets),
            &gids(rows),
            &gids(seqs),
            shape,
        )
        .unwrap();
        let name = format!("packed_attention_forward, {} queries", rows.len());
        assert_close(&name, &g.download(&out).unwrap(), &want, PRODUCT);
    }
}

on_gpu_and_emulated!(
    matmuls_match,
    bias_axpy_and_gelu_match,
    layernorm_matches,
    head_shuffles_match,
    attention_matches,
    softmax_and_cross_entropy_match,
    embeddings_match,
    norm_and_adamw_match,
    gpt_training_steps_match,
    classifier_scoring_matches,
    encoder_ops_match
);

/// Runs on every machine: what `--device` resolves to here, with the reason.
#[test]
fn device_resolution_is_explicit() {
    let (auto, why) = DeviceRequest::Auto.resolve().unwrap();
    eprintln!("auto resolved to {auto}: {why}");
    match probe_cuda(0) {
        Err(reason) => {
            let err = DeviceRequest::Cuda(0).resolve().unwrap_err().to_string();
            eprintln!("cuda:0 is an error here: {err}");
            assert!(
                err.contains("cuda:0") && err.contains(&reason) && err.contains("`cpu` or `auto`"),
                "{err}"
            );
            assert_eq!(auto, Device::Cpu);
            assert!(why.contains("CPU") && why.contains(&reason), "{why}");
            assert!(CudaBackend::new(0).is_err());
        }
        Ok(gpu) => {
            assert_eq!(DeviceRequest::Cuda(0).resolve().unwrap().0, Device::Cuda(0));
            assert_eq!(auto, Device::Cuda(0));
            assert!(why.contains(&gpu), "{why}");
        }
    }
    assert!(DeviceRequest::Cuda(4096).resolve().is_err());
}
