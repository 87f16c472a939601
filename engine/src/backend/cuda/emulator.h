// tokenmill engine: what kernels.cu needs of CUDA, on the CPU, so that the same source runs
// without a GPU (see emulator.rs). A block's CUDA threads are fibers (ucontext) taking turns on
// one OS thread, each running until it finishes or reaches a barrier; __syncthreads releases when
// every live thread of the block has reached it, a warp shuffle's barrier when every live lane of
// the warp has. Threads take turns in index order in one launch and in reverse in the next, so a
// missing barrier shows in one of them. A schedule in which nothing can run (threads of one warp
// at different barriers, or at one that others never reach), a __syncthreads reached after some
// threads exited, or a shuffle that reads an exited lane fails the launch with a message: each
// would hang or misbehave on a GPU. Blocks run one after another, in order.
//
// Not emulated: concurrency between blocks (they run in turn) and fresh shared memory per block
// (a `__shared__` array is a static, so a block sees what the previous one left, where a GPU
// gives it garbage).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include <functional>
#include <mutex>
#include <vector>

struct uint3 {
    unsigned x, y, z;
};
typedef uint3 dim3;

namespace emu {

enum State { RUNNABLE, AT_SYNCTHREADS, AT_SHUFFLE, DONE };

// The fibers of the block being run, on this OS thread.
struct Block {
    std::vector<ucontext_t> contexts;
    std::vector<State> states;
    std::vector<std::vector<char>> stacks;
    std::vector<float> shuffled;  // each thread's value in the current shuffle
    ucontext_t scheduler;
    const std::function<void(unsigned)>* body = nullptr;
    unsigned threads = 0, current = 0;
    const char* error = nullptr;  // why the launch failed
};

thread_local Block* block = nullptr;

// Fails the launch from inside a CUDA thread: the scheduler abandons the block.
[[noreturn]] inline void fail(const char* what) {
    Block* b = block;
    b->error = what;
    swapcontext(&b->contexts[b->current], &b->scheduler);
    abort();  // never resumed
}

inline void fiber_main() {
    Block* b = block;
    unsigned t = b->current;
    (*b->body)(t);
    b->states[t] = DONE;
    swapcontext(&b->contexts[t], &b->scheduler);
}

// Parks the running thread in `state` until the scheduler releases it.
inline void park(State state) {
    Block* b = block;
    unsigned t = b->current;
    b->states[t] = state;
    swapcontext(&b->contexts[t], &b->scheduler);
}

}  // namespace emu

thread_local uint3 threadIdx, blockIdx;
thread_local dim3 blockDim, gridDim;

#define __global__
#define __device__
#define __forceinline__ inline
// One block runs at a time, so a function's static array is its block's shared memory.
#define __shared__ static

inline void __syncthreads() { emu::park(emu::AT_SYNCTHREADS); }

inline float __shfl_xor_sync(unsigned mask, float v, int offset) {
    if (mask != 0xffffffffu) emu::fail("only full-warp shuffles are emulated");
    emu::Block* b = emu::block;
    unsigned t = b->current, src = (t & ~31u) | ((t & 31u) ^ (unsigned)offset);
    if (src >= b->threads) emu::fail("__shfl_xor_sync reads a lane beyond the block");
    b->shuffled[t] = v;
    emu::park(emu::AT_SHUFFLE);  // every live lane has written
    if (b->states[src] == emu::DONE) emu::fail("__shfl_xor_sync reads a lane that has exited");
    float r = b->shuffled[src];
    emu::park(emu::AT_SHUFFLE);  // every live lane has read
    return r;
}

inline float atomicAdd(float* address, float v) {
    unsigned* bits = reinterpret_cast<unsigned*>(address);
    unsigned old = __atomic_load_n(bits, __ATOMIC_RELAXED), next;
    float was;
    do {
        memcpy(&was, &old, 4);
        float sum = was + v;
        memcpy(&next, &sum, 4);
    } while (!__atomic_compare_exchange_n(bits, &old, next, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    return was;
}

inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __int_as_float(unsigned bits) {
    float f;
    memcpy(&f, &bits, 4);
    return f;
}
inline unsigned __float_as_uint(float f) {
    unsigned bits;
    memcpy(&bits, &f, 4);
    return bits;
}
template <typename T>
inline T min(T a, T b) {
    return b < a ? b : a;
}
template <typename T>
inline T max(T a, T b) {
    return a < b ? b : a;
}

namespace emu {

// Runs every thread of one block until all have finished, taking turns in index order or, with
// `reverse`, the other way round; false (and b.error) if it fails.
inline bool run_block(Block& b, unsigned n, uint3 at, dim3 blk, dim3 grid, bool reverse) {
    const size_t stack_bytes = 64 * 1024;
    if (b.contexts.size() < n) {
        b.contexts.resize(n);
        b.states.resize(n);
        b.shuffled.resize(n);
        b.stacks.resize(n, std::vector<char>(stack_bytes));
    }
    b.threads = n;
    for (unsigned t = 0; t < n; t++) {
        getcontext(&b.contexts[t]);
        b.contexts[t].uc_stack.ss_sp = b.stacks[t].data();
        b.contexts[t].uc_stack.ss_size = stack_bytes;
        b.contexts[t].uc_link = nullptr;
        makecontext(&b.contexts[t], fiber_main, 0);
        b.states[t] = RUNNABLE;
    }
    blockIdx = at;
    blockDim = blk;
    gridDim = grid;
    for (;;) {
        for (unsigned i = 0; i < n; i++) {
            unsigned t = reverse ? n - 1 - i : i;
            if (b.states[t] != RUNNABLE) continue;
            b.current = t;
            threadIdx = {t, 0, 0};
            swapcontext(&b.scheduler, &b.contexts[t]);
            if (b.error) return false;
        }
        // Nothing runnable: release whichever barrier every live thread concerned has reached.
        unsigned live = 0, at_sync = 0;
        for (unsigned t = 0; t < n; t++) {
            live += b.states[t] != DONE;
            at_sync += b.states[t] == AT_SYNCTHREADS;
        }
        if (live == 0) return true;
        bool released = false;
        if (at_sync == live) {
            // CUDA leaves a __syncthreads that not every thread of the block reaches undefined.
            if (live < n) {
                b.error = "__syncthreads reached after some threads of the block exited (undefined in CUDA)";
                return false;
            }
            for (unsigned t = 0; t < n; t++)
                if (b.states[t] == AT_SYNCTHREADS) b.states[t] = RUNNABLE;
            released = true;
        }
        for (unsigned w = 0; at_sync != live && w * 32 < n; w++) {
            unsigned end = w * 32 + 32 < n ? w * 32 + 32 : n, waiting = 0, alive = 0;
            for (unsigned t = w * 32; t < end; t++) {
                alive += b.states[t] != DONE;
                waiting += b.states[t] == AT_SHUFFLE;
            }
            if (alive > 0 && waiting == alive) {
                for (unsigned t = w * 32; t < end; t++)
                    if (b.states[t] == AT_SHUFFLE) b.states[t] = RUNNABLE;
                released = true;
            }
        }
        if (!released) {
            b.error = "deadlock: no thread can go on (threads wait at different barriers, or at one that others never reach)";
            return false;
        }
    }
}

// The fibers and their stacks, one set for every launch (launches take turns).
inline Block& the_block() {
    static Block b;
    return b;
}

// Every kernel's blocks share the static arrays that stand for shared memory (block_reduce's,
// say), so one launch at a time in the whole process, whatever the kernel.
inline std::mutex& one_launch() {
    static std::mutex m;
    return m;
}

// Runs `kernel` over the grid: 0 on success; 1 or 2 for a block or grid CUDA would refuse; 3
// when a CUDA thread failed, with the reason in *error (a static string).
template <typename F>
int launch(const unsigned* g, const unsigned* b, const char** error, F kernel) {
    std::lock_guard<std::mutex> guard(one_launch());
    dim3 grid = {g[0], g[1], g[2]}, blk = {b[0], b[1], b[2]};
    if (blk.x == 0 || blk.x > 1024 || blk.y != 1 || blk.z != 1) return 1;  // only 1-D blocks are used
    if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535) return 2;
    Block& state = the_block();
    std::function<void(unsigned)> body = [&](unsigned) { kernel(); };
    state.body = &body;
    block = &state;
    state.error = nullptr;
    // Launches alternate the order in which threads take turns, so that code that is right only
    // in one order (a missing barrier) fails in the other.
    static unsigned long launches = 0;
    bool reverse = launches++ % 2 == 1;
    int status = 0;
    for (unsigned z = 0; z < grid.z && status == 0; z++)
        for (unsigned y = 0; y < grid.y && status == 0; y++)
            for (unsigned x = 0; x < grid.x && status == 0; x++)
                if (!run_block(state, blk.x, {x, y, z}, blk, grid, reverse)) status = 3;
    *error = state.error;
    block = nullptr;
    return status;
}

}  // namespace emu
