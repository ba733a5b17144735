/* kernels_check.cc — every kernel file of plugins/cuda except attention
 * (cuda_elementwise, cuda_reduce, cuda_norm, cuda_xent, cuda_embedding,
 * cuda_adamw, cuda_kernels), run through the host emulation of emu.h by
 * their cuk_* launchers, against the cpu backend (the reference semantics:
 * plugins/cpu loaded from $LLMRT_PLUGIN_PATH with tests/cpu/host_stub's host
 * table) on the same inputs.
 *
 * Tolerances are those of the GPU tests: bit for bit where
 * tests/cuda/test_cuda_lowp.c and test_cuda_ops.c demand it (add, mul,
 * scale, relu, bias_grad over <= 64 rows, embedding forward and backward,
 * every conversion, adamw's params_out vs convert.h of its own params);
 * cmp_ulp (fp32 1e-5 |r| + 1e-6 max|r| plus one ulp of the 16-bit format)
 * for GELU, norm, softmax_xent, chunked bias_grad; 1e-10 for sum_squares;
 * test_cuda_fused.c's 1e-6 for adamw params. Sizes are odd (vector tails),
 * pointers are shifted by one element (scalar paths), buffers have their
 * exact size (AddressSanitizer sees an overrun).
 *
 * Prints a checksum of every output per section, so that tests/cuda/emu/run
 * can compare two thread orders. Exit status 0 when everything passes. */
#include <stddef.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "emu.h"

#include "cuda_adamw.h"
#include "cuda_kernels.h"
extern "C" {
#include "host_stub.h" /* llmrt.h, so convert.h (convert_dev.h's source) */
}

namespace {

typedef std::vector<unsigned char> bytes;

const llmrt_compute_vtable *cpu_vt;
void *cpu;
int failures, checks;
double worst; /* the section's worst |error| / tolerance, and where */
char worst_what[96];
uint64_t sum = 1469598103934665603ull;

uint64_t rng = 88172645463325252ull;
float frand(float lo, float hi)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return lo + (hi - lo) * (float)((double)(rng >> 11) * (1.0 / 9007199254740992.0));
}

const char *dname(int dt) { return dt == CUK_DT_F32 ? "f32" : dt == CUK_DT_F16 ? "f16" : "bf16"; }
llmrt_dtype ltype(int dt)
{
    return dt == CUK_DT_F32 ? LLMRT_DTYPE_F32 : dt == CUK_DT_F16 ? LLMRT_DTYPE_F16 : LLMRT_DTYPE_BF16;
}
size_t esz(int dt) { return dt == CUK_DT_F32 ? 4 : 2; }

float get(int dt, const void *p, size_t i)
{
    if (dt == CUK_DT_F32) {
        float f;
        memcpy(&f, (const char *)p + 4 * i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, (const char *)p + 2 * i, 2);
    return dt == CUK_DT_F16 ? llmrt_f16_to_f32(h) : llmrt_bf16_to_f32(h);
}

void put(int dt, void *p, size_t i, float v)
{
    if (dt == CUK_DT_F32) {
        memcpy((char *)p + 4 * i, &v, 4);
        return;
    }
    const uint16_t h = dt == CUK_DT_F16 ? llmrt_f32_to_f16(v) : llmrt_f32_to_bf16(v);
    memcpy((char *)p + 2 * i, &h, 2);
}

/* n + shift values of dt, random in [lo, hi) (rounded to dt). */
bytes trand(int dt, size_t n, float lo, float hi)
{
    bytes b(n * esz(dt));
    for (size_t i = 0; i < n; i++) put(dt, b.data(), i, frand(lo, hi));
    return b;
}

void fold(const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++) sum = (sum ^ ((const unsigned char *)p)[i]) * 1099511628211ull;
}

void fail(const char *fmt, const char *what, int dt, size_t i, double got, double ref, double tol)
{
    printf("    FAIL ");
    printf(fmt, what, dname(dt), i, got, ref, tol);
    printf("\n");
    failures++;
}

/* got (emulated) must hold the bits of ref (cpu), n values of dt. */
void same_bits(const char *what, int dt, const void *ref, const void *got, size_t n)
{
    checks++;
    fold(got, n * esz(dt));
    for (size_t i = 0; i < n; i++)
        if (memcmp((const char *)got + i * esz(dt), (const char *)ref + i * esz(dt), esz(dt))) {
            printf("    FAIL %s (%s)[%zu]: emulated %.9g, cpu %.9g: not bit-identical\n", what,
                   dname(dt), i, (double)get(dt, got, i), (double)get(dt, ref, i));
            failures++;
            return;
        }
}

/* |got - ref| <= (rel + ulp) |ref| + abs_frac max|ref| (+ f16's subnormal
 * spacing with ulp): cuda_test_util.h's cmp (1e-5, 1e-6), cmp_tol and
 * test_cuda_lowp.c's cmp_ulp (ulp = one ulp of the 16-bit format). */
void near(const char *what, int dt, const void *ref, const void *got, size_t n, double rel,
          double abs_frac, bool ulp)
{
    checks++;
    fold(got, n * esz(dt));
    const double eps = !ulp || dt == CUK_DT_F32 ? 0.0 : dt == CUK_DT_F16 ? 0x1p-10 : 0x1p-7;
    const double sub = ulp && dt == CUK_DT_F16 ? 0x1p-24 : 0.0;
    double maxabs = 0;
    for (size_t i = 0; i < n; i++) {
        const double v = std::fabs((double)get(dt, ref, i));
        if (std::isfinite(v)) maxabs = std::max(maxabs, v);
    }
    for (size_t i = 0; i < n; i++) {
        const double g = get(dt, got, i), r = get(dt, ref, i);
        if (g == r || (std::isnan(g) && std::isnan(r))) continue;
        const double tol = (rel + eps) * std::fabs(r) + abs_frac * maxabs + sub;
        if (!(std::fabs(g - r) <= tol)) {
            fail("%s (%s)[%zu]: emulated %.9g, cpu %.9g (tolerance %.3g)", what, dt, i, g, r, tol);
            return;
        }
        if (std::fabs(g - r) / tol > worst) {
            worst = std::fabs(g - r) / tol;
            snprintf(worst_what, sizeof worst_what, "%s (%s)", what, dname(dt));
        }
    }
}
void cmp(const char *what, int dt, const void *ref, const void *got, size_t n)
{
    near(what, dt, ref, got, n, 1e-5, 1e-6, false);
}
void cmp_ulp(const char *what, int dt, const void *ref, const void *got, size_t n)
{
    near(what, dt, ref, got, n, 1e-5, 1e-6, true);
}

void launched(const char *what, int rc)
{
    if (rc) {
        printf("    FAIL %s: launch error %d\n", what, rc);
        failures++;
    }
}

void ref_ok(const char *what, int rc)
{
    if (rc != LLMRT_OK) {
        printf("    FAIL cpu %s: %s\n", what, test_host_error());
        failures++;
    }
}

void section(const char *name)
{
    printf("%-12s %3d checks, checksum %016llx, worst |error| / tolerance %.3f%s%s\n", name,
           checks, (unsigned long long)sum, worst, worst > 0 ? ": " : "", worst_what);
    checks = 0;
    worst = 0;
    worst_what[0] = 0;
    sum = 1469598103934665603ull;
}

/* --- cuda_elementwise.cu --- */

/* Whether the cpu backend has an ABI 1.2 member (relu, mul: another branch
 * adds them); where it lacks one, the reference is computed here with
 * convert.h, as test_cuda_lowp.c does (exact: one IEEE fp32 operation per
 * element between the widening and the rounding). */
#define CPU_HAS(member)                                                                        \
    (cpu_vt->struct_size >= offsetof(llmrt_compute_vtable, member) + sizeof(void *) &&         \
     cpu_vt->member != NULL)

int ref_mul(void *out, const void *a, const void *b, size_t n, int dt)
{
    if (CPU_HAS(mul)) return cpu_vt->mul(cpu, out, a, b, n, ltype(dt));
    for (size_t i = 0; i < n; i++) put(dt, out, i, get(dt, a, i) * get(dt, b, i));
    return LLMRT_OK;
}

int ref_relu_forward(void *out, const void *x, size_t n, int dt)
{
    if (CPU_HAS(relu_forward)) return cpu_vt->relu_forward(cpu, out, x, n, ltype(dt));
    for (size_t i = 0; i < n; i++) {
        const float v = get(dt, x, i);
        put(dt, out, i, v > 0.0f ? v : 0.0f);
    }
    return LLMRT_OK;
}

int ref_relu_backward(void *dx, const void *x, const void *dy, size_t n, int dt)
{
    if (CPU_HAS(relu_backward)) return cpu_vt->relu_backward(cpu, dx, x, dy, n, ltype(dt));
    for (size_t i = 0; i < n; i++)
        put(dt, dx, i, get(dt, dx, i) + (get(dt, x, i) > 0.0f ? get(dt, dy, i) : 0.0f));
    return LLMRT_OK;
}

void elementwise(int dt, size_t n, size_t shift)
{
    const size_t es = esz(dt), o = shift * es, N = n + shift;
    const llmrt_dtype t = ltype(dt);
    bytes a = trand(dt, N, -3, 3), b = trand(dt, N, -3, 3), x = trand(dt, N, -8, 8),
          dy = trand(dt, N, -1, 1), dx0 = trand(dt, N, -1, 1);
    bytes rc(N * es), gc(N * es);
#define P(v) ((v).data() + o)
    ref_ok("add", cpu_vt->add(cpu, P(rc), P(a), P(b), n, t));
    launched("add", cuk_add(NULL, dt, P(gc), P(a), P(b), n));
    same_bits("add", dt, P(rc), P(gc), n);
    ref_ok("mul", ref_mul(P(rc), P(a), P(b), n, dt));
    launched("mul", cuk_mul(NULL, dt, P(gc), P(a), P(b), n));
    same_bits("mul", dt, P(rc), P(gc), n);
    { /* in place: out aliases an input */
        bytes ra = a, ga = a, rb = b, gb = b;
        ref_ok("add", cpu_vt->add(cpu, P(ra), P(ra), P(b), n, t));
        launched("add", cuk_add(NULL, dt, P(ga), P(ga), P(b), n));
        same_bits("add in place", dt, P(ra), P(ga), n);
        ref_ok("mul", ref_mul(P(rb), P(a), P(rb), n, dt));
        launched("mul", cuk_mul(NULL, dt, P(gb), P(a), P(gb), n));
        same_bits("mul in place", dt, P(rb), P(gb), n);
        ref_ok("scale", cpu_vt->scale(cpu, P(ra), n, t, -0.37f));
        launched("scale", cuk_scale(NULL, dt, P(ga), n, -0.37f));
        same_bits("scale", dt, P(ra), P(ga), n);
    }
    ref_ok("relu", ref_relu_forward(P(rc), P(a), n, dt));
    launched("relu", cuk_relu_forward(NULL, dt, P(gc), P(a), n));
    same_bits("relu forward", dt, P(rc), P(gc), n);
    {
        bytes r = dx0, g = dx0;
        ref_ok("relu bwd", ref_relu_backward(P(r), P(a), P(dy), n, dt));
        launched("relu bwd", cuk_relu_backward(NULL, dt, P(g), P(a), P(dy), n));
        same_bits("relu backward", dt, P(r), P(g), n);
    }
    for (int kind = 0; kind < 2; kind++) {
        ref_ok("gelu", cpu_vt->gelu_forward(cpu, P(rc), P(x), n, t, (llmrt_gelu_kind)kind));
        launched("gelu", cuk_gelu_forward(NULL, dt, P(gc), P(x), n, kind));
        cmp_ulp(kind ? "gelu erf forward" : "gelu tanh forward", dt, P(rc), P(gc), n);
        bytes r = dx0, g = dx0;
        ref_ok("gelu bwd",
               cpu_vt->gelu_backward(cpu, P(r), P(x), P(dy), n, t, (llmrt_gelu_kind)kind));
        launched("gelu bwd", cuk_gelu_backward(NULL, dt, P(g), P(x), P(dy), n, kind));
        cmp_ulp(kind ? "gelu erf backward" : "gelu tanh backward", dt, P(r), P(g), n);
    }
    /* Nothing before the slice was written. */
    same_bits("elementwise head", dt, rc.data(), gc.data(), shift);
}

/* --- cuda_reduce.cu --- */

void bias_grad(int dt, int64_t rows, int64_t cols, size_t shift)
{
    const size_t es = esz(dt), o = shift * es;
    bytes dout = trand(dt, rows * cols + shift, -1, 1), r = trand(dt, cols + shift, -1, 1), g = r;
    bytes scratch(cuk_bias_grad_scratch(rows, cols));
    ref_ok("bias_grad", cpu_vt->bias_grad(cpu, P(r), P(dout), rows, cols, ltype(dt)));
    launched("bias_grad", cuk_bias_grad(NULL, dt, P(g), P(dout), rows, cols, scratch.data()));
    /* One chunk: the cpu's serial column sums; more: regrouped by chunk. */
    if (rows <= 64) same_bits("bias_grad (one chunk)", dt, r.data(), g.data(), cols + shift);
    else cmp_ulp("bias_grad (chunked)", dt, r.data(), g.data(), cols + shift);
}

void sum_squares(int dt, size_t n, size_t shift, bool with_inf)
{
    const size_t o = shift * esz(dt);
    bytes x = trand(dt, n + shift, -3, 3);
    if (with_inf) put(dt, x.data(), shift + n / 3, INFINITY);
    std::vector<double> partial(CUK_SSQ_BLOCKS);
    double ref = 0, *got = new double(-1);
    ref_ok("sum_squares", cpu_vt->sum_squares(cpu, P(x), n, ltype(dt), &ref));
    launched("sum_squares", cuk_sum_squares(NULL, dt, P(x), n, partial.data(), got));
    checks++;
    fold(got, sizeof *got);
    if (with_inf ? !std::isinf(*got) : !(std::fabs(*got - ref) <= 1e-10 * ref)) {
        printf("    FAIL sum_squares (%s): emulated %.17g, cpu %.17g\n", dname(dt), *got, ref);
        failures++;
    }
    delete got;
}

/* --- cuda_norm.cu --- */

void norm(int dt, int64_t rows, int64_t cols, size_t shift, int rms, int hasb)
{
    const size_t es = esz(dt), o = shift * es, rc = rows * cols;
    const llmrt_dtype t = ltype(dt);
    bytes x = trand(dt, rc + shift, -2, 3), w = trand(dt, cols + shift, 0.5f, 1.5f),
          b = trand(dt, cols + shift, -1, 1), dy = trand(dt, rc + shift, -1, 1),
          dx = trand(dt, rc + shift, -1, 1), dw = trand(dt, cols + shift, -1, 1),
          db = trand(dt, cols + shift, -1, 1);
    bytes rout(x.size()), gout(x.size()), rdx = dx, gdx = dx, rdw = dw, gdw = dw, rdb = db,
          gdb = db;
    std::vector<float> rmean(rows), rrstd(rows), gmean(rows), grstd(rows);
    llmrt_norm_desc d = {};
    d.struct_size = sizeof d;
    d.rows = rows;
    d.cols = cols;
    d.eps = 1e-5f;
    d.rms = rms;
    d.dtype = t;
    d.inp = P(x);
    d.weight = P(w);
    d.bias = hasb ? P(b) : NULL;
    d.out = P(rout);
    d.mean = rms ? NULL : rmean.data();
    d.rstd = rrstd.data();
    d.dout = P(dy);
    d.dinp = P(rdx);
    d.dweight = P(rdw);
    d.dbias = hasb ? P(rdb) : NULL;
    ref_ok("norm_forward", cpu_vt->norm_forward(cpu, &d));
    ref_ok("norm_backward", cpu_vt->norm_backward(cpu, &d));
    bytes scratch(cuk_norm_backward_scratch(rows, cols));
    /* cuda_ops.c's arguments: RMSNorm has no bias (compute.h). */
    launched("norm forward",
             cuk_norm_forward(NULL, dt, P(gout), rms ? NULL : gmean.data(), grstd.data(), P(x),
                              P(w), hasb && !rms ? P(b) : NULL, rows, cols, 1e-5f, rms));
    launched("norm backward",
             cuk_norm_backward(NULL, dt, P(gdx), P(gdw), hasb && !rms ? P(gdb) : NULL, P(x), P(w), P(dy),
                               gmean.data(), grstd.data(), rows, cols, rms, scratch.data()));
    cmp_ulp("norm out", dt, rout.data(), gout.data(), rc + shift);
    if (!rms) cmp("norm mean", CUK_DT_F32, rmean.data(), gmean.data(), rows);
    cmp("norm rstd", CUK_DT_F32, rrstd.data(), grstd.data(), rows);
    cmp_ulp("norm dinp", dt, rdx.data(), gdx.data(), rc + shift);
    cmp_ulp("norm dweight", dt, rdw.data(), gdw.data(), cols + shift);
    cmp_ulp("norm dbias", dt, rdb.data(), gdb.data(), cols + shift);
}

/* --- cuda_xent.cu --- */

void xent(int dt, int64_t rows, int64_t V, int64_t Vp, size_t shift)
{
    const size_t es = esz(dt), o = shift * es, rc = rows * Vp;
    bytes logits = trand(dt, rc + shift, -6, 6), rdl(logits.size()), gdl(logits.size());
    std::vector<int32_t> tg(rows);
    for (int64_t i = 0; i < rows; i++)
        tg[i] = i % 7 == 3 ? -1 : i % 5 == 1 ? (int32_t)V - 1 : (int32_t)(frand(0, 1) * V) % V;
    std::vector<float> rl(rows), gl(rows);
    llmrt_xent_desc d = {};
    d.struct_size = sizeof d;
    d.rows = rows;
    d.vocab = V;
    d.padded_vocab = Vp;
    d.dtype = ltype(dt);
    d.logits = P(logits);
    d.targets = tg.data();
    d.losses = rl.data();
    d.dlogits = P(rdl);
    d.dloss = 1.0f / (float)rows;
    ref_ok("softmax_xent", cpu_vt->softmax_xent(cpu, &d));
    launched("xent", cuk_softmax_xent(NULL, dt, P(logits), tg.data(), gl.data(), P(gdl), d.dloss,
                                      rows, V, Vp));
    cmp("xent losses", CUK_DT_F32, rl.data(), gl.data(), rows);
    cmp_ulp("xent dlogits", dt, rdl.data(), gdl.data(), rc + shift);
    /* In place: dlogits overwrite the logits. */
    std::fill(gl.begin(), gl.end(), 0.0f);
    launched("xent", cuk_softmax_xent(NULL, dt, P(logits), tg.data(), gl.data(), P(logits),
                                      d.dloss, rows, V, Vp));
    cmp("xent losses (in place)", CUK_DT_F32, rl.data(), gl.data(), rows);
    cmp_ulp("xent dlogits (in place)", dt, P(rdl), P(logits), rc);
}

/* --- cuda_embedding.cu --- */

void embedding(int dt, int64_t tab, int64_t dim, int64_t rows, int distinct, size_t shift)
{
    const size_t es = esz(dt), o = shift * es;
    const llmrt_dtype t = ltype(dt);
    std::vector<int32_t> ids(rows);
    /* `distinct` ids spread over the whole table: runs of repeats, and the
     * first and last rows. */
    for (int64_t i = 0; i < rows; i++) {
        const int k = (int)(frand(0, 1) * distinct) % distinct;
        ids[i] = k == 0 ? 0 : k == 1 ? (int32_t)tab - 1 : (int32_t)((int64_t)k * 7919 % tab);
    }
    bytes table = trand(dt, tab * dim + shift, -1, 1), out = trand(dt, rows * dim + shift, -1, 1),
          dout = trand(dt, rows * dim + shift, -1, 1), dt0 = trand(dt, tab * dim + shift, -1, 1);
    bytes rout = out, gout = out;
    for (int acc = 1; acc >= 0; acc--) {
        ref_ok("embedding_forward",
               cpu_vt->embedding_forward(cpu, P(rout), ids.data(), P(table), rows, dim, t, acc));
        launched("embedding forward", cuk_embedding_forward(NULL, dt, P(gout), ids.data(),
                                                            P(table), rows, dim, acc));
        same_bits(acc ? "embedding forward (accumulate)" : "embedding forward", dt, rout.data(),
                  gout.data(), rows * dim + shift);
    }
    bytes rdt = dt0, gdt = dt0, scratch(cuk_embedding_backward_scratch(rows));
    ref_ok("embedding_backward",
           cpu_vt->embedding_backward(cpu, P(rdt), ids.data(), P(dout), rows, dim, t));
    launched("embedding backward",
             cuk_embedding_backward(NULL, dt, P(gdt), ids.data(), P(dout), rows, dim,
                                    scratch.data(), scratch.size()));
    /* The whole table: rows no id names must be untouched. */
    same_bits("embedding backward", dt, rdt.data(), gdt.data(), tab * dim + shift);
    /* Scratch without room for cub's temporary storage: the sort's error
     * comes back and the table is left alone. */
    const size_t v = (rows * 4 + 255) / 256 * 256;
    bytes small(3 * v), before = gdt;
    checks++;
    if (!cuk_embedding_backward(NULL, dt, P(gdt), ids.data(), P(dout), rows, dim, small.data(),
                                small.size()) ||
        gdt != before) {
        printf("    FAIL embedding backward (%s): short scratch not refused\n", dname(dt));
        failures++;
    }
}

/* --- cuda_adamw.cu --- */

void adamw(int gdt, int out_kind, size_t shift)
{
    const size_t n = 1003, N = n + shift, eg = esz(gdt); /* n % 4 = 3: the vector tail */
    bytes p = trand(CUK_DT_F32, N, -1, 1), m = trand(CUK_DT_F32, N, -0.01f, 0.01f),
          v = trand(CUK_DT_F32, N, 0, 0.001f), g = trand(gdt, N, -0.1f, 0.1f);
    bytes rp = p, rm = m, rv = v, gp = p, gm = m, gv = v, out(N * 2);
    for (int64_t t = 1; t <= 3; t++) {
        llmrt_adamw_desc d = {};
        d.struct_size = sizeof d;
        d.n = n;
        d.params = (float *)rp.data() + shift;
        d.grads = g.data() + shift * eg;
        d.grad_type = ltype(gdt);
        d.m = (float *)rm.data() + shift;
        d.v = (float *)rv.data() + shift;
        d.lr = 3e-4f;
        d.beta1 = 0.9f;
        d.beta2 = 0.95f;
        d.eps = 1e-8f;
        d.weight_decay = 0.1f;
        d.grad_scale = 0.5f;
        d.t = t;
        ref_ok("adamw", cpu_vt->adamw(cpu, &d));
        /* cuda_adamw.c's arguments for the same step. */
        cuk_adamw_args a = {};
        a.n = n;
        a.p = (float *)gp.data() + shift;
        a.m = (float *)gm.data() + shift;
        a.v = (float *)gv.data() + shift;
        a.g = g.data() + shift * eg;
        a.grad = gdt == CUK_DT_F32 ? CUK_ADAMW_GRAD_F32
                 : gdt == CUK_DT_F16 ? CUK_ADAMW_GRAD_F16 : CUK_ADAMW_GRAD_BF16;
        a.lr = d.lr;
        a.beta1 = d.beta1;
        a.beta2 = d.beta2;
        a.eps = d.eps;
        a.wd = d.weight_decay;
        a.grad_scale = d.grad_scale;
        a.inv_bc1 = (float)(1.0 / (1.0 - pow((double)d.beta1, (double)t)));
        a.inv_bc2 = (float)(1.0 / (1.0 - pow((double)d.beta2, (double)t)));
        a.out = out_kind == CUK_ADAMW_OUT_NONE ? NULL : (uint16_t *)out.data() + shift;
        a.out_kind = out_kind;
        a.seed = 0xabcdef12345ull + (uint64_t)t;
        a.offset = 1000 + shift;
        launched("adamw", cuk_adamw(NULL, &a));
        if (out_kind == CUK_ADAMW_OUT_NONE) continue;
        /* params_out is convert.h's rounding of the kernel's own params. */
        bytes want(N * 2);
        for (size_t i = 0; i < n; i++) {
            const float x = a.p[i];
            const uint16_t h = out_kind == CUK_ADAMW_OUT_F16    ? llmrt_f32_to_f16(x)
                               : out_kind == CUK_ADAMW_OUT_BF16 ? llmrt_f32_to_bf16(x)
                                   : llmrt_f32_to_bf16_sr(x, llmrt_sr_bits(a.seed, a.offset + i));
            memcpy(&want[(shift + i) * 2], &h, 2);
        }
        same_bits("adamw params_out", CUK_DT_F16, want.data(), out.data(), N);
    }
    /* test_cuda_fused.c's cmp_tol(1e-6) for params, cmp for m and v. */
    near("adamw params", CUK_DT_F32, rp.data(), gp.data(), N, 1e-6, 1e-7, false);
    cmp("adamw m", CUK_DT_F32, rm.data(), gm.data(), N);
    cmp("adamw v", CUK_DT_F32, rv.data(), gv.data(), N);
}

/* --- cuda_kernels.cu: conversions, bit for bit, on random bit patterns --- */

void convert(int kind, llmrt_dtype dt, llmrt_dtype st, llmrt_rounding r, int axis, size_t shift)
{
    const int64_t rows = 13, cols = 101;
    const size_t n = rows * cols, ss = llmrt_dtype_size(st), ds = llmrt_dtype_size(dt);
    bytes src((n + shift) * ss);
    for (unsigned char &c : src) c = (unsigned char)frand(0, 256);
    if (st == LLMRT_DTYPE_F32 && (dt == LLMRT_DTYPE_I8 || dt == LLMRT_DTYPE_I32))
        for (size_t i = 0; i < n + shift; i++) /* mostly in range, ties, some out of it */
            if (i % 5) {
                float f = i % 3 ? frand(-200, 200) : (float)(int)frand(-300, 300) + 0.5f;
                memcpy(&src[i * 4], &f, 4);
            }
    const size_t ns = axis == 0 ? (size_t)rows : axis == 1 ? (size_t)cols : 1;
    std::vector<float> scales(ns);
    for (float &s : scales) s = frand(-2, 2);
    scales[0] = 0.0f; /* the eps clamp */
    if (ns > 1) scales[1] = 1e-30f;
    bytes rd((n + shift) * ds), gd((n + shift) * ds);
    llmrt_convert_desc d = {};
    d.struct_size = sizeof d;
    d.rows = rows;
    d.cols = cols;
    d.dst = rd.data() + shift * ds;
    d.dst_type = dt;
    d.src = src.data() + shift * ss;
    d.src_type = st;
    d.rounding = r;
    d.seed = 0x1234567u;
    d.offset = 99;
    d.scales = scales.data();
    d.axis = axis;
    ref_ok("convert_ex", cpu_vt->convert_ex(cpu, &d));
    launched("convert", cuk_convert(NULL, kind, gd.data() + shift * ds, src.data() + shift * ss, n,
                                    cols, d.seed, d.offset, scales.data(), axis));
    checks++;
    fold(gd.data(), gd.size());
    if (rd != gd) {
        size_t i = 0;
        while (rd[i] == gd[i]) i++;
        printf("    FAIL convert kind %d (axis %d): element %zu differs\n", kind, axis,
               i / ds - shift);
        failures++;
    }
}

/* --- cuda_kernels.cu: LSQ fake quantization --- */

void fake_quant(int axis, int64_t rows, int64_t cols, int qmin, int qmax)
{
    const size_t n = rows * cols, ns = axis == 0 ? (size_t)rows : axis == 1 ? (size_t)cols : 1;
    bytes x = trand(CUK_DT_F32, n, -3, 3), sc = trand(CUK_DT_F32, ns, 0.01f, 0.05f),
          dy = trand(CUK_DT_F32, n, -1, 1), dx = trand(CUK_DT_F32, n, -1, 1),
          ds = trand(CUK_DT_F32, ns, -1, 1);
    put(CUK_DT_F32, sc.data(), 0, -get(CUK_DT_F32, sc.data(), 0)); /* negative: gradient sign */
    bytes rout(n * 4), gout(n * 4), rdx = dx, gdx = dx, rds = ds, gds = ds;
    llmrt_fake_quant_desc d = {};
    d.struct_size = sizeof d;
    d.rows = rows;
    d.cols = cols;
    d.axis = axis;
    d.qmin = qmin;
    d.qmax = qmax;
    d.x = (const float *)x.data();
    d.scale = (const float *)sc.data();
    d.out = (float *)rout.data();
    d.dout = (const float *)dy.data();
    d.dx = (float *)rdx.data();
    d.dscale = (float *)rds.data();
    d.grad_factor = 0.01f;
    ref_ok("fake_quant_forward", cpu_vt->fake_quant_forward(cpu, &d));
    ref_ok("fake_quant_backward", cpu_vt->fake_quant_backward(cpu, &d));
    std::vector<double> partial(CUK_SSQ_BLOCKS);
    launched("fake_quant forward",
             cuk_fake_quant_forward(NULL, (float *)gout.data(), d.x, d.scale, rows, cols, axis,
                                    qmin, qmax));
    launched("fake_quant backward",
             cuk_fake_quant_backward(NULL, (float *)gdx.data(), (float *)gds.data(), d.x, d.dout,
                                     d.scale, rows, cols, axis, qmin, qmax, d.grad_factor,
                                     partial.data()));
    cmp("fake_quant out", CUK_DT_F32, rout.data(), gout.data(), n);
    cmp("fake_quant dx", CUK_DT_F32, rdx.data(), gdx.data(), n);
    cmp("fake_quant dscale", CUK_DT_F32, rds.data(), gds.data(), ns);
}

} /* namespace */

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    char why[1024];
    const llmrt_plugin *pc = test_load_plugin("llmrt-compute-cpu.so", why, sizeof why);
    if (!pc) {
        fprintf(stderr, "kernels_check: %s\n", why);
        return 1;
    }
    cpu_vt = (const llmrt_compute_vtable *)pc->components[0].vtable;
    if (cpu_vt->create(test_host(), test_host_params(), &cpu) != LLMRT_OK) {
        fprintf(stderr, "kernels_check: cpu: %s\n", test_host_error());
        return 1;
    }
    auto want = [&](const char *s) { return !only || !strcmp(only, s); };
    if (want("elementwise")) {
        for (int dt = 0; dt < 3; dt++) {
            for (size_t shift = 0; shift < 2; shift++) elementwise(dt, 1003, shift);
            elementwise(dt, 7, 0); /* shorter than one 16-byte pack */
        }
        section("elementwise");
    }
    if (want("reduce")) {
        for (int dt = 0; dt < 3; dt++) {
            bias_grad(dt, 64, 77, dt == 1);  /* one chunk: bit for bit */
            bias_grad(dt, 1001, 77, dt == 2); /* 16 chunks of 63 rows, the last short */
            sum_squares(dt, 100003, dt == 1, false);
        }
        bias_grad(CUK_DT_BF16, 17000, 5, 0); /* CUK_ROW_CHUNKS chunks */
        sum_squares(CUK_DT_F32, 1001, 0, true); /* an inf propagates */
        section("reduce");
    }
    if (want("norm")) {
        for (int dt = 0; dt < 3; dt++)
            for (int rms = 0; rms < 2; rms++) {
                norm(dt, 5, 776, 0, rms, !rms);    /* 16-byte packs */
                norm(dt, 5, 773, 1, rms, 1);       /* element by element */
                norm(dt, 130, 24, 0, rms, !rms);   /* 3 chunks: dweight/dbias chunked */
            }
        section("norm");
    }
    if (want("xent")) {
        for (int dt = 0; dt < 3; dt++) {
            xent(dt, 9, 1000, 1024, 0); /* packs, padding columns */
            xent(dt, 9, 997, 1001, 1);  /* element by element */
        }
        section("xent");
    }
    if (want("embedding")) {
        for (int dt = 0; dt < 3; dt++) {
            embedding(dt, 50, 96, 333, 10, 0);      /* test_cuda_ops.c's: many repeats */
            embedding(dt, 50021, 24, 200, 150, 0);  /* a large vocabulary, packs */
            embedding(dt, 1000, 13, 257, 40, 1);    /* odd dim, shifted: scalar path */
            embedding(dt, 7, 600, 40, 3, 1);        /* wide rows: 256 threads, strided */
        }
        section("embedding");
    }
    if (want("adamw")) {
        for (int g = 0; g < 3; g++)
            for (size_t shift = 0; shift < 2; shift++)
                for (int out = CUK_ADAMW_OUT_NONE; out <= CUK_ADAMW_OUT_BF16_SR; out++)
                    adamw(g, out, shift);
        section("adamw");
    }
    if (want("convert")) {
        const llmrt_dtype F32 = LLMRT_DTYPE_F32, F16 = LLMRT_DTYPE_F16, BF16 = LLMRT_DTYPE_BF16;
        const llmrt_rounding NE = LLMRT_ROUND_NEAREST_EVEN;
        for (size_t shift = 0; shift < 2; shift++) {
            convert(CUK_F16_F32, F32, F16, NE, 0, shift);
            convert(CUK_BF16_F32, F32, BF16, NE, 0, shift);
            convert(CUK_F32_F16, F16, F32, NE, 0, shift);
            convert(CUK_F32_BF16, BF16, F32, NE, 0, shift);
            convert(CUK_F32_BF16_SR, BF16, F32, LLMRT_ROUND_STOCHASTIC, 0, shift);
            convert(CUK_F16_BF16, BF16, F16, NE, 0, shift);
            convert(CUK_BF16_F16, F16, BF16, NE, 0, shift);
            convert(CUK_I32_F32, F32, LLMRT_DTYPE_I32, NE, 0, shift);
            convert(CUK_F32_I32, LLMRT_DTYPE_I32, F32, NE, 0, shift);
            for (int axis = -1; axis <= 1; axis++) {
                convert(CUK_F32_I8, LLMRT_DTYPE_I8, F32, NE, axis, shift);
                convert(CUK_I8_F32, F32, LLMRT_DTYPE_I8, NE, axis, shift);
            }
        }
        section("convert");
    }
    if (want("fake_quant")) {
        for (int axis = -1; axis <= 1; axis++) {
            fake_quant(axis, 45, 301, -127, 127); /* test_cuda_ops.c's */
            fake_quant(axis, 7, 33, -8, 7);       /* 4-bit: many clamped */
        }
        section("fake_quant");
    }
    cpu_vt->destroy(cpu);
    printf(failures ? "%d FAILURES\n" : "all within tolerance\n", failures);
    return failures != 0;
}
