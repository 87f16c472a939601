// tokenmill engine: CUDA kernels, compiled at run time with NVRTC (see cuda.rs).
// Layouts and semantics match the CPU reference in src/ops: row-major, backward kernels
// accumulate (+=) into gradients. Matrix products are not here: they go to cuBLAS.
// Elementwise kernels use grid-stride loops, so any grid size is correct.

#define FULL 0xffffffffu
#define GELU_K 0.7978845608f
#define NEG_INF __int_as_float(0xff800000)

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL, v, o));
    return v;
}
// Block-wide reduction with a warp reduction `op` whose identity is `zero` (blockDim.x a multiple
// of 32); every thread gets the result. Each instantiation has its own shared array.
template <float (*op)(float)>
__device__ float block_reduce(float v, float zero) {
    __shared__ float s[32];
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = op(v);
    __syncthreads();
    if (lane == 0) s[w] = v;
    __syncthreads();
    return op(lane < nw ? s[lane] : zero);
}
__device__ float block_sum(float v) { return block_reduce<warp_sum>(v, 0.0f); }
__device__ float block_max(float v) { return block_reduce<warp_max>(v, NEG_INF); }

#define GRID_STRIDE(i, n) for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)

extern "C" __global__ void axpy(float* y, float alpha, const float* x, long long n) {
    GRID_STRIDE(i, n) y[i] += alpha * x[i];
}

extern "C" __global__ void gelu_forward(float* out, const float* x, long long n) {
    GRID_STRIDE(i, n) {
        float v = x[i];
        out[i] = 0.5f * v * (1.0f + tanhf(GELU_K * (v + 0.044715f * v * v * v)));
    }
}

extern "C" __global__ void gelu_backward(float* dx, const float* x, const float* dout, long long n) {
    GRID_STRIDE(i, n) {
        float v = x[i];
        float t = tanhf(GELU_K * (v + 0.044715f * v * v * v));
        float local = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * GELU_K * (1.0f + 3.0f * 0.044715f * v * v);
        dx[i] += local * dout[i];
    }
}

extern "C" __global__ void bias_forward(float* out, const float* bias, long long m, long long n) {
    GRID_STRIDE(i, m * n) out[i] += bias[i % n];
}

// dst[j] += sum of src[r, j] over the rows of this block's row chunk (grid.y chunks of `rows`).
extern "C" __global__ void col_sum_acc(float* dst, const float* src, int m, int n, int rows) {
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= n) return;
    int r0 = blockIdx.y * rows, r1 = min(m, r0 + rows);
    float s = 0.0f;
    for (int r = r0; r < r1; r++) s += src[(long long)r * n + j];
    atomicAdd(&dst[j], s);
}

// One warp per row.
extern "C" __global__ void layernorm_forward(float* out, float* mean, float* rstd, const float* x, const float* w, const float* b,
                                             int m, int c) {
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= m) return;
    const float* xr = x + (long long)row * c;
    float s = 0.0f;
    for (int i = lane; i < c; i += 32) s += xr[i];
    float mu = warp_sum(s) / c;
    float v = 0.0f;
    for (int i = lane; i < c; i += 32) v += (xr[i] - mu) * (xr[i] - mu);
    float rs = rsqrtf(warp_sum(v) / c + 1e-5f);
    float* o = out + (long long)row * c;
    for (int i = lane; i < c; i += 32) o[i] = (xr[i] - mu) * rs * w[i] + b[i];
    if (lane == 0) { mean[row] = mu; rstd[row] = rs; }
}

// One warp per row: dx only.
extern "C" __global__ void layernorm_backward_dx(float* dx, const float* dout, const float* x, const float* w, const float* mean,
                                                 const float* rstd, int m, int c) {
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= m) return;
    long long off = (long long)row * c;
    float mu = mean[row], rs = rstd[row];
    float a = 0.0f, bsum = 0.0f;
    for (int i = lane; i < c; i += 32) {
        float dn = w[i] * dout[off + i];
        a += dn;
        bsum += dn * (x[off + i] - mu) * rs;
    }
    a = warp_sum(a) / c;
    bsum = warp_sum(bsum) / c;
    for (int i = lane; i < c; i += 32) {
        float norm = (x[off + i] - mu) * rs;
        dx[off + i] += (w[i] * dout[off + i] - a - norm * bsum) * rs;
    }
}

// dweight, dbias: column sums over row chunks (grid.y), as col_sum_acc.
extern "C" __global__ void layernorm_backward_params(float* dw, float* db, const float* dout, const float* x, const float* mean,
                                                     const float* rstd, int m, int c, int rows) {
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= c) return;
    int r0 = blockIdx.y * rows, r1 = min(m, r0 + rows);
    float sw = 0.0f, sb = 0.0f;
    for (int r = r0; r < r1; r++) {
        float d = dout[(long long)r * c + j];
        sb += d;
        sw += (x[(long long)r * c + j] - mean[r]) * rstd[r] * d;
    }
    atomicAdd(&dw[j], sw);
    atomicAdd(&db[j], sb);
}

// Position of qkv[b, t, 3c]'s element i in its part (*part: 0 q, 1 k, 2 v), head-major
// [b, nh, t, hs]: element (bt, part, h, d) goes to part[(b, h, t), d].
__device__ __forceinline__ long long qkv_index(long long i, int t, int c, int nh, int* part) {
    int hs = c / nh, within = (int)(i % (3 * c));
    long long bt = i / (3 * c), bi = bt / t, ti = bt % t;
    *part = within / c;
    return ((bi * nh + (within % c) / hs) * t + ti) * hs + within % hs;
}

extern "C" __global__ void split_qkv(float* q, float* k, float* v, const float* qkv, int b, int t, int c, int nh) {
    GRID_STRIDE(i, (long long)b * t * 3 * c) {
        int part;
        long long dst = qkv_index(i, t, c, nh, &part);
        float val = qkv[i];
        if (part == 0) q[dst] = val; else if (part == 1) k[dst] = val; else v[dst] = val;
    }
}

extern "C" __global__ void split_qkv_backward(float* dqkv, const float* dq, const float* dk, const float* dv, int b, int t, int c, int nh) {
    GRID_STRIDE(i, (long long)b * t * 3 * c) {
        int part;
        long long src = qkv_index(i, t, c, nh, &part);
        dqkv[i] += part == 0 ? dq[src] : (part == 1 ? dk[src] : dv[src]);
    }
}

// Position of out[b, t, c]'s element i in head-major y[b, nh, t, hs].
__device__ __forceinline__ long long head_index(long long i, int t, int c, int nh) {
    int hs = c / nh, within = (int)(i % c);
    long long bt = i / c, bi = bt / t, ti = bt % t;
    return ((bi * nh + within / hs) * t + ti) * hs + within % hs;
}

extern "C" __global__ void merge_heads(float* out, const float* y, int b, int t, int c, int nh) {
    GRID_STRIDE(i, (long long)b * t * c) out[i] = y[head_index(i, t, c, nh)];
}

// Overwrites dy (as the CPU reference does).
extern "C" __global__ void merge_heads_backward(float* dy, const float* dout, int b, int t, int c, int nh) {
    GRID_STRIDE(i, (long long)b * t * c) dy[head_index(i, t, c, nh)] = dout[i];
}

// In place over att[rows, t] (rows = bh * t; row r is query position r % t): softmax over the
// first (r % t) + 1 entries (already scaled), zero above the diagonal. One warp per row.
extern "C" __global__ void causal_softmax(float* att, long long rows, int t) {
    long long row = blockIdx.x * (long long)(blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= rows) return;
    int ti = (int)(row % t);
    float* a = att + row * t;
    float mx = NEG_INF;
    for (int j = lane; j <= ti; j += 32) mx = fmaxf(mx, a[j]);
    mx = warp_max(mx);
    float s = 0.0f;
    for (int j = lane; j <= ti; j += 32) {
        float e = expf(a[j] - mx);
        a[j] = e;
        s += e;
    }
    float inv = 1.0f / warp_sum(s);
    for (int j = lane; j < t; j += 32) a[j] = j <= ti ? a[j] * inv : 0.0f;
}

// In place on datt: dpre = att * (datt - sum(att * datt)) * scale. One warp per row.
extern "C" __global__ void causal_softmax_backward(float* datt, const float* att, long long rows, int t, float scale) {
    long long row = blockIdx.x * (long long)(blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= rows) return;
    int ti = (int)(row % t);
    float* d = datt + row * t;
    const float* a = att + row * t;
    float w = 0.0f;
    for (int j = lane; j <= ti; j += 32) w += a[j] * d[j];
    w = warp_sum(w);
    for (int j = lane; j < t; j += 32) d[j] = j <= ti ? a[j] * (d[j] - w) * scale : 0.0f;
}

// Softmax of one row of `v` logits into `p` by the whole block; returns log Z to every thread.
__device__ float softmax_row(float* p, const float* l, int v) {
    float mx = NEG_INF;
    for (int j = threadIdx.x; j < v; j += blockDim.x) mx = fmaxf(mx, l[j]);
    mx = block_max(mx);
    float s = 0.0f;
    for (int j = threadIdx.x; j < v; j += blockDim.x) s += expf(l[j] - mx);
    s = block_sum(s);
    float log_z = mx + logf(s);
    for (int j = threadIdx.x; j < v; j += blockDim.x) p[j] = expf(l[j] - log_z);
    return log_z;
}

// One block per row.
extern "C" __global__ void softmax_forward(float* probs, const float* logits, int v) {
    long long row = blockIdx.x;
    softmax_row(probs + row * v, logits + row * v, v);
}

// One block per row: probabilities and the row's loss.
extern "C" __global__ void softmax_xent_forward(float* probs, float* losses, const float* logits, const unsigned* targets, int v) {
    long long row = blockIdx.x;
    const float* l = logits + row * v;
    float log_z = softmax_row(probs + row * v, l, v);
    if (threadIdx.x == 0) losses[row] = log_z - l[targets[row]];
}

extern "C" __global__ void cross_entropy_backward(float* dlogits, const float* probs, const unsigned* targets, float dloss, long long m,
                                                  int v) {
    GRID_STRIDE(i, m * v) {
        long long row = i / v;
        int j = (int)(i % v);
        dlogits[i] += (probs[i] - (targets[row] == (unsigned)j ? 1.0f : 0.0f)) * dloss;
    }
}

extern "C" __global__ void embedding_forward(float* out, const unsigned* ids, const float* table, long long n, int c) {
    GRID_STRIDE(i, n * c) out[i] = table[(long long)ids[i / c] * c + i % c];
}

extern "C" __global__ void embedding_backward(float* dtable, const float* dout, const unsigned* ids, long long n, int c) {
    GRID_STRIDE(i, n * c) atomicAdd(&dtable[(long long)ids[i / c] * c + i % c], dout[i]);
}

// One warp per bag; lanes stride over the row, so each table row is read coalesced.
extern "C" __global__ void embedding_bag_mean_forward(float* out, const unsigned* ids, const unsigned* offsets, const float* table,
                                                      int bags, int c) {
    int bag = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (bag >= bags) return;
    unsigned s = offsets[bag], e = offsets[bag + 1];
    float inv = e > s ? 1.0f / (float)(e - s) : 0.0f;
    for (int j0 = 0; j0 < c; j0 += 32) {
        int j = j0 + lane;
        float acc = 0.0f;
        if (j < c)
            for (unsigned i = s; i < e; i++) acc += table[(long long)ids[i] * c + j];
        if (j < c) out[(long long)bag * c + j] = acc * inv;
    }
}

extern "C" __global__ void embedding_bag_mean_backward(float* dtable, const float* dout, const unsigned* ids, const unsigned* offsets,
                                                       int bags, int c) {
    int bag = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (bag >= bags) return;
    unsigned s = offsets[bag], e = offsets[bag + 1];
    float inv = 1.0f / (float)max(e - s, 1u);
    for (int j = lane; j < c; j += 32) {
        float g = dout[(long long)bag * c + j] * inv;
        for (unsigned i = s; i < e; i++) atomicAdd(&dtable[(long long)ids[i] * c + j], g);
    }
}

extern "C" __global__ void sum_squares_acc(float* acc, const float* x, long long n) {
    float s = 0.0f;
    GRID_STRIDE(i, n) s += x[i] * x[i];
    s = block_sum(s);
    if (threadIdx.x == 0) atomicAdd(acc, s);
}

extern "C" __global__ void adamw(float* p, const float* g, float* m, float* v, long long n, float lr, float b1, float b2, float eps,
                                 float wd, float bc1, float bc2, float gscale) {
    GRID_STRIDE(i, n) {
        float gi = g[i] * gscale;
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= lr * ((mi / bc1) / (sqrtf(vi / bc2) + eps) + wd * p[i]);
    }
}

// ---- Encoder classifiers (forward only) ----

// out = LayerNorm(x + res) with epsilon `eps`, one warp per row (post-LN encoders).
extern "C" __global__ void add_layernorm(float* out, const float* x, const float* res, const float* w, const float* b, int m, int c,
                                         float eps) {
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= m) return;
    const float* xr = x + (long long)row * c;
    const float* rr = res + (long long)row * c;
    float* o = out + (long long)row * c;
    float s = 0.0f;
    for (int i = lane; i < c; i += 32) s += xr[i] + rr[i];
    float mu = warp_sum(s) / c;
    float v = 0.0f;
    for (int i = lane; i < c; i += 32) {
        float d = xr[i] + rr[i] - mu;
        v += d * d;
    }
    float rs = 1.0f / sqrtf(warp_sum(v) / c + eps);
    for (int i = lane; i < c; i += 32) o[i] = (xr[i] + rr[i] - mu) * rs * w[i] + b[i];
}

// out = f(x); f as ops::encoder::Pointwise: 0 erf GELU, 1 tanh GELU, 2 ReLU, 3 tanh.
extern "C" __global__ void pointwise(float* out, const float* x, long long n, int f) {
    GRID_STRIDE(i, n) {
        float v = x[i], r;
        if (f == 0) r = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
        else if (f == 1) r = 0.5f * v * (1.0f + tanhf(GELU_K * (v + 0.044715f * v * v * v)));
        else if (f == 2) r = fmaxf(v, 0.0f);
        else r = tanhf(v);
        out[i] = r;
    }
}

// Bidirectional attention over packed sequences: qkv[tokens, 3c] holds each row's query, key and
// value (heads of hs = c / nh side by side); sequence s is rows offsets[s]..offsets[s + 1].
// One block per (query r, head h): query row qrows[r] attends to every row of sequence qseqs[r].
// att[queries * nh, tmax] holds the block's scores; ctx[queries, c].
// fp32 bits to fp16 bits, rounding to nearest even: beyond the largest finite value (65504, after
// rounding) to infinity, below 2^-14 to a subnormal, below half the smallest subnormal (2^-25) to
// zero; NaN stays a quiet NaN with the payload's top bits. Integer operations only, so that the
// same code compiles under NVRTC without headers and under the emulator's C++ compiler; bit for
// bit the `half` crate's conversion (tests/cuda.rs).
__device__ __forceinline__ unsigned short f32_to_f16(unsigned x) {
    unsigned sign = (x >> 16) & 0x8000u, exp = (x >> 23) & 0xffu, man = x & 0x7fffffu;
    if (exp == 0xffu) return (unsigned short)(sign | 0x7c00u | (man ? 0x200u : 0u) | (man >> 13));
    int e = (int)exp - 127 + 15;
    if (e >= 0x1f) return (unsigned short)(sign | 0x7c00u);
    if (e <= 0) {
        if (14 - e > 24) return (unsigned short)sign;
        man |= 0x800000u;  // the implicit leading bit
        unsigned h = man >> (14 - e), round = 1u << (13 - e);
        // Round up past a half, or at exactly a half when the kept part is odd.
        if ((man & round) && (man & (3u * round - 1u))) h++;
        return (unsigned short)(sign | h);
    }
    unsigned h = sign | ((unsigned)e << 10) | (man >> 13);
    if ((man & 0x1000u) && (man & 0x2fffu)) h++;  // a carry into the exponent is right, up to inf
    return (unsigned short)h;
}

// fp32 bits to bf16 bits (the upper half), rounding to nearest even; NaN stays a quiet NaN.
__device__ __forceinline__ unsigned short f32_to_bf16(unsigned x) {
    if ((x & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((x >> 16) | 0x40u);
    unsigned h = x >> 16;
    if ((x & 0x8000u) && (x & 0x17fffu)) h++;
    return (unsigned short)h;
}

// out[i] = x[i] rounded to fp16 (format 0) or bf16 (format 1), as bit patterns: the activations
// of the half-precision products (cuBLAS reads them as CUDA_R_16F / CUDA_R_16BF).
extern "C" __global__ void to_half(unsigned short* out, const float* x, long long n, int format) {
    GRID_STRIDE(i, n) {
        unsigned bits = __float_as_uint(x[i]);
        out[i] = format == 0 ? f32_to_f16(bits) : f32_to_bf16(bits);
    }
}

extern "C" __global__ void packed_attention(float* ctx, float* att, const float* qkv, const unsigned* offsets, const unsigned* qrows,
                                            const unsigned* qseqs, int c, int nh, int tmax, float scale) {
    int r = blockIdx.x, h = blockIdx.y, hs = c / nh;
    long long c3 = 3LL * c;
    unsigned s = qseqs[r], start = offsets[s];
    int t = min((int)(offsets[s + 1] - start), tmax);
    const float* q = qkv + (long long)qrows[r] * c3 + h * hs;
    const float* kb = qkv + (long long)start * c3 + c + h * hs;
    const float* vb = kb + c;
    float* p = att + ((long long)r * nh + h) * tmax;
    float mx = NEG_INF;
    for (int j = threadIdx.x; j < t; j += blockDim.x) {
        const float* k = kb + j * c3;
        float d = 0.0f;
        for (int i = 0; i < hs; i++) d += q[i] * k[i];
        d *= scale;
        p[j] = d;
        mx = fmaxf(mx, d);
    }
    mx = block_max(mx);
    float sum = 0.0f;
    for (int j = threadIdx.x; j < t; j += blockDim.x) {
        float e = expf(p[j] - mx);
        p[j] = e;
        sum += e;
    }
    float inv = 1.0f / block_sum(sum);
    __syncthreads();
    for (int i = threadIdx.x; i < hs; i += blockDim.x) {
        float acc = 0.0f;
        for (int j = 0; j < t; j++) acc += p[j] * vb[j * c3 + i];
        ctx[(long long)r * c + h * hs + i] = acc * inv;
    }
}
