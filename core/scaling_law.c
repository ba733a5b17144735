/* scaling_law.c — the laws' constants, their loss and compute-optimal
 * allocation, and the fitted law's file (see scaling_law.h). */
#include "scaling_law.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"

const char *const llmrt_scaling_law_names[] = {"chinchilla", "besiroglu", "kaplan", "tpp20",
                                               NULL};

/* Every published constant the planner uses, in one place. */
static const llmrt_scaling_law builtin_laws[] = {
    {.name = "chinchilla",
     .source = "Hoffmann et al. 2022, arXiv 2203.15556, Approach 3 (eq. 10 as published)",
     .form = LLMRT_LAW_PARAMETRIC,
     .E = 1.69, .A = 406.4, .B = 410.7, .alpha = 0.34, .beta = 0.28},
    {.name = "besiroglu",
     .source = "Besiroglu et al. 2024, arXiv 2404.10102, replication of Approach 3 (eq. 4)",
     .form = LLMRT_LAW_PARAMETRIC,
     .E = 1.817, .A = 482.01, .B = 2085.43, .alpha = 0.3478, .beta = 0.3658},
    {.name = "kaplan",
     .source = "Kaplan et al. 2020, arXiv 2001.08361, L(N,D) of eq. (1.5) with Nc, Dc, alpha_N, "
               "alpha_D of eqs. (1.1), (1.2); N_opt = 1.3e9 (C/PF-day)^0.73 (figure 14); N without "
               "embeddings",
     .form = LLMRT_LAW_KAPLAN,
     .Nc = 8.8e13, .Dc = 5.4e13, .alpha_N = 0.076, .alpha_D = 0.095,
     .nopt_k = 1.3e9, .nopt_exp = 0.73},
    {.name = "tpp20",
     .source = "20 tokens per parameter, the rule read off Hoffmann et al. 2022 "
               "Approaches 1 and 2 (table 3)",
     .form = LLMRT_LAW_RATIO, .ratio = 20.0},
};

static int load_file(const char *path, llmrt_scaling_law *law)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        return llmrt_error(LLMRT_ERR_FORMAT, "law file %s: %s (line %d)", path, jerr.text,
                           jerr.line);
    static const char *const keys[] = {"E", "A", "B", "alpha", "beta"};
    double *dst[] = {&law->E, &law->A, &law->B, &law->alpha, &law->beta};
    memset(law, 0, sizeof *law);
    law->form = LLMRT_LAW_PARAMETRIC;
    int rc = LLMRT_OK;
    for (size_t i = 0; i < 5 && !rc; i++) {
        json_t *v = json_object_get(root, keys[i]);
        if (!json_is_number(v) || !isfinite(json_number_value(v)) ||
            (i > 0 && json_number_value(v) <= 0))
            rc = llmrt_error(LLMRT_ERR_FORMAT, "law file %s: \"%s\" must be a %snumber", path,
                             keys[i], i > 0 ? "positive " : "");
        else *dst[i] = json_number_value(v);
    }
    if (!rc) {
        json_t *name = json_object_get(root, "name");
        snprintf(law->name, sizeof law->name, "%s",
                 json_is_string(name) ? json_string_value(name) : "fitted");
        snprintf(law->source, sizeof law->source, "fitted, from %s", path);
    }
    json_decref(root);
    return rc;
}

int llmrt_scaling_law_get(const char *name, llmrt_scaling_law *law)
{
    for (size_t i = 0; i < sizeof builtin_laws / sizeof builtin_laws[0]; i++)
        if (!strcmp(name, builtin_laws[i].name)) {
            *law = builtin_laws[i];
            return LLMRT_OK;
        }
    FILE *f = fopen(name, "r");
    if (!f)
        return llmrt_error(LLMRT_ERR_INVALID, "--law %s: neither a law (accepted: chinchilla, "
                           "besiroglu, kaplan, tpp20) nor a readable law file from llmrt fit",
                           name);
    fclose(f);
    return load_file(name, law);
}

double llmrt_scaling_law_loss(const llmrt_scaling_law *law, double N, double D)
{
    switch (law->form) {
    case LLMRT_LAW_PARAMETRIC:
        return law->E + law->A / pow(N, law->alpha) + law->B / pow(D, law->beta);
    case LLMRT_LAW_KAPLAN:
        return pow(pow(law->Nc / N, law->alpha_N / law->alpha_D) + law->Dc / D, law->alpha_D);
    case LLMRT_LAW_RATIO:
        break;
    }
    return NAN;
}

/* G = (alpha A / (beta B))^(1/(alpha+beta)) (Hoffmann et al., eq. 4). */
static double parametric_g(const llmrt_scaling_law *law)
{
    return pow(law->alpha * law->A / (law->beta * law->B), 1.0 / (law->alpha + law->beta));
}

void llmrt_scaling_law_optimal(const llmrt_scaling_law *law, double C, double *N, double *D)
{
    switch (law->form) {
    case LLMRT_LAW_PARAMETRIC: {
        double g = parametric_g(law), s = law->alpha + law->beta;
        *N = g * pow(C / 6.0, law->beta / s);
        break;
    }
    case LLMRT_LAW_KAPLAN:
        *N = law->nopt_k * pow(C / LLMRT_PF_DAY, law->nopt_exp);
        break;
    case LLMRT_LAW_RATIO:
        *N = sqrt(C / (6.0 * law->ratio));
        break;
    }
    *D = C / (6.0 * *N);
}

double llmrt_scaling_law_tokens_for(const llmrt_scaling_law *law, double N)
{
    double C = 0;
    switch (law->form) {
    case LLMRT_LAW_PARAMETRIC: {
        double g = parametric_g(law), s = law->alpha + law->beta;
        C = 6.0 * pow(N / g, s / law->beta);
        break;
    }
    case LLMRT_LAW_KAPLAN:
        C = LLMRT_PF_DAY * pow(N / law->nopt_k, 1.0 / law->nopt_exp);
        break;
    case LLMRT_LAW_RATIO:
        return law->ratio * N;
    }
    return C / (6.0 * N);
}

int llmrt_scaling_law_save(const llmrt_scaling_law *law, const double ci_lo[5],
                           const double ci_hi[5], const char *path)
{
    if (law->form != LLMRT_LAW_PARAMETRIC)
        return llmrt_error(LLMRT_ERR_INVALID, "law %s: only E + A/N^alpha + B/D^beta laws "
                           "can be saved", law->name);
    static const char *const keys[] = {"E", "A", "B", "alpha", "beta"};
    const double vals[] = {law->E, law->A, law->B, law->alpha, law->beta};
    json_t *root = json_object();
    json_object_set_new(root, "name", json_string(law->name));
    json_object_set_new(root, "form", json_string("L = E + A/N^alpha + B/D^beta"));
    json_object_set_new(root, "source", json_string(law->source));
    for (size_t i = 0; i < 5; i++) json_object_set_new(root, keys[i], json_real(vals[i]));
    if (ci_lo && ci_hi) {
        json_t *ci = json_object();
        for (size_t i = 0; i < 5; i++)
            json_object_set_new(ci, keys[i], json_pack("[f,f]", ci_lo[i], ci_hi[i]));
        json_object_set_new(root, "ci95", ci);
    }
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    json_decref(root);
    if (!text) return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    size_t n = strlen(text);
    text[n] = '\n'; /* json_dumps leaves room for the NUL, which becomes the newline */
    int rc = llmrt_write_file_atomic(path, text, n + 1);
    free(text);
    if (rc) llmrt_error_prefix(rc, "law file %s", path);
    return rc;
}
