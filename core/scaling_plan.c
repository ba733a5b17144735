/* scaling_plan.c — N, D, loss and shape of a run from a budget, a size or a
 * token count (see scaling_plan.h). */
#include "scaling_plan.h"

#include <math.h>
#include <string.h>

#include "error.h"

const llmrt_shape_family llmrt_shape_family_default = {
    .aspect = 128, .head_dim = 128, .context = 2048, .vocab = 50257};

static double count_params(const llmrt_gpt_config *c, int non_embedding)
{
    double n = (double)llmrt_gpt_n_params(c);
    if (non_embedding) n -= (double)(c->vocab + c->context) * c->dim;
    return n;
}

void llmrt_shape_for_params(const llmrt_shape_family *family, double N, int non_embedding,
                            llmrt_gpt_config *shape)
{
    llmrt_gpt_config best = {0};
    double best_err = INFINITY;
    /* Sizes grow as layers^3: stop once the count passes N by far. */
    for (int layers = 1; layers <= 100000; layers++) {
        int heads = (int)lround(family->aspect * layers / family->head_dim);
        if (heads < 1) heads = 1;
        llmrt_gpt_config c = {.layers = layers, .heads = heads, .dim = heads * family->head_dim,
                              .context = family->context, .vocab = family->vocab};
        double n = count_params(&c, non_embedding), err = fabs(log(fmax(n, 1.0) / N));
        if (err < best_err) best_err = err, best = c;
        if (n > 4 * N) break;
    }
    *shape = best;
}

/* The N whose optimal token count is D: tokens_for grows with N for every
 * law (D_opt ∝ N^(α/β), N^(1/0.73 − 1), 20 N), so bisect in log N. */
static double params_for_tokens(const llmrt_scaling_law *law, double D)
{
    double lo = log(1.0), hi = log(1e16);
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        if (llmrt_scaling_law_tokens_for(law, exp(mid)) < D) lo = mid;
        else hi = mid;
    }
    return exp(0.5 * (lo + hi));
}

int llmrt_scaling_plan_make(const llmrt_scaling_law *law, double budget, double params,
                            double tokens, const llmrt_shape_family *family,
                            llmrt_scaling_plan *out)
{
    memset(out, 0, sizeof *out);
    if (budget > 0 && (params > 0 || tokens > 0))
        return llmrt_error(LLMRT_ERR_INVALID, "give a compute budget, or a model size (with "
                           "or without a token count), or a token count, not a budget and more");
    if (budget > 0) {
        llmrt_scaling_law_optimal(law, budget, &out->params, &out->tokens);
    } else if (params > 0) {
        out->params = params;
        out->tokens = tokens > 0 ? tokens : llmrt_scaling_law_tokens_for(law, params);
    } else if (tokens > 0) {
        out->tokens = tokens;
        out->params = params_for_tokens(law, tokens);
    } else {
        return llmrt_error(LLMRT_ERR_INVALID, "nothing to plan: give a compute budget, a model "
                           "size or a token count");
    }
    out->compute = 6.0 * out->params * out->tokens;
    out->loss = llmrt_scaling_law_loss(law, out->params, out->tokens);
    llmrt_shape_for_params(family, out->params, law->form == LLMRT_LAW_KAPLAN, &out->shape);
    out->shape_params = (double)llmrt_gpt_n_params(&out->shape);
    out->flops_per_token = llmrt_gpt_flops_per_token(&out->shape, out->shape.context);
    out->train_flops = out->tokens * out->flops_per_token;
    return LLMRT_OK;
}
