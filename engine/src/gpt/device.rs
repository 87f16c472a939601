//! Training the GPT on any [`Backend`]: the same forward, backward and AdamW step as
//! [`super::forward`] and [`Gpt::train`], written once over backend buffers, so the CUDA backend
//! runs a whole training step on the GPU (only the sampled token windows go up, and the loss
//! and gradient norm come down, once per step). With [`crate::backend::CpuBackend`] it computes
//! what [`Gpt::train`] computes (tests compare the two).
//!
//! On the device every parameter tensor (and each layer of a per-layer tensor) is its own
//! buffer, in the order of the flat host buffer, so no backend needs sub-buffer views.

use std::time::Instant;

use super::params::sizes;
use super::train::{lr_at, sample_windows};
use super::{Gpt, GptConfig, GptTrainConfig, StepLog, TrainReport};
use crate::backend::{AdamWStep, Backend};
use crate::error::Result;
use crate::optim::AdamWConfig;
use crate::rng::Rng;

// Tensor kinds, in the order of `params::sizes`; kinds LN1W..=FCPROJB are stacked per layer.
const WTE: usize = 0;
const WPE: usize = 1;
const LN1W: usize = 2;
const LN1B: usize = 3;
const QKVW: usize = 4;
const QKVB: usize = 5;
const ATTPROJW: usize = 6;
const ATTPROJB: usize = 7;
const LN2W: usize = 8;
const LN2B: usize = 9;
const FCW: usize = 10;
const FCB: usize = 11;
const FCPROJW: usize = 12;
const FCPROJB: usize = 13;
const LNFW: usize = 14;
const LNFB: usize = 15;
const HEAD: usize = 16;

/// Where tensor `kind` (layer `l` for per-layer kinds) sits in the list of device buffers.
fn idx(layers: usize, kind: usize, l: usize) -> usize {
    match kind {
        WTE | WPE => kind,
        LN1W..=FCPROJB => 2 + (kind - LN1W) * layers + l,
        _ => 2 + 12 * layers + (kind - LNFW),
    }
}

/// Element counts of the device buffers, in flat-buffer order (an empty head is left out).
fn piece_sizes(cfg: &GptConfig) -> Vec<usize> {
    let mut out = Vec::new();
    for (kind, n) in sizes(cfg).into_iter().enumerate() {
        match kind {
            LN1W..=FCPROJB => out.extend(std::iter::repeat_n(n / cfg.layers, cfg.layers)),
            HEAD if n == 0 => {}
            _ => out.push(n),
        }
    }
    out
}

/// Two distinct elements of a slice, mutably.
fn pair_mut<T>(v: &mut [T], i: usize, j: usize) -> (&mut T, &mut T) {
    assert!(i != j, "pair_mut needs two distinct indices");
    if i < j {
        let (a, b) = v.split_at_mut(j);
        (&mut a[i], &mut b[0])
    } else {
        let (a, b) = v.split_at_mut(i);
        (&mut b[0], &mut a[j])
    }
}

/// Parameters, gradients and AdamW moments on the device, one buffer per tensor (per layer).
struct DeviceModel<B: Backend> {
    params: Vec<B::Buf>,
    grads: Vec<B::Buf>,
    m: Vec<B::Buf>,
    v: Vec<B::Buf>,
}

impl<B: Backend> DeviceModel<B> {
    fn upload(be: &B, cfg: &GptConfig, flat: &[f32]) -> Result<Self> {
        let (mut params, mut grads, mut m, mut v) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut off = 0;
        for n in piece_sizes(cfg) {
            params.push(be.upload(&flat[off..off + n])?);
            grads.push(be.zeros(n)?);
            m.push(be.zeros(n)?);
            v.push(be.zeros(n)?);
            off += n;
        }
        Ok(Self { params, grads, m, v })
    }

    fn download(&self, be: &B, flat: &mut [f32]) -> Result<()> {
        let mut off = 0;
        for p in &self.params {
            let host = be.download(p)?;
            flat[off..off + host.len()].copy_from_slice(&host);
            off += host.len();
        }
        Ok(())
    }
}

/// Saved activations of one block, on the device (as `forward::LayerActs`).
struct LayerBufs<B: Backend> {
    ln1: B::Buf,
    ln1_mean: B::Buf,
    ln1_rstd: B::Buf,
    qkv: B::Buf,
    q: B::Buf,
    k: B::Buf,
    v: B::Buf,
    att: B::Buf,
    atty: B::Buf,
    attm: B::Buf,
    res2: B::Buf,
    ln2: B::Buf,
    ln2_mean: B::Buf,
    ln2_rstd: B::Buf,
    fch: B::Buf,
    fch_gelu: B::Buf,
    res3: B::Buf,
}

/// Activations and gradient scratch for one batch shape, on the device.
struct DeviceActs<B: Backend> {
    encoded: B::Buf,
    layers: Vec<LayerBufs<B>>,
    lnf: B::Buf,
    lnf_mean: B::Buf,
    lnf_rstd: B::Buf,
    logits: B::Buf,
    probs: B::Buf,
    losses: B::Buf,
    dlogits: B::Buf,
    dlnf: B::Buf,
    dres: B::Buf,
    dbig: B::Buf,
    dbig2: B::Buf,
    dc: B::Buf,
    dc2: B::Buf,
    dq: B::Buf,
    dk: B::Buf,
    dv: B::Buf,
    dqkv: B::Buf,
}

impl<B: Backend> DeviceActs<B> {
    fn new(be: &B, cfg: &GptConfig, b: usize, t: usize) -> Result<Self> {
        let (n, c, nh, v) = (b * t, cfg.width, cfg.heads, cfg.vocab_size);
        let z = |len: usize| be.zeros(len);
        let mut layers = Vec::with_capacity(cfg.layers);
        for _ in 0..cfg.layers {
            layers.push(LayerBufs {
                ln1: z(n * c)?,
                ln1_mean: z(n)?,
                ln1_rstd: z(n)?,
                qkv: z(n * 3 * c)?,
                q: z(n * c)?,
                k: z(n * c)?,
                v: z(n * c)?,
                att: z(b * nh * t * t)?,
                atty: z(n * c)?,
                attm: z(n * c)?,
                res2: z(n * c)?,
                ln2: z(n * c)?,
                ln2_mean: z(n)?,
                ln2_rstd: z(n)?,
                fch: z(n * 4 * c)?,
                fch_gelu: z(n * 4 * c)?,
                res3: z(n * c)?,
            });
        }
        Ok(Self {
            encoded: z(n * c)?,
            layers,
            lnf: z(n * c)?,
            lnf_mean: z(n)?,
            lnf_rstd: z(n)?,
            logits: z(n * v)?,
            probs: z(n * v)?,
            losses: z(n)?,
            dlogits: z(n * v)?,
            dlnf: z(n * c)?,
            dres: z(n * c)?,
            dbig: z(n * 4 * c)?,
            dbig2: z(n * 4 * c)?,
            dc: z(n * c)?,
            dc2: z(n * c)?,
            dq: z(n * c)?,
            dk: z(n * c)?,
            dv: z(n * c)?,
            dqkv: z(n * 3 * c)?,
        })
    }
}

/// `out[m, oc] = x[m, c] @ w[oc, c]^T + bias`, as `ops::matmul::linear_forward`.
#[allow(clippy::too_many_arguments)] // Explicit buffers and dimensions, llm.c style.
fn linear<B: Backend>(
    be: &B,
    out: &mut B::Buf,
    x: &B::Buf,
    w: &B::Buf,
    bias: Option<&B::Buf>,
    m: usize,
    c: usize,
    oc: usize,
) -> Result<()> {
    be.matmul_bt(out, x, w, m, c, oc)?;
    match bias {
        Some(b) => be.bias_forward(out, b, m, oc),
        None => Ok(()),
    }
}

/// Gradients of [`linear`], accumulated, as `ops::matmul::linear_backward`.
#[allow(clippy::too_many_arguments)] // Explicit buffers and dimensions, llm.c style.
fn linear_back<B: Backend>(
    be: &B,
    dx: &mut B::Buf,
    dw: &mut B::Buf,
    dbias: Option<&mut B::Buf>,
    dout: &B::Buf,
    x: &B::Buf,
    w: &B::Buf,
    m: usize,
    c: usize,
    oc: usize,
) -> Result<()> {
    be.matmul_acc(dx, dout, w, m, oc, c)?;
    be.matmul_at_acc(dw, dout, x, m, oc, c)?;
    match dbias {
        Some(db) => be.bias_backward(db, dout, m, oc),
        None => Ok(()),
    }
}

/// Forward pass of `tokens[b, t]` with `targets`: fills `a.losses` (per position).
#[allow(clippy::too_many_arguments)] // Explicit buffers and dimensions, llm.c style.
fn forward<B: Backend>(
    be: &B,
    cfg: &GptConfig,
    p: &[B::Buf],
    a: &mut DeviceActs<B>,
    tokens: &B::Ids,
    targets: &B::Ids,
    b: usize,
    t: usize,
) -> Result<()> {
    let (c, nh, nl, v) = (cfg.width, cfg.heads, cfg.layers, cfg.vocab_size);
    let n = b * t;
    let at = |kind: usize, l: usize| &p[idx(nl, kind, l)];
    be.embedding_forward(&mut a.encoded, tokens, at(WTE, 0), n, c)?;
    be.bias_forward(&mut a.encoded, at(WPE, 0), b, t * c)?;
    for l in 0..nl {
        let (done, rest) = a.layers.split_at_mut(l);
        let input = if l == 0 { &a.encoded } else { &done[l - 1].res3 };
        let la = &mut rest[0];
        be.layernorm_forward(
            &mut la.ln1,
            &mut la.ln1_mean,
            &mut la.ln1_rstd,
            input,
            at(LN1W, l),
            at(LN1B, l),
            n,
            c,
        )?;
        linear(be, &mut la.qkv, &la.ln1, at(QKVW, l), Some(at(QKVB, l)), n, c, 3 * c)?;
        be.split_qkv(&mut la.q, &mut la.k, &mut la.v, &la.qkv, b, t, c, nh)?;
        be.attention_forward(&mut la.atty, &mut la.att, &la.q, &la.k, &la.v, b * nh, t, c / nh)?;
        be.merge_heads(&mut la.attm, &la.atty, b, t, c, nh)?;
        linear(be, &mut la.res2, &la.attm, at(ATTPROJW, l), Some(at(ATTPROJB, l)), n, c, c)?;
        be.axpy(&mut la.res2, 1.0, input, n * c)?;
        be.layernorm_forward(
            &mut la.ln2,
            &mut la.ln2_mean,
            &mut la.ln2_rstd,
            &la.res2,
            at(LN2W, l),
            at(LN2B, l),
            n,
            c,
        )?;
        linear(be, &mut la.fch, &la.ln2, at(FCW, l), Some(at(FCB, l)), n, c, 4 * c)?;
        be.gelu_forward(&mut la.fch_gelu, &la.fch, n * 4 * c)?;
        linear(be, &mut la.res3, &la.fch_gelu, at(FCPROJW, l), Some(at(FCPROJB, l)), n, 4 * c, c)?;
        be.axpy(&mut la.res3, 1.0, &la.res2, n * c)?;
    }
    let last = a.layers.last().map_or(&a.encoded, |la| &la.res3);
    be.layernorm_forward(
        &mut a.lnf,
        &mut a.lnf_mean,
        &mut a.lnf_rstd,
        last,
        at(LNFW, 0),
        at(LNFB, 0),
        n,
        c,
    )?;
    let head = if cfg.tied_embeddings { at(WTE, 0) } else { at(HEAD, 0) };
    linear(be, &mut a.logits, &a.lnf, head, None, n, c, v)?;
    be.cross_entropy_forward(&mut a.probs, &mut a.losses, &a.logits, targets, n, v)
}

/// Backward pass of the mean loss of the last [`forward`]; accumulates into `g`.
#[allow(clippy::too_many_arguments)] // Explicit buffers and dimensions, llm.c style.
fn backward<B: Backend>(
    be: &B,
    cfg: &GptConfig,
    p: &[B::Buf],
    g: &mut [B::Buf],
    a: &mut DeviceActs<B>,
    tokens: &B::Ids,
    targets: &B::Ids,
    b: usize,
    t: usize,
) -> Result<()> {
    let (c, nl, v) = (cfg.width, cfg.layers, cfg.vocab_size);
    let n = b * t;
    let at = |kind: usize, l: usize| &p[idx(nl, kind, l)];
    let ix = |kind: usize, l: usize| idx(nl, kind, l);
    be.fill_zero(&mut a.dlogits)?;
    be.cross_entropy_backward(&mut a.dlogits, &a.probs, targets, 1.0 / n as f32, n, v)?;
    let head = if cfg.tied_embeddings { WTE } else { HEAD };
    be.fill_zero(&mut a.dlnf)?;
    linear_back(
        be,
        &mut a.dlnf,
        &mut g[ix(head, 0)],
        None,
        &a.dlogits,
        &a.lnf,
        at(head, 0),
        n,
        c,
        v,
    )?;
    let last = a.layers.last().map_or(&a.encoded, |la| &la.res3);
    be.fill_zero(&mut a.dres)?;
    let (dw, db) = pair_mut(g, ix(LNFW, 0), ix(LNFB, 0));
    be.layernorm_backward(
        &mut a.dres,
        dw,
        db,
        &a.dlnf,
        last,
        at(LNFW, 0),
        &a.lnf_mean,
        &a.lnf_rstd,
        n,
        c,
    )?;
    for l in (0..nl).rev() {
        mlp_backward(be, cfg, p, g, a, l, n)?;
        attention_block_backward(be, cfg, p, g, a, l, b, t)?;
    }
    be.embedding_backward(&mut g[ix(WTE, 0)], &a.dres, tokens, n, c)?;
    be.bias_backward(&mut g[ix(WPE, 0)], &a.dres, b, t * c)
}

/// The MLP of block `l`, `res3 = res2 + fcproj(gelu(fc(ln2(res2))))`, backward: takes the
/// gradient of `res3` in `a.dres`, leaves that of `res2` there.
fn mlp_backward<B: Backend>(
    be: &B,
    cfg: &GptConfig,
    p: &[B::Buf],
    g: &mut [B::Buf],
    a: &mut DeviceActs<B>,
    l: usize,
    n: usize,
) -> Result<()> {
    let (c, nl) = (cfg.width, cfg.layers);
    let at = |kind: usize, l: usize| &p[idx(nl, kind, l)];
    let ix = |kind: usize, l: usize| idx(nl, kind, l);
    let la = &a.layers[l];
    be.fill_zero(&mut a.dbig)?;
    let (dw, db) = pair_mut(g, ix(FCPROJW, l), ix(FCPROJB, l));
    linear_back(be, &mut a.dbig, dw, Some(db), &a.dres, &la.fch_gelu, at(FCPROJW, l), n, 4 * c, c)?;
    be.fill_zero(&mut a.dbig2)?;
    be.gelu_backward(&mut a.dbig2, &la.fch, &a.dbig, n * 4 * c)?;
    be.fill_zero(&mut a.dc)?;
    let (dw, db) = pair_mut(g, ix(FCW, l), ix(FCB, l));
    linear_back(be, &mut a.dc, dw, Some(db), &a.dbig2, &la.ln2, at(FCW, l), n, c, 4 * c)?;
    let (dw, db) = pair_mut(g, ix(LN2W, l), ix(LN2B, l));
    be.layernorm_backward(
        &mut a.dres,
        dw,
        db,
        &a.dc,
        &la.res2,
        at(LN2W, l),
        &la.ln2_mean,
        &la.ln2_rstd,
        n,
        c,
    )?;
    Ok(())
}

/// The attention of block `l`, `res2 = input + attproj(attn(qkv(ln1(input))))`, backward:
/// takes the gradient of `res2` in `a.dres`, leaves that of the block's input there.
#[allow(clippy::too_many_arguments)] // Explicit buffers and dimensions, llm.c style.
fn attention_block_backward<B: Backend>(
    be: &B,
    cfg: &GptConfig,
    p: &[B::Buf],
    g: &mut [B::Buf],
    a: &mut DeviceActs<B>,
    l: usize,
    b: usize,
    t: usize,
) -> Result<()> {
    let (c, nh, nl) = (cfg.width, cfg.heads, cfg.layers);
    let n = b * t;
    let at = |kind: usize, l: usize| &p[idx(nl, kind, l)];
    let ix = |kind: usize, l: usize| idx(nl, kind, l);
    let la = &a.layers[l];
    let input = if l == 0 { &a.encoded } else { &a.layers[l - 1].res3 };
    be.fill_zero(&mut a.dc)?;
    let (dw, db) = pair_mut(g, ix(ATTPROJW, l), ix(ATTPROJB, l));
    linear_back(be, &mut a.dc, dw, Some(db), &a.dres, &la.attm, at(ATTPROJW, l), n, c, c)?;
    be.merge_heads_backward(&mut a.dc2, &a.dc, b, t, c, nh)?;
    for d in [&mut a.dq, &mut a.dk, &mut a.dv, &mut a.dqkv] {
        be.fill_zero(d)?;
    }
    be.attention_backward(
        &mut a.dq,
        &mut a.dk,
        &mut a.dv,
        &a.dc2,
        &la.att,
        &la.q,
        &la.k,
        &la.v,
        b * nh,
        t,
        c / nh,
    )?;
    be.split_qkv_backward(&mut a.dqkv, &a.dq, &a.dk, &a.dv, b, t, c, nh)?;
    be.fill_zero(&mut a.dc)?;
    let (dw, db) = pair_mut(g, ix(QKVW, l), ix(QKVB, l));
    linear_back(be, &mut a.dc, dw, Some(db), &a.dqkv, &la.ln1, at(QKVW, l), n, c, 3 * c)?;
    let (dw, db) = pair_mut(g, ix(LN1W, l), ix(LN1B, l));
    be.layernorm_backward(
        &mut a.dres,
        dw,
        db,
        &a.dc,
        input,
        at(LN1W, l),
        &la.ln1_mean,
        &la.ln1_rstd,
        n,
        c,
    )?;
    Ok(())
}

impl Gpt {
    /// Trains on `device` (as resolved by [`crate::DeviceRequest::resolve`]): the CPU runs
    /// [`Gpt::train`], `cuda:N` opens that GPU (compiling its kernels) and runs
    /// [`Gpt::train_with`] there.
    ///
    /// # Errors
    /// As [`Gpt::train`]; [`Error::Device`](crate::error::Error::Device) or
    /// [`Error::Cuda`](crate::error::Error::Cuda) when the GPU cannot be opened.
    pub fn train_on(
        &mut self,
        device: crate::Device,
        tokens: &[u32],
        config: &GptTrainConfig,
        on_step: impl FnMut(&StepLog),
    ) -> Result<TrainReport> {
        match device {
            crate::Device::Cpu => self.train(tokens, config, on_step),
            crate::Device::Cuda(n) => {
                self.train_with(&crate::backend::CudaBackend::new(n)?, tokens, config, on_step)
            }
        }
    }

    /// Trains on random windows of `tokens` with every step's arithmetic on `backend` (the
    /// same sampling, schedule, clipping and AdamW as [`Gpt::train`]; with the CPU backend the
    /// results agree with it up to float rounding). Parameters are uploaded once and copied
    /// back when training ends.
    ///
    /// # Errors
    /// As [`Gpt::train`], and any backend error (out of GPU memory, a failed launch).
    pub fn train_with<B: Backend>(
        &mut self,
        be: &B,
        tokens: &[u32],
        config: &GptTrainConfig,
        mut on_step: impl FnMut(&StepLog),
    ) -> Result<TrainReport> {
        self.check_training(tokens, config)?;
        let cfg = self.config;
        let (b, t) = (config.batch_size, cfg.context.min(tokens.len() - 1));
        let mut model = DeviceModel::upload(be, &cfg, &self.params)?;
        let mut acts = DeviceActs::new(be, &cfg, b, t)?;
        let (mut inputs, mut targets) = (vec![0u32; b * t], vec![0u32; b * t]);
        let (mut d_inputs, mut d_targets) = (be.upload_ids(&inputs)?, be.upload_ids(&targets)?);
        let mut norm = be.zeros(1)?;
        let mut adam = AdamWConfig {
            lr: config.lr,
            weight_decay: config.weight_decay,
            ..AdamWConfig::default()
        };
        let mut rng = Rng::new(config.seed);
        let start = Instant::now();
        let mut losses = Vec::with_capacity(config.steps);
        for step in 0..config.steps {
            sample_windows(&mut rng, tokens, t, &mut inputs, &mut targets);
            be.write_ids(&mut d_inputs, &inputs)?;
            be.write_ids(&mut d_targets, &targets)?;
            forward(be, &cfg, &model.params, &mut acts, &d_inputs, &d_targets, b, t)?;
            for g in &mut model.grads {
                be.fill_zero(g)?;
            }
            backward(
                be,
                &cfg,
                &model.params,
                &mut model.grads,
                &mut acts,
                &d_inputs,
                &d_targets,
                b,
                t,
            )?;
            be.fill_zero(&mut norm)?;
            for g in &model.grads {
                be.sum_squares_acc(&mut norm, g)?;
            }
            let grad_norm = be.download(&norm)?[0].sqrt();
            let loss = (be.download(&acts.losses)?.iter().map(|&x| x as f64).sum::<f64>()
                / (b * t) as f64) as f32;
            let grad_scale = if config.grad_clip > 0.0 && grad_norm > config.grad_clip {
                config.grad_clip / grad_norm
            } else {
                1.0
            };
            adam.lr = lr_at(config, step);
            let adam_step = AdamWStep { config: adam, t: step as u32 + 1, grad_scale };
            for (((p, g), m), v) in
                model.params.iter_mut().zip(&model.grads).zip(&mut model.m).zip(&mut model.v)
            {
                be.adamw_step(p, g, m, v, &adam_step)?;
            }
            losses.push(loss);
            on_step(&StepLog {
                step,
                loss,
                lr: adam.lr,
                grad_norm,
                elapsed_s: start.elapsed().as_secs_f64(),
            });
        }
        model.download(be, &mut self.params)?;
        let tail = &losses[losses.len() - (losses.len() / 10).max(1)..];
        Ok(TrainReport {
            final_loss: tail.iter().sum::<f32>() / tail.len() as f32,
            losses,
            tokens: config.steps * b * t,
            seconds: start.elapsed().as_secs_f64(),
        })
    }
}

#[cfg(test)]
mod tests;
