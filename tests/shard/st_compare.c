/* st_compare.c — compare two safetensors weight files element by element
 * (a helper of test_multirank.sh, not a test by itself):
 *   st_compare A B RTOL ATOL [NORM_RTOL]
 * passes (exit 0) when both hold the same tensors and every element agrees
 * to |a - b| <= ATOL + RTOL * max(|a|, |b|) and, when NORM_RTOL is given, the
 * whole model to ||a - b|| <= NORM_RTOL * ||b|| over all its parameters (the
 * norm-wise relative error: meaningful where single near-zero elements, or
 * biases that start at zero, are not); prints the largest differences. RTOL = ATOL = 0 demands bit-identical values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "safetensors.h"

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: st_compare A B RTOL ATOL [NORM_RTOL]\n");
        return 2;
    }
    double rtol = atof(argv[3]), atol = atof(argv[4]), worst_abs = 0.0, worst_rel = 0.0;
    double norm_rtol = argc == 6 ? atof(argv[5]) : -1.0, diff2 = 0.0, ref2 = 0.0;
    int exact = rtol == 0.0 && atol == 0.0;
    llmrt_st_file *a, *b;
    if (llmrt_st_open(&a, argv[1]) || llmrt_st_open(&b, argv[2])) {
        fprintf(stderr, "st_compare: %s\n", llmrt_last_error());
        return 2;
    }
    int bad = llmrt_st_count(a) != llmrt_st_count(b);
    for (size_t i = 0; i < llmrt_st_count(a); i++) {
        const llmrt_st_tensor *ta = llmrt_st_tensor_at(a, i);
        const llmrt_st_tensor *tb = llmrt_st_find(b, ta->name);
        if (!tb || tb->numel != ta->numel) {
            fprintf(stderr, "st_compare: %s: missing or of another size in %s\n", ta->name,
                    argv[2]);
            bad = 1;
            break;
        }
        float *x = malloc(ta->numel * sizeof *x), *y = malloc(ta->numel * sizeof *y);
        int ok = x && y && !llmrt_st_read_f32(a, ta->name, x, ta->numel) &&
                 !llmrt_st_read_f32(b, ta->name, y, ta->numel);
        if (!ok) {
            fprintf(stderr, "st_compare: %s: cannot read\n", ta->name);
            bad = 1;
        }
        for (uint64_t k = 0; ok && k < ta->numel; k++) {
            double d = fabs((double)x[k] - (double)y[k]);
            diff2 += d * d;
            ref2 += (double)y[k] * (double)y[k];
            double s = fmax(fabs((double)x[k]), fabs((double)y[k]));
            if (exact ? memcmp(&x[k], &y[k], sizeof x[k]) != 0 : d > atol + rtol * s) bad = 1;
            worst_abs = fmax(worst_abs, d);
            if (s > 0) worst_rel = fmax(worst_rel, d / s);
        }
        free(x);
        free(y);
    }
    double norm_rel = ref2 > 0 ? sqrt(diff2 / ref2) : sqrt(diff2);
    if (norm_rtol >= 0 && norm_rel > norm_rtol) bad = 1;
    if (!bad && worst_abs == 0.0) printf("bit-identical\n");
    else
        printf("largest difference %.3g absolute, %.3g relative; %.3g relative norm-wise: %s\n",
               worst_abs, worst_rel, norm_rel, bad ? "DIFFERENT" : "agree");
    llmrt_st_close(a);
    llmrt_st_close(b);
    return bad ? 1 : 0;
}
