/* emu.cc — the fibers, barriers, shuffles and mma.sync of emu.h.
 *
 * The scheduler resumes every live fiber once per round, in thread order
 * (or reverse order with EMU_REVERSE set: a missing barrier then reads other
 * data, so the results of the two orders differ). A fiber runs until it
 * waits at a barrier or ends. A deadlock (a barrier that some thread never
 * reaches: a round in which no thread arrives anywhere or ends) aborts. */
#include "emu.h"

#include <ucontext.h>

#include <vector>

#include "convert_dev.h"

dim3 blockIdx, blockDim, gridDim;
dim3 *emu_thread;
void *emu_smem;
cudaError_t emu_last_error;

namespace {

enum { STACK = 1 << 17, WARP = 32, MAX_WARPS = 32 };

struct barrier {
    int count, generation;
};

std::vector<ucontext_t> fibers;
std::vector<dim3> tids;
std::vector<void *> static_shared;  /* the block's static __shared__ arrays */
std::vector<size_t> static_bytes;
std::vector<size_t> static_next;    /* per thread: its next declaration */
unsigned long progress;             /* arrivals and ends: a round without any deadlocks */
std::vector<char *> stacks;
std::vector<int> finished;
ucontext_t scheduler;
int current, nthreads;
barrier block_barrier, warp_barrier[MAX_WARPS];
float shfl_slot[MAX_WARPS][WARP];
uint32_t mma_a[MAX_WARPS][WARP][4], mma_b[MAX_WARPS][WARP][2];
emu_body body;
void *body_arg;

void wait(barrier &b, int members)
{
    const int g = b.generation;
    progress++;
    if (++b.count == members) {
        b.count = 0;
        b.generation++;
        return;
    }
    while (b.generation == g) swapcontext(&fibers[current], &scheduler);
}

float widen(int bf16, uint16_t h) { return bf16 ? llmrt_bf16_to_f32(h) : llmrt_f16_to_f32(h); }

void fiber_main(int i)
{
    body(body_arg);
    finished[i] = 1;
    progress++;
}

} /* namespace */

void *emu_static_shared(size_t bytes)
{
    const size_t k = static_next[current]++;
    if (k == static_shared.size()) {
        void *p = malloc(bytes ? bytes : 1);
        memset(p, 0xA5, bytes); /* garbage, as shared memory starts */
        static_shared.push_back(p);
        static_bytes.push_back(bytes);
    } else if (k > static_shared.size() || static_bytes[k] != bytes) {
        fprintf(stderr, "emu: threads declared different __shared__ arrays\n");
        abort();
    }
    return static_shared[k];
}

bool emu_launch_ok(dim3 grid, dim3 block, size_t smem)
{
    if (block.y != 1 || block.z != 1) {
        fprintf(stderr, "emu: only 1-D blocks are emulated\n");
        abort();
    }
    /* The device's limits (sm_90): 1024 threads, grid.x < 2^31, grid.y and
     * grid.z <= 65535, 227 KiB of dynamic shared memory (after opt-in). */
    if (block.x == 0 || block.x > 1024 || grid.x == 0 || grid.x > 0x7fffffffu || grid.y == 0 ||
        grid.y > 65535 || grid.z == 0 || grid.z > 65535 || smem > 227 * 1024) {
        emu_last_error = cudaErrorInvalidConfiguration;
        return false;
    }
    return true;
}

void emu_sync_block(void) { wait(block_barrier, nthreads); }
void emu_sync_warp(void) { wait(warp_barrier[current / WARP], WARP); }

float emu_shfl_xor(float v, int lane_mask)
{
    const int w = current / WARP, l = current % WARP;
    shfl_slot[w][l] = v;
    emu_sync_warp();
    const float r = shfl_slot[w][l ^ lane_mask];
    emu_sync_warp();
    return r;
}

/* The fragment layout of mma.m16n8k16 with 16-bit A/B and fp32 C/D (PTX ISA,
 * "Matrix Fragments for mma.m16n8k16"): lane = 4 g + t holds A rows g, g + 8
 * (registers 0, 1; then 2, 3 for columns + 8), columns 2t, 2t + 1; B rows
 * 2t, 2t + 1 (register 0) and + 8 (register 1), column g; C rows g (0, 1)
 * and g + 8 (2, 3), columns 2t, 2t + 1. The low half of a register is the
 * lower column (A) or row (B). */
void emu_mma(int bf16, float c[4], const uint32_t a[4], const uint32_t b[2])
{
    const int w = current / WARP, l = current % WARP;
    memcpy(mma_a[w][l], a, sizeof mma_a[w][l]);
    memcpy(mma_b[w][l], b, sizeof mma_b[w][l]);
    emu_sync_warp();
    float A[16][16], B[16][8];
    for (int lane = 0; lane < WARP; lane++) {
        const int g = lane >> 2, t = lane & 3;
        for (int r = 0; r < 4; r++)
            for (int half = 0; half < 2; half++)
                A[g + 8 * (r & 1)][2 * t + half + 8 * (r >> 1)] =
                    widen(bf16, (uint16_t)(mma_a[w][lane][r] >> (16 * half)));
        for (int r = 0; r < 2; r++)
            for (int half = 0; half < 2; half++)
                B[2 * t + half + 8 * r][g] =
                    widen(bf16, (uint16_t)(mma_b[w][lane][r] >> (16 * half)));
    }
    emu_sync_warp();
    const int g = l >> 2, t = l & 3;
    for (int e = 0; e < 4; e++) {
        const int row = g + 8 * (e >> 1), col = 2 * t + (e & 1);
        float s = c[e];
        for (int k = 0; k < 16; k++) s += A[row][k] * B[k][col];
        c[e] = s;
    }
}

void emu_run_block(dim3 block, unsigned threads, size_t smem, emu_body fn, void *arg)
{
    static const int reverse = getenv("EMU_REVERSE") != NULL;
    if (threads > (unsigned)(WARP * MAX_WARPS)) {
        fprintf(stderr, "emu: %u threads per block\n", threads);
        abort();
    }
    blockIdx = block;
    blockDim = dim3(threads);
    nthreads = (int)threads;
    body = fn;
    body_arg = arg;
    emu_smem = malloc(smem ? smem : 1);
    memset(emu_smem, 0xA5, smem); /* shared memory starts as garbage */
    fibers.assign(threads, ucontext_t());
    tids.assign(threads, dim3(0, 0, 0));
    static_next.assign(threads, 0);
    finished.assign(threads, 0);
    while (stacks.size() < threads) stacks.push_back((char *)malloc(STACK));
    block_barrier = barrier{0, 0};
    for (barrier &b : warp_barrier) b = barrier{0, 0};
    for (unsigned i = 0; i < threads; i++) {
        tids[i].x = i;
        getcontext(&fibers[i]);
        fibers[i].uc_stack.ss_sp = stacks[i];
        fibers[i].uc_stack.ss_size = STACK;
        fibers[i].uc_link = &scheduler;
        makecontext(&fibers[i], (void (*)(void))fiber_main, 1, (int)i);
    }
    for (int live = nthreads; live > 0;) {
        const unsigned long before = progress;
        live = 0;
        for (int k = 0; k < nthreads; k++) {
            current = reverse ? nthreads - 1 - k : k;
            if (finished[current]) continue;
            emu_thread = &tids[current];
            swapcontext(&scheduler, &fibers[current]);
            if (!finished[current]) live++;
        }
        if (live && progress == before) {
            fprintf(stderr, "emu: deadlock in block (%u, %u): %d threads wait at a barrier "
                    "that the others never reach\n", block.x, block.y, live);
            abort();
        }
    }
    for (void *p : static_shared) free(p);
    static_shared.clear();
    static_bytes.clear();
    free(emu_smem);
    emu_smem = NULL;
}
