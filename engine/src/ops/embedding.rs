//! Embedding lookup (token + position, for the GPT) and embedding bag with mean (for the
//! fastText-style classifier), forward and backward.

/// `out[i, :] = table[ids[i], :]` for `ids.len()` rows of width `c`. Ids must be in range.
pub fn embedding_forward(out: &mut [f32], ids: &[u32], table: &[f32], c: usize) {
    for (o, &id) in out.chunks_exact_mut(c).zip(ids) {
        o.copy_from_slice(&table[id as usize * c..][..c]);
    }
}

/// Gradient of [`embedding_forward`]: `dtable[ids[i], :] += dout[i, :]`.
pub fn embedding_backward(dtable: &mut [f32], dout: &[f32], ids: &[u32], c: usize) {
    for (d, &id) in dout.chunks_exact(c).zip(ids) {
        for (t, g) in dtable[id as usize * c..][..c].iter_mut().zip(d) {
            *t += g;
        }
    }
}

/// Mean of the table rows of each bag: bag `j` holds `ids[offsets[j]..offsets[j + 1]]`
/// (`offsets.len()` is bags + 1). An empty bag gives a zero row.
pub fn embedding_bag_mean_forward(
    out: &mut [f32],
    ids: &[u32],
    offsets: &[usize],
    table: &[f32],
    c: usize,
) {
    for (j, o) in out.chunks_exact_mut(c).enumerate().take(offsets.len().saturating_sub(1)) {
        o.fill(0.0);
        let bag = &ids[offsets[j]..offsets[j + 1]];
        for &id in bag {
            for (o, t) in o.iter_mut().zip(&table[id as usize * c..][..c]) {
                *o += t;
            }
        }
        if !bag.is_empty() {
            let inv = 1.0 / bag.len() as f32;
            o.iter_mut().for_each(|o| *o *= inv);
        }
    }
}

/// Gradient of [`embedding_bag_mean_forward`]: each id of bag `j` gets `dout[j] / len(bag)`.
pub fn embedding_bag_mean_backward(
    dtable: &mut [f32],
    dout: &[f32],
    ids: &[u32],
    offsets: &[usize],
    c: usize,
) {
    for (j, d) in dout.chunks_exact(c).enumerate().take(offsets.len().saturating_sub(1)) {
        let bag = &ids[offsets[j]..offsets[j + 1]];
        let inv = 1.0 / bag.len().max(1) as f32;
        for &id in bag {
            for (t, g) in dtable[id as usize * c..][..c].iter_mut().zip(d) {
                *t += g * inv;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::{check_grad, rand_vec};

    #[test]
    fn lookup_and_bag_gradients_match() {
        let (v, c) = (6, 3);
        let table = rand_vec(v * c, 1);
        let ids = [1u32, 4, 4, 0, 5];
        let r = rand_vec(ids.len() * c, 2);
        let f = |t: &[f32]| {
            let mut out = vec![0.0; ids.len() * c];
            embedding_forward(&mut out, &ids, t, c);
            out.iter().zip(&r).map(|(a, b)| (*a as f64) * (*b as f64)).sum::<f64>()
        };
        let mut d = vec![0.0; v * c];
        embedding_backward(&mut d, &r, &ids, c);
        check_grad("embedding", &table, &d, f);

        let offsets = [0usize, 2, 2, 5];
        let rb = rand_vec(3 * c, 3);
        let fb = |t: &[f32]| {
            let mut out = vec![0.0; 3 * c];
            embedding_bag_mean_forward(&mut out, &ids, &offsets, t, c);
            out.iter().zip(&rb).map(|(a, b)| (*a as f64) * (*b as f64)).sum::<f64>()
        };
        let mut out = vec![9.0; 3 * c];
        embedding_bag_mean_forward(&mut out, &ids, &offsets, &table, c);
        assert_eq!(&out[c..2 * c], &[0.0; 3]);
        assert!((out[0] - (table[c] + table[4 * c]) / 2.0).abs() < 1e-6);
        let mut d = vec![0.0; v * c];
        embedding_bag_mean_backward(&mut d, &rb, &ids, &offsets, c);
        check_grad("embedding bag", &table, &d, fb);
    }
}
