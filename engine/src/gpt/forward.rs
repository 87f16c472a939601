//! The GPT's forward and backward passes over a batch `[b, t]` of token ids, built from the
//! explicit kernels in [`crate::ops`] (no autograd graph; each layer's backward is written out).

use super::GptConfig;
use super::params::{Params, layer, layer_mut, split, split_mut};
use crate::ops::activation::{gelu_backward, gelu_forward};
use crate::ops::attention::{
    attention_backward, attention_forward, merge_heads, merge_heads_backward, split_qkv,
    split_qkv_backward,
};
use crate::ops::embedding::{embedding_backward, embedding_forward};
use crate::ops::loss::{cross_entropy_backward, cross_entropy_forward};
use crate::ops::matmul::{axpy, linear_backward, linear_forward};
use crate::ops::norm::{layernorm_backward, layernorm_forward};

/// Saved activations of one transformer block.
#[derive(Debug)]
struct LayerActs {
    ln1: Vec<f32>,
    ln1_mean: Vec<f32>,
    ln1_rstd: Vec<f32>,
    qkv: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    att: Vec<f32>,
    atty: Vec<f32>,
    attm: Vec<f32>,
    res2: Vec<f32>,
    ln2: Vec<f32>,
    ln2_mean: Vec<f32>,
    ln2_rstd: Vec<f32>,
    fch: Vec<f32>,
    fch_gelu: Vec<f32>,
    /// The block's output (input of the next block).
    res3: Vec<f32>,
}

/// Everything the forward pass saves for the backward pass, for one batch shape.
#[derive(Debug)]
pub(crate) struct Activations {
    pub b: usize,
    pub t: usize,
    encoded: Vec<f32>,
    layers: Vec<LayerActs>,
    lnf: Vec<f32>,
    lnf_mean: Vec<f32>,
    lnf_rstd: Vec<f32>,
    pub logits: Vec<f32>,
    probs: Vec<f32>,
    /// Per-position loss in nats (filled when targets are given).
    pub losses: Vec<f32>,
}

impl Activations {
    pub fn new(cfg: &GptConfig, b: usize, t: usize) -> Self {
        let (n, c, nh) = (b * t, cfg.width, cfg.heads);
        let z = |len: usize| vec![0.0f32; len];
        let layers = (0..cfg.layers)
            .map(|_| LayerActs {
                ln1: z(n * c),
                ln1_mean: z(n),
                ln1_rstd: z(n),
                qkv: z(n * 3 * c),
                q: z(n * c),
                k: z(n * c),
                v: z(n * c),
                att: z(b * nh * t * t),
                atty: z(n * c),
                attm: z(n * c),
                res2: z(n * c),
                ln2: z(n * c),
                ln2_mean: z(n),
                ln2_rstd: z(n),
                fch: z(n * 4 * c),
                fch_gelu: z(n * 4 * c),
                res3: z(n * c),
            })
            .collect();
        let v = cfg.vocab_size;
        Self {
            b,
            t,
            encoded: z(n * c),
            layers,
            lnf: z(n * c),
            lnf_mean: z(n),
            lnf_rstd: z(n),
            logits: z(n * v),
            probs: z(n * v),
            losses: z(n),
        }
    }
}

/// Forward pass of `tokens[b, t]`; with `targets[b, t]`, also per-position losses. Returns the
/// mean loss (0 without targets). Token ids must be `< vocab_size` and `t <= context`.
pub(crate) fn forward(
    cfg: &GptConfig,
    params: &[f32],
    acts: &mut Activations,
    tokens: &[u32],
    targets: Option<&[u32]>,
) -> f32 {
    let p = split(cfg, params);
    let (b, t, c, nl, v) = (acts.b, acts.t, cfg.width, cfg.layers, cfg.vocab_size);
    let n = b * t;
    embedding_forward(&mut acts.encoded, tokens, p.wte, c);
    for row in acts.encoded.chunks_exact_mut(t * c) {
        axpy(row, 1.0, &p.wpe[..t * c]);
    }
    for l in 0..nl {
        let (done, rest) = acts.layers.split_at_mut(l);
        let input = if l == 0 { &acts.encoded } else { &done[l - 1].res3 };
        block_forward(cfg, &p, input, &mut rest[0], b, t, l);
    }
    let last = acts.layers.last().map_or(&acts.encoded, |a| &a.res3);
    layernorm_forward(
        &mut acts.lnf,
        &mut acts.lnf_mean,
        &mut acts.lnf_rstd,
        last,
        p.lnfw,
        p.lnfb,
        n,
        c,
    );
    let head = if cfg.tied_embeddings { p.wte } else { p.head };
    linear_forward(&mut acts.logits, &acts.lnf, head, None, n, c, v);
    match targets {
        Some(tg) => {
            cross_entropy_forward(&mut acts.probs, &mut acts.losses, &acts.logits, tg, n, v);
            (acts.losses.iter().map(|&x| x as f64).sum::<f64>() / n as f64) as f32
        }
        None => 0.0,
    }
}

/// Transformer block `l` on `input` (`[b * t, c]`), its activations saved in `a`.
fn block_forward(
    cfg: &GptConfig,
    p: &Params<&[f32]>,
    input: &[f32],
    a: &mut LayerActs,
    b: usize,
    t: usize,
    l: usize,
) {
    let (c, nh, nl) = (cfg.width, cfg.heads, cfg.layers);
    let n = b * t;
    layernorm_forward(
        &mut a.ln1,
        &mut a.ln1_mean,
        &mut a.ln1_rstd,
        input,
        layer(p.ln1w, l, nl),
        layer(p.ln1b, l, nl),
        n,
        c,
    );
    linear_forward(
        &mut a.qkv,
        &a.ln1,
        layer(p.qkvw, l, nl),
        Some(layer(p.qkvb, l, nl)),
        n,
        c,
        3 * c,
    );
    split_qkv(&mut a.q, &mut a.k, &mut a.v, &a.qkv, b, t, c, nh);
    attention_forward(&mut a.atty, &mut a.att, &a.q, &a.k, &a.v, b * nh, t, c / nh);
    merge_heads(&mut a.attm, &a.atty, b, t, c, nh);
    linear_forward(
        &mut a.res2,
        &a.attm,
        layer(p.attprojw, l, nl),
        Some(layer(p.attprojb, l, nl)),
        n,
        c,
        c,
    );
    axpy(&mut a.res2, 1.0, input);
    layernorm_forward(
        &mut a.ln2,
        &mut a.ln2_mean,
        &mut a.ln2_rstd,
        &a.res2,
        layer(p.ln2w, l, nl),
        layer(p.ln2b, l, nl),
        n,
        c,
    );
    linear_forward(&mut a.fch, &a.ln2, layer(p.fcw, l, nl), Some(layer(p.fcb, l, nl)), n, c, 4 * c);
    gelu_forward(&mut a.fch_gelu, &a.fch);
    linear_forward(
        &mut a.res3,
        &a.fch_gelu,
        layer(p.fcprojw, l, nl),
        Some(layer(p.fcprojb, l, nl)),
        n,
        4 * c,
        c,
    );
    axpy(&mut a.res3, 1.0, &a.res2);
}

/// Gradient scratch for the backward pass (reused across steps).
#[derive(Debug)]
pub(crate) struct Scratch {
    dlogits: Vec<f32>,
    dlnf: Vec<f32>,
    dres: Vec<f32>,
    dbig: Vec<f32>,
    dbig2: Vec<f32>,
    dc: Vec<f32>,
    dc2: Vec<f32>,
    dq: Vec<f32>,
    dk: Vec<f32>,
    dv: Vec<f32>,
    dqkv: Vec<f32>,
}

impl Scratch {
    pub fn new(cfg: &GptConfig, b: usize, t: usize) -> Self {
        let (n, c) = (b * t, cfg.width);
        let z = |len: usize| vec![0.0f32; len];
        Self {
            dlogits: z(n * cfg.vocab_size),
            dlnf: z(n * c),
            dres: z(n * c),
            dbig: z(n * 4 * c),
            dbig2: z(n * 4 * c),
            dc: z(n * c),
            dc2: z(n * c),
            dq: z(n * c),
            dk: z(n * c),
            dv: z(n * c),
            dqkv: z(n * 3 * c),
        }
    }
}

/// Backward pass of the mean loss of the last [`forward`] with `targets`; accumulates into
/// `grads` (same layout as the parameters).
pub(crate) fn backward(
    cfg: &GptConfig,
    params: &[f32],
    grads: &mut [f32],
    acts: &Activations,
    s: &mut Scratch,
    tokens: &[u32],
    targets: &[u32],
) {
    let p = split(cfg, params);
    let mut g = split_mut(cfg, grads);
    let (b, t, c, nl, v) = (acts.b, acts.t, cfg.width, cfg.layers, cfg.vocab_size);
    let n = b * t;
    let zero = |x: &mut Vec<f32>| x.fill(0.0);
    zero(&mut s.dlogits);
    cross_entropy_backward(&mut s.dlogits, &acts.probs, targets, &vec![1.0 / n as f32; n], n, v);
    let (head, dhead) =
        if cfg.tied_embeddings { (p.wte, &mut *g.wte) } else { (p.head, &mut *g.head) };
    zero(&mut s.dlnf);
    linear_backward(&mut s.dlnf, dhead, None, &s.dlogits, &acts.lnf, head, n, c, v);
    let last = acts.layers.last().map_or(&acts.encoded, |a| &a.res3);
    zero(&mut s.dres);
    layernorm_backward(
        &mut s.dres,
        g.lnfw,
        g.lnfb,
        &s.dlnf,
        last,
        p.lnfw,
        &acts.lnf_mean,
        &acts.lnf_rstd,
        n,
        c,
    );
    for l in (0..nl).rev() {
        mlp_backward(cfg, &p, &mut g, acts, s, l);
        attention_block_backward(cfg, &p, &mut g, acts, s, l);
    }
    embedding_backward(g.wte, &s.dres, tokens, c);
    for row in s.dres.chunks_exact(t * c) {
        axpy(&mut g.wpe[..t * c], 1.0, row);
    }
}

/// The MLP of block `l`, `res3 = res2 + fcproj(gelu(fc(ln2(res2))))`, backward: takes the
/// gradient of `res3` in `s.dres`, leaves that of `res2` there.
fn mlp_backward(
    cfg: &GptConfig,
    p: &Params<&[f32]>,
    g: &mut Params<&mut [f32]>,
    acts: &Activations,
    s: &mut Scratch,
    l: usize,
) {
    let (n, c, nl) = (acts.b * acts.t, cfg.width, cfg.layers);
    let zero = |x: &mut Vec<f32>| x.fill(0.0);
    let a = &acts.layers[l];
    zero(&mut s.dbig);
    linear_backward(
        &mut s.dbig,
        layer_mut(g.fcprojw, l, nl),
        Some(layer_mut(g.fcprojb, l, nl)),
        &s.dres,
        &a.fch_gelu,
        layer(p.fcprojw, l, nl),
        n,
        4 * c,
        c,
    );
    zero(&mut s.dbig2);
    gelu_backward(&mut s.dbig2, &a.fch, &s.dbig);
    zero(&mut s.dc);
    linear_backward(
        &mut s.dc,
        layer_mut(g.fcw, l, nl),
        Some(layer_mut(g.fcb, l, nl)),
        &s.dbig2,
        &a.ln2,
        layer(p.fcw, l, nl),
        n,
        c,
        4 * c,
    );
    layernorm_backward(
        &mut s.dres,
        layer_mut(g.ln2w, l, nl),
        layer_mut(g.ln2b, l, nl),
        &s.dc,
        &a.res2,
        layer(p.ln2w, l, nl),
        &a.ln2_mean,
        &a.ln2_rstd,
        n,
        c,
    );
}

/// The attention of block `l`, `res2 = input + attproj(attn(qkv(ln1(input))))`, backward:
/// takes the gradient of `res2` in `s.dres`, leaves that of the block's input there.
fn attention_block_backward(
    cfg: &GptConfig,
    p: &Params<&[f32]>,
    g: &mut Params<&mut [f32]>,
    acts: &Activations,
    s: &mut Scratch,
    l: usize,
) {
    let (b, t, c, nh, nl) = (acts.b, acts.t, cfg.width, cfg.heads, cfg.layers);
    let n = b * t;
    let zero = |x: &mut Vec<f32>| x.fill(0.0);
    let a = &acts.layers[l];
    let input = if l == 0 { &acts.encoded } else { &acts.layers[l - 1].res3 };
    zero(&mut s.dc);
    linear_backward(
        &mut s.dc,
        layer_mut(g.attprojw, l, nl),
        Some(layer_mut(g.attprojb, l, nl)),
        &s.dres,
        &a.attm,
        layer(p.attprojw, l, nl),
        n,
        c,
        c,
    );
    merge_heads_backward(&mut s.dc2, &s.dc, b, t, c, nh);
    for d in [&mut s.dq, &mut s.dk, &mut s.dv, &mut s.dqkv] {
        zero(d);
    }
    attention_backward(
        &mut s.dq,
        &mut s.dk,
        &mut s.dv,
        &s.dc2,
        &a.att,
        &a.q,
        &a.k,
        &a.v,
        b * nh,
        t,
        c / nh,
    );
    split_qkv_backward(&mut s.dqkv, &s.dq, &s.dk, &s.dv, b, t, c, nh);
    zero(&mut s.dc);
    linear_backward(
        &mut s.dc,
        layer_mut(g.qkvw, l, nl),
        Some(layer_mut(g.qkvb, l, nl)),
        &s.dqkv,
        &a.ln1,
        layer(p.qkvw, l, nl),
        n,
        c,
        3 * c,
    );
    layernorm_backward(
        &mut s.dres,
        layer_mut(g.ln1w, l, nl),
        layer_mut(g.ln1b, l, nl),
        &s.dc,
        input,
        layer(p.ln1w, l, nl),
        &a.ln1_mean,
        &a.ln1_rstd,
        n,
        c,
    );
}
