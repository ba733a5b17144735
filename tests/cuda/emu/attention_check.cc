/* attention_check.cc — cuda_attention.cu's launchers, run through the host
 * emulation of emu.h, against a double-precision reference of
 * cpu_attention.c's semantics (tests/cuda/emu/run builds and runs it).
 *
 * For each shape and dtype: out, lse, dq, dk, dv (added into initial
 * values) and dbias within the tolerances of tests/cuda/test_cuda_attention.c
 * (measured against the exact result here, so the printed worst ratio shows
 * the margin), padding columns and rows outside the tensors untouched, and
 * a checksum of every output so that run can compare two thread orders.
 *
 * Usage: attention_check [DTYPE [SHAPE]] (0 f32, 1 bf16, 2 f16; index into
 * shapes[]). Exit status 0 when everything is within tolerance. */
#include <algorithm>
#include <cmath>
#include <vector>

#include "emu.h"

#include "convert_dev.h"
#include "cuda_attention.h"

namespace {

uint64_t rng = 88172645463325252ull;

float frand(float lo, float hi)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return lo + (hi - lo) * (float)((double)(rng >> 11) * (1.0 / 9007199254740992.0));
}

/* n values stored as the dtype (0 f32, 1 bf16, 2 f16). */
struct tensor {
    int dt;
    size_t es;
    std::vector<unsigned char> bytes;
    tensor(int dtype, size_t n) : dt(dtype), es(dtype ? 2 : 4), bytes(n * es + 16) {}
    void *ptr() { return bytes.data(); }
    float get(size_t i) const
    {
        if (dt == 0) {
            float f;
            memcpy(&f, &bytes[i * 4], 4);
            return f;
        }
        uint16_t h;
        memcpy(&h, &bytes[i * 2], 2);
        return dt == 1 ? llmrt_bf16_to_f32(h) : llmrt_f16_to_f32(h);
    }
    void set(size_t i, float x)
    {
        if (dt == 0) {
            memcpy(&bytes[i * 4], &x, 4);
            return;
        }
        const uint16_t h = dt == 1 ? llmrt_f32_to_bf16(x) : llmrt_f32_to_f16(x);
        memcpy(&bytes[i * 2], &h, 2);
    }
};

struct shape {
    int64_t B, H, Tq, Tk, D;
    int causal, bias, pad, no_out;
};

const shape shapes[] = {
    /* tests/cuda/test_cuda_attention.c's */
    {2, 3, 77, 77, 64, 1, 0, 0, 0},
    {2, 3, 77, 77, 64, 0, 1, 0, 0},
    {1, 2, 20, 45, 128, 1, 1, 0, 0},
    {1, 2, 70, 33, 40, 1, 0, 1, 0},
    {2, 1, 33, 100, 96, 0, 0, 1, 1},
    {1, 2, 130, 130, 64, 1, 1, 0, 0},
    {1, 1, 50, 61, 160, 1, 0, 0, 0},
    {1, 1, 40, 40, 256, 0, 1, 0, 0},
    /* test_cuda_ops.c's widths and a few corners */
    {2, 3, 37, 37, 16, 1, 1, 0, 0},
    {1, 2, 30, 12, 8, 1, 0, 0, 0},
    {1, 2, 30, 12, 8, 0, 1, 1, 1},
    {3, 2, 1, 1, 64, 1, 0, 0, 0},
    {1, 1, 5, 200, 128, 1, 1, 0, 1},
    {2, 2, 5, 0, 64, 1, 1, 0, 0}, /* no keys at all */
};

int failures;

/* |got - ref| <= rel |ref| + abs_frac max|ref|; prints the worst ratio. */
void check(const char *what, const std::vector<double> &ref, const std::vector<float> &got,
           double rel, double abs_frac)
{
    double maxabs = 0, worst = 0;
    for (double r : ref)
        if (std::isfinite(r)) maxabs = std::max(maxabs, std::fabs(r));
    for (size_t i = 0; i < ref.size(); i++) {
        if ((double)got[i] == ref[i]) continue;
        const double tol = rel * std::fabs(ref[i]) + abs_frac * maxabs;
        const double err = std::fabs(got[i] - ref[i]);
        if (!(err <= tol)) {
            printf("    FAIL %s[%zu]: %.9g, reference %.9g (tolerance %.3g)\n", what, i,
                   (double)got[i], ref[i], tol);
            failures++;
            return;
        }
        worst = std::max(worst, err / tol);
    }
    printf("    %-6s worst |error| / tolerance %.3f\n", what, worst);
}

/* Rows [r0, r1), columns [c0, c1) are as they were before the kernels. */
void untouched(const char *what, const tensor &now, const tensor &before, int64_t r0, int64_t r1,
               int64_t stride, int64_t c0, int64_t c1)
{
    for (int64_t r = r0; r < r1; r++)
        for (int64_t c = c0; c < c1; c++)
            if (memcmp(&now.bytes[(r * stride + c) * now.es],
                       &before.bytes[(r * stride + c) * now.es], now.es)) {
                printf("    FAIL %s: row %lld column %lld was written\n", what, (long long)r,
                       (long long)c);
                failures++;
                return;
            }
}

void run(int dt, const shape &s)
{
    const int64_t B = s.B, H = s.H, Tq = s.Tq, Tk = s.Tk, D = s.D, W = H * D;
    const int64_t qs = 3 * W + (s.pad ? 1 : 0), os = W + (s.pad ? 3 : 8);
    const int64_t rows = B * std::max(Tq, Tk);
    const size_t nqkv = rows * qs, nout = B * Tq * os, nl = B * H * Tq, nb = H * Tq * Tk;
    printf("%s B%lld H%lld Tq%lld Tk%lld D%lld causal %d bias %d pad %d no_out %d\n",
           dt == 0 ? "f32" : dt == 1 ? "bf16" : "f16", (long long)B, (long long)H, (long long)Tq,
           (long long)Tk, (long long)D, s.causal, s.bias, s.pad, s.no_out);
    const float g0 = dt ? 0.05f : 0.5f; /* initial gradients, as the Check test */
    tensor qkv(dt, nqkv), dout(dt, nout), dqkv(dt, nqkv), out(dt, nout);
    for (size_t i = 0; i < nqkv; i++) {
        qkv.set(i, frand(-1, 1));
        dqkv.set(i, frand(-g0, g0));
    }
    for (size_t i = 0; i < nout; i++) {
        dout.set(i, frand(-1, 1));
        out.set(i, frand(-1, 1));
    }
    const tensor dqkv0 = dqkv, out0 = out;
    std::vector<float> bias(nb), dbias(nb), lse(nl, 123.0f), delta(nl);
    for (float &x : bias) x = frand(-0.5f, 0.5f);
    for (float &x : dbias) x = frand(-g0, g0);
    const std::vector<float> dbias0 = dbias;

    const size_t es = qkv.es;
    cuk_flash p = {};
    p.batch = B;
    p.heads = H;
    p.q_len = Tq;
    p.kv_len = Tk;
    p.head_dim = D;
    p.dtype = dt;
    p.scale = 1.0f / sqrtf((float)D);
    p.causal = s.causal;
    p.q = qkv.ptr();
    p.k = (char *)qkv.ptr() + W * es;
    p.v = (char *)qkv.ptr() + 2 * W * es;
    p.q_row_stride = p.k_row_stride = p.v_row_stride = qs;
    p.out_row_stride = os;
    p.bias = s.bias ? bias.data() : NULL;
    p.out = out.ptr();
    p.lse = lse.data();
    p.dout = dout.ptr();
    p.dq = dqkv.ptr();
    p.dk = (char *)dqkv.ptr() + W * es;
    p.dv = (char *)dqkv.ptr() + 2 * W * es;
    p.dbias = s.bias ? dbias.data() : NULL;
    p.delta = delta.data();
    if (cuk_flash_forward(NULL, &p)) {
        printf("    FAIL forward launch\n");
        failures++;
        return;
    }
    cuk_flash pb = p;
    if (s.no_out) pb.out = NULL;
    if (cuk_flash_backward(NULL, &pb)) {
        printf("    FAIL backward launch\n");
        failures++;
        return;
    }

    /* The reference, in double, on the same (16-bit rounded) inputs. */
    const int64_t off = Tk - Tq;
    std::vector<double> rout(B * Tq * W), rlse(nl), rdq(B * Tq * W), rdk(B * Tk * W),
        rdv(B * Tk * W), rdb(dbias0.begin(), dbias0.end()), P(Tk), dP(Tk);
    for (int64_t r = 0; r < B * Tq; r++)
        for (int64_t c = 0; c < W; c++) rdq[r * W + c] = dqkv0.get(r * qs + c);
    for (int64_t r = 0; r < B * Tk; r++)
        for (int64_t c = 0; c < W; c++) {
            rdk[r * W + c] = dqkv0.get(r * qs + W + c);
            rdv[r * W + c] = dqkv0.get(r * qs + 2 * W + c);
        }
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < Tq; i++) {
                const int64_t n = s.causal ? std::min(std::max(i + off + 1, (int64_t)0), Tk) : Tk;
                const int64_t qi = (b * Tq + i) * qs + h * D, oi = (b * Tq + i) * os + h * D;
                const int64_t ro = (b * Tq + i) * W + h * D;
                if (n == 0) {
                    for (int64_t d = 0; d < D; d++) rout[ro + d] = 0;
                    rlse[(b * H + h) * Tq + i] = -INFINITY;
                    continue;
                }
                double m = -HUGE_VAL, sum = 0, dl = 0;
                for (int64_t j = 0; j < n; j++) {
                    const int64_t kj = (b * Tk + j) * qs + W + h * D;
                    double acc = 0;
                    for (int64_t d = 0; d < D; d++)
                        acc += (double)qkv.get(qi + d) * qkv.get(kj + d);
                    P[j] = acc * p.scale + (s.bias ? bias[(h * Tq + i) * Tk + j] : 0.0);
                    m = std::max(m, P[j]);
                }
                for (int64_t j = 0; j < n; j++) sum += (P[j] = std::exp(P[j] - m));
                for (int64_t j = 0; j < n; j++) P[j] /= sum;
                rlse[(b * H + h) * Tq + i] = m + std::log(sum);
                for (int64_t j = 0; j < n; j++) {
                    const int64_t vj = (b * Tk + j) * qs + 2 * W + h * D;
                    double acc = 0;
                    for (int64_t d = 0; d < D; d++) {
                        rout[ro + d] += P[j] * qkv.get(vj + d);
                        acc += (double)dout.get(oi + d) * qkv.get(vj + d);
                    }
                    dP[j] = acc;
                    dl += P[j] * acc;
                }
                for (int64_t j = 0; j < n; j++) {
                    const double ds = P[j] * (dP[j] - dl);
                    const int64_t kj = (b * Tk + j) * qs + W + h * D, rk = (b * Tk + j) * W + h * D;
                    for (int64_t d = 0; d < D; d++) {
                        rdq[ro + d] += p.scale * ds * qkv.get(kj + d);
                        rdk[rk + d] += p.scale * ds * qkv.get(qi + d);
                        rdv[rk + d] += P[j] * dout.get(oi + d);
                    }
                    rdb[(h * Tq + i) * Tk + j] += ds;
                }
            }

    uint64_t sum = 1469598103934665603ull; /* FNV-1a of every output */
    for (unsigned char c : dqkv.bytes) sum = (sum ^ c) * 1099511628211ull;
    for (unsigned char c : out.bytes) sum = (sum ^ c) * 1099511628211ull;
    for (float f : lse) {
        uint32_t u;
        memcpy(&u, &f, 4);
        sum = (sum ^ u) * 1099511628211ull;
    }
    for (float f : dbias) {
        uint32_t u;
        memcpy(&u, &f, 4);
        sum = (sum ^ u) * 1099511628211ull;
    }
    printf("    checksum %016llx\n", (unsigned long long)sum);

    auto cols = [&](const tensor &t, int64_t nrows, int64_t stride, int64_t c0) {
        std::vector<float> v(nrows * W);
        for (int64_t r = 0; r < nrows; r++)
            for (int64_t c = 0; c < W; c++) v[r * W + c] = t.get(r * stride + c0 + c);
        return v;
    };
    const double u = dt == 0 ? 0 : dt == 1 ? 0x1p-8 : 0x1p-11;
    const double t_out = dt ? 4 * u : 1e-5, t_grad = dt ? 8 * u : 1e-5, f = dt ? 1.0 : 0.1;
    check("out", rout, cols(out, B * Tq, os, 0), t_out, t_out * f);
    check("lse", rlse, lse, dt ? 1e-4 : 1e-5, dt ? 1e-5 : 1e-6);
    check("dq", rdq, cols(dqkv, B * Tq, qs, 0), t_grad, t_grad * f);
    check("dk", rdk, cols(dqkv, B * Tk, qs, W), t_grad, t_grad * f);
    check("dv", rdv, cols(dqkv, B * Tk, qs, 2 * W), t_grad, t_grad * f);
    if (s.bias) check("dbias", rdb, dbias, t_grad, t_grad * f);
    untouched("dqkv padding", dqkv, dqkv0, 0, rows, qs, 3 * W, qs);
    untouched("dq rows past q_len", dqkv, dqkv0, B * Tq, rows, qs, 0, W);
    untouched("dk, dv rows past kv_len", dqkv, dqkv0, B * Tk, rows, qs, W, 3 * W);
    untouched("out padding", out, out0, 0, B * Tq, os, W, os);
}

} /* namespace */

int main(int argc, char **argv)
{
    const int only_dt = argc > 1 ? atoi(argv[1]) : -1, only_shape = argc > 2 ? atoi(argv[2]) : -1;
    const int nshapes = (int)(sizeof shapes / sizeof shapes[0]);
    for (int dt = 0; dt < 3; dt++)
        for (int i = 0; i < nshapes; i++)
            if ((only_dt < 0 || dt == only_dt) && (only_shape < 0 || i == only_shape))
                run(dt, shapes[i]);
    printf(failures ? "%d FAILURES\n" : "all within tolerance\n", failures);
    return failures != 0;
}
