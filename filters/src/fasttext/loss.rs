//! How a supervised model turns its hidden vector into label probabilities, as fastText 0.9's
//! `Loss::predict` does for each loss: softmax, hierarchical softmax (a best-first walk of the
//! label tree) and one-vs-all (a sigmoid per label; negative-sampling models predict the same
//! way).
//!
//! Ties matter: two labels can have the same probability (one-vs-all reads sigmoids from a
//! 512-entry table, so equal values are common), and which one fastText reports first depends
//! on its heap. The k best are therefore kept in a heap that moves elements exactly as
//! libstdc++'s `push_heap`, `pop_heap` and `sort_heap` do, under fastText's `comparePairs`.

use super::matrix::Matrix;

/// fastText's `loss_name` codes as stored in a model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// `hs` (1): hierarchical softmax over a Huffman tree of the labels.
    HierarchicalSoftmax,
    /// `ns` (2): negative sampling; predicts like one-vs-all.
    NegativeSampling,
    /// `softmax` (3).
    Softmax,
    /// `ova` (4): one independent sigmoid per label (multi-label models).
    OneVsAll,
}

impl Loss {
    /// The loss of a model file's `loss` code.
    pub(super) fn from_code(code: i32) -> Option<Self> {
        Some(match code {
            1 => Self::HierarchicalSoftmax,
            2 => Self::NegativeSampling,
            3 => Self::Softmax,
            4 => Self::OneVsAll,
            _ => return None,
        })
    }
}

/// A (log-probability, label or tree node) pair.
type Scored = (f32, usize);

/// fastText's `comparePairs` as the heap's "less than": the heap's top is the lowest score.
fn less(a: &Scored, b: &Scored) -> bool {
    a.0 > b.0
}

/// `std::log(x + 1e-5)` in double precision, stored as a `float`, as fastText's `std_log`.
pub(super) fn std_log(x: f32) -> f32 {
    (f64::from(x) + 1e-5).ln() as f32
}

/// libstdc++'s `__push_heap`: moves `value` up from `hole` towards `top`.
fn sift_up(h: &mut [Scored], mut hole: usize, top: usize, value: Scored) {
    while hole > top {
        let parent = (hole - 1) / 2;
        if !less(&h[parent], &value) {
            break;
        }
        h[hole] = h[parent];
        hole = parent;
    }
    h[hole] = value;
}

/// libstdc++'s `__adjust_heap` from the root of `h` (its length is the heap's).
fn adjust_from_root(h: &mut [Scored], value: Scored) {
    let len = h.len();
    let (mut hole, mut child) = (0, 0);
    while child < len.saturating_sub(1) / 2 {
        child = 2 * (child + 1);
        if less(&h[child], &h[child - 1]) {
            child -= 1;
        }
        h[hole] = h[child];
        hole = child;
    }
    if len.is_multiple_of(2) && len >= 2 && child == (len - 2) / 2 {
        child = 2 * (child + 1);
        h[hole] = h[child - 1];
        hole = child - 1;
    }
    sift_up(h, hole, 0, value);
}

/// `std::push_heap` of the last element.
fn push_heap(h: &mut [Scored]) {
    let last = h.len() - 1;
    sift_up(h, last, 0, h[last]);
}

/// `std::pop_heap`: the top moves to the end.
fn pop_heap(h: &mut [Scored]) {
    if h.len() > 1 {
        let last = h.len() - 1;
        let value = h[last];
        h[last] = h[0];
        adjust_from_root(&mut h[..last], value);
    }
}

/// `std::sort_heap`: best score first.
pub(super) fn sort_heap(h: &mut [Scored]) {
    for last in (1..h.len()).rev() {
        let value = h[last];
        h[last] = h[0];
        adjust_from_root(&mut h[..last], value);
    }
}

/// Adds a candidate to the heap of the `k` best, dropping the worst when there are more.
fn offer(heap: &mut Vec<Scored>, k: usize, item: Scored) {
    heap.push(item);
    push_heap(heap);
    if heap.len() > k {
        pop_heap(heap);
        heap.pop();
    }
}

/// fastText's `findKBest` over label probabilities.
pub(super) fn find_k_best(k: usize, threshold: f32, output: &[f32], heap: &mut Vec<Scored>) {
    for (i, &p) in output.iter().enumerate() {
        if p < threshold {
            continue;
        }
        let score = std_log(p);
        if heap.len() == k && score < heap[0].0 {
            continue;
        }
        offer(heap, k, (score, i));
    }
}

/// Softmax of `output` in place, in fastText's order of operations.
pub(super) fn softmax(output: &mut [f32]) {
    let Some(&first) = output.first() else { return };
    let max = output.iter().copied().fold(first, f32::max);
    let mut z = 0f32;
    for o in output.iter_mut() {
        *o = f64::from(*o - max).exp() as f32;
        z += *o;
    }
    output.iter_mut().for_each(|o| *o /= z);
}

const SIGMOID_TABLE_SIZE: usize = 512;
const MAX_SIGMOID: f32 = 8.0;

/// fastText's sigmoid lookup table (513 entries over `-8..=8`), used by one-vs-all prediction.
pub(super) fn sigmoid_table() -> Vec<f32> {
    (0..=SIGMOID_TABLE_SIZE)
        .map(|i| {
            let x = (i * 2 * MAX_SIGMOID as usize) as f32 / SIGMOID_TABLE_SIZE as f32 - MAX_SIGMOID;
            (1.0 / (1.0 + f64::from((-x).exp()))) as f32
        })
        .collect()
}

/// fastText's table sigmoid.
pub(super) fn sigmoid(table: &[f32], x: f32) -> f32 {
    if x < -MAX_SIGMOID {
        0.0
    } else if x > MAX_SIGMOID {
        1.0
    } else {
        let i = ((x + MAX_SIGMOID) * SIGMOID_TABLE_SIZE as f32 / MAX_SIGMOID / 2.0) as usize;
        table[i.min(SIGMOID_TABLE_SIZE)]
    }
}

/// The hierarchical-softmax search: the tree (children of internal node `osz + i` at `i`), the
/// output matrix, the hidden vector, and what to keep.
pub(super) struct TreeSearch<'a> {
    pub(super) tree: &'a [(usize, usize)],
    pub(super) output: &'a Matrix,
    pub(super) hidden: &'a [f32],
    pub(super) osz: usize,
    pub(super) k: usize,
    /// `std_log(threshold)`.
    pub(super) min_score: f32,
}

impl TreeSearch<'_> {
    /// fastText's `HierarchicalSoftmaxLoss::dfs`: a branch is left once its score is below the
    /// threshold or the worst of `k` leaves found.
    pub(super) fn dfs(&self, node: usize, score: f32, heap: &mut Vec<Scored>) {
        if score < self.min_score || (heap.len() == self.k && score < heap[0].0) {
            return;
        }
        if node < self.osz {
            offer(heap, self.k, (score, node));
            return;
        }
        let Some(&(left, right)) = self.tree.get(node - self.osz) else { return };
        let f = self.output.dot_row(self.hidden, node - self.osz);
        let f = (1.0 / f64::from(1.0 + (-f).exp())) as f32;
        self.dfs(left, score + std_log((1.0 - f64::from(f)) as f32), heap);
        self.dfs(right, score + std_log(f), heap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_keeps_the_k_best_best_first() {
        let out = [0.1, 0.5, 0.05, 0.3, 0.05];
        let mut heap = Vec::new();
        find_k_best(3, 0.0, &out, &mut heap);
        sort_heap(&mut heap);
        let order: Vec<usize> = heap.iter().map(|&(_, i)| i).collect();
        assert_eq!(order, [1, 3, 0]);
        let mut heap = Vec::new();
        find_k_best(10, 0.2, &out, &mut heap);
        sort_heap(&mut heap);
        assert_eq!(heap.iter().map(|&(_, i)| i).collect::<Vec<_>>(), [1, 3]);
    }

    /// The order of the k best under ties, as fastText's heap code gives it compiled with
    /// g++ 12 / libstdc++ (the expected lists are that program's output).
    #[test]
    fn ties_resolve_as_libstdcxx() {
        let cases: [(usize, &[f32], &[usize]); 6] = [
            // k = 1: a later equal label replaces the top (pop_heap removes the old one).
            (1, &[0.25; 4], &[3]),
            (4, &[0.25; 4], &[3, 1, 2, 0]),
            (3, &[0.1, 0.5, 0.05, 0.3, 0.05], &[1, 3, 0]),
            (7, &[0.2, 0.1, 0.2, 0.2, 0.1, 0.2, 0.3, 0.2, 0.1], &[6, 3, 0, 7, 5, 2, 8]),
            (3, &[0.2, 0.1, 0.2, 0.2, 0.1, 0.2, 0.3, 0.2, 0.1], &[6, 7, 0]),
            (9, &[0.5; 9], &[3, 1, 4, 7, 5, 8, 6, 2, 0]),
        ];
        for (k, out, want) in cases {
            let mut heap = Vec::new();
            find_k_best(k, 0.0, out, &mut heap);
            sort_heap(&mut heap);
            assert_eq!(heap.iter().map(|&(_, i)| i).collect::<Vec<_>>(), want, "k {k} {out:?}");
        }
    }

    #[test]
    fn sigmoid_table_matches_the_function_at_its_points() {
        let t = sigmoid_table();
        assert_eq!(t.len(), 513);
        assert!((t[256] - 0.5).abs() < 1e-7);
        assert_eq!(sigmoid(&t, -9.0), 0.0);
        assert_eq!(sigmoid(&t, 9.0), 1.0);
        assert_eq!(sigmoid(&t, 8.0), t[512]);
        // Quantized: values within one step of the table share an entry.
        assert_eq!(sigmoid(&t, 0.001), sigmoid(&t, 0.02));
    }
}
