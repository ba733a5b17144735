/* llmrt/types.h — status codes, element types and memory categories shared by
 * every plugin interface.
 *
 * ABI rules (they hold for every header in this directory):
 *  1. Enumerations and structs grow only by appending. A value or member is never
 *     renumbered, removed or retyped within one ABI major.
 *  2. Every vtable and descriptor starts with `size_t struct_size`, set by its
 *     author to sizeof() of the struct as that author compiled it. A reader treats
 *     any member that lies past struct_size, or that is NULL, as absent.
 *  3. Functions report failure by returning a non-zero llmrt_status. The human
 *     readable message is recorded beforehand with llmrt_host_api.error() (see
 *     host.h); plugins never print errors themselves.
 */
#ifndef LLMRT_TYPES_H
#define LLMRT_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Return codes. 0 is success; everything else is an error whose message has
 * been recorded through llmrt_host_api.error(). */
typedef enum llmrt_status {
    LLMRT_OK = 0,
    LLMRT_ERR_INVALID = 1,     /* bad argument, key or value                  */
    LLMRT_ERR_NOMEM = 2,       /* host or device allocation failed            */
    LLMRT_ERR_IO = 3,          /* file could not be read or written           */
    LLMRT_ERR_UNSUPPORTED = 4, /* this component cannot do what was asked     */
    LLMRT_ERR_TIMEOUT = 5,     /* a wait passed its deadline                  */
    LLMRT_ERR_COMM = 6,        /* a collective failed or a peer died          */
    LLMRT_ERR_DEVICE = 7,      /* the device reported an error                */
    LLMRT_ERR_FORMAT = 8,      /* a file's content is corrupt or truncated    */
    LLMRT_ERR_INTERNAL = 9     /* a broken invariant: a bug                   */
} llmrt_status;

/* Element types that buffers hold and kernels take. A number format plugin
 * (format.h) names one of these as its storage type. */
typedef enum llmrt_dtype {
    LLMRT_DTYPE_F32 = 0,
    LLMRT_DTYPE_F16 = 1,
    LLMRT_DTYPE_BF16 = 2,
    LLMRT_DTYPE_I8 = 3,
    LLMRT_DTYPE_I32 = 4,
    LLMRT_DTYPE_U16 = 5,
    LLMRT_DTYPE_U8 = 6,
    LLMRT_DTYPE_F64 = 7,
    LLMRT_DTYPE_COUNT_V1 = 8 /* number of types in ABI 1.0; later minors append */
} llmrt_dtype;

/* Every device allocation names what it is for, so that the core can account
 * memory by category and compare it with `llmrt plan`. */
typedef enum llmrt_mem_category {
    LLMRT_MEM_PARAMS = 0,      /* parameters used for compute (and fp32 masters) */
    LLMRT_MEM_GRADS = 1,       /* gradients                                       */
    LLMRT_MEM_OPTIMIZER = 2,   /* optimizer state (AdamW m and v)                 */
    LLMRT_MEM_ACTIVATIONS = 3, /* activations kept for backward, and scratch       */
    LLMRT_MEM_COMM = 4,        /* communication and staging buffers               */
    LLMRT_MEM_OTHER = 5,
    LLMRT_MEM_CATEGORY_COUNT = 6
} llmrt_mem_category;

/* Reduction operators of the collective interface. */
typedef enum llmrt_reduce_op {
    LLMRT_REDUCE_SUM = 0,
    LLMRT_REDUCE_AVG = 1,
    LLMRT_REDUCE_MAX = 2,
    LLMRT_REDUCE_MIN = 3
} llmrt_reduce_op;

/* Bytes per element of a dtype, 0 for an unknown value. */
static inline size_t llmrt_dtype_size(llmrt_dtype t)
{
    switch (t) {
    case LLMRT_DTYPE_F32: return 4;
    case LLMRT_DTYPE_F16: return 2;
    case LLMRT_DTYPE_BF16: return 2;
    case LLMRT_DTYPE_I8: return 1;
    case LLMRT_DTYPE_I32: return 4;
    case LLMRT_DTYPE_U16: return 2;
    case LLMRT_DTYPE_U8: return 1;
    case LLMRT_DTYPE_F64: return 8;
    default: return 0;
    }
}

/* True when member `member` of a struct whose author set struct_size to `size`
 * is present (rule 2 above). Use as LLMRT_HAS(vt, vt->struct_size, gemm). */
#define LLMRT_HAS(ptr, size, member)                                               \
    ((size) >= offsetof(__typeof__(*(ptr)), member) + sizeof((ptr)->member) &&      \
     (ptr)->member != NULL)

#ifdef __cplusplus
}
#endif
#endif /* LLMRT_TYPES_H */
