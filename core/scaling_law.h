/* scaling_law.h — published and fitted scaling laws: the loss a model of N
 * parameters reaches after D tokens, and the compute-optimal split of a
 * budget C ≈ 6·N·D (docs/scaling.md).
 *
 * Laws (constants in one table in scaling_law.c, sources cited there):
 *  - "chinchilla": Hoffmann et al. 2022, Approach 3 as published,
 *    L = E + A/N^α + B/D^β;
 *  - "besiroglu": the replication of that fit by Besiroglu et al. 2024
 *    (arXiv 2404.10102), same form;
 *  - "kaplan": Kaplan et al. 2020 (arXiv 2001.08361), L(N, D) of their
 *    equation (1.5) and the compute-efficient N_opt(C) of their figure 14;
 *    N counts non-embedding parameters there;
 *  - "tpp20": D = 20·N, the rule of thumb read off Chinchilla's Approaches 1
 *    and 2; it predicts no loss;
 *  - a law fitted by `llmrt fit` and loaded from its JSON file. */
#ifndef LLMRT_CORE_SCALING_LAW_H
#define LLMRT_CORE_SCALING_LAW_H

typedef enum llmrt_law_form {
    LLMRT_LAW_PARAMETRIC, /* L = E + A/N^alpha + B/D^beta (Chinchilla's form) */
    LLMRT_LAW_KAPLAN,     /* Kaplan's L(N, D) and N_opt = k_n * C_pfdays^k_exp */
    LLMRT_LAW_RATIO       /* D = ratio * N; no loss */
} llmrt_law_form;

typedef struct llmrt_scaling_law {
    char name[64];          /* "chinchilla", or "fitted" for a law from a file */
    char source[256];       /* the citation, or the table a fit came from     */
    llmrt_law_form form;
    /* PARAMETRIC */
    double E, A, B, alpha, beta;
    /* KAPLAN: L(N,D) = ((Nc/N)^(aN/aD) + Dc/D)^aD; N_opt = nopt_k * (C/PF-day)^nopt_exp */
    double Nc, Dc, alpha_N, alpha_D, nopt_k, nopt_exp;
    /* RATIO */
    double ratio;
} llmrt_scaling_law;

/* Names of the built-in laws, NULL-terminated. */
extern const char *const llmrt_scaling_law_names[];

/* One PF-day in FLOPs (Kaplan's unit of compute): 1e15 * 86400. */
#define LLMRT_PF_DAY 8.64e19

/* A built-in law by name, or (when `name` names no built-in law) a law file
 * written by llmrt_scaling_law_save. Errors name the value and list the
 * accepted names. */
int llmrt_scaling_law_get(const char *name, llmrt_scaling_law *law);

/* Predicted loss (nats per token) of N parameters trained on D tokens; NAN
 * for a law without a loss (tpp20). */
double llmrt_scaling_law_loss(const llmrt_scaling_law *law, double N, double D);

/* The compute-optimal N and D for C = 6·N·D FLOPs. */
void llmrt_scaling_law_optimal(const llmrt_scaling_law *law, double C, double *N, double *D);

/* The tokens that are compute-optimal for N parameters (the D whose optimal
 * N is N), so that a model size alone can be planned. */
double llmrt_scaling_law_tokens_for(const llmrt_scaling_law *law, double N);

/* Save a PARAMETRIC law as JSON (name, source, E, A, B, alpha, beta and the
 * optional confidence intervals, lo/hi per parameter; NULL: none), written
 * atomically. */
int llmrt_scaling_law_save(const llmrt_scaling_law *law, const double ci_lo[5],
                           const double ci_hi[5], const char *path);

#endif
