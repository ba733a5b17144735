/* scaling_plan.h — plan a training run from a compute budget, a model size
 * or a token count with a scaling law (`llmrt plan --budget`, docs/scaling.md).
 *
 * The laws count compute as C = 6·N·D. The run's time counts the FLOPs a
 * step really does, 6N + 12·L·T·d per token (attention included, PaLM
 * appendix B: llmrt_gpt_flops_per_token, the formula of every MFU figure in
 * the project), for a transformer shape of about N parameters. */
#ifndef LLMRT_CORE_SCALING_PLAN_H
#define LLMRT_CORE_SCALING_PLAN_H

#include "gpt.h"
#include "scaling_law.h"

/* The shape family a size is turned into: the ratio dim/layers, the width
 * of one head, the context and the vocabulary. */
typedef struct llmrt_shape_family {
    double aspect;  /* dim / layers (GPT-3's models: about 128) */
    int head_dim;   /* dim / heads */
    int context;
    int vocab;
} llmrt_shape_family;

/* GPT-3-like defaults: aspect 128, heads of 128, context 2048, vocab 50257. */
extern const llmrt_shape_family llmrt_shape_family_default;

typedef struct llmrt_scaling_plan {
    double compute;     /* C = 6 N D, FLOPs */
    double params;      /* N (for kaplan: without embeddings) */
    double tokens;      /* D */
    double loss;        /* predicted, nats per token; NAN for tpp20 */
    llmrt_gpt_config shape; /* the shape of the family closest to N */
    double shape_params;    /* its parameter count (all of them) */
    double flops_per_token; /* 6N + 12 L T d of that shape */
    double train_flops;     /* D * flops_per_token */
} llmrt_scaling_plan;

/* Give exactly one of: budget > 0 (the compute-optimal N, D), params > 0
 * (D optimal for that N, or `tokens` when also > 0), tokens > 0 alone (the
 * N for which D is optimal). Errors say which combination is accepted. */
int llmrt_scaling_plan_make(const llmrt_scaling_law *law, double budget, double params,
                            double tokens, const llmrt_shape_family *family,
                            llmrt_scaling_plan *out);

/* The shape of `family` whose parameter count (without the embeddings when
 * `non_embedding`) is closest to N: layers from 1 up, dim = aspect * layers
 * rounded to a multiple of head_dim. */
void llmrt_shape_for_params(const llmrt_shape_family *family, double N, int non_embedding,
                            llmrt_gpt_config *shape);

#endif
