/* span.c — T5 span corruption and its inverse (span.h). */
#include "span.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

llmrt_span_config llmrt_span_default(void)
{
    return (llmrt_span_config){.noise_density = 0.15, .mean_span_length = 3.0};
}

int llmrt_span_config_check(const llmrt_span_config *c)
{
    if (!(c->noise_density > 0.0 && c->noise_density < 1.0))
        return llmrt_error(LLMRT_ERR_INVALID,
                           "span noise_density = %g: expected a fraction in (0, 1)",
                           c->noise_density);
    if (!(c->mean_span_length >= 1.0 && isfinite(c->mean_span_length)))
        return llmrt_error(LLMRT_ERR_INVALID, "span mean_span_length = %g: expected >= 1",
                           c->mean_span_length);
    return LLMRT_OK;
}

void llmrt_span_counts(const llmrt_span_config *c, size_t n, size_t *noise, size_t *spans)
{
    /* rint rounds half to even in the default mode, as Python's round(). */
    double nd = rint((double)n * c->noise_density);
    size_t nn = nd < 1.0 ? 1 : (size_t)nd;
    if (nn > n - 1) nn = n - 1;
    double sd = rint((double)nn / c->mean_span_length);
    size_t ns = sd < 1.0 ? 1 : (size_t)sd;
    /* Every segment of either kind must be non-empty. */
    if (ns > nn) ns = nn;
    if (ns > n - nn) ns = n - nn;
    *noise = nn;
    *spans = ns;
}

void llmrt_span_lengths(const llmrt_span_config *c, size_t n, size_t *input_len,
                        size_t *target_len)
{
    size_t noise, spans;
    llmrt_span_counts(c, n, &noise, &spans);
    *input_len = n - noise + spans + 1;
    *target_len = noise + spans + 1;
}

size_t llmrt_span_raw_length(const llmrt_span_config *c, size_t input_len)
{
    /* T5's loop. The input length n - noise + spans + 1 never decreases as n
     * grows (a step adds one to n - noise or one to noise, and spans only
     * follows noise up), so the first n that overflows ends the search. */
    size_t best = 0;
    for (size_t n = 2;; n++) {
        size_t in, tg;
        llmrt_span_lengths(c, n, &in, &tg);
        if (in > input_len) return best;
        best = n;
    }
}

/* One random segmentation (T5's _random_segmentation): `items` cut into
 * `segments` non-empty segments at segments - 1 distinct cut points drawn
 * uniformly among the items - 1 gaps. Knuth's selection sampling
 * (Algorithm S) decides the gaps in order, so the segments come out one at a
 * time and nothing is stored. */
typedef struct segmentation {
    size_t gaps_left; /* gaps not yet decided */
    size_t cuts_left; /* cuts still to place among them */
} segmentation;

static segmentation segmentation_start(size_t items, size_t segments)
{
    return (segmentation){.gaps_left = items - 1, .cuts_left = segments - 1};
}

/* The length of the next segment. */
static size_t segmentation_next(segmentation *g, llmrt_rng *rng)
{
    size_t len = 1;
    while (g->gaps_left > 0) {
        /* Cut at this gap with probability cuts_left / gaps_left. */
        uint64_t left = g->gaps_left--;
        if (g->cuts_left > 0 && llmrt_rng_below(rng, left) < g->cuts_left) {
            g->cuts_left--;
            return len;
        }
        len++;
    }
    return len;
}

void llmrt_span_noise_mask(const llmrt_span_config *c, llmrt_rng *rng, size_t n,
                           uint8_t *is_noise)
{
    size_t noise, spans;
    llmrt_span_counts(c, n, &noise, &spans);
    segmentation kept = segmentation_start(n - noise, spans);
    segmentation noisy = segmentation_start(noise, spans);
    size_t pos = 0;
    for (size_t s = 0; s < spans; s++) {
        size_t k = segmentation_next(&kept, rng), z = segmentation_next(&noisy, rng);
        for (size_t i = 0; i < k; i++) is_noise[pos++] = 0;
        for (size_t i = 0; i < z; i++) is_noise[pos++] = 1;
    }
}

int llmrt_span_corrupt(const llmrt_span_config *c, llmrt_rng *rng, const int32_t *tokens,
                       size_t n, int vocab, int32_t *inputs, int32_t *targets)
{
    if (n < 2)
        return llmrt_error(LLMRT_ERR_INVALID,
                           "span corruption of %zu tokens: needs at least 2", n);
    size_t noise, spans;
    llmrt_span_counts(c, n, &noise, &spans);
    if (vocab < LLMRT_SPAN_SENTINEL0 || spans > (size_t)(vocab - LLMRT_SPAN_SENTINEL0))
        return llmrt_error(LLMRT_ERR_INVALID,
                           "span corruption of %zu tokens makes %zu spans, but vocab = %d holds "
                           "%d sentinels (ids %d ..): raise [model] vocab to at least %zu",
                           n, spans, vocab,
                           vocab > LLMRT_SPAN_SENTINEL0 ? vocab - LLMRT_SPAN_SENTINEL0 : 0,
                           (int)LLMRT_SPAN_SENTINEL0, (size_t)LLMRT_SPAN_SENTINEL0 + spans);
    segmentation kept = segmentation_start(n - noise, spans);
    segmentation noisy = segmentation_start(noise, spans);
    size_t pos = 0, ni = 0, nt = 0;
    for (size_t s = 0; s < spans; s++) {
        size_t k = segmentation_next(&kept, rng), z = segmentation_next(&noisy, rng);
        for (size_t i = 0; i < k; i++) inputs[ni++] = tokens[pos++];
        inputs[ni++] = llmrt_span_sentinel(s);
        targets[nt++] = llmrt_span_sentinel(s);
        for (size_t i = 0; i < z; i++) targets[nt++] = tokens[pos++];
    }
    inputs[ni] = LLMRT_SPAN_EOS;
    targets[nt] = LLMRT_SPAN_EOS;
    return LLMRT_OK;
}

int llmrt_span_fill(const int32_t *inputs, size_t n_inputs, const int32_t *targets,
                    size_t n_targets, int vocab, int32_t *out, size_t cap, size_t *n_out)
{
    size_t w = 0;
    for (size_t i = 0; i < n_inputs && inputs[i] != LLMRT_SPAN_EOS; i++) {
        if (!llmrt_span_is_sentinel(inputs[i], vocab)) {
            if (w == cap) goto full;
            out[w++] = inputs[i];
            continue;
        }
        size_t j = 0;
        while (j < n_targets && targets[j] != LLMRT_SPAN_EOS && targets[j] != inputs[i]) j++;
        if (j == n_targets || targets[j] != inputs[i])
            return llmrt_error(LLMRT_ERR_INVALID,
                               "span fill: sentinel %d (span %d) of the input is not in the "
                               "target",
                               inputs[i], inputs[i] - LLMRT_SPAN_SENTINEL0);
        for (j++; j < n_targets && targets[j] != LLMRT_SPAN_EOS &&
                  !llmrt_span_is_sentinel(targets[j], vocab);
             j++) {
            if (w == cap) goto full;
            out[w++] = targets[j];
        }
    }
    *n_out = w;
    return LLMRT_OK;
full:
    return llmrt_error(LLMRT_ERR_INVALID, "span fill: the filled text needs more than %zu tokens",
                       cap);
}

void llmrt_span_decoder_inputs(const int32_t *targets, size_t n, int32_t *decoder_inputs)
{
    /* Backwards, so that decoder_inputs may alias targets. */
    for (size_t i = n; i-- > 1;) decoder_inputs[i] = targets[i - 1];
    if (n > 0) decoder_inputs[0] = LLMRT_SPAN_PAD;
}

int llmrt_span_encode_text(const char *text, int vocab, int32_t *out, size_t cap, size_t *n)
{
    static const char tag[] = "<extra_id_";
    const size_t tag_len = sizeof tag - 1;
    size_t w = 0;
    for (const char *p = text; *p;) {
        int32_t id;
        if (!strncmp(p, tag, tag_len) && p[tag_len] >= '0' && p[tag_len] <= '9') {
            char *end;
            unsigned long k = strtoul(p + tag_len, &end, 10);
            if (*end != '>')
                return llmrt_error(LLMRT_ERR_INVALID,
                                   "sentinel at \"%.24s\": expected <extra_id_N> with a number "
                                   "N",
                                   p);
            if (k >= (unsigned long)(vocab > LLMRT_SPAN_SENTINEL0 ? vocab - LLMRT_SPAN_SENTINEL0
                                                                  : 0))
                return llmrt_error(LLMRT_ERR_INVALID,
                                   "<extra_id_%lu>: the model's vocab (%d) has sentinels "
                                   "<extra_id_0> .. <extra_id_%d>",
                                   k, vocab, vocab - LLMRT_SPAN_SENTINEL0 - 1);
            id = llmrt_span_sentinel((size_t)k);
            p = end + 1;
        } else {
            id = (int32_t)(unsigned char)*p++;
        }
        if (w == cap)
            return llmrt_error(LLMRT_ERR_INVALID, "the text needs more than %zu tokens", cap);
        out[w++] = id;
    }
    *n = w;
    return LLMRT_OK;
}

size_t llmrt_span_piece(int32_t id, int vocab, char *buf)
{
    if (id >= 0 && id < 256) {
        buf[0] = (char)id;
        return 1;
    }
    char tmp[LLMRT_SPAN_PIECE_MAX + 8];
    int len;
    if (id == LLMRT_SPAN_PAD) len = snprintf(tmp, sizeof tmp, "<pad>");
    else if (id == LLMRT_SPAN_EOS) len = snprintf(tmp, sizeof tmp, "</s>");
    else if (llmrt_span_is_sentinel(id, vocab))
        len = snprintf(tmp, sizeof tmp, "<extra_id_%d>", id - LLMRT_SPAN_SENTINEL0);
    else len = snprintf(tmp, sizeof tmp, "<%u>", (unsigned)id);
    if (len > LLMRT_SPAN_PIECE_MAX) len = LLMRT_SPAN_PIECE_MAX;
    memcpy(buf, tmp, (size_t)len);
    return (size_t)len;
}
