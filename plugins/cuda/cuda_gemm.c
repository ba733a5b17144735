/* cuda_gemm.c — matrix products through cuBLAS (fp32, CUBLAS_PEDANTIC_MATH:
 * true fp32, no TF32), batched with cublasSgemmStridedBatched.
 *
 * Row-major C (m x n) = op(A) op(B) is column-major C^T = op(B)^T op(A)^T,
 * so cuBLAS gets B as its first operand and A as its second, with m and n
 * swapped; leading dimensions are unchanged. The bias (n values added to
 * every row) is a separate kernel after the product.
 *
 * Follow-up (issue 5): cuBLASLt with bf16/f16 operands, fp32 accumulation and
 * the bias/GELU epilogues. */
#include "cuda_internal.h"

static int bad(const cuda_ctx *c, const char *what, long long v, long long min)
{
    return c->host->error(LLMRT_ERR_INVALID, "cuda: gemm: %s = %lld, must be at least %lld", what,
                          v, min);
}

int cuda_gemm(void *ctx, const llmrt_gemm_desc *d)
{
    cuda_ctx *c = ctx;
    int rc = cuda_require_desc(c, "gemm", d, d ? d->struct_size : 0, sizeof *d);
    if (rc) return rc;
    if ((rc = cuda_require_f32(c, "gemm (a)", d->a_type)) ||
        (rc = cuda_require_f32(c, "gemm (b)", d->b_type)) ||
        (rc = cuda_require_f32(c, "gemm (c)", d->c_type)))
        return rc;
    if (d->m < 0) return bad(c, "m", d->m, 0);
    if (d->n < 0) return bad(c, "n", d->n, 0);
    if (d->k < 0) return bad(c, "k", d->k, 0);
    int64_t batch = d->batch < 1 ? 1 : d->batch;
    if (d->m == 0 || d->n == 0) return LLMRT_OK;
    int64_t ar = d->trans_a ? d->k : d->m, ac = d->trans_a ? d->m : d->k;
    int64_t br = d->trans_b ? d->n : d->k, bc = d->trans_b ? d->k : d->n;
    (void)ar;
    (void)br;
    if (d->lda < (ac ? ac : 1)) return bad(c, "lda", d->lda, ac ? ac : 1);
    if (d->ldb < (bc ? bc : 1)) return bad(c, "ldb", d->ldb, bc ? bc : 1);
    if (d->ldc < d->n) return bad(c, "ldc", d->ldc, d->n);
    if (d->m > INT32_MAX || d->n > INT32_MAX || d->k > INT32_MAX || d->lda > INT32_MAX ||
        d->ldb > INT32_MAX || d->ldc > INT32_MAX || batch > INT32_MAX)
        return c->host->error(LLMRT_ERR_UNSUPPORTED,
                              "cuda: gemm: dimensions past 2^31 need the 64-bit cuBLAS API");
    if (!d->a || !d->b || !d->c)
        return c->host->error(LLMRT_ERR_INVALID, "cuda: gemm: a, b and c are required");

    cublasStatus_t st;
    st = cublasSgemmStridedBatched(
        c->blas, d->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, d->trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
        (int)d->n, (int)d->m, (int)d->k, &d->alpha, (const float *)d->b, (int)d->ldb,
        batch > 1 ? d->stride_b : 0, (const float *)d->a, (int)d->lda,
        batch > 1 ? d->stride_a : 0, &d->beta, (float *)d->c, (int)d->ldc,
        batch > 1 ? d->stride_c : 0, (int)batch);
    if (st != CUBLAS_STATUS_SUCCESS)
        return c->host->error(LLMRT_ERR_DEVICE, "cuda: gemm: cublasSgemmStridedBatched: %s",
                              cublasGetStatusString(st));
    if (d->bias)
        return cuda_check(c,
                          cuk_bias_add_rows(c->stream, d->c, d->ldc, d->bias, d->m, d->n, batch,
                                            batch > 1 ? d->stride_c : 0),
                          "gemm (bias kernel)");
    return LLMRT_OK;
}
