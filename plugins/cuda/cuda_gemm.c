/* cuda_gemm.c — matrix products through cuBLASLt, with its bias and GELU
 * epilogues, and the per-context cache of the plans it uses.
 *
 * Types: A and B of one type, C of that type or f32: f32 x f32 -> f32,
 * bf16 x bf16 -> bf16 or f32, f16 x f16 -> f16 or f32, all with
 * CUBLAS_COMPUTE_32F and fp32 alpha/beta (true fp32 accumulation; for f32
 * operands no TF32, so results stay within rounding of the cpu backend).
 * These are the combinations cuBLASLt documents for that compute type; any
 * other (say f32 A with bf16 B) is LLMRT_ERR_UNSUPPORTED naming the types.
 *
 * Row-major C (m x n) = op(A) op(B) is column-major C^T = op(B)^T op(A)^T,
 * so cuBLASLt gets B as its first operand and A as its second, m and n
 * swapped; leading dimensions are unchanged. The bias (n values added to
 * every row of every batch entry) is then a vector along the rows of
 * cuBLASLt's D, which is what CUBLASLT_EPILOGUE_BIAS adds (batch stride 0:
 * shared by the entries); its type is C's, as cuBLASLt requires.
 *
 * GELU epilogue (ABI 1.2): the tanh kind goes through CUBLASLT_EPILOGUE_GELU
 * (_BIAS), or GELU_AUX(_BIAS) writing pre_gelu through the aux pointer with
 * C's ld and batch stride; cuBLASLt wants that ld and stride divisible by 8.
 * The fallback is the product (with the bias epilogue) followed by the gelu
 * kernel of cuda_ops.c: always for the erf kind (cuBLASLt has no erf GELU),
 * for pre_gelu whose layout cuBLASLt does not take, and when the heuristic
 * offers no algorithm for the fused epilogue. cuBLASLt computes its GELU on
 * the fp32 accumulator before rounding to C's type, the fallback on the
 * rounded value, so for 16-bit C the two differ by rounding.
 *
 * Plans: a matmul descriptor, three layouts (A, B, C = D) and the
 * heuristic's algorithm, cached per context (LT_CACHE entries, least
 * recently used replaced) under every value the heuristic depends on:
 * shape, leading dimensions, batch and strides, types, epilogue and the
 * alignment of each pointer (cuBLASLt picks kernels by alignment). A steady
 * training step therefore queries no heuristic. The bias and aux pointers
 * are set on the cached descriptor before each call. One workspace of
 * LT_WORKSPACE bytes is allocated at create and offered to every plan.
 *
 * k = 0 is rejected (UNSUPPORTED): cuBLASLt does not document it and no
 * caller needs it.
 *
 * UNTESTED on a GPU: written and compiled on a machine without one.
 */
#include "cuda_internal.h"

/* cublasLt.h declares a function with () (CUDA 13.0); -Werror would stop on it. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <cublasLt.h>
#pragma GCC diagnostic pop
#include <stdlib.h>
#include <string.h>

#define LT_CACHE 64
#define LT_WORKSPACE ((size_t)32 << 20)

/* Everything a plan depends on; compared with memcmp, so zeroed before use
 * and made of int64_t only (no padding). */
typedef struct lt_key {
    int64_t ta, tb, m, n, k, lda, ldb, ldc, batch, sa, sb, sc;
    int64_t at, bt, ct, epilogue;
    int64_t align_a, align_b, align_c, align_bias, align_aux;
} lt_key;

typedef struct lt_plan {
    lt_key key;
    int used;                       /* the slot holds a plan */
    int has_algo;                   /* 0: no algorithm for this epilogue */
    uint64_t last_use;
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
} lt_plan;

struct cuda_lt {
    cublasLtHandle_t handle;
    void *workspace;
    uint64_t clock;
    lt_plan plans[LT_CACHE];
};

static int lt_error(const cuda_ctx *c, const char *what, cublasStatus_t st)
{
    return c->host->error(st == CUBLAS_STATUS_ALLOC_FAILED ? LLMRT_ERR_NOMEM : LLMRT_ERR_DEVICE,
                          "cuda: gemm: %s: %s", what, cublasLtGetStatusString(st));
}

static void plan_release(lt_plan *p)
{
    if (p->lc) cublasLtMatrixLayoutDestroy(p->lc);
    if (p->lb) cublasLtMatrixLayoutDestroy(p->lb);
    if (p->la) cublasLtMatrixLayoutDestroy(p->la);
    if (p->desc) cublasLtMatmulDescDestroy(p->desc);
    memset(p, 0, sizeof *p);
}

int cuda_lt_create(cuda_ctx *c)
{
    struct cuda_lt *lt = calloc(1, sizeof *lt);
    if (!lt) return c->host->error(LLMRT_ERR_NOMEM, "cuda: out of memory for the gemm cache");
    cublasStatus_t st = cublasLtCreate(&lt->handle);
    if (st != CUBLAS_STATUS_SUCCESS) {
        free(lt);
        return c->host->error(LLMRT_ERR_DEVICE, "cuda: cublasLtCreate: %s",
                              cublasLtGetStatusString(st));
    }
    int rc = cuda_check(c, cudaMalloc(&lt->workspace, LT_WORKSPACE), "cudaMalloc (gemm workspace)");
    if (rc) {
        cublasLtDestroy(lt->handle);
        free(lt);
        return rc;
    }
    c->lt = lt;
    return LLMRT_OK;
}

void cuda_lt_destroy(cuda_ctx *c)
{
    struct cuda_lt *lt = c->lt;
    if (!lt) return;
    for (int i = 0; i < LT_CACHE; i++)
        if (lt->plans[i].used) plan_release(&lt->plans[i]);
    cudaFree(lt->workspace);
    cublasLtDestroy(lt->handle);
    free(lt);
    c->lt = NULL;
}

static cudaDataType_t lt_type(llmrt_dtype t)
{
    return t == LLMRT_DTYPE_BF16 ? CUDA_R_16BF : t == LLMRT_DTYPE_F16 ? CUDA_R_16F : CUDA_R_32F;
}

/* The largest power of two (at most 256) dividing every batch entry's
 * address: the base pointer's and, for a batch, the byte stride's (entry b
 * starts b strides on; the minimum-alignment preferences must hold for all). */
static int64_t align_of(const void *p, int64_t batch, int64_t stride, size_t es)
{
    uintptr_t a = (uintptr_t)p | (batch > 1 ? (uintptr_t)stride * es : 0);
    int64_t al = 1;
    while (al < 256 && !(a & (uintptr_t)al)) al <<= 1;
    return p ? al : 256;
}

#define SET(obj, fn, attr, val)                                                  \
    do {                                                                         \
        if (st == CUBLAS_STATUS_SUCCESS) st = fn((obj), (attr), &(val), sizeof(val)); \
    } while (0)

static cublasStatus_t layout(cublasLtMatrixLayout_t *l, llmrt_dtype t, int64_t rows,
                             int64_t cols, int64_t ld, int64_t batch, int64_t stride)
{
    cublasStatus_t st = cublasLtMatrixLayoutCreate(l, lt_type(t), (uint64_t)rows,
                                                   (uint64_t)cols, ld);
    if (st == CUBLAS_STATUS_SUCCESS && batch > 1) {
        int32_t count = (int32_t)batch;
        SET(*l, cublasLtMatrixLayoutSetAttribute, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, count);
        SET(*l, cublasLtMatrixLayoutSetAttribute, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
            stride);
    }
    return st;
}

/* A call: the descriptor's values in cuBLASLt's terms. */
typedef struct lt_call {
    const llmrt_gemm_desc *d;
    int64_t batch;
    cublasLtEpilogue_t epilogue;
    const void *bias;
    void *aux;
    void *c;                        /* where D goes (C, or pre_gelu in the fallback) */
} lt_call;

static void key_of(const lt_call *x, lt_key *k)
{
    const llmrt_gemm_desc *d = x->d;
    memset(k, 0, sizeof *k);
    k->ta = d->trans_a != 0, k->tb = d->trans_b != 0;
    k->m = d->m, k->n = d->n, k->k = d->k;
    k->lda = d->lda, k->ldb = d->ldb, k->ldc = d->ldc;
    k->batch = x->batch;
    if (x->batch > 1) k->sa = d->stride_a, k->sb = d->stride_b, k->sc = d->stride_c;
    k->at = d->a_type, k->bt = d->b_type, k->ct = d->c_type;
    k->epilogue = (int64_t)x->epilogue;
    size_t ea = llmrt_dtype_size(d->a_type), ec = llmrt_dtype_size(d->c_type);
    k->align_a = align_of(d->a, x->batch, d->stride_a, ea);
    k->align_b = align_of(d->b, x->batch, d->stride_b, ea);
    k->align_c = align_of(x->c, x->batch, d->stride_c, ec);
    k->align_bias = align_of(x->bias, 1, 0, ec);
    k->align_aux = align_of(x->aux, x->batch, d->stride_c, ec);
}

/* A new plan in p for x: descriptor, layouts, and the heuristic's best
 * algorithm (has_algo 0 when it offers none). */
static int plan_build(cuda_ctx *c, lt_plan *p, const lt_call *x, const lt_key *key)
{
    const llmrt_gemm_desc *d = x->d;
    memset(p, 0, sizeof *p);
    p->key = *key;
    p->used = 1;
    cublasStatus_t st = cublasLtMatmulDescCreate(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    /* cuBLASLt's first operand is B (n x k after op), its second A. */
    int32_t op_first = d->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    int32_t op_second = d->trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    uint32_t ep = (uint32_t)x->epilogue;
    SET(p->desc, cublasLtMatmulDescSetAttribute, CUBLASLT_MATMUL_DESC_TRANSA, op_first);
    SET(p->desc, cublasLtMatmulDescSetAttribute, CUBLASLT_MATMUL_DESC_TRANSB, op_second);
    SET(p->desc, cublasLtMatmulDescSetAttribute, CUBLASLT_MATMUL_DESC_EPILOGUE, ep);
    /* The bias and aux types are left at their defaults, D's type, which is
     * what compute.h asks (the bias and pre_gelu have c_type); the pointers
     * are set before the heuristic, which reads their alignment. */
    if (x->bias)
        SET(p->desc, cublasLtMatmulDescSetAttribute, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
            x->bias);
    if (x->aux) {
        int64_t aux_ld = d->ldc, aux_stride = x->batch > 1 ? d->stride_c : 0;
        SET(p->desc, cublasLtMatmulDescSetAttribute, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, aux_ld);
        SET(p->desc, cublasLtMatmulDescSetAttribute,
            CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_BATCH_STRIDE, aux_stride);
        SET(p->desc, cublasLtMatmulDescSetAttribute, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER,
            x->aux);
    }
    if (st != CUBLAS_STATUS_SUCCESS) return lt_error(c, "matmul descriptor", st);
    int64_t sa = x->batch > 1 ? d->stride_a : 0, sb = x->batch > 1 ? d->stride_b : 0,
            sc = x->batch > 1 ? d->stride_c : 0;
    /* Stored shapes, column-major: row-major B (k x n, or n x k transposed)
     * is n x k (k x n); row-major A likewise; C is n x m. */
    st = layout(&p->la, d->b_type, d->trans_b ? d->k : d->n, d->trans_b ? d->n : d->k, d->ldb,
                x->batch, sb);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = layout(&p->lb, d->a_type, d->trans_a ? d->m : d->k, d->trans_a ? d->k : d->m,
                    d->lda, x->batch, sa);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = layout(&p->lc, d->c_type, d->n, d->m, d->ldc, x->batch, sc);
    if (st != CUBLAS_STATUS_SUCCESS) return lt_error(c, "matrix layout", st);

    cublasLtMatmulPreference_t pref = NULL;
    st = cublasLtMatmulPreferenceCreate(&pref);
    uint64_t ws = LT_WORKSPACE;
    uint32_t al_first = (uint32_t)key->align_b, al_second = (uint32_t)key->align_a,
             al_c = (uint32_t)key->align_c;
    SET(pref, cublasLtMatmulPreferenceSetAttribute, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, ws);
    SET(pref, cublasLtMatmulPreferenceSetAttribute, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
        al_first);
    SET(pref, cublasLtMatmulPreferenceSetAttribute, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        al_second);
    SET(pref, cublasLtMatmulPreferenceSetAttribute, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
        al_c);
    SET(pref, cublasLtMatmulPreferenceSetAttribute, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
        al_c);
    if (st != CUBLAS_STATUS_SUCCESS) {
        if (pref) cublasLtMatmulPreferenceDestroy(pref);
        return lt_error(c, "matmul preference", st);
    }
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    memset(&res, 0, sizeof res);
    st = cublasLtMatmulAlgoGetHeuristic(c->lt->handle, p->desc, p->la, p->lb, p->lc, p->lc, pref,
                                        1, &res, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    int plain = x->epilogue == CUBLASLT_EPILOGUE_DEFAULT || x->epilogue == CUBLASLT_EPILOGUE_BIAS;
    if (st == CUBLAS_STATUS_SUCCESS && found > 0 && res.state == CUBLAS_STATUS_SUCCESS) {
        p->algo = res.algo;
        p->has_algo = 1;
    } else if (plain && st != CUBLAS_STATUS_SUCCESS && st != CUBLAS_STATUS_NOT_SUPPORTED) {
        /* A GELU epilogue it refuses, for whatever reason, has the fallback. */
        return lt_error(c, "cublasLtMatmulAlgoGetHeuristic", st);
    }
    return LLMRT_OK;
}

/* The cached plan for x, built on a miss (the least recently used slot is
 * replaced). */
static int plan_get(cuda_ctx *c, const lt_call *x, lt_plan **out)
{
    struct cuda_lt *lt = c->lt;
    lt_key key;
    key_of(x, &key);
    lt_plan *victim = &lt->plans[0];
    for (int i = 0; i < LT_CACHE; i++) {
        lt_plan *p = &lt->plans[i];
        if (p->used && !memcmp(&p->key, &key, sizeof key)) {
            p->last_use = ++lt->clock;
            *out = p;
            return LLMRT_OK;
        }
        if (!p->used) {
            if (victim->used) victim = p;
        } else if (victim->used && p->last_use < victim->last_use) {
            victim = p;
        }
    }
    if (victim->used) plan_release(victim);
    int rc = plan_build(c, victim, x, &key);
    if (rc) {
        plan_release(victim);
        return rc;
    }
    victim->last_use = ++lt->clock;
    *out = victim;
    return LLMRT_OK;
}

/* Runs x with its plan; *ran = 0 (nothing enqueued) when the heuristic had
 * no algorithm for it. */
static int lt_run(cuda_ctx *c, const lt_call *x, int *ran)
{
    lt_plan *p;
    int rc = plan_get(c, x, &p);
    if (rc) return rc;
    *ran = p->has_algo;
    if (!p->has_algo) return LLMRT_OK;
    const llmrt_gemm_desc *d = x->d;
    /* Same alignment class as at build time (it is in the key), so the
     * algorithm stays valid for these pointers. */
    cublasStatus_t st = CUBLAS_STATUS_SUCCESS;
    if (x->bias)
        SET(p->desc, cublasLtMatmulDescSetAttribute, CUBLASLT_MATMUL_DESC_BIAS_POINTER, x->bias);
    if (x->aux)
        SET(p->desc, cublasLtMatmulDescSetAttribute, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER,
            x->aux);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmul(c->lt->handle, p->desc, &d->alpha, d->b, p->la, d->a, p->lb, &d->beta,
                            x->c, p->lc, x->c, p->lc, &p->algo, c->lt->workspace, LT_WORKSPACE,
                            c->stream);
    if (st != CUBLAS_STATUS_SUCCESS) return lt_error(c, "cublasLtMatmul", st);
    return LLMRT_OK;
}

static int bad(const cuda_ctx *c, const char *what, long long v, long long min)
{
    return c->host->error(LLMRT_ERR_INVALID, "cuda: gemm: %s = %lld, must be at least %lld", what,
                          v, min);
}

static int check_types(const cuda_ctx *c, const llmrt_gemm_desc *d)
{
    llmrt_dtype a = d->a_type;
    int float_a = a == LLMRT_DTYPE_F32 || a == LLMRT_DTYPE_BF16 || a == LLMRT_DTYPE_F16;
    if (float_a && d->b_type == a && (d->c_type == a || d->c_type == LLMRT_DTYPE_F32))
        return LLMRT_OK;
    return c->host->error(LLMRT_ERR_UNSUPPORTED,
                          "cuda: gemm: a %s, b %s, c %s is not supported (cuBLASLt with fp32 "
                          "accumulation: a and b of one type among f32, bf16, f16; c of that "
                          "type or f32)",
                          cuda_dtype_name(d->a_type), cuda_dtype_name(d->b_type),
                          cuda_dtype_name(d->c_type));
}

static int check_shape(const cuda_ctx *c, const llmrt_gemm_desc *d, int64_t batch)
{
    if (d->m < 0) return bad(c, "m", d->m, 0);
    if (d->n < 0) return bad(c, "n", d->n, 0);
    if (d->k < 0) return bad(c, "k", d->k, 0);
    if (d->batch < 0) return bad(c, "batch", d->batch, 0);
    int64_t need_a = d->trans_a ? d->m : d->k, need_b = d->trans_b ? d->k : d->n;
    if (d->lda < (need_a > 1 ? need_a : 1)) return bad(c, "lda", d->lda, need_a > 1 ? need_a : 1);
    if (d->ldb < (need_b > 1 ? need_b : 1)) return bad(c, "ldb", d->ldb, need_b > 1 ? need_b : 1);
    if (d->ldc < (d->n > 1 ? d->n : 1)) return bad(c, "ldc", d->ldc, d->n > 1 ? d->n : 1);
    if (batch > 1) {
        if (d->stride_a < 0) return bad(c, "stride_a", d->stride_a, 0);
        if (d->stride_b < 0) return bad(c, "stride_b", d->stride_b, 0);
        int64_t c_span = d->m ? (d->m - 1) * d->ldc + d->n : 0;
        if (d->stride_c < c_span) return bad(c, "stride_c", d->stride_c, c_span);
        if (batch > INT32_MAX)
            return c->host->error(LLMRT_ERR_UNSUPPORTED,
                                  "cuda: gemm: batch %lld is past cuBLASLt's 2^31 - 1",
                                  (long long)batch);
    }
    if (d->m > 0 && d->n > 0 && d->k == 0)
        return c->host->error(LLMRT_ERR_UNSUPPORTED,
                              "cuda: gemm: k = 0 is not supported (cuBLASLt)");
    return LLMRT_OK;
}

/* The m x n elements of each entry of src copied to dst (layout of C). */
static int copy_matrix(cuda_ctx *c, const llmrt_gemm_desc *d, int64_t batch, void *dst,
                       const void *src)
{
    size_t es = llmrt_dtype_size(d->c_type), pitch = (size_t)d->ldc * es;
    for (int64_t e = 0; e < batch; e++) {
        size_t at = (size_t)(e * d->stride_c) * es;
        int rc = cuda_check(c,
                            cudaMemcpy2DAsync((char *)dst + at, pitch, (const char *)src + at,
                                              pitch, (size_t)d->n * es, (size_t)d->m,
                                              cudaMemcpyDeviceToDevice, c->stream),
                            "gemm (pre_gelu copy)");
        if (rc) return rc;
    }
    return LLMRT_OK;
}

/* dst = gelu(src) over the m x n elements of each entry (layout of C): one
 * launch per entry when rows are packed, else one per row. */
static int gelu_matrix(cuda_ctx *c, const llmrt_gemm_desc *d, int64_t batch, void *dst,
                       const void *src)
{
    size_t es = llmrt_dtype_size(d->c_type);
    int packed = d->ldc == d->n;
    for (int64_t e = 0; e < batch; e++)
        for (int64_t i = 0; i < (packed ? 1 : d->m); i++) {
            size_t at = (size_t)(e * d->stride_c + i * d->ldc) * es;
            int rc = cuda_gelu_forward(c, (char *)dst + at, (const char *)src + at,
                                       (size_t)(packed ? d->m * d->n : d->n), d->c_type,
                                       (llmrt_gelu_kind)d->gelu_kind);
            if (rc) return rc;
        }
    return LLMRT_OK;
}

/* GELU the long way: the product (bias epilogue) into pre_gelu when beta is
 * 0, else into C and copied, then the gelu kernel into C. */
static int gelu_fallback(cuda_ctx *c, const llmrt_gemm_desc *d, int64_t batch)
{
    int direct = d->pre_gelu && d->beta == 0.0f;
    lt_call x = {d, batch, d->bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT,
                 d->bias, NULL, direct ? d->pre_gelu : d->c};
    int ran = 0, rc = lt_run(c, &x, &ran);
    if (rc) return rc;
    if (!ran)
        return c->host->error(LLMRT_ERR_UNSUPPORTED,
                              "cuda: gemm: cuBLASLt offers no algorithm for this product");
    if (direct) return gelu_matrix(c, d, batch, d->c, d->pre_gelu);
    if (d->pre_gelu && (rc = copy_matrix(c, d, batch, d->pre_gelu, d->c))) return rc;
    return gelu_matrix(c, d, batch, d->c, d->c);
}

int cuda_gemm(void *ctx, const llmrt_gemm_desc *d)
{
    cuda_ctx *c = ctx;
    int rc = cuda_require_desc(c, "gemm", d, d ? d->struct_size : 0, sizeof *d);
    if (rc) return rc;
    int64_t batch = d->batch > 1 ? d->batch : 1;
    if ((rc = check_types(c, d)) || (rc = check_shape(c, d, batch))) return rc;
    /* Members past the caller's struct_size are absent (compute.h rule 10). */
    int has_epilogue = d->struct_size >= offsetof(llmrt_gemm_desc, pre_gelu) + sizeof(void *);
    llmrt_gemm_epilogue ep = has_epilogue ? d->epilogue : LLMRT_EPILOGUE_NONE;
    if (ep != LLMRT_EPILOGUE_NONE && ep != LLMRT_EPILOGUE_GELU)
        return c->host->error(LLMRT_ERR_INVALID, "cuda: gemm: unknown epilogue %d (0 none, 1 gelu)",
                              (int)ep);
    if (ep == LLMRT_EPILOGUE_GELU && d->gelu_kind != LLMRT_GELU_TANH &&
        d->gelu_kind != LLMRT_GELU_ERF)
        return c->host->error(LLMRT_ERR_INVALID, "cuda: gemm: unknown gelu kind %d (0 tanh, 1 erf)",
                              d->gelu_kind);
    if (d->m == 0 || d->n == 0) return LLMRT_OK;
    if (!d->a || !d->b || !d->c)
        return c->host->error(LLMRT_ERR_INVALID, "cuda: gemm: a, b and c are required");

    if (ep == LLMRT_EPILOGUE_NONE) {
        lt_call x = {d, batch, d->bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT,
                     d->bias, NULL, d->c};
        int ran = 0;
        if ((rc = lt_run(c, &x, &ran))) return rc;
        return ran ? LLMRT_OK
                   : c->host->error(LLMRT_ERR_UNSUPPORTED,
                                    "cuda: gemm: cuBLASLt offers no algorithm for this product");
    }
    /* GELU: fused when cuBLASLt has it (tanh) and takes the aux layout. */
    int aux_ok = !d->pre_gelu || (d->ldc % 8 == 0 && (batch == 1 || d->stride_c % 8 == 0));
    if (d->gelu_kind == LLMRT_GELU_TANH && aux_ok) {
        cublasLtEpilogue_t e = d->pre_gelu ? (d->bias ? CUBLASLT_EPILOGUE_GELU_AUX_BIAS
                                                      : CUBLASLT_EPILOGUE_GELU_AUX)
                                           : (d->bias ? CUBLASLT_EPILOGUE_GELU_BIAS
                                                      : CUBLASLT_EPILOGUE_GELU);
        lt_call x = {d, batch, e, d->bias, d->pre_gelu, d->c};
        int ran = 0;
        if ((rc = lt_run(c, &x, &ran))) return rc;
        if (ran) return LLMRT_OK;
    }
    return gelu_fallback(c, d, batch);
}
