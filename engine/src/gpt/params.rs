//! The GPT's parameter layout: every tensor is a named range of one flat `f32` buffer (as in
//! llm.c), so the optimizer updates the whole model in one pass. Linear weights are
//! `[out, in]`; per-layer tensors are stacked over layers (`[layers, ...]`).

use super::GptConfig;

/// One value (a slice, a size, a range) per parameter tensor, in buffer order.
#[derive(Debug)]
pub(crate) struct Params<T> {
    pub wte: T,
    pub wpe: T,
    pub ln1w: T,
    pub ln1b: T,
    pub qkvw: T,
    pub qkvb: T,
    pub attprojw: T,
    pub attprojb: T,
    pub ln2w: T,
    pub ln2b: T,
    pub fcw: T,
    pub fcb: T,
    pub fcprojw: T,
    pub fcprojb: T,
    pub lnfw: T,
    pub lnfb: T,
    /// Output projection `[vocab, width]`; empty when embeddings are tied (the head is `wte`).
    pub head: T,
}

impl<T> Params<T> {
    fn from_iter(mut it: impl Iterator<Item = T>) -> Option<Self> {
        Some(Self {
            wte: it.next()?,
            wpe: it.next()?,
            ln1w: it.next()?,
            ln1b: it.next()?,
            qkvw: it.next()?,
            qkvb: it.next()?,
            attprojw: it.next()?,
            attprojb: it.next()?,
            ln2w: it.next()?,
            ln2b: it.next()?,
            fcw: it.next()?,
            fcb: it.next()?,
            fcprojw: it.next()?,
            fcprojb: it.next()?,
            lnfw: it.next()?,
            lnfb: it.next()?,
            head: it.next()?,
        })
    }
}

/// Element counts of every tensor, in buffer order.
pub(crate) fn sizes(c: &GptConfig) -> [usize; 17] {
    let (v, t, l, w) = (c.vocab_size, c.context, c.layers, c.width);
    let head = if c.tied_embeddings { 0 } else { v * w };
    [
        v * w,
        t * w,
        l * w,
        l * w,
        l * 3 * w * w,
        l * 3 * w,
        l * w * w,
        l * w,
        l * w,
        l * w,
        l * 4 * w * w,
        l * 4 * w,
        l * 4 * w * w,
        l * w,
        w,
        w,
        head,
    ]
}

/// Total parameter count.
pub(crate) fn count(c: &GptConfig) -> usize {
    sizes(c).iter().sum()
}

/// Named read-only views of a flat buffer.
pub(crate) fn split<'a>(c: &GptConfig, mut buf: &'a [f32]) -> Params<&'a [f32]> {
    let parts = sizes(c).map(|n| {
        let (a, rest) = buf.split_at(n);
        buf = rest;
        a
    });
    Params::from_iter(parts.into_iter()).unwrap_or_else(|| unreachable!("sizes has 17 entries"))
}

/// Named mutable views of a flat buffer.
pub(crate) fn split_mut<'a>(c: &GptConfig, mut buf: &'a mut [f32]) -> Params<&'a mut [f32]> {
    let parts = sizes(c).map(|n| {
        let (a, rest) = std::mem::take(&mut buf).split_at_mut(n);
        buf = rest;
        a
    });
    Params::from_iter(parts.into_iter()).unwrap_or_else(|| unreachable!("sizes has 17 entries"))
}

/// Layer `l` of a tensor stacked over layers.
pub(crate) fn layer(s: &[f32], l: usize, layers: usize) -> &[f32] {
    let n = s.len() / layers;
    &s[l * n..(l + 1) * n]
}

/// Layer `l` of a tensor stacked over layers, mutable.
pub(crate) fn layer_mut(s: &mut [f32], l: usize, layers: usize) -> &mut [f32] {
    let n = s.len() / layers;
    &mut s[l * n..(l + 1) * n]
}
