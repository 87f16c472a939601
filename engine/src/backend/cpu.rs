//! The CPU backend: `Vec` buffers and the rayon kernels of [`crate::ops`] (the reference).

use rayon::prelude::*;

use super::{AdamWStep, Backend, HalfBuf, PackedShape, Pointwise};
use crate::error::Result;
use crate::ops::encoder::Packed;
use crate::ops::{activation, attention, embedding, encoder, loss, matmul, norm};
use crate::precision::HalfFormat;

/// The reference backend: buffers are `Vec`s, every operation delegates to [`crate::ops`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuBackend;

impl Backend for CpuBackend {
    type Buf = Vec<f32>;
    type Ids = Vec<u32>;
    type Half = HalfBuf<Vec<u16>>;

    fn device(&self) -> crate::Device {
        crate::Device::Cpu
    }
    fn zeros(&self, n: usize) -> Result<Vec<f32>> {
        Ok(vec![0.0; n])
    }
    fn upload(&self, data: &[f32]) -> Result<Vec<f32>> {
        Ok(data.to_vec())
    }
    fn upload_ids(&self, ids: &[u32]) -> Result<Vec<u32>> {
        Ok(ids.to_vec())
    }
    fn write_ids(&self, dst: &mut Vec<u32>, ids: &[u32]) -> Result<()> {
        dst.clear();
        dst.extend_from_slice(ids);
        Ok(())
    }
    fn download(&self, buf: &Vec<f32>) -> Result<Vec<f32>> {
        Ok(buf.clone())
    }
    fn len(&self, buf: &Vec<f32>) -> usize {
        buf.len()
    }
    fn fill_zero(&self, buf: &mut Vec<f32>) -> Result<()> {
        buf.fill(0.0);
        Ok(())
    }
    fn synchronize(&self) -> Result<()> {
        Ok(())
    }
    fn upload_half(&self, data: &[f32], format: HalfFormat) -> Result<Self::Half> {
        Ok(HalfBuf { bits: data.iter().map(|&x| format.to_bits(x)).collect(), format })
    }
    fn round_half(&self, x: &Vec<f32>, n: usize, format: HalfFormat) -> Result<Self::Half> {
        self.upload_half(&x[..n], format)
    }
    fn download_half(&self, buf: &Self::Half) -> Result<Vec<u16>> {
        Ok(buf.bits.clone())
    }

    fn matmul_bt(
        &self,
        out: &mut Vec<f32>,
        a: &Vec<f32>,
        b: &Vec<f32>,
        m: usize,
        k: usize,
        n: usize,
    ) -> Result<()> {
        matmul::matmul_bt(out, a, b, m, k, n);
        Ok(())
    }
    fn matmul_bt_half(
        &self,
        out: &mut Vec<f32>,
        a: &Vec<f32>,
        b: &Self::Half,
        m: usize,
        k: usize,
        n: usize,
    ) -> Result<()> {
        // The exact values of the rounded inputs, multiplied and summed in f32.
        let f = b.format;
        let a: Vec<f32> = a[..m * k].iter().map(|&x| f.round(x)).collect();
        let b: Vec<f32> = b.bits[..n * k].iter().map(|&h| f.to_f32(h)).collect();
        matmul::matmul_bt(out, &a, &b, m, k, n);
        Ok(())
    }
    fn matmul_acc(
        &self,
        out: &mut Vec<f32>,
        a: &Vec<f32>,
        b: &Vec<f32>,
        m: usize,
        k: usize,
        n: usize,
    ) -> Result<()> {
        matmul::matmul_acc(out, a, b, m, k, n);
        Ok(())
    }
    fn matmul_at_acc(
        &self,
        out: &mut Vec<f32>,
        a: &Vec<f32>,
        b: &Vec<f32>,
        m: usize,
        k: usize,
        n: usize,
    ) -> Result<()> {
        matmul::matmul_at_acc(out, a, b, m, k, n);
        Ok(())
    }
    fn bias_forward(&self, out: &mut Vec<f32>, bias: &Vec<f32>, m: usize, n: usize) -> Result<()> {
        matmul::bias_forward(out, &bias[..n], m, n);
        Ok(())
    }
    fn bias_backward(
        &self,
        dbias: &mut Vec<f32>,
        dout: &Vec<f32>,
        m: usize,
        n: usize,
    ) -> Result<()> {
        matmul::bias_backward(&mut dbias[..n], dout, m, n);
        Ok(())
    }
    fn axpy(&self, y: &mut Vec<f32>, alpha: f32, x: &Vec<f32>, n: usize) -> Result<()> {
        matmul::axpy(&mut y[..n], alpha, &x[..n]);
        Ok(())
    }

    fn gelu_forward(&self, out: &mut Vec<f32>, x: &Vec<f32>, n: usize) -> Result<()> {
        activation::gelu_forward(&mut out[..n], &x[..n]);
        Ok(())
    }
    fn gelu_backward(
        &self,
        dx: &mut Vec<f32>,
        x: &Vec<f32>,
        dout: &Vec<f32>,
        n: usize,
    ) -> Result<()> {
        activation::gelu_backward(&mut dx[..n], &x[..n], &dout[..n]);
        Ok(())
    }

    fn layernorm_forward(
        &self,
        out: &mut Vec<f32>,
        mean: &mut Vec<f32>,
        rstd: &mut Vec<f32>,
        x: &Vec<f32>,
        weight: &Vec<f32>,
        bias: &Vec<f32>,
        m: usize,
        c: usize,
    ) -> Result<()> {
        norm::layernorm_forward(out, mean, rstd, x, weight, bias, m, c);
        Ok(())
    }
    fn layernorm_backward(
        &self,
        dx: &mut Vec<f32>,
        dweight: &mut Vec<f32>,
        dbias: &mut Vec<f32>,
        dout: &Vec<f32>,
        x: &Vec<f32>,
        weight: &Vec<f32>,
        mean: &Vec<f32>,
        rstd: &Vec<f32>,
        m: usize,
        c: usize,
    ) -> Result<()> {
        norm::layernorm_backward(dx, dweight, dbias, dout, x, weight, mean, rstd, m, c);
        Ok(())
    }

    fn split_qkv(
        &self,
        q: &mut Vec<f32>,
        k: &mut Vec<f32>,
        v: &mut Vec<f32>,
        qkv: &Vec<f32>,
        b: usize,
        t: usize,
        c: usize,
        nh: usize,
    ) -> Result<()> {
        attention::split_qkv(q, k, v, qkv, b, t, c, nh);
        Ok(())
    }
    fn split_qkv_backward(
        &self,
        dqkv: &mut Vec<f32>,
        dq: &Vec<f32>,
        dk: &Vec<f32>,
        dv: &Vec<f32>,
        b: usize,
        t: usize,
        c: usize,
        nh: usize,
    ) -> Result<()> {
        attention::split_qkv_backward(dqkv, dq, dk, dv, b, t, c, nh);
        Ok(())
    }
    fn merge_heads(
        &self,
        out: &mut Vec<f32>,
        y: &Vec<f32>,
        b: usize,
        t: usize,
        c: usize,
        nh: usize,
    ) -> Result<()> {
        attention::merge_heads(out, y, b, t, c, nh);
        Ok(())
    }
    fn merge_heads_backward(
        &self,
        dy: &mut Vec<f32>,
        dout: &Vec<f32>,
        b: usize,
        t: usize,
        c: usize,
        nh: usize,
    ) -> Result<()> {
        attention::merge_heads_backward(dy, dout, b, t, c, nh);
        Ok(())
    }
    fn attention_forward(
        &self,
        y: &mut Vec<f32>,
        att: &mut Vec<f32>,
        q: &Vec<f32>,
        k: &Vec<f32>,
        v: &Vec<f32>,
        bh: usize,
        t: usize,
        hs: usize,
    ) -> Result<()> {
        attention::attention_forward(y, att, q, k, v, bh, t, hs);
        Ok(())
    }
    fn attention_backward(
        &self,
        dq: &mut Vec<f32>,
        dk: &mut Vec<f32>,
        dv: &mut Vec<f32>,
        dy: &Vec<f32>,
        att: &Vec<f32>,
        q: &Vec<f32>,
        k: &Vec<f32>,
        v: &Vec<f32>,
        bh: usize,
        t: usize,
        hs: usize,
    ) -> Result<()> {
        attention::attention_backward(dq, dk, dv, dy, att, q, k, v, bh, t, hs);
        Ok(())
    }

    fn softmax(&self, probs: &mut Vec<f32>, logits: &Vec<f32>, m: usize, v: usize) -> Result<()> {
        loss::softmax(probs, logits, m, v);
        Ok(())
    }
    fn cross_entropy_forward(
        &self,
        probs: &mut Vec<f32>,
        losses: &mut Vec<f32>,
        logits: &Vec<f32>,
        targets: &Vec<u32>,
        m: usize,
        v: usize,
    ) -> Result<()> {
        loss::cross_entropy_forward(probs, losses, logits, targets, m, v);
        Ok(())
    }
    fn cross_entropy_backward(
        &self,
        dlogits: &mut Vec<f32>,
        probs: &Vec<f32>,
        targets: &Vec<u32>,
        dloss: f32,
        m: usize,
        v: usize,
    ) -> Result<()> {
        loss::cross_entropy_backward(dlogits, probs, targets, &vec![dloss; m], m, v);
        Ok(())
    }

    fn embedding_forward(
        &self,
        out: &mut Vec<f32>,
        ids: &Vec<u32>,
        table: &Vec<f32>,
        n: usize,
        c: usize,
    ) -> Result<()> {
        embedding::embedding_forward(&mut out[..n * c], &ids[..n], table, c);
        Ok(())
    }
    fn embedding_backward(
        &self,
        dtable: &mut Vec<f32>,
        dout: &Vec<f32>,
        ids: &Vec<u32>,
        n: usize,
        c: usize,
    ) -> Result<()> {
        embedding::embedding_backward(dtable, &dout[..n * c], &ids[..n], c);
        Ok(())
    }
    fn embedding_bag_mean_forward(
        &self,
        out: &mut Vec<f32>,
        ids: &Vec<u32>,
        offsets: &Vec<u32>,
        table: &Vec<f32>,
        bags: usize,
        c: usize,
    ) -> Result<()> {
        let offsets: Vec<usize> = offsets[..=bags].iter().map(|&o| o as usize).collect();
        embedding::embedding_bag_mean_forward(out, ids, &offsets, table, c);
        Ok(())
    }
    fn embedding_bag_mean_backward(
        &self,
        dtable: &mut Vec<f32>,
        dout: &Vec<f32>,
        ids: &Vec<u32>,
        offsets: &Vec<u32>,
        bags: usize,
        c: usize,
    ) -> Result<()> {
        let offsets: Vec<usize> = offsets[..=bags].iter().map(|&o| o as usize).collect();
        embedding::embedding_bag_mean_backward(dtable, dout, ids, &offsets, c);
        Ok(())
    }

    fn sum_squares_acc(&self, acc: &mut Vec<f32>, x: &Vec<f32>) -> Result<()> {
        let s: f64 = x.par_iter().map(|&g| (g as f64) * (g as f64)).sum();
        acc[0] += s as f32;
        Ok(())
    }
    fn adamw_step(
        &self,
        params: &mut Vec<f32>,
        grads: &Vec<f32>,
        m: &mut Vec<f32>,
        v: &mut Vec<f32>,
        step: &AdamWStep,
    ) -> Result<()> {
        let c = step.config;
        let (bc1, bc2) = (1.0 - c.beta1.powi(step.t as i32), 1.0 - c.beta2.powi(step.t as i32));
        let s = step.grad_scale;
        params
            .par_chunks_mut(4096)
            .zip(grads.par_chunks(4096))
            .zip(m.par_chunks_mut(4096).zip(v.par_chunks_mut(4096)))
            .for_each(|((p, g), (m, v))| {
                for i in 0..p.len() {
                    crate::optim::update(&mut p[i], g[i] * s, &mut m[i], &mut v[i], &c, bc1, bc2);
                }
            });
        Ok(())
    }

    fn add_layernorm_forward(
        &self,
        out: &mut Vec<f32>,
        x: &Vec<f32>,
        residual: &Vec<f32>,
        weight: &Vec<f32>,
        bias: &Vec<f32>,
        m: usize,
        c: usize,
        eps: f32,
    ) -> Result<()> {
        let (x, r) = (&x[..m * c], &residual[..m * c]);
        encoder::add_layernorm_forward(&mut out[..m * c], x, r, weight, bias, c, eps);
        Ok(())
    }
    fn pointwise_forward(
        &self,
        out: &mut Vec<f32>,
        x: &Vec<f32>,
        n: usize,
        f: Pointwise,
    ) -> Result<()> {
        encoder::pointwise_forward(&mut out[..n], &x[..n], f);
        Ok(())
    }
    fn packed_attention_forward(
        &self,
        ctx: &mut Vec<f32>,
        _att: &mut Vec<f32>,
        qkv: &Vec<f32>,
        offsets: &Vec<u32>,
        query_rows: &Vec<u32>,
        query_seqs: &Vec<u32>,
        shape: PackedShape,
    ) -> Result<()> {
        let layout = Packed {
            offsets: &offsets[..=shape.sequences],
            query_rows: &query_rows[..shape.queries],
            query_seqs: &query_seqs[..shape.queries],
            c: shape.c,
            heads: shape.heads,
        };
        encoder::packed_attention_forward(ctx, &qkv[..shape.tokens * 3 * shape.c], &layout);
        Ok(())
    }
}
