/* fake_format.c — a format plugin with one or two components, built by
 * tests/loader/local.mk as several plugins:
 *
 *   FAKE_NAME=id        descriptor name (required)
 *   FAKE_COMP1=id       first component (required)
 *   FAKE_COMP2=id       a second component (optional; may equal FAKE_COMP1)
 *   FAKE_VERSION=id     the plugin's version (default: 1)
 */
#include <string.h>
#include <llmrt/llmrt.h>

#define STR_(x) #x
#define STR(x) STR_(x)

#ifndef FAKE_VERSION
#define FAKE_VERSION 1
#endif

/* A 32-bit copy, enough to tell that the vtable works. */
static int fake_encode(const llmrt_format *f, void *dst, const float *src, size_t n,
                       const float *scales, llmrt_rounding rounding, uint64_t seed)
{
    (void)f, (void)scales, (void)rounding, (void)seed;
    memcpy(dst, src, n * sizeof *src);
    return LLMRT_OK;
}

static int fake_decode(const llmrt_format *f, float *dst, const void *src, size_t n,
                       const float *scales)
{
    (void)f, (void)scales;
    memcpy(dst, src, n * sizeof *dst);
    return LLMRT_OK;
}

#define FAKE_FORMAT(id)                                                             \
    {                                                                               \
        .struct_size = sizeof(llmrt_format), .name = STR(id),                       \
        .storage = LLMRT_DTYPE_F32, .bits = 32, .exponent_bits = 8,                 \
        .fraction_bits = 23, .max_finite = 3.4e38, .min_normal = 1.2e-38,           \
        .epsilon = 1.2e-7, .encode = fake_encode, .decode = fake_decode             \
    }

static const llmrt_format format1 = FAKE_FORMAT(FAKE_COMP1);
#ifdef FAKE_COMP2
static const llmrt_format format2 = FAKE_FORMAT(FAKE_COMP2);
#endif

static const llmrt_component fake_components[] = {
    {.struct_size = sizeof(llmrt_component), .kind = LLMRT_KIND_FORMAT, .name = STR(FAKE_COMP1),
     .description = "test format " STR(FAKE_COMP1) " version " STR(FAKE_VERSION),
     .vtable = &format1},
#ifdef FAKE_COMP2
    {.struct_size = sizeof(llmrt_component), .kind = LLMRT_KIND_FORMAT, .name = STR(FAKE_COMP2),
     .description = "test format " STR(FAKE_COMP2), .vtable = &format2},
#endif
};

LLMRT_PLUGIN_EXPORT const llmrt_plugin llmrt_plugin_v1 = {
    LLMRT_PLUGIN_HEADER(LLMRT_KIND_FORMAT, STR(FAKE_NAME), STR(FAKE_VERSION)),
    .n_components = sizeof fake_components / sizeof fake_components[0],
    .components = fake_components,
};
