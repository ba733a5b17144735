/* cuda_elementwise.cu — the elementwise kernels: GELU (tanh and erf) and ReLU
 * forward/backward, add, mul, scale; f32, f16 and bf16.
 *
 * One templated grid-stride kernel applies an fp32 functor to each element:
 * inputs widened, the functor's fp32 result rounded once on the store
 * (convert.h nearest-even), as cpu_elementwise.c / cpu_gelu.c do. When every
 * pointer is 16-byte aligned, each thread moves 16 bytes per load/store (4
 * floats or 8 halves) and the n % (16 / sizeof T) tail is done element by
 * element; otherwise every element is. Outputs may alias inputs: a thread
 * reads all of its elements before it writes them.
 *
 * Formulas: cpu_gelu.c's (sigmoid form of tanh-GELU, Numerical Recipes
 * erfc); ReLU out = x < 0 ? 0 : x (NaN propagates), backward
 * dinp += dout where x > 0, dinp untouched elsewhere (the cpu's cpu_relu.c).
 */
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include "cuda_device.cuh"

#define GELU_S 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_C 0.044715f
#define INV_SQRT2 0.70710678118654752f
#define INV_SQRT_2PI 0.3989422804014327f

__device__ __forceinline__ float sigmoid2u(float x)
{
    float u = GELU_S * (x + GELU_C * x * x * x);
    return 1.0f / (1.0f + expf(-2.0f * u));
}

/* Phi(x) = 0.5 erfc(-x / sqrt 2), erfc from Numerical Recipes' erfcc. */
__device__ __forceinline__ float phi_cdf(float x)
{
    float w = -x * INV_SQRT2;
    float z = w < 0.0f ? -w : w;
    float t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    float ans = t * expf(-z * z + p);
    float erfc_w = w >= 0.0f ? ans : 2.0f - ans;
    return 0.5f * erfc_w;
}

/* Functors: (a, b, c) are the widened inputs in the order the launcher
 * passes them; unused ones are 0. */
struct op_gelu_fwd {
    int kind;
    __device__ float operator()(float x, float, float) const
    {
        return kind == 0 ? x * sigmoid2u(x) : x * phi_cdf(x);
    }
};

struct op_gelu_bwd { /* (dinp, inp, dout) */
    int kind;
    __device__ float operator()(float dx, float x, float dy) const
    {
        if (kind == 0) {
            float s = sigmoid2u(x);
            float du = GELU_S * (1.0f + 3.0f * GELU_C * x * x);
            return dx + dy * (s + x * 2.0f * s * (1.0f - s) * du);
        }
        float pdf = INV_SQRT_2PI * expf(-0.5f * x * x);
        return dx + dy * (phi_cdf(x) + x * pdf);
    }
};

struct op_relu_fwd {
    /* The cpu's x < 0 ? 0 : x: NaN propagates (an fp16 overflow upstream
     * still reaches the loss scaler's check) and -0 stays -0. */
    __device__ float operator()(float x, float, float) const { return x < 0.0f ? 0.0f : x; }
};

struct op_relu_bwd { /* (dinp, inp, dout) */
    __device__ float operator()(float dx, float x, float dy) const
    {
        return x > 0.0f ? dx + dy : dx; /* dx untouched elsewhere (a -0 stays -0), as the cpu */
    }
};

struct op_add {
    __device__ float operator()(float a, float b, float) const { return a + b; }
};

struct op_mul {
    __device__ float operator()(float a, float b, float) const { return a * b; }
};

struct op_scale {
    float alpha;
    __device__ float operator()(float x, float, float) const { return x * alpha; }
};

/* out[i] = op(in0[i], in1[i], in2[i]) for i < n, NIN inputs. vec: all
 * pointers are 16-byte aligned. */
template <typename T, int NIN, typename Op>
__global__ void k_map(T *out, const T *in0, const T *in1, const T *in2, size_t n, int vec, Op op)
{
    typedef pack16<T> P;
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    const size_t tid = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    const size_t npacks = vec ? n / P::N : 0;
    for (size_t p = tid; p < npacks; p += stride) {
        P a = reinterpret_cast<const P *>(in0)[p], b, c, o;
        if constexpr (NIN > 1) b = reinterpret_cast<const P *>(in1)[p];
        if constexpr (NIN > 2) c = reinterpret_cast<const P *>(in2)[p];
#pragma unroll
        for (int k = 0; k < P::N; k++) {
            float fb = 0.0f, fc = 0.0f;
            if constexpr (NIN > 1) fb = widen(b.v[k]);
            if constexpr (NIN > 2) fc = widen(c.v[k]);
            o.v[k] = narrow<T>(op(widen(a.v[k]), fb, fc));
        }
        reinterpret_cast<P *>(out)[p] = o;
    }
    for (size_t i = npacks * P::N + tid; i < n; i += stride) {
        float fb = 0.0f, fc = 0.0f;
        if constexpr (NIN > 1) fb = widen(in1[i]);
        if constexpr (NIN > 2) fc = widen(in2[i]);
        out[i] = narrow<T>(op(widen(in0[i]), fb, fc));
    }
}

template <typename T, int NIN, typename Op>
static int map(cuda_stream_t s, void *out, const void *in0, const void *in1, const void *in2,
               size_t n, Op op)
{
    int vec = aligned16(out) && aligned16(in0) && (NIN < 2 || aligned16(in1)) &&
              (NIN < 3 || aligned16(in2));
    size_t items = vec ? n / pack16<T>::N + n % pack16<T>::N : n;
    k_map<T, NIN, Op><<<grid_for(items, TPB), TPB, 0, s>>>(
        (T *)out, (const T *)in0, (const T *)in1, (const T *)in2, n, vec, op);
    return launched();
}

template <typename T> static int gelu_fwd(cuda_stream_t s, void *out, const void *inp, size_t n,
                                          int kind)
{
    return map<T, 1>(s, out, inp, NULL, NULL, n, op_gelu_fwd{kind});
}

template <typename T>
static int gelu_bwd(cuda_stream_t s, void *dinp, const void *inp, const void *dout, size_t n,
                    int kind)
{
    return map<T, 3>(s, dinp, dinp, inp, dout, n, op_gelu_bwd{kind});
}

template <typename T> static int relu_fwd(cuda_stream_t s, void *out, const void *inp, size_t n)
{
    return map<T, 1>(s, out, inp, NULL, NULL, n, op_relu_fwd{});
}

template <typename T>
static int relu_bwd(cuda_stream_t s, void *dinp, const void *inp, const void *dout, size_t n)
{
    return map<T, 3>(s, dinp, dinp, inp, dout, n, op_relu_bwd{});
}

template <typename T>
static int add(cuda_stream_t s, void *out, const void *a, const void *b, size_t n)
{
    return map<T, 2>(s, out, a, b, NULL, n, op_add{});
}

template <typename T>
static int mul(cuda_stream_t s, void *out, const void *a, const void *b, size_t n)
{
    return map<T, 2>(s, out, a, b, NULL, n, op_mul{});
}

template <typename T> static int scale(cuda_stream_t s, void *x, size_t n, float alpha)
{
    return map<T, 1>(s, x, x, NULL, NULL, n, op_scale{alpha});
}

extern "C" int cuk_gelu_forward(cuda_stream_t s, int dt, void *out, const void *inp, size_t n,
                                int kind)
{
    return CUK_BY_DTYPE(dt, gelu_fwd, s, out, inp, n, kind);
}

extern "C" int cuk_gelu_backward(cuda_stream_t s, int dt, void *dinp, const void *inp,
                                 const void *dout, size_t n, int kind)
{
    return CUK_BY_DTYPE(dt, gelu_bwd, s, dinp, inp, dout, n, kind);
}

extern "C" int cuk_relu_forward(cuda_stream_t s, int dt, void *out, const void *inp, size_t n)
{
    return CUK_BY_DTYPE(dt, relu_fwd, s, out, inp, n);
}

extern "C" int cuk_relu_backward(cuda_stream_t s, int dt, void *dinp, const void *inp,
                                 const void *dout, size_t n)
{
    return CUK_BY_DTYPE(dt, relu_bwd, s, dinp, inp, dout, n);
}

extern "C" int cuk_add(cuda_stream_t s, int dt, void *out, const void *a, const void *b, size_t n)
{
    return CUK_BY_DTYPE(dt, add, s, out, a, b, n);
}

extern "C" int cuk_mul(cuda_stream_t s, int dt, void *out, const void *a, const void *b, size_t n)
{
    return CUK_BY_DTYPE(dt, mul, s, out, a, b, n);
}

extern "C" int cuk_scale(cuda_stream_t s, int dt, void *x, size_t n, float alpha)
{
    return CUK_BY_DTYPE(dt, scale, s, x, n, alpha);
}
